"""Failed sign-in throttling, so a password cannot be guessed at bcrypt's full speed.

Two counters per attempt, both in the database (shared by every process and machine):

- per account *and* source address: ``max_failures`` failures per window, then that source waits;
- per account, from anywhere: ``account_max_failures``, well above the first, so one client cannot
  lock a user out by itself, while a guesser spread over many addresses still meets a ceiling.

"May this attempt proceed" and "count it" are one conditional UPDATE, taken *before* the password
is checked; a correct password gives the count back. So 100 parallel guesses get at most
``max_failures`` password checks (issue 8: checking first and counting after raced). The window is
fixed: it starts with the first failure and the counter starts again once it has passed.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Table, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from helixnet.core.db import Database
from helixnet.core.models import LoginFailure
from helixnet.errors import RateLimited

_T: Table = cast(Table, LoginFailure.__table__)
#: Roughly one attempt in this many also deletes counters whose window has long passed.
CLEANUP_EVERY = 200


@dataclass(frozen=True)
class Attempt:
    """One counted sign-in attempt; ``succeeded()`` gives the count back when the password was right."""

    throttle: LoginThrottle
    source_key: str
    account_key: str

    def succeeded(self) -> None:
        self.throttle._give_back(self)


class LoginThrottle:
    """Counts failed sign-ins per (account, source) and per account; the clock is injectable."""

    def __init__(
        self,
        db: Database,
        *,
        max_failures: int,
        lockout_seconds: float,
        account_max_failures: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self.max_failures = max_failures
        self.account_max_failures = account_max_failures or max_failures * 10
        self.lockout_seconds = lockout_seconds
        self._clock = clock
        self._insert = (sqlite.insert if db.is_sqlite else postgresql.insert)(_T)

    def attempt(self, account: str, source: str | None = None) -> Attempt:
        """Count an attempt on ``account`` from ``source``, or raise RateLimited if it may not proceed."""
        now = self._clock()
        attempt = Attempt(self, _digest("s", account, source or "-"), _digest("a", account, ""))
        with self._db.connect() as conn:
            wait = self._take(conn, attempt.source_key, self.max_failures, now)
            if wait is None:
                wait = self._take(conn, attempt.account_key, self.account_max_failures, now)
            if wait is not None:
                # Raising rolls the transaction back: a refused attempt counts against nothing.
                raise RateLimited(
                    f"too many failed sign-ins for this account; try again in {math.ceil(wait)} s",
                    retry_after=wait,
                )
            if random.randrange(CLEANUP_EVERY) == 0:
                conn.execute(delete(_T).where(_T.c.window_start < now - 2 * self.lockout_seconds))
        return attempt

    def _take(self, conn: Connection, key: str, limit: int, now: float) -> float | None:
        """Count one against ``key`` if under ``limit``: None when taken, else seconds left to wait."""
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT that conflicted and did nothing.
        fresh = self._insert.values(key=key, failures=1, window_start=now).on_conflict_do_nothing()
        if conn.execute(fresh.returning(_T.c.key)).first() is not None:
            return None
        expired = _T.c.window_start <= now - self.lockout_seconds
        taken = conn.execute(
            update(_T)
            .where(_T.c.key == key, or_(_T.c.failures < limit, expired))
            .values(failures=case((expired, 1), else_=_T.c.failures + 1),
                    window_start=case((expired, now), else_=_T.c.window_start))  # fmt: skip
            .returning(_T.c.key)
        ).first()
        if taken is not None:
            return None
        start = conn.execute(select(_T.c.window_start).where(_T.c.key == key)).scalar_one()
        return max(1.0, start + self.lockout_seconds - now)

    def _give_back(self, attempt: Attempt) -> None:
        with self._db.connect() as conn:
            conn.execute(delete(_T).where(_T.c.key == attempt.source_key))
            conn.execute(update(_T).where(_T.c.key == attempt.account_key, _T.c.failures > 0)
                         .values(failures=_T.c.failures - 1))  # fmt: skip


def _digest(kind: str, account: str, source: str) -> str:
    return hashlib.sha256(f"{kind}\0{account}\0{source}".encode()).hexdigest()


__all__ = ["Attempt", "LoginThrottle"]
