"""The ``process`` executor through a real worker: a child per job, killed with its group at the timeout."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import time
from typing import Any

import psutil
import pytest
from pydantic import BaseModel

from helixnet import ComputePlugin, ConfigurationError, HelixNet, JobContext, JobStatus, NoParams

WORKER_PID = os.getpid()


class BurnParams(BaseModel):
    n: int = 200_000


class Burn(ComputePlugin):
    """CPU-bound work that reports progress, logs, writes an output and returns its pid."""

    name = "burn"
    executor = "process"
    Params = BurnParams

    def run(self, ctx: JobContext, params: BurnParams) -> dict[str, Any]:
        total = 0
        for i in range(params.n):
            total += i * i
        ctx.progress(0.5, "half way")
        ctx.log.info(f"summed {params.n} squares")
        ctx.outputs.write_text("sum.txt", str(total), main=True)
        (ctx.scratch_dir / "tmp").write_text("scratch")
        return {"pid": os.getpid(), "total": total, "scratch": str(ctx.scratch_dir)}


class Stuck(ComputePlugin):
    """Starts a grandchild, then ignores every request to stop (as a plugin stuck in C code would)."""

    name = "stuck"
    executor = "process"

    def run(self, ctx: JobContext, params: NoParams) -> None:
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        ctx.log.info(f"pids {os.getpid()} {grandchild.pid}")
        while True:
            time.sleep(0.05)


class Patient(ComputePlugin):
    """Waits politely until cancelled."""

    name = "patient"
    executor = "process"

    def run(self, ctx: JobContext, params: NoParams) -> str:
        ctx.progress(0.1, "waiting")
        ctx.wait(60)
        ctx.check_cancelled()
        return "not cancelled"


class CrashParams(BaseModel):
    how: str


class Crash(ComputePlugin):
    name = "crash"
    executor = "process"
    Params = CrashParams

    def run(self, ctx: JobContext, params: CrashParams) -> Any:
        if params.how == "exit":
            os._exit(3)
        if params.how == "segfault":
            ctypes.string_at(0)
        if params.how == "raise":
            raise KeyError("no such column: 'price'")
        return {"not json": {1, 2}}


PLUGINS = (Burn, Stuck, Patient, Crash)


@pytest.fixture
def px(make_hx: Any) -> HelixNet:
    hx = make_hx(start=False, job_max_retries=0)
    for plugin in PLUGINS:
        hx.plugins.add(plugin)
    hx.start(2)
    return hx


@pytest.fixture
def owner(px: HelixNet) -> Any:
    return px.users.create(email="ada@example.org", password="correct horse battery")


def _events(hx: HelixNet, user: Any, job_id: str) -> list[str]:
    return [event.message for event in hx.jobs.events(job_id, user)]


def test_a_plugin_runs_in_its_own_process_with_progress_log_and_outputs(px: HelixNet, owner: Any) -> None:
    job = px.jobs.wait(px.jobs.submit(owner, "burn").id, timeout=60)
    assert job.status == JobStatus.SUCCESS, job.error
    assert job.result["pid"] not in (WORKER_PID, os.getpid())
    assert job.result["total"] == sum(i * i for i in range(200_000))
    assert [a.filename for a in job.artifacts] == ["sum.txt"]
    assert px.artifacts.read_bytes(job.artifacts[0].id) == str(job.result["total"]).encode()
    assert "summed 200000 squares" in _events(px, owner, job.id)
    assert not os.path.exists(job.result["scratch"])  # the scratch folder went with the job


def test_the_timeout_kills_the_whole_process_group(px: HelixNet, owner: Any) -> None:
    submitted = px.jobs.submit(owner, "stuck", timeout=1.5)
    job = px.jobs.wait(submitted.id, timeout=30)
    assert job.status == JobStatus.FAILURE and job.error.startswith("timed out after 1.5 s"), job.error
    # From the plugin's first line (its child running) to the job's end: the claim and the forkserver's
    # first start, slow on a loaded machine, are not part of what the timeout enforces.
    first = next(e for e in px.jobs.events(job.id, owner) if e.message.startswith("pids "))
    assert job.finished_at is not None
    took = (job.finished_at - first.created_at).total_seconds()
    assert took < 1.5 + 3.0, took
    pids = first.message.split()[1:]
    deadline = time.monotonic() + 5
    while any(psutil.pid_exists(int(pid)) and psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE
              for pid in pids) and time.monotonic() < deadline:  # fmt: skip
        time.sleep(0.05)
    alive = [pid for pid in pids if psutil.pid_exists(int(pid))
             and psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE]  # fmt: skip
    assert not alive, f"still running: {alive}"


def test_cancel_reaches_the_child(px: HelixNet, owner: Any) -> None:
    job = px.jobs.submit(owner, "patient")
    deadline = time.monotonic() + 30
    while px.jobs.get(job.id, owner).progress < 0.1 and time.monotonic() < deadline:
        time.sleep(0.05)
    px.jobs.cancel(job.id, owner)
    done = px.jobs.wait(job.id, timeout=15)
    assert done.status == JobStatus.CANCELLED


@pytest.mark.parametrize(
    ("how", "error"),
    [
        ("exit", "the plugin's process exited with status 3 before it finished"),
        ("segfault", "the plugin's process was killed by SIGSEGV (exit status -11) before it finished"),
        ("raise", "KeyError: \"no such column: 'price'\""),
        ("result", "result is not JSON-serialisable: Object of type set is not JSON serializable"),
    ],
)
def test_a_crashing_child_fails_its_job_and_the_worker_carries_on(px: HelixNet, owner: Any, how: str,
                                                                  error: str) -> None:  # fmt: skip
    job = px.jobs.wait(px.jobs.submit(owner, "crash", params={"how": how}).id, timeout=30)
    assert job.status == JobStatus.FAILURE and job.error == error
    if how == "raise":  # the traceback is in the job's log, for its owner
        assert any("Traceback" in m and "KeyError" in m for m in _events(px, owner, job.id))
    after = px.jobs.wait(px.jobs.submit(owner, "burn", params={"n": 10}).id, timeout=30)
    assert after.status == JobStatus.SUCCESS


SCRIPT = """
import json, os, sys
from helixnet import ComputePlugin, HelixNet, NoParams, Settings

IMPORTED_IN = os.getpid()


class Where(ComputePlugin):
    name = "where"
    executor = "process"

    def run(self, ctx, params):
        return {"pid": os.getpid(), "parent": os.getppid(), "imported_in": IMPORTED_IN}


if __name__ == "__main__":
    hx = HelixNet(Settings(data_dir=sys.argv[1], bcrypt_rounds=4))
    hx.plugins.add(Where)
    hx.start(1)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    print(json.dumps([hx.jobs.wait(hx.jobs.submit(user, "where").id, timeout=60).result for _ in range(3)]))
    hx.stop()
"""


def test_a_scripts_plugin_is_imported_once_by_the_forkserver_not_by_every_child(tmp_path: Any) -> None:
    """Children fork from a server that imported the script (and helixnet) once: no per-job import."""
    script = tmp_path / "run_where.py"
    script.write_text(SCRIPT)
    ran = subprocess.run([sys.executable, str(script), str(tmp_path / "data")], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    results = json.loads(ran.stdout)
    assert len({r["pid"] for r in results}) == 3  # a child per job...
    assert {r["parent"] for r in results} == {r["imported_in"] for r in results}  # ...all forked from one server
    assert all(r["imported_in"] != r["pid"] for r in results)  # not imported again in each child


def test_helixnet_executors_overrides_the_plugins_choice(make_hx: Any) -> None:
    hx = make_hx(start=False, executors={"burn": "thread"})
    hx.plugins.add(Burn)
    hx.start(1)
    owner = hx.users.create(email="o@example.org", password="correct horse battery")
    job = hx.jobs.wait(hx.jobs.submit(owner, "burn", params={"n": 10}).id, timeout=30)
    assert job.status == JobStatus.SUCCESS and job.result["pid"] == os.getpid()


def test_an_unknown_executor_is_refused_at_start(make_settings: Any) -> None:
    with pytest.raises(ConfigurationError, match="plugin 'burn' names executor 'gpu'"):
        HelixNet(make_settings(executors={"burn": "gpu"}))


def test_memory_storage_cannot_reach_a_child(make_hx: Any) -> None:
    hx = make_hx(start=False, storage_url="memory://hx-test-proc", job_max_retries=0)
    hx.plugins.add(Burn)
    hx.start(1)
    owner = hx.users.create(email="m@example.org", password="correct horse battery")
    job = hx.jobs.wait(hx.jobs.submit(owner, "burn", params={"n": 10}).id, timeout=30)
    assert job.status == JobStatus.FAILURE and "cannot reach memory:// storage" in job.error
