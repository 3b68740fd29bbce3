"""Small pieces several pages share: status badges, times, counts, a JSON view. All text, never HTML."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from nicegui import ui

from helixnet.core.models import JobStatus

STATUS_COLORS = {
    JobStatus.PENDING: "grey-7",
    JobStatus.WAITING: "blue-grey-5",
    JobStatus.RUNNING: "primary",
    JobStatus.SUCCESS: "positive",
    JobStatus.FAILURE: "negative",
    JobStatus.CANCELLED: "warning",
}
COUNT_CAP = 10_000


def status_badge(status: JobStatus | str) -> ui.badge:
    status = JobStatus(status)
    return ui.badge(status.value, color=STATUS_COLORS[status]).props(f'aria-label="status {status.value}"')


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def capped(count: int, cap: int = COUNT_CAP) -> str:
    """``10,000+`` past the cap: the count stopped there on purpose."""
    return f"{cap:,}+" if count > cap else f"{count:,}"


def query_url(path: str, **params: Any) -> str:
    """``path?k=v`` with empty values left out: filters live in the URL, bookmarkable."""
    kept = {key: value for key, value in params.items() if value not in (None, "", False)}
    return f"{path}?{urlencode(kept)}" if kept else path


def json_view(label: str, value: Any, *, opened: bool = True) -> None:
    """A collapsible, complete JSON text (never truncated) with a copy button."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    with ui.expansion(label, value=opened).classes("w-full border rounded") as box:
        box.props('header-class="font-medium"')
        with ui.row().classes("w-full justify-end"):
            ui.button("Copy", icon="content_copy", on_click=lambda: _copy(text)).props("flat dense no-caps")
        ui.label(text).classes("w-full font-mono text-sm whitespace-pre-wrap break-all")


def _copy(text: str) -> None:
    ui.clipboard.write(text)
    ui.notify("Copied")


def field_row(name: str, value: str) -> None:
    """A label and its value, as text."""
    with ui.row().classes("w-full gap-2 items-baseline flex-nowrap"):
        ui.label(name).classes("text-sm opacity-70 w-32 shrink-0")
        ui.label(value).classes("break-all min-w-0")


__all__ = ["COUNT_CAP", "capped", "field_row", "json_view", "query_url", "status_badge", "when"]
