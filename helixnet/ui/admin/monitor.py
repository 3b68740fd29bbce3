"""``/admin/monitor``: queue depth per plugin with pause and resume, workers, running jobs, and charts
of throughput, failures and duration p50/p95 per plugin over the last hour, day or week.

The charts read the metrics buckets (never the jobs table). What the page shows comes from one
snapshot per process, rebuilt at most every ``REFRESH_SECONDS`` however many tabs are open, and a
hidden tab stops asking.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nicegui import ui
from starlette.requests import Request

from helixnet.core.metrics import WINDOWS, Point
from helixnet.core.models import JobStatus
from helixnet.core.schemas import JobRead, UserRead, WorkerRead
from helixnet.errors import HelixNetError
from helixnet.ui.dashboard import job_row
from helixnet.ui.frame import frame
from helixnet.ui.session import still_signed_in
from helixnet.ui.widgets import when

REFRESH_SECONDS = 3.0


@dataclass
class Snapshot:
    taken: float
    depth: dict[str, dict[JobStatus, int]]
    paused: dict[str, datetime]
    workers: list[WorkerRead]
    running: list[JobRead]
    series: dict[str, dict[str, list[Point]]] = field(default_factory=dict)


class MonitorData:
    """One per mounted UI: the snapshot every open monitor tab shares."""

    def __init__(self, hx: Any) -> None:
        self.hx = hx
        self._snapshot: Snapshot | None = None
        self._lock = asyncio.Lock()

    async def get(self, *, fresh: bool = False) -> Snapshot:
        async with self._lock:
            snap = self._snapshot
            if fresh or snap is None or time.monotonic() - snap.taken > REFRESH_SECONDS:
                snap = self._snapshot = await asyncio.to_thread(self._take)
            return snap

    def _take(self) -> Snapshot:
        hx = self.hx
        running = hx.jobs.list(None, status=JobStatus.RUNNING, all_users=True, limit=50).items
        snap = Snapshot(time.monotonic(), hx.jobs.depth(), hx.pauses.paused(), hx.workers.list(), running)
        snap.series = {window: hx.metrics.series(window) for window in WINDOWS}
        return snap


def create(hx: Any, data: MonitorData) -> None:
    @ui.page("/admin/monitor")
    async def monitor(request: Request, window: str = "hour") -> None:
        me: UserRead = request.state.user
        with frame(me, "Monitor"):
            view = MonitorView(hx, data, window if window in WINDOWS else "hour")
            await view.refresh()


class MonitorView:
    def __init__(self, hx: Any, data: MonitorData, window: str) -> None:
        self.hx, self.data, self.window = hx, data, window
        self.visible = True
        ui.on("hx_visibility", self._visibility)
        ui.label("Plugins").classes("text-lg font-medium")
        self.plugins = ui.column().classes("w-full gap-0 border rounded divide-y")
        ui.label("Workers").classes("text-lg font-medium")
        self.workers = ui.column().classes("w-full gap-0 border rounded divide-y")
        ui.label("Running jobs").classes("text-lg font-medium")
        self.running = ui.column().classes("w-full gap-0 border rounded divide-y")
        with ui.row().classes("w-full items-center gap-3"):
            ui.label("Metrics").classes("text-lg font-medium")
            ui.toggle({name: f"last {name}" for name in WINDOWS}, value=window,
                      on_change=lambda e: self._window(e.value))  # fmt: skip
        with ui.row().classes("w-full gap-4 flex-wrap"):
            self.charts = {name: _chart(title) for name, title in
                           (("throughput", "Succeeded per step"), ("failures", "Failed per step"),
                            ("duration", "Duration p50 / p95 (ms)"))}  # fmt: skip
        ui.timer(REFRESH_SECONDS, self.tick)

    def _visibility(self, event: Any) -> None:
        self.visible = bool(event.args)

    async def _window(self, window: str) -> None:
        self.window = window
        await self.refresh()

    async def tick(self) -> None:
        if self.visible:
            await self.refresh()

    async def refresh(self, *, fresh: bool = False) -> None:
        snap = await self.data.get(fresh=fresh)
        self._plugins(snap)
        self._workers(snap)
        self.running.clear()
        with self.running:
            if not snap.running:
                ui.label("Nothing is running.").classes("p-3 opacity-70")
            for job in snap.running:
                job_row(job, show_owner=True)
        self._charts(snap.series.get(self.window, {}))

    def _plugins(self, snap: Snapshot) -> None:
        self.plugins.clear()
        with self.plugins:
            for name in sorted(set(self.hx.plugins) | set(snap.depth)):
                depth = snap.depth.get(name, {})
                with ui.row().classes("w-full items-center gap-x-4 gap-y-1 px-3 py-2 flex-wrap"):
                    ui.label(name).classes("font-medium w-32 truncate")
                    ui.label(f"{depth.get(JobStatus.PENDING, 0):,} pending").props(f'aria-label="{name} pending"')
                    ui.label(f"{depth.get(JobStatus.RUNNING, 0):,} running")
                    ui.space()
                    if name in snap.paused:
                        ui.badge("paused", color="warning")
                        ui.label(f"since {when(snap.paused[name])}").classes("text-xs opacity-70")
                        ui.button("Resume", on_click=lambda n=name: self.resume(n)).props("no-caps dense").mark(
                            f"resume-{name}"
                        )
                    elif name in self.hx.plugins:
                        ui.button("Pause", on_click=lambda n=name: self.pause(n)).props("no-caps dense outline").mark(
                            f"pause-{name}"
                        )

    def _workers(self, snap: Snapshot) -> None:
        self.workers.clear()
        with self.workers:
            if not snap.workers:
                ui.label("No worker has reported in the last hour.").classes("p-3 opacity-70")
            for worker in snap.workers:
                with ui.row().classes("w-full items-center gap-x-4 gap-y-1 px-3 py-2 flex-wrap"):
                    ui.label(worker.name).classes("font-mono text-sm")
                    ui.label(f"{worker.host} · pid {worker.pid} · {worker.threads} threads").classes("text-sm")
                    ui.label(f"started {when(worker.started_at)}").classes("text-xs opacity-70")
                    ui.label(f"last heartbeat {when(worker.heartbeat_at)}").classes("text-xs opacity-70")
                    if worker.stopped_at:
                        ui.badge("stopped", color="grey-7")
                    ui.label(f"{worker.jobs_done:,} jobs done")
                    for job_id in worker.current_jobs:
                        ui.link(f"running {job_id[:8]}", f"/jobs/{job_id}").classes("font-mono text-sm")

    def _charts(self, series: dict[str, list[Point]]) -> None:
        def line(name: str, points: list[Point], value: Any) -> dict[str, Any]:
            return {"name": name, "type": "line", "showSymbol": False,
                    "data": [[p.at.isoformat(), _finite(value(p))] for p in points]}  # fmt: skip

        throughput = [line(plugin, points, lambda p: p.succeeded) for plugin, points in series.items()]
        failures = [line(plugin, points, lambda p: p.failed) for plugin, points in series.items()]
        duration = [line(f"{plugin} p50", points, lambda p: p.p50_ms) for plugin, points in series.items()]
        duration += [line(f"{plugin} p95", points, lambda p: p.p95_ms) for plugin, points in series.items()]
        for key, data in (("throughput", throughput), ("failures", failures), ("duration", duration)):
            chart = self.charts[key]
            chart.options["series"] = data
            chart.update()

    async def pause(self, plugin: str) -> None:
        await self._act(self.hx.pauses.pause, plugin, f"Paused {plugin}: its jobs wait")

    async def resume(self, plugin: str) -> None:
        await self._act(self.hx.pauses.resume, plugin, f"Resumed {plugin}")

    async def _act(self, action: Any, plugin: str, message: str) -> None:
        if still_signed_in(self.hx, admin=True) is None:
            return
        try:
            await asyncio.to_thread(action, plugin)
        except HelixNetError as exc:
            ui.notify(exc.detail, type="negative")
            return
        ui.notify(message)
        await self.refresh(fresh=True)


def _finite(value: float | None) -> float | None:
    """JSON has no infinity (a duration past the histogram's last bound): a gap in the line."""
    return None if value is None or value == float("inf") else value


def _chart(title: str) -> ui.echart:
    return ui.echart({
        "title": {"text": title, "textStyle": {"fontSize": 13}},
        "tooltip": {"trigger": "axis"},
        "legend": {"type": "scroll", "bottom": 0},
        "grid": {"left": 40, "right": 10, "top": 40, "bottom": 40},
        "xAxis": {"type": "time"},
        "yAxis": {"type": "value"},
        "series": [],
    }).classes("w-full md:w-[48%] h-64")  # fmt: skip


__all__ = ["MonitorData", "create"]
