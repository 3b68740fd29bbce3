"""Running one job: claim the row, run its plugin with a JobContext, record the outcome.

The claim is one conditional UPDATE (PENDING -> RUNNING), so a duplicate delivery of the same id
finds nothing to claim and runs nothing. The outcome is recorded in one transaction, fenced on
the claim (RUNNING, worker_id, attempts, started_at): a worker that lost its job to the sweeper, or
handed it back on shutdown, cannot overwrite a later attempt, even one by the same worker id.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update

from helixnet.core import statements as sql
from helixnet.core.db import Database
from helixnet.core.events import event_values
from helixnet.core.metrics import Metrics
from helixnet.core.models import Artifact, ArtifactStatus, Job, JobStatus
from helixnet.core.validation import refuse_nul
from helixnet.core.workflows import Settled, settle_children
from helixnet.errors import ValidationFailed
from helixnet.logs import job_scope
from helixnet.plugins.registry import PluginRegistry
from helixnet.storage import Storage
from helixnet.worker.context import InputFile, JobContext
from helixnet.worker.executors import Executors, PluginCall, StorageSpec
from helixnet.worker.outcome import OutcomeWriter, _Outcome, _Recorded, storable

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]

#: Progress writes closer together than this are merged (the last one always lands).
PROGRESS_MIN_INTERVAL = 0.25


@dataclass
class RunningJob:
    """A job this process is running right now; the monitor heart-beats and signals it."""

    job_id: str
    worker_id: str
    attempt: int
    ctx: JobContext
    cancel_reason: str | None = None
    last_progress: float = field(default=0.0)
    started_mono: float = field(default_factory=time.monotonic)
    # The "started" event waits here: a fast job writes it with its outcome, one statement fewer.
    pending_events: list[dict[str, Any]] = field(default_factory=list)
    _pending_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    claim: Claim | None = None  # what the hand-back on shutdown fences on

    def take_pending(self) -> list[dict[str, Any]]:
        with self._pending_lock:
            taken, self.pending_events = self.pending_events, []
        return taken


@dataclass(frozen=True)
class Claim:
    job_id: str
    owner_id: str
    plugin: str
    params: dict[str, Any]
    inputs: dict[str, str]
    attempts: int
    max_retries: int
    timeout: float | None
    priority: int
    started_at: datetime | None = None  # the claim's time: part of the outcome's fence


class JobRunner:
    """Executes job ids for one process; thread-safe, shared by all its worker threads."""

    def __init__(
        self,
        db: Database,
        storage: Storage,
        plugins: PluginRegistry,
        *,
        clock: Clock,
        retry_backoff: Callable[[int], float],
        requeue: Callable[[str, int], None] | None = None,
        on_change: Callable[[str], None] | None = None,
        requeue_many: Callable[[list[tuple[str, int]]], None] | None = None,
        metrics: Metrics | None = None,
        executors: Executors | None = None,
    ) -> None:
        self._db = db
        self._outcomes = OutcomeWriter(db)
        self._metrics = metrics
        # Tells the process's change feed at once (live pages); a no-op when nobody listens.
        self._changed = on_change or (lambda job_id: None)
        self._storage = storage
        self._plugins = plugins
        self._executors = executors or Executors({}, StorageSpec(storage.url, {}))
        self._clock = clock
        self._retry_backoff = retry_backoff
        self._requeue = requeue
        # Children a finished job released (a fan-out of thousands): one queue round trip for them all.
        self._requeue_many = requeue_many
        self._lock = threading.Lock()
        self.running: dict[str, RunningJob] = {}

    # -- the whole path ---------------------------------------------------------------------------

    def execute(self, job_id: str, worker_id: str) -> JobStatus | None:
        """Run ``job_id`` if it can be claimed; returns its new status, or None when not claimed."""
        claimed = self._claim(job_id, worker_id, defer_event=True)
        if claimed is None:
            return None
        claim, started_event = claimed
        running = self.register(claim, worker_id, started_event)
        outcome, elapsed = self.run_claimed(claim, running)
        return self.record_outcome(claim, worker_id, running.ctx, running, outcome, elapsed)

    def register(self, claim: Claim, worker_id: str, started_event: dict[str, Any]) -> RunningJob:
        """A claimed job joins ``running``: from now on the monitor heart-beats it and passes cancels on."""
        running = RunningJob(claim.job_id, worker_id, claim.attempts, self._context(claim),
                             pending_events=[started_event], claim=claim)  # fmt: skip
        with self._lock:
            self.running[claim.job_id] = running
        return running

    def forget(self, job_ids: list[str]) -> None:
        """Drop jobs from ``running`` (a batch that failed before their turn): the sweeper takes them over."""
        with self._lock:
            for job_id in job_ids:
                self.running.pop(job_id, None)

    def run_claimed(self, claim: Claim, running: RunningJob) -> tuple[_Outcome, float]:
        """Run a registered job's plugin (unless cancelled or stopped before it started); it leaves ``running``."""
        running.started_mono = started = time.monotonic()
        ctx = running.ctx
        try:
            if running.cancel_reason == "shutdown":  # claimed in a batch, stopped before its turn
                outcome = _Outcome.failed("interrupted before it started")
            elif ctx.cancelled:
                outcome = _Outcome(ok=False, error="cancelled", cancelled=True)
            else:
                with job_scope(claim.job_id, claim.plugin, running.worker_id):
                    outcome = self._run_plugin(claim, ctx, running)
        finally:
            ctx.cleanup()
            with self._lock:
                self.running.pop(claim.job_id, None)
        return outcome, time.monotonic() - started

    def claim_many(self, job_ids: list[str], worker_id: str) -> list[tuple[Claim, dict[str, Any]]]:
        """Claim several ids in one conditional UPDATE; those not PENDING (duplicates, cancelled) are left out.

        Returns ``(claim, started event)`` in the order of ``job_ids``; the events wait, as ``execute``'s do.
        """
        now = self._clock()
        with self._db.connect() as conn:
            rows = conn.execute(sql.CLAIM_MANY, {"p_ids": list(dict.fromkeys(job_ids)), "p_now": now,
                                                 "p_worker": worker_id}).all()  # fmt: skip
        by_id = {row.id: row for row in rows}
        claimed = []
        for job_id in dict.fromkeys(job_ids):
            if (row := by_id.get(job_id)) is None:
                continue
            self._changed(job_id)
            started = event_values(job_id, f"started on worker {worker_id} (attempt {row.attempts})", now=now)
            claimed.append((Claim(job_id, row.owner_id, row.plugin, row.params or {}, row.inputs or {}, row.attempts,
                                  row.max_retries, row.timeout, row.priority, now), started))  # fmt: skip
        return claimed

    def claim(self, job_id: str, worker_id: str) -> Claim | None:
        """Claim ``job_id`` for ``worker_id`` (PENDING -> RUNNING); None when there is nothing to claim."""
        claimed = self._claim(job_id, worker_id, defer_event=False)
        return claimed[0] if claimed else None

    def _claim(self, job_id: str, worker_id: str, *, defer_event: bool) -> tuple[Claim, dict[str, Any]] | None:
        now = self._clock()
        with self._db.connect() as conn:
            row = conn.execute(sql.CLAIM, {"p_id": job_id, "p_now": now, "p_worker": worker_id}).first()
            if row is None:
                return None
            started = event_values(job_id, f"started on worker {worker_id} (attempt {row.attempts})", now=now)
            if not defer_event:
                conn.execute(sql.INSERT_EVENTS, [started])
        self._changed(job_id)
        claim = Claim(job_id, row.owner_id, row.plugin, row.params or {}, row.inputs or {}, row.attempts,
                      row.max_retries, row.timeout, row.priority, now)  # fmt: skip
        return claim, started

    def flush_pending(self, running: RunningJob) -> None:
        """Write a running job's waiting events (the monitor calls this once a job runs a while)."""
        if pending := running.take_pending():
            with self._db.connect() as conn:
                conn.execute(sql.INSERT_EVENTS, pending)

    # -- running ------------------------------------------------------------------------------------

    def _context(self, claim: Claim) -> JobContext:
        return JobContext(
            job_id=claim.job_id,
            owner_id=claim.owner_id,
            attempt=claim.attempts,
            params=None,
            inputs=self._inputs(claim.inputs),
            storage=self._storage,
            report_progress=lambda fraction, message: self.report_progress(claim.job_id, fraction, message),
            emit_event=lambda level, message: self.emit(claim.job_id, level, message),
        )

    def _inputs(self, inputs: dict[str, str]) -> dict[str, InputFile]:
        if not inputs:
            return {}
        with self._db.read() as session:
            rows = {row.id: row for row in session.scalars(select(Artifact).where(Artifact.id.in_(inputs.values())))}
        files = {}
        for name, artifact_id in inputs.items():
            row = rows.get(artifact_id)
            if row is None or row.status != ArtifactStatus.AVAILABLE:
                continue  # reported by the plugin's own check: a missing input is its error to name
            files[name] = InputFile(
                name, row.id, row.filename, row.content_type, row.size, row.object_name, self._storage
            )
        return files

    def _run_plugin(self, claim: Claim, ctx: JobContext, running: RunningJob) -> _Outcome:
        try:
            plugin = self._plugins[claim.plugin]
        except KeyError:
            return _Outcome.failed(
                f"plugin {claim.plugin!r} is not installed on worker {running.worker_id}", final=True
            )
        missing = [spec.name for spec in plugin.inputs if spec.required and spec.name not in ctx.inputs]
        if missing:
            return _Outcome.failed(f"input artifact(s) gone: {', '.join(missing)}", final=True)
        try:
            params = plugin.Params.model_validate(claim.params)
        except ValidationError as exc:
            return _Outcome.failed(f"params no longer valid for {claim.plugin}: {exc}", final=True)
        ctx.params = params

        def timed_out() -> None:
            running.cancel_reason = "timeout"

        call = PluginCall(claim.plugin, plugin, ctx, params, claim.timeout, timed_out)
        return self._executors.run(call)

    # -- progress and log lines (called from plugin threads) ------------------------------------------

    def report_progress(self, job_id: str, fraction: float, message: str | None) -> None:
        running = self.running.get(job_id)
        now_mono = time.monotonic()
        if running is not None and fraction < 1.0 and now_mono - running.last_progress < PROGRESS_MIN_INTERVAL:
            return
        if running is not None:
            running.last_progress = now_mono
        values: dict[str, Any] = {"progress": fraction, "heartbeat_at": self._clock()}
        if message is not None:
            values["message"] = storable(message[:2000])
        with self._db.connect() as conn:
            conn.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.RUNNING.value).values(**values))
        self._changed(job_id)

    def emit(self, job_id: str, level: str, message: str) -> None:
        running = self.running.get(job_id)
        pending = running.take_pending() if running is not None else []
        line = event_values(job_id, storable(message), now=self._clock(), level=level, source="plugin")
        with self._db.connect() as conn:
            conn.execute(sql.INSERT_EVENTS, [*pending, line])  # the started line first, in order
        self._changed(job_id)

    # -- outcome --------------------------------------------------------------------------------------

    def record_outcome(
        self,
        claim: Claim,
        worker_id: str,
        ctx: JobContext,
        running: RunningJob,
        outcome: _Outcome,
        elapsed: float,
        *,
        defer: bool = False,
    ) -> Any:
        """Write the job's final (or retry) status, fenced on (worker, attempt); returns the status, or None when
        the job was taken from us. ``defer=True`` only prepares it, for ``record_outcomes`` to write in a group."""
        now = self._clock()
        if not outcome.ok and self._storage.protocol == "file":
            outcome = outcome.without(self._storage.root)
        outcome = replace(outcome, error=storable(outcome.error), traceback=storable(outcome.traceback))
        cancelled = ctx.cancelled and running.cancel_reason not in ("timeout", "shutdown")
        if outcome.ok and not cancelled:
            try:
                json.dumps(outcome.result)
                refuse_nul(outcome.result, ["result"])
            except ValidationFailed as exc:  # no database may refuse the outcome: it would read as "worker lost"
                outcome = _Outcome.failed(f"result is not storable: {exc.detail}", final=True)
            except (TypeError, ValueError) as exc:
                outcome = _Outcome.failed(f"result is not JSON-serialisable: {exc}", final=True)
        if running.cancel_reason == "shutdown" and not outcome.ok:
            # Interrupted by our own stop, not by its fault: back on the queue, the attempt not counted.
            status = JobStatus.PENDING
            values: dict[str, Any] = {"worker_id": None, "queued_at": now, "scheduled_at": None, "attempts": None}
            message = f"interrupted by the shutdown of worker {worker_id}; handed back to the queue"
        elif cancelled or outcome.cancelled:
            status, values, message = JobStatus.CANCELLED, {"error": "cancelled"}, "cancelled while running"
        elif outcome.ok:
            status = JobStatus.SUCCESS
            values = {"result": outcome.result, "result_path": ctx.outputs.main_path, "progress": 1.0, "error": None}
            message = f"finished SUCCESS in {elapsed * 1000:.0f} ms"
        elif not outcome.final and claim.attempts <= claim.max_retries:
            delay = self._retry_backoff(claim.attempts)
            status = JobStatus.PENDING
            # No back-off: straight back on the queue; else the sweeper enqueues it when due.
            values = {"error": outcome.error, "worker_id": None, "queued_at": now if delay <= 0 else None,
                      "scheduled_at": None if delay <= 0 else now + timedelta(seconds=delay)}  # fmt: skip
            message = (f"attempt {claim.attempts} failed: {outcome.error}; retrying in {delay:g} s "
                       f"({claim.max_retries + 1 - claim.attempts} attempt(s) left)")  # fmt: skip
        else:
            status, values = JobStatus.FAILURE, {"error": outcome.error}
            message = f"failed after {claim.attempts} attempt(s): {outcome.error}"
        if status in (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.CANCELLED):
            values["finished_at"] = now
        values["status"] = status.value
        plan = _Recorded(claim, worker_id, ctx, running, outcome, elapsed, status, values, message, now)
        if defer:
            return plan
        written, settled = self._outcomes.write_settling([plan])
        status_now = self._after_outcome(plan, written[0])
        self.after_settle(settled)
        return status_now

    def record_outcomes(self, plans: list[_Recorded]) -> list[JobStatus | None]:
        """Outcomes prepared with ``record_outcome(..., defer=True)``, written in one transaction (one commit)."""
        if not plans:
            return []
        written, settled = self._outcomes.write_settling(plans)
        statuses = [self._after_outcome(plan, done) for plan, done in zip(plans, written, strict=True)]
        self.after_settle(settled)
        return statuses

    def after_settle(self, settled: Settled) -> None:
        """Children a finished job released are enqueued (an enqueue failure leaves them to the sweeper)."""
        if settled.released and self._requeue_many is not None:
            self._requeue_many(settled.released)
        for job_id, priority in settled.released:
            self._changed(job_id)
            if self._requeue_many is None and self._requeue is not None:
                self._requeue(job_id, priority)
        for job_id in settled.ended:
            self._changed(job_id)

    def _after_outcome(self, plan: _Recorded, updated: bool) -> JobStatus | None:
        claim, worker_id, ctx, status, values = plan.claim, plan.worker_id, plan.ctx, plan.status, plan.values
        keep_outputs, elapsed = status == JobStatus.SUCCESS, plan.elapsed
        self._changed(claim.job_id)
        if not updated:
            if plan.running.cancel_reason != "shutdown":  # a hand-back already said what happened
                log.warning("job %s was taken from worker %s (swept or cancelled); outcome dropped",
                            claim.job_id, worker_id)  # fmt: skip
            ctx.outputs.discard()
            return None
        if not keep_outputs:
            ctx.outputs.discard()
        if self._metrics is not None and "finished_at" in values:
            self._metrics.record(claim.plugin, status, elapsed)  # memory only; flushed by the pool
        if status == JobStatus.PENDING and values.get("queued_at") is not None and self._requeue is not None:
            self._requeue(claim.job_id, claim.priority)
        return status

    def hand_back(self, running: RunningJob, worker_id: str, *, why: str | None = None) -> bool:
        """Give a running job back to the queue (on shutdown, or unstarted from a batch): PENDING, the attempt not counted.

        Fenced on the claim like an outcome, so exactly one of this and the plugin's own outcome
        lands; the plugin is told to stop afterwards, and whatever it returns later is dropped.
        """
        claim = running.claim
        if claim is None:
            return False
        now = self._clock()
        elapsed = time.monotonic() - running.started_mono
        # A cancel asked while it ran wins over the hand-back: it must not run again elsewhere.
        cancelled: dict[str, Any] = {"status": JobStatus.CANCELLED.value, "error": "cancelled", "finished_at": now}
        values: dict[str, Any] = {"status": JobStatus.PENDING.value, "worker_id": None, "queued_at": now,
                                  "scheduled_at": None, "attempts": None}  # fmt: skip
        status = JobStatus.CANCELLED
        message = f"cancelled while running (worker {worker_id} gave it up after {elapsed:.1f} s)"
        with self._db.connect() as conn:
            params = sql.finish_params(claim.job_id, worker_id, claim.attempts, cancelled, claim.started_at)
            finish = sql.finish(frozenset(cancelled)).where(sql.jobs.c.cancel_requested.is_(True))
            updated = conn.execute(finish, params).rowcount
            if not updated:
                status = JobStatus.PENDING
                message = (f"{why or f'handed back by worker {worker_id} on shutdown after {elapsed:.1f} s'} "
                           f"(attempt {claim.attempts} not counted); requeued")  # fmt: skip
                params = sql.finish_params(claim.job_id, worker_id, claim.attempts, values, claim.started_at)
                updated = conn.execute(sql.finish(frozenset(values)), params).rowcount
            if updated:
                events = running.take_pending()
                events.append(event_values(claim.job_id, message, now=now, level="WARNING"))
                conn.execute(sql.INSERT_EVENTS, events)
            settled = settle_children(conn, [claim.job_id], now) if updated and status == JobStatus.CANCELLED else None
        running.cancel_reason = "shutdown"
        running.ctx.request_cancel()
        self._changed(claim.job_id)
        if updated:
            log.warning("job %s: %s", claim.job_id, message)
            if status == JobStatus.CANCELLED:
                if self._metrics is not None:
                    self._metrics.record(claim.plugin, status, elapsed)
                if settled:
                    self.after_settle(settled)
            elif self._requeue is not None:
                self._requeue(claim.job_id, claim.priority)
        return bool(updated)
