"""HelixNet's error tree mapped to HTTP, in one table, and the JSON shape every error takes.

Every error body is ``{"detail": "...", "errors": [{"loc": [...], "msg": "..."}]}``. Anything
unexpected becomes a 500 with a generic detail: the traceback goes to the server log, never to
the client.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from helixnet.errors import (
    AuthenticationFailed,
    ConfigurationError,
    Conflict,
    HelixNetError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    PluginError,
    QueueUnavailable,
    RateLimited,
    RequestTimeout,
    StorageError,
    ValidationFailed,
    WaitTimeout,
)

log = logging.getLogger(__name__)


class MalformedRequest(HelixNetError):
    """The request could not be read at all (broken JSON, a form that is not one): 400."""


#: The one table from our errors to status codes; the first matching class wins (subclasses first).
STATUS_OF: tuple[tuple[type[HelixNetError], int], ...] = (
    (MalformedRequest, 400),
    (AuthenticationFailed, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (RequestTimeout, 408),
    (PayloadTooLarge, 413),
    (ValidationFailed, 422),
    (RateLimited, 429),
    (QueueUnavailable, 503),
    (StorageError, 503),
    (WaitTimeout, 504),
    (PluginError, 500),
    (ConfigurationError, 500),
)


def status_of(exc: HelixNetError) -> int:
    for cls, status in STATUS_OF:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(status: int, detail: str, errors: list[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:  # fmt: skip
    body = {"detail": detail, "errors": [_public(e) for e in errors or []]}
    return JSONResponse(body, status_code=status, headers=headers)


def _public(error: dict[str, Any]) -> dict[str, Any]:
    return {"loc": [str(p) if not isinstance(p, int) else p for p in error.get("loc", [])],
            "msg": str(error.get("msg", ""))}  # fmt: skip


async def helixnet_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HelixNetError)
    status = status_of(exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if status >= 500:
        # The detail of a backend failure may name hosts or paths: log it, answer generically.
        log.error("%s %s failed: %s", request.method, loggable_path(request), exc.detail, exc_info=exc)
        detail = {503: "a backend service is unavailable; try again shortly", 504: "timed out"}.get(
            status, "internal error"
        )
        return error_response(status, detail, headers=headers)
    return error_response(status, exc.detail, exc.errors, headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names only the first route that matched the path; one path here has a route
        # per method, so Allow must gather all of them.
        scope = {**request.scope, "root_path": request.scope.get("helixnet.app_root_path", "")}
        methods = allowed_methods(request.app.router.routes, scope)
        if methods:
            headers["Allow"] = ", ".join(sorted(methods))
    return error_response(exc.status_code, str(exc.detail), headers=headers)


def allowed_methods(routes: list[Any], scope: dict[str, Any]) -> set[str]:
    from starlette.routing import Match, Mount, Route

    found: set[str] = set()
    for candidate in routes:
        match, child_scope = candidate.matches(scope)
        if match == Match.NONE:
            continue
        if isinstance(candidate, Mount):
            found |= allowed_methods(candidate.routes, {**scope, **child_scope})
        elif isinstance(candidate, Route) and candidate.methods:
            found |= candidate.methods
    return found


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s raised", request.method, loggable_path(request), exc_info=exc)
    return error_response(500, "internal error")


_STORAGE_TOKEN = re.compile(r"(/storage/)[^/?#]+")


def loggable_path(request: Request) -> str:
    """The request's path fit for a log: a storage URL's token is its whole authorisation, so it
    never goes to a log (issue 8); the artifact it is for is named instead, once it is known."""
    artifact_id = getattr(request.state, "artifact_id", None)
    shown = f"[artifact {artifact_id}]" if artifact_id else "[token]"
    return _STORAGE_TOKEN.sub(lambda match: match.group(1) + shown, request.url.path)


EXCEPTION_HANDLERS = {HelixNetError: helixnet_error, HTTPException: http_error, Exception: server_error}

__all__ = ["EXCEPTION_HANDLERS", "MalformedRequest", "STATUS_OF", "error_response", "loggable_path", "status_of"]
