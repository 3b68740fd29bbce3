"""The same Redis adapter keeps working across a Redis restart.

Never touches the shared Redis on 6379: starts a private, memory-only ``redis-server`` on
a free port, kills it and starts it again on the same port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from helixnet.errors import QueueUnavailable
from helixnet.queue import open_queue

pytestmark = pytest.mark.redis


class PrivateRedis:
    def __init__(self, executable: str, workdir: Path) -> None:
        self.executable = executable
        self.workdir = workdir
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2, socket_timeout=0.2)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("redis-server is not on PATH")
    server = PrivateRedis(executable, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_the_same_adapter_works_again_after_redis_restarts(private_redis: PrivateRedis) -> None:
    queue = open_queue(private_redis.url, name=f"test_{uuid.uuid4().hex}")
    try:
        queue.enqueue("before")
        assert queue.dequeue(timeout=1.0) == "before"

        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(queue.dequeue, 10.0)  # blocked in BZPOPMIN when Redis dies
            time.sleep(0.1)
            private_redis.kill()
            with pytest.raises(QueueUnavailable):
                waiting.result(timeout=5)

        start = time.monotonic()
        with pytest.raises(QueueUnavailable):
            queue.enqueue("while-down")
        with pytest.raises(QueueUnavailable):
            queue.dequeue(timeout=1.0)
        with pytest.raises(QueueUnavailable):
            queue.size()
        assert time.monotonic() - start < 3.0

        private_redis.start()
        queue.enqueue("after")
        assert queue.size() == 1
        assert queue.dequeue(timeout=1.0) == "after"
        with ThreadPoolExecutor(1) as pool:  # and a blocking pop wakes on an enqueue again
            waiting = pool.submit(queue.dequeue, 5.0)
            time.sleep(0.1)
            queue.enqueue("after-2")
            assert waiting.result(timeout=5) == "after-2"

        # A restart nobody noticed: the pool still holds connections to the old server.
        private_redis.kill()
        private_redis.start()
        queue.enqueue("after-quiet-restart")
        assert queue.dequeue(timeout=1.0) == "after-quiet-restart"
    finally:
        queue.close()
