"""The workflow panel of a job page: its parents and children, each a link with its status (issue 13)."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from helixnet.core.schemas import JobRead, UserRead
from helixnet.ui.widgets import status_badge

#: A fan-in of a thousand parents shows this many rows and a count of the rest: the page stays light.
MAX_ROWS = 50


def workflow_panel(hx: Any, user: UserRead, job: JobRead, *, root: str = "") -> None:
    """Parents above, children below, as linked rows with status badges; nothing for a job on its own."""
    if not job.parents and not job.children:
        return
    ui.label("Workflow").classes("text-lg font-medium")
    with ui.column().classes("w-full gap-1").props('aria-label="workflow"'):
        _rows(hx, user, "Parents", "after", job.parents, root)
        with ui.row().classes("items-center gap-2 text-sm"):
            ui.icon("arrow_downward")
            status_badge(job.status)
            ui.label(f"this job ({job.plugin})").classes("font-medium")
            if job.allow_failed_parents:
                ui.label("runs even if a parent fails").classes("opacity-70")
        _rows(hx, user, "Children", "waiting on this job", job.children, root)


def _rows(hx: Any, user: UserRead, title: str, note: str, ids: list[str], root: str) -> None:
    if not ids:
        return
    ui.label(f"{title} ({len(ids)}, {note})").classes("text-sm opacity-70")
    found = {job.id: job for job in hx.jobs.get_many(ids[:MAX_ROWS], user)}  # one read for the rows shown
    for job_id in ids[:MAX_ROWS]:
        other = found.get(job_id)
        if other is None:  # deleted since
            ui.label(f"{job_id} (deleted)").classes("font-mono text-xs opacity-70")
            continue
        with ui.row().classes("items-center gap-2").props(f'aria-label="{title.lower()[:-1]} {job_id}"'):
            status_badge(other.status)
            ui.link(f"{other.plugin} {job_id[:8]}", f"{root}/jobs/{job_id}").classes("font-mono text-sm")
            if other.error:
                ui.label(other.error[:120]).classes("text-xs opacity-70 break-all")
    if len(ids) > MAX_ROWS:
        ui.label(f"and {len(ids) - MAX_ROWS:,} more").classes("text-sm opacity-70")


__all__ = ["MAX_ROWS", "workflow_panel"]
