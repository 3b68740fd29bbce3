"""Response headers every page of a web app should carry unless it chose its own (security headers).

One ASGI middleware for the API's edge and the UI alike: each passes the set it needs, and a
response that set a header itself (the docs page's nonce CSP, a download's sandbox) keeps it.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class DefaultHeaders:
    """Adds ``headers`` to every HTTP response that does not set them."""

    def __init__(self, app: ASGIApp, headers: Mapping[str, str]) -> None:
        self.app = app
        self.headers = dict(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


__all__ = ["DefaultHeaders"]
