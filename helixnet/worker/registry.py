"""Workers register themselves in the database and heart-beat there, so every process on every
machine shows up on the monitor: name, host, started, last heartbeat, jobs done, what it runs now.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update

from helixnet.core.db import Database
from helixnet.core.models import WorkerProcess, new_id
from helixnet.core.schemas import WorkerRead


class WorkerRegistry:
    def __init__(self, db: Database, *, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock

    def register(self, name: str, threads: int) -> str:
        """A row for a starting pool; returns its id."""
        now = self._clock()
        worker_id = new_id()
        with self._db.connect() as conn:
            conn.execute(insert(WorkerProcess), [{
                "id": worker_id, "name": name, "host": socket.gethostname(), "pid": os.getpid(),
                "threads": threads, "started_at": now, "heartbeat_at": now, "jobs_done": 0, "current_jobs": [],
            }])  # fmt: skip
        return worker_id

    def beat(self, worker_id: str, *, jobs_done: int, current_jobs: list[str]) -> None:
        with self._db.connect() as conn:
            conn.execute(update(WorkerProcess).where(WorkerProcess.id == worker_id).values(
                heartbeat_at=self._clock(), jobs_done=jobs_done, current_jobs=sorted(current_jobs)))  # fmt: skip

    def stopped(self, worker_id: str) -> None:
        with self._db.connect() as conn:
            conn.execute(update(WorkerProcess).where(WorkerProcess.id == worker_id).values(
                stopped_at=self._clock(), current_jobs=[]))  # fmt: skip

    def stopped_by_name(self, name: str) -> int:
        """Mark every live row of process ``name`` stopped (its supervisor saw it die); returns how many."""
        with self._db.connect() as conn:
            return conn.execute(update(WorkerProcess).where(WorkerProcess.name == name, WorkerProcess.stopped_at.is_(None))
                                .values(stopped_at=self._clock(), current_jobs=[])).rowcount  # fmt: skip

    def list(self, *, seen_within_seconds: float | None = 3600, limit: int = 200) -> list[WorkerRead]:
        """Workers seen recently (newest heartbeat first); stopped ones included, marked as such."""
        query = select(WorkerProcess).order_by(WorkerProcess.heartbeat_at.desc()).limit(limit)
        if seen_within_seconds is not None:
            query = query.where(WorkerProcess.heartbeat_at >= self._clock() - timedelta(seconds=seen_within_seconds))
        with self._db.read() as session:
            return [WorkerRead.model_validate(row) for row in session.scalars(query)]


__all__ = ["WorkerRegistry"]
