"""``HelixNet``: the facade that embedding code, the API, the UI and the CLI all hold."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from types import TracebackType

from helixnet.core.artifacts import ArtifactService
from helixnet.core.changes import ChangeFeed
from helixnet.core.config import Settings
from helixnet.core.db import Database
from helixnet.core.digests import ArtifactDigests
from helixnet.core.firing import FireReport, ScheduleFirer
from helixnet.core.jobs import JobService
from helixnet.core.metrics import Metrics
from helixnet.core.migrate import upgrade
from helixnet.core.models import utcnow
from helixnet.core.pauses import PauseService
from helixnet.core.prometheus import DatabaseGauges, PrometheusMetrics
from helixnet.core.schedules import ScheduleService
from helixnet.core.security import TokenSigner
from helixnet.core.throttle import LoginThrottle
from helixnet.core.users import UserService
from helixnet.plugins.registry import PluginRegistry, discover
from helixnet.private import make_private_dir
from helixnet.queue import open_queue
from helixnet.storage import open_storage
from helixnet.worker.executors import Executors, StorageSpec
from helixnet.worker.pool import WorkerPool, process_worker_name
from helixnet.worker.registry import WorkerRegistry
from helixnet.worker.runner import JobRunner
from helixnet.worker.sweeper import Sweeper, SweepReport

log = logging.getLogger(__name__)


class HelixNet:
    """One HelixNet instance: database, queue, storage, plugins and the three services.

    Building it connects nothing heavy and starts no thread; ``start()`` migrates the schema and
    runs the embedded workers and the sweeper, ``stop()`` ends them.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        plugins: PluginRegistry | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings or Settings()
        self.settings.check()
        make_private_dir(self.settings.data_dir)
        self.clock = clock
        self.db = Database(self.settings.resolved_database_url)
        self.storage = open_storage(self.settings.resolved_storage_url, dict(self.settings.storage_options))
        self.queue = open_queue(
            self.settings.queue_url,
            name=self.settings.queue_name,
            data_dir=self.settings.data_dir,
            options=dict(self.settings.queue_options),
        )
        if plugins is None:
            plugins = discover(self.settings.plugins)
            plugins.configure(self.settings)
        self.plugins = plugins
        signer = TokenSigner(self.settings.signing_keys(), max_age_seconds=self.settings.token_max_age_seconds)
        throttle = LoginThrottle(
            self.db,
            max_failures=self.settings.login_max_failures,
            account_max_failures=self.settings.login_account_max_failures,
            lockout_seconds=self.settings.login_lockout_seconds,
        )
        self.users = UserService(self.db, signer, bcrypt_rounds=self.settings.bcrypt_rounds, throttle=throttle)
        self.artifacts = ArtifactService.from_settings(self.db, self.storage, self.settings, clock=clock)
        self.changes = ChangeFeed(self.db)
        # Its own registry, not prometheus_client's global one (several instances share a process).
        self.prometheus = PrometheusMetrics(DatabaseGauges(
            self.db, self.queue, clock=clock, alive_seconds=self.settings.job_lost_after_seconds))  # fmt: skip
        self.jobs = JobService(
            self.db,
            self.queue,
            self.plugins,
            clock=clock,
            default_max_retries=self.settings.job_max_retries,
            default_timeout=self.settings.job_default_timeout,
            on_cancel=self._cancel_local,
            on_change=self.changes.notify,
            on_submitted=self.prometheus.job_submitted,
        )
        # Schedules and delayed jobs are fired from the database by every sweeping process (issue 13).
        self.firer = ScheduleFirer(
            self.db, self.queue, default_max_retries=self.settings.job_max_retries,
            default_timeout=self.settings.job_default_timeout, on_change=self.changes.notify,
            on_submitted=self.prometheus.job_submitted,
        )  # fmt: skip
        self.schedules = ScheduleService(self.db, self.jobs, self.firer, clock=clock)
        self.workers = WorkerRegistry(self.db, clock=clock)
        self.metrics = Metrics(self.db, clock=clock, observer=self.prometheus.job_finished)
        self.pauses = PauseService(self.db, self.queue, self.plugins, clock=clock)
        # Where each plugin runs; a child process or a Dask task opens the same storage itself.
        self.executors = Executors(
            self.settings.executors,
            StorageSpec(self.settings.resolved_storage_url, dict(self.settings.storage_options)),
            self.plugins,
        )
        self.runner = JobRunner(
            self.db, self.storage, self.plugins, clock=clock, retry_backoff=self._backoff, requeue=self._requeue,
            on_change=self.changes.notify, metrics=self.metrics, executors=self.executors,
            requeue_many=self._requeue_many,
        )  # fmt: skip
        self.worker_name = process_worker_name()
        # S3 uploads completed without a declared sha256 get it here, off the request path.
        self.digests = ArtifactDigests(self.db, self.storage)
        self.sweeper = Sweeper(
            self.db,
            self.queue,
            holder=f"{self.worker_name}/{uuid.uuid4().hex[:8]}",
            lost_after_seconds=self.settings.job_lost_after_seconds,
            lease_seconds=max(3 * self.settings.sweep_interval_seconds, 5.0),
            digests=self.digests,
        )
        self._pool: WorkerPool | None = None
        self._migrated = False

    # -- lifecycle -------------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to head; a no-op when it is current."""
        upgrade(self.db.engine)
        self._migrated = True

    def start(self, workers: int | None = None, *, sweeper: bool | None = None) -> HelixNet:
        """Migrate, then run ``workers`` embedded threads (default HELIXNET_WORKERS) and the sweeper."""
        if not self._migrated:
            self.migrate()
        if self._pool is None:
            self._pool = self.worker_pool(
                self.settings.workers if workers is None else workers,
                sweeper=self.settings.sweeper if sweeper is None else sweeper,
            )
            self._pool.start()
        return self

    def worker_pool(self, threads: int, *, sweeper: bool = True) -> WorkerPool:
        """A pool over this instance's queue, for ``helixnet worker`` or custom embedding."""
        return WorkerPool(
            self.db,
            self.queue,
            self.runner,
            threads=threads,
            clock=self.clock,
            heartbeat_seconds=self.settings.job_heartbeat_seconds,
            sweep_interval_seconds=self.settings.sweep_interval_seconds,
            sweeper=self.sweeper if sweeper else None,
            firer=self.firer if sweeper else None,
            name=self.worker_name,
            registry=self.workers,
            metrics=self.metrics,
            claim_batch=self.settings.worker_claim_batch,
            claim_batch_below_seconds=self.settings.worker_claim_batch_below_seconds,
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the embedded workers: running jobs get ``timeout`` seconds to finish, then are handed back."""
        if self._pool is not None:
            self._pool.stop(timeout)
            self._pool = None
        self.digests.stop(timeout)
        self.executors.close()
        self.changes.stop()
        self.queue.close()
        self.db.dispose()

    def __enter__(self) -> HelixNet:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def pool(self) -> WorkerPool | None:
        return self._pool

    def recover_worker(self, name: str, *, reason: str = "its process exited") -> tuple[int, int]:
        """Recover at once the jobs of a worker process known to be dead (``name`` is ``host:pid``).

        A supervisor that saw its child exit calls this instead of waiting for the heartbeat to
        run out: RUNNING jobs held by ``name/w*`` are requeued or failed "worker lost" exactly as
        the sweeper would, and the worker's registry rows are marked stopped. Returns
        (requeued, failed).
        """
        recovered = self.sweeper.recover_worker(name, self.clock(), reason=reason)
        self.workers.stopped_by_name(name)
        return recovered

    def sweep(self, now: datetime | None = None) -> SweepReport:
        """One sweeper pass now (or at ``now``), whoever holds the lease: for tests and admin tools."""
        return self.sweeper.sweep(now or self.clock(), force=True)

    def fire(self, now: datetime | None = None) -> FireReport:
        """One firing pass now (or at ``now``): due schedules, queued runs, delayed jobs. For tests and tools."""
        return self.firer.tick(now or self.clock())

    # -- wiring ---------------------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        base = self.settings.job_retry_backoff_seconds
        return min(base * 2 ** max(0, attempt - 1), self.settings.job_retry_backoff_max_seconds)

    def _requeue(self, job_id: str, priority: int) -> None:
        from helixnet.errors import QueueUnavailable

        try:
            self.queue.enqueue(job_id, priority)
        except QueueUnavailable as exc:  # the stale-PENDING sweep finds it once the queue is back
            log.warning("could not requeue job %s for its retry: %s", job_id, exc)

    def _requeue_many(self, items: list[tuple[str, int]]) -> None:
        """Enqueue jobs a workflow released; on failure they stay PENDING for the stale sweep."""
        from helixnet.errors import QueueUnavailable

        try:
            self.queue.enqueue_many(items)
        except QueueUnavailable as exc:
            log.warning("could not enqueue %d released job(s): %s", len(items), exc)

    def _cancel_local(self, job_id: str) -> None:
        if self._pool is not None:
            self._pool.cancel_local(job_id)
