"""Reading jobs: get, list (keyset pages), counts, queue depth, events and wait; ownership on every read."""

from __future__ import annotations

import builtins
import time
from collections.abc import Sequence

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from helixnet.core.artifacts import can_see
from helixnet.core.db import Database
from helixnet.core.filters import job_filters
from helixnet.core.job_checks import check_range as _check_range
from helixnet.core.models import FINAL_STATUSES, Artifact, ArtifactStatus, Job, JobEvent, JobStatus
from helixnet.core.pagination import decode_cursor, encode_cursor
from helixnet.core.schemas import ArtifactRead, JobEventRead, JobPage, JobRead
from helixnet.core.users import UserRef
from helixnet.core.workflows import links
from helixnet.errors import NotFound, WaitTimeout


class JobReads:
    """The read side of the jobs service: nothing here writes."""

    _db: Database

    def get(self, job_id: str, user: UserRef | None = None) -> JobRead:
        with self._db.read() as session:
            return self._read(session, self._visible(session, job_id, user))

    def get_many(self, job_ids: Sequence[str], user: UserRef | None = None) -> builtins.list[JobRead]:
        """The jobs of ``job_ids`` the caller may see, in the order given (a workflow's parents or children)."""
        ids = [job_id for job_id in dict.fromkeys(job_ids) if isinstance(job_id, str)][:1000]
        with self._db.read() as session:
            rows = {row.id: row for row in session.scalars(select(Job).where(Job.id.in_(ids)))
                    if can_see(user, row.owner_id)}  # fmt: skip
            outputs = self._outputs(session, builtins.list(rows))
            parents, children = links(session, builtins.list(rows))
            return [_job_read(rows[i], outputs.get(i, []), parents, children) for i in ids if i in rows]

    def list(
        self,
        user: UserRef | None,
        *,
        status: str | JobStatus | None = None,
        plugin: str | None = None,
        q: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        all_users: bool = False,
        oldest_first: bool = False,
        owner_id: str | None = None,
    ) -> JobPage:
        """Newest first (or oldest first), keyset-paginated: as fast on page 2,000 as on page 1."""
        _check_range("limit", limit, 1, 500)
        order = (Job.created_at, Job.id) if oldest_first else (Job.created_at.desc(), Job.id.desc())
        query = select(Job).order_by(*order).limit(limit + 1)
        query = query.where(
            *job_filters(user, status=status, plugin=plugin, q=q, owner_id=owner_id, all_users=all_users)
        )
        if cursor:
            created_at, last_id = decode_cursor(cursor)
            # A row value, not "a < x OR (a = x AND b < y)": SQLite and PostgreSQL both seek the
            # (owner_id, created_at, id) index with it; with the OR, SQLite scanned every newer row
            # (p50 15 ms half-way down 100,000 jobs, measured; 5 ms with this).
            seek = tuple_(Job.created_at, Job.id)
            query = query.where(
                seek > tuple_(created_at, last_id) if oldest_first else seek < tuple_(created_at, last_id)
            )
        with self._db.read() as session:
            rows = list(session.scalars(query))
            more = len(rows) > limit
            rows = rows[:limit]
            outputs = self._outputs(session, [row.id for row in rows])
            parents, children = links(session, [row.id for row in rows])
            items = [_job_read(row, outputs.get(row.id, []), parents, children) for row in rows]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
        return JobPage(items=items, next_cursor=next_cursor)

    def counts(
        self,
        user: UserRef | None,
        *,
        cap: int = 10_000,
        plugin: str | None = None,
        all_users: bool = False,
        owner_id: str | None = None,
    ) -> dict[JobStatus, int]:
        """Jobs per status, each counted up to ``cap + 1`` at most: cheap at millions of rows.

        A count of ``cap + 1`` means "more than cap" (the UI shows "10,000+"); an exact count of a
        huge table is what makes other dashboards slow.
        """
        _check_range("cap", cap, 1, 1_000_000)
        counts: dict[JobStatus, int] = {}
        with self._db.read() as session:
            for status in JobStatus:
                where = job_filters(user, status=status, plugin=plugin, owner_id=owner_id, all_users=all_users)
                inner = select(Job.id).where(*where).limit(cap + 1)
                counts[status] = int(session.scalar(select(func.count()).select_from(inner.subquery())) or 0)
        return counts

    def depth(self) -> dict[str, dict[JobStatus, int]]:
        """PENDING and RUNNING jobs per plugin: the queue depth, read through the active-jobs index."""
        found: dict[str, dict[JobStatus, int]] = {}
        # Not WAITING (issue 13): a job waiting for its parents is not on the queue yet.
        queued = (JobStatus.PENDING, JobStatus.RUNNING)
        query = (select(Job.plugin, Job.status, func.count()).where(Job.status.in_([s.value for s in queued]))
                 .group_by(Job.plugin, Job.status))  # fmt: skip
        with self._db.read() as session:
            for plugin, status, count in session.execute(query):
                found.setdefault(plugin, {s: 0 for s in queued})[JobStatus(status)] = int(count)
        return found

    def events(
        self, job_id: str, user: UserRef | None = None, *, after_id: int = 0, limit: int = 1000
    ) -> builtins.list[JobEventRead]:
        with self._db.read() as session:
            self._visible(session, job_id, user)
            rows = session.scalars(
                select(JobEvent)
                .where(JobEvent.job_id == job_id, JobEvent.id > after_id)
                .order_by(JobEvent.id)
                .limit(limit)
            )
            return [JobEventRead.model_validate(row) for row in rows]

    def wait(self, job_id: str, timeout: float | None = None, *, user: UserRef | None = None) -> JobRead:
        """Block until the job is final; WaitTimeout after ``timeout`` seconds (None: forever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while True:
            job = self.get(job_id, user)
            if job.status in FINAL_STATUSES:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"job {job_id} is still {job.status.value} after {timeout} s")
            pause = delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
            delay = min(delay * 1.5, 0.25)

    # -- helpers --------------------------------------------------------------------------------

    def _visible(self, session: Session, job_id: str, user: UserRef | None) -> Job:
        row = session.get(Job, job_id) if isinstance(job_id, str) else None
        if row is None or not can_see(user, row.owner_id):
            raise NotFound(f"job {job_id} not found")
        return row

    def _read(self, session: Session, row: Job) -> JobRead:
        parents, children = links(session, [row.id])
        return _job_read(row, self._outputs(session, [row.id]).get(row.id, []), parents, children)

    @staticmethod
    def _outputs(session: Session, job_ids: builtins.list[str]) -> dict[str, builtins.list[ArtifactRead]]:
        if not job_ids:
            return {}
        found: dict[str, list[ArtifactRead]] = {}
        query = (
            select(Artifact)
            .where(Artifact.job_id.in_(job_ids), Artifact.status != ArtifactStatus.DELETED)
            .order_by(Artifact.created_at, Artifact.id)
        )
        for artifact in session.scalars(query):
            found.setdefault(artifact.job_id or "", []).append(ArtifactRead.model_validate(artifact))
        return found


def _job_read(
    row: Job, artifacts: list[ArtifactRead], parents: dict[str, list[str]], children: dict[str, list[str]]
) -> JobRead:
    job = JobRead.model_validate(row)
    job.artifacts = artifacts
    job.parents, job.children = parents.get(row.id, []), children.get(row.id, [])
    return job


__all__ = ["JobReads"]
