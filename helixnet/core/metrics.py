"""Per-minute, per-plugin job metrics: counted in memory on the job path, written every few seconds.

``Metrics.record`` is what a finishing job costs: a lock and a few additions, no I/O (as Sidekiq's
own stats). ``flush`` (the worker pool's monitor calls it every ``FLUSH_SECONDS``) writes this
process's totals of the minutes that changed into ``metric_buckets`` under its own ``source`` id,
so history survives restarts and the monitor never scans the jobs table. ``series`` reads them.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update

from helixnet.core.db import Database
from helixnet.core.models import JobStatus, MetricBucket, new_id

#: Upper bounds (ms) of the duration histogram; one more bucket counts everything longer.
BOUNDS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000)
FLUSH_SECONDS = 5.0
KEEP_DAYS = 8
#: window name -> (how far back, width of one point)
WINDOWS = {
    "hour": (timedelta(hours=1), timedelta(minutes=1)),
    "day": (timedelta(days=1), timedelta(minutes=15)),
    "week": (timedelta(days=7), timedelta(hours=2)),
}


@dataclass
class _Bucket:
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    duration_sum: float = 0.0
    histogram: list[int] = field(default_factory=lambda: [0] * (len(BOUNDS_MS) + 1))

    def add(self, other: _Bucket) -> None:
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.cancelled += other.cancelled
        self.duration_sum += other.duration_sum
        for index, count in enumerate(other.histogram[: len(self.histogram)]):
            self.histogram[index] += count


@dataclass(frozen=True)
class Point:
    """One step of a series: outcomes and duration percentiles (ms, None without finished jobs)."""

    at: datetime
    succeeded: int
    failed: int
    cancelled: int
    p50_ms: float | None
    p95_ms: float | None


def percentile(histogram: list[int], fraction: float) -> float | None:
    """The upper bound of the bucket holding the ``fraction`` quantile (an over-estimate, never under)."""
    total = sum(histogram)
    if not total:
        return None
    wanted = fraction * total
    running = 0
    for index, count in enumerate(histogram):
        running += count
        if running >= wanted:
            return float(BOUNDS_MS[index]) if index < len(BOUNDS_MS) else float("inf")
    return float("inf")  # pragma: no cover - running reaches total


class Metrics:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime],
        observer: Callable[[str, JobStatus, float], None] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        # Also told of every finished run (Prometheus' counters): one place observes outcomes.
        self._observer = observer
        self.source = new_id()  # this process's rows
        self._lock = threading.Lock()
        self._buckets: dict[tuple[datetime, str], _Bucket] = {}
        self._dirty: set[tuple[datetime, str]] = set()
        self._last_prune: datetime | None = None

    def record(self, plugin: str, status: JobStatus, seconds: float) -> None:
        """Count one finished job (the job path: memory only)."""
        minute = self._clock().replace(second=0, microsecond=0)
        key = (minute, plugin)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket()
            if status == JobStatus.SUCCESS:
                bucket.succeeded += 1
            elif status == JobStatus.FAILURE:
                bucket.failed += 1
            else:
                bucket.cancelled += 1
            bucket.duration_sum += seconds
            bucket.histogram[bisect.bisect_left(BOUNDS_MS, seconds * 1000)] += 1
            self._dirty.add(key)
        if self._observer is not None:
            self._observer(plugin, status, seconds)

    def flush(self) -> int:
        """Write the changed minutes of this process; forget minutes that are over and written."""
        now = self._clock()
        with self._lock:
            dirty = {key: _copy(self._buckets[key]) for key in self._dirty}
            self._dirty.clear()
            old = now.replace(second=0, microsecond=0) - timedelta(minutes=2)
            for key in [k for k in self._buckets if k[0] < old and k not in dirty]:
                del self._buckets[key]
        try:
            with self._db.write() as session:
                for (minute, plugin), bucket in dirty.items():
                    values = {"succeeded": bucket.succeeded, "failed": bucket.failed, "cancelled": bucket.cancelled,
                              "duration_sum": bucket.duration_sum, "histogram": bucket.histogram}  # fmt: skip
                    key_match = (MetricBucket.minute == minute, MetricBucket.plugin == plugin,
                                 MetricBucket.source == self.source)  # fmt: skip
                    changed = session.execute(update(MetricBucket).where(*key_match).values(**values))
                    if not changed.rowcount:  # type: ignore[attr-defined]  # an UPDATE's CursorResult
                        session.execute(insert(MetricBucket).values(minute=minute, plugin=plugin, source=self.source,
                                                                    **values))  # fmt: skip
                if self._last_prune is None or now - self._last_prune > timedelta(hours=1):
                    session.execute(delete(MetricBucket).where(MetricBucket.minute < now - timedelta(days=KEEP_DAYS)))
                    self._last_prune = now
        except Exception:
            with self._lock:  # written next time
                self._dirty.update(dirty)
            raise
        return len(dirty)

    def series(self, window: str = "hour") -> dict[str, list[Point]]:
        """Per plugin, one point per step of ``window`` ("hour", "day", "week"), oldest first."""
        span, step = WINDOWS[window]
        now = self._clock()
        start = _floor(now - span, step)
        steps = int((_floor(now, step) - start) / step) + 1
        query = select(MetricBucket).where(MetricBucket.minute >= start)
        merged: dict[str, list[_Bucket]] = {}
        with self._db.read() as session:
            for row in session.scalars(query):
                index = int((_floor(row.minute, step) - start) / step)
                if not 0 <= index < steps:
                    continue
                points = merged.setdefault(row.plugin, [_Bucket() for _ in range(steps)])
                points[index].add(_Bucket(row.succeeded, row.failed, row.cancelled, row.duration_sum, list(row.histogram)))
        return {
            plugin: [Point(start + i * step, b.succeeded, b.failed, b.cancelled, percentile(b.histogram, 0.5),
                           percentile(b.histogram, 0.95)) for i, b in enumerate(points)]  # fmt: skip
            for plugin, points in sorted(merged.items())
        }


def _copy(bucket: _Bucket) -> _Bucket:
    return _Bucket(bucket.succeeded, bucket.failed, bucket.cancelled, bucket.duration_sum, list(bucket.histogram))


def _floor(moment: datetime, step: timedelta) -> datetime:
    epoch = datetime(2000, 1, 1, tzinfo=moment.tzinfo)
    return epoch + ((moment - epoch) // step) * step


__all__ = ["BOUNDS_MS", "FLUSH_SECONDS", "WINDOWS", "Metrics", "Point", "percentile"]
