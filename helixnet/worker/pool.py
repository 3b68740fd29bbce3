"""Worker threads, the monitor that heart-beats their jobs, and the sweeper loop.

huey's ``Consumer.start()`` installs signal handlers, so it only runs on a main thread; we run our
own loop over the queue adapter instead, the same in ``hx.start()`` and in ``helixnet worker``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update

from helixnet.core.db import Database
from helixnet.core.firing import ScheduleFirer
from helixnet.core.metrics import FLUSH_SECONDS, Metrics
from helixnet.core.models import Job, JobStatus
from helixnet.errors import QueueUnavailable
from helixnet.queue import Queue
from helixnet.worker.claims import FAST_JOB_SECONDS, ClaimBatcher
from helixnet.worker.registry import WorkerRegistry
from helixnet.worker.runner import JobRunner
from helixnet.worker.sweeper import Sweeper

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]

#: The firing loop looks at least this often; sooner when a schedule is due sooner (issue 13).
FIRE_TICK_SECONDS = 0.5

#: A job running longer than this gets its "started" event written without waiting for its outcome.
EVENT_FLUSH_SECONDS = 0.5


def process_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class WorkerPool:
    """N threads that take job ids off the queue and run them, plus a monitor and a sweeper."""

    def __init__(
        self,
        db: Database,
        queue: Queue,
        runner: JobRunner,
        *,
        threads: int,
        clock: Clock,
        heartbeat_seconds: float,
        sweep_interval_seconds: float,
        sweeper: Sweeper | None,
        firer: ScheduleFirer | None = None,
        name: str | None = None,
        registry: WorkerRegistry | None = None,
        metrics: Metrics | None = None,
        claim_batch: int = 1,
        claim_batch_below_seconds: float = FAST_JOB_SECONDS,
    ) -> None:
        self._db = db
        self._claim_batch = claim_batch  # ids one thread may claim at once (HELIXNET_WORKER_CLAIM_BATCH)
        self._claim_batch_below = claim_batch_below_seconds
        self._queue = queue
        self._runner = runner
        self._threads_wanted = threads
        self._clock = clock
        self._heartbeat_seconds = heartbeat_seconds
        self._sweep_interval = sweep_interval_seconds
        self._sweeper = sweeper
        self._firer = firer
        self.name = name or process_worker_name()
        self._stop = threading.Event()
        self._monitor_stop = threading.Event()  # set after the hand-back: running jobs beat until then
        self._hurry = threading.Event()
        self._threads: list[threading.Thread] = []
        self.executed = 0  # jobs this pool claimed and ran (a counter for tests and stats)
        self._count_lock = threading.Lock()
        self._registry = registry
        self._metrics = metrics
        self.registry_id: str | None = None

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stop.is_set()

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self._monitor_stop.clear()
        self._hurry.clear()
        for index in range(self._threads_wanted):
            self._spawn(self._work, f"helixnet-worker-{index + 1}", f"{self.name}/w{index + 1}")
        if self._threads_wanted:
            if self._registry is not None:
                try:
                    self.registry_id = self._registry.register(self.name, self._threads_wanted)
                except Exception:  # the monitor shows less; the jobs still run
                    log.warning("could not register worker %s", self.name, exc_info=True)
            self._spawn(self._monitor, "helixnet-monitor")
        if self._sweeper is not None:
            self._spawn(self._sweep_loop, "helixnet-sweeper")
        if self._firer is not None:
            self._spawn(self._fire_loop, "helixnet-firing")

    def stop(self, grace: float = 10.0) -> None:
        """Stop taking jobs; let running ones finish for up to ``grace`` seconds, then hand the rest back.

        Handed-back jobs are PENDING again with their attempt not counted, and on the queue at once
        (``JobRunner.hand_back``); their plugins are asked to cancel, and whatever they return later
        is fenced out. ``hurry()`` (a second signal) ends the wait early. The monitor keeps
        heart-beating the running jobs meanwhile, so no sweeper takes them while they finish.
        """
        self._stop.set()
        self._queue.wake_all()
        deadline = time.monotonic() + max(0.0, grace)
        workers = [t for t in self._threads if t.name.startswith("helixnet-worker-")]
        while any(t.is_alive() for t in workers) and not self._hurry.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._hurry.wait(min(0.1, left))
        handed = 0
        for running in list(self._runner.running.values()):
            try:
                handed += self._runner.hand_back(running, running.worker_id)
            except Exception:  # the heartbeat stops with us: the sweeper recovers it after lost_after
                log.warning("could not hand job %s back; the sweeper will recover it", running.job_id, exc_info=True)
                running.cancel_reason = "shutdown"
                running.ctx.request_cancel()
        if handed:
            log.warning("%s: handed %d running job(s) back to the queue on shutdown", self.name, handed)
        self._monitor_stop.set()
        # A plugin that ignores its cancel keeps its (daemon) thread; it can no longer write the row.
        joined = time.monotonic() + 2.0
        for thread in self._threads:
            thread.join(max(0.0, joined - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]
        self._flush_metrics()
        if self._registry is not None and self.registry_id is not None:
            try:
                self._registry.stopped(self.registry_id)
            except Exception:  # its heartbeat simply stops
                log.debug("could not mark worker %s stopped", self.name, exc_info=True)
        if self._sweeper is not None:
            try:
                self._sweeper.release_lease()
            except Exception:  # best effort: the lease expires by itself
                log.debug("could not release the sweeper lease", exc_info=True)

    def hurry(self) -> None:
        """Cut a ``stop()`` grace period short (a second SIGTERM or SIGINT): hand running jobs back now."""
        self._hurry.set()

    def wait_stopped(self) -> None:
        while any(t.is_alive() for t in self._threads):
            time.sleep(0.2)

    @property
    def threads(self) -> int:
        """How many worker threads this pool runs (the health check reports it)."""
        return self._threads_wanted

    def cancel_local(self, job_id: str) -> None:
        """A cancel asked in this process reaches its plugin at once, without waiting for the monitor."""
        running = self._runner.running.get(job_id)
        if running is not None:
            running.cancel_reason = running.cancel_reason or "cancel"
            running.ctx.request_cancel()

    # -- loops ------------------------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], name: str, *args: str) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _work(self, worker_id: str) -> None:
        with self._db.pinned():
            self._work_loop(worker_id)

    def _work_loop(self, worker_id: str) -> None:
        backoff = 0.1
        batcher = ClaimBatcher(self._runner, self._claim_batch, self._claim_batch_below)
        while not self._stop.is_set():
            try:
                # More than one id only while the queue is deep and the jobs quick (core/claims.py).
                job_ids = self._queue.dequeue_many(batcher.want(), timeout=1.0)
                backoff = 0.1
            except QueueUnavailable as exc:
                log.warning("%s: queue unavailable (%s); retrying in %.1f s", worker_id, exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if not job_ids:
                continue
            if self._stop.is_set():
                # Taken off the queue but not claimed: the row is still PENDING, the sweeper re-enqueues it.
                break
            try:
                if ran := batcher.run(job_ids, worker_id, self._stop.is_set):
                    with self._count_lock:
                        self.executed += ran
            except Exception:
                # The DB or storage failed around the plugin; the row stays RUNNING and the sweeper recovers it.
                log.exception("%s: job(s) %s could not be run", worker_id, ", ".join(job_ids))
                self._stop.wait(0.5)

    def _monitor(self) -> None:
        """Heart-beat running jobs and pass on cancels asked from other processes."""
        tick = min(0.5, self._heartbeat_seconds / 2)
        last_beat = last_registered = last_flush = 0.0
        while not self._monitor_stop.wait(tick):
            running = dict(self._runner.running)
            if self._metrics is not None and time.monotonic() - last_flush >= FLUSH_SECONDS:
                last_flush = time.monotonic()
                self._flush_metrics()
            if self.registry_id is not None and time.monotonic() - last_registered >= self._heartbeat_seconds:
                last_registered = time.monotonic()
                try:
                    assert self._registry is not None
                    self._registry.beat(self.registry_id, jobs_done=self.executed, current_jobs=list(running))
                except Exception:
                    log.warning("worker registry heartbeat failed; trying again", exc_info=True)
            if not running:
                continue
            try:
                if time.monotonic() - last_beat >= self._heartbeat_seconds:
                    self.heartbeat(list(running), self._clock())
                    last_beat = time.monotonic()
                for job_id in self._cancel_requested(list(running)):
                    self.cancel_local(job_id)
                for job in running.values():
                    if job.pending_events and time.monotonic() - job.started_mono > EVENT_FLUSH_SECONDS:
                        self._runner.flush_pending(job)
            except Exception:
                log.exception("monitor pass failed; trying again")

    def _flush_metrics(self) -> None:
        if self._metrics is None:
            return
        try:
            self._metrics.flush()
        except Exception:  # kept in memory and written at the next flush
            log.warning("metrics flush failed; trying again", exc_info=True)

    def heartbeat(self, job_ids: list[str], now: datetime) -> int:
        """One beat for many rows, locked in id order first: outcome writes lock a group's rows in id order
        too, so the two never each hold a row the other waits for (PostgreSQL's deadlock detector
        would otherwise fail one of them)."""
        running = (Job.id.in_(job_ids), Job.status == JobStatus.RUNNING.value)
        with self._db.connect() as conn:
            conn.execute(select(Job.id).where(*running).order_by(Job.id).with_for_update())
            return conn.execute(update(Job).where(*running).values(heartbeat_at=now)).rowcount

    def _cancel_requested(self, job_ids: list[str]) -> list[str]:
        with self._db.read() as session:
            return list(session.scalars(select(Job.id).where(Job.id.in_(job_ids), Job.cancel_requested.is_(True))))

    def _sweep_loop(self) -> None:
        assert self._sweeper is not None
        while not self._stop.wait(self._sweep_interval):
            try:
                report = self._sweeper.sweep(self._clock())
                if report.total:
                    log.info("sweeper: %s", report)
            except Exception:
                log.exception("sweep failed; trying again next interval")

    def _fire_loop(self) -> None:
        """Schedules and delayed jobs, from the database: wakes at the next fire time, at least twice a second.

        Its own cadence, not the sweeper's interval, so a job is enqueued within a second of its
        fire time; no lease (``core/firing.py`` makes concurrent processes safe), so a dead process
        delays no fire.
        """
        assert self._firer is not None
        wait = 0.0
        while not self._stop.wait(wait):
            wait = FIRE_TICK_SECONDS
            try:
                report = self._firer.tick(self._clock())
                if report.total:
                    log.info("firing: %d fired, %d queued, %d skipped, %d missed, %d released, %d delayed",
                             report.fired, report.held, report.skipped, report.missed, report.released,
                             report.delayed)  # fmt: skip
                if report.more:
                    wait = 0.0
                elif report.next_due is not None:
                    until = (report.next_due - self._clock()).total_seconds()
                    # Past due after a pass means capped or failing: the next look comes at the usual pace.
                    wait = min(FIRE_TICK_SECONDS, until) if until > 0 else FIRE_TICK_SECONDS
            except Exception:
                log.exception("firing pass failed; trying again")
