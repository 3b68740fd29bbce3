"""Queue adapters over huey 3.5 storages: process memory, a SQLite file, Redis (PostgreSQL: ``postgres.py``).

Each adapter owns one ``huey.Huey`` (no module-level singleton) holding one task,
``helixnet.run_job``, whose first argument is the job id. Workers take ids with
:meth:`HueyQueue.dequeue`; they never let huey execute the task.

Latency: an idle huey consumer backs off its polling up to seconds. Here a ``dequeue``
in the process that enqueued wakes at once (a condition notified by ``enqueue``), and
otherwise polls the storage every ``poll_interval`` seconds, fixed, so an enqueue from
another process is seen within that interval. Redis blocks server-side (BZPOPMIN).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import struct
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import redis
from huey import Huey
from huey.storage import BaseStorage, MemoryStorage, PriorityRedisStorage, SqliteStorage

from helixnet.errors import ConfigurationError, QueueUnavailable
from helixnet.private import touch_private
from helixnet.queue.base import Queue
from helixnet.queue.serializer import JsonSerializer, build_queue

logger = logging.getLogger(__name__)

TASK_NAME = "helixnet.run_job"
"""huey's registry key of our one task (``module.name`` of its class), stable across releases."""
_TASK_MODULE, _, _TASK_NAME = TASK_NAME.rpartition(".")

DEFAULT_POLL_INTERVAL = 0.02
"""Seconds between two looks at a memory or SQLite storage while nothing was notified."""
DEFAULT_REDIS_BLOCK = 0.25
"""Longest single server-side wait (BZPOPMIN, LISTEN), in seconds: bounds how late a waiter notices ``wake_all``."""
MIN_BLOCK = 0.01  # Redis reads a BZPOPMIN timeout of 0 as "forever": shorter waits look once.

def _run_job(job_id: str) -> str:
    """Body of the huey task: never run by our workers, which dequeue ids themselves."""
    return job_id


class HueyQueue(Queue):
    """A :class:`Queue` over one huey instance; subclasses choose the storage."""

    storage_class: ClassVar[type[BaseStorage]]
    #: The backend's exceptions, translated to ``QueueUnavailable`` at this edge.
    backend_errors: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(self, name: str = "helixnet", *, poll_interval: float = DEFAULT_POLL_INTERVAL,
                 **storage_kwargs: Any) -> None:
        if not poll_interval > 0:
            raise ConfigurationError(f"queue poll_interval must be > 0 seconds, not {poll_interval!r}")
        self._poll_interval = float(poll_interval)
        self._cond = threading.Condition()
        self._enqueued = 0  # enqueues made by this process; lets a waiter see one it raced
        self._wakes = 0  # bumped by wake_all() and close(); a waiter returns when it moves
        self._closed = False
        self._poller: object | None = None  # the waiter that polls the storage
        self._huey = Huey(name, results=False, serializer=JsonSerializer(),
                          storage_class=self.storage_class, **storage_kwargs)
        self._task = self._huey.task(name=_TASK_NAME, __module__=_TASK_MODULE)(_run_job)

    @property
    def name(self) -> str:
        return str(self._huey.name)

    @property
    def huey(self) -> Huey:
        """The huey instance underneath, for huey's own tools (its enqueues wake no waiter here)."""
        return self._huey

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def enqueue(self, job_id: str, priority: int = 0) -> None:
        if not isinstance(job_id, str):
            raise TypeError(f"job_id must be a str, not {type(job_id).__name__}")
        if self._closed:
            raise QueueUnavailable(f"{self!r} is closed")
        with self._edge("enqueue"):
            self._huey.enqueue(self._task.s(job_id, priority=priority))
        with self._cond:
            self._enqueued += 1
            self._cond.notify()

    def enqueue_many(self, items: Sequence[tuple[str, int]]) -> None:
        items = list(items)
        if any(not isinstance(job_id, str) for job_id, _ in items):
            raise TypeError("every job_id must be a str")
        if self._closed:
            raise QueueUnavailable(f"{self!r} is closed")
        if not items:
            return
        messages = [(self._huey.serialize_task(self._task.s(job_id, priority=p)), p) for job_id, p in items]
        with self._edge("enqueue"):
            self._put_many(messages)
        with self._cond:
            self._enqueued += len(items)
            self._cond.notify_all()

    def _put_many(self, messages: list[tuple[bytes, int]]) -> None:
        """Store serialised messages in order; storages that can do it in one round trip override this."""
        for data, priority in messages:
            self._huey.storage.enqueue(data, priority)

    def dequeue(self, timeout: float = 0.0) -> str | None:
        deadline = time.monotonic() + timeout
        wakes = self._wakes
        me: object | None = None  # set once this call waits; the polling baton's owner tag
        try:
            while not self._closed:
                seen = self._enqueued
                job_id = self._take(0.0, wakes)
                if job_id is not None:
                    return job_id
                with self._cond:
                    if self._wakes != wakes:
                        return None
                    if self._enqueued != seen:  # an enqueue slipped in after our look
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    # One waiter at a time polls the storage (for other processes'
                    # enqueues); the rest sleep until notified, so idle cost does not
                    # grow with the number of worker threads.
                    if me is None:
                        me = object()
                    if self._poller is None:
                        self._poller = me
                    self._cond.wait(min(self._poll_interval, remaining) if self._poller is me else remaining)
            return None
        finally:
            if me is not None and self._poller in (me, None):
                with self._cond:  # hand the polling to another waiter
                    if self._poller in (me, None):
                        self._poller = None
                        self._cond.notify()

    def _take(self, wait: float, wakes: int) -> str | None:
        """Pop messages until one holds a job id, or the storage has none (after ``wait``)."""
        while True:
            try:
                data = self._pop(wait)
            except self.backend_errors as exc:
                if self._closed or self._wakes != wakes:
                    return None  # close() cut the connection under us
                raise QueueUnavailable(f"{self!r}: dequeue failed: {exc}") from exc
            if data is None:
                return None
            job_id = self._decode(data)
            if job_id is not None:
                return job_id

    def _pop(self, wait: float) -> bytes | None:
        """One raw message from the storage, or None. Non-blocking storages ignore ``wait``."""
        return self._huey.storage.dequeue()

    def _decode(self, data: bytes) -> str | None:
        try:
            job_id = self._huey.deserialize_task(data).args[0]
        except Exception:  # anything in the backend may be garbage; never crash the worker
            logger.warning("%r: skipped an unreadable message (%d bytes): %.80r",
                           self, len(data), data, exc_info=True)
            return None
        if not isinstance(job_id, str):
            logger.warning("%r: skipped a message whose job id is a %s", self, type(job_id).__name__)
            return None
        return job_id

    def size(self) -> int:
        with self._edge("size"):
            return int(self._huey.storage.queue_size())

    def flush(self) -> None:
        with self._edge("flush"):
            self._huey.storage.flush_queue()

    @contextlib.contextmanager
    def _edge(self, operation: str) -> Iterator[None]:
        """Translate the backend's errors into ours, keeping the original as the cause."""
        try:
            yield
        except self.backend_errors as exc:
            raise QueueUnavailable(f"{self!r}: {operation} failed: {exc}") from exc

    def wake_all(self) -> None:
        with self._cond:
            self._wakes += 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._wakes += 1
            self._cond.notify_all()
        try:
            self._close_storage()
        except self.backend_errors:
            logger.debug("%r: error while closing", self, exc_info=True)

    def _close_storage(self) -> None:
        self._huey.storage.close()


class MemoryHueyQueue(HueyQueue):
    """huey's MemoryStorage: this process only; for tests and single-process setups."""

    shared, blocking, priority = False, False, True
    storage_class = MemoryStorage

    def __init__(self, name: str = "helixnet", *, poll_interval: float = DEFAULT_POLL_INTERVAL) -> None:
        super().__init__(name, poll_interval=poll_interval)


class _SqliteStorage(SqliteStorage):
    """huey's SqliteStorage with a chosen ``synchronous`` level (huey offers OFF or FULL).

    In WAL mode NORMAL survives any process crash without an fsync per commit (1.6k ->
    6.5k enqueues/s here); a power cut may lose the last ids, which the sweeper enqueues
    again from their PENDING rows.
    """

    def __init__(self, *args: Any, synchronous: str = "NORMAL", **kwargs: Any) -> None:
        self._synchronous = synchronous
        super().__init__(*args, **kwargs)

    def _create_connection(self) -> sqlite3.Connection:
        conn = super()._create_connection()
        conn.execute(f"pragma synchronous={self._synchronous}")
        return conn

    def enqueue_many(self, messages: list[tuple[bytes, int]]) -> None:
        """Every message in one transaction (one commit, not one each)."""
        rows = [(self.name, self.to_blob(data), priority or 0) for data, priority in messages]
        with self.db(commit=True) as curs:
            curs.executemany("insert into task (queue, data, priority) values (?, ?, ?)", rows)


class SqliteHueyQueue(HueyQueue):
    """huey's SqliteStorage in WAL mode: shared by every process that opens the file."""

    def _put_many(self, messages: list[tuple[bytes, int]]) -> None:
        self._huey.storage.enqueue_many(messages)

    shared, blocking, priority = True, False, True
    storage_class = _SqliteStorage
    backend_errors = (sqlite3.Error,)

    def __init__(self, path: str | Path, name: str = "helixnet", *,
                 poll_interval: float = DEFAULT_POLL_INTERVAL, busy_timeout: float = 5.0,
                 synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ConfigurationError(f"unknown SQLite synchronous level {synchronous!r}")
        self.path = Path(path)
        try:  # huey creates the tables now, so a bad path fails here
            super().__init__(name, poll_interval=poll_interval, filename=str(self.path),
                             journal_mode="wal", timeout=busy_timeout, synchronous=synchronous.upper())
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open the SQLite queue at {self.path}: {exc}") from exc


class _PriorityRedisStorage(PriorityRedisStorage):
    """huey's PriorityRedisStorage whose pop takes its wait per call (huey's own
    ``dequeue`` blocks for one ``read_timeout`` fixed at construction)."""

    def pop(self, wait: float) -> bytes | None:
        if wait < MIN_BLOCK:
            items = self.conn.zpopmin(self.queue_key, count=1)
            raw = items[0][0] if items else None
        else:
            reply = self.conn.bzpopmin(self.queue_key, timeout=wait)
            raw = reply[1] if reply else None
        # RedisPriorityQueue.enqueue prefixes 8 bytes of timestamp (FIFO within a score).
        return None if raw is None else raw[8:]

    def enqueue_many(self, messages: list[tuple[bytes, int]]) -> None:
        """One ZADD for them all; consecutive microsecond prefixes keep their order within a priority."""
        base = int(time.time() * 1e6)
        members = {struct.pack(">Q", base + i) + data: -(priority or 0) for i, (data, priority) in enumerate(messages)}
        self.conn.zadd(self.queue_key, members)

    def pop_many(self, count: int) -> list[bytes]:
        """Up to ``count`` messages in one ZPOPMIN, without waiting."""
        return [raw[8:] for raw, _score in self.conn.zpopmin(self.queue_key, count=count)]


class BlockingHueyQueue(HueyQueue):
    """A queue whose storage waits server-side (Redis' BZPOPMIN, PostgreSQL's LISTEN/NOTIFY).

    ``dequeue`` waits in slices of ``poll_interval``, so ``wake_all`` and ``close`` are noticed
    within one slice; the storage's ``pop(wait)`` does the waiting.
    """

    def dequeue(self, timeout: float = 0.0) -> str | None:
        deadline = time.monotonic() + timeout
        wakes = self._wakes
        while not self._closed and self._wakes == wakes:
            remaining = deadline - time.monotonic()
            wait = min(remaining, self._poll_interval)
            job_id = self._take(wait, wakes)
            if job_id is not None:
                return job_id
            if remaining <= self._poll_interval:
                return None
        if self._closed:  # our connection went back to the pool after close(): drop it too
            self._close_storage()
        return None

    def _pop(self, wait: float) -> bytes | None:
        return self._huey.storage.pop(wait)  # type: ignore[no-any-return]

    def _put_many(self, messages: list[tuple[bytes, int]]) -> None:
        self._huey.storage.enqueue_many(messages)

    def dequeue_many(self, limit: int, timeout: float = 0.0) -> list[str]:
        """The first id as ``dequeue`` waits for it, the rest in one round trip (ZPOPMIN / one DELETE)."""
        first = self.dequeue(timeout)
        if first is None or limit <= 1:
            return [] if first is None else [first]
        wakes = self._wakes
        try:
            with self._edge("dequeue"):
                raws = self._huey.storage.pop_many(limit - 1)
        except QueueUnavailable:
            if self._closed or self._wakes != wakes:
                return [first]
            raise
        return [first, *(job_id for raw in raws if (job_id := self._decode(raw)) is not None)]


class RedisHueyQueue(BlockingHueyQueue):
    """huey's PriorityRedisStorage: priorities, and a blocking pop instead of polling.

    ``poll_interval`` is the longest single BZPOPMIN; it must stay below ``socket_timeout``.
    Fails fast while Redis is down and works again once it is back (redis-py's pool
    replaces dead connections when it hands them out).
    """

    shared, blocking, priority = True, True, True
    storage_class = _PriorityRedisStorage
    backend_errors = (redis.RedisError,)

    def __init__(self, url: str, name: str = "helixnet", *, poll_interval: float = DEFAULT_REDIS_BLOCK,
                 socket_timeout: float = 5.0, connect_timeout: float = 3.0) -> None:
        if not 0 < poll_interval < socket_timeout:
            raise ConfigurationError("redis queue needs 0 < poll_interval < socket_timeout")
        try:
            pool = redis.ConnectionPool.from_url(
                url, socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout)
        except ValueError as exc:
            raise ConfigurationError(f"bad redis queue URL: {exc}") from exc
        super().__init__(name, poll_interval=poll_interval, connection_pool=pool)

    def _close_storage(self) -> None:
        # Idle connections only: closing one that another thread is reading breaks redis-py
        # (ValueError from its buffer); waiters close theirs once their pop ends.
        self._huey.storage.pool.disconnect(inuse_connections=False)


def memory_queue(url: str, *, name: str = "helixnet", data_dir: str | Path | None = None,
                 options: dict[str, Any] | None = None) -> MemoryHueyQueue:
    """``memory://``: a queue in this process only (``data_dir`` is ignored)."""
    return build_queue(MemoryHueyQueue, name=name, options=options)


def sqlite_queue(url: str, *, name: str = "helixnet", data_dir: str | Path | None = None,
                 options: dict[str, Any] | None = None) -> SqliteHueyQueue:
    """``sqlite://`` -> ``<data_dir>/queue.db``; ``sqlite:///abs/path.db`` -> that file."""
    parts = urlsplit(url)
    if parts.netloc or parts.query:
        raise ConfigurationError("a sqlite queue URL is sqlite:// or sqlite:///absolute/path.db"
                                 " (pass options, not a query string)")
    if parts.path in ("", "/"):
        if data_dir is None:
            raise ConfigurationError("the sqlite:// queue needs a data_dir to hold queue.db")
        path = touch_private(Path(data_dir) / "queue.db")
    else:
        path = Path(parts.path)
    return build_queue(SqliteHueyQueue, path, name=name, options=options)


def redis_queue(url: str, *, name: str = "helixnet", data_dir: str | Path | None = None,
                options: dict[str, Any] | None = None) -> RedisHueyQueue:
    """``redis://host:port/db`` or ``rediss://...`` (``data_dir`` is ignored)."""
    return build_queue(RedisHueyQueue, url, name=name, options=options)
