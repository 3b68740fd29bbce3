"""The firing step: due schedules become jobs, queued runs are released, delayed jobs are enqueued.

``tick(now)`` runs in every process that runs the sweeper (``worker/pool.py``), several times a
second, from the database: no queue-side ETA, no single "beat" process that must not run twice
(Celery beat fires twice when it does; huey allows one periodic enqueuer). Several processes may
tick at once and none fires twice:

* each schedule is advanced with a compare-and-set on ``next_fire_at``: of two processes that saw
  the same due time, one updates the row and fires, the other finds it changed and does nothing
  (on PostgreSQL it waits on the row lock, then re-reads; SQLite takes writers one at a time);
* the job rows carry (schedule_id, fire_time), unique together, inserted with ON CONFLICT DO
  NOTHING on both databases: whatever else races (``run_now``, an old process), a fire time makes
  one job.

Catch-up: a fire time later than ``now - catchup_seconds`` runs, once per missed fire time (five
missed minutes of an every-minute schedule run five jobs); older ones are counted on the schedule
(``missed_count``, ``last_missed_at``) and not run. A fire that is only a few seconds late
(``GRACE_SECONDS``) is never "missed", whatever the window.

Overlap, when an earlier run of the schedule is still PENDING or RUNNING: ``allow`` fires anyway;
``skip`` fires no job and counts the fire (``skipped_count``, ``last_skipped_at``); ``queue``
records the job PENDING but held (``scheduled_at = HELD``, off the queue, refused by the claim)
until the earlier runs are final, then this step releases the oldest held one.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Insert, Table, and_, bindparam, exists, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from helixnet.core.crontime import FireTimes
from helixnet.core.db import Database
from helixnet.core.delayed import enqueue_due
from helixnet.core.events import event_values
from helixnet.core.models import OFF_QUEUE, Job, JobEvent, JobStatus, Schedule, new_id
from helixnet.errors import Conflict, QueueUnavailable
from helixnet.queue import Queue

log = logging.getLogger(__name__)

#: ``scheduled_at`` of a run held by overlap "queue": later than any real time, so nothing claims it.
HELD = datetime(9999, 1, 1, tzinfo=UTC)
#: A fire this late is late, not missed: the loop looks twice a second, a busy database may lag.
GRACE_SECONDS = 5.0
#: Fire times one schedule fires in one tick (a long catch-up continues at the next tick).
FIRE_CAP = 100
#: Old fire times counted as missed in one go (beyond this the count is a lower bound).
MISSED_CAP = 10_000
#: Due schedules taken per tick.
DUE_BATCH = 500
#: Schedules locked, fired and moved on in one transaction (a burst of simple fires).
BATCH = 200
_ACTIVE = (JobStatus.PENDING.value, JobStatus.RUNNING.value)
_jobs = cast(Table, Job.__table__)
_schedules = cast(Table, Schedule.__table__)
#: A schedule moved past the fire it just fired (executemany: one statement for the batch).
_ADVANCE = (
    update(_schedules)
    .where(_schedules.c.id == bindparam("p_id"))
    .values(next_fire_at=bindparam("p_next"), last_fire_at=bindparam("p_fire"), last_job_id=bindparam("p_job"))
)


class ScheduleRow(Protocol):
    """What firing reads of a schedule: a ``Schedule`` row, or a plain row of ``_DUE``'s columns."""

    id: str
    owner_id: str
    plugin: str
    params: dict[str, Any]
    inputs: dict[str, str]
    cron: str | None
    interval_seconds: int | None
    timezone: str
    overlap: str
    catchup_seconds: int
    next_fire_at: datetime | None
    last_job_id: str | None


_DUE = select(
    Schedule.id, Schedule.owner_id, Schedule.plugin, Schedule.params, Schedule.inputs, Schedule.cron,
    Schedule.interval_seconds, Schedule.timezone, Schedule.overlap, Schedule.catchup_seconds, Schedule.next_fire_at,
    Schedule.last_job_id,
)  # fmt: skip


@dataclass
class FireReport:
    fired: int = 0
    held: int = 0
    skipped: int = 0
    missed: int = 0
    released: int = 0
    delayed: int = 0
    next_due: datetime | None = None
    more: bool = False  # more schedules were due than one pass takes: look again at once
    job_ids: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.fired + self.held + self.skipped + self.missed + self.released + self.delayed


def fire_times(row: ScheduleRow) -> FireTimes:
    return FireTimes(cron=row.cron, interval_seconds=row.interval_seconds, timezone=row.timezone)


class ScheduleFirer:
    """Turns due fire times into jobs; safe to run in any number of processes at once."""

    def __init__(self, db: Database, queue: Queue, *, default_max_retries: int = 0,
                 default_timeout: float | None = None, on_submitted: Callable[[str, int], None] | None = None,
                 on_change: Callable[[str, str | None], None] | None = None) -> None:  # fmt: skip
        self._db = db
        self._queue = queue
        self._max_retries = default_max_retries
        self._timeout = default_timeout
        self._changed = on_change or (lambda job_id, owner_id: None)
        self._submitted = on_submitted or (lambda plugin, count: None)  # Prometheus' submitted counter
        dialect = sqlite if db.is_sqlite else postgresql
        self._insert_many: Insert = dialect.insert(_jobs).on_conflict_do_nothing(
            index_elements=["schedule_id", "fire_time"]
        )
        self._insert: Insert = self._insert_many.returning(_jobs.c.id)

    def tick(self, now: datetime) -> FireReport:
        """One pass at ``now``: fire what is due, release queued runs, enqueue due delayed jobs.

        An idle pass is one query (``_probe``): every sweeping process runs this twice a second.
        """
        report = FireReport()
        schedule_due, delayed_due, held = self._probe()
        if schedule_due is not None and schedule_due <= now:
            self._fire_schedules(now, report)
        if held:
            self._release_queued(now, report)
        if delayed_due is not None and delayed_due <= now:
            report.delayed = enqueue_due(self._db, self._queue, now)
        if report.total:
            schedule_due, delayed_due, _ = self._probe()
        report.next_due = min((due for due in (schedule_due, delayed_due) if due is not None), default=None)
        return report

    def _probe(self) -> tuple[datetime | None, datetime | None, bool]:
        """The next schedule fire, the next delayed job, and whether any run is held: each the first
        entry of an index (``ix_schedules_next_fire``, ``ix_jobs_off_queue``), in one round trip."""
        with self._db.read() as session:
            row = session.execute(select(
                select(func.min(Schedule.next_fire_at)).scalar_subquery(),
                select(func.min(Job.scheduled_at)).where(text(OFF_QUEUE), Job.scheduled_at < HELD).scalar_subquery(),
                exists().where(text(OFF_QUEUE), Job.scheduled_at == HELD),
            )).one()  # fmt: skip
        return row[0], row[1], bool(row[2])

    def _fire_schedules(self, now: datetime, report: FireReport) -> None:
        with self._db.read() as session:
            # Plain rows, not ORM objects: building a thousand instances was a quarter of a burst's time.
            due = cast(list[ScheduleRow], session.execute(
                _DUE.where(Schedule.next_fire_at <= now).order_by(Schedule.next_fire_at).limit(DUE_BATCH)).all())  # fmt: skip
        report.more = len(due) == DUE_BATCH
        simple: list[tuple[ScheduleRow, datetime | None]] = []
        for row in due:
            try:
                is_simple, following = self._simple_fire(row, now)
                if is_simple:
                    simple.append((row, following))
                else:
                    self._fire_due(row, now, report)
            except Exception:  # one bad schedule must not stop the others
                log.exception("schedule %s could not fire", row.id)
        for start in range(0, len(simple), BATCH):
            try:
                self._fire_batch(simple[start : start + BATCH], now, report)
            except Exception:
                log.exception("a batch of %d schedules could not fire; each is tried again next tick", len(simple))

    # -- firing ---------------------------------------------------------------------------------------

    def _fire_due(self, row: ScheduleRow, now: datetime, report: FireReport) -> None:
        times = fire_times(row)
        old_next = row.next_fire_at
        assert old_next is not None
        window_start = now - timedelta(seconds=max(row.catchup_seconds, GRACE_SECONDS))
        missed, last_missed = 0, None
        due: datetime | None = old_next
        if old_next < window_start:
            tiny = timedelta(microseconds=1)
            for when in [old_next, *times.between(old_next, window_start - tiny, limit=MISSED_CAP)]:
                missed, last_missed = missed + 1, when
            due = times.next_after(window_start - tiny)
        to_fire: list[datetime] = []
        while due is not None and due <= now and len(to_fire) < FIRE_CAP:
            to_fire.append(due)
            due = times.next_after(due)
        values: dict[str, Any] = {"next_fire_at": due}
        if missed:
            values.update(missed_count=Schedule.missed_count + missed, last_missed_at=last_missed)
        enqueue: list[tuple[str, int]] = []
        changed: list[str] = []
        with self._db.connect() as conn:
            # Compare-and-set: only the process that moves next_fire_at on fires these times.
            cas = update(Schedule).where(Schedule.id == row.id, Schedule.next_fire_at == old_next)
            if not conn.execute(cas.values(**values)).rowcount:
                return
            skipped, last_skipped, last_fire, last_job = 0, None, None, None
            for fire_time in to_fire:
                active = row.overlap != "allow" and _has_active_run(conn, row.id)
                if active and row.overlap == "skip":
                    skipped, last_skipped = skipped + 1, fire_time
                    continue
                held = active and row.overlap == "queue"
                job_id = self._insert_run(conn, row, fire_time, now, held=held)
                if job_id is None:
                    continue  # another process recorded this fire time already
                last_fire, last_job = fire_time, job_id
                changed.append(job_id)
                if held:
                    report.held += 1
                else:
                    report.fired += 1
                    enqueue.append((job_id, 0))
            after: dict[str, Any] = {}
            if skipped:
                after.update(skipped_count=Schedule.skipped_count + skipped, last_skipped_at=last_skipped)
            if last_job is not None:
                after.update(last_fire_at=last_fire, last_job_id=last_job)
            if after:
                conn.execute(update(Schedule).where(Schedule.id == row.id).values(**after))
            enqueued = bool(enqueue) and self._queue.enqueue_in(conn, enqueue)
        report.skipped += skipped
        report.missed += missed
        report.job_ids += changed
        if changed:
            self._submitted(row.plugin, len(changed))
        if missed:
            log.warning("schedule %s: %d fire time(s) older than its catch-up window were not run (last %s)",
                        row.id, missed, last_missed)  # fmt: skip
        if not enqueued:
            self._enqueue(enqueue)
        for job_id in changed:
            self._changed(job_id, row.owner_id)

    @staticmethod
    def _simple_fire(row: ScheduleRow, now: datetime) -> tuple[bool, datetime | None]:
        """Whether this is the common case, fired in batches: overlap "allow", one fire time due, on
        time; and the fire time after it (None: there is none)."""
        assert row.next_fire_at is not None
        if row.overlap != "allow" or row.next_fire_at < now - timedelta(seconds=GRACE_SECONDS):
            return False, None
        following = fire_times(row).next_after(row.next_fire_at)
        return following is None or following > now, following

    def _fire_batch(self, batch: list[tuple[ScheduleRow, datetime | None]], now: datetime, report: FireReport) -> None:
        """Many schedules' single due fire in one transaction: lock, insert the jobs, move them on.

        A burst (a thousand "every minute" schedules due at :00) costs a few statements per batch,
        not a commit per schedule. The rows are locked (FOR UPDATE; SQLite's writer lock) and
        re-read, so a schedule another process moved on meanwhile is left alone.
        """
        seen = {row.id: row.next_fire_at for row, _ in batch}
        enqueue: list[tuple[str, int]] = []
        owners: dict[str, str] = {}
        with self._db.connect() as conn:
            locked = conn.execute(
                select(Schedule.id, Schedule.next_fire_at).where(Schedule.id.in_(list(seen))).with_for_update()
            ).all()
            ours = {
                schedule_id for schedule_id, current in locked if current is not None and current == seen[schedule_id]
            }
            if not ours:
                return
            runs = [(row, following, new_id()) for row, following in batch if row.id in ours]
            values = [
                self._run_values(row, row.next_fire_at, now, job_id=job_id, held=False) for row, _, job_id in runs
            ]
            # executemany without RETURNING: psycopg pipelines one prepared statement, where a 200-row
            # INSERT ... RETURNING cost 70 ms to build (measured); under the lock a conflict is all but
            # impossible, and the few ids are read back to be sure which rows are ours.
            conn.execute(self._insert_many, values)
            ids = [job_id for _, _, job_id in runs]
            inserted = set(conn.execute(select(Job.id).where(Job.id.in_(ids))).scalars())
            conn.execute(_ADVANCE, [
                {"p_id": row.id, "p_next": following, "p_fire": row.next_fire_at,
                 "p_job": job_id if job_id in inserted else row.last_job_id} for row, following, job_id in runs])  # fmt: skip
            for row, _, job_id in runs:
                if job_id in inserted:
                    enqueue.append((job_id, 0))
                    owners[job_id] = row.owner_id
            enqueued = bool(enqueue) and self._queue.enqueue_in(conn, enqueue)
        report.fired += len(enqueue)
        report.job_ids += list(owners)
        for plugin, count in Counter(row.plugin for row, _, job_id in runs if job_id in owners).items():
            self._submitted(plugin, count)
        if not enqueued:
            self._enqueue(enqueue)
        for job_id, owner_id in owners.items():
            self._changed(job_id, owner_id)

    def fire_now(self, row: ScheduleRow, now: datetime) -> str:
        """``run_now``: one extra run at ``now``, whatever the overlap policy (it was asked for)."""
        with self._db.connect() as conn:
            job_id = self._insert_run(conn, row, now, now, held=False)
            if job_id is None:
                raise Conflict(f"schedule {row.id} already fired at {now.isoformat()}")
            conn.execute(update(Schedule).where(Schedule.id == row.id).values(last_fire_at=now, last_job_id=job_id))
            conn.execute(insert(JobEvent), [event_values(job_id, "run now: an extra run of its schedule", now=now,
                                                         source="api")])  # fmt: skip
            enqueued = self._queue.enqueue_in(conn, [(job_id, 0)])
        if not enqueued:
            self._enqueue([(job_id, 0)])
        self._submitted(row.plugin, 1)
        self._changed(job_id, row.owner_id)
        return job_id

    def _insert_run(self, conn: Connection, row: ScheduleRow, fire_time: datetime, now: datetime, *,
                    held: bool) -> str | None:  # fmt: skip
        values = self._run_values(row, fire_time, now, job_id=new_id(), held=held)
        try:
            job_id = conn.execute(self._insert, values).scalar()
        except IntegrityError:  # a driver that reports the conflict anyway: the same "lost the race"
            return None
        if job_id is not None and held:
            message = f"fire of {fire_time.isoformat()} queued: an earlier run of schedule {row.id} is still active"
            conn.execute(insert(JobEvent), [event_values(job_id, message, now=now, source="scheduler")])
        return cast(str | None, job_id)

    def _run_values(
        self, row: ScheduleRow, fire_time: Any, now: datetime, *, job_id: str, held: bool
    ) -> dict[str, Any]:
        return {
            "id": job_id, "owner_id": row.owner_id, "plugin": row.plugin, "params": row.params,
            "inputs": row.inputs, "status": JobStatus.PENDING.value, "progress": 0.0, "attempts": 0,
            "max_retries": self._max_retries, "priority": 0, "timeout": self._timeout, "cancel_requested": False,
            "created_at": now, "queued_at": None if held else now, "scheduled_at": HELD if held else None,
            "schedule_id": row.id, "fire_time": fire_time,
        }  # fmt: skip

    # -- overlap "queue": release the next held run once the earlier ones are final -------------------

    def _release_queued(self, now: datetime, report: FireReport) -> None:
        with self._db.read() as session:
            held = session.execute(
                select(Job.schedule_id, func.min(Job.fire_time))
                .where(text(OFF_QUEUE), Job.scheduled_at == HELD)
                .group_by(Job.schedule_id)
                .limit(DUE_BATCH)
            ).all()
        for schedule_id, fire_time in held:
            with self._db.connect() as conn:
                running = conn.execute(select(exists().where(
                    Job.schedule_id == schedule_id, Job.status.in_(_ACTIVE),
                    or_(Job.scheduled_at.is_(None), Job.scheduled_at != HELD)))).scalar()  # fmt: skip
                if running:
                    continue
                job = conn.execute(select(Job.id, Job.owner_id).where(
                    Job.schedule_id == schedule_id, Job.fire_time == fire_time)).first()  # fmt: skip
                if job is None:
                    continue
                fence = and_(Job.id == job.id, Job.status == JobStatus.PENDING.value, Job.scheduled_at == HELD)
                if not conn.execute(update(Job).where(fence).values(scheduled_at=None, queued_at=now)).rowcount:
                    continue
                conn.execute(insert(JobEvent), [event_values(
                    job.id, "released: the earlier runs of its schedule have ended", now=now, source="scheduler")])  # fmt: skip
                enqueued = self._queue.enqueue_in(conn, [(job.id, 0)])
            if not enqueued:
                self._enqueue([(job.id, 0)])
            report.released += 1
            self._changed(job.id, job.owner_id)

    def _enqueue(self, items: list[tuple[str, int]]) -> None:
        """One round trip for the lot (the SQLite queue: one commit, not one per job)."""
        if not items:
            return
        try:
            self._queue.enqueue_many(items)
        except QueueUnavailable as exc:  # queued_at is set: the stale-PENDING sweep enqueues them again
            log.warning("could not enqueue %d scheduled job(s): %s", len(items), exc)


def _has_active_run(conn: Connection, schedule_id: str) -> bool:
    query = select(exists().where(Job.schedule_id == schedule_id, Job.status.in_(_ACTIVE)))
    return bool(conn.execute(query).scalar())


__all__ = ["GRACE_SECONDS", "HELD", "FireReport", "ScheduleFirer", "fire_times"]
