"""``/jobs/{id}``: one job in full, live: status and timeline, progress, params and result, artifacts,
log lines as they arrive, recovery events, parents and children (workflows), Cancel and Retry. Another user's job is a 404 page.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nicegui import ui
from starlette.exceptions import HTTPException
from starlette.requests import Request

from helixnet.core.models import ACTIVE_STATUSES, JobStatus
from helixnet.core.schemas import ArtifactRead, JobEventRead, JobRead, UserRead
from helixnet.errors import HelixNetError, NotFound
from helixnet.ui.files import artifact_card
from helixnet.ui.frame import frame
from helixnet.ui.live import LiveHub, Watch
from helixnet.ui.session import still_signed_in
from helixnet.ui.widgets import field_row, json_view, status_badge, when
from helixnet.ui.workflow import workflow_panel

#: Events whose source is one of these explain a recovery (the sweeper's work).
RECOVERY_SOURCES = frozenset({"sweeper"})


def create(hx: Any, hub: LiveHub) -> None:
    @ui.page("/jobs/{job_id}")
    def job_page(request: Request, job_id: str) -> None:
        user: UserRead = request.state.user
        try:
            job = hx.jobs.get(job_id, user)
        except NotFound:
            # Another user's job answers exactly like a missing one (and like an unknown page).
            raise HTTPException(status_code=404) from None
        with frame(user, f"Job {job.id[:8]}"):
            JobView(hx, hub, user, job, root=request.scope.get("root_path", ""))


class JobView:
    def __init__(self, hx: Any, hub: LiveHub, user: UserRead, job: JobRead, *, root: str) -> None:
        self.hx, self.user, self.job, self.root = hx, user, job, root
        self.last_event = 0
        self.summary()
        with ui.row().classes("w-full gap-4 flex-wrap items-start"):
            with ui.column().classes("flex-1 min-w-[18rem] gap-3"):
                json_view("Params", job.params)
                self.outcome()
                self.workflow()
                self.artifacts()
            with ui.column().classes("flex-1 min-w-[18rem] gap-3"):
                self.timeline()
                ui.label("Recovery").classes("text-lg font-medium")
                self.recovery = ui.column().classes("w-full gap-1")
                with self.recovery:
                    self.no_recovery = ui.label("None: this job ran without a worker being lost.").classes("opacity-70")
                ui.label("Log").classes("text-lg font-medium")
                self.log = ui.column().classes("w-full gap-0 font-mono text-xs border rounded p-2")
                self.no_log = ui.label("Nothing logged yet.").classes("opacity-70")
        self.add_events()
        # Parents' and children's changes too: their badges in the workflow panel follow them.
        Watch(hub, lambda change: change.job_id == self.job.id or change.job_id in self._related(), self.refresh)

    def _related(self) -> set[str]:
        return {*self.job.parents, *self.job.children}

    async def refresh(self) -> None:
        try:
            self.job = await asyncio.to_thread(self.hx.jobs.get, self.job.id, self.user)
        except HelixNetError:
            return
        self.summary.refresh()
        self.outcome.refresh()
        self.workflow.refresh()
        self.artifacts.refresh()
        self.timeline.refresh()
        self.add_events()

    @ui.refreshable_method
    def summary(self) -> None:
        job = self.job
        with ui.row().classes("w-full items-center gap-3 flex-wrap"):
            status_badge(job.status).classes("text-base")
            ui.label(job.plugin).classes("font-medium")
            ui.label(job.id).classes("font-mono text-sm opacity-70 break-all")
            ui.space()
            if job.status in ACTIVE_STATUSES and not job.cancel_requested:
                ui.button("Cancel", icon="cancel", on_click=self.cancel).props("no-caps outline color=negative")
            if job.status in (JobStatus.FAILURE, JobStatus.CANCELLED):
                ui.button("Retry", icon="replay", on_click=self.retry).props("no-caps outline")
                if job.children:
                    ui.button("Retry and re-arm children", icon="account_tree",
                              on_click=lambda: self.retry(rearm_children=True)).props("no-caps outline")  # fmt: skip
        with ui.column().classes("w-full gap-1"):
            ui.linear_progress(value=job.progress, show_value=False).props('aria-label="progress"')
            ui.label(f"{job.progress * 100:.0f}%" + (f" — {job.message}" if job.message else "")).classes("text-sm")
            if job.cancel_requested and job.status == JobStatus.RUNNING:
                ui.label("Cancel requested; waiting for the plugin to stop.").classes("text-sm text-warning")

    @ui.refreshable_method
    def outcome(self) -> None:
        job = self.job
        if job.error:
            ui.label("Error").classes("text-lg font-medium")
            ui.label(job.error).classes("w-full whitespace-pre-wrap break-all font-mono text-sm text-negative")
        if job.status == JobStatus.SUCCESS or job.result is not None:
            json_view("Result", job.result)
            ui.button("Download result", icon="download", on_click=self.download_result).props("no-caps flat dense")
        field_row("Result path", job.result_path or "—")

    @ui.refreshable_method
    def workflow(self) -> None:
        workflow_panel(self.hx, self.user, self.job, root=self.root)

    @ui.refreshable_method
    def artifacts(self) -> None:
        ui.label("Inputs").classes("text-lg font-medium")
        if not self.job.inputs:
            ui.label("None").classes("opacity-70")
        for name, artifact_id in self.job.inputs.items():
            try:
                artifact: ArtifactRead = self.hx.artifacts.get(artifact_id, self.user)
            except NotFound:
                field_row(name, f"{artifact_id} (deleted)")
                continue
            artifact_card(self.hx, self.user, artifact, title=name, root=self.root)
        ui.label("Outputs").classes("text-lg font-medium")
        if not self.job.artifacts:
            ui.label("None yet" if self.job.status in ACTIVE_STATUSES else "None").classes("opacity-70")
        for artifact in self.job.artifacts:
            artifact_card(self.hx, self.user, artifact, title=artifact.filename, root=self.root)

    @ui.refreshable_method
    def timeline(self) -> None:
        job = self.job
        ui.label("Timeline").classes("text-lg font-medium")
        attempts = [e for e in self.hx.jobs.events(job.id, self.user) if e.message.startswith("started on worker")]
        with ui.timeline(side="right").classes("w-full"):
            ui.timeline_entry(title="Created", subtitle=when(job.created_at))
            if job.fire_time:
                ui.timeline_entry("fired by a schedule", title="Fire time", subtitle=when(job.fire_time))
            if job.run_at:
                ui.timeline_entry(title="Not before", subtitle=when(job.run_at))
            if job.queued_at:
                ui.timeline_entry(title="Queued", subtitle=when(job.queued_at))
            for event in attempts:
                ui.timeline_entry(event.message, title="Attempt", subtitle=when(event.created_at))
            if job.finished_at:
                ui.timeline_entry(title=f"Finished {job.status.value}", subtitle=when(job.finished_at))
            elif job.status == JobStatus.RUNNING:
                ui.timeline_entry(f"on {job.worker_id or '?'}", title="Running", subtitle=when(job.started_at))

    def add_events(self) -> None:
        """Append the log lines written since the last look (incremental: ``after_id``)."""
        try:
            events: list[JobEventRead] = self.hx.jobs.events(self.job.id, self.user, after_id=self.last_event)
        except HelixNetError:
            return
        for event in events:
            self.last_event = max(self.last_event, event.id)
            line = f"{when(event.created_at)} {event.level:<7} {event.source}: {event.message}"
            with self.log:
                ui.label(line).classes("whitespace-pre-wrap break-all")
            if event.source in RECOVERY_SOURCES:
                self.no_recovery.set_visibility(False)
                with self.recovery:
                    ui.label(f"{when(event.created_at)} {event.message}").classes("text-sm text-warning")
        if self.last_event:
            self.no_log.set_visibility(False)

    def download_result(self) -> None:
        """The result in full as ``<job id>-result.json``, whatever its size."""
        body = json.dumps(self.job.result, indent=2, ensure_ascii=False).encode()
        ui.download.content(body, f"{self.job.id}-result.json", "application/json")

    async def cancel(self) -> None:
        if still_signed_in(self.hx) is None:
            return
        try:
            await asyncio.to_thread(self.hx.jobs.cancel, self.job.id, self.user)
        except HelixNetError as exc:
            ui.notify(exc.detail, type="warning")
        await self.refresh()

    async def retry(self, rearm_children: bool = False) -> None:
        if still_signed_in(self.hx) is None:
            return
        try:
            new = await asyncio.to_thread(self.hx.jobs.retry, self.job.id, self.user, rearm_children=rearm_children)
        except HelixNetError as exc:
            ui.notify(exc.detail, type="warning")
            return
        ui.navigate.to(f"/jobs/{new.id}")


__all__ = ["JobView", "create"]
