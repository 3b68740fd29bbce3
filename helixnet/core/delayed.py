"""Delayed jobs (issue 13): when a job may start, and enqueueing the ones whose time has come.

A delayed job is recorded at once, PENDING with ``queued_at`` NULL and ``scheduled_at`` at its due
time (the claim and the sweeper already honour ``scheduled_at``, as for a retry back-off); the
firing loop enqueues it when due, from the database. No queue-side ETA: a message that waits in
the broker is what runs twice after a visibility timeout (celery #2599) or is lost with a worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text, update

from helixnet.core.db import Database
from helixnet.core.models import OFF_QUEUE, Job, JobStatus, PausedPlugin
from helixnet.core.schemas import MAX_DELAY_SECONDS
from helixnet.errors import QueueUnavailable, ValidationFailed
from helixnet.queue import Queue

log = logging.getLogger(__name__)


def delayed_until(run_at: datetime | None, delay: float | None, clock: Callable[[], datetime]) -> datetime | None:
    """The due time of a delayed job, or None; refuses (422 naming the field) what cannot be meant."""
    if run_at is not None and delay is not None:
        raise ValidationFailed.field(["run_at"], "give run_at or delay, not both")
    if run_at is not None:
        if not isinstance(run_at, datetime):
            raise ValidationFailed.field(["run_at"], "must be a datetime")
        if run_at.tzinfo is None or run_at.utcoffset() is None:
            raise ValidationFailed.field(["run_at"], "must carry a time zone offset (e.g. 2030-01-01T09:00:00+01:00)")
        return run_at.astimezone(UTC)
    if delay is not None:
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= MAX_DELAY_SECONDS:
            raise ValidationFailed.field(["delay"], f"must be a number of seconds from 0 to {MAX_DELAY_SECONDS}")
        return clock() + timedelta(seconds=delay)
    return None


def enqueue_due(db: Database, queue: Queue, now: datetime, limit: int = 500) -> int:
    """Enqueue PENDING jobs off the queue whose ``scheduled_at`` has come (delayed jobs, retry back-offs).

    The rows are taken with one conditional UPDATE (``queued_at IS NULL``) that returns the ids it
    changed, so of several processes running the loop exactly one enqueues each job.
    """
    with db.read() as session:
        due = session.execute(
            select(Job.id, Job.priority)
            .where(text(OFF_QUEUE), Job.scheduled_at <= now, Job.plugin.not_in(select(PausedPlugin.plugin)))
            .order_by(Job.scheduled_at)
            .limit(limit)
        ).all()
    if not due:
        return 0
    priority_of = dict(due)
    with db.connect() as conn:
        # One conditional UPDATE for the lot; RETURNING says which rows this process took.
        taken = (
            conn.execute(
                update(Job)
                .where(Job.id.in_(list(priority_of)), Job.status == JobStatus.PENDING.value, Job.queued_at.is_(None))
                .values(queued_at=now, scheduled_at=None)
                .returning(Job.id)
            )
            .scalars()
            .all()
        )
        items = [(job_id, priority_of[job_id]) for job_id in taken]
        in_transaction = bool(items) and queue.enqueue_in(conn, items)
    if items and not in_transaction:
        try:
            queue.enqueue_many(items)
        except QueueUnavailable as exc:  # queued_at is set: the stale-PENDING sweep retries them
            log.warning("could not enqueue %d delayed job(s): %s", len(items), exc)
    return len(items)


__all__ = ["delayed_until", "enqueue_due"]
