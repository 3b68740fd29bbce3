"""``/schedules``: my schedules (next and last fire, last run's status, pause, run now, delete), and
``/schedules/new``: the job form generated from the plugin's params, plus when it fires."""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui
from starlette.requests import Request

from helixnet.core.schedule_schemas import ScheduleRead
from helixnet.core.schemas import UserRead
from helixnet.errors import HelixNetError, ValidationFailed
from helixnet.ui.frame import frame
from helixnet.ui.new_job import JobForm, plugin_picker
from helixnet.ui.session import still_signed_in
from helixnet.ui.widgets import status_badge, when

TIMING_FIELDS = ("cron", "interval_seconds", "timezone", "catchup_seconds", "overlap")


def create(hx: Any) -> None:
    @ui.page("/schedules")
    def schedules(request: Request) -> None:
        user: UserRead = request.state.user
        with frame(user, "Schedules"):
            ui.link("New schedule", "/schedules/new").classes("font-medium")
            ScheduleList(hx, user).show()

    @ui.page("/schedules/new")
    def new_schedule(request: Request, plugin: str = "") -> None:
        user: UserRead = request.state.user
        with frame(user, "New schedule"):
            if chosen := plugin_picker(hx, plugin, "/schedules/new", "schedule"):
                ScheduleForm(hx, user, chosen)


class ScheduleList:
    """One card per schedule; every action calls the service and redraws the list."""

    def __init__(self, hx: Any, user: UserRead) -> None:
        self.hx, self.user = hx, user

    @ui.refreshable_method
    def show(self) -> None:
        page = self.hx.schedules.list(self.user, limit=500)
        if not page.items:
            ui.label("No schedules yet. A schedule runs a plugin on a cron expression or an interval.")
            return
        statuses = self.hx.schedules.last_statuses(page.items)
        for schedule in page.items:
            self._card(schedule, statuses.get(schedule.last_job_id or ""))

    def _card(self, schedule: ScheduleRead, last_status: Any) -> None:
        timing = f"cron {schedule.cron}" if schedule.cron else f"every {schedule.interval_seconds} s"
        with ui.card().classes("w-full gap-1").mark(f"schedule-{schedule.id}"):
            with ui.row().classes("w-full items-center gap-3 flex-wrap"):
                ui.label(schedule.plugin).classes("font-semibold")
                ui.label(timing).classes("font-mono")
                ui.label(schedule.timezone).classes("opacity-70")
                ui.label(f"overlap: {schedule.overlap}").classes("text-sm opacity-70")
                ui.space()
                ui.switch("Enabled", value=schedule.enabled,
                          on_change=lambda e, s=schedule: self._enable(s, e.value)).mark(f"enable-{schedule.id}")  # fmt: skip
                ui.button("Run now", on_click=lambda s=schedule: self._run(s)).props("no-caps dense").mark(
                    f"run-{schedule.id}")  # fmt: skip
                ui.button("Delete", on_click=lambda s=schedule: self._delete(s)).props(
                    "no-caps dense flat color=negative").mark(f"delete-{schedule.id}")  # fmt: skip
            with ui.row().classes("w-full gap-4 text-sm flex-wrap items-center"):
                ui.label(f"Next: {when(schedule.next_fire_at) if schedule.enabled else 'paused'}")
                ui.label(f"Last: {when(schedule.last_fire_at)}")
                if last_status is not None and schedule.last_job_id:
                    ui.link("last run", f"/jobs/{schedule.last_job_id}")
                    status_badge(last_status)
                if schedule.missed_count:
                    ui.label(f"missed {schedule.missed_count} (last {when(schedule.last_missed_at)})").classes(
                        "text-warning")  # fmt: skip
                if schedule.skipped_count:
                    ui.label(f"skipped {schedule.skipped_count} (overlap)").classes("opacity-70")

    async def _act(self, func: Any, *args: Any) -> Any:
        if still_signed_in(self.hx) is None:
            return None
        try:
            return await asyncio.to_thread(lambda: func(*args, self.user))
        except HelixNetError as exc:
            ui.notify(exc.detail, type="negative")
            return None
        finally:
            self.show.refresh()

    async def _enable(self, schedule: ScheduleRead, enabled: bool) -> None:
        if enabled != schedule.enabled:
            await self._act(self.hx.schedules.enable if enabled else self.hx.schedules.disable, schedule.id)

    async def _run(self, schedule: ScheduleRead) -> None:
        job = await self._act(self.hx.schedules.run_now, schedule.id)
        if job is not None:
            ui.notify(f"Fired: job {job.id[:8]}")

    async def _delete(self, schedule: ScheduleRead) -> None:
        await self._act(self.hx.schedules.delete, schedule.id)


class ScheduleForm(JobForm):
    """The job form (params generated from the plugin's schema, one picker per input) plus when it fires."""

    def __init__(self, hx: Any, user: UserRead, plugin_name: str) -> None:
        with ui.card().classes("w-full max-w-xl gap-2"):
            ui.label("When").classes("font-medium")
            self.timing: dict[str, Any] = {
                "cron": ui.input("Cron expression", placeholder="30 2 * * *").props(
                    'hint="five fields: minute hour day month weekday; or give an interval"').classes("w-full"),
                "interval_seconds": ui.number("Interval (seconds)", min=1, step=1).classes("w-full"),
                "timezone": ui.input("Time zone", value="UTC").props('hint="IANA name, e.g. Europe/Berlin"').classes(
                    "w-full"),
                "catchup_seconds": ui.number("Catch-up window (seconds)", value=600, min=0, step=1).classes("w-full"),
                "overlap": ui.select(["allow", "skip", "queue"], value="allow", label="If the previous run is active")
                .classes("w-full"),
            }  # fmt: skip
        super().__init__(hx, user, plugin_name)

    def _timing_values(self) -> dict[str, Any]:
        values = {name: widget.value for name, widget in self.timing.items()}
        values["cron"] = (values["cron"] or "").strip() or None
        for name in ("interval_seconds", "catchup_seconds"):
            number = values[name]
            values[name] = int(number) if isinstance(number, int | float) and float(number).is_integer() else number
        return values

    async def submit(self) -> None:
        if still_signed_in(self.hx) is None:
            return
        self.error.set_text("")
        self.form.clear_errors()
        for widget in self.timing.values():
            widget.error = None
        try:
            await asyncio.to_thread(self.hx.schedules.create, self.user, self.plugin_name, self.form.values(),
                                    dict(self.inputs), **self._timing_values())  # fmt: skip
        except ValidationFailed as exc:
            errors = list(exc.errors or [])
            timing = [e for e in errors if e.get("loc") and e["loc"][0] in self.timing]
            for error in timing:
                self.timing[error["loc"][0]].error = str(error.get("msg", "invalid"))
            rest = self.form.show_errors([e for e in errors if e not in timing])
            self.error.set_text("\n".join(rest) if rest else "Please correct the fields marked above.")
            return
        except HelixNetError as exc:
            self.error.set_text(exc.detail)
            return
        ui.navigate.to("/schedules")


__all__ = ["ScheduleForm", "ScheduleList", "create"]
