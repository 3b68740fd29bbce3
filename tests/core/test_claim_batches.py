"""Batch claims (core/claims.py): several ready jobs claimed in one statement, nothing weakened.

A duplicate delivery of a batch-claimed id does nothing; a worker killed after a batch claim loses
nothing (the sweeper recovers every claimed job); a stop hands the not-started ones back.
"""

from __future__ import annotations

import signal
import threading
from collections import Counter

import pytest
from sqlalchemy import event, func, select

from helixnet import JobStatus
from helixnet.core.models import Job, JobEvent
from helixnet.worker.claims import ClaimBatcher
from tests.core.test_worker_processes import FAST, _lines, _wait_until, workers  # noqa: F401 - a fixture

QUEUES = [
    "sqlite",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("postgres", marks=pytest.mark.postgres),
]


def _queue_url(kind: str, request: pytest.FixtureRequest) -> dict:
    if kind == "sqlite":
        return {}
    return {"queue_url": request.getfixturevalue("redis_url" if kind == "redis" else "postgres_url")}


def _claim_statements(hx) -> list[str]:
    """Every claim statement this process sends, as PostgreSQL or SQLite receives it (SQLAlchemy's event)."""
    seen: list[str] = []

    def _seen(_conn, _cursor, statement, *_args) -> None:
        if statement.startswith("UPDATE jobs") and "attempts=(jobs.attempts +" in statement:
            seen.append(statement)

    event.listen(hx.db.engine, "before_cursor_execute", _seen)
    return seen


@pytest.mark.parametrize("queue_kind", QUEUES)
def test_a_deep_queue_is_claimed_in_batches_and_every_job_runs_once(make_hx, database, queue_kind, request, tmp_path):
    # Trivial jobs count as quick up to 1 s each: on a loaded machine one claim-run-record can pass 20 ms.
    hx = make_hx(database, start=False, worker_claim_batch=10, worker_claim_batch_below_seconds=1.0,
                 **_queue_url(queue_kind, request))  # fmt: skip
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    log = tmp_path / "count.log"
    jobs = hx.jobs.submit_many(user, [{"plugin": "count", "params": {"log": str(log)}} for _ in range(60)])
    claims = _claim_statements(hx)
    hx.start(workers=2)
    done = [hx.jobs.wait(job.id, timeout=60) for job in jobs]
    assert [job.status for job in done] == [JobStatus.SUCCESS] * 60
    assert all(job.attempts == 1 for job in done)
    runs = Counter(entry[1] for entry in _lines(log) if entry[0] == "start")
    assert sorted(runs) == sorted(job.id for job in jobs) and set(runs.values()) == {1}  # each ran exactly once
    assert hx.pool.executed == 60
    batched = [s for s in claims if " IN (" in s]
    assert batched, "no batch claim was made"
    assert len(claims) <= 60 // 2  # each thread batches after its first quick job: far fewer claims than jobs


@pytest.mark.parametrize("queue_kind", QUEUES)
def test_a_duplicate_delivery_of_a_batch_claimed_id_does_nothing(make_hx, database, queue_kind, request, tmp_path):
    hx = make_hx(database, start=False, **_queue_url(queue_kind, request))
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    log = tmp_path / "count.log"
    jobs = hx.jobs.submit_many(user, [{"plugin": "count", "params": {"log": str(log)}} for _ in range(5)])
    ids = hx.queue.dequeue_many(10, timeout=5.0)
    assert sorted(ids) == sorted(job.id for job in jobs)
    hx.queue.enqueue_many([(job_id, 0) for job_id in ids])  # every id delivered a second time
    batcher = ClaimBatcher(hx.runner, 10)
    assert batcher.run(ids + ids[:2], "w-1", lambda: False) == 5  # a repeat within one batch runs once too
    again = hx.queue.dequeue_many(10, timeout=5.0)
    assert sorted(again) == sorted(ids)
    assert batcher.run(again, "w-2", lambda: False) == 0
    assert hx.runner.claim_many(ids, "w-3") == []
    after = [hx.jobs.get(job.id) for job in jobs]
    assert [(job.status, job.attempts) for job in after] == [(JobStatus.SUCCESS, 1)] * 5
    assert all(job.worker_id == "w-1" for job in after)
    assert len([entry for entry in _lines(log) if entry[0] == "start"]) == 5
    with hx.db.read() as session:  # the duplicates wrote nothing either
        starts = session.scalar(select(func.count()).select_from(JobEvent).where(JobEvent.message.like("started on%")))
    assert starts == 5


def test_a_stop_hands_back_the_claimed_jobs_that_had_not_started(make_hx, database, tmp_path):
    hx = make_hx(database, start=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    log = tmp_path / "count.log"
    jobs = hx.jobs.submit_many(
        user, [{"plugin": "count", "params": {"log": str(log), "seconds": 0.5}} for _ in range(4)]
    )
    ids = hx.queue.dequeue_many(10, timeout=5.0)
    stop = threading.Event()
    ran: list[int] = []
    worker = threading.Thread(target=lambda: ran.append(ClaimBatcher(hx.runner, 10).run(ids, "w-1", stop.is_set)))
    worker.start()
    _wait_until(lambda: _lines(log), 30, "the first job to start")
    with hx.db.read() as session:  # all four claimed at once, and visible as RUNNING under this worker
        running = session.scalars(select(Job.worker_id).where(Job.status == JobStatus.RUNNING.value)).all()
    assert running == ["w-1"] * 4
    stop.set()
    worker.join(30)
    states = sorted((hx.jobs.get(job.id).status, hx.jobs.get(job.id).attempts) for job in jobs)
    assert states == [(JobStatus.PENDING, 0)] * 3 + [(JobStatus.SUCCESS, 1)]
    assert ran == [1] and len([entry for entry in _lines(log) if entry[0] == "start"]) == 1
    hx.sweep()  # the handed-back jobs go back on the queue, and then run
    hx.start(workers=1)
    assert {hx.jobs.wait(job.id, timeout=60).status for job in jobs} == {JobStatus.SUCCESS}


@pytest.mark.slow
@pytest.mark.parametrize("queue_kind", [pytest.param("redis", marks=pytest.mark.redis),
                                        pytest.param("postgres", marks=pytest.mark.postgres)])  # fmt: skip
def test_a_worker_killed_after_a_batch_claim_loses_nothing(make_hx, workers, queue_kind, request, tmp_path):  # noqa: F811
    # "Quick" is up to 5 s here: on a loaded machine a claim-run-record of a trivial job can pass 20 ms.
    hx = make_hx("postgres", workers=0, sweeper=False, worker_claim_batch_below_seconds=5.0, **FAST,
                 **_queue_url(queue_kind, request))  # fmt: skip
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    log = tmp_path / "count.log"
    # A thread batches once it has seen quick jobs: two quick ones first, then the six slow ones,
    # all queued before the worker starts, so its second look finds the slow six together.
    quick = hx.jobs.submit_many(user, [{"plugin": "count", "params": {"log": str(tmp_path / "quick.log")}}] * 2)
    items = [{"plugin": "count", "params": {"log": str(log), "seconds": 60}, "max_retries": 1} for _ in range(6)]
    jobs = hx.jobs.submit_many(user, items)
    pool = workers(hx)
    first = pool.start()

    def all_claimed_by_one() -> bool:
        with hx.db.read() as session:
            owners = session.scalars(select(Job.worker_id).where(Job.status == JobStatus.RUNNING.value)).all()
        return len(owners) == 6 and len(set(owners)) == 1

    _wait_until(all_claimed_by_one, 60, "one batch claim of all six jobs")
    _wait_until(lambda: _lines(log), 30, "the first job to start")
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    pool.start()  # a second worker, which also sweeps
    done = [hx.jobs.wait(job.id, timeout=120) for job in jobs]
    assert [(job.status, job.attempts) for job in done] == [(JobStatus.SUCCESS, 2)] * 6
    assert all(hx.jobs.get(job.id).status == JobStatus.SUCCESS for job in quick)
    starts = Counter(entry[1] for entry in _lines(log) if entry[0] == "start")
    assert sum(starts.values()) == 7  # the one killed mid-run ran twice; the five waiting ones once


def test_a_new_thread_takes_one_job_at_a_time_until_it_has_seen_quick_ones(make_hx):
    hx = make_hx(start=False)
    batcher = ClaimBatcher(hx.runner, 10)
    assert batcher.want() == 1  # long jobs must not all land on the first thread that asks
    batcher._learn(0.001)
    assert batcher.want() == 10
    batcher._learn(1.0)
    assert batcher.want() == 1


def test_a_slow_job_in_a_batch_releases_the_unstarted_rest_to_the_queue(make_hx, database, tmp_path):
    hx = make_hx(database, start=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    log = tmp_path / "count.log"
    slow = hx.jobs.submit(user, "count", params={"log": str(log), "seconds": 0.5})
    quick = hx.jobs.submit_many(user, [{"plugin": "count", "params": {"log": str(log)}} for _ in range(4)])
    ids = hx.queue.dequeue_many(10, timeout=5.0)
    assert ids[0] == slow.id and len(ids) == 5
    batcher = ClaimBatcher(hx.runner, 10)
    assert batcher.run(ids, "w-1", lambda: False) == 1  # only the slow one ran here
    assert hx.jobs.get(slow.id).status == JobStatus.SUCCESS
    for job in quick:
        back = hx.jobs.get(job.id)
        assert (back.status, back.attempts, back.worker_id) == (JobStatus.PENDING, 0, None)
        assert any("released from a batch of worker w-1" in e.message for e in hx.jobs.events(job.id))
    assert sorted(hx.queue.dequeue_many(10, timeout=5.0)) == sorted(job.id for job in quick)  # requeued at once
    assert [entry[1] for entry in _lines(log) if entry[0] == "start"] == [slow.id]  # none of them started


def test_a_finished_jobs_outcome_does_not_wait_for_the_next_job_of_its_batch(make_hx, database, tmp_path):
    """Were it held for its group commit while a long job runs, a crash meanwhile would run it again."""
    hx = make_hx(database, start=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    log = tmp_path / "count.log"
    quick, slow = hx.jobs.submit_many(user, [{"plugin": "count", "params": {"log": str(log)}},
                                             {"plugin": "count", "params": {"log": str(log), "seconds": 3.0}}])  # fmt: skip
    ids = hx.queue.dequeue_many(10, timeout=5.0)
    runner = threading.Thread(target=ClaimBatcher(hx.runner, 10).run, args=(ids, "w-1", lambda: False))
    runner.start()
    try:
        _wait_until(lambda: [e for e in _lines(log) if e[0] == "start" and e[1] == slow.id], 10, "the slow job to start")
        _wait_until(lambda: hx.jobs.get(quick.id).status == JobStatus.SUCCESS, 2, "the quick job's outcome")
        assert hx.jobs.get(slow.id).status == JobStatus.RUNNING  # written while the slow one still ran
    finally:
        runner.join(30)
    assert hx.jobs.get(slow.id).status == JobStatus.SUCCESS
