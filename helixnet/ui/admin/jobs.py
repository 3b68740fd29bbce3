"""``/admin/jobs``: everyone's jobs with the dashboard's filters plus the owner, and bulk actions on
everything that matches the filter (not one page), run server-side in batches with a progress line.

The action runs on a thread of the server and goes on if the tab is closed; the page only watches.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from nicegui import ui
from starlette.requests import Request

from helixnet.core.bulk import BulkAction, BulkReport
from helixnet.core.schemas import UserRead
from helixnet.errors import HelixNetError
from helixnet.ui.dashboard import Filters, job_table
from helixnet.ui.frame import frame
from helixnet.ui.live import LiveHub
from helixnet.ui.session import still_signed_in

#: Button label, and what the progress line calls a changed job.
ACTIONS = {
    BulkAction.CANCEL: ("Cancel all matching", "cancelled"),
    BulkAction.RETRY_FAILED: ("Retry failed matching", "retried"),
    BulkAction.DELETE_FINISHED: ("Delete finished matching", "deleted"),
}
NO_SUCH_OWNER = "00000000-0000-0000-0000-000000000000"


def create(hx: Any, hub: LiveHub) -> None:
    @ui.page("/admin/jobs")
    def admin_jobs(request: Request, status: str = "", plugin: str = "", q: str = "", sort: str = "newest",
                   cursor: str = "", owner: str = "") -> None:  # fmt: skip
        me: UserRead = request.state.user
        filters = Filters(status.upper(), plugin, q, "oldest" if sort == "oldest" else "newest", cursor, owner)
        owner_id = None
        if owner:
            found = hx.users.get_by_email(owner)
            owner_id = found.id if found else NO_SUCH_OWNER
        with frame(me, "All jobs"):
            BulkPanel(hx, me, filters, owner_id)
            job_table(hx, hub, me, filters, path="/admin/jobs", all_users=True, owner_id=owner_id)


class BulkPanel:
    def __init__(self, hx: Any, me: UserRead, filters: Filters, owner_id: str | None) -> None:
        self.hx, self.me, self.filters, self.owner_id = hx, me, filters, owner_id
        self.report: BulkReport | None = None
        self.stop = threading.Event()
        with ui.row().classes("w-full items-center gap-2 flex-wrap"):
            for action, (label, _) in ACTIONS.items():
                ui.button(label, on_click=lambda a=action: self.confirm(a)).props("no-caps outline dense")
            self.spinner = ui.spinner(size="sm")
            self.spinner.set_visibility(False)
            self.line = ui.label("").props('aria-live="polite"')
            self.stop_button = ui.button("Stop", on_click=self.stop.set).props("flat dense no-caps")
            self.stop_button.set_visibility(False)
        self.timer = ui.timer(0.3, self.show, active=False)

    def confirm(self, action: BulkAction) -> None:
        label = ACTIONS[action][0]
        with ui.dialog() as dialog, ui.card():
            ui.label(f"{label}: every job that matches the current filter, on every page.")
            def go() -> None:
                dialog.close()
                self.run(action)

            with ui.row():
                ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
                ui.button("Run it", on_click=go).props("no-caps")
        dialog.open()

    def run(self, action: BulkAction) -> None:
        if still_signed_in(self.hx, admin=True) is None:
            return
        if self.timer.active:
            ui.notify("A bulk action is already running on this page", type="warning")
            return
        self.stop.clear()
        self.report = BulkReport(action)
        self.spinner.set_visibility(True)
        self.stop_button.set_visibility(True)
        self.timer.activate()
        asyncio.get_running_loop().create_task(self._work(action))

    async def _work(self, action: BulkAction) -> None:
        f = self.filters
        try:
            await asyncio.to_thread(self.hx.jobs.bulk, self.me, action, status=f.status or None,
                                    plugin=f.plugin or None, q=f.q or None, owner_id=self.owner_id,
                                    progress=self._progress, stop=self.stop)  # fmt: skip
        except HelixNetError as exc:
            self.line.set_text(f"Stopped: {exc.detail}")
        finally:
            self.timer.deactivate()
            self.show()
            self.spinner.set_visibility(False)
            self.stop_button.set_visibility(False)

    def _progress(self, report: BulkReport) -> None:
        """On the worker thread: keep a copy; the page's timer shows it."""
        self.report = BulkReport(**vars(report))

    def show(self) -> None:
        report = self.report
        if report is None:
            return
        verb = ACTIONS[report.action][1]
        state = "done" if report.done else ("running" if self.timer.active else "stopped")
        self.line.set_text(f"{report.changed:,} {verb} of {report.seen:,} matching ({report.batches} batches, {state})")


__all__ = ["create"]
