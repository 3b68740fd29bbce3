"""Failed-login throttling: per account, lifted after the lockout, reset by a success; time is passed in."""

from __future__ import annotations

import pytest

from helixnet.core.throttle import LoginThrottle
from helixnet.errors import AuthenticationFailed, RateLimited


def test_locks_after_max_failures_and_lifts_after_the_lockout() -> None:
    now = [100.0]
    throttle = LoginThrottle(max_failures=3, lockout_seconds=30, clock=lambda: now[0])
    for _ in range(3):
        throttle.check("a@example.org")
        throttle.failed("a@example.org")
    with pytest.raises(RateLimited) as locked:
        throttle.check("a@example.org")
    assert 29 < locked.value.retry_after <= 30
    throttle.check("b@example.org")  # other accounts are not affected
    now[0] += 31
    throttle.check("a@example.org")


def test_failures_spread_out_and_a_success_start_over() -> None:
    now = [0.0]
    throttle = LoginThrottle(max_failures=3, lockout_seconds=10, clock=lambda: now[0])
    throttle.failed("a")
    throttle.failed("a")
    now[0] += 11  # the window passed: these two no longer count
    throttle.failed("a")
    throttle.check("a")
    throttle.succeeded("a")
    throttle.failed("a")
    throttle.failed("a")
    throttle.check("a")


def test_authenticate_counts_failures_for_unknown_accounts_too(make_hx) -> None:
    hx = make_hx(start=False, login_max_failures=2)
    hx.users.create(email="ada@example.org", password="correct horse battery")
    for email in ("ada@example.org", "ghost@example.org"):
        for _ in range(2):
            with pytest.raises(AuthenticationFailed):
                hx.users.authenticate(email, "wrong password")
        with pytest.raises(RateLimited):
            hx.users.authenticate(email, "correct horse battery")
