"""Executors: where a plugin's ``run`` executes (``helixnet.executor`` entry points).

The worker stays the job's owner whatever the executor: it claims the row, heart-beats it,
relays cancellation and records the outcome. An executor only runs ``plugin.run(ctx, params)``
somewhere (a thread, a child process, a Dask cluster) and says how it went.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol

from helixnet.errors import ConfigurationError
from helixnet.plugins.base import ComputePlugin
from helixnet.worker.context import JobContext
from helixnet.worker.outcome import _Outcome

GROUP = "helixnet.executor"
DEFAULT_EXECUTOR = "thread"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StorageSpec:
    """How another process opens the same storage (the URL and its fsspec options)."""

    url: str
    options: Mapping[str, Any]


@dataclass
class PluginCall:
    """One run of one plugin, as the runner hands it to an executor."""

    plugin_name: str
    plugin: ComputePlugin
    ctx: JobContext
    params: Any
    timeout: float | None
    #: Tells the runner the stop was the timeout (the job fails "timed out", it is not "cancelled").
    mark_timed_out: Callable[[], None]


class Executor(Protocol):
    """Runs plugin calls; one instance per executor spec per HelixNet instance, shared by its threads."""

    def run(self, call: PluginCall) -> _Outcome: ...

    def close(self) -> None: ...


ExecutorFactory = Callable[[str, StorageSpec], Executor]


def scheme_of(spec: str) -> str:
    """``thread`` -> ``thread``; ``dask://10.0.0.5:8786`` -> ``dask``."""
    return spec.split("://", 1)[0].strip().lower() if "://" in spec else spec.strip().lower()


def executor_schemes() -> list[str]:
    return sorted({ep.name for ep in entry_points(group=GROUP)})


class Executors:
    """Chooses each plugin's executor (``HELIXNET_EXECUTORS`` first, then the plugin's ``executor``)."""

    def __init__(
        self, overrides: Mapping[str, str], storage: StorageSpec, plugins: Mapping[str, ComputePlugin] | None = None
    ) -> None:
        self._overrides = dict(overrides)
        self._storage = storage
        self._plugins = plugins if plugins is not None else {}
        self._made: dict[str, Executor] = {}
        self._lock = threading.Lock()
        known = executor_schemes()
        for plugin, spec in self._overrides.items():
            if scheme_of(spec) not in known:
                raise ConfigurationError(
                    f"HELIXNET_EXECUTORS: plugin {plugin!r} names executor {spec!r}; known executors: "
                    f"{', '.join(known)} (dask as dask://host:port)"
                )

    def spec_for(self, plugin_name: str, plugin: ComputePlugin) -> str:
        return self._overrides.get(plugin_name) or getattr(plugin, "executor", None) or DEFAULT_EXECUTOR

    def get(self, spec: str) -> Executor:
        """The executor for ``spec``, made on first use (a Dask client connects only when a job needs it)."""
        with self._lock:
            executor = self._made.get(spec)
            if executor is None:
                executor = self._made[spec] = _factory(spec)(spec, self._storage)
                if callable(preload := getattr(executor, "preload", None)):
                    # e.g. the process executor's forkserver imports these once, not each job's child
                    preload(sorted({type(plugin).__module__ for name, plugin in self._plugins.items()
                                    if self.spec_for(name, plugin) == spec}))  # fmt: skip
            return executor

    def run(self, call: PluginCall) -> _Outcome:
        spec = self.spec_for(call.plugin_name, call.plugin)
        try:
            executor = self.get(spec)
        except ConfigurationError as exc:
            return _Outcome.failed(str(exc), final=True)
        return executor.run(call)

    def close(self) -> None:
        with self._lock:
            made, self._made = list(self._made.values()), {}
        for executor in made:
            try:
                executor.close()
            except Exception:  # closing must not stop the rest from closing
                log.exception("closing executor %r failed", executor)


def _factory(spec: str) -> ExecutorFactory:
    scheme = scheme_of(spec)
    found = [ep for ep in entry_points(group=GROUP) if ep.name == scheme]
    if not found:
        raise ConfigurationError(
            f"unknown executor {spec!r}; known executors: {', '.join(executor_schemes())} (dask as dask://host:port)"
        )
    try:
        return found[0].load()
    except Exception as exc:
        raise ConfigurationError(f"executor {scheme!r} ({found[0].value}) failed to import: {exc}") from exc


__all__ = ["DEFAULT_EXECUTOR", "Executor", "Executors", "PluginCall", "StorageSpec", "executor_schemes", "scheme_of"]
