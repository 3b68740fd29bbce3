"""``hx.jobs.submit_many``: all or none, in order, idempotency keys per item, on every DB and queue."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from helixnet import JobStatus
from helixnet.core.models import Job
from helixnet.errors import ValidationFailed


def _count(hx) -> int:
    with hx.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


def _wait_all(hx, jobs) -> list:
    return [hx.jobs.wait(job.id, timeout=60) for job in jobs]


def test_submit_many_records_every_job_in_order_and_they_all_run(make_hx, database):
    hx = make_hx(database)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    jobs = hx.jobs.submit_many(user, [{"plugin": "echo", "params": {"message": str(i)}, "priority": i % 3}
                                      for i in range(40)])  # fmt: skip
    assert [job.params["message"] for job in jobs] == [str(i) for i in range(40)]
    assert all(job.status == JobStatus.PENDING and job.owner_id == user.id for job in jobs)
    done = _wait_all(hx, jobs)
    assert [job.status for job in done] == [JobStatus.SUCCESS] * 40
    assert [job.result for job in done] == [{"message": str(i)} for i in range(40)]
    assert hx.jobs.submit_many(user, []) == []


def test_one_bad_item_refuses_the_whole_batch_naming_each_bad_item(make_hx, database):
    hx = make_hx(database, start=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    items = [{"plugin": "echo", "params": {"message": "fine"}} for _ in range(6)]
    items[3] = {"plugin": "echo", "params": {"message": 42}}
    items[4] = {"plugin": "no-such-plugin"}
    items[5] = {"plugin": "echo", "priority": 1000, "colour": "red"}
    with pytest.raises(ValidationFailed) as caught:
        hx.jobs.submit_many(user, items)
    locs = {".".join(map(str, error["loc"])) for error in caught.value.errors}
    assert "jobs.3.params.message" in locs
    assert any(loc.startswith("jobs.4") for loc in locs)
    assert {"jobs.5.priority", "jobs.5.colour"} <= locs
    assert not any(loc.startswith(("jobs.0", "jobs.1", "jobs.2")) for loc in locs)
    assert _count(hx) == 0  # none recorded
    assert hx.queue.size() == 0  # none enqueued
    with pytest.raises(ValidationFailed):
        hx.jobs.submit_many(user, {"plugin": "echo"})  # not a list


def test_idempotency_keys_hold_per_item(make_hx, database):
    hx = make_hx(database, start=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    first = hx.jobs.submit(user, "echo", params={"message": "a"}, idempotency_key="k-a")
    batch = [{"plugin": "echo", "params": {"message": "a"}, "idempotency_key": "k-a"},
             {"plugin": "echo", "params": {"message": "b"}, "idempotency_key": "k-b"},
             {"plugin": "echo", "params": {"message": "c"}}]  # fmt: skip
    jobs = hx.jobs.submit_many(user, batch)
    assert jobs[0].id == first.id
    assert _count(hx) == 3
    again = hx.jobs.submit_many(user, batch)  # a retried batch: keyed items answer with the first jobs
    assert [again[0].id, again[1].id] == [first.id, jobs[1].id]
    assert again[2].id != jobs[2].id
    assert _count(hx) == 4
    assert hx.queue.size() == 4  # each recorded job enqueued once; the replayed ones not again

    reused = [{"plugin": "echo", "params": {"message": "new"}}, {"plugin": "echo", "params": {"message": "other"},
                                                                  "idempotency_key": "k-b"}]  # fmt: skip
    with pytest.raises(ValidationFailed) as caught:
        hx.jobs.submit_many(user, reused)
    assert [e["loc"] for e in caught.value.errors] == [["jobs", 1, "idempotency_key"]]
    twice = [{"plugin": "echo", "idempotency_key": "k-z"}, {"plugin": "echo", "idempotency_key": "k-z"}]
    with pytest.raises(ValidationFailed) as caught:
        hx.jobs.submit_many(user, twice)
    assert [e["loc"] for e in caught.value.errors] == [["jobs", 1, "idempotency_key"]]
    assert _count(hx) == 4  # neither refused batch recorded anything


@pytest.mark.parametrize("queue_kind", [pytest.param("redis", marks=pytest.mark.redis),
                                        pytest.param("postgres", marks=pytest.mark.postgres)])  # fmt: skip
def test_submit_many_through_the_shared_queues(make_hx, queue_kind, request):
    queue_url = request.getfixturevalue("redis_url" if queue_kind == "redis" else "postgres_url")
    hx = make_hx("postgres", queue_url=queue_url, workers=2)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    jobs = hx.jobs.submit_many(user, [{"plugin": "echo", "params": {"message": str(i)}} for i in range(100)])
    done = _wait_all(hx, jobs)
    assert [job.status for job in done] == [JobStatus.SUCCESS] * 100


def test_a_failed_enqueue_leaves_the_batch_pending_for_the_sweeper(make_hx):
    hx = make_hx(workers=0, sweeper=False, queue_url="redis://127.0.0.1:1/0")  # nothing listens there
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    jobs = hx.jobs.submit_many(user, [{"plugin": "echo"} for _ in range(3)])
    with hx.db.read() as session:
        rows = list(session.scalars(select(Job).where(Job.id.in_([job.id for job in jobs]))))
    assert len(rows) == 3
    assert all(row.status == JobStatus.PENDING and row.queued_at is None for row in rows)


@pytest.mark.postgres
def test_a_postgres_queue_in_the_same_database_takes_the_message_in_the_jobs_transaction(make_hx, postgres_url):
    hx = make_hx("postgres", queue_url=postgres_url, start=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    commits: list[int] = []
    queue_inserts: list[str] = []
    event.listen(hx.db.engine, "commit", lambda _conn: commits.append(1))
    event.listen(
        hx.db.engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_a: (
            queue_inserts.append(statement) if "helixnet_queue_task" in statement else None
        ),
    )
    hx.jobs.submit(user, "echo")
    hx.jobs.submit_many(user, [{"plugin": "echo"}] * 5)
    assert len(commits) == 2 and len(queue_inserts) == 2  # row and message in one transaction, once per call
    assert hx.queue.size() == 6
    with hx.db.connect() as conn:
        assert hx.queue.enqueue_in(conn, [("later", 0)])
        assert hx.queue.size() == 6  # not visible before the commit
    assert hx.queue.size() == 7
    assert hx.queue.dequeue_many(10)[-1] == "later"
    with pytest.raises(RuntimeError), hx.db.connect() as conn:  # a rolled-back transaction enqueues nothing
        assert hx.queue.enqueue_in(conn, [("never", 0)])
        raise RuntimeError("roll back")
    assert hx.queue.size() == 0
    with hx.db.read() as session:  # put the six taken above back, as the sweeper would
        hx.queue.enqueue_many([(job_id, 0) for job_id in session.scalars(select(Job.id))])
    hx.start(workers=1)
    with hx.db.read() as session:
        ids = list(session.scalars(select(Job.id)))
    assert {hx.jobs.wait(job_id, timeout=60).status for job_id in ids} == {JobStatus.SUCCESS}


def test_a_queue_elsewhere_is_enqueued_after_the_commit(make_hx):
    hx = make_hx(start=False)  # SQLite database and SQLite queue: not one transaction
    with hx.db.connect() as conn:
        assert hx.queue.enqueue_in(conn, [("x", 0)]) is False
    assert hx.queue.size() == 0
