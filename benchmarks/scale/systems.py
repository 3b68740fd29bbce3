"""The systems under test, each a set of consumer processes plus an in-process submitter.

Every system offers ``start(procs)``, ``run(n, mode) -> Run``, ``latency(samples) -> [ms]`` and
``stop()``. Consumers stay up across the repeats of one worker count, so a run measures submit and
drain only, never process start-up.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import delete, func, select

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the consumers import baseline_apps as a top-level module; so do we
    sys.path.insert(0, str(HERE))

import baseline_apps  # noqa: E402
from counting_worker import COUNTS, install  # noqa: E402

from helixnet import HelixNet, Settings  # noqa: E402
from helixnet.core.models import ACTIVE_STATUSES, Job, JobEvent  # noqa: E402

install()  # this process's statements and commits (the submitter's) are counted too
DEADLINE_SECONDS = 300.0
KOMBU_DEADLINES = "_kombu.binding_deadlines"


@dataclass
class Run:
    jobs_per_s: float
    submit_s: float
    statements: int = 0  # the submitter's, this run
    commits: int = 0
    cpu: dict[str, float] = field(default_factory=dict)


def _wait(predicate: Any, what: str, timeout: float = DEADLINE_SECONDS, pause: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"benchmark: gave up waiting for {what}")
        time.sleep(pause)


def _terminate(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class HelixSystem:
    """``helixnet worker -c 1`` processes (P of them) on PostgreSQL, with a Redis or PostgreSQL queue."""

    def __init__(self, backend: str, db_url: str, redis_url: str, root: Path, queue_name: str) -> None:
        self.backend, self.root = backend, root
        queue_url = redis_url if backend == "postgres+redis" else db_url.replace("+psycopg", "")
        self.env = dict(os.environ, HELIXNET_DATA_DIR=str(root), HELIXNET_DATABASE_URL=db_url,
                        HELIXNET_QUEUE_URL=queue_url, HELIXNET_QUEUE_NAME=queue_name,
                        HELIXNET_STORAGE_URL=f"file://{root}/artifacts", HELIXNET_PLUGINS='["echo"]')  # fmt: skip
        root.mkdir(parents=True, exist_ok=True)
        settings = Settings(data_dir=root, database_url=db_url, queue_url=queue_url, queue_name=queue_name,
                            storage_url=f"file://{root}/artifacts", plugins=["echo"], bcrypt_rounds=4,
                            workers=0, sweeper=False)  # fmt: skip
        self.hx = HelixNet(settings)
        self.hx.migrate()
        self.user = self.hx.users.create(
            email=f"bench-{backend.replace('+', '-')}@example.org", password="bench password"
        )
        self.procs: list[subprocess.Popen[bytes]] = []
        self.worker_counts = {"statements": 0, "commits": 0}
        self.jobs_done = 0

    @property
    def name(self) -> str:
        return f"helixnet {self.backend}"

    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

    def start(self, procs: int) -> None:
        ready: list[threading.Event] = []
        for index in range(procs):
            env = dict(self.env, BENCH_COUNT_FILE=str(self.root / f"counts-{index}.json"))
            log = open(self.root / f"worker-{index}.log", "ab")  # noqa: SIM115 - the child holds it
            proc = subprocess.Popen([sys.executable, str(HERE / "counting_worker.py"), "worker", "-c", "1"],
                                    env=env, stdout=subprocess.PIPE, stderr=log)  # fmt: skip
            event = threading.Event()
            threading.Thread(target=_watch_banner, args=(proc, event), daemon=True).start()
            self.procs.append(proc)
            ready.append(event)
        _wait(lambda: all(e.is_set() for e in ready), f"{procs} helixnet workers to start", timeout=120, pause=0.05)

    def run(self, n: int, mode: str) -> Run:
        with self.hx.db.write() as session:  # a fresh table each run, as in every other system
            session.execute(delete(JobEvent))
            session.execute(delete(Job))
        before = dict(COUNTS)
        start = time.perf_counter()
        if mode == "many":
            self.hx.jobs.submit_many(self.user, [{"plugin": "echo", "params": {"message": str(i)}} for i in range(n)])
        else:
            for i in range(n):
                self.hx.jobs.submit(self.user, "echo", params={"message": str(i)})
        submitted = time.perf_counter() - start
        stmts, commits = COUNTS["statements"] - before["statements"], COUNTS["commits"] - before["commits"]
        active = select(func.count()).select_from(Job).where(Job.status.in_([s.value for s in ACTIVE_STATUSES]))

        def drained() -> bool:
            with self.hx.db.read() as session:
                return not session.scalar(active)

        _wait(drained, f"{self.name} to drain")
        elapsed = time.perf_counter() - start
        self.jobs_done += n
        return Run(n / elapsed, submitted, stmts, commits)

    def latency(self, samples: int) -> list[float]:
        found = []
        for _ in range(samples):
            job = self.hx.jobs.submit(self.user, "echo")
            done = self.hx.jobs.wait(job.id, timeout=30)
            assert done.started_at is not None
            found.append((done.started_at - job.created_at).total_seconds() * 1000)
            self.jobs_done += 1
            time.sleep(0.02)  # the worker goes idle again
        return found

    def stop(self) -> None:
        _terminate(self.procs)
        for index in range(len(self.procs)):
            path = self.root / f"counts-{index}.json"
            if path.exists():
                counts = json.loads(path.read_text())
                path.unlink()
                for key in self.worker_counts:
                    self.worker_counts[key] += counts[key]
        self.procs = []

    def close(self) -> None:
        self.hx.stop()


def _watch_banner(proc: subprocess.Popen[bytes], ready: threading.Event) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(b"helixnet worker"):
            ready.set()


class BaselineSystem:
    """Celery prefork (with or without its database result backend) or huey's consumer, on the same Redis."""

    def __init__(self, kind: str, redis_url: str, queue: str, root: Path, result_backend: str | None = None) -> None:
        self.kind, self.queue, self.root = kind, queue, root
        self.redis = redis.Redis.from_url(redis_url)
        self.env = dict(os.environ, BENCH_REDIS_URL=redis_url, BENCH_QUEUE=queue,
                        BENCH_RESULT_BACKEND=result_backend or "", PYTHONPATH=str(HERE))  # fmt: skip
        if kind == "huey":
            self.app, self.noop, self.mark = baseline_apps.make_huey(queue)
        else:
            self.app, self.noop, self.mark = baseline_apps.make_celery(queue, result_backend)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.done_key, self.started_key = f"{queue}:done", f"{queue}:started"

    @property
    def name(self) -> str:
        return self.kind

    def pids(self) -> list[int]:
        import psutil

        found = []
        for proc in self.procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                found += [proc.pid] + [child.pid for child in psutil.Process(proc.pid).children(recursive=True)]
        return found

    def start(self, procs: int) -> None:
        if self.kind == "huey":
            cmd = [
                sys.executable,
                "-m",
                "huey.bin.huey_consumer",
                "baseline_apps.huey",
                "-w",
                str(procs),
                "-k",
                "process",
                "-n",
            ]
        else:
            cmd = [sys.executable, "-m", "celery", "-A", "baseline_apps:app", "worker", "-c", str(procs), "-P", "prefork",
                   "-Q", self.queue, "-n", f"{self.queue}@%h", "--without-gossip", "--without-mingle",
                   "--without-heartbeat", "-l", "warning"]  # fmt: skip
        log = open(self.root / f"{self.queue}.log", "ab")  # noqa: SIM115 - the child holds it
        self.procs.append(subprocess.Popen(cmd, env=self.env, cwd=HERE, stdout=log, stderr=subprocess.STDOUT))
        self.redis.delete(self.done_key)
        self.noop(self.done_key) if self.kind == "huey" else self.noop.delay(self.done_key)
        _wait(lambda: int(self.redis.get(self.done_key) or 0) >= 1, f"{self.kind} to start", timeout=120, pause=0.05)
        time.sleep(0.5 * procs)  # every pool process up, not only the first

    def _send(self, task: Any, *args: Any) -> None:
        task(*args) if self.kind == "huey" else task.delay(*args)

    def run(self, n: int, mode: str) -> Run:
        self.redis.delete(self.done_key)
        start = time.perf_counter()
        for _ in range(n):
            self._send(self.noop, self.done_key)
        submitted = time.perf_counter() - start
        _wait(lambda: int(self.redis.get(self.done_key) or 0) >= n, f"{self.kind} to drain")
        return Run(n / (time.perf_counter() - start), submitted)

    def latency(self, samples: int) -> list[float]:
        self.redis.delete(self.started_key)
        for i in range(samples):
            self._send(self.mark, self.started_key, time.time())
            _wait(lambda i=i: self.redis.llen(self.started_key) > i, f"{self.kind} latency sample", timeout=30)
            time.sleep(0.02)
        return [float(v) * 1000 for v in self.redis.lrange(self.started_key, 0, -1)]

    def stop(self) -> None:
        _terminate(self.procs)
        self.procs = []

    def close(self) -> None:
        for key in self.redis.scan_iter(match=f"*{self.queue}*"):
            self.redis.delete(key)
        # kombu's pidbox binding deadline names no queue of ours; drop it when it holds nothing else.
        if self.kind != "huey" and set(self.redis.zrange(KOMBU_DEADLINES, 0, -1)) <= {b"celery.pidbox"}:
            self.redis.delete(KOMBU_DEADLINES)
