"""Storage backends by URL scheme, from the ``helixnet.storage`` entry-point group.

Built-ins register there exactly as third-party packages do (one way in), so adding a
backend is a pyproject entry, never an edit here.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from helixnet.errors import ConfigurationError, PluginError
from helixnet.storage.base import Storage

ENTRY_POINT_GROUP = "helixnet.storage"
"""Entry points name a URL scheme and point at ``factory(url, options) -> Storage``."""


def storage_schemes() -> list[str]:
    """The URL schemes installed packages provide, sorted: for error messages and ``/plugins``."""
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def open_storage(url: str, options: dict[str, Any] | None = None) -> Storage:
    """Open the storage at ``url`` with the factory registered for its scheme."""
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower()
    factory = _factory(scheme) if sep else None
    if factory is None:
        known = ", ".join(storage_schemes()) or "none installed"
        shown = repr(scheme) if sep else "(none)"
        raise ConfigurationError(f"unknown storage scheme {shown}; known schemes: {known}")
    storage = factory(url, options)
    if not isinstance(storage, Storage):
        raise PluginError(f"storage factory for {scheme!r} returned {type(storage).__name__}, not Storage")
    return storage


def _factory(scheme: str) -> Any:
    found: list[EntryPoint] = list(entry_points(group=ENTRY_POINT_GROUP, name=scheme))
    if not found:
        return None
    targets = sorted({ep.value for ep in found})
    if len(targets) > 1:
        raise PluginError(f"storage scheme {scheme!r} is registered more than once: {', '.join(targets)}")
    try:
        return found[0].load()
    except Exception as exc:
        raise PluginError(f"storage entry point {scheme!r} ({targets[0]}) failed to load: {exc}") from exc


__all__ = ["ENTRY_POINT_GROUP", "open_storage", "storage_schemes"]
