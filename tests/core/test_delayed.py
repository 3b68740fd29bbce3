"""Delayed jobs: accepted now, PENDING with run_at, enqueued by the firing loop when due (issue 13)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from helixnet import JobStatus, ValidationFailed


def test_a_due_time_in_the_past_runs_at_once(make_hx) -> None:
    hx = make_hx(workers=1)
    ada = hx.users.create(email="ada@example.org", password="correct horse battery")
    past = datetime.now(UTC) - timedelta(hours=1)
    job = hx.jobs.submit(ada, "echo", {"message": "late"}, run_at=past)
    assert job.run_at == past
    assert hx.jobs.wait(job.id, timeout=10).status == JobStatus.SUCCESS


def test_due_in_two_seconds_does_not_start_before(make_hx) -> None:
    hx = make_hx(workers=1)
    ada = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = hx.jobs.submit(ada, "echo", {"message": "later"}, delay=2)
    assert job.status == JobStatus.PENDING and job.run_at is not None
    assert abs((job.run_at - job.created_at).total_seconds() - 2) < 0.01
    done = hx.jobs.wait(job.id, timeout=15)
    assert done.status == JobStatus.SUCCESS and done.started_at is not None
    assert done.started_at >= job.run_at
    # Enqueued by the firing loop, which wakes at the due time (about 30 ms here; room left for a loaded runner).
    assert (done.started_at - job.run_at).total_seconds() < 2.0, done.started_at - job.run_at


def test_cancelled_before_due_never_runs(make_hx) -> None:
    hx = make_hx(workers=1)
    ada = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = hx.jobs.submit(ada, "echo", run_at=datetime.now(UTC) + timedelta(seconds=30))
    assert hx.jobs.cancel(job.id, ada).status == JobStatus.CANCELLED
    hx.fire(datetime.now(UTC) + timedelta(minutes=5))  # its due time comes: nothing to enqueue
    hx.sweep(datetime.now(UTC) + timedelta(minutes=5))
    time.sleep(0.2)
    after = hx.jobs.get(job.id)
    assert after.status == JobStatus.CANCELLED and after.started_at is None and after.attempts == 0


def test_due_while_every_worker_was_down_runs_when_they_return(make_hx) -> None:
    hx = make_hx(start=False)
    ada = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = hx.jobs.submit(ada, "echo", delay=0.05)
    time.sleep(0.1)  # due now, and nothing runs: no worker, no firing loop
    waiting = hx.jobs.get(job.id)
    assert waiting.status == JobStatus.PENDING and waiting.queued_at is None  # not on the queue either
    hx.start(1)
    assert hx.jobs.wait(job.id, timeout=10).status == JobStatus.SUCCESS


def test_bad_due_times_are_refused_naming_the_field(hx, user) -> None:
    cases = [
        ({"run_at": datetime(2030, 1, 1, 9, 0)}, ["run_at"]),  # naive: which 09:00?
        ({"run_at": datetime.now(UTC), "delay": 5}, ["run_at"]),
        ({"delay": -1}, ["delay"]),
        ({"delay": float("nan")}, ["delay"]),
    ]
    for fields, loc in cases:
        with pytest.raises(ValidationFailed) as caught:
            hx.jobs.submit(user, "echo", **fields)
        assert caught.value.errors[0]["loc"] == loc, fields


def test_many_due_at_once_are_enqueued_once_by_concurrent_loops(make_hx, database: str) -> None:
    hx = make_hx(database, start=False)
    ada = hx.users.create(email="ada@example.org", password="correct horse battery")
    due = datetime.now(UTC) + timedelta(hours=1)
    ids = {hx.jobs.submit(ada, "echo", run_at=due).id for _ in range(50)}
    later = due + timedelta(seconds=1)
    with ThreadPoolExecutor(3) as pool:
        counts = list(pool.map(lambda _: hx.fire(later).delayed, range(3)))
    assert sum(counts) == 50, counts  # each job taken by exactly one of the three
    assert all(hx.jobs.get(job_id).queued_at == later for job_id in ids)
    assert hx.queue.size() == 50


@pytest.mark.parametrize("parent_first", [True, False])
def test_a_delayed_child_waits_for_its_parent_and_for_its_time(make_hx, parent_first: bool) -> None:
    """after=[...] and delay together: released by the parent, still off the queue until due."""
    hx = make_hx(workers=2)
    ada = hx.users.create(email="ada@example.org", password="correct horse battery")
    parent = hx.jobs.submit(ada, "sleep", {"seconds": 0.2})
    if parent_first:  # the parent is already SUCCESS when the child is submitted
        hx.jobs.wait(parent.id, timeout=10)
    child = hx.jobs.submit(ada, "echo", {"message": "after and later"}, after=[parent.id], delay=1.5)
    done = hx.jobs.wait(child.id, timeout=15)
    assert done.status == JobStatus.SUCCESS and done.parents == [parent.id]
    assert done.started_at >= child.run_at >= hx.jobs.get(parent.id).finished_at - timedelta(seconds=0.5)
