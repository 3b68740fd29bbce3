"""What running a plugin came to, and an outcome decided but not yet written (``JobRunner.record_outcome``)."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from helixnet.core.context import JobCancelled, JobContext
from helixnet.core.models import ArtifactStatus, JobStatus

if TYPE_CHECKING:
    from helixnet.core.runner import Claim, RunningJob


@dataclass
class _Recorded:
    """An outcome decided but not yet written (``record_outcome(defer=True)``)."""

    claim: Claim
    worker_id: str
    ctx: JobContext
    running: RunningJob
    outcome: _Outcome
    elapsed: float
    status: JobStatus
    values: dict[str, Any]
    message: str
    now: datetime


@dataclass
class _Outcome:
    ok: bool
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    final: bool = False  # no retry could help
    cancelled: bool = False

    @classmethod
    def failed(cls, error: str, *, final: bool = False) -> _Outcome:
        return cls(ok=False, error=error, final=final)

    def without(self, path: str) -> _Outcome:
        """The failure with ``path`` (the artifact folder) cut out of its texts: an OSError names the
        file it failed on, and job fields must never show the server's filesystem (issue 9)."""
        error = self.error.replace(path, "<storage>") if self.error else self.error
        trace = self.traceback.replace(path, "<storage>") if self.traceback else self.traceback
        return replace(self, error=error, traceback=trace)


def _call(run: Callable[..., Any], ctx: JobContext, params: Any) -> _Outcome:
    try:
        return _Outcome(ok=True, result=run(ctx, params))
    except JobCancelled:
        return _Outcome(ok=False, error="cancelled", cancelled=True)
    except Exception as exc:  # the plugin's failure is the job's failure, never the worker's
        return _Outcome(ok=False, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())


def _artifact_row(claim: Claim, record: Any, now: datetime) -> dict[str, Any]:
    return {
        "id": record.artifact_id, "owner_id": claim.owner_id, "job_id": claim.job_id, "bucket": record.bucket,
        "object_name": record.object_name, "filename": record.filename, "content_type": record.content_type,
        "size": record.size, "sha256": record.sha256, "status": ArtifactStatus.AVAILABLE.value, "created_at": now,
    }  # fmt: skip
