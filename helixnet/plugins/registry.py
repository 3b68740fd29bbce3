"""Discovery of compute plugins through the ``helixnet.compute`` entry-point group."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from helixnet.errors import NotFound, PluginError
from helixnet.plugins.base import ComputePlugin

if TYPE_CHECKING:
    from helixnet.core.config import Settings

GROUP = "helixnet.compute"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedPlugin:
    plugin: ComputePlugin
    entry_point: str
    package: str | None
    version: str | None


class PluginRegistry(Mapping[str, ComputePlugin]):
    """The compute plugins this instance may run, by name."""

    def __init__(self, loaded: Iterable[LoadedPlugin] = ()) -> None:
        self._loaded: dict[str, LoadedPlugin] = {}
        for item in loaded:
            self.add(item.plugin, entry_point=item.entry_point, package=item.package, version=item.version)

    def add(
        self,
        plugin: ComputePlugin | type[ComputePlugin],
        *,
        entry_point: str = "",
        package: str | None = None,
        version: str | None = None,
        replace: bool = False,
    ) -> None:
        """Register a plugin by hand (tests, embedding code); entry points are the usual way in.

        ``replace=True`` puts it in place of a plugin of the same name (helixnet.testing runs an
        author's working copy in place of the installed one).
        """
        instance = plugin() if isinstance(plugin, type) else plugin
        name = getattr(instance, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {entry_point or instance!r} has no name")
        if not callable(getattr(instance, "run", None)):
            raise PluginError(f"plugin {name!r} has no run(ctx, params)")
        if name in self._loaded and not replace:
            raise PluginError(f"two plugins are named {name!r}: {self._loaded[name].entry_point} and {entry_point}")
        self._loaded[name] = LoadedPlugin(instance, entry_point, package, version)

    def __getitem__(self, name: str) -> ComputePlugin:
        return self._loaded[name].plugin

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._loaded))

    def __len__(self) -> int:
        return len(self._loaded)

    def get_or_raise(self, name: str) -> ComputePlugin:
        try:
            return self._loaded[name].plugin
        except KeyError:
            known = ", ".join(sorted(self._loaded)) or "none"
            raise NotFound(
                f"unknown plugin {name!r}; known plugins: {known}",
                errors=[{"loc": ["plugin"], "msg": f"unknown plugin {name!r}; known: {known}"}],
            ) from None

    def info(self, name: str) -> LoadedPlugin:
        return self._loaded[name]

    def configure(self, settings: Settings) -> None:
        """Give each plugin this instance's settings; a plugin that declines (unconfigured) is not offered."""
        for name in list(self._loaded):
            if not self._loaded[name].plugin.configure(settings):
                log.info("plugin %s is not configured on this instance and is not offered", name)
                del self._loaded[name]


def discover(only: Iterable[str] | None = None) -> PluginRegistry:
    """Load every plugin of the entry-point group (or only the named ones)."""
    wanted = set(only) if only is not None else None
    registry = PluginRegistry()
    for ep in entry_points(group=GROUP):
        if wanted is not None and ep.name not in wanted:
            continue
        plugin = _load(ep)
        dist = ep.dist
        registry.add(
            plugin,
            entry_point=f"{ep.name} = {ep.value}",
            package=dist.name if dist else None,
            version=dist.version if dist else None,
        )
    if wanted is not None and (missing := wanted - set(registry)):
        raise PluginError(f"HELIXNET_PLUGINS names plugins that are not installed: {', '.join(sorted(missing))}")
    return registry


def _load(ep: EntryPoint) -> ComputePlugin:
    try:
        target = ep.load()
    except Exception as exc:
        raise PluginError(f"compute plugin {ep.name!r} ({ep.value}) failed to import: {exc}") from exc
    return target() if isinstance(target, type) else target
