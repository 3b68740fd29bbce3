"""A worker pool's stop: running jobs get a grace period, then are handed back, never lost or run twice."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from helixnet import JobStatus
from helixnet.worker.runner import RunningJob, _Outcome


def _until(check, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def _lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def test_running_jobs_finish_within_the_grace_period(make_hx, database, tmp_path):
    hx = make_hx(database, workers=1, sweeper=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    log = tmp_path / "count.log"
    job = hx.jobs.submit(user, "count", params={"log": str(log), "seconds": 1.0})
    _until(lambda: _lines(log), what="the job to start")
    hx.stop(timeout=30)  # far longer than the job: it finishes, it is not interrupted
    done = hx.jobs.get(job.id)
    assert (done.status, done.attempts) == (JobStatus.SUCCESS, 1)
    assert [entry[0] for entry in _lines(log)] == ["start", "end"]


def test_jobs_past_the_grace_period_are_handed_back_uncounted(make_hx, database, tmp_path):
    hx = make_hx(database, workers=1, sweeper=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    log = tmp_path / "count.log"
    # ``count`` sleeps in one piece: it ignores the cancel, as a stubborn plugin would.
    job = hx.jobs.submit(user, "count", params={"log": str(log), "seconds": 3.0}, max_retries=0)
    _until(lambda: _lines(log), what="the job to start")
    worker = hx.jobs.get(job.id).worker_id
    started = time.monotonic()
    hx.pool.stop(0.5)
    assert time.monotonic() - started < 2.9  # it did not wait for the plugin
    back = hx.jobs.get(job.id)
    # PENDING again with the attempt given back (max_retries=0 still allows a full run).
    assert (back.status, back.attempts, back.worker_id) == (JobStatus.PENDING, 0, None)
    [event] = [e for e in hx.jobs.events(job.id) if "handed back" in e.message]
    assert worker in event.message and "on shutdown" in event.message and "not counted" in event.message
    assert hx.queue.dequeue(timeout=5) == job.id  # on the queue at once, no sweeper needed
    # The abandoned plugin thread ends later; its outcome must not land on the PENDING row.
    _until(lambda: [e for e in _lines(log) if e[0] == "end"], what="the old plugin thread to end")
    time.sleep(0.3)
    assert hx.jobs.get(job.id).status == JobStatus.PENDING



def test_a_job_cancelled_while_the_worker_stops_ends_cancelled_not_handed_back(make_hx, database, tmp_path):
    hx = make_hx(database, workers=1, sweeper=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    log = tmp_path / "count.log"
    job = hx.jobs.submit(user, "count", params={"log": str(log), "seconds": 3.0})
    _until(lambda: _lines(log), what="the job to start")
    hx.jobs.cancel(job.id, user)  # the stubborn plugin keeps running past the grace period
    hx.pool.stop(0.5)
    done = hx.jobs.get(job.id)
    assert (done.status, done.error) == (JobStatus.CANCELLED, "cancelled")
    assert hx.queue.dequeue(timeout=0.5) is None  # not handed back: it must never run again
    assert any("cancelled while running" in e.message for e in hx.jobs.events(job.id))

def test_a_second_signal_hands_back_without_waiting(make_hx, tmp_path):
    hx = make_hx(workers=1, sweeper=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    log = tmp_path / "count.log"
    job = hx.jobs.submit(user, "count", params={"log": str(log), "seconds": 3.0})
    _until(lambda: _lines(log), what="the job to start")
    hx.pool.hurry()
    started = time.monotonic()
    hx.pool.stop(60)
    assert time.monotonic() - started < 2.9
    assert hx.jobs.get(job.id).status == JobStatus.PENDING


def test_an_outcome_after_a_hand_back_is_fenced_out_even_for_the_same_worker_id(make_hx, database):
    """The hand-back gives the attempt back, so the next claim by the same worker id has the same
    attempts number: only the claim's own time keeps the old plugin from recording over it."""
    hx = make_hx(database, workers=0, sweeper=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = hx.jobs.submit(user, "echo", params={"message": "hi"})
    first = hx.runner.claim(job.id, "host:1/w1")
    ctx = hx.runner._context(first)
    old = RunningJob(job.id, "host:1/w1", first.attempts, ctx, claim=first)
    assert hx.runner.hand_back(old, "host:1/w1")
    assert ctx.cancelled  # its plugin is told to stop
    assert not hx.runner.hand_back(old, "host:1/w1")  # twice is a no-op
    time.sleep(0.01)  # a distinct claim time, even on a coarse clock
    second = hx.runner.claim(job.id, "host:1/w1")
    assert second.attempts == first.attempts
    late = hx.runner.record_outcome(first, "host:1/w1", ctx, old, _Outcome(ok=True, result={"late": True}), 0.0)
    assert late is None
    assert hx.jobs.get(job.id).status == JobStatus.RUNNING
    ctx2 = hx.runner._context(second)
    now = hx.runner.record_outcome(second, "host:1/w1", ctx2, RunningJob(job.id, "host:1/w1", 1, ctx2, claim=second),
                                   _Outcome(ok=True, result={"second": True}), 0.0)  # fmt: skip
    assert now == JobStatus.SUCCESS
    assert hx.jobs.get(job.id).result == {"second": True}


@pytest.mark.postgres
def test_an_outcome_is_written_again_when_the_connection_was_killed(make_hx, tmp_path):
    """The worker thread's pinned connection dies under a running job (a failover, an admin's
    pg_terminate_backend): the known outcome is written on a fresh connection, not lost."""
    from sqlalchemy import create_engine, text

    hx = make_hx("postgres", workers=1, sweeper=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    log = tmp_path / "count.log"
    job = hx.jobs.submit(user, "count", params={"log": str(log), "seconds": 1.0}, max_retries=0)
    _until(lambda: _lines(log), what="the job to start")
    admin = create_engine(hx.settings.resolved_database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            killed = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()  # fmt: skip
    finally:
        admin.dispose()
    assert killed >= 1
    # Without the second try the row would stay RUNNING (no sweeper here) until this times out.
    done = hx.jobs.wait(job.id, timeout=30)
    assert (done.status, done.attempts) == (JobStatus.SUCCESS, 1)
    assert [entry[0] for entry in _lines(log)] == ["start", "end"]
