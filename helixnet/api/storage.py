"""The local folder's signed URLs: PUT streams the body to disk, GET streams the file back.

The token in the path is the whole authorisation (no bearer token: a browser or curl follows the
URL as it is); it binds the key, the method, the size limit and the expiry. S3 storage never
comes here: its URLs go to S3 itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio.from_thread
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from helixnet.api.routing import Operation, call, hx_of, model_response, refuse_declared_over, route
from helixnet.api.schemas import StoredObject
from helixnet.core.presign import ObjectGrant
from helixnet.storage import content_disposition

CHUNK = 1 << 20


class _BodyReader:
    """``read(n)`` over the request body for the storage writer, which runs in a worker thread.

    Each read hops back to the event loop for the next chunk (anyio.from_thread), so the body
    is never buffered whole: memory stays flat however large the upload.
    """

    def __init__(self, request: Request) -> None:
        self._chunks = request.stream()
        self._buffer = bytearray()
        self._done = False

    async def _next(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return b""

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            chunk = anyio.from_thread.run(self._next)
            if not chunk:
                self._done = True
            self._buffer += chunk  # bytearray: amortised appends, no copy of what is already held
        if size < 0 or size >= len(self._buffer):
            data = bytes(self._buffer)
            self._buffer.clear()
        else:
            data = bytes(self._buffer[:size])
            del self._buffer[:size]
        return data


@route("PUT", "/storage/{token}", Operation(
    "Upload the bytes of an announced artifact (the upload_url of POST /artifacts/upload)", "storage",
    response=StoredObject, auth=False,
    body_content={"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    extra_responses={403: "tampered, expired or not a PUT URL", 409: "already uploaded",
                     413: "more bytes than declared or allowed", 422: "fewer bytes than declared",
                     503: "storage is unavailable"},
))  # fmt: skip
async def storage_object_put(request: Request) -> Response:
    hx = hx_of(request)
    grant: ObjectGrant = await call(hx.artifacts.redeem, request.path_params["token"], "PUT")
    if grant.max_bytes is not None:
        refuse_declared_over(request, grant.max_bytes)
    written = await call(hx.artifacts.receive, grant, _BodyReader(request))
    return model_response(StoredObject(size=written.size, sha256=written.sha256))


@route("GET", "/storage/{token}", Operation(
    "Download an artifact's bytes (the url of GET /artifacts/{id}/download)", "storage", auth=False,
    response=bytes, description="The body is the artifact's bytes; Content-Type is the artifact's own.",
    extra_responses={403: "tampered, expired or not a GET URL", 409: "not uploaded yet", 503: "storage is unavailable"},
))  # fmt: skip
async def storage_object_get(request: Request) -> Response:
    hx = hx_of(request)
    grant: ObjectGrant = await call(hx.artifacts.redeem, request.path_params["token"], "GET")
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
