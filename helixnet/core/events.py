"""Job events: the log lines shown on a job's page."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from helixnet.core.models import JobEvent

#: Longer messages are cut: a plugin printing a megabyte must not bloat the table.
MAX_EVENT_CHARS = 8000


def event_values(job_id: str, message: str, *, now: datetime, level: str = "INFO", source: str = "worker") -> dict:
    text = str(message)
    if len(text) > MAX_EVENT_CHARS:
        text = text[:MAX_EVENT_CHARS] + " [...]"
    return {"job_id": job_id, "created_at": now, "level": level, "source": source, "message": text}


def record_event(
    target: Session | Connection, job_id: str, message: str, *, now: datetime, level: str = "INFO", source: str = "worker"
) -> None:
    """Add an event inside the caller's transaction, so it commits with the change it explains."""
    target.execute(insert(JobEvent), [event_values(job_id, message, now=now, level=level, source=source)])
