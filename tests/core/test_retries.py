"""Retries with back-off, and timeouts that hold even when a plugin ignores them."""

from __future__ import annotations

from datetime import timedelta

from helixnet import JobStatus


def test_retries_until_success(hx, user):
    job = hx.jobs.submit(user, "flaky", params={"fail_times": 2}, max_retries=2)
    done = hx.jobs.wait(job.id, timeout=30)
    assert done.status == JobStatus.SUCCESS
    assert done.attempts == 3 and done.result == {"attempt": 3}
    failures = [e.message for e in hx.jobs.events(job.id) if "failed" in e.message]
    assert len(failures) == 2 and "retrying" in failures[0]


def test_retries_exhausted_is_failure(hx, user):
    job = hx.jobs.submit(user, "flaky", params={"fail_times": 5}, max_retries=1)
    done = hx.jobs.wait(job.id, timeout=30)
    assert (done.status, done.attempts) == (JobStatus.FAILURE, 2)
    assert "flaky failure on attempt 2" in done.error


def test_backoff_schedules_the_retry(make_hx):
    """With back-off, the failed job waits PENDING until due; the sweeper enqueues it then."""
    hx = make_hx(workers=0, job_retry_backoff_seconds=30)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = hx.jobs.submit(user, "flaky", params={"fail_times": 1}, max_retries=1)
    assert hx.runner.execute(job.id, "w") == JobStatus.PENDING
    with hx.db.read() as session:
        from helixnet.core.models import Job

        row = session.get(Job, job.id)
        assert row.scheduled_at is not None and row.queued_at is None
        due = row.scheduled_at
    # A stray delivery before it is due claims nothing.
    assert hx.runner.claim(job.id, "w") is None
    assert hx.sweeper.enqueue_due(due - timedelta(seconds=1)) == 0
    hx.queue.flush()
    assert hx.sweeper.enqueue_due(due + timedelta(seconds=1)) == 1
    assert hx.queue.dequeue(timeout=1) == job.id


def test_timeout_fails_a_cooperative_job(hx, user):
    job = hx.jobs.submit(user, "sleep", params={"seconds": 30}, timeout=0.5)
    done = hx.jobs.wait(job.id, timeout=20)
    assert done.status == JobStatus.FAILURE and "timed out after 0.5 s" in done.error


def test_timeout_holds_when_the_plugin_ignores_it(hx, user):
    job = hx.jobs.submit(user, "stubborn", params={"seconds": 30}, timeout=0.5)
    done = hx.jobs.wait(job.id, timeout=20)
    assert done.status == JobStatus.FAILURE and "timed out" in done.error


def test_timeout_then_retry(hx, user):
    job = hx.jobs.submit(user, "sleep", params={"seconds": 30}, timeout=0.3, max_retries=1)
    done = hx.jobs.wait(job.id, timeout=20)
    assert (done.status, done.attempts) == (JobStatus.FAILURE, 2)
