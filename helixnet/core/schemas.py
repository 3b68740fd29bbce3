"""Pydantic schemas: what crosses the boundary of the core (to embedding code, the API, the UI).

Services return these, never ORM rows, so callers hold plain values with no session behind them.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from helixnet.core.models import ArtifactStatus, JobStatus
from helixnet.core.validation import nul_free

#: The longest delay a job may be given (ten years): anything longer is a mistake.
MAX_DELAY_SECONDS = 10 * 366 * 24 * 3600
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{4,30}[0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _canonical_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("must be a UUID such as 3fa85f64-5717-4562-b3fc-2c963f66afa6") from None


_UUID_SCHEMA = WithJsonSchema({"type": "string", "format": "uuid"})
#: An id sent by a caller: checked and written in the one form ids are stored in, still a ``str``
#: in Python (callers pass and compare plain strings), ``format: uuid`` in the OpenAPI document.
UUIDStr = Annotated[str, AfterValidator(_canonical_uuid), _UUID_SCHEMA]
#: An id read back from the database: already canonical, so only the schema says what it is.
UUIDOut = Annotated[str, _UUID_SCHEMA]


def normalize_email(value: str) -> str:
    """Lower-cased and stripped: the one form we store and compare."""
    email = value.strip().lower()
    if not _EMAIL.match(email) or len(email) > 320 or "\x00" in email:
        raise ValueError("not a valid email address")
    return email


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UserRead(_Read):
    id: UUIDOut
    email: str
    fullname: str | None = None
    phone_number: str | None = None
    web_url: str | None = None
    is_admin: bool = False
    is_active: bool = True
    created_at: datetime


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"email": "ada@example.org", "password": "correct horse battery", "fullname": "Ada Lovelace"}]})  # fmt: skip

    email: str
    password: str
    fullname: str | None = Field(default=None, max_length=200)
    is_admin: bool = False

    _email = field_validator("email")(normalize_email)
    _fullname = field_validator("fullname")(nul_free)


class UserUpdate(BaseModel):
    """What a user may change about themselves; anything else is refused, not ignored."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"fullname": "Ada Lovelace", "phone_number": "+44 20 7946 0958", "web_url": "https://example.org/ada"}]})  # fmt: skip

    fullname: str | None = Field(default=None, max_length=200)
    phone_number: str | None = Field(default=None, max_length=40)
    web_url: str | None = Field(default=None, max_length=2000)

    _fullname = field_validator("fullname")(nul_free)

    @field_validator("phone_number")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        digits = re.sub(r"\D", "", value)
        if not _PHONE.match(value.strip()) or not 5 <= len(digits) <= 15:
            raise ValueError("not a plausible phone number (digits, spaces, +, -, (), 5 to 15 digits)")
        return value.strip()

    @field_validator("web_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        return str(AnyHttpUrl(value))


class ArtifactRead(_Read):
    id: UUIDOut
    owner_id: UUIDOut
    job_id: UUIDOut | None = None
    bucket: str = Field(description="where the bytes live: local (the server's folder), memory, or the S3 bucket")
    object_name: str
    filename: str
    content_type: str
    size: int | None = None
    sha256: str | None = Field(default=None, description="hex; while PENDING, the declared one if any; null on "
                               "an S3 upload completed without one until the server has computed it")  # fmt: skip
    status: ArtifactStatus
    created_at: datetime

    @field_validator("bucket")
    @classmethod
    def _logical_bucket(cls, value: str) -> str:
        # Rows written before issue 9 hold the local folder's absolute path (S3 bucket names never
        # start with "/"): the API must not show the server's filesystem, so they read as "local".
        return "local" if value.startswith("/") else value


class OutputRef(BaseModel):
    """An input taken from a parent's output: resolved to that artifact once the parent succeeds."""

    model_config = ConfigDict(extra="forbid")

    job: UUIDStr = Field(description="the parent job (added to after when not listed there)")
    output: str = Field(min_length=1, max_length=255, description="the filename of the parent's output artifact")


def _input_value(value: Any) -> str | OutputRef:
    """An artifact id, or a parent's output; errors name the input itself, not a member of a union."""
    if isinstance(value, OutputRef):
        return value
    if isinstance(value, dict):
        try:
            return OutputRef.model_validate(value, strict=True)
        except ValidationError as exc:
            found = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors())
            raise ValueError(f'a parent\'s output is {{"job": id, "output": filename}} ({found})') from None
    if isinstance(value, str):
        return _canonical_uuid(value)
    raise ValueError('must be an artifact id or a parent\'s output {"job": id, "output": filename}')


#: What an input of a submit may be: an artifact id, or ``{"job": parent id, "output": filename}``.
InputValue = Annotated[
    UUIDStr | OutputRef,
    PlainValidator(_input_value, json_schema_input_type=UUIDStr | OutputRef),
    # Serialised as its own type says (the validator's default would try the union on a dict and warn),
    # and so the same schema in both modes: one JobCreate in the OpenAPI document, not an -Input/-Output pair.
    PlainSerializer(lambda value: value, return_type=UUIDStr | OutputRef),
]


class _JobFields(BaseModel):
    # The example is what Swagger UI pre-fills: it must be accepted as it stands (issue 9).
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"plugin": "echo", "params": {"message": "hello"}}]})

    plugin: str = Field(min_length=1, max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, InputValue] = Field(
        default_factory=dict, description='input name -> artifact id, or a parent\'s output {"job": id, "output": filename}'
    )
    priority: int = Field(default=0, ge=-100, le=100)
    max_retries: int | None = Field(default=None, ge=0, le=100)
    timeout: float | None = Field(default=None, gt=0, le=7 * 24 * 3600, description="seconds")
    after: list[UUIDStr] | None = Field(default=None, max_length=10_000, description="parent job ids: the job "
                                        "waits (WAITING) until every one is final")  # fmt: skip
    allow_failed_parents: bool = Field(default=False, description="run even when a parent failed or was cancelled")

    def plain_inputs(self) -> dict[str, Any]:
        """``inputs`` as the services take them: artifact ids and ``{"job", "output"}`` dicts."""
        return {name: v.model_dump() if isinstance(v, OutputRef) else v for name, v in self.inputs.items()}


class JobCreate(_JobFields):
    run_at: AwareDatetime | None = Field(default=None, description="start no earlier than this (ISO 8601 with "
                                         "an offset); a time in the past runs at once. Not with delay")  # fmt: skip
    delay: float | None = Field(default=None, ge=0, le=MAX_DELAY_SECONDS, allow_inf_nan=False,
                                description="seconds from now before it may start. Not with run_at")  # fmt: skip


class JobBatchItem(_JobFields):
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200,
                                        description="a retried batch returns the first job for this item")  # fmt: skip


class JobBatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"jobs": [
        {"plugin": "echo", "params": {"message": "one"}}, {"plugin": "echo", "params": {"message": "two"}}]}]})

    jobs: list[JobBatchItem] = Field(min_length=1, description="at most HELIXNET_JOB_BATCH_MAX jobs, all or none")


class JobEventRead(_Read):
    id: int
    job_id: UUIDOut
    created_at: datetime
    level: str
    source: str
    message: str


class JobRead(_Read):
    id: UUIDOut
    owner_id: UUIDOut
    plugin: str
    status: JobStatus
    progress: float
    message: str | None = None
    params: dict[str, Any]
    inputs: dict[str, UUIDOut] = Field(description="input name -> artifact id")
    result: Any | None = None
    result_path: str | None = None
    error: str | None = None
    attempts: int
    max_retries: int
    priority: int
    timeout: float | None = None
    cancel_requested: bool = False
    worker_id: str | None = None
    created_at: datetime
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    run_at: datetime | None = Field(default=None, description="a delayed job's requested start")
    schedule_id: UUIDOut | None = Field(default=None, description="the schedule that fired this job")
    fire_time: datetime | None = Field(default=None, description="the schedule's fire time this job stands for")
    artifacts: list[ArtifactRead] = Field(default_factory=list, description="outputs of this job")
    parents: list[UUIDOut] = Field(default_factory=list, description="jobs this one waited or waits for (after)")
    children: list[UUIDOut] = Field(default_factory=list, description="jobs that wait or waited for this one")
    allow_failed_parents: bool = False
    input_refs: dict[str, OutputRef] = Field(default_factory=dict, description="inputs taken from parents' outputs, "
                                             "resolved into inputs when the job leaves WAITING")  # fmt: skip

    @field_validator("input_refs", mode="before")
    @classmethod
    def _no_refs(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def is_final(self) -> bool:
        from helixnet.core.models import FINAL_STATUSES

        return self.status in FINAL_STATUSES


class JobBatchRead(BaseModel):
    jobs: list[JobRead]


class JobPage(BaseModel):
    items: list[JobRead]
    next_cursor: str | None = None


class WorkerRead(_Read):
    id: str
    name: str
    host: str
    pid: int
    threads: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None = None
    jobs_done: int
    current_jobs: list[str] = Field(default_factory=list)
