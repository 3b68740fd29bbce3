"""``postgresql://``: huey 3.5's PostgresStorage as a queue, so a deployment can be PostgreSQL and S3 alone.

Takes with ``FOR UPDATE SKIP LOCKED`` (many workers never take one id twice) and waits on
``LISTEN``: an enqueue's ``pg_notify`` wakes an idle worker in any process at once, with no
polling. psycopg (``pip install "helixnet[postgres]"``) is imported only when such a queue opens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from huey.storage import PostgresStorage

from helixnet.errors import ConfigurationError
from helixnet.queue.huey import DEFAULT_REDIS_BLOCK, MIN_BLOCK, BlockingHueyQueue, build_queue

#: Tables are ``helixnet_queue_task`` and friends: apart from the schema's own, and said so.
TABLE_PREFIX = "helixnet_queue"


def is_queue_table(name: str) -> bool:
    """True for the tables (and their indexes) this queue creates; they are not the schema's."""
    return name.startswith(f"{TABLE_PREFIX}_")


class _PostgresStorage(PostgresStorage):
    """huey's PostgresStorage whose pop takes its wait per call and listens before it looks.

    huey's own ``dequeue`` looks first and LISTENs after, so a NOTIFY in between is missed
    until its read timeout; listening first means any enqueue after the look wakes us. huey
    leaves each thread's LISTEN connection to the garbage collector (a ResourceWarning each);
    here ``close`` closes them all.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._listeners: set[Any] = set()
        self._listeners_lock = threading.Lock()
        self._shut = False
        super().__init__(*args, **kwargs)

    def _connect(self) -> Any:
        """No new connection once closed: a thread still finishing its last call gets an error (the
        queue answers QueueUnavailable), not a connection nobody will close."""
        if self._shut:
            import psycopg

            raise psycopg.OperationalError("the queue is closed")
        return super()._connect()

    _create_connection = _connect

    def _listen_conn(self) -> Any:
        conn = super()._listen_conn()
        with self._listeners_lock:
            self._listeners.add(conn)
        return conn

    def close(self) -> bool:
        with self._listeners_lock:
            self._shut = True
            listeners, self._listeners = self._listeners, set()
        for conn in listeners:
            self._close_quiet(conn)
        self._listen_local = threading.local()
        return bool(super().close())

    def pop(self, wait: float) -> bytes | None:
        listener = self._listen_conn() if wait >= MIN_BLOCK else None
        data: bytes | None = self._dequeue()
        if data is not None or listener is None:
            return data
        deadline = time.monotonic() + wait
        while (remaining := deadline - time.monotonic()) > 0:
            if not list(listener.notifies(timeout=remaining, stop_after=1)):
                return None
            data = self._dequeue()
            if data is not None:
                return data  # else another worker took it: wait on
        return None


    def enqueue_many(self, messages: list[tuple[bytes, int]]) -> None:
        """Every message in one transaction (psycopg pipelines the rows) and one NOTIFY."""
        rows = [(self.name, data, priority or 0) for data, priority in messages]
        with self.db(commit=True) as curs:
            curs.executemany(f"insert into {self.table_task} (queue, data, priority) values (%s, %s, %s)", rows)
            curs.execute("select pg_notify(%s, %s)", (self.channel, ""))

    def pop_many(self, count: int) -> list[bytes]:
        """Up to ``count`` messages in one statement, without waiting (SKIP LOCKED: never one twice)."""
        with self.db() as curs:
            curs.execute(f"delete from {self.table_task} where id in (select id from {self.table_task} "
                         "where queue = %s order by priority desc, id limit %s for update skip locked) "
                         "returning priority, id, data", (self.name, count))  # fmt: skip
            rows = curs.fetchall()
        # The DELETE returns them in no set order: the queue's own, higher priority first, then FIFO.
        return [bytes(data) for _priority, _id, data in sorted(rows, key=lambda row: (-row[0], row[1]))]


class PostgresHueyQueue(BlockingHueyQueue):
    """huey's PostgresStorage: shared by every process, priorities, LISTEN/NOTIFY instead of polling.

    ``poll_interval`` is the longest single LISTEN wait; ``application_name`` shows in
    ``pg_stat_activity``, so operators see which connections are the queue's. A dropped connection (a restarted
    server, ``pg_terminate_backend``) fails that one call with QueueUnavailable; the next one
    connects again.
    """

    shared, blocking, priority = True, True, True
    storage_class = _PostgresStorage
    backend_errors: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(self, dsn: str, name: str = "helixnet", *, poll_interval: float = DEFAULT_REDIS_BLOCK,
                 connect_timeout: float = 5.0, application_name: str = "helixnet-queue") -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise ConfigurationError(
                'the postgresql:// queue needs psycopg: pip install "helixnet[postgres]"') from exc
        type(self).backend_errors = (psycopg.Error,)
        try:  # huey creates its tables now, so a wrong DSN or a server that is down fails here
            super().__init__(name, poll_interval=poll_interval, dsn=dsn, table_prefix=TABLE_PREFIX,
                             connect_timeout=max(1, round(connect_timeout)),
                             application_name=application_name)  # fmt: skip
        except psycopg.Error as exc:
            raise ConfigurationError(f"cannot open the PostgreSQL queue at {_safe(dsn)}: {exc}") from exc


    def enqueue_in(self, conn: Any, items: Sequence[tuple[str, int]]) -> bool:
        """The job rows' own transaction carries the messages when the queue's tables are in that database.

        NOTIFY is transactional too: idle workers wake when the caller commits, and not before.
        """
        if self._closed or not self._same_database(conn):
            return False
        storage = self._huey.storage
        rows = [(storage.name, self._huey.serialize_task(self._task.s(job_id, priority=p)), p or 0) for job_id, p in items]
        if rows:
            conn.exec_driver_sql(f"insert into {storage.table_task} (queue, data, priority) values (%s, %s, %s)", rows)
            conn.exec_driver_sql("select pg_notify(%s, %s)", (storage.channel, ""))
        return True

    def _same_database(self, conn: Any) -> bool:
        url = conn.engine.url
        if url.get_backend_name() != "postgresql" or url.get_driver_name() != "psycopg":
            return False
        mine = urlsplit(self._huey.storage.dsn)
        theirs = (url.host or "localhost", url.port or 5432, url.database or "", url.username or "")
        return theirs == (mine.hostname or "localhost", mine.port or 5432, mine.path.lstrip("/"), mine.username or "")


def _safe(dsn: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def postgres_queue(url: str, *, name: str = "helixnet", data_dir: str | Path | None = None,
                   options: dict[str, Any] | None = None) -> PostgresHueyQueue:
    """``postgresql://user@host/db`` (also ``postgres://`` and SQLAlchemy's ``postgresql+psycopg://``)."""
    parts = urlsplit(url)
    dsn = urlunsplit(parts._replace(scheme="postgresql"))
    return build_queue(PostgresHueyQueue, dsn, name=name, options=options)


__all__ = ["TABLE_PREFIX", "PostgresHueyQueue", "is_queue_table", "postgres_queue"]
