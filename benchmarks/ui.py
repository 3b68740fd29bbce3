"""Admin UI speed at 100,000 jobs (server time, in-process, through NiceGUI's testing User).

    python benchmarks/ui.py                  # 100,000 jobs (a minute or so to build)
    python benchmarks/ui.py --jobs 10000     # quick look

A SQLite data dir holds N jobs of one user (mixed statuses, mostly SUCCESS). The UI is mounted with
``mount_ui`` and driven by NiceGUI's ``User`` over an in-process ASGI transport, so the numbers are
the server's time to build and send a page, with no network or browser in them.

Goals (issue 10): dashboard first render and page change < 300 ms; status counts < 50 ms; a status
change visible in an open job page within 1 s (the same process: at once through the change feed;
another process: through the shared poll); with 50 open job pages, job throughput within 10% of none
open and the pages' database statements a small constant of one page's.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from nicegui import core
from nicegui.testing import User
from sqlalchemy import insert
from starlette.applications import Starlette

from helixnet import HelixNet, Settings
from helixnet.core.models import Job, new_id
from helixnet.ui import mount_ui

EMAIL, PASSWORD = "bench@example.org", "benchmark password"
#: Runs of each open-pages case; single runs on 2 cores varied by +-12 %.
REPEATS = 5
STATUSES = ["SUCCESS"] * 90 + ["FAILURE"] * 6 + ["CANCELLED"] * 3 + ["PENDING"]


def fill(hx: HelixNet, n: int) -> Any:
    user = hx.users.create(email=EMAIL, password=PASSWORD)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch: list[dict[str, Any]] = []
    for i in range(n):
        created = start + timedelta(milliseconds=i)
        batch.append({
            "id": new_id(), "owner_id": user.id, "plugin": "echo", "params": {"message": f"job {i}", "fail": False},
            "inputs": {}, "status": STATUSES[i % len(STATUSES)], "progress": 1.0, "attempts": 1, "max_retries": 0,
            "priority": 0, "cancel_requested": False, "created_at": created, "queued_at": None,
        })  # fmt: skip
        if len(batch) == 5000:
            with hx.db.connect() as conn:
                conn.execute(insert(Job), batch)
            batch = []
    if batch:
        with hx.db.connect() as conn:
            conn.execute(insert(Job), batch)
    return user


def timed(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"p50 {statistics.median(ordered) * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms   (n={len(ordered)})"


async def run(n: int, rounds: int, jobs_per_case: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        hx = HelixNet(Settings(data_dir=data, workers=0, bcrypt_rounds=4, sweeper=False))
        hx.start(workers=0)
        t0 = time.perf_counter()
        user = fill(hx, n)
        print(f"{n:,} jobs written in {time.perf_counter() - t0:.1f} s")

        counts = []
        for _ in range(rounds):
            t = time.perf_counter()
            hx.jobs.counts(user)
            counts.append(time.perf_counter() - t)
        print(f"status counts (5 statuses, cap 10,000):   {timed(counts)}   goal < 50 ms")

        os.environ["NICEGUI_USER_SIMULATION"] = "true"
        if True:  # a fresh process: no NiceGUI state to reset
            host = Starlette()
            mount_ui(host, hx, storage_path=Path(tmp) / "sessions")
            async with host.router.lifespan_context(host):
                gc.collect()  # as helixnet serve does once it is built
                gc.freeze()
                transport = httpx.ASGITransport(core.app)
                async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                    browser = User(client)
                    await browser.open("/login")
                    browser.find("Email").type(EMAIL)
                    browser.find("Password").type(PASSWORD)
                    browser.find("Log in").click()
                    for _ in range(200):
                        if (await client.get("/", follow_redirects=False)).status_code == 200:
                            break
                        await asyncio.sleep(0.02)
                    await _open_pages_cost(hx, user, client, jobs_per_case)
                    first, change = [], []
                    page = hx.jobs.list(user, limit=50)
                    middle = hx.jobs.list(user, limit=500, cursor=page.next_cursor)
                    for _ in range(rounds):
                        t = time.perf_counter()
                        response = await client.get("/")
                        first.append(time.perf_counter() - t)
                        assert response.status_code == 200
                        t = time.perf_counter()
                        response = await client.get(f"/?cursor={middle.next_cursor}")
                        change.append(time.perf_counter() - t)
                        assert response.status_code == 200
                    print(f"dashboard first render (GET /):           {timed(first)}   goal < 300 ms")
                    print(f"dashboard page change (GET /?cursor=...):  {timed(change)}   goal < 300 ms")
                    filtered = []
                    for _ in range(rounds):
                        t = time.perf_counter()
                        await client.get("/?status=FAILURE&q=job%2042")
                        filtered.append(time.perf_counter() - t)
                    print(f"dashboard filtered (status + search):      {timed(filtered)}")

                    here = [await _status_change(hx, browser, user, other=None) for _ in range(5)]
                    print(f"status change on an open job page, same process:   {timed(here)}   goal < 1 s")
                    other = HelixNet(Settings(data_dir=data, workers=0, bcrypt_rounds=4, sweeper=False))
                    there = [await _status_change(hx, browser, user, other=other) for _ in range(5)]
                    print(f"status change on an open job page, other process:  {timed(there)}   goal < 1 s")
                    other.stop()
        os.environ.pop("NICEGUI_USER_SIMULATION", None)
        hx.stop()


async def _open_pages_cost(hx: HelixNet, user: Any, client: httpx.AsyncClient, jobs: int) -> None:
    """Job throughput and database statements while 0, 1 and 50 job pages are open, in one run.

    Each case submits ``jobs`` echo jobs and drains them with 2 worker threads while the open pages
    watch live. Statements are counted on the engine; "pages" are those not made by worker,
    sweeper or monitor threads (what the open pages and the shared change-feed poll cost).
    """
    from sqlalchemy import event

    statements: list[str] = []

    def count(*_args: Any) -> None:
        statements.append(threading.current_thread().name)

    targets = hx.jobs.list(user, limit=50).items
    runs: dict[int, list[tuple[float, float, float]]] = {0: [], 1: [], 50: []}
    # Interleaved rounds (0, 1, 50 pages, then the pages are closed): the tables grow by every
    # run's jobs, and a fixed order would charge that growth to the later cases.
    for _ in range(REPEATS):
        clients = []
        for pages in (0, 1, 50):
            while len(clients) < pages:
                clients.append(await User(client).open(f"/jobs/{targets[len(clients)].id}"))
            await asyncio.sleep(0.5)  # the pages settle into their idle state
            statements.clear()
            event.listen(hx.db.engine, "before_cursor_execute", count)
            t = time.perf_counter()
            await asyncio.to_thread(_submit_and_drain, hx, user, jobs)
            elapsed = time.perf_counter() - t
            event.remove(hx.db.engine, "before_cursor_execute", count)
            ui = sum(1 for name in statements if name == "helixnet-changes" or not name.startswith("helixnet-"))
            runs[pages].append((jobs / elapsed, len(statements) / elapsed, ui / elapsed))
        for page in clients:  # as if the tabs were closed
            page.delete()
    rows = [(pages, *(statistics.median(run[i] for run in found) for i in range(3))) for pages, found in runs.items()]
    base_rate, base_ui = rows[0][1], rows[1][3]
    print(f"\nOpen job pages while {jobs} echo jobs run (2 worker threads), median of {REPEATS} interleaved runs")
    print("open pages |  jobs/s | vs none | statements/s | of which pages+feed/s | vs 1 page")
    for pages, rate, total, ui in rows:
        print(f"{pages:>10} | {rate:>7.0f} | {rate / base_rate:>7.2f} | {total:>12.0f} | {ui:>21.1f} | "
              f"{ui / base_ui if base_ui else float('nan'):>9.2f}")
    print("goals: jobs/s with 50 pages within 10% of none; pages+feed statements/s a small constant of 1 page\n")


def _submit_and_drain(hx: HelixNet, user: Any, jobs: int) -> None:
    thread = threading.current_thread()
    name, thread.name = thread.name, "helixnet-bench-drain"  # its own statements are not the pages'
    pool = hx.worker_pool(2, sweeper=False)
    try:
        ids = [hx.jobs.submit(user, "echo", params={"message": str(i)}).id for i in range(jobs)]
        pool.start()
        deadline = time.monotonic() + 300
        for job_id in ids:  # wait for each in submission order: one query per still-active job
            while hx.jobs.get(job_id).status not in ("SUCCESS", "FAILURE", "CANCELLED"):
                if time.monotonic() > deadline:
                    raise TimeoutError("jobs did not drain in 300 s")
                time.sleep(0.005)
    finally:
        pool.stop()
        thread.name = name


async def _status_change(hx: HelixNet, browser: User, user: Any, *, other: HelixNet | None) -> float:
    """Open a PENDING job's page, claim the job (here or in ``other``), time until the page says RUNNING."""
    job = hx.jobs.submit(user, "sleep", params={"seconds": 1})
    await browser.open(f"/jobs/{job.id}")
    await browser.should_see("PENDING")
    actor = other or hx
    t = time.perf_counter()
    threading.Thread(target=actor.runner.claim, args=(job.id, "bench-worker")).start()
    while True:
        try:
            await browser.should_see("RUNNING", retries=1)
            return time.perf_counter() - t
        except AssertionError:
            if time.perf_counter() - t > 10:
                raise
            await asyncio.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--throughput-jobs", type=int, default=1000, help="echo jobs per open-pages case")
    args = parser.parse_args()
    asyncio.run(run(args.jobs, args.rounds, args.throughput_jobs))


if __name__ == "__main__":
    main()
