"""REST API speed at 100,000 jobs, against a bare Starlette route measured in the same run.

    python benchmarks/api.py                  # 100,000 jobs (about a minute to build)
    python benchmarks/api.py --jobs 10000     # quick look

Both servers run as real uvicorn processes on loopback and are driven by httpx with keep-alive:
``helixnet serve --workers 0`` on a SQLite data dir holding N jobs of one user, and a bare
Starlette app whose routes return a constant (the framework's ceiling: what uvicorn, Starlette and
the client cost with no work behind them). The bare GET returns the real first page as a constant,
so both send the same bytes.

Goals (issue 3): GET /jobs p99 < 25 ms at 100,000 jobs on SQLite; POST /jobs >= 0.3x the bare rate.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from helixnet import HelixNet, Settings
from helixnet.core import statements as sql
from helixnet.core.models import new_id
from helixnet.core.pagination import encode_cursor

EMAIL, PASSWORD = "bench@example.org", "benchmark password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fill(data_dir: Path, n: int) -> str:
    """N finished echo jobs of one user, one millisecond apart; returns a cursor half-way down."""
    hx = HelixNet(Settings(data_dir=data_dir, workers=0, bcrypt_rounds=4))
    hx.migrate()
    user = hx.users.create(email=EMAIL, password=PASSWORD)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    middle = ""
    rows = []
    for i in range(n):
        created = start + timedelta(milliseconds=i)
        job_id = new_id()
        rows.append({
            "id": job_id, "owner_id": user.id, "plugin": "echo", "params": {"message": str(i), "fail": False},
            "inputs": {}, "status": "SUCCESS", "progress": 1.0, "attempts": 1, "max_retries": 0, "priority": 0,
            "timeout": None, "cancel_requested": False, "created_at": created, "queued_at": created,
            "idempotency_key": None, "result": {"message": str(i)}, "finished_at": created,
        })  # fmt: skip
        if i == n // 2:
            middle = encode_cursor(created, job_id)
        if len(rows) == 5000:
            with hx.db.connect() as conn:
                conn.execute(sql.INSERT_JOB, rows)
            rows = []
    if rows:
        with hx.db.connect() as conn:
            conn.execute(sql.INSERT_JOB, rows)
    hx.stop()
    return middle


def start(cmd: list[str], env: dict[str, str], url: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url, timeout=1)
            return proc
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start: {' '.join(cmd)}") from None
            time.sleep(0.1)


BARE_APP = textwrap.dedent('''
    import sys, uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route
    page = open(sys.argv[2], "rb").read()
    async def get_jobs(request):
        return Response(page, media_type="application/json")
    async def post_jobs(request):
        await request.body()
        return Response(b'{"id": "x", "status": "PENDING"}', status_code=202, media_type="application/json")
    app = Starlette(routes=[Route("/api/v1/jobs", get_jobs, methods=["GET"]),
                            Route("/api/v1/jobs", post_jobs, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
''')


def latencies(client: httpx.Client, url: str, params: dict[str, str], count: int) -> list[float]:
    for _ in range(20):  # warm up connections and caches
        client.get(url, params=params)
    out = []
    for _ in range(count):
        began = time.perf_counter()
        response = client.get(url, params=params)
        out.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.text
    return out


def post_rate(url: str, headers: dict[str, str], seconds: float, threads: int) -> float:
    done = [0] * threads
    stop = time.monotonic() + seconds

    def run(slot: int) -> None:
        with httpx.Client(headers=headers, timeout=30) as client:
            while time.monotonic() < stop:
                response = client.post(url, json={"plugin": "echo", "params": {"message": "bench"}})
                assert response.status_code == 202, response.text
                done[slot] += 1

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    began = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done) / (time.perf_counter() - began)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=1000, help="GET requests per case")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each POST run")
    parser.add_argument("--threads", type=int, default=4, help="concurrent POST clients")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="hx-api-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        print(f"filling {args.jobs} jobs...", flush=True)
        middle = fill(data_dir, args.jobs)
        env = {**os.environ, "HELIXNET_DATA_DIR": str(data_dir), "HELIXNET_BCRYPT_ROUNDS": "4"}
        hx_port, bare_port = free_port(), free_port()
        hx_base, bare_base = f"http://127.0.0.1:{hx_port}/api/v1", f"http://127.0.0.1:{bare_port}/api/v1"
        server = start([sys.executable, "-m", "helixnet", "serve", "--port", str(hx_port), "--workers", "0",
                        "--log-level", "warning"], env, f"{hx_base}/health")  # fmt: skip
        try:
            token = httpx.post(f"{hx_base}/auth/token", data={"username": EMAIL, "password": PASSWORD}).json()
            auth = {"Authorization": f"Bearer {token['access_token']}"}
            with httpx.Client(headers=auth, timeout=30) as client:
                first_page = client.get(f"{hx_base}/jobs").content
                first = latencies(client, f"{hx_base}/jobs", {}, args.requests)
                deep = latencies(client, f"{hx_base}/jobs", {"cursor": middle}, args.requests)
            post_hx = post_rate(f"{hx_base}/jobs", auth, args.seconds, args.threads)
        finally:
            server.terminate()
            server.wait(30)
        page_file = Path(tmp) / "page.json"
        page_file.write_bytes(first_page)
        bare = start([sys.executable, "-c", BARE_APP, str(bare_port), str(page_file)], env, f"{bare_base}/jobs")
        try:
            with httpx.Client(timeout=30) as client:
                bare_get = latencies(client, f"{bare_base}/jobs", {}, args.requests)
            post_bare = post_rate(f"{bare_base}/jobs", {}, args.seconds, args.threads)
        finally:
            bare.terminate()
            bare.wait(30)

    print(f"\nREST API with {args.jobs} jobs in SQLite; GET = {args.requests} sequential requests, "
          f"POST = {args.threads} clients for {args.seconds:.0f} s")  # fmt: skip
    print(f"{'case':<34} | {'p50 ms':>7} | {'p99 ms':>7} | {'goal':>16}")
    for name, values in (("GET /jobs, first page (50)", first), ("GET /jobs, cursor half-way down", deep),
                         ("bare Starlette GET (constant)", bare_get)):  # fmt: skip
        goal = "" if name.startswith("bare") else ("p99 < 25: ok" if pct(values, 0.99) < 25 else "p99 < 25: MISS")
        print(f"{name:<34} | {statistics.median(values):>7.2f} | {pct(values, 0.99):>7.2f} | {goal:>16}")
    ratio = post_hx / post_bare
    print(f"\n{'case':<34} | {'req/s':>7} | {'ratio':>7} | {'goal':>16}")
    print(f"{'POST /jobs (helixnet)':<34} | {post_hx:>7.0f} | {ratio:>7.2f} | "
          f"{'>= 0.30: ' + ('ok' if ratio >= 0.3 else 'MISS'):>16}")  # fmt: skip
    print(f"{'bare Starlette POST (constant)':<34} | {post_bare:>7.0f} | {1.0:>7.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
