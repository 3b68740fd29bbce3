"""The WHERE clauses of job listings, shared by ``list``, ``counts`` and ``bulk``."""

from __future__ import annotations

from sqlalchemy import String, cast, or_
from sqlalchemy.sql.elements import ColumnElement

from helixnet.core.models import Job, JobStatus
from helixnet.core.users import UserRef, user_id_of
from helixnet.core.validation import refuse_nul
from helixnet.errors import ValidationFailed


def job_filters(
    user: UserRef | None,
    *,
    status: str | JobStatus | None = None,
    plugin: str | None = None,
    q: str | None = None,
    owner_id: str | None = None,
    all_users: bool = False,
) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a job listing: whose jobs (a plain user's own, whatever asked), status,
    plugin and the text search (id prefix, plugin, message, error, params)."""
    for name, value in (("plugin", plugin), ("q", q), ("owner_id", owner_id)):
        refuse_nul(value, [name])
    clauses: list[ColumnElement[bool]] = []
    if not (all_users and (user is None or getattr(user, "is_admin", False))):
        if user is None:
            raise ValidationFailed.field(["user"], "needed unless all_users is set")
        clauses.append(Job.owner_id == user_id_of(user))
    elif owner_id:
        clauses.append(Job.owner_id == owner_id)
    if status is not None:
        try:
            clauses.append(Job.status == JobStatus(str(status).upper()).value)
        except ValueError:
            names = ", ".join(s.value for s in JobStatus)
            raise ValidationFailed.field(["status"], f"must be one of {names}") from None
    if plugin:
        clauses.append(Job.plugin == plugin)
    if q:
        pattern = f"%{q.replace('%', '').replace('_', '')}%"
        clauses.append(or_(Job.id.like(f"{q}%"), Job.plugin.ilike(pattern), Job.message.ilike(pattern),
                           Job.error.ilike(pattern), cast(Job.params, String).ilike(pattern)))  # fmt: skip
    return clauses


__all__ = ["job_filters"]
