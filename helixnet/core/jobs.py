"""Jobs: submit, cancel, retry and bulk changes (reads: ``core/job_reads.py``).

Submit inserts the row (PENDING) and commits *before* enqueueing the id: a lost enqueue leaves
a PENDING row that the sweeper enqueues again, so nothing accepted is ever lost.
"""

from __future__ import annotations

import builtins
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from helixnet.core import statements as sql
from helixnet.core.bulk import BulkAction, BulkReport, run_bulk
from helixnet.core.db import Database
from helixnet.core.delayed import delayed_until
from helixnet.core.events import record_event
from helixnet.core.filters import job_filters
from helixnet.core.job_checks import JobChecks, same_request_or_refuse
from helixnet.core.job_reads import JobReads
from helixnet.core.models import (
    Artifact,
    Job,
    JobStatus,
    new_id,
)
from helixnet.core.schemas import JobRead
from helixnet.core.users import UserRef, user_id_of
from helixnet.core.workflows import Settled, insert_edges, place, rearm, settle, settle_children
from helixnet.errors import Conflict, QueueUnavailable, ValidationFailed
from helixnet.plugins.registry import PluginRegistry
from helixnet.queue import Queue

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


class JobService(JobReads):
    """Submit, cancel, retry and bulk changes; the reads come from ``JobReads``."""

    def __init__(
        self,
        db: Database,
        queue: Queue,
        plugins: PluginRegistry,
        *,
        clock: Clock,
        default_max_retries: int = 0,
        default_timeout: float | None = None,
        on_cancel: Callable[[str], None] | None = None,
        on_change: Callable[[str, str | None], None] | None = None,
        on_submitted: Callable[[str, int], None] | None = None,
    ) -> None:
        self._db = db
        self._queue = queue
        self._plugins = plugins
        self._clock = clock
        self._checks = JobChecks(db, plugins, default_max_retries=default_max_retries, default_timeout=default_timeout)
        self._on_cancel = on_cancel
        self._changed = on_change or (lambda job_id, owner_id: None)
        # (plugin, how many) once new rows have committed: Prometheus' submitted counter.
        self._submitted = on_submitted or (lambda plugin, count: None)

    # -- submit ---------------------------------------------------------------------------------

    def submit(
        self,
        user: UserRef,
        plugin: str,
        params: Mapping[str, Any] | None = None,
        inputs: Mapping[str, str | Mapping[str, str]] | None = None,
        priority: int = 0,
        max_retries: int | None = None,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        after: Sequence[str] | None = None,
        allow_failed_parents: bool = False,
        run_at: datetime | None = None,
        delay: float | None = None,
    ) -> JobRead:
        """Validate, record and enqueue a job; returns it PENDING (or the earlier job for a repeated key).

        With ``after`` (parent job ids) the job is WAITING until every parent is final, then PENDING
        and enqueued (``helixnet.core.workflows``); an input may name a parent's output,
        ``{"job": parent_id, "output": "result.json"}``, and that parent joins ``after``.

        ``run_at`` (aware) or ``delay`` (seconds) makes it a delayed job: recorded now, PENDING and
        off the queue until due, then enqueued by the firing loop (``core/firing.py``) from the
        database, never by a queue-side ETA, so a due time passed while every worker was down
        still runs when they return.
        """
        owner_id = user_id_of(user)
        due = delayed_until(run_at, delay, self._clock)
        request = self.checked_request(owner_id, plugin, params, inputs, priority, max_retries, timeout,
                                       after=after, allow_failed_parents=allow_failed_parents)  # fmt: skip
        checked_params, checked_inputs = request["params"], request["inputs"]
        retries, timeout, parents = request["max_retries"], request["timeout"], request["parents"]
        if idempotency_key is not None and (earlier := self._by_idempotency_key(owner_id, idempotency_key)):
            if earlier.id in parents:
                raise ValidationFailed.field(["after"], f"job {earlier.id} is this job itself (a cycle)")
            return same_request_or_refuse(earlier, request)

        now = self._clock()
        job_id = new_id()
        values = {
            "id": job_id, "owner_id": owner_id, "plugin": plugin, "params": checked_params,
            "inputs": checked_inputs, "status": JobStatus.PENDING.value, "progress": 0.0,
            "attempts": 0, "max_retries": retries, "priority": priority, "timeout": timeout,
            "cancel_requested": False, "created_at": now, "queued_at": now,
            "idempotency_key": idempotency_key, "input_refs": request["input_refs"],
            "allow_failed_parents": request["allow_failed_parents"],
        }  # fmt: skip
        delayed = due is not None and due > now
        if due is not None:
            values["run_at"] = due
            if delayed:  # the firing loop enqueues it when due; until then the claim refuses it too
                values.update(queued_at=None, scheduled_at=due)
        try:
            for attempt in (1, 2):
                try:
                    with self._db.connect() as conn:
                        edges = place(conn, [values], [parents])  # WAITING, or PENDING with its refs resolved
                        conn.execute(sql.INSERT_JOB, values)
                        insert_edges(conn, edges)
                        # A PostgreSQL queue in this database takes the message in this transaction: one commit.
                        waiting = values["status"] == JobStatus.WAITING.value
                        enqueued = waiting or delayed or self._queue.enqueue_in(conn, [(job_id, priority)])
                    break
                except OperationalError as exc:
                    # The parents' share locks met a writer locking rows in another order (a
                    # heartbeat of many jobs): PostgreSQL broke the deadlock; the submit goes again.
                    if attempt == 2 or not parents or getattr(exc.orig, "sqlstate", None) != "40P01":
                        raise
                    values.update(status=JobStatus.PENDING.value, inputs=checked_inputs,
                                  queued_at=None if delayed else now)  # fmt: skip
        except IntegrityError as exc:
            if idempotency_key is not None and (earlier := self._by_idempotency_key(owner_id, idempotency_key)):
                return same_request_or_refuse(earlier, request)
            raise Conflict("the job could not be recorded") from exc
        self._submitted(plugin, 1)
        if not enqueued:
            self._enqueue(job_id, priority)
        self._changed(job_id, owner_id)
        return JobRead.model_validate({**values, "message": None, "result": None, "artifacts": [], "parents": parents})

    def submit_many(self, user: UserRef, jobs: Sequence[Mapping[str, Any]]) -> builtins.list[JobRead]:
        """Submit many jobs at once, all or none: one transaction, one INSERT, one batched enqueue.

        Each item has ``submit``'s arguments as keys (``plugin``, ``params``, ... ``idempotency_key``);
        errors name the item (``jobs.3.params.x``). Returns the jobs in the order given.
        """
        from helixnet.core.batch import submit_many

        return submit_many(self, user, jobs)

    def checked_request(
        self, owner_id: str, plugin: Any, params: Any, inputs: Any, priority: Any, max_retries: Any, timeout: Any,
        *, after: Any = None, allow_failed_parents: Any = False,
    ) -> dict[str, Any]:  # fmt: skip
        """A submit's fields checked and completed with the defaults, as the row stores them."""
        return self._checks.request(owner_id, plugin, params, inputs, priority, max_retries, timeout, after,
                                    allow_failed_parents)  # fmt: skip

    def after_settle(self, settled: Settled) -> None:
        """Once a settle has committed: enqueue the released jobs, tell the change feed about all."""
        if settled.released:
            try:
                self._queue.enqueue_many(settled.released)
            except QueueUnavailable as exc:  # PENDING with queued_at set: the stale sweep enqueues them
                log.warning("enqueue of %d released job(s) failed (%s); the sweeper will retry", len(settled.released),
                            exc)  # fmt: skip
        for job_id in [*(job_id for job_id, _ in settled.released), *settled.ended]:
            self._changed(job_id, None)

    def _enqueue(self, job_id: str, priority: int) -> None:
        try:
            self._queue.enqueue(job_id, priority)
        except QueueUnavailable as exc:
            # The row is committed: the sweeper enqueues it once the queue answers again.
            log.warning("enqueue of job %s failed (%s); the sweeper will retry it", job_id, exc)
            try:
                with self._db.connect() as conn:
                    conn.execute(update(Job).where(Job.id == job_id).values(queued_at=None))
            except Exception:  # the stale-PENDING sweep still finds it
                log.exception("could not mark job %s as not enqueued", job_id)

    def by_idempotency_key(self, user: UserRef, key: str) -> JobRead | None:
        """The caller's job submitted with ``key``, if any: lets a retried request skip its work."""
        return self._by_idempotency_key(user_id_of(user), key)

    def replay_upload(
        self, earlier: JobRead, plugin: str, params: Mapping[str, Any] | None, input_digests: Mapping[str, str]
    ) -> JobRead:
        """A repeated upload-and-submit under one key: the earlier job if plugin, params and files match.

        Files are compared by sha256 against the earlier job's input artifacts, so a retry stores no
        second copy and a different upload under the same key is refused (422), not answered wrongly.
        """
        same_request_or_refuse(earlier, {"plugin": plugin, "params": self._checks.params(plugin, params)})
        with self._db.read() as session:
            rows = session.execute(select(Artifact.id, Artifact.sha256).where(Artifact.id.in_(earlier.inputs.values())))
            digest_of = {artifact_id: sha for artifact_id, sha in rows}
        earlier_digests = {name: digest_of.get(artifact_id) for name, artifact_id in earlier.inputs.items()}
        if earlier_digests != dict(input_digests):
            raise ValidationFailed(
                f"Idempotency-Key already used for job {earlier.id}, a different request (files differ)",
                errors=[{"loc": ["header", "Idempotency-Key"], "msg": "already used for a different request"}],
            )
        return earlier

    def _by_idempotency_key(self, owner_id: str, key: str) -> JobRead | None:
        with self._db.read() as session:
            row = session.scalar(select(Job).where(Job.owner_id == owner_id, Job.idempotency_key == key))
            return self._read(session, row) if row else None

    # -- change ---------------------------------------------------------------------------------

    def cancel(self, job_id: str, user: UserRef | None = None) -> JobRead:
        """PENDING: cancelled at once. RUNNING: the plugin is told (ctx.cancelled). Final: Conflict."""
        now = self._clock()
        settled = Settled()
        with self._db.write() as session:
            row = self._visible(session, job_id, user)
            if row.status in (JobStatus.PENDING, JobStatus.WAITING):
                waiting = row.status == JobStatus.WAITING
                row.status, row.finished_at, row.cancel_requested = JobStatus.CANCELLED, now, True
                what = "cancelled while waiting for its parents" if waiting else "cancelled before it started"
                record_event(session, job_id, what, now=now, source="api")
                session.flush()
                # Its waiting children end too ("dependency failed"), in this transaction.
                settled = settle_children(session.connection(), [job_id], now)
            elif row.status == JobStatus.RUNNING:
                if not row.cancel_requested:
                    row.cancel_requested = True
                    record_event(
                        session, job_id, "cancel requested; waiting for the plugin to stop", now=now, source="api"
                    )
            else:
                raise Conflict(f"job {job_id} already finished ({row.status})")
        if self._on_cancel is not None:
            self._on_cancel(job_id)
        self.after_settle(settled)
        job = self.get(job_id)
        self._changed(job_id, job.owner_id)
        return job

    def retry(
        self,
        job_id: str,
        user: UserRef | None = None,
        *,
        idempotency_key: str | None = None,
        rearm_children: bool = False,
    ) -> JobRead:
        """A new job with the same plugin, params, inputs and parents, for a FAILURE or CANCELLED one.

        ``rearm_children=True``: the children cancelled because this job failed ("dependency failed:
        <id>"), and theirs in turn, wait again (WAITING), now for the new job.
        """
        if not isinstance(rearm_children, bool):
            raise ValidationFailed.field(["rearm_children"], "must be true or false")
        old = self.get(job_id, user)
        if old.status not in (JobStatus.FAILURE, JobStatus.CANCELLED):
            raise Conflict(f"job {job_id} is {old.status.value}; only FAILURE or CANCELLED jobs can be retried")
        inputs: dict[str, Any] = {**{name: ref.model_dump() for name, ref in old.input_refs.items()}, **old.inputs}
        new = self.submit(
            old.owner_id, old.plugin, params=old.params, inputs=inputs, priority=old.priority,
            max_retries=old.max_retries, timeout=old.timeout, idempotency_key=idempotency_key,
            after=old.parents or None, allow_failed_parents=old.allow_failed_parents,
        )  # fmt: skip
        now = self._clock()
        settled = Settled()
        with self._db.connect() as conn:
            record_event(conn, new.id, f"retry of job {job_id}", now=now, source="api")
            if rearm_children:
                # The retry locked first, as submit locks parents: should it finish meanwhile, its
                # settle either sees the moved edges or has committed before our settle reads it.
                conn.execute(select(Job.id).where(Job.id == new.id).with_for_update(read=True))
                if ended := settle(conn, rearm(conn, job_id, new.id, now), now, settled):
                    settled.merge(settle_children(conn, ended, now))
        self.after_settle(settled)
        return self.get(new.id) if rearm_children else new

    def bulk(
        self,
        user: UserRef | None,
        action: BulkAction | str,
        *,
        status: str | JobStatus | None = None,
        plugin: str | None = None,
        q: str | None = None,
        owner_id: str | None = None,
        batch_size: int = 500,
        progress: Callable[[BulkReport], None] | None = None,
        stop: threading.Event | None = None,
    ) -> BulkReport:
        """``action`` on every job matching the filter, in batches (an admin's: everyone's; else own)."""
        where = job_filters(user, status=status, plugin=plugin, q=q, owner_id=owner_id, all_users=True)
        return run_bulk(self, self._db, action, where, now=self._clock, batch_size=batch_size, progress=progress,
                        stop=stop)  # fmt: skip

    def changed(self, job_id: str) -> None:
        """Tell the change feed (for bulk changes made outside these methods)."""
        self._changed(job_id, None)

    def cancelled_elsewhere(self, job_id: str) -> None:
        """A RUNNING job's cancel flag was set in bulk: tell a local worker now, and the feed."""
        if self._on_cancel is not None:
            self._on_cancel(job_id)
        self._changed(job_id, None)


__all__ = ["JobService", "same_request_or_refuse"]
