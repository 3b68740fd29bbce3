"""HelixNet on PostgreSQL + Redis (or PostgreSQL alone) against Celery and raw huey, in one run.

For each worker count P: P ``helixnet worker -c 1`` processes per HelixNet backend, huey's consumer
``-w P -k process``, Celery prefork ``-c P`` without and with its database result backend, all up at
once (idle consumers block server-side); then ``repeat`` rounds, each running every system once in a
rotating order (interleaved, so load from elsewhere hits all of them), medians printed. A fresh
``bench_<pid>`` database is created and dropped; Redis keys carry a ``hxbench<pid>`` prefix and are
deleted after.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil
import psycopg
from systems import BaselineSystem, HelixSystem, Run


def _pg(admin_url: str, sql: str) -> Any:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else None


def _cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def _service_pids(db_name: str) -> dict[str, list[int]]:
    """PostgreSQL backends serving our database, and redis-server (shared: other users' load shows too)."""
    found: dict[str, list[int]] = {"postgres": [], "redis": []}
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] and proc.info["name"].startswith("postgres") and f" {db_name} " in cmd:
            found["postgres"].append(proc.pid)
        elif proc.info["name"] == "redis-server":
            found["redis"].append(proc.pid)
    return found


def measured(system: Any, n: int, mode: str, db_name: str) -> Run:
    """One run, with the CPU seconds PostgreSQL, Redis, the consumers and the submitter spent in it."""
    groups = {**_service_pids(db_name), "consumers": system.pids(), "submitter": [psutil.Process().pid]}
    before = {name: _cpu_of(pids) for name, pids in groups.items()}
    run = system.run(n, mode)
    groups["postgres"] = _service_pids(db_name)["postgres"]  # backends opened during the run count from 0
    run.cpu = {name: _cpu_of(pids) - before.get(name, 0.0) for name, pids in groups.items()}
    return run


def main(args: Any) -> int:
    tag = f"hxbench{int(time.time()) % 100000}"
    db_name = f"bench_{tag}"
    admin = args.postgres_admin_url
    base = admin.rsplit("/", 1)[0]
    url = f"{base}/{db_name}".replace("postgresql://", "postgresql+psycopg://")
    _pg(admin, f'CREATE DATABASE "{db_name}"')
    _pg(admin, f'CREATE DATABASE "{db_name}_celery"')  # apart: its commits must not count as HelixNet's
    if args.synchronous_commit == "off":  # what the commits' fsyncs cost (a server crash may lose the last ones)
        for name in (db_name, f"{db_name}_celery"):
            _pg(admin, f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        with tempfile.TemporaryDirectory(prefix="hx-bench-") as tmp:
            return _run_all(args, Path(tmp), tag, db_name, url)
    finally:
        _pg(admin, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        _pg(admin, f'DROP DATABASE IF EXISTS "{db_name}_celery" WITH (FORCE)')


def _run_all(args: Any, root: Path, tag: str, db_name: str, db_url: str) -> int:
    helix = [HelixSystem(b, db_url, args.redis_url, root / b.replace("+", "-"), f"{tag}-{b.replace('+', '-')}")
             for b in args.backend]  # fmt: skip
    baselines = [
        BaselineSystem("celery", args.redis_url, f"{tag}-celery", root),
        BaselineSystem("celery+db", args.redis_url, f"{tag}-celerydb", root, result_backend=f"db+{db_url}_celery"),
        BaselineSystem("huey", args.redis_url, f"{tag}-huey", root),
    ]
    cases: list[tuple[Any, str]] = [(h, mode) for h in helix for mode in ("loop", "many")]
    cases += [(b, "loop") for b in baselines]
    results: dict[tuple[int, str], list[Run]] = defaultdict(list)
    latency: dict[str, list[float]] = {}
    commits: dict[int, dict[str, float]] = {}
    try:
        for procs in args.procs:
            print(f"-- {procs} worker process(es): starting consumers", flush=True)
            xact0 = _pg(
                args.postgres_admin_url, f"select xact_commit from pg_stat_database where datname = '{db_name}'"
            )[0][0]
            done0 = {h.name: h.jobs_done for h in helix}
            for system in [*helix, *baselines]:
                system.start(procs)
            for attempt in range(args.repeat):
                shift = attempt % len(cases)
                for system, mode in cases[shift:] + cases[:shift]:
                    run = measured(system, args.jobs, mode, db_name)
                    results[(procs, f"{system.name} {mode}")].append(run)
                    print(
                        f"   {system.name:<24} {mode:<5} {run.jobs_per_s:8.0f} jobs/s  (submit {run.submit_s:.2f} s)",
                        flush=True,
                    )
            if procs == args.procs[0] and args.samples:
                for system in [*helix, *baselines]:
                    latency[system.name] = system.latency(args.samples)
            for system in [*helix, *baselines]:
                system.stop()
            time.sleep(1.5)  # exited backends have reported their statistics
            xact1 = _pg(
                args.postgres_admin_url, f"select xact_commit from pg_stat_database where datname = '{db_name}'"
            )[0][0]
            jobs = sum(h.jobs_done - done0[h.name] for h in helix)
            commits[procs] = {"xact_per_job": (xact1 - xact0) / max(jobs, 1)}
        from report import print_report

        print_report(args, helix, baselines, results, latency, commits)
    finally:
        for system in [*helix, *baselines]:
            system.stop()
            system.close()
    return 0


def median_of(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(run, attr) for run in runs)
