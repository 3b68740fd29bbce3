"""Live pages: the process's change feed fanned out to the open tabs, without a query per tab per tick.

``LiveHub`` subscribes once to ``hx.changes`` and hops each change onto the event loop. A page
asks for a ``watch(...)``: a predicate says which changes concern it; a change only marks the page
dirty (no query), and the page's timer refreshes it from the services when it is dirty and the tab
is visible. A hidden tab stays dirty and refreshes once it is shown again.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from helixnet.core.changes import Change

Listener = Callable[[Change], None]


class LiveHub:
    """One per mounted UI: the single subscriber of the feed in this process."""

    def __init__(self, hx: Any) -> None:
        self.hx = hx
        self._listeners: set[Listener] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._pending: dict[Change, None] = {}  # insertion-ordered, and a repeated change counts once
        self._scheduled = False

    def start(self) -> None:
        """On the UI's start-up: subscribe and run the shared poll for other processes' changes."""
        self._loop = asyncio.get_running_loop()
        if self._unsubscribe is None:
            self._unsubscribe = self.hx.changes.subscribe(self._on_change)
        self.hx.changes.start()

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.hx.changes.stop()

    def listen(self, listener: Listener) -> Callable[[], None]:
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def _on_change(self, change: Change) -> None:
        """Any thread: queue the change for the event loop, where pages live.

        Changes that arrive while a hand-over is pending join it: busy workers cost the loop one
        wake-up per batch, not one per change (measured: 3,000 wake-ups for 1,000 jobs took 12 %
        off job throughput with 50 pages open).
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with self._lock:
            self._pending[change] = None
            if self._scheduled:
                return
            self._scheduled = True
        loop.call_soon_threadsafe(self._dispatch)

    def _dispatch(self) -> None:
        with self._lock:
            changes, self._pending = list(self._pending), {}
            self._scheduled = False
        listeners = list(self._listeners)
        for change in changes:
            for listener in listeners:
                listener(change)


class Watch:
    """A page's subscription: dirty on a relevant change, refreshed by its timer when visible."""

    def __init__(
        self,
        hub: LiveHub,
        wants: Callable[[Change], bool],
        refresh: Callable[[], Awaitable[None] | None],
        *,
        interval: float = 0.25,
    ) -> None:
        self.dirty = False
        self.visible = True
        self.refreshes = 0
        self._wants = wants
        self._refresh = refresh
        remove = hub.listen(self._on_change)
        client = ui.context.client
        client.on_delete(remove)
        ui.on("hx_visibility", self._on_visibility)
        self.timer = ui.timer(interval, self._tick)

    def _on_change(self, change: Change) -> None:
        if not self.dirty and self._wants(change):
            self.dirty = True

    def _on_visibility(self, event: Any) -> None:
        self.visible = bool(event.args)

    async def _tick(self) -> None:
        if not (self.dirty and self.visible):
            return
        self.dirty = False
        self.refreshes += 1
        result = self._refresh()
        if inspect.isawaitable(result):
            await result


__all__ = ["LiveHub", "Watch"]
