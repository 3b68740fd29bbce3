"""One contract, run against every queue adapter: memory, SQLite file, Redis and PostgreSQL.

Redis tests use 127.0.0.1:6379 with a unique queue name each, flushed afterwards; PostgreSQL
tests a database of the session's own on 127.0.0.1:5432. When a server does not answer its tests
are skipped with the reason, except in CI (``CI=true``), where a missing server fails the run.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

import helixnet.queue
from helixnet.errors import ConfigurationError, QueueUnavailable
from helixnet.queue import (
    TASK_NAME,
    MemoryHueyQueue,
    Queue,
    RedisHueyQueue,
    SqliteHueyQueue,
    open_queue,
    queue_schemes,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


def require_redis() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis at {REDIS_URL} is not answering ({exc})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must provide it")
        pytest.skip(message)
    finally:
        client.close()


@dataclass
class Backend:
    kind: str
    url: str
    name: str
    data_dir: Path

    def open(self, **options: object) -> Queue:
        return open_queue(self.url, name=self.name, data_dir=self.data_dir, options=options)


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis),
                        pytest.param("postgres", marks=pytest.mark.postgres)])  # fmt: skip
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "redis":
        require_redis()
    if request.param == "postgres":  # a database of this session's own (conftest's postgres_url)
        url = request.getfixturevalue("postgres_url")
    else:
        url = {"memory": "memory://", "sqlite": f"sqlite://{tmp_path}/queue.db", "redis": REDIS_URL}[request.param]
    return Backend(request.param, url, f"test_{uuid.uuid4().hex}", tmp_path)


@pytest.fixture
def queue(backend: Backend):
    opened = backend.open()
    yield opened
    opened.flush()
    opened.close()


def drain(queue: Queue, count: int) -> list[str | None]:
    return [queue.dequeue(timeout=1.0) for _ in range(count)]


# -- the contract ---------------------------------------------------------------------------------


def test_round_trip(queue: Queue) -> None:
    queue.enqueue("job-1")
    assert queue.dequeue(timeout=1.0) == "job-1"
    assert queue.dequeue() is None


def test_fifo_within_a_priority(queue: Queue) -> None:
    ids = [f"job-{i}" for i in range(50)]
    for job_id in ids:
        queue.enqueue(job_id)
    assert drain(queue, 50) == ids


def test_higher_priority_first(queue: Queue) -> None:
    assert queue.priority
    for job_id, priority in [("low", 0), ("high", 10), ("mid", 5), ("neg", -3), ("low2", 0), ("high2", 10)]:
        queue.enqueue(job_id, priority=priority)
    assert drain(queue, 6) == ["high", "high2", "mid", "low", "low2", "neg"]


def test_dequeue_waits_about_the_timeout_then_returns_none(queue: Queue) -> None:
    start = time.monotonic()
    assert queue.dequeue() is None
    assert time.monotonic() - start < 0.1  # timeout=0 looks once
    start = time.monotonic()
    assert queue.dequeue(timeout=0.3) is None
    assert 0.28 <= time.monotonic() - start < 0.6


def test_waiting_dequeue_returns_as_soon_as_another_thread_enqueues(queue: Queue) -> None:
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(queue.dequeue, 5.0)
        time.sleep(0.1)  # let it wait
        start = time.monotonic()
        queue.enqueue("wake-me")
        assert waiting.result(timeout=5) == "wake-me"
        assert time.monotonic() - start < 0.2


def test_an_enqueue_in_this_process_wakes_a_waiter_without_waiting_for_a_poll(backend: Backend) -> None:
    # A poll 4 s apart (Redis wants it under its 5 s socket timeout) against a wake-up within 1 s:
    # far enough apart to tell them apart, and to hold on a loaded machine.
    with backend.open(poll_interval=4.0) as queue, ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(queue.dequeue, 20.0)
        time.sleep(0.2)
        start = time.monotonic()
        queue.enqueue("wake-me")
        assert waiting.result(timeout=20) == "wake-me"
        assert time.monotonic() - start < 1.0


def test_wake_all_releases_every_waiter_and_is_not_sticky(queue: Queue) -> None:
    with ThreadPoolExecutor(3) as pool:
        waiting = [pool.submit(queue.dequeue, 10.0) for _ in range(3)]
        time.sleep(0.2)
        start = time.monotonic()
        queue.wake_all()
        assert [w.result(timeout=5) for w in waiting] == [None, None, None]
        assert time.monotonic() - start < 0.5
    queue.enqueue("after-wake")
    assert queue.dequeue(timeout=1.0) == "after-wake"


def test_close_releases_waiters_and_stops_the_adapter(backend: Backend) -> None:
    closing = backend.open()
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(closing.dequeue, 10.0)
        time.sleep(0.2)
        closing.close()
        assert waiting.result(timeout=1) is None
    assert closing.dequeue(timeout=1.0) is None
    with pytest.raises(QueueUnavailable):
        closing.enqueue("too-late")
    closing.close()  # twice is fine


def test_concurrent_dequeuers_get_each_id_exactly_once(queue: Queue) -> None:
    ids = [f"job-{i}" for i in range(500)]
    got: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            job_id = queue.dequeue(timeout=0.1)
            if job_id is not None:
                with lock:
                    got.append(job_id)

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for job_id in ids:
            queue.enqueue(job_id)
        deadline = time.monotonic() + 30
        while len(got) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    duplicates = [job_id for job_id, n in Counter(got).items() if n > 1]
    assert duplicates == []
    assert sorted(got) == sorted(ids)


def test_enqueue_many_keeps_order_within_a_priority_and_dequeue_many_takes_them_in_queue_order(queue: Queue) -> None:
    queue.enqueue_many([("a", 0), ("b", 5), ("c", 0), ("d", 5)])
    queue.enqueue("e")
    queue.enqueue_many([])
    assert queue.size() == 5
    assert queue.dequeue_many(10, timeout=1.0) == ["b", "d", "a", "c", "e"]
    assert queue.dequeue_many(10) == []


def test_dequeue_many_waits_only_for_the_first_and_takes_at_most_limit(queue: Queue) -> None:
    start = time.monotonic()
    assert queue.dequeue_many(5, timeout=0.3) == []
    assert 0.28 <= time.monotonic() - start < 1.0
    ids = [f"job-{i}" for i in range(7)]
    queue.enqueue_many([(job_id, 0) for job_id in ids])
    assert [queue.dequeue_many(3, timeout=1.0) for _ in range(3)] == [ids[:3], ids[3:6], ids[6:]]
    with ThreadPoolExecutor(1) as pool:  # an enqueue_many wakes a waiter as an enqueue does
        waiting = pool.submit(queue.dequeue_many, 4, 5.0)
        time.sleep(0.1)
        queue.enqueue_many([("w1", 0), ("w2", 0)])
        assert waiting.result(timeout=5)[0] == "w1"


def test_concurrent_dequeue_many_gets_each_id_exactly_once(queue: Queue) -> None:
    ids = [f"job-{i}" for i in range(500)]
    got: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            taken = queue.dequeue_many(8, timeout=0.1)
            with lock:
                got.extend(taken)

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for start in range(0, len(ids), 50):
            queue.enqueue_many([(job_id, 0) for job_id in ids[start : start + 50]])
        deadline = time.monotonic() + 30
        while len(got) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert [job_id for job_id, n in Counter(got).items() if n > 1] == []
    assert sorted(got) == sorted(ids)


def test_size_and_flush(queue: Queue) -> None:
    assert queue.size() == 0
    for job_id in ("a", "b", "c"):
        queue.enqueue(job_id)
    assert queue.size() == 3
    assert queue.dequeue(timeout=1.0) == "a"
    assert queue.size() == 2
    queue.flush()
    assert queue.size() == 0
    assert queue.dequeue() is None


def test_messages_are_json_naming_the_task(queue: Queue) -> None:
    assert isinstance(queue, helixnet.queue.HueyQueue)
    queue.enqueue("job-1", priority=3)
    (raw,) = queue.huey.storage.enqueued_items()
    message = json.loads(bytes(raw))["message"]
    assert message[1] == TASK_NAME
    assert message[6] == ["job-1"]  # Message.args


def test_unreadable_messages_are_skipped_and_never_unpickled(
    queue: Queue, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert isinstance(queue, helixnet.queue.HueyQueue)
    marker = tmp_path / "unpickled"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    garbage = [b"\x00not json", b'{"message": [1]}', b'"a string"', pickle.dumps(Exploit())]
    for data in garbage:
        queue.huey.storage.enqueue(data, 0)
    queue.enqueue("good")
    assert queue.dequeue(timeout=1.0) == "good"
    assert not marker.exists()
    assert queue.size() == 0
    assert sum("unreadable message" in r.getMessage() for r in caplog.records) == len(garbage)


CHILD = textwrap.dedent("""
    import sys, time
    from helixnet.queue import open_queue
    queue = open_queue(sys.argv[1], name=sys.argv[2], data_dir=sys.argv[3])
    queue.enqueue("child-" + repr(time.time()))
    queue.close()
""")


def _timed_dequeue(queue: Queue, timeout: float) -> tuple[str | None, float]:
    """When the waiter itself got its id: timing after the child exits would add its interpreter's exit."""
    job_id = queue.dequeue(timeout)
    return job_id, time.time()


def test_another_process_sees_the_queue_exactly_when_shared(backend: Backend, queue: Queue) -> None:
    with ThreadPoolExecutor(3) as pool:
        # The first waiter is the one polling the storage; when it leaves, another must take over.
        first = pool.submit(queue.dequeue, 0.3)
        time.sleep(0.1)
        waiters = [pool.submit(_timed_dequeue, queue, 10.0) for _ in range(2)]
        assert first.result(timeout=5) is None
        child = subprocess.run(
            [sys.executable, "-c", CHILD, backend.url, backend.name, str(backend.data_dir)],
            capture_output=True, text=True, timeout=60,
        )
        assert child.returncode == 0, child.stderr
        done, _ = wait(waiters, timeout=5.0 if queue.shared else 0.2, return_when=FIRST_COMPLETED)
        queue.wake_all()
        got = [taken for taken in (w.result(timeout=5) for w in waiters) if taken[0] is not None]
    if not queue.shared:
        assert got == []  # process-local, as its flag says
        return
    assert done and len(got) == 1 and got[0][0].startswith("child-")
    job_id, arrived = got[0]
    assert arrived - float(job_id.removeprefix("child-")) < 0.5


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.redis),
                        pytest.param("postgres", marks=pytest.mark.postgres)])  # fmt: skip
def blocking_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "redis":
        require_redis()
        return Backend("redis", REDIS_URL, f"test_{uuid.uuid4().hex}", tmp_path)
    return Backend("postgres", request.getfixturevalue("postgres_url"), f"test_{uuid.uuid4().hex}", tmp_path)


def test_a_blocking_queue_hears_another_process_without_polling(blocking_backend: Backend) -> None:
    """Each wait lasts 4 s on the server (BZPOPMIN, LISTEN): an arrival well within it was pushed to us."""
    with blocking_backend.open(poll_interval=4.0) as queue, ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(_timed_dequeue, queue, 20.0)
        time.sleep(0.3)  # the waiter is inside its 4 s server-side wait
        child = subprocess.run(
            [sys.executable, "-c", CHILD, blocking_backend.url, blocking_backend.name, str(blocking_backend.data_dir)],
            capture_output=True, text=True, timeout=60,
        )
        assert child.returncode == 0, child.stderr
        job_id, arrived = waiting.result(timeout=20)
    assert job_id is not None and job_id.startswith("child-")
    assert arrived - float(job_id.removeprefix("child-")) < 1.0


@pytest.mark.postgres
def test_postgres_queue_carries_on_after_its_connections_are_killed(postgres_url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    queue = open_queue(postgres_url, name=f"test_{uuid.uuid4().hex}")
    try:
        queue.enqueue("before")
        assert queue.dequeue(timeout=0.5) == "before"
        assert queue.dequeue(timeout=0.3) is None  # a LISTEN connection exists now too
        url = make_url(postgres_url)
        with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database) as admin:
            killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE datname = %s AND application_name = 'helixnet-queue'",
                                   (url.database,)).fetchone()  # fmt: skip
        assert killed is not None and killed[0] >= 2
        outcomes = []
        for attempt in range(3):  # a call may fail once with QueueUnavailable; the next one reconnects
            try:
                queue.enqueue(f"after-{attempt}")
                outcomes.append(queue.dequeue(timeout=1.0))
                break
            except QueueUnavailable:
                outcomes.append("unavailable")
        assert outcomes[-1] is not None and outcomes[-1].startswith("after-"), outcomes
        assert outcomes.count("unavailable") <= 2
    finally:
        queue.flush()
        queue.close()


def test_capability_flags(backend: Backend, queue: Queue) -> None:
    expected = {"memory": (False, False), "sqlite": (True, False), "redis": (True, True), "postgres": (True, True)}
    assert (queue.shared, queue.blocking) == expected[backend.kind]
    assert queue.priority


# -- Redis down --------------------------------------------------------------------------------------


def test_unreachable_redis_raises_queue_unavailable_quickly() -> None:
    queue = open_queue("redis://127.0.0.1:1/0", name=f"test_{uuid.uuid4().hex}")
    try:
        for call in (lambda: queue.enqueue("x"), lambda: queue.dequeue(timeout=1.0), queue.size):
            start = time.monotonic()
            with pytest.raises(QueueUnavailable) as caught:
                call()
            assert time.monotonic() - start < 2.0
            assert isinstance(caught.value.__cause__, redis.RedisError)
    finally:
        queue.close()


# -- the registry --------------------------------------------------------------------------------------


def test_open_queue_finds_the_built_ins_by_entry_point(tmp_path: Path) -> None:
    assert {"memory", "postgres", "postgresql", "postgresql+psycopg", "redis", "rediss", "sqlite"} <= set(queue_schemes())
    with open_queue("memory://") as memory:
        assert type(memory) is MemoryHueyQueue
    with open_queue("sqlite://", data_dir=tmp_path / "data", options={"poll_interval": 0.02}) as sqlite:
        assert type(sqlite) is SqliteHueyQueue
        assert sqlite.path == tmp_path / "data" / "queue.db"
        assert sqlite.path.exists()
    with open_queue("redis://127.0.0.1:1/0", name="anything") as redis_queue:  # opening does not connect
        assert type(redis_queue) is RedisHueyQueue


def test_unknown_scheme_names_it_and_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as caught:
        open_queue("nosuch://user:s3cret@host/0")
    message = str(caught.value)
    assert "'nosuch'" in message
    assert "memory, postgres, postgresql, postgresql+psycopg, redis, rediss, sqlite" in message
    assert "s3cret" not in message
    with pytest.raises(ConfigurationError, match="known schemes"):
        open_queue("no-scheme-at-all")


@pytest.mark.parametrize(
    ("url", "options", "match"),
    [
        ("sqlite://", None, "data_dir"),
        ("sqlite://somehost/queue.db", None, "sqlite:///absolute"),
        ("memory://", {"bogus": 1}, "bogus"),
        ("memory://", {"poll_interval": 0}, "poll_interval"),
        ("redis://127.0.0.1:1/0", {"poll_interval": 10}, "socket_timeout"),
        ("postgresql://nobody:s3cret@127.0.0.1:1/none", {"connect_timeout": 1}, "cannot open the PostgreSQL queue"),
    ],
)
def test_settings_that_cannot_work_are_configuration_errors(
    url: str, options: dict | None, match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        open_queue(url, options=options)


def test_public_names_are_sorted() -> None:
    names = helixnet.queue.__all__
    assert names == sorted(names)
    assert all(hasattr(helixnet.queue, name) for name in names)
