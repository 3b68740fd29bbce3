"""What the sync and async clients share: the steps a call is made of, and how an answer is read.

A client operation is a *flow*: a generator that yields steps (an API call, a PUT of bytes to a
signed URL, a streamed GET of one, a pause, a progress callback) and receives each step's result.
The flows (``_flows.py``) hold all the logic once; ``Client`` and ``AsyncClient`` only perform the
steps, with ``httpx.Client`` or ``httpx.AsyncClient`` (sans-I/O, as h11 and httpcore are built).

Errors come back as the classes the embedded services raise (``helixnet.errors``): the API's
status code and its body ``{"detail": ..., "errors": [{"loc": [...], "msg": ...}]}`` are mapped
here, in one table, the inverse of ``helixnet/api/errors.py``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import httpx

from helixnet.errors import (
    AuthenticationFailed,
    Conflict,
    HelixNetError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    QueueUnavailable,
    RateLimited,
    RequestTimeout,
    ValidationFailed,
    WaitTimeout,
)

if TYPE_CHECKING:
    from helixnet.client._files import Sink, Source

T = TypeVar("T")
API_PREFIX = "/api/v1"


def user_agent() -> str:
    from helixnet import __version__

    return f"helixnet-client/{__version__}"


class ConnectionFailed(HelixNetError, ConnectionError):
    """The server could not be reached (refused, unresolvable, timed out, dropped the connection)."""


@dataclass(frozen=True)
class Call:
    """One request to the API under its ``/api/v1`` root; ``auth`` adds the bearer token."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    form: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: bool = True


@dataclass(frozen=True)
class Put:
    """Send a source's bytes to a signed upload URL, with exactly the headers the API signed."""

    url: str
    headers: dict[str, str]
    source: Source


@dataclass(frozen=True)
class Fetch:
    """Stream a signed download URL into a sink; the result is the number of bytes written."""

    url: str
    sink: Sink


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Notify:
    """Call the user's callback (awaited by the async client when it returns an awaitable)."""

    callback: Callable[[Any], Any]
    value: Any


Step = Call | Put | Fetch | Sleep | Notify
Flow = Generator[Step, Any, T]


def api_root(base_url: str) -> str:
    """``http://host:port`` or ``http://host:port/api/v1`` (with or without a slash) -> the API root."""
    url = str(base_url).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationFailed.field(["base_url"], f"must be an http:// or https:// URL, not {base_url!r}")
    return url if url.endswith(API_PREFIX) else url + API_PREFIX


def object_id(value: Any, kind: str) -> str:
    """An id (or a model that has one) in its canonical form; anything else is not found, as embedded.

    Checked here, so a malformed id never makes a path (nothing in it can climb to another route)
    and reads ``job 12 not found`` rather than the router's bare ``Not Found``.
    """
    raw = getattr(value, "id", value)
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        raise NotFound(f"{kind} {raw} not found") from None


_SIGNED_PARTS = re.compile(r"(/storage/)[^/?#\s]+|\?[^\s\"]*(?:Signature|X-Amz-Credential)=[^\s\"]*")


def _redacted(text: str) -> str:
    return _SIGNED_PARTS.sub(lambda m: f"{m.group(1)}[token]" if m.group(1) else "?[signed]", text)


class _RedactSignedUrls(logging.Filter):
    """httpx logs each request's URL at INFO; a signed URL's token is its whole authorisation (issue 8)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_redacted(str(a)) if isinstance(a, str | httpx.URL) else a for a in record.args)
        return True


def redact_signed_urls() -> None:
    """Install the filter on httpx's logger once (a client is made: no side effect at import)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactSignedUrls) for f in logger.filters):
        logger.addFilter(_RedactSignedUrls())


def request_args(call: Call, root: str, token: str | None) -> dict[str, Any]:
    """Keyword arguments for ``httpx.(Async)Client.build_request``."""
    headers = dict(call.headers)
    if call.auth and token:
        headers["Authorization"] = f"Bearer {token}"
    args: dict[str, Any] = {"method": call.method, "url": root + call.path, "headers": headers}
    if call.params:
        args["params"] = {k: v for k, v in call.params.items() if v is not None}
    if call.json is not None:
        args["json"] = call.json
    if call.form is not None:
        args["data"] = call.form
    return args


def put_headers(put: Put) -> dict[str, str]:
    """The signed headers plus an exact Content-Length: S3 refuses a chunked PUT, the app checks it."""
    headers = {k: v for k, v in put.headers.items() if k.lower() != "content-length"}
    headers["Content-Length"] = str(put.source.size)
    return headers


def where(url: str | httpx.URL, signed: bool = False) -> str:
    """A URL fit for an error message: a signed URL's path and query are its authorisation."""
    parts = urlsplit(str(url))
    if signed:
        return f"{parts.scheme}://{parts.netloc} (a signed URL)"
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def connection_failed(url: str | httpx.URL, exc: httpx.TransportError, *, signed: bool = False) -> ConnectionFailed:
    reason = "timed out" if isinstance(exc, httpx.TimeoutException) else (str(exc) or type(exc).__name__)
    return ConnectionFailed(f"cannot reach {where(url, signed)}: {reason}")


def reply(response: httpx.Response, *, signed: bool = False, token_sent: bool = True) -> Any:
    """The JSON of a successful (read) response, or the error it stands for, raised."""
    if response.is_success:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise HelixNetError(f"{where(response.request.url, signed)} answered {response.status_code} "
                                "with a body that is not JSON") from None  # fmt: skip
    raise error_of(response, signed=signed, token_sent=token_sent)


def error_of(response: httpx.Response, *, signed: bool = False, token_sent: bool = True) -> HelixNetError:
    """Map a failed response to ``helixnet.errors``, the inverse of the API's one status table."""
    status = response.status_code
    detail, errors, body = _read_error(response)
    if not detail:
        detail = f"{response.reason_phrase or 'error'} ({status})"
    if signed:
        detail = f"storage refused the transfer ({status}): {detail}"
    if status == 400:
        if body.get("error") == "invalid_grant":  # the token endpoint's wrong credentials (RFC 6749 §5.2)
            return AuthenticationFailed(detail, errors=errors)
        return ValidationFailed(detail, errors=errors)
    if status == 401:
        if not token_sent:
            detail += " (not signed in: call login() or give a token)"
        return AuthenticationFailed(detail, errors=errors)
    if status == 429:
        return RateLimited(detail, retry_after=_retry_after(response), errors=errors)
    if status >= 500 and status not in (503, 504):
        detail = f"server error {status} at {where(response.request.url, signed)}: {detail}"
    cls = ERROR_OF_STATUS.get(status, HelixNetError)
    return cls(detail, errors=errors)


#: The API's status codes back to our classes; anything else is a plain HelixNetError.
ERROR_OF_STATUS: dict[int, type[HelixNetError]] = {
    403: PermissionDenied,
    404: NotFound,
    408: RequestTimeout,
    409: Conflict,
    412: Conflict,  # S3: If-None-Match, the artifact was already uploaded
    413: PayloadTooLarge,
    422: ValidationFailed,
    503: QueueUnavailable,
    504: WaitTimeout,
}

_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)


def _read_error(response: httpx.Response) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """detail, errors and the whole JSON body; S3 answers XML, of which the <Message> is kept."""
    text = response.text
    try:
        body = json.loads(text) if text else {}
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("error_description") or ""
        raw_errors = body.get("errors")
        errors = [e for e in raw_errors if isinstance(e, dict)] if isinstance(raw_errors, list) else []
        return str(detail), errors, body
    match = _XML_MESSAGE.search(text)
    detail = match.group(1).strip() if match else text.strip()
    return detail[:300], [], {}


def _retry_after(response: httpx.Response) -> float:
    try:
        value = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        return 1.0
    return value if math.isfinite(value) and value >= 0 else 1.0


__all__ = [
    "API_PREFIX",
    "Call",
    "ConnectionFailed",
    "Fetch",
    "Flow",
    "Notify",
    "Put",
    "Sleep",
    "Step",
    "api_root",
    "connection_failed",
    "error_of",
    "put_headers",
    "reply",
    "object_id",
    "redact_signed_urls",
    "request_args",
]
