"""``helixnet worker --processes P``: real supervisors and children, killed, stopped and cut off.

The reliability tests run on the two production shapes: PostgreSQL + Redis, and PostgreSQL as
database and queue; the crash-loop and orphan tests need no server. Executions are counted by the ``count`` test plugin (one O_APPEND line per start and end),
never by statuses.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from helixnet import JobStatus
from tests.core.test_worker_processes import _env

pytestmark = pytest.mark.slow

FAST = {"job_heartbeat_seconds": 0.2, "job_lost_after_seconds": 3.0, "sweep_interval_seconds": 0.2}
FINAL = {JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.CANCELLED}


@pytest.fixture(params=["redis", "postgres"])
def queue_url(request: pytest.FixtureRequest) -> str:
    """The queue of a production shape; the database is PostgreSQL in both."""
    if request.param == "redis":
        return request.getfixturevalue("redis_url")
    return request.getfixturevalue("postgres_url")


class Supervised:
    """One ``helixnet worker --processes P`` run, its output in a log file."""

    def __init__(self, hx, tmp_path: Path, processes: int, concurrency: int = 2, grace: float = 30) -> None:
        self.hx = hx
        self.log_path = tmp_path / f"supervisor-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "helixnet", "worker", "--processes", str(processes), "--concurrency",
             str(concurrency), "--grace", str(grace)],
            env=_env(hx), stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def children(self) -> set[int]:
        """Pids of the live child processes (from /proc: what really runs, not what the DB says)."""
        pids = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    pids.add(int(entry.name))
        return pids

    def registered(self) -> set[int]:
        """Pids of this supervisor's children that registered in the database and have not stopped."""
        return {w.pid for w in self.hx.workers.list() if w.stopped_at is None} & self.children()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)  # the second signal: stop now
            code = self.proc.wait(timeout=30)
        self.close()
        return code

    def close(self) -> None:
        self._log.close()


@pytest.fixture
def supervise(tmp_path):
    started: list[Supervised] = []

    def factory(hx, processes: int, **kw) -> Supervised:
        run = Supervised(hx, tmp_path, processes, **kw)
        started.append(run)
        return run

    yield factory
    for run in started:
        if run.proc.poll() is None:
            run.stop()
        run.close()


def _wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def _hx(make_hx, queue_url: str, **overrides):
    hx = make_hx("postgres", workers=0, sweeper=False, queue_url=queue_url, **{**FAST, **overrides})
    return hx, hx.users.create(email="ada@example.org", password="correct horse battery")


def _statuses(hx, ids: list[str]) -> Counter:
    return Counter(hx.jobs.get(job_id).status for job_id in ids)


@pytest.mark.postgres
def test_four_processes_drain_2000_jobs_exactly_once(make_hx, supervise, tmp_path, queue_url):
    hx, user = _hx(make_hx, queue_url)
    log = tmp_path / "count.log"
    # Submitted first, so that submitting and running do not share the two cores: the four
    # children start together and take from a deep queue, each a share.
    with ThreadPoolExecutor(4) as pool:  # round trips overlap: a quarter of the wall time
        ids = list(pool.map(lambda _: hx.jobs.submit(user, "count", params={"log": str(log)}).id, range(2000)))
    run = supervise(hx, 4, concurrency=2)

    def drained() -> bool:
        with hx.db.read() as session:
            done = session.execute(text("SELECT count(*) FROM jobs WHERE status = 'SUCCESS'")).scalar()
        return done == 2000

    _wait_until(drained, 120, "2000 jobs to finish")
    starts = Counter(entry[1] for entry in _lines(log) if entry[0] == "start")
    ends = Counter(entry[1] for entry in _lines(log) if entry[0] == "end")
    assert set(starts) == set(ids) == set(ends)
    assert max(starts.values()) == 1 and max(ends.values()) == 1  # every job ran exactly once
    assert run.stop() == 0


@pytest.mark.postgres
def test_a_killed_child_is_replaced_and_its_jobs_recovered_at_once(make_hx, supervise, tmp_path, queue_url):
    # A heartbeat limit far above the recovery we expect: the supervisor, not the sweeper, recovers.
    hx, user = _hx(make_hx, queue_url, job_lost_after_seconds=20.0)
    run = supervise(hx, 2, concurrency=2)
    _wait_until(lambda: len(run.registered()) == 2, 60, "two registered child processes")
    first_children = run.children()

    # The monitor and the API list both children: host, pid, started, heartbeat, jobs, current jobs.
    from starlette.testclient import TestClient

    from helixnet.api import create_app

    hx.users.create(email="root@example.org", password="correct horse battery", is_admin=True)
    with TestClient(create_app(hx)) as client:
        token = client.post("/api/v1/auth/token", data={"username": "root@example.org",
                                                        "password": "correct horse battery"}).json()  # fmt: skip
        rows = client.get("/api/v1/workers", headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    live = [row for row in rows if row["stopped_at"] is None]
    assert {row["pid"] for row in live} == first_children
    assert all(row["host"] and row["started_at"] and row["heartbeat_at"] and row["threads"] == 2 for row in live)
    assert all(row["jobs_done"] == 0 and row["current_jobs"] == [] for row in live)

    log = tmp_path / "count.log"
    retried = [hx.jobs.submit(user, "count", params={"log": str(log), "seconds": 4}, max_retries=1).id
               for _ in range(2)]  # fmt: skip
    once = [hx.jobs.submit(user, "count", params={"log": str(log), "seconds": 4}, max_retries=0).id for _ in range(2)]
    ids = retried + once
    _wait_until(lambda: _statuses(hx, ids)[JobStatus.RUNNING] == 4, 30, "all four jobs to run")
    held = Counter(int(hx.jobs.get(job_id).worker_id.split("/")[0].rsplit(":", 1)[1]) for job_id in ids)
    victim = held.most_common(1)[0][0]
    victims_jobs = [j for j in ids if hx.jobs.get(j).worker_id.startswith(f"{hx.worker_name.split(':')[0]}:{victim}/")]
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()

    def recovered() -> bool:
        return all(hx.jobs.get(j).status != JobStatus.RUNNING or hx.jobs.get(j).attempts == 2 for j in victims_jobs)

    _wait_until(recovered, 15, "the dead child's jobs to be recovered")
    assert time.monotonic() - killed < 20.0  # well inside HELIXNET_JOB_LOST_AFTER_SECONDS
    for job_id in victims_jobs:
        [event] = [e.message for e in hx.jobs.events(job_id) if e.source == "sweeper"]
        assert f":{victim}/" in event and "died" in event and "SIGKILL" in event
    # A new child takes the dead one's place.
    _wait_until(lambda: len(run.registered()) == 2 and victim not in run.children(), 60, "a replacement child")
    assert len(run.children() - first_children) == 1
    _wait_until(lambda: all(hx.jobs.get(j).status in FINAL for j in ids), 60, "every job to end")
    for job_id in ids:
        job = hx.jobs.get(job_id)
        if job_id not in victims_jobs:
            assert (job.status, job.attempts) == (JobStatus.SUCCESS, 1)
        elif job_id in retried:
            assert (job.status, job.attempts) == (JobStatus.SUCCESS, 2)  # finished by another child
        else:
            assert (job.status, job.error) == (JobStatus.FAILURE, "worker lost")
    ends = Counter(entry[1] for entry in _lines(log) if entry[0] == "end")
    assert max(ends.values()) == 1 and all(str(victim) != e[2] for e in _lines(log) if e[0] == "end")
    assert "restarting in" in run.output()
    assert run.stop() == 0


@pytest.mark.postgres
def test_sigterm_finishes_short_jobs_and_hands_long_ones_back(make_hx, supervise, tmp_path, queue_url):
    hx, user = _hx(make_hx, queue_url)
    run = supervise(hx, 2, concurrency=2, grace=3)
    _wait_until(lambda: len(run.registered()) == 2, 60, "two registered child processes")
    log = tmp_path / "count.log"
    short = [hx.jobs.submit(user, "count", params={"log": str(log), "seconds": 1}, max_retries=0).id
             for _ in range(2)]  # fmt: skip
    long = [hx.jobs.submit(user, "count", params={"log": str(log), "seconds": 30, "slow_first_run": True},
                           max_retries=0).id for _ in range(2)]  # fmt: skip
    _wait_until(lambda: _statuses(hx, short + long)[JobStatus.RUNNING] == 4, 30, "all four jobs to run")
    run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(timeout=3 + 20) == 0  # grace, then the hand-back: far less than the 30 s jobs
    run.stop()
    for job_id in short:
        assert hx.jobs.get(job_id).status == JobStatus.SUCCESS
    for job_id in long:
        job = hx.jobs.get(job_id)
        assert (job.status, job.attempts) == (JobStatus.PENDING, 0)
        assert any("handed back" in e.message and "on shutdown" in e.message for e in hx.jobs.events(job_id))
    # A new worker finishes the handed-back jobs (max_retries=0: the interrupted attempt did not count).
    again = supervise(hx, 1, concurrency=2)  # --processes 1: a plain worker process
    _wait_until(lambda: all(hx.jobs.get(j).status in FINAL for j in long), 60, "the handed-back jobs to end")
    assert all(hx.jobs.get(j).status == JobStatus.SUCCESS for j in long)
    starts = Counter(entry[1] for entry in _lines(log) if entry[0] == "start")
    ends = Counter(entry[1] for entry in _lines(log) if entry[0] == "end")
    assert all(starts[j] == 1 and ends[j] == 1 for j in short)
    assert all(starts[j] == 2 and ends[j] == 1 for j in long)  # interrupted once, finished once
    assert again.stop() == 0


@pytest.mark.postgres
def test_a_second_signal_stops_at_once(make_hx, supervise, tmp_path, redis_url):
    hx, user = _hx(make_hx, redis_url)
    run = supervise(hx, 2, concurrency=1, grace=120)
    _wait_until(lambda: len(run.registered()) == 2, 60, "two registered child processes")
    log = tmp_path / "count.log"
    ids = [hx.jobs.submit(user, "count", params={"log": str(log), "seconds": 60}).id for _ in range(2)]
    _wait_until(lambda: _statuses(hx, ids)[JobStatus.RUNNING] == 2, 30, "both jobs to run")
    run.proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert run.proc.poll() is None  # the first signal waits for the grace period
    started = time.monotonic()
    run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(timeout=30) == 0
    assert time.monotonic() - started < 30  # not the 120 s grace
    assert _statuses(hx, ids) == Counter({JobStatus.PENDING: 2})
    assert not [e for e in _lines(log) if e[0] == "end"]


@pytest.mark.postgres
def test_killed_database_connections_are_reopened(make_hx, supervise, tmp_path, queue_url):
    hx, user = _hx(make_hx, queue_url)
    run = supervise(hx, 2, concurrency=2)
    _wait_until(lambda: len(run.registered()) == 2, 60, "two registered child processes")
    children = run.children()
    log = tmp_path / "count.log"
    ids = [hx.jobs.submit(user, "count", params={"log": str(log), "seconds": 0.02}).id for _ in range(300)]
    admin = create_engine(hx.settings.resolved_database_url, isolation_level="AUTOCOMMIT")
    # Every connection the worker processes hold: their database pool (named by PGAPPNAME) and the
    # queue's own (named helixnet-queue; this test process's ones go too, which it survives).
    kill = text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND (application_name LIKE 'helixnet-worker %' "
                "OR application_name = 'helixnet-queue')")  # fmt: skip
    killed = []
    try:
        for _ in range(3):
            _wait_until(lambda: _lines(log), 30, "jobs to run")
            with admin.connect() as conn:
                killed.append(conn.execute(kill).scalar())
            time.sleep(1.0)
    finally:
        admin.dispose()
    assert killed[0] >= 2  # at least each child's database connection
    _wait_until(lambda: all(hx.jobs.get(j).status in FINAL for j in ids), 90, "every job to end")
    assert _statuses(hx, ids) == Counter({JobStatus.SUCCESS: 300})
    assert run.children() == children  # they carried on: no child died and was replaced
    assert run.stop() == 0


# A supervisor whose children are given by the test: crashing at once, or deaf to SIGTERM.
CUSTOM = """
import sys
from helixnet.commands import build_hx
from helixnet.logs import configure_logging
from helixnet.supervisor import Supervisor

class Custom(Supervisor):
    def child_command(self):
        return [sys.executable, "-c", sys.argv[1]]

configure_logging("text")
supervisor = Custom(build_hx(), processes=1, concurrency=1, grace=float(sys.argv[2]))
supervisor.stop_margin = 1.0
sys.exit(supervisor.run())
"""
CRASHING = [sys.executable, "-c", CUSTOM, "import sys; sys.exit(3)", "1"]
DEAF = [sys.executable, "-c", CUSTOM, "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('deaf', flush=True); time.sleep(120)", "0.5"]  # fmt: skip


def test_a_crash_looping_child_is_restarted_with_a_growing_back_off(make_hx, tmp_path):
    hx = make_hx(workers=0, sweeper=False)  # the embedded defaults: this needs no server
    out = tmp_path / "supervisor.log"
    with open(out, "wb") as log:
        proc = subprocess.Popen(CRASHING, env=_env(hx), stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until(lambda: "restarting in 2.0 s (3 crash(es) in a row)" in out.read_text(), 60, "three crashes")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
    text_ = out.read_text()
    assert "exited with code 3" in text_
    assert "restarting in 0.5 s (1 crash(es) in a row)" in text_ and "restarting in 1.0 s (2 crash(es)" in text_


def test_a_child_that_ignores_sigterm_is_killed_at_the_very_end(make_hx, tmp_path):
    hx = make_hx(workers=0, sweeper=False)
    out = tmp_path / "supervisor.log"
    with open(out, "wb") as log:
        proc = subprocess.Popen(DEAF, env=_env(hx), stdout=log, stderr=subprocess.STDOUT)
        _wait_until(lambda: "deaf" in out.read_text(), 60, "the child to ignore SIGTERM")
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 1  # not a clean stop
    assert time.monotonic() - stopped < 20  # grace 0.5 s + margin 1 s, not the child's 120 s
    assert "did not stop in time; killing it" in out.read_text()


def test_children_stop_by_themselves_when_their_supervisor_is_gone(make_hx, supervise):
    hx = make_hx(workers=0, sweeper=False, **FAST)
    run = supervise(hx, 2, concurrency=1)
    children = _wait_until(lambda: len(run.registered()) == 2 and run.children(), 60, "two registered children")
    run.proc.kill()  # no chance to forward anything
    run.proc.wait(timeout=10)

    def gone() -> bool:
        return not any(Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid) for pid in children)

    _wait_until(gone, 30, "the orphaned children to exit")
    rows = {w.pid: w for w in hx.workers.list()}
    assert all(rows[pid].stopped_at is not None for pid in children)  # a graceful stop, not a crash


def _state(pid: int) -> str:
    try:
        return "zombie" if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z" else "alive"
    except OSError:
        return "zombie"
