"""End-to-end throughput and submit-to-RUNNING latency, against baselines measured in the same run.

    python benchmarks/throughput.py                 # SQLite (the default); includes a 2-minute idle wait
    python benchmarks/throughput.py --idle 5 -n 500 # quick look
    pip install -e ".[bench]"                       # Celery and psutil, for the two below
    python benchmarks/throughput.py --backend postgres+redis          # PostgreSQL DB + Redis queue
    python benchmarks/throughput.py --backend postgres                # PostgreSQL as DB and queue
    python benchmarks/throughput.py --backend postgres+redis postgres --repeat 3 --procs 1 2 4

``--backend sqlite``:
HelixNet: N no-op jobs (the ``echo`` plugin) through ``hx.jobs.submit``, drained by the embedded
worker threads (SQLite DB + SQLite queue, the defaults). Baseline: a SqliteHuey task that does
nothing, enqueued N times and drained by huey's own consumer with the same number of threads.
Goals (issue 2): ratio >= 0.5; submit-to-RUNNING median < 20 ms, also after minutes idle.

``--backend postgres+redis`` / ``postgres`` (issue 11; code in ``benchmarks/scale/``): N no-op jobs
from one process (a loop of ``hx.jobs.submit`` and one ``hx.jobs.submit_many``) drained by P
``helixnet worker -c 1`` processes, against raw huey's ``RedisHuey`` (its consumer ``-w P -k process``),
Celery 5.7 prefork ``-c P`` on the same Redis without a result backend, and Celery with its database
result backend on the same PostgreSQL server; medians of interleaved runs; also submit-to-RUNNING
latency, PostgreSQL statements and commits per job, and CPU per component. It creates and drops its
own ``bench_*`` databases (``--postgres-admin-url`` names the server) and prefixes its Redis keys.
Goals: HelixNet >= 1x Celery (both) and >= 0.5x huey at every P; submit-to-RUNNING median < 10 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from huey import SqliteHuey

from helixnet import HelixNet, Settings
from helixnet.core.models import Job, JobStatus


def helixnet_throughput(root: Path, n: int, threads: int) -> float:
    hx = HelixNet(Settings(data_dir=root / "hx", workers=threads, bcrypt_rounds=4)).start()
    try:
        user = hx.users.create(email="bench@example.org", password="benchmark password")
        start = time.perf_counter()
        for i in range(n):
            hx.jobs.submit(user, "echo", params={"message": str(i)})
        _wait_finished(hx, n)
        return n / (time.perf_counter() - start)
    finally:
        hx.stop()


def _wait_finished(hx: HelixNet, n: int) -> None:
    """Wait until no job is active, then check all n succeeded.

    Counting the active jobs reads the small partial index of PENDING/RUNNING rows; counting
    SUCCESS rows scanned the whole table every poll and taxed the run being measured.
    """
    from sqlalchemy import func, select

    active = select(func.count()).select_from(Job).where(Job.status.in_([JobStatus.PENDING.value, JobStatus.RUNNING.value]))
    while True:
        with hx.db.read() as session:
            if not session.scalar(active):
                break
        time.sleep(0.01)
    with hx.db.read() as session:
        done = session.scalar(select(func.count()).select_from(Job).where(Job.status == JobStatus.SUCCESS.value))
    if done != n:
        raise SystemExit(f"only {done} of {n} jobs succeeded")


def huey_throughput(root: Path, n: int, threads: int) -> float:
    huey = SqliteHuey("bench", filename=str(root / "huey.db"), results=False)
    finished = threading.Semaphore(0)

    @huey.task()
    def noop() -> None:
        finished.release()

    consumer = huey.create_consumer(workers=threads, worker_type="thread", periodic=False)
    consumer.start()
    try:
        start = time.perf_counter()
        for _ in range(n):
            noop()
        for _ in range(n):
            finished.acquire()
        return n / (time.perf_counter() - start)
    finally:
        consumer.stop(graceful=True)


def helixnet_latency(root: Path, samples: int, idle: float) -> tuple[list[float], list[float]]:
    """Submit-to-RUNNING (ms) with an idle worker: right away, and after ``idle`` seconds of quiet."""
    hx = HelixNet(Settings(data_dir=root / "lat", workers=1, bcrypt_rounds=4)).start()
    try:
        user = hx.users.create(email="bench@example.org", password="benchmark password")
        warm = [_one_latency(hx, user) for _ in range(samples)]
        time.sleep(idle)
        cold = [_one_latency(hx, user)] + [_one_latency(hx, user) for _ in range(samples - 1)]
        return warm, cold
    finally:
        hx.stop()


def _one_latency(hx: HelixNet, user: object) -> float:
    job = hx.jobs.submit(user, "echo")  # type: ignore[arg-type]
    done = hx.jobs.wait(job.id, timeout=30)
    time.sleep(0.02)  # let the worker go idle again
    assert done.started_at is not None
    return (done.started_at - job.created_at).total_seconds() * 1000


def huey_latency_after_idle(root: Path, idle: float) -> float:
    """Enqueue-to-start (ms) of raw SqliteHuey after ``idle`` seconds: its consumer backs off polling."""
    huey = SqliteHuey("lat", filename=str(root / "huey-lat.db"), results=False)
    started = threading.Event()
    stamp: list[float] = []

    @huey.task()
    def mark() -> None:
        stamp.append(time.perf_counter())
        started.set()

    consumer = huey.create_consumer(workers=1, worker_type="thread", periodic=False)
    consumer.start()
    try:
        time.sleep(idle)
        sent = time.perf_counter()
        mark()
        started.wait(60)
        return (stamp[0] - sent) * 1000
    finally:
        consumer.stop(graceful=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", nargs="+", default=["sqlite"], choices=["sqlite", "postgres+redis", "postgres"])
    parser.add_argument("-n", "--jobs", type=int, default=None, help="default 2000 (sqlite), 1000 (others)")
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2, 4], help="worker processes (not sqlite)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--synchronous-commit", choices=["on", "off"], default="on",
                        help="PostgreSQL's setting on the benchmark's databases: off shows what fsyncs cost")
    parser.add_argument("--postgres-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case; medians are printed")
    parser.add_argument("--idle", type=float, default=120.0, help="seconds of quiet before the cold latency")
    args = parser.parse_args(argv)
    if args.backend != ["sqlite"]:
        if "sqlite" in args.backend:
            parser.error("--backend sqlite runs alone")
        args.jobs = args.jobs or 1000
        sys.path.insert(0, str(Path(__file__).resolve().parent / "scale"))
        from distributed import main as distributed_main  # the bench extra: celery, psutil

        return distributed_main(args)
    args.jobs = args.jobs or 2000

    rows = []
    with tempfile.TemporaryDirectory(prefix="hx-bench-") as tmp:
        for threads in args.threads:
            raws, ourss = [], []
            for attempt in range(args.repeat):  # alternate the two, take medians: disk noise hits both
                root = Path(tmp) / f"t{threads}-{attempt}"
                root.mkdir()
                raws.append(huey_throughput(root, args.jobs, threads))
                ourss.append(helixnet_throughput(root, args.jobs, threads))
            rows.append((threads, statistics.median(ourss), statistics.median(raws)))
        print(f"\nThroughput: {args.jobs} no-op jobs, SQLite queue, submit + drain, median of {args.repeat} (jobs/s)")
        print(f"{'threads':>7} | {'helixnet':>9} | {'raw huey':>9} | {'ratio':>6} | goal >= 0.50")
        for threads, ours, raw in rows:
            print(f"{threads:>7} | {ours:>9.0f} | {raw:>9.0f} | {ours / raw:>6.2f} | {'ok' if ours / raw >= 0.5 else 'MISS'}")

        ours_latency: list[tuple[list[float], list[float]]] = []
        lat_thread = threading.Thread(
            target=lambda: ours_latency.append(helixnet_latency(Path(tmp), args.samples, args.idle))
        )
        lat_thread.start()  # both idle at once: one wait for both (huey's consumer needs the main thread)
        huey_cold = huey_latency_after_idle(Path(tmp), args.idle)
        lat_thread.join()
        warm, cold = ours_latency[0]
        print(f"\nSubmit-to-RUNNING latency, 1 idle embedded worker ({args.samples} samples each), ms")
        print(f"{'case':<32} | {'median':>7} | {'p90':>7} | {'max':>7} | goal median < 20")
        for name, values in (("helixnet, warm", warm), (f"helixnet, after {args.idle:g} s idle", cold)):
            p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]
            median = statistics.median(values)
            print(f"{name:<32} | {median:>7.1f} | {p90:>7.1f} | {max(values):>7.1f} | {'ok' if median < 20 else 'MISS'}")
        print(f"{'raw huey, first task after idle':<32} | {huey_cold:>7.1f} | {'':>7} | {'':>7} | (baseline)")
        print(f"\nfirst helixnet job after idle: {cold[0]:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
