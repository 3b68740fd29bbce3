"""Pydantic schemas: what crosses the boundary of the core (to embedding code, the API, the UI).

Services return these, never ORM rows, so callers hold plain values with no session behind them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from helixnet.core.models import ArtifactStatus, JobStatus

_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{4,30}[0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(value: str) -> str:
    """Lower-cased and stripped: the one form we store and compare."""
    email = value.strip().lower()
    if not _EMAIL.match(email) or len(email) > 320:
        raise ValueError("not a valid email address")
    return email


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UserRead(_Read):
    id: str
    email: str
    fullname: str | None = None
    phone_number: str | None = None
    web_url: str | None = None
    is_admin: bool = False
    is_active: bool = True
    created_at: datetime


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str
    password: str
    fullname: str | None = Field(default=None, max_length=200)
    is_admin: bool = False

    _email = field_validator("email")(normalize_email)


class UserUpdate(BaseModel):
    """What a user may change about themselves; anything else is refused, not ignored."""

    model_config = ConfigDict(extra="forbid")

    fullname: str | None = Field(default=None, max_length=200)
    phone_number: str | None = Field(default=None, max_length=40)
    web_url: str | None = Field(default=None, max_length=2000)

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
    id: str
    owner_id: str
    job_id: str | None = None
    bucket: str
    object_name: str
    filename: str
    content_type: str
    size: int | None = None
    sha256: str | None = None
    status: ArtifactStatus
    created_at: datetime


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plugin: str = Field(min_length=1, max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, str] = Field(default_factory=dict, description="input name -> artifact id")
    priority: int = Field(default=0, ge=-100, le=100)
    max_retries: int | None = Field(default=None, ge=0, le=100)
    timeout: float | None = Field(default=None, gt=0, le=7 * 24 * 3600, description="seconds")


class JobEventRead(_Read):
    id: int
    job_id: str
    created_at: datetime
    level: str
    source: str
    message: str


class JobRead(_Read):
    id: str
    owner_id: str
    plugin: str
    status: JobStatus
    progress: float
    message: str | None = None
    params: dict[str, Any]
    inputs: dict[str, str]
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
    artifacts: list[ArtifactRead] = Field(default_factory=list, description="outputs of this job")

    @property
    def is_final(self) -> bool:
        from helixnet.core.models import FINAL_STATUSES

        return self.status in FINAL_STATUSES


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
