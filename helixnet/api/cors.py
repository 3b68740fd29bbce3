"""Cross-origin access for browser clients on other origins (``HELIXNET_CORS_ORIGINS``), issue 9.

Off by default: with no origin listed no middleware runs, and a browser on another origin gets
no ``Access-Control-Allow-Origin``. Bearer tokens travel in a header, not a cookie, so
credentials mode is never needed.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from helixnet.core.config import Settings

#: What a browser client sends beyond the CORS-safelisted headers.
ALLOW_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key")
#: What a script may read from a response: the new job's URL, how long to wait when throttled.
EXPOSE_HEADERS = ("Location", "Retry-After")
ALLOW_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: How long a browser may cache a preflight answer, in seconds.
MAX_AGE = 600


def cors_middleware(settings: Settings) -> list[Middleware]:
    """CORSMiddleware for the configured origins, or nothing when none are."""
    if not settings.cors_origins:
        return []
    return [Middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=ALLOW_METHODS,
                       allow_headers=ALLOW_HEADERS, expose_headers=EXPOSE_HEADERS, max_age=MAX_AGE)]  # fmt: skip


__all__ = ["cors_middleware"]
