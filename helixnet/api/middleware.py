"""The edge of the app: which proxy to believe, which Host to accept, and the security headers.

Absolute URLs (Location, signed storage URLs) are built from the scheme and host the client used.
A client must not be able to choose them (issue 8: ``Host: evil.example`` handed a storage token to
another host), and behind a TLS-terminating proxy they must say ``https`` (issue 9). So:

- ``ForwardedHeaders`` believes ``X-Forwarded-Proto``, ``X-Forwarded-Host`` and ``X-Forwarded-For``
  only from the proxies in ``HELIXNET_FORWARDED_ALLOW_IPS`` (uvicorn's ``forwarded_allow_ips``);
- Starlette's ``TrustedHostMiddleware`` refuses a Host off ``HELIXNET_ALLOWED_HOSTS``;
- ``SECURITY_HEADERS`` go on every response that set none of its own;
- ``HELIXNET_PUBLIC_URL``, when set, is the base of every absolute URL and no header matters.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Sequence

from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from helixnet.core.config import Settings
from helixnet.headers import DefaultHeaders

_HOST = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")
#: For every response that did not choose its own: nothing loads, nothing frames it (downloads included).
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


class ForwardedHeaders:
    """Apply a trusted proxy's ``X-Forwarded-*`` headers to the scope; ignore anyone else's."""

    def __init__(self, app: ASGIApp, trusted: Sequence[str]) -> None:
        self.app = app
        self.everyone = "*" in trusted
        self.networks = [ipaddress.ip_network(t, strict=False) for t in trusted if t != "*" and _is_ip(t)]
        self.names = {t for t in trusted if t != "*" and not _is_ip(t)}  # e.g. a unix socket path

    def trusts(self, host: str | None) -> bool:
        if self.everyone:
            return True
        if host is None:
            return False
        if host in self.names:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            if self.trusts(client[0] if client else None):
                scope = self._forwarded(scope)
        await self.app(scope, receive, send)

    def _forwarded(self, scope: Scope) -> Scope:
        headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        scope = dict(scope)
        proto = _last(headers.get(b"x-forwarded-proto"))
        if proto in ("http", "https"):
            ws = scope["type"] == "websocket"
            scope["scheme"] = {"http": "ws", "https": "wss"}[proto] if ws else proto
        host = _last(headers.get(b"x-forwarded-host"))
        if host and _HOST.match(host):
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k.lower() != b"host"] + [
                (b"host", host.encode("latin-1"))
            ]
        forwarded_for = headers.get(b"x-forwarded-for")
        if forwarded_for:
            # The nearest address no trusted proxy vouches for is the client (uvicorn's rule).
            hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
            client = next((hop for hop in reversed(hops) if not self.trusts(hop)), hops[0] if hops else None)
            if client:
                scope["client"] = (client, 0)
        return scope


def _last(value: str | None) -> str | None:
    """The value the nearest proxy appended (a header may carry one per hop)."""
    return value.split(",")[-1].strip().lower() if value else None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
        return True
    except ValueError:
        return False


#: Every API response's security headers unless it set its own (issue 8 item 9).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": DEFAULT_CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def edge_middleware(settings: Settings) -> list[Middleware]:
    """The middleware every HelixNet web app runs first, outermost first."""
    return [
        Middleware(DefaultHeaders, headers=SECURITY_HEADERS),
        Middleware(ForwardedHeaders, trusted=settings.forwarded_allow_ips),
        Middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts, www_redirect=False),
    ]


def public_base(request: Request) -> str:
    """``scheme://host`` that clients reach this server at: HELIXNET_PUBLIC_URL, or the (checked) request's."""
    configured: str | None = request.app.state.hx.settings.public_url
    if configured:
        return configured.rstrip("/")
    url = request.url
    return f"{url.scheme}://{url.netloc}"


def csp_nonce() -> str:
    """A fresh nonce for a page's own inline script; nothing else inline runs."""
    return secrets.token_urlsafe(16)


__all__ = ["DEFAULT_CSP", "SECURITY_HEADERS", "ForwardedHeaders", "csp_nonce", "edge_middleware", "public_base"]
