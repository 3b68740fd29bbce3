"""The local folder's signed URLs: PUT streams the body to disk, GET streams the file back.

The token in the path is the whole authorisation (no bearer token: a browser or curl follows the
URL as it is); it binds the key, the method, the size limit, the expiry and the user it was issued
to, and is never logged. S3 storage never comes here: its URLs go to S3 itself.

An upload's body is read on the event loop and only whole chunks go to a small pool of threads of
its own: a slow client holds no thread, and uploads never starve the default pool (issue 8).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Message

from helixnet.api.routing import Operation, call, hx_of, model_response, refuse_declared_over, route
from helixnet.api.schemas import StoredObject
from helixnet.core.presign import ObjectGrant
from helixnet.core.uploads import Upload
from helixnet.errors import RequestTimeout
from helixnet.storage import content_disposition

log = logging.getLogger(__name__)
T = TypeVar("T")

CHUNK = 1 << 20
"""Bytes gathered from the body before one write: few thread hops, flat memory."""

STORAGE_WRITE_THREADS = 8
"""Threads that may write upload chunks at once, apart from the default pool (40 threads)."""


def _writes(request: Request) -> anyio.CapacityLimiter:
    """This app's limiter for storage writes, made on first use (it needs the running loop).

    Uploads write through it, never through the default pool: however many of them there are,
    logins and every other handler keep their threads (issue 8).
    """
    state = request.app.state
    limiter: anyio.CapacityLimiter | None = getattr(state, "storage_writes", None)
    if limiter is None:
        limiter = state.storage_writes = anyio.CapacityLimiter(STORAGE_WRITE_THREADS)
    return limiter


class _Body:
    """The request body in chunks of about ``CHUNK`` bytes, read on the event loop.

    Waiting for bytes holds no thread. A body that sends nothing for ``idle_seconds`` raises
    RequestTimeout; a client that goes away raises ClientDisconnect. ``received`` counts the
    bytes that arrived, handed on or not.
    """

    def __init__(self, request: Request, idle_seconds: float) -> None:
        self._receive = request.receive
        self._idle = idle_seconds
        self.received = 0

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        buffer = bytearray()
        more = True
        while more:
            message: Message | None = None
            with anyio.move_on_after(self._idle):
                message = await self._receive()
            if message is None:
                raise RequestTimeout(f"no bytes received for {self._idle:g} s; upload aborted",
                                     errors=[{"loc": ["body"], "msg": "the client stopped sending"}])  # fmt: skip
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            body = message.get("body", b"")
            self.received += len(body)
            buffer += body  # bytearray: amortised appends
            more = bool(message.get("more_body", False))
            if len(buffer) >= CHUNK or (not more and buffer):
                yield bytes(buffer)
                buffer.clear()


@route("PUT", "/storage/{token}", Operation(
    "Upload the bytes of an announced artifact (the upload_url of POST /artifacts/upload)", "storage",
    response=StoredObject, auth=False,
    body_content={"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    extra_responses={403: "tampered, expired, revoked or not a PUT URL", 408: "the body stopped arriving",
                     409: "already uploaded", 413: "more bytes than declared or allowed",
                     422: "fewer bytes than declared, or not the declared sha256", 503: "storage is unavailable"},
))  # fmt: skip
async def storage_object_put(request: Request) -> Response:
    hx = hx_of(request)
    grant: ObjectGrant = await call(hx.artifacts.redeem, request.path_params["token"], "PUT")
    request.state.artifact_id = grant.artifact_id  # what logs name instead of the token
    if grant.max_bytes is not None:
        refuse_declared_over(request, grant.max_bytes)
    limiter = _writes(request)

    async def write(func: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(func, *args, limiter=limiter)

    upload: Upload = await write(hx.artifacts.begin_receive, grant)
    body = _Body(request, hx.settings.upload_idle_timeout_seconds)
    try:
        async with aclosing(body.chunks()) as chunks:
            async for chunk in chunks:
                await write(upload.write, chunk)
        written = await write(upload.finish)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):  # also when the server is stopping: leave nothing
            await write(upload.abort)
        if isinstance(exc, ClientDisconnect | RequestTimeout):
            why = "the client disconnected" if isinstance(exc, ClientDisconnect) else "the client went silent"
            log.info("upload of artifact %s aborted after %d bytes: %s", grant.artifact_id, body.received, why)
        if isinstance(exc, ClientDisconnect):
            return Response(status_code=400)  # nobody is listening; nothing to log as an error
        raise
    return model_response(StoredObject(size=written.size, sha256=written.sha256))


@route("GET", "/storage/{token}", Operation(
    "Download an artifact's bytes (the url of GET /artifacts/{id}/download)", "storage", auth=False,
    response=bytes, description="The body is the artifact's bytes; Content-Type is the artifact's own.",
    extra_responses={403: "tampered, expired, revoked or not a GET URL", 409: "not uploaded yet",
                     503: "storage is unavailable"},
))  # fmt: skip
async def storage_object_get(request: Request) -> Response:
    hx = hx_of(request)
    grant: ObjectGrant = await call(hx.artifacts.redeem, request.path_params["token"], "GET")
    request.state.artifact_id = grant.artifact_id
    stream = await call(hx.artifacts.send, grant)
    headers = {"Content-Disposition": content_disposition(grant.filename), "Cache-Control": "private, no-store"}
    size = _size(stream)
    if size is not None:
        headers["Content-Length"] = str(size)
    return StreamingResponse(_chunks(stream), media_type=grant.content_type, headers=headers)


def _size(stream: Any) -> int | None:
    try:
        position = stream.tell()
        end = stream.seek(0, 2)
        stream.seek(position)
        return int(end - position)
    except Exception:
        return None


def _chunks(stream: Any) -> Iterator[bytes]:
    """Starlette iterates a sync iterator in its thread pool: disk reads stay off the event loop."""
    try:
        while chunk := stream.read(CHUNK):
            yield chunk
    finally:
        stream.close()


ROUTES = [storage_object_put, storage_object_get]

__all__ = ["ROUTES"]
