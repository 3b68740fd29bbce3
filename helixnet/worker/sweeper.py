"""The sweeper: nothing accepted is lost.

huey acknowledges a task when it is dequeued, so a worker that dies mid-run takes the task with it;
rows are our truth instead. Every pass, under a lease so that one process acts at a time (rq's
maintenance lock), the sweeper:

1. recovers RUNNING jobs whose heartbeat stopped: requeued while attempts remain, else FAILURE
   "worker lost", with a JobEvent naming the worker and when it went quiet;
2. enqueues PENDING jobs that are due and not on the queue (a failed enqueue, a retry back-off);
3. enqueues again PENDING jobs whose queue message was lost (queue empty, row waiting too long);
4. settles WAITING jobs whose parents are all final (a safety net: that happens when a parent ends);
5. kicks the digest step (``core.digests``) for artifacts whose sha256 is still unknown: it runs on
   its own thread, so the pass itself never waits for an object to be read.

``recover_worker`` does step 1 at once for one worker process known to be dead (a supervisor saw
its child exit), without waiting for the heartbeat limit.

Every function takes ``now``: tests see a recovery without sleeping.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from helixnet.core.db import Database
from helixnet.core.digests import ArtifactDigests
from helixnet.core.events import event_values
from helixnet.core.models import Job, JobEvent, JobStatus, Lease, PausedPlugin
from helixnet.core.workflows import Settled, release_stranded, settle_children
from helixnet.errors import QueueUnavailable
from helixnet.queue import Queue

log = logging.getLogger(__name__)
LEASE_NAME = "sweeper"
BATCH = 500


@dataclass(frozen=True)
class SweepReport:
    requeued_lost: int = 0
    failed_lost: int = 0
    enqueued: int = 0
    reenqueued_stale: int = 0
    acted: bool = True
    released_waiting: int = 0  # WAITING jobs whose parents were all final, released by the safety net
    digesting: bool = False  # a digest run was started in the background by this pass

    @property
    def total(self) -> int:
        return self.requeued_lost + self.failed_lost + self.enqueued + self.reenqueued_stale + self.released_waiting


class Sweeper:
    def __init__(self, db: Database, queue: Queue, *, holder: str, lost_after_seconds: float, lease_seconds: float,
                 digests: ArtifactDigests | None = None) -> None:  # fmt: skip
        self._db = db
        self._queue = queue
        self._digests = digests
        self.holder = holder
        self.lost_after = timedelta(seconds=lost_after_seconds)
        self.lease = timedelta(seconds=lease_seconds)
        self._waiting_checked: datetime | None = None

    def sweep(self, now: datetime, *, force: bool = False) -> SweepReport:
        """One pass; does nothing (``acted=False``) while another process holds the lease."""
        if not force and not self.acquire_lease(now):
            return SweepReport(acted=False)
        requeued, failed = self.recover_lost(now)
        enqueued = self.enqueue_due(now)
        stale = self.reenqueue_stale(now)
        # The safety net scans every WAITING job: once per heartbeat limit is enough (a forced pass always).
        released = 0
        if force or self._waiting_checked is None or now - self._waiting_checked >= self.lost_after:
            self._waiting_checked = now
            released = self.release_waiting(now)
        digesting = self._kick_digests()
        return SweepReport(requeued, failed, enqueued, stale, digesting=digesting, released_waiting=released)

    def release_waiting(self, now: datetime) -> int:
        """The safety net of workflows: WAITING jobs none of whose parents is unfinished, settled now.

        Settling happens in the transaction that makes a parent final; this finds what a path that
        forgot to (or a database edited by hand) left behind, so no child waits forever.
        """
        with self._db.connect() as conn:
            settled = release_stranded(conn, now)
        for job_id in settled.ended:
            log.warning("job %s: settled by the sweeper (its parents were final but it still waited)", job_id)
        for job_id, priority in settled.released:
            log.warning("job %s: released by the sweeper (its parents were final but it still waited)", job_id)
            self._enqueue(job_id, priority)
        return len(settled.released) + len(settled.ended)

    def _kick_digests(self) -> bool:
        if self._digests is None:
            return False
        try:
            return self._digests.kick()
        except Exception:  # the job sweeps above matter more; the next pass tries again
            log.warning("could not start the digest step", exc_info=True)
            return False

    # -- the lease ------------------------------------------------------------------------------------

    def acquire_lease(self, now: datetime) -> bool:
        expires = now + self.lease
        with self._db.connect() as conn:
            taken = conn.execute(
                update(Lease)
                .where(Lease.name == LEASE_NAME, or_(Lease.holder == self.holder, Lease.expires_at < now))
                .values(holder=self.holder, expires_at=expires)
            ).rowcount
            if taken:
                return True
            exists = conn.execute(select(Lease.name).where(Lease.name == LEASE_NAME)).first()
        if exists:
            return False
        try:
            with self._db.connect() as conn:
                conn.execute(insert(Lease).values(name=LEASE_NAME, holder=self.holder, expires_at=expires))
            return True
        except IntegrityError:
            return False

    def release_lease(self) -> None:
        with self._db.connect() as conn:
            conn.execute(update(Lease).where(Lease.name == LEASE_NAME, Lease.holder == self.holder)
                         .values(expires_at=datetime(1970, 1, 1).astimezone()))  # fmt: skip

    # -- the three sweeps ------------------------------------------------------------------------------

    def find_lost(self, now: datetime) -> list[Job]:
        """RUNNING jobs whose heartbeat is older than the limit (``Job.is_stuck``)."""
        with self._db.read() as session:
            rows = session.scalars(
                select(Job)
                .where(Job.status == JobStatus.RUNNING.value, Job.heartbeat_at < now - self.lost_after)
                .limit(BATCH)
            )
            return [row for row in rows if row.is_stuck(now, self.lost_after.total_seconds())]

    def recover_lost(self, now: datetime) -> tuple[int, int]:
        return self._recover(self.find_lost(now), now, why=None)

    def recover_worker(self, name: str, now: datetime, *, reason: str = "its process exited") -> tuple[int, int]:
        """RUNNING jobs of the dead worker process ``name`` (``host:pid``), recovered now, without
        waiting for their heartbeat to run out; otherwise exactly as ``recover_lost``."""
        with self._db.read() as session:
            rows = list(session.scalars(
                select(Job).where(Job.status == JobStatus.RUNNING.value,
                                  Job.worker_id.startswith(f"{name}/", autoescape=True)).limit(BATCH)))  # fmt: skip
        return self._recover(rows, now, why=reason)

    def _recover(self, jobs: list[Job], now: datetime, *, why: str | None) -> tuple[int, int]:
        requeued: list[tuple[str, int]] = []
        failed = 0
        settled = Settled()
        for job in jobs:
            quiet = (now - job.heartbeat_at).total_seconds() if job.heartbeat_at else float("nan")
            beat = job.heartbeat_at.isoformat(timespec="seconds") if job.heartbeat_at else "never"
            retry = job.attempts <= job.max_retries and not job.cancel_requested
            if job.cancel_requested:  # its owner asked to stop it: it must not run again
                values = {"status": JobStatus.CANCELLED.value, "error": "cancelled", "finished_at": now}
                what = "marked CANCELLED (a cancel was asked while it ran)"
            elif retry:
                values = {"status": JobStatus.PENDING.value, "worker_id": None, "queued_at": now, "scheduled_at": None,
                          "error": "worker lost"}  # fmt: skip
                what = f"requeued (attempt {job.attempts} of {job.max_retries + 1} was lost)"
            else:
                values = {"status": JobStatus.FAILURE.value, "error": "worker lost", "finished_at": now}
                what = f"marked FAILURE: worker lost, no attempts left ({job.attempts} of {job.max_retries + 1})"
            if why is None:
                message = (f"worker {job.worker_id} stopped heart-beating at {beat} ({quiet:.1f} s ago, "
                           f"limit {self.lost_after.total_seconds():g} s); {what}")  # fmt: skip
            else:
                message = f"worker {job.worker_id} died ({why}; last heartbeat {beat}); {what}"
            fence = and_(Job.id == job.id, Job.status == JobStatus.RUNNING.value, Job.heartbeat_at == job.heartbeat_at)
            with self._db.connect() as conn:
                if not conn.execute(update(Job).where(fence).values(**values)).rowcount:
                    continue  # it beat again, or finished, since we looked
                conn.execute(
                    insert(JobEvent), [event_values(job.id, message, now=now, level="WARNING", source="sweeper")]
                )
                if not retry:  # final: its waiting children are settled with it
                    settled.merge(settle_children(conn, [job.id], now))
            log.warning("job %s: %s", job.id, message)
            if retry:
                requeued.append((job.id, job.priority))
            else:
                failed += 1
        for job_id, priority in [*requeued, *settled.released]:
            self._enqueue(job_id, priority)
        return len(requeued), failed

    def enqueue_due(self, now: datetime) -> int:
        """PENDING rows not on the queue whose time has come (failed enqueue, retry back-off)."""
        with self._db.read() as session:
            due = session.execute(
                select(Job.id, Job.priority)
                .where(
                    Job.status == JobStatus.PENDING.value,
                    Job.queued_at.is_(None),
                    or_(Job.scheduled_at.is_(None), Job.scheduled_at <= now),
                    Job.plugin.not_in(select(PausedPlugin.plugin)),  # resume enqueues those
                )
                .limit(BATCH)
            ).all()
        return self._mark_and_enqueue(due, now, note=None)

    def reenqueue_stale(self, now: datetime) -> int:
        """PENDING rows queued long ago while the queue is empty: their message is gone."""
        try:
            if self._queue.size() > 0:
                return 0
        except QueueUnavailable:
            return 0
        with self._db.read() as session:
            stale = session.execute(
                select(Job.id, Job.priority)
                .where(
                    Job.status == JobStatus.PENDING.value,
                    Job.queued_at < now - self.lost_after,
                    Job.plugin.not_in(select(PausedPlugin.plugin)),
                )  # fmt: skip
                .limit(BATCH)
            ).all()
        return self._mark_and_enqueue(stale, now, note="its queue message was lost (queue empty); enqueued again")

    def _mark_and_enqueue(self, rows: Sequence[Any], now: datetime, *, note: str | None) -> int:
        count = 0
        for job_id, priority in rows:
            with self._db.connect() as conn:
                conn.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.PENDING.value)
                             .values(queued_at=now, scheduled_at=None))  # fmt: skip
                if note:
                    conn.execute(
                        insert(JobEvent), [event_values(job_id, note, now=now, level="WARNING", source="sweeper")]
                    )
            if self._enqueue(job_id, priority):
                count += 1
        return count

    def _enqueue(self, job_id: str, priority: int) -> bool:
        try:
            self._queue.enqueue(job_id, priority)
            return True
        except QueueUnavailable as exc:
            # queued_at stays set: once the queue is back (and empty) the stale sweep retries it.
            log.warning("sweeper could not enqueue job %s: %s", job_id, exc)
            return False
