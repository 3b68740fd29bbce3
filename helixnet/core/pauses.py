"""Pause and resume a plugin: its jobs are still accepted and stay PENDING; no worker claims them.

The claim (``statements.CLAIM``) skips paused plugins and the sweeper does not re-enqueue their jobs,
so a paused plugin costs no queue churn. Resuming enqueues its PENDING jobs again in batches (a
message a worker dropped while paused is gone); a duplicate delivery is a no-op claim.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from helixnet.core.db import Database
from helixnet.core.models import Job, JobStatus, PausedPlugin
from helixnet.errors import QueueUnavailable, ValidationFailed
from helixnet.plugins.registry import PluginRegistry
from helixnet.queue import Queue

log = logging.getLogger(__name__)
BATCH = 500


class PauseService:
    def __init__(self, db: Database, queue: Queue, plugins: PluginRegistry, *, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._queue = queue
        self._plugins = plugins
        self._clock = clock

    def paused(self) -> dict[str, datetime]:
        """Paused plugins and since when."""
        with self._db.read() as session:
            return {row.plugin: row.paused_at for row in session.scalars(select(PausedPlugin))}

    def pause(self, plugin: str) -> None:
        """Stop claiming ``plugin``'s jobs (idempotent); running ones finish."""
        self._known(plugin)
        try:
            with self._db.write() as session:
                if session.get(PausedPlugin, plugin) is None:
                    session.add(PausedPlugin(plugin=plugin, paused_at=self._clock()))
        except IntegrityError:  # paused by someone else at the same moment
            pass

    def resume(self, plugin: str) -> int:
        """Claim ``plugin``'s jobs again; returns how many PENDING jobs were put back on the queue."""
        self._known(plugin)
        with self._db.write() as session:
            session.execute(delete(PausedPlugin).where(PausedPlugin.plugin == plugin))
        released = 0
        after: tuple[datetime, str] | None = None
        while True:
            # Jobs in a retry back-off (scheduled_at set) are the sweeper's to enqueue when due.
            query = select(Job.created_at, Job.id, Job.priority).where(
                Job.plugin == plugin, Job.status == JobStatus.PENDING.value, Job.scheduled_at.is_(None)
            )
            if after is not None:
                query = query.where(tuple_(Job.created_at, Job.id) > tuple_(*after))
            with self._db.read() as session:
                rows = session.execute(query.order_by(Job.created_at, Job.id).limit(BATCH)).all()
            if not rows:
                return released
            after = (rows[-1][0], rows[-1][1])
            now = self._clock()
            with self._db.connect() as conn:
                conn.execute(update(Job).where(Job.id.in_([r[1] for r in rows]), Job.status == JobStatus.PENDING.value)
                             .values(queued_at=now))  # fmt: skip
            for _, job_id, priority in rows:
                try:
                    self._queue.enqueue(job_id, priority)
                    released += 1
                except QueueUnavailable as exc:  # the stale-PENDING sweep enqueues it later
                    log.warning("resume could not enqueue job %s: %s", job_id, exc)

    def _known(self, plugin: str) -> None:
        if plugin not in self._plugins:
            raise ValidationFailed.field(["plugin"], f"unknown plugin {plugin!r}")


__all__ = ["PauseService"]
