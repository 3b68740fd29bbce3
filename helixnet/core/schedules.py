"""Schedules: create, list, read, change, pause, delete, run now, and their runs (issue 13).

A schedule's params and inputs are checked as a job submit checks them (the plugin's Params model,
the caller's own artifacts), once when it is created or changed, so each fire is a plain insert.
Ownership is exactly that of jobs: the owner or an admin; anyone else gets NotFound.
Firing lives in ``core/firing.py``; the cron and DST rules in ``core/crontime.py``.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from helixnet.core.artifacts import can_see
from helixnet.core.db import Database
from helixnet.core.events import record_event
from helixnet.core.firing import HELD, ScheduleFirer, fire_times
from helixnet.core.job_checks import check_range
from helixnet.core.jobs import JobService
from helixnet.core.models import Job, JobStatus, Schedule, new_id
from helixnet.core.pagination import decode_cursor, encode_cursor
from helixnet.core.schedule_schemas import ScheduleCreate, SchedulePage, ScheduleRead, ScheduleUpdate
from helixnet.core.schemas import JobPage, JobRead
from helixnet.core.users import UserRef, user_id_of
from helixnet.core.validation import from_pydantic
from helixnet.errors import NotFound, ValidationFailed

Clock = Callable[[], datetime]
#: Changing any of these moves next_fire_at on (from now: a changed schedule does not catch up).
_TIMING = frozenset({"cron", "interval_seconds", "timezone", "enabled"})


class ScheduleService:
    def __init__(self, db: Database, jobs: JobService, firer: ScheduleFirer, *, clock: Clock) -> None:
        self._db = db
        self._jobs = jobs
        self._firer = firer
        self._clock = clock

    # -- create and change --------------------------------------------------------------------------

    def create(
        self,
        user: UserRef,
        plugin: str,
        params: Mapping[str, Any] | None = None,
        inputs: Mapping[str, str] | None = None,
        *,
        cron: str | None = None,
        interval_seconds: int | None = None,
        timezone: str = "UTC",
        enabled: bool = True,
        catchup_seconds: int = 600,
        overlap: str = "allow",
    ) -> ScheduleRead:
        """A new schedule; its first fire is the first fire time after now (``next_fire_at``)."""
        owner_id = user_id_of(user)
        fields = {"plugin": plugin, "params": dict(params or {}), "inputs": dict(inputs or {}), "cron": cron,
                  "interval_seconds": interval_seconds, "timezone": timezone, "enabled": enabled,
                  "catchup_seconds": catchup_seconds, "overlap": overlap}  # fmt: skip
        body = _validated(ScheduleCreate, fields)
        _one_timing(body.cron, body.interval_seconds)
        checked = self._jobs.checked_request(owner_id, body.plugin, body.params, body.inputs, 0, None, None)
        now = self._clock()
        row = Schedule(id=new_id(), owner_id=owner_id, **{**body.model_dump(), "params": checked["params"],
                       "inputs": checked["inputs"]}, created_at=now, updated_at=now)  # fmt: skip
        row.next_fire_at = _next(row, now)
        with self._db.write() as session:
            session.add(row)
        return ScheduleRead.model_validate(row)

    def update(self, schedule_id: str, user: UserRef | None = None, **changes: Any) -> ScheduleRead:
        """Change any create field; the others keep their value. ``enabled=False`` pauses it.

        Setting ``cron`` clears ``interval_seconds`` and the other way round. When the timing or
        ``enabled`` changes, ``next_fire_at`` is computed again from now.
        """
        body = _validated(ScheduleUpdate, changes)
        given = {name: getattr(body, name) for name in body.model_fields_set}
        for name in ("plugin", "params", "inputs", "timezone", "enabled", "catchup_seconds", "overlap"):
            if name in given and given[name] is None:
                raise ValidationFailed.field([name], "must not be null")
        now = self._clock()
        with self._db.write() as session:
            row = self._visible(session, schedule_id, user)
            if given.get("cron") is not None:
                given["interval_seconds"] = None
            elif given.get("interval_seconds") is not None:
                given["cron"] = None
            cron = given.get("cron", row.cron)
            interval = given.get("interval_seconds", row.interval_seconds)
            _one_timing(cron, interval)
            if {"plugin", "params", "inputs"} & given.keys():
                plugin = given.get("plugin", row.plugin)
                params = given.get("params", row.params if plugin == row.plugin else {})
                inputs = given.get("inputs", row.inputs if plugin == row.plugin else {})
                checked = self._jobs.checked_request(row.owner_id, plugin, params, inputs, 0, None, None)
                given.update(plugin=plugin, params=checked["params"], inputs=checked["inputs"])
            retimed = any(given[name] != getattr(row, name) for name in _TIMING & given.keys())
            for name, value in given.items():
                setattr(row, name, value)
            if retimed:  # an unchanged value (enabled=true on an enabled one) keeps a due fire due
                row.next_fire_at = _next(row, now)
            row.updated_at = now
            session.flush()
            return ScheduleRead.model_validate(row)

    def enable(self, schedule_id: str, user: UserRef | None = None) -> ScheduleRead:
        return self.update(schedule_id, user, enabled=True)

    def disable(self, schedule_id: str, user: UserRef | None = None) -> ScheduleRead:
        """Pause: no fire until enabled again (then from the next fire time; nothing is caught up)."""
        return self.update(schedule_id, user, enabled=False)

    def delete(self, schedule_id: str, user: UserRef | None = None) -> None:
        """Remove the schedule; its past runs stay (with no schedule), runs held by "queue" are cancelled."""
        now = self._clock()
        with self._db.write() as session:
            row = self._visible(session, schedule_id, user)
            held = list(session.scalars(select(Job.id).where(
                Job.schedule_id == row.id, Job.status == JobStatus.PENDING.value, Job.scheduled_at == HELD)))  # fmt: skip
            if held:
                session.execute(update(Job).where(Job.id.in_(held), Job.status == JobStatus.PENDING.value).values(
                    status=JobStatus.CANCELLED.value, finished_at=now, cancel_requested=True))  # fmt: skip
                for job_id in held:
                    record_event(session, job_id, "cancelled: its schedule was deleted", now=now, source="api")
            session.execute(update(Job).where(Job.schedule_id == row.id).values(schedule_id=None))
            session.delete(row)
        for job_id in held:
            self._jobs.changed(job_id)

    def run_now(self, schedule_id: str, user: UserRef | None = None) -> JobRead:
        """Fire it now, as an extra run (its next fire time stays); returns the job."""
        with self._db.read() as session:
            row = self._visible(session, schedule_id, user)
        job_id = self._firer.fire_now(row, self._clock())
        return self._jobs.get(job_id)

    # -- read ---------------------------------------------------------------------------------------

    def get(self, schedule_id: str, user: UserRef | None = None) -> ScheduleRead:
        with self._db.read() as session:
            return ScheduleRead.model_validate(self._visible(session, schedule_id, user))

    def list(self, user: UserRef | None, *, limit: int = 50, cursor: str | None = None,
             all_users: bool = False) -> SchedulePage:  # fmt: skip
        """The caller's schedules, newest first (``all_users``: everyone's, for admins), keyset-paginated."""
        check_range("limit", limit, 1, 500)
        query = select(Schedule).order_by(Schedule.created_at.desc(), Schedule.id.desc()).limit(limit + 1)
        if not (all_users and (user is None or getattr(user, "is_admin", False))):
            if user is None:
                raise ValidationFailed.field(["user"], "needed unless all_users is set")
            query = query.where(Schedule.owner_id == user_id_of(user))
        if cursor:
            created_at, last_id = decode_cursor(cursor)
            query = query.where(tuple_(Schedule.created_at, Schedule.id) < tuple_(created_at, last_id))
        with self._db.read() as session:
            rows = list(session.scalars(query))
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
        return SchedulePage(items=[ScheduleRead.model_validate(r) for r in rows], next_cursor=next_cursor)

    def runs(self, schedule_id: str, user: UserRef | None = None, *, limit: int = 50,
             cursor: str | None = None) -> JobPage:  # fmt: skip
        """Its jobs, newest fire time first, keyset-paginated through the (schedule_id, fire_time) index."""
        check_range("limit", limit, 1, 500)
        with self._db.read() as session:
            self._visible(session, schedule_id, user)
        query = (select(Job.id, Job.fire_time).where(Job.schedule_id == schedule_id)
                 .order_by(Job.fire_time.desc(), Job.id.desc()).limit(limit + 1))  # fmt: skip
        if cursor:
            fire_time, last_id = decode_cursor(cursor)
            query = query.where(tuple_(Job.fire_time, Job.id) < tuple_(fire_time, last_id))
        with self._db.read() as session:
            found = session.execute(query).all()
        more = len(found) > limit
        found = found[:limit]
        items = [self._jobs.get(job_id) for job_id, _ in found]
        next_cursor = encode_cursor(found[-1][1], found[-1][0]) if more and found and found[-1][1] else None
        return JobPage(items=items, next_cursor=next_cursor)

    def last_statuses(self, schedules: builtins.list[ScheduleRead]) -> dict[str, JobStatus]:
        """Status of each schedule's last run (for the page's list), in one query."""
        ids = [s.last_job_id for s in schedules if s.last_job_id]
        if not ids:
            return {}
        with self._db.read() as session:
            return {job_id: JobStatus(status) for job_id, status in session.execute(
                select(Job.id, Job.status).where(Job.id.in_(ids)))}  # fmt: skip

    def _visible(self, session: Session, schedule_id: str, user: UserRef | None) -> Schedule:
        row = session.get(Schedule, schedule_id) if isinstance(schedule_id, str) else None
        if row is None or not can_see(user, row.owner_id):
            raise NotFound(f"schedule {schedule_id} not found")
        return row


def _validated(model: type[Any], fields: Mapping[str, Any]) -> Any:
    try:
        return model.model_validate(dict(fields))
    except ValidationError as exc:
        raise from_pydantic(exc, "invalid schedule") from exc


def _one_timing(cron: str | None, interval_seconds: int | None) -> None:
    if (cron is None) == (interval_seconds is None):
        raise ValidationFailed.field(["cron"], "give exactly one of cron or interval_seconds")


def _next(row: Schedule, now: datetime) -> datetime | None:
    return fire_times(row).next_after(now) if row.enabled else None


__all__ = ["ScheduleService"]
