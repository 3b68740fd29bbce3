"""Batch claims: a worker thread takes a few ready jobs in one statement when the queue is deep.

Each job still moves PENDING -> RUNNING through the one conditional UPDATE (``CLAIM_MANY``: the same
WHERE for several ids), so a duplicate delivery of a batch-claimed id finds nothing to claim. What
one thread claims it runs itself, in queue order: every claimed job is registered in the runner's
``running`` at once, so the monitor heart-beats it and passes cancels on while it waits its turn,
and if the process dies, the sweeper recovers it like any RUNNING job of a dead worker (the attempt
counts, as for the job that was running). Outcomes of the batch are written together, one commit,
once the batch is done or when they have waited ``OUTCOME_GROUP_SECONDS``.

Fairness: a thread asks for more than one id only once it has seen that the jobs it runs are quick
(under ``FAST_JOB_SECONDS`` on average; a new thread starts one at a time), and a job in a batch that
turns out slow (over ``SLOW_IN_BATCH_SECONDS``) releases the batch's jobs not yet started back to
the queue for other threads and processes. So a batch holds back at most about one slow job's
work; slow jobs go one at a time, exactly as before.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from helixnet.core.models import JobStatus
from helixnet.worker.runner import JobRunner

log = logging.getLogger(__name__)

#: Jobs quicker than this on average (an exponential moving average) are taken several at a time.
FAST_JOB_SECONDS = 0.02
#: A job of a batch that ran longer than this hands the batch's unstarted jobs back to the queue.
SLOW_IN_BATCH_SECONDS = 0.2
#: Outcomes held for a group commit are written once the oldest has waited this long.
OUTCOME_GROUP_SECONDS = 0.02


class ClaimBatcher:
    """One worker thread's batching: how many ids to ask the queue for, and running what it got."""

    def __init__(self, runner: JobRunner, limit: int, fast_seconds: float = FAST_JOB_SECONDS) -> None:
        self._runner = runner
        self.limit = max(1, limit)
        self._fast_seconds = fast_seconds
        self._average: float | None = None  # seconds per job, recent ones weighing most; None: none seen yet

    def want(self) -> int:
        """How many ids to dequeue next: ``limit`` while jobs are known to be quick, else one."""
        return self.limit if self._average is not None and self._average < self._fast_seconds else 1

    def run(self, job_ids: list[str], worker_id: str, stopping: Callable[[], bool]) -> int:
        """Claim ``job_ids`` and run what was claimed; returns how many ran to an outcome."""
        if len(job_ids) == 1:  # the plain path, unchanged
            began = time.monotonic()
            status = self._runner.execute(job_ids[0], worker_id)
            self._learn(time.monotonic() - began)
            return int(status is not None)
        claimed = self._runner.claim_many(job_ids, worker_id)
        batch = []
        held = _HeldOutcomes(self._runner)
        try:
            for claim, started in claimed:
                batch.append((claim, self._runner.register(claim, worker_id, started)))
            for index, (claim, running) in enumerate(batch):
                if stopping() and running.cancel_reason is None:
                    running.cancel_reason = "shutdown"  # handed back to the queue, its attempt not counted
                if running.cancel_reason == "shutdown":
                    held.skipped.add(claim.job_id)
                with held.written_if_this_takes_long():
                    outcome, elapsed = self._runner.run_claimed(claim, running)
                self._learn(elapsed)
                if elapsed > SLOW_IN_BATCH_SECONDS:
                    held.skipped |= self._release(batch[index + 1 :], worker_id, elapsed)
                held.add(self._runner.record_outcome(claim, worker_id, running.ctx, running, outcome, elapsed,
                                                     defer=True))  # fmt: skip
        finally:
            # After a failure (the database, around a plugin) the jobs not run leave ``running``: their
            # heartbeat stops and the sweeper recovers them, as for any job whose run failed that way.
            self._runner.forget([claim.job_id for claim, _ in batch])
            held.close()
        return held.done

    def _learn(self, seconds: float) -> None:
        self._average = seconds if self._average is None else 0.7 * self._average + 0.3 * seconds

    def _release(self, rest: list[tuple[Any, Any]], worker_id: str, slow: float) -> set[str]:
        """Jobs were slower than they looked: the unstarted rest go back to the queue for other workers."""
        released = set()
        for claim, running in rest:
            if running.cancel_reason is None and self._runner.hand_back(
                running,
                worker_id,
                why=f"released from a batch of worker {worker_id} (a job before it took {slow:.2f} s)",
            ):
                released.add(claim.job_id)
        return released


def _count(plans: list[Any], statuses: list[JobStatus | None], skipped: set[str]) -> int:
    """How many of the written outcomes belong to jobs that ran (not taken from us, not handed back)."""
    return sum(
        status is not None and plan.claim.job_id not in skipped for plan, status in zip(plans, statuses, strict=True)
    )


class _HeldOutcomes:
    """Outcomes of a batch waiting for their group commit, never longer than ``OUTCOME_GROUP_SECONDS``.

    A finished job's outcome must not wait on the next job: should that one run long and the process
    die meanwhile, the finished job would be recovered as lost and run again. So while a job runs
    with outcomes held, one watcher thread of the batch (not a timer a job: threads cost more than
    the quick jobs batched here) writes them once they are due.
    """

    def __init__(self, runner: JobRunner) -> None:
        self._runner = runner
        self._lock = threading.Condition()
        self._plans: list[Any] = []
        self._since = 0.0
        self._running = False  # a job of the batch runs while outcomes are held
        self._closed = False
        self._watcher: threading.Thread | None = None
        self.skipped: set[str] = set()  # handed back unstarted: not counted as run
        self.done = 0

    def add(self, plan: Any) -> None:
        with self._lock:
            if not self._plans:
                self._since = time.monotonic()
            self._plans.append(plan)
            due = time.monotonic() - self._since >= OUTCOME_GROUP_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            if self._plans:  # kept held when the write fails: the next flush tries them again
                statuses = self._runner.record_outcomes(self._plans)
                plans, self._plans = self._plans, []
                self.done += _count(plans, statuses, self.skipped)

    def close(self) -> None:
        """The batch is done: its watcher ends; then the last held outcomes are written."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self.flush()

    @contextlib.contextmanager
    def written_if_this_takes_long(self) -> Iterator[None]:
        with self._lock:
            self._running = bool(self._plans)
            if self._running:
                if self._watcher is None:
                    self._watcher = threading.Thread(target=self._watch, name="helixnet-outcomes", daemon=True)
                    self._watcher.start()
                self._lock.notify_all()
        try:
            yield
        finally:
            with self._lock:
                self._running = False

    def _watch(self) -> None:
        with self._lock:
            while not self._closed:
                if not (self._running and self._plans):
                    self._lock.wait()
                    continue
                wait = OUTCOME_GROUP_SECONDS - (time.monotonic() - self._since)
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                try:
                    self.flush()  # re-entrant: the Condition's lock is an RLock
                except Exception:  # the batch's own flush at its end tries again
                    log.warning("writing a batch's held outcomes failed; trying again at its end", exc_info=True)
                    self._lock.wait(OUTCOME_GROUP_SECONDS)
