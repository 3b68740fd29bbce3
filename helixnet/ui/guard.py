"""The auth guard: every UI path needs a logged-in user, except an explicit allow-list.

As in NiceGUI's ``examples/authentication``: middleware, not a check repeated in each page, so a
page added later is guarded without anyone remembering to. A visitor who is not logged in is sent
to ``/login?redirect_to=<what they asked for>``. Admin pages answer exactly like an unknown page
for anyone who is not an admin.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from helixnet.ui.session import current_user

#: Paths (inside the UI's mount) anyone may open.
ALLOWED = frozenset({"/login", "/favicon.ico"})
#: Prefixes anyone may open: NiceGUI's own scripts, styles and websocket.
ALLOWED_PREFIXES = ("/_nicegui/", "/_nicegui_ws/")
ADMIN_PREFIX = "/admin"
UNKNOWN_PATH = "/admin-pages-are-for-admins-only"


def route_path(request: Request) -> str:
    """The path inside the UI's mount (Starlette keeps the full path and sets root_path)."""
    path = request.url.path
    root = request.scope.get("root_path", "")
    return path[len(root):] or "/" if root and path.startswith(root) else path


def is_allowed(path: str) -> bool:
    return path in ALLOWED or path.startswith(ALLOWED_PREFIXES)


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


class AuthGuard(BaseHTTPMiddleware):
    """Sets ``request.state.user`` for pages; redirects strangers to the login page."""

    def __init__(self, app: Any, hx: Any) -> None:
        super().__init__(app)
        self.hx = hx

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = route_path(request)
        if is_allowed(path):
            return await call_next(request)
        user = current_user(self.hx)
        if user is None:
            wanted = path + (f"?{request.url.query}" if request.url.query else "")
            root = request.scope.get("root_path", "")
            return RedirectResponse(f"{root}/login?redirect_to={quote(wanted, safe='/')}", status_code=307)
        if is_admin_path(path) and not user.is_admin:
            # Routed on to a path no page has: the answer is byte for byte the unknown-page one.
            request.scope["path"] = request.scope.get("root_path", "") + UNKNOWN_PATH
            request.scope["raw_path"] = request.scope["path"].encode()
        request.state.user = user
        return await call_next(request)


def safe_redirect(target: str | None) -> str:
    """Only a path inside this app: ``redirect_to=https://evil.example`` lands on the dashboard."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


__all__ = ["ALLOWED", "AuthGuard", "is_admin_path", "route_path", "safe_redirect"]
