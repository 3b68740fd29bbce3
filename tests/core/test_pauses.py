"""Pause and resume a plugin: jobs accepted and left PENDING, no claim, no sweeper churn; resume releases them."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from helixnet.core.models import JobStatus
from helixnet.errors import ValidationFailed


def test_paused_plugin_jobs_stay_pending_until_resumed(make_hx, database):
    hx = make_hx(database, workers=2)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    hx.pauses.pause("echo")
    hx.pauses.pause("echo")  # idempotent
    assert set(hx.pauses.paused()) == {"echo"}
    held = [hx.jobs.submit(user, "echo", params={"message": str(i)}).id for i in range(5)]
    other = hx.jobs.submit(user, "sleep", params={"seconds": 0})
    assert hx.jobs.wait(other.id, timeout=30).status == JobStatus.SUCCESS  # other plugins run
    time.sleep(0.5)  # the workers have long dequeued the echo ids: their claims found nothing
    assert {hx.jobs.get(job_id).status for job_id in held} == {JobStatus.PENDING}
    assert all(hx.jobs.get(job_id).attempts == 0 for job_id in held)
    later = hx.clock() + timedelta(seconds=hx.settings.job_lost_after_seconds + 5)
    report = hx.sweep(later)
    assert report.reenqueued_stale == 0 and report.enqueued == 0  # no churn while paused

    assert hx.pauses.resume("echo") == 5
    assert hx.pauses.paused() == {}
    for job_id in held:
        assert hx.jobs.wait(job_id, timeout=30).status == JobStatus.SUCCESS


def test_claim_refuses_a_paused_plugin(make_hx, database):
    hx = make_hx(database, workers=0)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = hx.jobs.submit(user, "echo")
    hx.pauses.pause("echo")
    assert hx.runner.claim(job.id, "w") is None
    hx.pauses.resume("echo")
    assert hx.runner.claim(job.id, "w") is not None


def test_unknown_plugin(make_hx):
    hx = make_hx(workers=0)
    with pytest.raises(ValidationFailed):
        hx.pauses.pause("nope")
    with pytest.raises(ValidationFailed):
        hx.pauses.resume("nope")
