"""Recovery of lost work, seen without sleeping: every sweep takes ``now``."""

from __future__ import annotations

from datetime import timedelta

from helixnet import JobStatus
from helixnet.core.models import Job


def _start(hx, user, **kw):
    job = hx.jobs.submit(user, "echo", **kw)
    hx.queue.flush()
    assert hx.runner.claim(job.id, "dead-host:1/w1") is not None
    return job


def test_lost_running_job_is_requeued_while_attempts_remain(make_hx, database):
    hx = make_hx(database, workers=0, sweeper=False, job_lost_after_seconds=30)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = _start(hx, user, max_retries=1)
    now = hx.clock()
    assert hx.sweeper.find_lost(now + timedelta(seconds=10)) == []
    report = hx.sweep(now + timedelta(seconds=31))
    assert (report.requeued_lost, report.failed_lost) == (1, 0)
    assert hx.jobs.get(job.id).status == JobStatus.PENDING
    assert hx.queue.dequeue(timeout=1) == job.id
    [event] = [e for e in hx.jobs.events(job.id) if e.source == "sweeper"]
    assert "dead-host:1/w1" in event.message and "stopped heart-beating" in event.message
    assert "requeued" in event.message
    # The second attempt runs to the end.
    assert hx.runner.execute(job.id, "w2") == JobStatus.SUCCESS
    assert hx.jobs.get(job.id).attempts == 2


def test_lost_running_job_without_attempts_fails_worker_lost(make_hx, database):
    hx = make_hx(database, workers=0, sweeper=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = _start(hx, user, max_retries=0)
    report = hx.sweep(hx.clock() + timedelta(seconds=31))
    assert report.failed_lost == 1
    done = hx.jobs.get(job.id)
    assert (done.status, done.error) == (JobStatus.FAILURE, "worker lost")
    assert any("worker lost" in e.message for e in hx.jobs.events(job.id))


def test_the_old_worker_cannot_overwrite_a_recovered_job(make_hx):
    hx = make_hx(workers=0, sweeper=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = hx.jobs.submit(user, "echo", max_retries=1)
    claim = hx.runner.claim(job.id, "old")
    hx.sweep(hx.clock() + timedelta(seconds=31))
    assert hx.runner.claim(job.id, "new") is not None
    from helixnet.worker.runner import RunningJob, _Outcome

    ctx = hx.runner._context(claim)
    status = hx.runner.record_outcome(claim, "old", ctx, RunningJob(job.id, "old", 1, ctx), _Outcome(ok=True), 0.0)
    assert status is None  # fenced out
    assert hx.jobs.get(job.id).status == JobStatus.RUNNING


def test_stuck_is_a_pure_function_of_now():
    from datetime import UTC, datetime

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    job = Job(status="RUNNING", heartbeat_at=t0)
    assert not job.is_stuck(t0 + timedelta(seconds=29), 30)
    assert job.is_stuck(t0 + timedelta(seconds=31), 30)
    assert not Job(status="PENDING", heartbeat_at=t0).is_stuck(t0 + timedelta(days=1), 30)


def test_failed_enqueue_is_recovered(make_hx, tmp_path):
    """A real Redis queue pointed at a port where nothing listens: the submit still succeeds."""
    hx = make_hx(workers=0, sweeper=False, queue_url="redis://127.0.0.1:1/0")
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = hx.jobs.submit(user, "echo")
    with hx.db.read() as session:
        assert session.get(Job, job.id).queued_at is None
    # Point the sweeper at a queue that works (as when Redis is back) and sweep.
    from helixnet.queue import open_queue

    working = open_queue("memory://", name="recovered")
    hx.sweeper._queue = working
    assert hx.sweep().enqueued == 1
    assert working.dequeue(timeout=1) == job.id


def test_lost_queue_message_is_enqueued_again(make_hx):
    hx = make_hx(workers=0, sweeper=False, job_lost_after_seconds=30)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = hx.jobs.submit(user, "echo")
    hx.queue.flush()  # as when Redis restarts with no persistence
    assert hx.sweep(hx.clock() + timedelta(seconds=5)).reenqueued_stale == 0
    assert hx.sweep(hx.clock() + timedelta(seconds=31)).reenqueued_stale == 1
    assert hx.queue.dequeue(timeout=1) == job.id
    assert any("queue message was lost" in e.message for e in hx.jobs.events(job.id))


def test_only_one_sweeper_acts(make_hx, database):
    hx = make_hx(database, workers=0, sweeper=False)
    other = make_hx(database, start=False, workers=0, sweeper=False)
    other.sweeper.holder = "another-process"
    now = hx.clock()
    assert hx.sweeper.acquire_lease(now)
    assert not other.sweeper.acquire_lease(now)
    assert other.sweeper.sweep(now).acted is False
    # Once the holder's lease expires, the other takes over.
    assert other.sweeper.acquire_lease(now + timedelta(seconds=60))
    assert not hx.sweeper.acquire_lease(now + timedelta(seconds=61))


def test_a_dead_workers_jobs_are_recovered_at_once(make_hx, database):
    """A supervisor saw the process exit: no waiting for the heartbeat to run out."""
    hx = make_hx(database, workers=0, sweeper=False, job_lost_after_seconds=3600)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    retried = hx.jobs.submit(user, "echo", max_retries=1)
    final = hx.jobs.submit(user, "echo", max_retries=0)
    # "host:1" must not catch "host:12" (a prefix of the name, not of the worker id), nor "host_1".
    others = [hx.jobs.submit(user, "echo") for _ in range(2)]
    hx.queue.flush()
    hx.runner.claim(retried.id, "host:1/w1")
    hx.runner.claim(final.id, "host:1/w2")
    hx.runner.claim(others[0].id, "host:12/w1")
    hx.runner.claim(others[1].id, "host_1/w1")
    dead = hx.workers.register("host:1", 2)
    alive = hx.workers.register("host:12", 1)

    assert hx.recover_worker("host:1", reason="process was killed by SIGKILL") == (1, 1)
    assert hx.jobs.get(retried.id).status == JobStatus.PENDING
    assert hx.queue.dequeue(timeout=1) == retried.id
    failed = hx.jobs.get(final.id)
    assert (failed.status, failed.error) == (JobStatus.FAILURE, "worker lost")
    [event] = [e for e in hx.jobs.events(retried.id) if e.source == "sweeper"]
    assert "host:1/w1" in event.message and "SIGKILL" in event.message and "requeued" in event.message
    assert all(hx.jobs.get(o.id).status == JobStatus.RUNNING for o in others)
    rows = {w.id: w for w in hx.workers.list()}
    assert rows[dead].stopped_at is not None and rows[alive].stopped_at is None
    assert hx.recover_worker("host:1") == (0, 0)


def test_a_lost_job_whose_cancel_was_asked_ends_cancelled(make_hx, database):
    hx = make_hx(database, workers=0, sweeper=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = hx.jobs.submit(user, "echo", max_retries=3)
    hx.queue.flush()
    hx.runner.claim(job.id, "host:1/w1")
    hx.jobs.cancel(job.id, user)  # RUNNING: only asked; the worker dies before it passes it on
    hx.recover_worker("host:1")
    done = hx.jobs.get(job.id)
    assert (done.status, done.error) == (JobStatus.CANCELLED, "cancelled")
    assert hx.queue.dequeue(timeout=0.3) is None
