"""Failed sign-in throttling: counted in the database, atomically, per account and source (issue 8)."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from helixnet.errors import AuthenticationFailed, RateLimited, ValidationFailed

PASSWORD = "correct horse battery"


def _outcome(hx, email: str, password: str, source: str | None = None) -> str:
    try:
        hx.users.authenticate(email, password, source=source)
        return "ok"
    except AuthenticationFailed:
        return "wrong"
    except RateLimited:
        return "limited"
    except ValidationFailed:
        return "invalid"


def test_locks_after_max_failures_and_lifts_after_the_window(make_hx) -> None:
    hx = make_hx(start=False, login_max_failures=3, login_lockout_seconds=30)
    now = [1000.0]
    hx.users.throttle._clock = lambda: now[0]
    hx.users.create(email="ada@example.org", password=PASSWORD)
    assert [_outcome(hx, "ada@example.org", f"wrong {i}") for i in range(3)] == ["wrong"] * 3
    with pytest.raises(RateLimited) as locked:
        hx.users.authenticate("ada@example.org", PASSWORD)
    assert 29 <= locked.value.retry_after <= 30
    assert _outcome(hx, "bob@example.org", "wrong") == "wrong"  # other accounts are not affected
    now[0] += 31
    assert _outcome(hx, "ada@example.org", PASSWORD) == "ok"


def test_a_right_password_gives_its_count_back(make_hx) -> None:
    hx = make_hx(start=False, login_max_failures=3)
    hx.users.create(email="ada@example.org", password=PASSWORD)
    for _ in range(5):  # 2 failures and a success, five times over: never locked
        assert _outcome(hx, "ada@example.org", "wrong one") == "wrong"
        assert _outcome(hx, "ada@example.org", "wrong two") == "wrong"
        assert _outcome(hx, "ada@example.org", PASSWORD) == "ok"


def test_one_source_cannot_lock_out_another_but_the_account_has_a_ceiling(make_hx) -> None:
    hx = make_hx(start=False, login_max_failures=2, login_account_max_failures=5)
    hx.users.create(email="ada@example.org", password=PASSWORD)
    attacker, user = "203.0.113.9", "198.51.100.7"
    assert [_outcome(hx, "ada@example.org", "guess", attacker) for _ in range(3)] == ["wrong", "wrong", "limited"]
    assert _outcome(hx, "ada@example.org", PASSWORD, user) == "ok"  # the attacker locked only themselves
    # Many sources together meet the account-wide ceiling: 2 + 2 + 1 failures, then everyone waits.
    assert [_outcome(hx, "ada@example.org", "guess", "192.0.2.1") for _ in range(2)] == ["wrong"] * 2
    assert _outcome(hx, "ada@example.org", "guess", "192.0.2.2") == "wrong"
    assert _outcome(hx, "ada@example.org", PASSWORD, user) == "limited"


def test_requests_invalid_on_their_face_count_for_nothing(make_hx) -> None:
    hx = make_hx(start=False, login_max_failures=2)
    hx.users.create(email="ada@example.org", password=PASSWORD)
    for password in ("", "x" * 73, "é" * 37):
        for _ in range(5):
            assert _outcome(hx, "ada@example.org", password) == "invalid"
    assert _outcome(hx, "ada@example.org", PASSWORD) == "ok"


def test_unknown_accounts_are_counted_too(make_hx) -> None:
    hx = make_hx(start=False, login_max_failures=2)
    hx.users.create(email="ada@example.org", password=PASSWORD)
    for email in ("ada@example.org", "ghost@example.org"):
        assert [_outcome(hx, email, "wrong password") for _ in range(2)] == ["wrong"] * 2
        assert _outcome(hx, email, PASSWORD) == "limited"


def test_parallel_guesses_from_two_processes_get_at_most_max_failures_checks(make_hx, database) -> None:
    """The race of issue 8: 100 parallel wrong passwords, spread over two instances of one database."""
    first = make_hx(database, start=False, login_max_failures=5)
    second = make_hx(database, start=False, login_max_failures=5)
    first.users.create(email="ada@example.org", password=PASSWORD)
    with ThreadPoolExecutor(max_workers=32) as pool:
        outcomes = Counter(pool.map(lambda i: _outcome((first, second)[i % 2], "ada@example.org", f"guess {i}"),
                                    range(100)))  # fmt: skip
    assert outcomes["wrong"] <= 5 and outcomes["wrong"] + outcomes["limited"] == 100, outcomes
    assert _outcome(second, "ada@example.org", PASSWORD) == "limited"


def test_wrong_current_passwords_are_throttled_like_sign_ins(make_hx) -> None:
    hx = make_hx(start=False, login_max_failures=3)
    user = hx.users.create(email="ada@example.org", password=PASSWORD)
    for i in range(3):
        with pytest.raises(AuthenticationFailed):
            hx.users.set_password(user, "a new password", current_password=f"wrong {i}")
    with pytest.raises(RateLimited):
        hx.users.set_password(user, "a new password", current_password=PASSWORD)
    assert _outcome(hx, "ada@example.org", PASSWORD) == "limited"  # one count for both doors
    assert hx.users.authenticate_token(hx.users.issue_token(user)).id == user.id  # nothing changed
