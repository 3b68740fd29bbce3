"""Schedules at the boundary of the core: what a caller sends to create or change one, what it reads back."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from helixnet.core.crontime import check_cron, zone
from helixnet.core.schemas import UUIDOut, UUIDStr, _Read

Overlap = Literal["skip", "allow", "queue"]
#: Longest interval and catch-up window accepted: a year.
YEAR_SECONDS = 366 * 24 * 3600


class _ScheduleFields(BaseModel):
    """Checks shared by create and update: the zone exists, the cron expression parses."""

    @field_validator("timezone", check_fields=False)
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone(value)
        return value

    @field_validator("cron", check_fields=False)
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)


class ScheduleCreate(_ScheduleFields):
    # The example is what Swagger UI pre-fills: it must be accepted as it stands (issue 9).
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"plugin": "echo", "params": {"message": "good morning"}, "cron": "30 7 * * 1-5",
         "timezone": "Europe/Berlin"}]})  # fmt: skip

    plugin: str = Field(min_length=1, max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, UUIDStr] = Field(default_factory=dict, description="input name -> artifact id")
    cron: str | None = Field(default=None, max_length=200, description="a cron expression, read in `timezone` "
                             "(give this or interval_seconds)")  # fmt: skip
    interval_seconds: int | None = Field(default=None, ge=1, le=YEAR_SECONDS, description="fire every N seconds, "
                                         "at the multiples of N since 1970-01-01 UTC (give this or cron)")  # fmt: skip
    timezone: str = Field(default="UTC", max_length=64, description="IANA zone the cron expression is read in")
    enabled: bool = True
    catchup_seconds: int = Field(default=600, ge=0, le=YEAR_SECONDS, description="after downtime, missed fire "
                                 "times this recent run once each; older ones are counted as missed")  # fmt: skip
    overlap: Overlap = Field(default="allow", description="when the previous run is still active: skip this fire, "
                             "allow it, or queue it until the previous run ends")  # fmt: skip


class ScheduleUpdate(_ScheduleFields):
    """Any of the create fields; the ones left out keep their value. ``{"enabled": false}`` pauses it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"enabled": False}]})

    plugin: str | None = Field(default=None, min_length=1, max_length=100)
    params: dict[str, Any] | None = None
    inputs: dict[str, UUIDStr] | None = None
    cron: str | None = Field(default=None, max_length=200, description="setting it clears interval_seconds")
    interval_seconds: int | None = Field(default=None, ge=1, le=YEAR_SECONDS, description="setting it clears cron")
    timezone: str | None = Field(default=None, max_length=64)
    enabled: bool | None = None
    catchup_seconds: int | None = Field(default=None, ge=0, le=YEAR_SECONDS)
    overlap: Overlap | None = None


class ScheduleRead(_Read):
    id: UUIDOut
    owner_id: UUIDOut
    plugin: str
    params: dict[str, Any]
    inputs: dict[str, UUIDOut] = Field(description="input name -> artifact id")
    cron: str | None = None
    interval_seconds: int | None = None
    timezone: str
    enabled: bool
    catchup_seconds: int
    overlap: Overlap
    next_fire_at: datetime | None = Field(default=None, description="null while disabled")
    last_fire_at: datetime | None = Field(default=None, description="the fire time of its last job")
    last_job_id: UUIDOut | None = Field(default=None, description="its last job (a fire or a run now)")
    missed_count: int = Field(default=0, description="fire times older than the catch-up window, not run")
    last_missed_at: datetime | None = None
    skipped_count: int = Field(default=0, description="fires skipped because the previous run was active")
    last_skipped_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class SchedulePage(BaseModel):
    items: list[ScheduleRead]
    next_cursor: str | None = None


__all__ = ["Overlap", "ScheduleCreate", "SchedulePage", "ScheduleRead", "ScheduleUpdate"]
