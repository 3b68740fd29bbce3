"""Prometheus metrics for one HelixNet instance: job counters, a duration histogram, database gauges.

Each ``HelixNet`` has its own ``CollectorRegistry`` (never prometheus_client's global one): several
instances live in one test process, and an embedding application keeps its own metrics apart.

* ``helixnet_jobs_submitted_total{plugin}``: counted once the submitted row has committed.
* ``helixnet_jobs_finished_total{plugin,status}`` and ``helixnet_job_duration_seconds{plugin}``:
  observed by ``helixnet.core.metrics.Metrics.record``, the one place a finished run is counted
  (the admin charts' buckets are fed there too). Jobs cancelled before they started and jobs the
  sweeper fails as "worker lost" never ran here, so they are not in these two.
* ``helixnet_queue_depth`` (PENDING), ``helixnet_jobs_running``, ``helixnet_workers_alive`` and
  ``helixnet_queue_messages``: read from the database (and the queue) when scraped, so they are
  cluster-wide whichever process answers; one indexed query for the jobs, one for the workers.

Multiprocess mode. With ``PROMETHEUS_MULTIPROC_DIR`` set, prometheus_client writes counters and
histograms to per-process files in that folder and the exposition sums every process's files
(``MultiProcessCollector``), so one scrape covers all worker processes of a machine. In that mode
one process should hold one HelixNet (two instances in one process would share the same file
entries). What a process supervisor (``helixnet worker --processes P``) needs, as plain functions:

* ``prepare_multiprocess_dir(path)``: in the parent, before starting children: creates the folder,
  removes files a previous run left, and sets ``PROMETHEUS_MULTIPROC_DIR`` for the children.
* ``enable_multiprocess(path)``: in a child that was forked from a parent that had already imported
  prometheus_client without the variable (the value class is chosen at that import); a child
  started as a fresh interpreter with the variable in its environment needs nothing.
* ``child_exited(pid)``: when a child dies (``multiprocess.mark_process_dead``); its counters stay
  in the sums, as Prometheus expects of counters.
* ``exposition_registry(hx_metrics)`` / ``PrometheusMetrics.exposition()``: what to serve, and
  ``helixnet.metrics_server.serve_metrics(host, port, token, registry)`` serves it with the token rule.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from helixnet.core.config import Settings
from helixnet.core.db import Database
from helixnet.core.metrics import BOUNDS_MS
from helixnet.core.models import ACTIVE_STATUSES, Job, JobStatus, WorkerProcess

if TYPE_CHECKING:
    from helixnet.queue import Queue

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: What ``generate_latest`` writes: the classic text format. prometheus_client 0.23+ names version
#: 1.0.0 as its CONTENT_TYPE_LATEST (UTF-8 names), which older Prometheus servers do not accept.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Run-time buckets in seconds, 5 ms to 1 h: the admin charts' bounds, so both tell the same story.
DURATION_BUCKETS = tuple(bound / 1000 for bound in BOUNDS_MS)
__all__ = [
    "CONTENT_TYPE",
    "DURATION_BUCKETS",
    "DatabaseGauges",
    "PrometheusMetrics",
    "bearer_matches",
    "child_exited",
    "enable_multiprocess",
    "metrics_token",
    "multiprocess_dir",
    "prepare_multiprocess_dir",
]


def multiprocess_dir() -> str | None:
    """The multiprocess folder when this process runs in prometheus_client's multiprocess mode."""
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` empty (stale files of an earlier run would add to the sums) and point
    ``PROMETHEUS_MULTIPROC_DIR`` at it for this process and the children it starts after."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    for entry in folder.glob("*.db"):
        entry.unlink(missing_ok=True)
    enable_multiprocess(folder)
    return folder


def enable_multiprocess(path: str | os.PathLike[str]) -> None:
    """Use the multiprocess files in ``path`` from now on in this process (metrics built later).

    prometheus_client picks its value class when ``prometheus_client.values`` is first imported;
    a process that imported it before the variable was set (a forked child) is put in step here.
    """
    os.environ[MULTIPROC_ENV] = str(path)
    _value_class_in_step()


def disable_multiprocess() -> None:
    """Back to this process's own counters (a supervisor that made a temporary folder, at its end)."""
    os.environ.pop(MULTIPROC_ENV, None)
    _value_class_in_step()


def child_exited(pid: int) -> None:
    """Bookkeeping for a dead child process (its live gauges, if any, leave the sums)."""
    folder = multiprocess_dir()
    if folder:
        mark_process_dead(pid, folder)


def _value_class_in_step() -> None:
    wanted = multiprocess_dir() is not None
    if getattr(values.ValueClass, "_multiprocess", False) != wanted:
        values.ValueClass = values.get_value_class()


def metrics_token(settings: Settings) -> str | None:
    """HELIXNET_METRICS_TOKEN, or None when metrics are not served (unset or empty)."""
    value = settings.metrics_token.get_secret_value() if settings.metrics_token is not None else ""
    return value or None


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>``, compared in constant time."""
    if not authorization or not token:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


class DatabaseGauges(Collector):
    """Gauges computed when scraped, from the database: the same answer from every process."""

    def __init__(
        self, db: Database, queue: Queue | None, *, clock: Callable[[], datetime], alive_seconds: float
    ) -> None:
        self._db = db
        self._queue = queue
        self._clock = clock
        self._alive = timedelta(seconds=alive_seconds)

    def describe(self) -> Iterable[Metric]:
        return []  # registering must not query the database

    def collect(self) -> Iterable[Metric]:
        try:
            # PENDING, RUNNING and WAITING in one statement, an index range of ix_jobs_status_owner each.
            jobs = (select(Job.status, func.count()).where(Job.status.in_([s.value for s in ACTIVE_STATUSES]))
                    .group_by(Job.status))  # fmt: skip
            alive = (select(func.count()).select_from(WorkerProcess)
                     .where(WorkerProcess.heartbeat_at >= self._clock() - self._alive,
                            WorkerProcess.stopped_at.is_(None)))  # fmt: skip
            with self._db.read() as session:
                counts = {JobStatus(status): int(n) for status, n in session.execute(jobs)}
                workers = int(session.scalar(alive) or 0)
        except Exception as exc:  # a scrape answers what it can; the database's trouble is logged
            log.warning("metrics: database gauges unavailable: %s", type(exc).__name__)
        else:
            yield GaugeMetricFamily("helixnet_queue_depth", "Jobs waiting to run (PENDING), cluster-wide.",
                                    value=counts.get(JobStatus.PENDING, 0))  # fmt: skip
            yield GaugeMetricFamily("helixnet_jobs_running", "Jobs RUNNING now, cluster-wide.",
                                    value=counts.get(JobStatus.RUNNING, 0))  # fmt: skip
            yield GaugeMetricFamily("helixnet_jobs_waiting", "Jobs WAITING for their parents (workflows), cluster-wide.",
                                    value=counts.get(JobStatus.WAITING, 0))  # fmt: skip
            yield GaugeMetricFamily("helixnet_workers_alive", "Worker processes with a fresh heartbeat.", value=workers)
        if self._queue is not None:
            try:
                size = self._queue.size()
            except Exception as exc:
                log.warning("metrics: queue size unavailable: %s", type(exc).__name__)
            else:
                yield GaugeMetricFamily("helixnet_queue_messages", "Job ids waiting in the queue backend.", value=size)


class PrometheusMetrics:
    """One instance's counters and histogram, and the text a scrape gets."""

    def __init__(self, gauges: Collector | None = None) -> None:
        _value_class_in_step()
        self.registry = CollectorRegistry(auto_describe=False)
        self.gauges = gauges
        # Labelled children by label values: ``labels()`` validates and locks on every call, and
        # this is the job path (a dict lookup; a racing first call only builds the same child twice).
        self._children: dict[tuple[str, ...], Any] = {}
        self.submitted = Counter("helixnet_jobs_submitted", "Jobs accepted (committed), by plugin.", ["plugin"],
                                 registry=self.registry)  # fmt: skip
        self.finished = Counter("helixnet_jobs_finished", "Job runs that ended, by plugin and final status.",
                                ["plugin", "status"], registry=self.registry)  # fmt: skip
        self.duration = Histogram("helixnet_job_duration_seconds", "Run time of the plugin, by plugin.", ["plugin"],
                                  buckets=DURATION_BUCKETS, registry=self.registry)  # fmt: skip
        if gauges is not None:
            self.registry.register(gauges)

    def job_submitted(self, plugin: str, count: int = 1) -> None:
        child = self._children.get(("submitted", plugin))
        if child is None:
            child = self._children[("submitted", plugin)] = self.submitted.labels(plugin=plugin)
        child.inc(count)

    def job_finished(self, plugin: str, status: JobStatus | str, seconds: float) -> None:
        status_name = status.value if isinstance(status, JobStatus) else str(status)
        finished = self._children.get(("finished", plugin, status_name))
        if finished is None:
            finished = self._children[("finished", plugin, status_name)] = self.finished.labels(plugin, status_name)
        duration = self._children.get(("duration", plugin))
        if duration is None:
            duration = self._children[("duration", plugin)] = self.duration.labels(plugin=plugin)
        finished.inc()
        duration.observe(max(0.0, seconds))

    def exposition_registry(self) -> CollectorRegistry:
        """This process's registry, or in multiprocess mode the sum of every process's files."""
        folder = multiprocess_dir()
        if folder is None:
            return self.registry
        registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(registry, path=folder)
        if self.gauges is not None:
            registry.register(self.gauges)
        return registry

    def exposition(self) -> bytes:
        """The scrape's body, in the text format of ``CONTENT_TYPE``."""
        return generate_latest(self.exposition_registry())
