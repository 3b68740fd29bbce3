"""Bulk actions on every job that matches a filter, in batches: never limited to one page.

Other dashboards "retry all failed" only on the page shown; here the filter is walked with a keyset
over (created_at, id) in batches of ``batch_size`` rows, each batch one short transaction, so a
million matches neither hold a lock for long nor load into memory. ``progress`` is called after
each batch; ``stop`` ends the walk between batches.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, tuple_, update

from helixnet.core.events import event_values
from helixnet.core.models import FINAL_STATUSES, Artifact, Job, JobEvent, JobStatus
from helixnet.core.workflows import Settled, settle_children
from helixnet.errors import Conflict, ValidationFailed

if TYPE_CHECKING:
    from helixnet.core.jobs import JobService


class BulkAction(StrEnum):
    CANCEL = "cancel"  # PENDING, WAITING and RUNNING jobs
    RETRY_FAILED = "retry_failed"  # FAILURE jobs: a new job each
    DELETE_FINISHED = "delete_finished"  # SUCCESS, FAILURE and CANCELLED jobs, with their log lines


#: The statuses each action applies to, whatever else the filter says.
APPLIES_TO: dict[BulkAction, frozenset[JobStatus]] = {
    BulkAction.CANCEL: frozenset({JobStatus.PENDING, JobStatus.WAITING, JobStatus.RUNNING}),
    BulkAction.RETRY_FAILED: frozenset({JobStatus.FAILURE}),
    BulkAction.DELETE_FINISHED: FINAL_STATUSES,
}


@dataclass
class BulkReport:
    action: BulkAction
    seen: int = 0  # matching rows walked so far
    changed: int = 0  # cancelled, retried or deleted
    batches: int = 0
    done: bool = False


def run_bulk(
    jobs: JobService,
    db: Any,
    action: BulkAction | str,
    where: list[Any],
    *,
    now: Callable[[], datetime],
    batch_size: int = 500,
    progress: Callable[[BulkReport], None] | None = None,
    stop: threading.Event | None = None,
) -> BulkReport:
    """Apply ``action`` to every job matching ``where`` (clauses from ``job_filters``)."""
    try:
        action = BulkAction(action)
    except ValueError:
        raise ValidationFailed.field(["action"], f"must be one of {', '.join(a.value for a in BulkAction)}") from None
    if not 1 <= batch_size <= 10_000:
        raise ValidationFailed.field(["batch_size"], "must be from 1 to 10000")
    report = BulkReport(action)
    statuses = [status.value for status in APPLIES_TO[action]]
    after: tuple[datetime, str] | None = None
    while stop is None or not stop.is_set():
        query = select(Job.created_at, Job.id, Job.status).where(*where, Job.status.in_(statuses))
        if after is not None:
            query = query.where(tuple_(Job.created_at, Job.id) < tuple_(*after))
        with db.read() as session:
            rows = session.execute(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(batch_size)).all()
        if not rows:
            break
        after = (rows[-1][0], rows[-1][1])
        report.seen += len(rows)
        report.batches += 1
        report.changed += _apply(jobs, db, action, [(row[1], row[2]) for row in rows], now())
        if progress is not None:
            progress(report)
    report.done = stop is None or not stop.is_set()
    if progress is not None:
        progress(report)
    return report


def _apply(jobs: JobService, db: Any, action: BulkAction, rows: list[tuple[str, str]], now: datetime) -> int:
    ids = [job_id for job_id, _ in rows]
    if action == BulkAction.RETRY_FAILED:
        retried = 0
        for job_id in ids:
            try:
                jobs.retry(job_id)
                retried += 1
            except Conflict:  # retried or changed meanwhile
                pass
        return retried
    if action == BulkAction.DELETE_FINISHED:
        with db.write() as session:
            final = [s.value for s in FINAL_STATUSES]
            gone = list(session.scalars(select(Job.id).where(Job.id.in_(ids), Job.status.in_(final))))
            if gone:
                session.execute(update(Artifact).where(Artifact.job_id.in_(gone)).values(job_id=None))
                session.execute(delete(JobEvent).where(JobEvent.job_id.in_(gone)))
                session.execute(delete(Job).where(Job.id.in_(gone)))
        return len(gone)
    # CANCEL: PENDING ones end at once, RUNNING ones are asked (their plugin sees ctx.cancelled).
    not_started = (JobStatus.PENDING.value, JobStatus.WAITING.value)
    pending = [job_id for job_id, status in rows if status in not_started]
    running = [job_id for job_id, status in rows if status == JobStatus.RUNNING.value]
    with db.write() as session:
        ended = list(session.scalars(
            update(Job).where(Job.id.in_(pending), Job.status.in_(not_started))
            .values(status=JobStatus.CANCELLED.value, finished_at=now, cancel_requested=True).returning(Job.id)
        )) if pending else []  # fmt: skip
        asked = list(session.scalars(
            update(Job).where(Job.id.in_(running), Job.status == JobStatus.RUNNING.value, Job.cancel_requested.is_(False))
            .values(cancel_requested=True).returning(Job.id)
        )) if running else []  # fmt: skip
        events = [event_values(job_id, "cancelled before it started (bulk action)", now=now, source="api") for job_id in ended]
        events += [event_values(job_id, "cancel requested (bulk action)", now=now, source="api") for job_id in asked]
        if events:
            session.execute(insert(JobEvent), events)
        # Their waiting children end too ("dependency failed"), in this transaction.
        settled = settle_children(session.connection(), ended, now) if ended else Settled()
    jobs.after_settle(settled)
    for job_id in asked:
        jobs.cancelled_elsewhere(job_id)
    for job_id in ended:
        jobs.changed(job_id)
    return len(ended) + len(asked)


__all__ = ["APPLIES_TO", "BulkAction", "BulkReport", "run_bulk"]
