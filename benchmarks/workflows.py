"""Workflows (issue 13): a fan-out/fan-in of 1,000 jobs, 1 -> 1,000 -> 1, end to end.

    python benchmarks/workflows.py                          # SQLite DB and queue (the defaults), 5 runs
    python benchmarks/workflows.py --backend sqlite postgres --runs 5 --threads 4
    python benchmarks/workflows.py --backend postgres --postgres-admin-url postgresql://postgres@127.0.0.1/postgres

Each run submits the whole graph before a worker starts: a root ``echo`` job, 1,000 ``echo``
children ``after`` it (one ``submit_many``) and one ``echo`` job ``after`` all 1,000. Then the
embedded worker threads start and the run ends when the last job is final. Reported per backend,
medians over the runs:

- fan-in release: the last parent's ``finished_at`` to the fan-in child's ``started_at`` (goal
  median < 50 ms): the settle in the parent's outcome transaction, the enqueue after its commit,
  and a worker's claim;
- fan-out release: the root's ``finished_at`` to the first child's ``started_at``;
- wall time: workers started to the fan-in child final; submit: recording the graph.

``postgres`` uses PostgreSQL as database and queue (huey's PostgreSQL storage), in a ``bench_*``
database of its own that is dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from helixnet import HelixNet, JobStatus, Settings
from helixnet.core.models import Job


@dataclass
class Run:
    submit_s: float
    wall_s: float
    fan_out_ms: float
    fan_in_ms: float


def one_run(settings: Settings, width: int, threads: int) -> Run:
    hx = HelixNet(settings)
    hx.migrate()
    try:
        user = hx.users.create(email=f"bench-{uuid.uuid4().hex[:8]}@example.org", password="benchmark password")
        began = time.perf_counter()
        root = hx.jobs.submit(user, "echo", params={"message": "root"})
        middle = hx.jobs.submit_many(user, [{"plugin": "echo", "after": [root.id]} for _ in range(width)])
        last = hx.jobs.submit(user, "echo", after=[job.id for job in middle])
        submitted = time.perf_counter()
        hx.start(threads)
        done = hx.jobs.wait(last.id, timeout=600)
        wall = time.perf_counter() - submitted
        if done.status != JobStatus.SUCCESS:
            raise SystemExit(f"the fan-in job ended {done.status}: {done.error}")
        ids = [job.id for job in middle]
        with hx.db.read() as session:
            last_parent = session.scalar(select(func.max(Job.finished_at)).where(Job.id.in_(ids)))
            first_child = session.scalar(select(func.min(Job.started_at)).where(Job.id.in_(ids)))
            root_done = session.scalar(select(Job.finished_at).where(Job.id == root.id))
        assert last_parent and first_child and root_done and done.started_at
        return Run(
            submit_s=submitted - began,
            wall_s=wall,
            fan_out_ms=(first_child - root_done).total_seconds() * 1000,
            fan_in_ms=(done.started_at - last_parent).total_seconds() * 1000,
        )
    finally:
        hx.stop()


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    name = f"bench_wf_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(drivername="postgresql+psycopg", database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_backend(backend: str, args: argparse.Namespace, tmp: Path) -> list[Run]:
    runs = []
    with contextlib.ExitStack() as stack:
        extra: dict[str, str] = {}
        if backend == "postgres":
            url = stack.enter_context(postgres_database(args.postgres_admin_url))
            extra = {"database_url": url, "queue_url": url}
        for index in range(args.runs):
            settings = Settings(data_dir=tmp / f"{backend}-{index}", bcrypt_rounds=4, queue_name=f"wf-{index}",
                                **extra)  # fmt: skip
            runs.append(one_run(settings, args.width, args.threads))
            print(f"  {backend} run {index + 1}: {runs[-1]}", file=sys.stderr)
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", nargs="+", default=["sqlite"], choices=["sqlite", "postgres"])
    parser.add_argument("--width", type=int, default=1000, help="jobs between the root and the fan-in job")
    parser.add_argument("--threads", type=int, default=4, help="embedded worker threads")
    parser.add_argument("--runs", type=int, default=5, help="runs per backend; medians are printed")
    parser.add_argument("--postgres-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="hx-wf-bench-") as tmp:
        for backend in args.backend:
            results[backend] = run_backend(backend, args, Path(tmp))
    print(f"\nFan-out/fan-in 1 -> {args.width:,} -> 1 (echo jobs), {args.threads} worker threads, "
          f"median of {args.runs} runs")  # fmt: skip
    print(f"{'backend':<9} | {'fan-in release ms':>17} | {'(min..max)':>15} | {'fan-out ms':>10} | {'wall s':>7} | "
          f"{'submit s':>8} | goal fan-in < 50 ms")  # fmt: skip
    for backend, runs in results.items():
        fan_in = [run.fan_in_ms for run in runs]
        median = statistics.median(fan_in)
        spread = f"{min(fan_in):.1f}..{max(fan_in):.1f}"
        print(f"{backend:<9} | {median:>17.1f} | {spread:>15} | {statistics.median(r.fan_out_ms for r in runs):>10.1f} | "
              f"{statistics.median(r.wall_s for r in runs):>7.2f} | {statistics.median(r.submit_s for r in runs):>8.2f} | "
              f"{'ok' if median < 50 else 'MISS'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
