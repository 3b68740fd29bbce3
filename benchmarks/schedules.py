"""Schedules: the lag from a fire time to the job's enqueue, and the database time each fire costs.

    python benchmarks/schedules.py                        # SQLite, then PostgreSQL if it answers
    python benchmarks/schedules.py --backend sqlite --periods 3
    python benchmarks/schedules.py --no-workflows          # without the fan-out/fan-in table after it

1,000 schedules that all fire at the same instant, period after period: the worst case of 1,000
"every minute" schedules, which all fall due at second :00. To avoid waiting minutes the period is
shortened (``--period``, default 5 s), as interval schedules (fire times: the multiples of the period,
so all 1,000 are due together) and as cron schedules in Europe/Berlin (``* * * * * */5``: croniter's
sixth field is seconds); everything else is real: the firing loop of ``hx.start()``
(no worker threads, so only firing is measured) on the real clock, the default SQLite queue, the real database, and the lag
is measured from each fire time to the moment its job id reached the queue. The database time per
fire is the time spent in SQL statements (SQLAlchemy's cursor events) by the firing thread,
divided by the fires, against the baseline measured the same way in the same run: the SQL time per
job of ``hx.jobs.submit_many`` (the cheapest way to put the same jobs in). Goal (issue 13): lag p99 < 1 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text, update
from sqlalchemy.engine import make_url

from helixnet import HelixNet, Settings
from helixnet.core.models import Schedule

PG_ADMIN_URL = os.environ.get("HELIXNET_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class Recorder:
    """When each job id reached the queue, and the SQL time of the firing thread."""

    def __init__(self, hx: HelixNet) -> None:
        self.enqueued: dict[str, float] = {}
        self.sql_seconds = 0.0
        self.statements = 0
        queue = hx.queue
        one, many = queue.enqueue, queue.enqueue_many

        def enqueue(job_id: str, priority: int = 0) -> None:
            one(job_id, priority)
            self.enqueued[job_id] = time.time()

        def enqueue_many(items: Any) -> None:
            many(items)
            done = time.time()
            self.enqueued.update((job_id, done) for job_id, _ in items)

        queue.enqueue = enqueue  # type: ignore[method-assign]
        queue.enqueue_many = enqueue_many  # type: ignore[method-assign]
        started: dict[int, float] = {}

        @event.listens_for(hx.db.engine, "before_cursor_execute")
        def before(conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: bool) -> None:
            if threading.current_thread().name == "helixnet-firing":
                started[id(cursor)] = time.perf_counter()

        @event.listens_for(hx.db.engine, "after_cursor_execute")
        def after(conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: bool) -> None:
            begun = started.pop(id(cursor), None)
            if begun is not None:
                self.sql_seconds += time.perf_counter() - begun
                self.statements += 1


def baseline_db_ms(hx: HelixNet, user: Any, jobs: int) -> float:
    """The baseline, measured the same way: SQL ms per job of ``submit_many``, the cheapest way in."""
    spent = [0.0]
    started: dict[int, float] = {}
    me = threading.get_ident()

    def before(conn: Any, cursor: Any, *args: Any) -> None:
        if threading.get_ident() == me:
            started[id(cursor)] = time.perf_counter()

    def after(conn: Any, cursor: Any, *args: Any) -> None:
        if (begun := started.pop(id(cursor), None)) is not None:
            spent[0] += time.perf_counter() - begun

    event.listen(hx.db.engine, "before_cursor_execute", before)
    event.listen(hx.db.engine, "after_cursor_execute", after)
    try:
        for start in range(0, jobs, 1000):
            hx.jobs.submit_many(user, [{"plugin": "echo"}] * min(1000, jobs - start))
    finally:
        event.remove(hx.db.engine, "before_cursor_execute", before)
        event.remove(hx.db.engine, "after_cursor_execute", after)
    return 1000 * spent[0] / jobs


def run(
    backend: str, database_url: str | None, root: Path, schedules: int, period: int, periods: int, kind: str
) -> dict[str, Any]:
    # The default queue (a SQLite file beside the database): each enqueue is a commit of its own there.
    settings: dict[str, Any] = {"data_dir": root / backend, "bcrypt_rounds": 4, "sweep_interval_seconds": 3600}
    if database_url:
        settings["database_url"] = database_url
    hx = HelixNet(Settings(**settings))
    hx.migrate()
    user = hx.users.create(email="bench@example.org", password="benchmark password")
    for _ in range(schedules):
        # croniter's optional sixth field is seconds: "* * * * * */5" is a cron of the same period.
        timing = {"interval_seconds": period} if kind == "interval" else {"cron": f"* * * * * */{period}",
                                                                          "timezone": "Europe/Berlin"}  # fmt: skip
        hx.schedules.create(user, "echo", catchup_seconds=period, **timing)
    baseline = baseline_db_ms(hx, user, schedules)
    recorder = Recorder(hx)
    # Start just after a due instant; what fell due while the schedules were made is not measured.
    time.sleep(period - time.time() % period + 0.05)
    first = datetime.fromtimestamp((time.time() // period + 1) * period, UTC)
    with hx.db.connect() as conn:
        conn.execute(update(Schedule).values(next_fire_at=first))
    hx.start(workers=0)
    time.sleep(periods * period - 0.05 + period / 2)  # the last instant gets half a period to finish
    hx.stop(timeout=1)
    engine = create_engine(hx.settings.resolved_database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, fire_time FROM jobs WHERE schedule_id IS NOT NULL")).all()
    engine.dispose()
    lags = []
    for job_id, fire_time in rows:
        fired = (fire_time if isinstance(fire_time, datetime) else datetime.fromisoformat(fire_time)).replace(
            tzinfo=UTC
        )
        if job_id in recorder.enqueued:
            lags.append(recorder.enqueued[job_id] - fired.timestamp())
    lags.sort()
    fires = len(rows)
    return {"backend": f"{backend} {kind}", "fires": fires, "expected": schedules * periods, "median": statistics.median(lags),
            "p99": lags[int(0.99 * (len(lags) - 1))], "max": lags[-1],
            "db_ms": 1000 * recorder.sql_seconds / max(fires, 1),
            "statements": recorder.statements / max(fires, 1), "baseline_ms": baseline}  # fmt: skip


def scratch_postgres() -> tuple[str, Any] | None:
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"bench_schedules_{os.getpid()}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"PostgreSQL not available ({exc.__class__.__name__}); skipped", file=sys.stderr)
        return None

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False), drop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    parser.add_argument("-n", "--schedules", type=int, default=1000)
    parser.add_argument("--period", type=int, default=5, help="seconds between fires (stands for the minute)")
    parser.add_argument("--periods", type=int, default=4, help="how many fire instants to measure")
    parser.add_argument("--kind", nargs="+", choices=["interval", "cron"], default=["interval", "cron"])
    parser.add_argument(
        "--no-workflows",
        action="store_true",
        help="skip the fan-out/fan-in table (benchmarks/workflows.py, run after this one)",
    )
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for backend in args.backend:
            for kind in args.kind:
                root = Path(folder) / kind
                if backend == "sqlite":
                    results.append(run("sqlite", None, root, args.schedules, args.period, args.periods, kind))
                    continue
                scratch = scratch_postgres()
                if scratch is None:
                    continue
                url, drop = scratch
                try:
                    results.append(run("postgres", url, root, args.schedules, args.period, args.periods, kind))
                finally:
                    drop()
    print(f"\nSchedules: {args.schedules} schedules all due at once, every {args.period} s, "
          f"{args.periods} fire instants; firing loop only (no workers)")  # fmt: skip
    print(f"{'database':<17} | {'fires':>11} | {'lag median':>10} | {'lag p99':>8} | {'lag max':>8} | "
          f"{'DB ms/fire':>10} | {'stmts/fire':>10} | {'submit_many DB ms/job':>21} | {'ratio':>6} | goal p99 < 1 s")  # fmt: skip
    for r in results:
        fires = f"{r['fires']}/{r['expected']}"
        print(f"{r['backend']:<17} | {fires:>11} | {r['median'] * 1000:>7.0f} ms | {r['p99'] * 1000:>5.0f} ms | "
              f"{r['max'] * 1000:>5.0f} ms | {r['db_ms']:>10.2f} | {r['statements']:>10.2f} | "
              f"{r['baseline_ms']:>21.2f} | {r['db_ms'] / r['baseline_ms']:>5.2f}x | "
              f"{'ok' if r['p99'] < 1 else 'MISS'}")  # fmt: skip
    if not args.no_workflows:  # issue 13 asks for both in one run: the workflow latency, from its own script
        sys.path.insert(0, str(Path(__file__).parent))
        import workflows

        workflows.main(["--backend", *args.backend])
    return 0


if __name__ == "__main__":
    sys.exit(main())
