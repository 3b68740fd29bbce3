"""Metrics buckets: counted in memory, written per process, summed by the monitor, kept across restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helixnet.core.metrics import Metrics, percentile
from helixnet.core.models import JobStatus


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_percentile_is_the_bucket_upper_bound():
    histogram = [0] * 17
    histogram[0] = 50  # <= 5 ms
    histogram[7] = 45  # <= 1000 ms
    histogram[10] = 5  # <= 10 s
    assert percentile(histogram, 0.5) == 5
    assert percentile(histogram, 0.95) == 1000
    assert percentile(histogram, 0.99) == 10_000
    assert percentile([0] * 17, 0.5) is None


def test_two_processes_sum_and_history_survives_a_restart(make_hx, database):
    hx = make_hx(database, workers=0)
    clock = Clock(datetime(2026, 1, 1, 12, 30, 10, tzinfo=UTC))
    first, second = Metrics(hx.db, clock=clock), Metrics(hx.db, clock=clock)
    for seconds in (0.004, 0.2, 3.0):
        first.record("echo", JobStatus.SUCCESS, seconds)
    first.record("echo", JobStatus.FAILURE, 0.001)
    second.record("echo", JobStatus.SUCCESS, 0.5)
    second.record("sleep", JobStatus.CANCELLED, 1.0)
    assert first.flush() == 1 and second.flush() == 2
    first.record("echo", JobStatus.SUCCESS, 0.001)  # the same minute again: the row is rewritten
    first.flush()
    clock.now += timedelta(minutes=5)
    after_restart = Metrics(hx.db, clock=clock)  # a new process: nothing in memory
    series = after_restart.series("hour")
    echo = [point for point in series["echo"] if point.succeeded or point.failed]
    assert len(echo) == 1
    assert (echo[0].succeeded, echo[0].failed, echo[0].at) == (5, 1, datetime(2026, 1, 1, 12, 30, tzinfo=UTC))
    assert echo[0].p50_ms == 5 and echo[0].p95_ms == 5000  # 5, 5, 5, 250, 500, 5000 ms (failures too)
    assert sum(point.cancelled for point in series["sleep"]) == 1
    assert len(series["echo"]) == 61
    assert sum(p.succeeded for p in after_restart.series("week")["echo"]) == 5
    clock.now += timedelta(hours=2)
    assert after_restart.series("hour") == {}


def test_workers_count_real_jobs(make_hx):
    hx = make_hx(workers=1)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    for job in [hx.jobs.submit(user, "echo", params={"fail": i == 0}) for i in range(4)]:
        hx.jobs.wait(job.id, timeout=30)
    hx.stop()  # flushes
    points = hx.metrics.series("hour")["echo"]
    assert sum(p.succeeded for p in points) == 3 and sum(p.failed for p in points) == 1
