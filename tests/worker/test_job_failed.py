"""``JobFailed``: a plugin's own failure message, and whether another attempt could help."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from helixnet import ComputePlugin, JobContext, JobFailed, JobStatus


class RefuseParams(BaseModel):
    retry: bool


class Refuse(ComputePlugin):
    name = "refuse"
    Params = RefuseParams

    def run(self, ctx: JobContext, params: RefuseParams) -> None:
        raise JobFailed(f"upstream said no (attempt {ctx.attempt})", retry=params.retry)


@pytest.mark.parametrize(("retry", "attempts"), [(False, 1), (True, 3)])
def test_job_failed_sets_the_error_and_chooses_the_retry(make_hx: Any, retry: bool, attempts: int) -> None:
    hx = make_hx(start=False, job_retry_backoff_seconds=0)
    hx.plugins.add(Refuse)
    hx.start(1)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = hx.jobs.wait(hx.jobs.submit(user, "refuse", params={"retry": retry}, max_retries=2).id, timeout=30)
    assert (job.status, job.attempts, job.error) == (
        JobStatus.FAILURE,
        attempts,
        f"upstream said no (attempt {attempts})",
    )
    assert any("Traceback" in e.message for e in hx.jobs.events(job.id, user))
