"""Routes that describe themselves, and the small helpers every handler uses.

An :class:`ApiRoute` is a Starlette ``Route`` with one method and an :class:`Operation`: the
summary, body, response and parameters that ``openapi.py`` turns into the spec. Declaring them
side by side keeps the docs and the behaviour from drifting apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive

from helixnet.api.errors import MalformedRequest
from helixnet.api.jsonlimits import parse_json
from helixnet.api.middleware import public_base
from helixnet.app import HelixNet
from helixnet.core.schemas import UserRead
from helixnet.core.validation import from_pydantic
from helixnet.errors import AuthenticationFailed, PayloadTooLarge, PermissionDenied, ValidationFailed

Handler = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)

#: Largest JSON body read into memory; files go through uploads and signed URLs instead.
MAX_JSON_BYTES = 1 << 20


@dataclass(frozen=True)
class Param:
    """A query (or header) parameter as the spec shows it; handlers parse it with ``query_*``."""

    name: str
    schema: dict[str, Any]
    description: str = ""
    required: bool = False
    location: str = "query"


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    response: Any = None  # a pydantic model, or a type such as list[Model]; None: no body
    status: int = 200
    body: type[BaseModel] | None = None  # a JSON body validated with this model
    body_content: dict[str, Any] | None = None  # any other body: {media type: {"schema": ...}}
    error_models: Mapping[int, type[BaseModel]] = field(default_factory=dict)  # status -> body, if not ErrorBody
    params: tuple[Param, ...] = ()
    auth: bool = True
    admin: bool = False
    description: str = ""
    response_headers: Mapping[str, str] = field(default_factory=dict)
    extra_responses: Mapping[int, str] = field(default_factory=dict)  # status -> description


class ApiRoute(Route):
    """One method on one path, with the operation that documents it."""

    def __init__(self, method: str, path: str, endpoint: Handler, operation: Operation) -> None:
        if operation.auth:
            endpoint = _guarded(endpoint, admin=operation.admin)
        super().__init__(path, endpoint, methods=[method], name=endpoint.__name__)
        self.method = method
        self.operation = operation


def _guarded(endpoint: Handler, *, admin: bool) -> Handler:
    """Authenticate before the handler runs: declared once in the Operation, enforced here."""

    async def guarded(request: Request) -> Response:
        await current_user(request, admin=admin)
        return await endpoint(request)

    guarded.__name__ = endpoint.__name__
    guarded.__doc__ = endpoint.__doc__
    return guarded


def route(method: str, path: str, operation: Operation) -> Callable[[Handler], ApiRoute]:
    """Wrap a handler as an ApiRoute; the module then lists its routes explicitly."""

    def wrap(handler: Handler) -> ApiRoute:
        return ApiRoute(method, path, handler, operation)

    return wrap


# -- per-request helpers ---------------------------------------------------------------------------


def hx_of(request: Request) -> HelixNet:
    hx: HelixNet = request.app.state.hx
    return hx


async def call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a (blocking) core service call off the event loop."""
    return await run_in_threadpool(func, *args, **kwargs)


def client_address(request: Request) -> str | None:
    """The client's address: the peer, or what a trusted proxy said (uvicorn's forwarded_allow_ips)."""
    return request.client.host if request.client else None


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("not authenticated: send Authorization: Bearer <token>")
    return token.strip()


async def current_user(request: Request, *, admin: bool = False) -> UserRead:
    """The caller, from the bearer token; cached on the request so a handler may ask twice."""
    user: UserRead | None = getattr(request.state, "user", None)
    if user is None:
        user = await call(hx_of(request).users.authenticate_token, bearer_token(request))
        request.state.user = user
    if admin and not user.is_admin:
        raise PermissionDenied("admins only")
    return user


def url_to(request: Request, path: str) -> str:
    """Absolute URL of ``path`` under this API's mount (``…/api/v1``), for Location headers.

    The scheme and host are HELIXNET_PUBLIC_URL's, or the request's as checked by the edge middleware.
    ``root_path`` holds where the API is mounted, also inside someone else's app; url_for would
    walk every route to find the same answer (7 % of a POST /jobs, measured).
    """
    return f"{public_base(request)}{request.scope.get('root_path', '')}{path}"


def path_id(request: Request, name: str) -> str:
    """An id from the path, in the one form ids are stored in (``{name:uuid}`` routes parse it)."""
    return str(request.path_params[name])


def user_of(request: Request) -> UserRead:
    """The authenticated caller (the route's Operation made sure there is one)."""
    user: UserRead = request.state.user
    return user


async def json_body(request: Request, model: type[M]) -> M:
    """The body validated by ``model``: 400 when it is not JSON, 422 naming each bad field."""
    raw = await read_limited(request, MAX_JSON_BYTES)
    if not raw.strip():
        raise MalformedRequest("a JSON body is required", errors=[{"loc": ["body"], "msg": "empty body"}])
    return validated_body(raw, parse_json(raw, ["body"]), model)


def validated_body(raw: bytes, data: Any, model: type[M]) -> M:
    """``raw`` (already parsed as ``data``) validated strictly by ``model``; 422 naming each bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed.field(["body"], "must be a JSON object")
    try:
        # Strict: JSON has real types, so "size": false or "priority": "3" is a mistake to name,
        # not something to coerce (JSON mode still reads enums and dates from strings).
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise from_pydantic(exc, "invalid request body", prefix=["body"]) from exc


def refuse_declared_over(request: Request, limit: int) -> None:
    """413 before a byte is read when Content-Length already says the body is over ``limit``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Content-Length says {declared} bytes; at most {limit} are accepted here",
                              errors=[{"loc": ["body"], "msg": "too large"}])  # fmt: skip


async def read_limited(request: Request, limit: int) -> bytes:
    refuse_declared_over(request, limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def limit_body(receive: Receive, limit: int) -> Receive:
    """A receive that refuses (413) a body growing past ``limit``, however it is framed."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge(f"body larger than {limit} bytes", errors=[{"loc": ["body"], "msg": "too large"}])
        return message

    return limited


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed.field(["query", name], "must be an integer") from None
    if not low <= value <= high:
        raise ValidationFailed.field(["query", name], f"must be from {low} to {high}")
    return value


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValidationFailed.field(["query", name], "must be true or false")


def all_users_query(request: Request) -> bool:
    """``?all=true`` on a list: every user's rows, which only admins may ask for (403 otherwise)."""
    everyone = query_bool(request, "all")
    if everyone and not user_of(request).is_admin:
        raise PermissionDenied("all=true is for admins")
    return everyone


def query_str(request: Request, name: str, max_length: int = 200) -> str | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if len(raw) > max_length or "\x00" in raw:
        raise ValidationFailed.field(["query", name], f"must be at most {max_length} characters, no NUL")
    return raw


def model_response(model: BaseModel, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """pydantic's own JSON encoder: faster than dumping to dicts and re-encoding."""
    return Response(model.model_dump_json(), status_code=status, headers=headers, media_type="application/json")


def list_response(items: list[Any], status: int = 200) -> Response:
    body = "[" + ",".join(item.model_dump_json() for item in items) + "]"
    return Response(body, status_code=status, media_type="application/json")


__all__ = [
    "ApiRoute", "Operation", "Param", "call", "client_address", "current_user", "hx_of", "json_body", "limit_body", "list_response",
    "model_response", "path_id", "query_bool", "query_int", "query_str", "read_limited", "refuse_declared_over", "route", "url_to", "user_of", "validated_body",
]  # fmt: skip
