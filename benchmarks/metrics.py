"""Prometheus metrics: what counting costs a job, and what a scrape costs at many jobs.

    python benchmarks/metrics.py                          # SQLite, 100,000 jobs (10% PENDING)
    python benchmarks/metrics.py --jobs 10000 --postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench

Prints two tables. Counting: microseconds per ``job_submitted`` plus ``job_finished`` (the job path's
whole cost), in-process and in prometheus_client's multiprocess mode (an mmap write per sample),
each in a fresh interpreter because the mode is chosen at import. Scraping: milliseconds per
``hx.prometheus.exposition()`` (counters plus the database gauges) with N jobs in the table, median
of 50. The PostgreSQL database given is emptied first: give it one of its own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

COUNT = textwrap.dedent("""
    import time
    from helixnet.core.prometheus import PrometheusMetrics
    from helixnet.core.models import JobStatus
    m = PrometheusMetrics()
    n = 200_000
    start = time.perf_counter()
    for i in range(n):
        m.job_submitted("echo")
        m.job_finished("echo", JobStatus.SUCCESS, 0.003)
    print((time.perf_counter() - start) / n * 1e6)
""")


def counting(multiprocess: bool) -> float:
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with tempfile.TemporaryDirectory() as folder:
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = folder
        out = subprocess.run([sys.executable, "-c", COUNT], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout)


def scraping(data_dir: Path, jobs: int, database_url: str | None) -> tuple[float, float]:
    from helixnet import HelixNet, Settings
    from helixnet.core import statements as sql
    from helixnet.core.models import new_id

    settings = Settings(data_dir=data_dir, workers=0, bcrypt_rounds=4, database_url=database_url)
    hx = HelixNet(settings)
    if database_url:
        from sqlalchemy import text

        with hx.db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    hx.migrate()
    user = hx.users.create(email="bench@example.org", password="benchmark password")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(jobs):
        status = "PENDING" if i % 10 == 0 else "SUCCESS"
        at = start + timedelta(milliseconds=i)
        rows.append({"id": new_id(), "owner_id": user.id, "plugin": "echo", "params": {}, "inputs": {},
                     "status": status, "progress": 0.0, "attempts": 0, "max_retries": 0, "priority": 0,
                     "timeout": None, "cancel_requested": False, "created_at": at, "queued_at": at,
                     "idempotency_key": None})  # fmt: skip
    for chunk in range(0, len(rows), 5000):
        with hx.db.connect() as conn:
            conn.execute(sql.INSERT_JOB, rows[chunk : chunk + 5000])
    hx.prometheus.job_submitted("echo", jobs)
    times = []
    for _ in range(50):
        began = time.perf_counter()
        body = hx.prometheus.exposition()
        times.append((time.perf_counter() - began) * 1000)
    assert f"helixnet_queue_depth {float(jobs // 10 + (jobs % 10 > 0))}".encode() in body, body
    hx.stop()
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL of a database of its own (it is emptied)")
    args = parser.parse_args()

    print("| counting (submitted + finished) | us per job |")
    print("|---|---|")
    for name, multiprocess in (("in-process", False), ("multiprocess (mmap files)", True)):
        print(f"| {name} | {counting(multiprocess):.1f} |")
    print()
    print("| database | jobs (10% PENDING) | scrape median ms | scrape max ms |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        median, worst = scraping(Path(folder) / "sqlite", args.jobs, None)
        print(f"| SQLite | {args.jobs:,} | {median:.2f} | {worst:.2f} |")
        if args.postgres:
            median, worst = scraping(Path(folder) / "pg", args.jobs, args.postgres)
            print(f"| PostgreSQL | {args.jobs:,} | {median:.2f} | {worst:.2f} |")


if __name__ == "__main__":
    main()
