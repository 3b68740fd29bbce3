"""Failed-login throttling per account, so a password cannot be guessed at bcrypt's full speed.

Kept in process memory: each ``helixnet serve`` process counts its own failures. That bounds
guessing per process without a table write on every failed login; a deployment with many API
processes multiplies the allowance by their number, which a reverse proxy's rate limit covers.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from helixnet.errors import RateLimited

#: How many accounts' counters are kept at most; the oldest are forgotten first.
MAX_TRACKED_ACCOUNTS = 100_000


@dataclass
class _Failures:
    count: int
    first_at: float
    locked_until: float = 0.0


class LoginThrottle:
    """After ``max_failures`` failed logins within ``lockout_seconds``, refuse the account for as long.

    The clock is injectable (``monotonic``), so tests see a lockout end without sleeping.
    """

    def __init__(
        self, *, max_failures: int, lockout_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, _Failures] = {}

    def check(self, account: str) -> None:
        """Raise RateLimited while ``account`` is locked out; checked before the password is."""
        now = self._clock()
        with self._lock:
            entry = self._failures.get(account)
            if entry is None or entry.locked_until <= now:
                return
            wait = entry.locked_until - now
        raise RateLimited(
            f"too many failed logins for this account; try again in {math.ceil(wait)} s",
            retry_after=wait,
        )

    def failed(self, account: str) -> None:
        now = self._clock()
        with self._lock:
            entry = self._failures.get(account)
            if entry is None or now - entry.first_at > self.lockout_seconds:
                entry = self._failures[account] = _Failures(count=0, first_at=now)
            entry.count += 1
            if entry.count >= self.max_failures:
                entry.locked_until = now + self.lockout_seconds
                entry.count, entry.first_at = 0, now
            if len(self._failures) > MAX_TRACKED_ACCOUNTS:
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, account: str) -> None:
        with self._lock:
            self._failures.pop(account, None)


__all__ = ["LoginThrottle", "MAX_TRACKED_ACCOUNTS"]
