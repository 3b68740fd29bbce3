"""The UI's Content-Security-Policy: what NiceGUI needs to run, and no framing by other sites.

The API's edge middleware gives every response a CSP that loads nothing (``default-src 'none'``),
which would stop NiceGUI's pages. NiceGUI renders with Vue's in-browser template compiler and
inline scripts, so its pages need ``'unsafe-inline'`` and ``'unsafe-eval'`` for scripts; what
protects them from injected content is that everything a user or plugin wrote is shown as text.
``frame-ancestors 'none'`` still forbids clickjacking (issue 8). Responses that chose their own
policy (artifact downloads: a sandbox that runs nothing) keep it.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UI_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
#: For bytes a user uploaded, served by the UI: nothing in them runs, whatever their type says.
DOWNLOAD_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"


class UiSecurityHeaders:
    """Sets UI_CSP, ``nosniff`` and ``X-Frame-Options`` on the UI's responses that set none."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", UI_CSP)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, send_with_headers)


__all__ = ["DOWNLOAD_CSP", "UI_CSP", "UiSecurityHeaders"]
