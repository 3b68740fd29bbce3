"""Executors: what running a plugin in a child process (or on Dask) costs, and what it buys.

    python benchmarks/executors.py                  # thread vs process vs dask (LocalCluster on loopback)
    python benchmarks/executors.py --jobs 100 --no-dask

Two tables, all executors measured in the same run on the embedded defaults (SQLite, local folder):
- overhead: N no-op jobs one after another through one worker thread; milliseconds per job from
  submit to SUCCESS (median and p95), and the ratio against ``thread``, the baseline;
- CPU-bound: 4 jobs of pure-Python arithmetic at once on 2 worker threads; wall time and the
  speed-up over ``thread`` (the GIL serialises threads; processes run side by side).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Any

from pydantic import BaseModel

from helixnet import ComputePlugin, HelixNet, JobContext, JobStatus, NoParams, Settings


class Noop(ComputePlugin):
    name = "noop"

    def run(self, ctx: JobContext, params: NoParams) -> int:
        return os.getpid()


class BurnParams(BaseModel):
    n: int


class Burn(ComputePlugin):
    name = "burn"
    Params = BurnParams

    def run(self, ctx: JobContext, params: BurnParams) -> int:
        total = 0
        for i in range(params.n):
            total += i * i % 7
        return total


def _instance(data_dir: str, executor: str, threads: int) -> HelixNet:
    hx = HelixNet(Settings(data_dir=data_dir, workers=0, bcrypt_rounds=4,
                           executors={"noop": executor, "burn": executor}))  # fmt: skip
    hx.plugins.add(Noop)
    hx.plugins.add(Burn)
    hx.start(threads)
    return hx


def overhead(executor: str, jobs: int) -> list[float]:
    with tempfile.TemporaryDirectory() as data_dir:
        hx = _instance(data_dir, executor, 1)
        try:
            user = hx.users.create(email="bench@example.org", password="benchmark password")
            hx.jobs.wait(hx.jobs.submit(user, "noop").id, timeout=120)  # warm-up: forkserver, Dask client
            times = []
            for _ in range(jobs):
                start = time.perf_counter()
                done = hx.jobs.wait(hx.jobs.submit(user, "noop").id, timeout=120)
                times.append((time.perf_counter() - start) * 1000)
                assert done.status == JobStatus.SUCCESS, done.error
            return times
        finally:
            hx.stop()


def cpu_bound(executor: str, n: int) -> float:
    with tempfile.TemporaryDirectory() as data_dir:
        hx = _instance(data_dir, executor, 2)
        try:
            user = hx.users.create(email="bench@example.org", password="benchmark password")
            hx.jobs.wait(hx.jobs.submit(user, "noop").id, timeout=120)
            start = time.perf_counter()
            ids = [hx.jobs.submit(user, "burn", params={"n": n}).id for _ in range(4)]
            for job_id in ids:
                done = hx.jobs.wait(job_id, timeout=600)
                assert done.status == JobStatus.SUCCESS, done.error
            return time.perf_counter() - start
        finally:
            hx.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--burn", type=int, default=3_000_000, help="loop iterations per CPU-bound job")
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    executors = ["thread", "process"]
    cluster: Any = None
    if not args.no_dask:
        from distributed import LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0")
        executors.append("dask://" + cluster.scheduler_address.removeprefix("tcp://"))
    try:
        print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}\n")
        print(f"| executor | {args.jobs} no-op jobs: median ms | p95 ms | ratio to thread |")
        print("|---|---|---|---|")
        base = None
        for executor in executors:
            times = sorted(overhead(executor, args.jobs))
            median, p95 = statistics.median(times), times[int(0.95 * (len(times) - 1))]
            base = base or median
            print(f"| {executor.split('://')[0]} | {median:.1f} | {p95:.1f} | {median / base:.2f}x |")
        print("\n| executor | 4 CPU-bound jobs on 2 worker threads: wall s | speed-up over thread |")
        print("|---|---|---|")
        base = None
        for executor in executors:
            wall = cpu_bound(executor, args.burn)
            base = base or wall
            print(f"| {executor.split('://')[0]} | {wall:.2f} | {base / wall:.2f}x |")
    finally:
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    main()
