"""Statements of the job hot path, built once.

Building an ORM ``update(Job).values(...)`` per job cost more than running it (about 300 µs each in
SQLAlchemy's coercion and cache-key code); prebuilt Core statements with bind parameters are
memoised by SQLAlchemy and cost a fraction of that. Used by the submit path and the worker.
"""

from __future__ import annotations

from functools import cache
from typing import Any, cast

from sqlalchemy import ColumnElement, Insert, Table, Update, and_, bindparam, exists, insert, or_, update

from helixnet.core.models import Artifact, Job, JobEvent, JobStatus, PausedPlugin

jobs: Table = cast(Table, Job.__table__)
events: Table = cast(Table, JobEvent.__table__)
artifacts: Table = cast(Table, Artifact.__table__)
paused: Table = cast(Table, PausedPlugin.__table__)

INSERT_JOB: Insert = insert(jobs)
# RETURNING makes SQLAlchemy send a list of rows as multi-row INSERT ... VALUES statements
# ("insertmanyvalues", up to 1000 rows each) on PostgreSQL and SQLite alike: submit_many's one INSERT.
INSERT_JOBS: Insert = insert(jobs).returning(jobs.c.id)
INSERT_EVENTS: Insert = insert(events)
INSERT_ARTIFACTS: Insert = insert(artifacts)


def _claim(which: ColumnElement[bool], *returning: Any) -> Update:
    return (
        update(jobs)
        .where(
            which,
            jobs.c.status == JobStatus.PENDING.value,
            or_(jobs.c.scheduled_at.is_(None), jobs.c.scheduled_at <= bindparam("p_now")),
            # A paused plugin's jobs stay PENDING: one primary-key probe of a tiny table.
            ~exists().where(paused.c.plugin == jobs.c.plugin),
        )
        .values(
            status=JobStatus.RUNNING.value,
            started_at=bindparam("p_now"),
            heartbeat_at=bindparam("p_now"),
            worker_id=bindparam("p_worker"),
            attempts=jobs.c.attempts + 1,
            progress=0.0,
            message=None,
        )
        .returning(
            *returning, jobs.c.owner_id, jobs.c.plugin, jobs.c.params, jobs.c.inputs, jobs.c.attempts,
            jobs.c.max_retries, jobs.c.timeout, jobs.c.priority,
        )
    )  # fmt: skip


CLAIM: Update = _claim(jobs.c.id == bindparam("p_id"))
#: The same claim for several ids in one statement (a worker taking a few ready jobs off a deep queue).
CLAIM_MANY: Update = _claim(jobs.c.id.in_(bindparam("p_ids", expanding=True)), jobs.c.id)


@cache
def finish(columns: frozenset[str]) -> Update:
    """The fenced outcome UPDATE setting ``columns`` (bind names ``v_<column>``); one per shape."""
    values: dict[str, ColumnElement[Any]] = {name: bindparam(f"v_{name}") for name in sorted(columns)}
    if "attempts" in values:  # an interrupted attempt is given back
        values["attempts"] = jobs.c.attempts - 1
    return (
        update(jobs)
        .where(
            and_(
                jobs.c.id == bindparam("p_id"),
                jobs.c.status == JobStatus.RUNNING.value,
                jobs.c.worker_id == bindparam("p_worker"),
                jobs.c.attempts == bindparam("p_attempts"),
                # The claim's own time: a hand-back gives the attempt back, so a later claim by the
                # same worker id has the same attempts number; only started_at tells them apart.
                jobs.c.started_at == bindparam("p_started"),
            )
        )
        .values(**values)
    )


def finish_params(
    job_id: str, worker_id: str, attempts: int, values: dict[str, object], started_at: object
) -> dict[str, object]:
    """Bind values for ``finish``: the fence is (id, RUNNING, worker, attempts, started_at) of one claim."""
    params: dict[str, object] = {"p_id": job_id, "p_worker": worker_id, "p_attempts": attempts, "p_started": started_at}
    params.update({f"v_{name}": value for name, value in values.items() if name != "attempts"})
    return params
