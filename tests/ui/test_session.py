"""The session cookie's key."""

from __future__ import annotations


def test_session_secret_is_derived_not_the_key() -> None:
    from helixnet.ui.session import session_secret

    secret = session_secret(["old", "current key"])
    assert secret != "current key" and "current key" not in secret
    assert secret == session_secret(["another old", "current key"])  # the current (last) key decides
    assert secret != session_secret(["current key", "newer"])
