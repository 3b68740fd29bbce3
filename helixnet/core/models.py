"""The database tables. The row is the truth; the queue only carries job ids.

Only the services in ``helixnet.core`` write these; api and ui call the services.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class JobStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCELLED = "CANCELLED"
    WAITING = "WAITING"  # submitted with ``after``: becomes PENDING once every parent is final


#: A job in one of these never changes status again (``retry`` makes a new job; a re-arm, see
#: ``helixnet.core.workflows``, is the one way back, for children cancelled by a failed parent).
FINAL_STATUSES = frozenset({JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.CANCELLED})
#: A job in one of these still has work ahead of it: every status that is not final.
ACTIVE_STATUSES = frozenset({JobStatus.PENDING, JobStatus.RUNNING, JobStatus.WAITING})


class ArtifactStatus(StrEnum):
    PENDING = "PENDING"  # upload announced, bytes not yet checked
    AVAILABLE = "AVAILABLE"
    DELETED = "DELETED"


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive UTC in the database (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; HelixNet stores aware UTC times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # Stored lower-cased: uniqueness is case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(100))
    fullname: Mapped[str | None] = mapped_column(String(200))
    phone_number: Mapped[str | None] = mapped_column(String(40))
    web_url: Mapped[str | None] = mapped_column(String(2000))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


OFF_QUEUE = "status = 'PENDING' AND queued_at IS NULL"
"""PENDING jobs not on the queue. Queries say it literally, as its partial index does (see UNDIGESTED)."""


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # The dashboard: my jobs, newest first, keyset-paginated.
        Index("ix_jobs_owner_created", "owner_id", "created_at", "id"),
        Index("ix_jobs_created", "created_at", "id"),
        # Status counts, capped: each one an index range of at most cap + 1 entries, per owner or
        # for everyone (measured at 100,000 jobs on SQLite: 55 ms for the five counts without it).
        Index("ix_jobs_status_owner", "status", "owner_id"),
        # The sweeper: lost RUNNING jobs, PENDING jobs to (re-)enqueue. Partial, so finished jobs
        # (nearly all rows) leave it, and one index, not two: each claim and finish rewrites fewer
        # pages (measured: worker time per no-op job down by a fifth on SQLite).
        Index(
            "ix_jobs_active",
            "status",
            "heartbeat_at",
            "queued_at",
            sqlite_where=text("status IN ('PENDING', 'RUNNING')"),
            postgresql_where=text("status IN ('PENDING', 'RUNNING')"),
        ),
        UniqueConstraint("owner_id", "idempotency_key"),
        # Delayed jobs, runs held by a schedule's overlap "queue", failed enqueues: the few PENDING rows
        # off the queue, which the firing loop reads several times a second (issue 13).
        Index("ix_jobs_off_queue", "scheduled_at", sqlite_where=text(OFF_QUEUE), postgresql_where=text(OFF_QUEUE)),
        # One job per (schedule, fire time): a double fire is impossible however many processes fire.
        UniqueConstraint("schedule_id", "fire_time"),
        # "Is a run of this schedule still active?" (overlap), read at every fire.
        Index("ix_jobs_schedule_status", "schedule_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    plugin: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    inputs: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.PENDING)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[Any | None] = mapped_column(JSONType)
    result_path: Mapped[str | None] = mapped_column(String(1024))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_retries: Mapped[int] = mapped_column(Integer, default=0)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    timeout: Mapped[float | None] = mapped_column(Float)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Not before this time (retry back-off); NULL means now.
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # A delayed job's requested start (kept; ``scheduled_at`` is what the sweeper and claim read).
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The schedule that fired this job, and the fire time it stands for (issue 13).
    schedule_id: Mapped[str | None] = mapped_column(ForeignKey("schedules.id", ondelete="SET NULL"))
    fire_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Workflows (issue 13): run even when a parent failed or was cancelled; inputs taken from
    # parents' outputs, ``name -> {"job": id, "output": filename}``, resolved into ``inputs`` on release.
    allow_failed_parents: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    input_refs: Mapped[dict[str, dict[str, str]] | None] = mapped_column(JSONType)

    def is_stuck(self, now: datetime, lost_after_seconds: float) -> bool:
        """RUNNING with a heartbeat older than the limit: its worker is gone."""
        if self.status != JobStatus.RUNNING:
            return False
        beat = self.heartbeat_at or self.started_at
        return beat is None or (now - beat).total_seconds() > lost_after_seconds


class JobDependency(Base):
    """An edge of a workflow: ``child_id`` waits for ``parent_id`` to be final (``submit(after=...)``)."""

    __tablename__ = "job_dependencies"
    __table_args__ = (Index("ix_job_dependencies_parent", "parent_id", "child_id"),)

    child_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    parent_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)


UNDIGESTED = "sha256 IS NULL AND status = 'AVAILABLE'"
"""Artifacts whose sha256 the digest step must compute. Queries say it literally, as the partial index
does: PostgreSQL uses a partial index only when it can prove the query's WHERE implies its own."""


class Schedule(Base):
    """A plugin run on a cron expression or an interval; each fire is an ordinary Job (issue 13)."""

    __tablename__ = "schedules"
    __table_args__ = (
        # The firing loop's one query, several times a second: what is due. Disabled ones hold NULL.
        Index("ix_schedules_next_fire", "next_fire_at"),
        Index("ix_schedules_owner_created", "owner_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    plugin: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    inputs: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    cron: Mapped[str | None] = mapped_column(String(200))
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    catchup_seconds: Mapped[int] = mapped_column(Integer, default=600)
    overlap: Mapped[str] = mapped_column(String(8), default="allow")
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_job_id: Mapped[str | None] = mapped_column(String(36))
    # Fire times older than the catch-up window when the loop came back (not run), and fires
    # skipped because the previous run was still active (overlap "skip"): what the page shows.
    missed_count: Mapped[int] = mapped_column(Integer, default=0)
    last_missed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)
    last_skipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (
        Index("ix_artifacts_owner_created", "owner_id", "created_at", "id"),
        # What the digest step looks for: AVAILABLE rows completed from a HEAD, sha256 still unknown.
        # Partial, so it holds only those few rows however many artifacts there are.
        Index("ix_artifacts_undigested", "created_at", postgresql_where=text(UNDIGESTED), sqlite_where=text(UNDIGESTED)),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    bucket: Mapped[str] = mapped_column(String(1024))
    object_name: Mapped[str] = mapped_column(String(1024))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int | None] = mapped_column(BigInteger)
    # PENDING: the sha256 the client declared, if any; AVAILABLE: what storage holds, NULL until
    # the digest step has read an object completed from a HEAD (issue 11).
    sha256: Mapped[str | None] = mapped_column(String(64))
    # The store's tag at completion (S3 ETag): the digest step reads only the object it names.
    etag: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=ArtifactStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobEvent(Base):
    """A log line of a job: what the worker, the sweeper and the plugin said, in order."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    level: Mapped[str] = mapped_column(String(10), default="INFO")
    source: Mapped[str] = mapped_column(String(20), default="worker")
    message: Mapped[str] = mapped_column(Text)


class Lease(Base):
    """A named lease: only its holder acts (one sweeper among many processes)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginFailure(Base):
    """Failed sign-in attempts in the current window, per account and source and per account.

    In the database, not in process memory, so every serve process shares one count, and the
    count is taken in one conditional statement before the password is checked (issue 8).
    ``key`` is a digest: the table holds no email addresses or client addresses.
    """

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # Unix seconds: compared across processes and machines, and cheap to do arithmetic on in SQL.
    window_start: Mapped[float] = mapped_column(Float, index=True)


class PausedPlugin(Base):
    """A plugin whose jobs are accepted but not claimed until it is resumed (``hx.jobs.pause``)."""

    __tablename__ = "paused_plugins"

    plugin: Mapped[str] = mapped_column(String(100), primary_key=True)
    paused_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WorkerProcess(Base):
    """One row per worker pool (a process's worker threads), kept fresh by its heartbeat."""

    __tablename__ = "workers"
    __table_args__ = (Index("ix_workers_heartbeat", "heartbeat_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    threads: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    jobs_done: Mapped[int] = mapped_column(Integer, default=0)
    current_jobs: Mapped[list[str]] = mapped_column(JSONType, default=list)


class MetricBucket(Base):
    """One minute of one plugin's outcomes as counted by one process (``source``).

    Each process writes only its own rows (its in-memory totals for that minute, every few seconds),
    so no two writers ever merge into one row; the monitor sums the sources.
    """

    __tablename__ = "metric_buckets"

    minute: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    plugin: Mapped[str] = mapped_column(String(100), primary_key=True)
    source: Mapped[str] = mapped_column(String(36), primary_key=True)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    duration_sum: Mapped[float] = mapped_column(Float, default=0.0)
    # Counts per duration bucket, bounds in ``helixnet.core.metrics.BOUNDS_MS`` (the last is "more").
    histogram: Mapped[list[int]] = mapped_column(JSONType, default=list)
