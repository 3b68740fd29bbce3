"""Who is logged in: a bearer token of the core kept in NiceGUI's per-browser user storage.

The browser holds only NiceGUI's session cookie (signed with a key derived from HelixNet's secret
key); the token behind it is checked by ``hx.users.authenticate_token`` on every page load, so the
UI honours exactly what the API does: deactivation, revoked tokens (a password change) and expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from nicegui import app, ui

from helixnet.core.schemas import UserRead
from helixnet.errors import AuthenticationFailed, HelixNetError

SESSION_SALT = b"helixnet.ui.session"


def session_secret(signing_keys: list[str]) -> str:
    """The session cookie's key: derived from the current secret key, never the key itself."""
    return hmac.new(signing_keys[-1].encode(), SESSION_SALT, hashlib.sha256).hexdigest()


def _store() -> Any:
    return app.storage.user


def sign_in(hx: Any, user: UserRead) -> None:
    """Remember ``user`` for this browser (every tab of it)."""
    _store().update(token=hx.users.issue_token(user), issued=time.time())


def sign_out() -> None:
    _store().clear()


def current_user(hx: Any) -> UserRead | None:
    """The logged-in, active user of this browser, or None; refreshes a half-used token.

    The token lives ``token_max_age_seconds``; re-issuing it after half of that keeps an active
    user logged in while a revoked one (deactivated, password changed) is out at the next page.
    """
    store = _store()
    token = store.get("token")
    if not isinstance(token, str):
        return None
    try:
        user: UserRead = hx.users.authenticate_token(token)
    except (AuthenticationFailed, HelixNetError):
        store.clear()
        return None
    issued = store.get("issued")
    if not isinstance(issued, int | float) or time.time() - issued > hx.users.token_max_age_seconds / 2:
        sign_in(hx, user)
    return user


def still_signed_in(hx: Any, *, admin: bool = False) -> UserRead | None:
    """For an action on an open page: the session may have ended since the page was built
    (logged out elsewhere, password changed, deactivated, no longer admin). None sends to login."""
    user = current_user(hx)
    if user is None or (admin and not user.is_admin):
        ui.navigate.to("/login")
        return None
    return user


__all__ = ["current_user", "session_secret", "sign_in", "sign_out", "still_signed_in"]
