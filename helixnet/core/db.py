"""Engine and transactions.

SQLite runs in WAL mode with a busy timeout; write transactions start with ``BEGIN IMMEDIATE``
so two writers queue on the lock instead of failing on a read-to-write upgrade
("database is locked" without waiting). Reads stay deferred and never block writers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from helixnet.errors import ConfigurationError
from helixnet.private import touch_private

_WRITE = "helixnet_write"


class Database:
    """One engine and the two kinds of transaction the services use."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = _create_engine(url, echo=echo)
        self._writer = self.engine.execution_options(**{_WRITE: True})
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self._writer, expire_on_commit=False)
        # SQLite has one writer at a time; threads of this process queue on this lock instead of in
        # SQLite's busy handler, which sleeps 1, 2, 5, 10... ms between tries (measured: with 4
        # worker threads most of a no-op job's time went to those sleeps). Other processes still
        # wait on the busy timeout as before. Reentrant: a write inside a write in one thread is
        # SQLite's own deadlock, not ours to add a second one to.
        self._write_lock: threading.RLock | None = threading.RLock() if self.is_sqlite else None
        self._local = threading.local()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries; closed (rolled back) at the end, so it never writes by accident.

        Objects loaded in it keep their values after the block (no expiry on close).
        """
        with self._read_sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session that commits at the end of the block, or rolls back when it raises."""
        with self._locked(), self._write_sessions() as session, session.begin():
            yield session

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A Core connection in a write transaction, for the worker's hot path."""
        pinned: Connection | None = getattr(self._local, "conn", None)
        with self._locked():
            if pinned is not None and not pinned.closed:
                with pinned.begin():
                    yield pinned
            else:
                with self._writer.begin() as conn:
                    yield conn

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """Keep one writer connection for this thread while inside: no pool checkout per job.

        The worker loop runs inside it; a second ``pinned()`` in the same thread reuses the first.
        """
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self._writer.connect() as conn:
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    def _locked(self) -> threading.RLock | nullcontext[None]:
        return self._write_lock if self._write_lock is not None else nullcontext()

    def dispose(self) -> None:
        self.engine.dispose()


def _create_engine(url: str, *, echo: bool) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, echo=echo)
    try:
        return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except (ImportError, ModuleNotFoundError) as exc:
        raise ConfigurationError(
            f"the driver for {url.split(':', 1)[0]} is not installed; "
            'for PostgreSQL: pip install "helixnet[postgres]" and use postgresql+psycopg://...'
        ) from exc


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    database = url.split("///", 1)[1] if "///" in url else ""
    if database and database != ":memory:" and not database.startswith("file:"):
        touch_private(database)
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=8,
        max_overflow=24,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us, not the driver, emit BEGIN: the only way to choose IMMEDIATE for writes.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            if database and database != ":memory:":
                _set_wal(cursor)
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        # Straight to the driver: through exec_driver_sql this cost as much as the statement itself.
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")  # type: ignore[union-attr]

    return engine


def _set_wal(cursor: Any) -> None:
    # Switching a new file to WAL takes a write lock; under concurrent first opens retry a little.
    import sqlite3
    import time

    deadline = time.monotonic() + 10
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def is_locked_error(exc: BaseException) -> bool:
    """True for SQLite's transient lock errors, which callers may retry."""
    return isinstance(exc, OperationalError) and "locked" in str(exc).lower()
