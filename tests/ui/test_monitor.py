"""The monitor: queue depth, pause and resume, workers, running jobs and metrics charts."""

from __future__ import annotations

from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from helixnet.core.models import JobStatus

from .conftest import log_in
from .test_jobs import eventually

pytestmark = pytest.mark.asyncio


async def test_pause_holds_jobs_and_resume_releases_them(user: User, hx: Any, admin: Any, ada: Any) -> None:
    await log_in(user, admin.email, path="/admin/monitor")
    await user.should_see(hx.worker_name)  # the embedded worker pool registered itself
    user.find(marker="pause-echo").click()
    await eventually(lambda: _paused(hx, {"echo"}))
    await user.should_see("paused")
    job = hx.jobs.submit(ada, "echo", params={"message": "held"})
    await eventually(lambda: user.should_see("1 pending", retries=1), timeout=15)
    assert hx.jobs.get(job.id).status == JobStatus.PENDING
    user.find(marker="resume-echo").click()  # the handler runs on this event loop: no blocking wait here
    await eventually(lambda: _status(hx, job.id, JobStatus.SUCCESS), timeout=30)
    assert hx.pauses.paused() == {}


def _paused(hx: Any, plugins: set[str]) -> None:
    assert set(hx.pauses.paused()) == plugins


async def test_running_jobs_and_charts_from_the_buckets(user: User, hx: Any, admin: Any, ada: Any) -> None:
    done = hx.jobs.submit(ada, "echo")
    hx.jobs.wait(done.id, timeout=30)
    hx.metrics.record("sleep", JobStatus.SUCCESS, 5000.0)  # past the histogram's last bound: p95 "infinite"
    hx.metrics.flush()
    running = hx.jobs.submit(ada, "sleep", params={"seconds": 60})
    await eventually(lambda: _status(hx, running.id, JobStatus.RUNNING))
    await log_in(user, admin.email, path="/admin/monitor")
    await user.should_see(running.id[:8])
    charts = list(user.find(kind=ui.echart).elements)
    assert len(charts) == 3
    throughput = next(c for c in charts if c.options["title"]["text"].startswith("Succeeded"))
    [echo] = [s for s in throughput.options["series"] if s["name"] == "echo"]
    assert sum(value for _, value in echo["data"]) == 1
    duration = next(c for c in charts if c.options["title"]["text"].startswith("Duration"))
    [sleep_p95] = [s for s in duration.options["series"] if s["name"] == "sleep p95"]
    assert all(value is None for _, value in sleep_p95["data"])  # a gap, not an unserialisable infinity
    hx.jobs.cancel(running.id)


def _status(hx: Any, job_id: str, status: JobStatus) -> None:
    assert hx.jobs.get(job_id).status == status
