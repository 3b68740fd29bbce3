"""The ``dask://`` executor against a real ``distributed.LocalCluster`` on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from helixnet import ComputePlugin, HelixNet, InputSpec, JobContext, JobStatus, NoParams

distributed = pytest.importorskip("distributed")


class SquareParams(BaseModel):
    n: int


class Squares(ComputePlugin):
    """Reads its input, reports progress, logs and writes an output, all from a Dask worker."""

    name = "squares"
    Params = SquareParams
    inputs = (InputSpec(name="content", required=False),)

    def run(self, ctx: JobContext, params: SquareParams) -> dict[str, Any]:
        from distributed import get_worker

        offset = int(ctx.inputs["content"].read_text()) if "content" in ctx.inputs else 0
        ctx.progress(0.5, "half way")
        ctx.log.info("computing on the cluster")
        values = [offset + i * i for i in range(params.n)]
        ctx.outputs.write_json("squares.json", values, main=True)
        return {"sum": sum(values), "dask_worker": get_worker().address}


class Forever(ComputePlugin):
    name = "forever"

    def run(self, ctx: JobContext, params: NoParams) -> str:
        ctx.progress(0.2, "started")
        while not ctx.wait(0.05):
            pass
        ctx.check_cancelled()
        return "stopped"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=":0") as local:  # fmt: skip
        yield local


@pytest.fixture
def dx(make_hx: Any, cluster: Any) -> HelixNet:
    address = cluster.scheduler_address.removeprefix("tcp://")
    hx = make_hx(start=False, job_max_retries=0, executors={"squares": f"dask://{address}",
                                                            "forever": f"dask://{address}"})  # fmt: skip
    hx.plugins.add(Squares)
    hx.plugins.add(Forever)
    hx.start(2)
    return hx


@pytest.fixture
def owner(dx: HelixNet) -> Any:
    return dx.users.create(email="ada@example.org", password="correct horse battery")


def test_a_job_runs_on_the_cluster_with_inputs_outputs_progress_and_log(dx: HelixNet, owner: Any, cluster: Any) -> None:
    content = dx.artifacts.create(owner, filename="offset.txt", data=b"1000")
    job = dx.jobs.wait(dx.jobs.submit(owner, "squares", params={"n": 5}, inputs={"content": content.id}).id, timeout=60)
    assert job.status == JobStatus.SUCCESS, job.error
    assert job.result["sum"] == 5 * 1000 + 0 + 1 + 4 + 9 + 16
    assert job.result["dask_worker"] in cluster.scheduler_info["workers"]
    assert [a.filename for a in job.artifacts] == ["squares.json"]
    assert (
        dx.artifacts.read_bytes(job.artifacts[0].id).replace(b" ", b"").replace(b"\n", b"")
        == b"[1000,1001,1004,1009,1016]"
    )
    assert "computing on the cluster" in [e.message for e in dx.jobs.events(job.id, owner)]


def test_cancel_and_timeout_reach_the_task(dx: HelixNet, owner: Any) -> None:
    job = dx.jobs.submit(owner, "forever")
    deadline = time.monotonic() + 30
    while dx.jobs.get(job.id, owner).progress < 0.2 and time.monotonic() < deadline:
        time.sleep(0.05)
    dx.jobs.cancel(job.id, owner)
    assert dx.jobs.wait(job.id, timeout=15).status == JobStatus.CANCELLED
    timed = dx.jobs.wait(dx.jobs.submit(owner, "forever", timeout=1).id, timeout=15)
    assert timed.status == JobStatus.FAILURE and timed.error.startswith("timed out after 1 s"), [
        e.message for e in dx.jobs.events(timed.id)
    ]


def test_an_unreachable_scheduler_fails_the_job_clearly(make_hx: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from helixnet.worker.executors import dask

    monkeypatch.setattr(dask, "CONNECT_TIMEOUT_SECONDS", 1.0)  # a real connection attempt, a shorter wait

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hx = make_hx(start=False, job_max_retries=0, executors={"squares": f"dask://127.0.0.1:{port}"})
    hx.plugins.add(Squares)
    hx.start(1)
    owner = hx.users.create(email="o@example.org", password="correct horse battery")
    job = hx.jobs.wait(hx.jobs.submit(owner, "squares", params={"n": 1}).id, timeout=60)
    assert job.status == JobStatus.FAILURE
    assert job.error.startswith(f"could not reach the Dask scheduler at tcp://127.0.0.1:{port}")


def test_the_dask_example_runs_as_written(tmp_path: Any) -> None:
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).parents[2] / "examples" / "dask_cluster.py"
    run = subprocess.run([sys.executable, str(example), "--limit", "5000"], capture_output=True, text=True,
                         timeout=180, cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert ": SUCCESS" in run.stdout and '"primes": 669' in run.stdout, run.stdout
    assert "8 chunks on 2 Dask worker(s)" in run.stdout
