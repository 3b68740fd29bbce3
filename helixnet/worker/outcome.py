"""What running a plugin came to, and an outcome decided but not yet written (``JobRunner.record_outcome``)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError

from helixnet.core import statements as sql
from helixnet.core.db import Database
from helixnet.core.events import event_values
from helixnet.core.models import FINAL_STATUSES, ArtifactStatus, Job, JobStatus
from helixnet.core.workflows import Settled, settle_children
from helixnet.worker.context import JobCancelled, JobContext, JobFailed

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from helixnet.worker.runner import Claim, RunningJob


@dataclass
class _Recorded:
    """An outcome decided but not yet written (``record_outcome(defer=True)``)."""

    claim: Claim
    worker_id: str
    ctx: JobContext
    running: RunningJob
    outcome: _Outcome
    elapsed: float
    status: JobStatus
    values: dict[str, Any]
    message: str
    now: datetime


@dataclass
class _Outcome:
    ok: bool
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    final: bool = False  # no retry could help
    cancelled: bool = False

    @classmethod
    def failed(cls, error: str, *, final: bool = False) -> _Outcome:
        return cls(ok=False, error=error, final=final)

    def without(self, path: str) -> _Outcome:
        """The failure with ``path`` (the artifact folder) cut out of its texts: an OSError names the
        file it failed on, and job fields must never show the server's filesystem (issue 9)."""
        error = self.error.replace(path, "<storage>") if self.error else self.error
        trace = self.traceback.replace(path, "<storage>") if self.traceback else self.traceback
        return replace(self, error=error, traceback=trace)


def _call(run: Callable[..., Any], ctx: JobContext, params: Any) -> _Outcome:
    try:
        return _Outcome(ok=True, result=run(ctx, params))
    except JobCancelled:
        return _Outcome(ok=False, error="cancelled", cancelled=True)
    except JobFailed as exc:
        return _Outcome(ok=False, error=str(exc), traceback=traceback.format_exc(), final=not exc.retry)
    except Exception as exc:  # the plugin's failure is the job's failure, never the worker's
        return _Outcome(ok=False, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())


def _artifact_row(claim: Claim, record: Any, now: datetime) -> dict[str, Any]:
    return {
        "id": record.artifact_id, "owner_id": claim.owner_id, "job_id": claim.job_id, "bucket": record.bucket,
        "object_name": record.object_name, "filename": record.filename, "content_type": record.content_type,
        "size": record.size, "sha256": record.sha256, "status": ArtifactStatus.AVAILABLE.value, "created_at": now,
    }  # fmt: skip


def storable(text: str | None) -> str | None:
    """A plugin's text with U+0000 spelled out: PostgreSQL's text cannot store it (SQLite can)."""
    return text.replace("\x00", "\\x00") if text and "\x00" in text else text


class OutcomeWriter:
    """Writes decided outcomes: fenced UPDATEs, their log lines and artifacts, one transaction a group."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def write(self, plans: list[_Recorded]) -> list[bool]:
        return self.write_settling(plans)[0]

    def write_settling(self, plans: list[_Recorded]) -> tuple[list[bool], Settled]:
        """The fenced outcome UPDATEs, their log lines and artifacts, in one transaction.

        In the same transaction, the waiting children of the jobs that became final are settled
        (``helixnet.core.workflows``): released to PENDING (returned, to enqueue after the commit),
        or cancelled when a parent failed. A crash cannot leave a finished parent's child waiting.

        Tried once more on a dropped connection (a killed backend, a failover): the outcomes are
        known, only their write was lost, and the worker's pinned connection is reopened on its next
        use. Should the first try have committed with only its answer lost, a row that already shows
        its values counts as written.
        """
        lines = [self._outcome_lines(plan) for plan in plans]  # taken once: a retry writes the same lines
        for attempt in (1, 2):
            try:
                with self._db.connect() as conn:
                    events: list[dict[str, Any]] = []
                    updated = [False] * len(plans)
                    # In id order: a submit locks the parents it names in id order too (workflows),
                    # so the two can never hold one row each while waiting for the other's.
                    for index in sorted(range(len(plans)), key=lambda i: plans[i].claim.job_id):
                        updated[index] = self._write_one(conn, plans[index], lines[index], events)
                    if events:
                        conn.execute(sql.INSERT_EVENTS, events)
                    final = [plan.claim.job_id for plan, done in zip(plans, updated, strict=True)
                             if done and plan.status in FINAL_STATUSES]  # fmt: skip
                    # One settle for the group: its children locked in one order, never a deadlock.
                    settled = settle_children(conn, final, plans[0].now) if final else Settled()
            except DBAPIError as exc:
                deadlock = getattr(exc.orig, "sqlstate", None) == "40P01"  # rolled back whole: safe to redo
                if attempt == 2 or not (exc.connection_invalidated or deadlock):
                    raise
                log.warning("%s while recording %d outcome(s); once more",
                            "a deadlock" if deadlock else "the database connection dropped", len(plans))  # fmt: skip
                continue
            if attempt == 2:
                updated = [
                    done or self._landed(plan.claim, plan.values) for plan, done in zip(plans, updated, strict=True)
                ]
            return updated, settled
        return [False] * len(plans), Settled()

    @staticmethod
    def _outcome_lines(plan: _Recorded) -> list[dict[str, Any]]:
        claim, now = plan.claim, plan.now
        level = "INFO" if plan.status == JobStatus.SUCCESS else "WARNING"
        lines = [*plan.running.take_pending(), event_values(claim.job_id, plan.message, now=now, level=level)]
        if plan.outcome.traceback:
            lines.append(event_values(claim.job_id, plan.outcome.traceback, now=now, level="DEBUG"))
        return lines

    def _write_one(self, conn: Any, plan: _Recorded, lines: list[dict[str, Any]], events: list[dict[str, Any]]) -> bool:
        """The fenced UPDATE; when it took, the job's log lines go to ``events`` and its artifacts are inserted."""
        claim, now, values = plan.claim, plan.now, plan.values
        statement = sql.finish(frozenset(values))
        params = sql.finish_params(claim.job_id, plan.worker_id, claim.attempts, values, claim.started_at)
        if not conn.execute(statement, params).rowcount:
            return False
        events.extend(lines)
        if plan.status == JobStatus.SUCCESS and plan.ctx.outputs.records:
            rows = [_artifact_row(claim, record, now) for record in plan.ctx.outputs.records]
            conn.execute(sql.INSERT_ARTIFACTS, rows)
        return True

    def _landed(self, claim: Claim, values: dict[str, Any]) -> bool:
        """After a lost answer: did the first try commit (the row shows our values, under our claim)?"""
        with self._db.read() as session:
            row = session.get(Job, claim.job_id)
        if row is None or row.status != values["status"] or row.started_at != claim.started_at:
            return False
        return all(getattr(row, k) == values[k] for k in ("finished_at", "queued_at", "scheduled_at")
                   if values.get(k) is not None)  # fmt: skip
