"""Batch claims: a worker thread takes a few ready jobs in one statement when the queue is deep.

Each job still moves PENDING -> RUNNING through the one conditional UPDATE (``CLAIM_MANY``: the same
WHERE for several ids), so a duplicate delivery of a batch-claimed id finds nothing to claim. What
one thread claims it runs itself, in queue order: every claimed job is registered in the runner's
``running`` at once, so the monitor heart-beats it and passes cancels on while it waits its turn,
and if the process dies, the sweeper recovers it like any RUNNING job of a dead worker (the attempt
counts, as for the job that was running). Outcomes of the batch are written together, one commit,
once the batch is done or when they have waited ``OUTCOME_GROUP_SECONDS``.

Fairness: a thread asks for more than one id only while the jobs it just ran were quick (under
``FAST_JOB_SECONDS`` on average), so a batch holds back at most about ``limit x FAST_JOB_SECONDS`` of
work from the other threads and processes; slow jobs go one at a time, exactly as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from helixnet.core.models import JobStatus
from helixnet.core.runner import JobRunner

#: Jobs quicker than this on average (an exponential moving average) are taken several at a time.
FAST_JOB_SECONDS = 0.02
#: Outcomes held for a group commit are written once the oldest has waited this long.
OUTCOME_GROUP_SECONDS = 0.02


class ClaimBatcher:
    """One worker thread's batching: how many ids to ask the queue for, and running what it got."""

    def __init__(self, runner: JobRunner, limit: int) -> None:
        self._runner = runner
        self.limit = max(1, limit)
        self._average = 0.0  # seconds per job, recent ones weighing most

    def want(self) -> int:
        """How many ids to dequeue next: ``limit`` while jobs are quick, else one."""
        return self.limit if self._average < FAST_JOB_SECONDS else 1

    def run(self, job_ids: list[str], worker_id: str, stopping: Callable[[], bool]) -> int:
        """Claim ``job_ids`` and run what was claimed; returns how many ran to an outcome."""
        if len(job_ids) == 1:  # the plain path, unchanged
            began = time.monotonic()
            status = self._runner.execute(job_ids[0], worker_id)
            self._learn(time.monotonic() - began)
            return int(status is not None)
        claimed = self._runner.claim_many(job_ids, worker_id)
        batch = []
        held: list[Any] = []
        skipped: set[str] = set()  # handed back unstarted: not counted as run
        held_since = 0.0
        done = 0
        try:
            for claim, started in claimed:
                batch.append((claim, self._runner.register(claim, worker_id, started)))
            for claim, running in batch:
                if stopping() and running.cancel_reason is None:
                    running.cancel_reason = "shutdown"  # handed back to the queue, its attempt not counted
                if running.cancel_reason == "shutdown":
                    skipped.add(claim.job_id)
                outcome, elapsed = self._runner.run_claimed(claim, running)
                self._learn(elapsed)
                if not held:
                    held_since = time.monotonic()
                held.append(self._runner.record_outcome(claim, worker_id, running.ctx, running, outcome, elapsed,
                                                        defer=True))  # fmt: skip
                if time.monotonic() - held_since >= OUTCOME_GROUP_SECONDS:
                    done += _count(held, self._runner.record_outcomes(held), skipped)
                    held = []
        finally:
            # After a failure (the database, around a plugin) the jobs not run leave ``running``: their
            # heartbeat stops and the sweeper recovers them, as for any job whose run failed that way.
            self._runner.forget([claim.job_id for claim, _ in batch])
            done += _count(held, self._runner.record_outcomes(held), skipped)
        return done

    def _learn(self, seconds: float) -> None:
        self._average = 0.7 * self._average + 0.3 * seconds


def _count(plans: list[Any], statuses: list[JobStatus | None], skipped: set[str]) -> int:
    """How many of the written outcomes belong to jobs that ran (not taken from us, not handed back)."""
    return sum(
        status is not None and plan.claim.job_id not in skipped for plan, status in zip(plans, statuses, strict=True)
    )
