"""``/``: my jobs, newest first, keyset pages, filters kept in the URL, live status and progress.

The shared ``job_table`` also serves ``/admin/jobs`` (every owner's jobs, plus an owner filter).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nicegui import ui
from starlette.requests import Request

from helixnet.core.changes import Change
from helixnet.core.models import JobStatus
from helixnet.core.schemas import JobRead, UserRead
from helixnet.errors import HelixNetError
from helixnet.ui.frame import frame
from helixnet.ui.live import LiveHub, Watch
from helixnet.ui.widgets import COUNT_CAP, capped, query_url, status_badge, when

PAGE_SIZE = 50


@dataclass(frozen=True)
class Filters:
    """What the URL says: ``?status=&plugin=&q=&sort=&cursor=``."""

    status: str = ""
    plugin: str = ""
    q: str = ""
    sort: str = "newest"
    cursor: str = ""
    owner: str = ""  # an email; admin pages only

    def url(self, path: str, **changes: str) -> str:
        values = {**self.__dict__, **changes}
        if values.get("sort") == "newest":
            values["sort"] = ""
        return query_url(path, **values)

    @property
    def any(self) -> bool:
        return bool(self.status or self.plugin or self.q or self.owner)


def create(hx: Any, hub: LiveHub) -> None:
    @ui.page("/")
    def dashboard(
        request: Request, status: str = "", plugin: str = "", q: str = "", sort: str = "newest", cursor: str = ""
    ) -> None:
        user: UserRead = request.state.user
        filters = Filters(status.upper(), plugin, q, "oldest" if sort == "oldest" else "newest", cursor)
        with frame(user, "Jobs"):
            job_table(hx, hub, user, filters, path="/")


def job_table(
    hx: Any, hub: LiveHub, user: UserRead, filters: Filters, *, path: str, all_users: bool = False,
    owner_id: str | None = None,
) -> None:
    """Filters, status counts, the page of jobs and its pager; refreshed live from the change feed."""
    with ui.row().classes("w-full items-end gap-3 flex-wrap"):
        ui.button("New job", icon="add", on_click=lambda: ui.navigate.to("/jobs/new")).props("no-caps")
        statuses = {"": "Any status", **{s.value: s.value for s in JobStatus}}
        ui.select(statuses, value=filters.status if filters.status in statuses else "", label="Status",
                  on_change=lambda e: ui.navigate.to(filters.url(path, status=e.value or "", cursor=""))
                  ).classes("w-36")  # fmt: skip
        plugins = {"": "Any plugin", **{name: name for name in sorted(hx.plugins)}}
        ui.select(plugins, value=filters.plugin if filters.plugin in plugins else "", label="Plugin",
                  on_change=lambda e: ui.navigate.to(filters.url(path, plugin=e.value or "", cursor=""))
                  ).classes("w-36")  # fmt: skip
        search = ui.input("Search", value=filters.q, placeholder="params, message, id…").classes("w-56")
        search.on("keydown.enter", lambda: ui.navigate.to(filters.url(path, q=search.value or "", cursor="")))
        ui.select({"newest": "Newest first", "oldest": "Oldest first"}, value=filters.sort, label="Sort",
                  on_change=lambda e: ui.navigate.to(filters.url(path, sort=e.value, cursor=""))
                  ).classes("w-36")  # fmt: skip
        if all_users:
            owner = ui.input("Owner", value=filters.owner, placeholder="email").classes("w-56")
            owner.on("keydown.enter", lambda: ui.navigate.to(filters.url(path, owner=owner.value or "", cursor="")))
        if filters.any:
            ui.link("Clear filters", path)

    visible: set[str] = set()

    @ui.refreshable
    def counts() -> None:
        found = hx.jobs.counts(user, cap=COUNT_CAP, plugin=filters.plugin or None, all_users=all_users,
                               owner_id=owner_id)  # fmt: skip
        with ui.row().classes("gap-2 flex-wrap"):
            for status, count in found.items():
                ui.link(f"{status.value} {capped(count, COUNT_CAP)}", filters.url(path, status=status.value, cursor="")).classes(
                    "no-underline px-2 py-1 rounded border text-sm"
                ).props(f'aria-label="{status.value} count"')

    @ui.refreshable
    def table() -> None:
        try:
            page = hx.jobs.list(user, status=filters.status or None, plugin=filters.plugin or None,
                                q=filters.q or None, limit=PAGE_SIZE, cursor=filters.cursor or None,
                                all_users=all_users, oldest_first=filters.sort == "oldest",
                                owner_id=owner_id)  # fmt: skip
        except HelixNetError as exc:
            ui.label(f"Cannot list jobs: {exc.detail}").classes("text-negative")
            return
        visible.clear()
        visible.update(job.id for job in page.items)
        if not page.items:
            _empty(filters, path)
        with ui.column().classes("w-full gap-0 border rounded divide-y"):
            for job in page.items:
                job_row(job, show_owner=all_users)
        with ui.row().classes("w-full justify-between"):
            if filters.cursor:
                ui.link("First page", filters.url(path, cursor=""))
            else:
                ui.label("")
            if page.next_cursor:
                ui.link("Next page", filters.url(path, cursor=page.next_cursor))

    counts()
    table()

    def wants(change: Change) -> bool:
        if change.job_id in visible:
            return True
        # New jobs appear on the first page only (later keyset pages do not move).
        return not filters.cursor and (change.job_id is None or change.owner_id == user.id or all_users)

    def refresh() -> None:
        counts.refresh()
        table.refresh()

    Watch(hub, wants, refresh, interval=0.5)


def job_row(job: JobRead, *, show_owner: bool = False) -> None:
    with ui.row().classes("w-full items-center gap-x-4 gap-y-1 px-3 py-2 flex-wrap") as row:
        row.props(f'data-job-id="{job.id}"')
        ui.link(job.id[:8], f"/jobs/{job.id}").classes("font-mono")
        ui.label(job.plugin).classes("w-24 truncate")
        status_badge(job.status)
        if job.status == JobStatus.RUNNING:
            ui.linear_progress(value=job.progress, show_value=False).classes("w-24")
        ui.label(when(job.created_at)).classes("text-sm opacity-70")
        if show_owner:
            ui.label(job.owner_id[:8]).classes("text-sm font-mono opacity-70")
        # The list shows a line; the job page shows everything, never truncated.
        summary = job.message or job.error or json.dumps(job.params, ensure_ascii=False, sort_keys=True)
        ui.label(summary[:200]).classes("text-sm truncate min-w-0 flex-1")


def _empty(filters: Filters, path: str) -> None:
    with ui.column().classes("w-full items-center p-8 gap-2 border rounded"):
        if filters.any:
            ui.label("No jobs match these filters.").classes("text-lg")
            ui.link("Clear filters", path)
        else:
            ui.label("No jobs yet.").classes("text-lg")
            ui.label("Press “New job”, pick a plugin and fill in its form to run your first job.")


__all__ = ["Filters", "create", "job_row", "job_table"]
