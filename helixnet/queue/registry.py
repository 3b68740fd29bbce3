"""Pick a queue adapter by URL scheme from the ``helixnet.queue`` entry-point group.

Built-in adapters register there exactly as third-party packages do: one way in. A
factory is called as ``factory(url, name=..., data_dir=..., options=...)`` and returns a
:class:`~helixnet.queue.base.Queue`.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from helixnet.errors import ConfigurationError
from helixnet.queue.base import Queue

ENTRY_POINT_GROUP = "helixnet.queue"


def queue_schemes() -> list[str]:
    """The URL schemes some installed package registers a queue factory for, sorted."""
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def open_queue(url: str, *, name: str = "helixnet", data_dir: str | Path | None = None,
               options: dict[str, Any] | None = None) -> Queue:
    """Open the queue ``url`` names (``memory://``, ``sqlite://``, ``redis://host:6379/0``, ...).

    ``name`` separates queues sharing one backend; ``data_dir`` is where file-based
    queues live when the URL gives no path; ``options`` go to the adapter's constructor.
    Raises ``ConfigurationError`` for an unknown scheme or unusable settings.
    """
    scheme = urlsplit(url).scheme if "://" in url else ""
    found = entry_points(group=ENTRY_POINT_GROUP).select(name=scheme)
    if not scheme or not found:
        # The URL itself may hold a password: name only its scheme.
        raise ConfigurationError(
            f"unknown queue URL scheme {scheme or url.partition(':')[0]!r}; "
            f"known schemes: {', '.join(queue_schemes()) or '(none installed)'}")
    entry_point = next(iter(found))
    try:
        factory = entry_point.load()
    except Exception as exc:  # a broken third-party package must not look like our bug
        raise ConfigurationError(
            f"queue backend {scheme!r} ({entry_point.value}) failed to load: {exc}") from exc
    queue = factory(url, name=name, data_dir=data_dir, options=options)
    if not isinstance(queue, Queue):
        raise ConfigurationError(f"queue backend {scheme!r} returned {type(queue).__name__}, not a Queue")
    return queue
