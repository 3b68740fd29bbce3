"""One change feed per process: which jobs changed, for live pages, without a query per open tab.

Worker threads of this process call ``notify`` the moment they claim, report progress, log or
finish a job, and the services do on submit and cancel. Changes made by other processes (a
``helixnet worker`` elsewhere) are found by one shared poll (``poll_once``, every ``poll_seconds``
on one thread, 0.5 s by default: a change elsewhere shows within a second) that reads only the RUNNING rows (the partial active-jobs index) and the newest
``created_at`` (the created index): its cost does not grow with the history. Subscribers get
``Change`` values on the notifying thread and must hand them on quickly (the UI's hub does).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from helixnet.core.db import Database
from helixnet.core.models import Job, JobStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """``job_id`` changed; ``job_id`` None means "new jobs exist" (seen by the poll)."""

    job_id: str | None
    owner_id: str | None = None


Subscriber = Callable[[Change], None]


class ChangeFeed:
    def __init__(self, db: Database, *, poll_seconds: float = 0.5) -> None:
        self._db = db
        self.poll_seconds = poll_seconds
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._running: dict[str, tuple[str, Any, Any, Any]] | None = None
        self._newest: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` for every change; returns the function that ends the subscription."""
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def notify(self, job_id: str | None, owner_id: str | None = None) -> None:
        """Tell every subscriber at once; a failing subscriber never breaks the job path."""
        if not self._subscribers:
            return
        change = Change(job_id, owner_id)
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(change)
            except Exception:  # pragma: no cover - a subscriber's bug must not fail a job
                log.exception("change subscriber failed")

    def poll_once(self) -> list[Change]:
        """Compare the RUNNING rows and the newest job with the last poll; notify what differs."""
        with self._db.read() as session:
            rows = session.execute(
                select(Job.id, Job.owner_id, Job.progress, Job.message, Job.attempts).where(
                    Job.status == JobStatus.RUNNING.value
                )
            ).all()
            newest = session.scalar(select(func.max(Job.created_at)))
        running = {row[0]: (str(row[1]), row[2], row[3], row[4]) for row in rows}
        changes: list[Change] = []
        if self._running is not None:
            for job_id, state in running.items():
                if self._running.get(job_id) != state:
                    changes.append(Change(job_id, state[0]))
            for job_id, state in self._running.items():
                if job_id not in running:  # finished, requeued or cancelled
                    changes.append(Change(job_id, state[0]))
            if newest != self._newest:
                changes.append(Change(None))
        self._running, self._newest = running, newest
        for change in changes:
            self.notify(change.job_id, change.owner_id)
        return changes

    def start(self) -> None:
        """Run the shared poll on one daemon thread (idempotent)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="helixnet-changes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # the database may be briefly away; try again next tick
                log.warning("change feed poll failed", exc_info=True)
            self._stop.wait(self.poll_seconds)


__all__ = ["Change", "ChangeFeed"]
