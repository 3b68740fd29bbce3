"""Artifacts on pages: a card with Download and an inline preview, and the UI's download route.

Downloads use the artifacts service's signed URLs: S3's own presigned URL where the storage has
one, else a signed token redeemed by ``/files/{token}`` here (the same service calls the API's
storage route makes), so the UI works whether or not the REST API is mounted beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import IO, Any

from nicegui import core, ui
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from helixnet.core.schemas import ArtifactRead, UserRead
from helixnet.errors import HelixNetError
from helixnet.storage import content_disposition
from helixnet.ui.security import DOWNLOAD_CSP
from helixnet.ui.session import still_signed_in

PREVIEW_BYTES = 256 * 1024
CHUNK = 256 * 1024
TEXT_TYPES = ("text/", "application/json", "application/x-ndjson", "application/xml", "application/csv")


def create(hx: Any) -> None:
    async def download(request: Request) -> Response:
        try:
            grant = await asyncio.to_thread(hx.artifacts.redeem, request.path_params["token"], "GET")
            stream = await asyncio.to_thread(hx.artifacts.send, grant)
        except HelixNetError as exc:
            return PlainTextResponse(f"cannot download: {exc.detail}", status_code=403)
        headers = {"Content-Disposition": content_disposition(grant.filename), "Cache-Control": "private, no-store",
                   "X-Content-Type-Options": "nosniff", "Content-Security-Policy": DOWNLOAD_CSP}  # fmt: skip
        return StreamingResponse(_chunks(stream), media_type=grant.content_type, headers=headers)

    core.app.add_route("/files/{token}", download, methods=["GET"])


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := stream.read(CHUNK):
            yield chunk
    finally:
        stream.close()


async def store_upload(hx: Any, user: UserRead, event: Any) -> ArtifactRead | None:
    """An uploaded file (``ui.upload``'s event) stored as the user's artifact; None, said on the page, if not."""
    if still_signed_in(hx) is None:
        return None
    data = await event.file.read()
    try:
        return await asyncio.to_thread(hx.artifacts.create, user, event.file.name, data,
                                       event.file.content_type or None)  # fmt: skip
    except HelixNetError as exc:
        ui.notify(f"{event.file.name}: {exc.detail}", type="negative")
        return None


def signed_url(hx: Any, user: UserRead, artifact_id: str, *, root: str = "") -> str:
    """A short-lived URL for the bytes: the storage's own, or this UI's ``/files/{token}``."""
    signed = hx.artifacts.download_request(artifact_id, user)
    return signed.url if signed.url is not None else f"{root}/files/{signed.token}"


def is_text(artifact: ArtifactRead) -> bool:
    return artifact.content_type.startswith(TEXT_TYPES) or artifact.filename.endswith((".txt", ".json", ".csv", ".log"))


def is_image(artifact: ArtifactRead) -> bool:
    # SVG can carry scripts; an <img> does not run them, but we preview only raster formats anyway.
    return artifact.content_type in ("image/png", "image/jpeg", "image/gif", "image/webp")


def artifact_card(hx: Any, user: UserRead, artifact: ArtifactRead, *, title: str, root: str = "") -> None:
    """Name, size and type, a Download button and (text, JSON, images) a preview opened on demand."""
    with ui.card().classes("w-full gap-1 p-3").props("flat bordered"):
        with ui.row().classes("w-full items-center gap-2 flex-wrap"):
            ui.label(title).classes("font-medium break-all")
            ui.label(f"{artifact.filename} · {_size(artifact.size)} · {artifact.content_type}").classes(
                "text-xs opacity-70 break-all"
            )
            ui.space()
            ui.button("Download", icon="download", on_click=lambda: _download(hx, user, artifact)).props(
                "no-caps flat dense"
            )
        if is_text(artifact) or is_image(artifact):
            preview = ui.expansion("Preview").classes("w-full")
            loaded = False

            def load() -> None:
                nonlocal loaded
                if loaded or not preview.value:
                    return
                loaded = True
                with preview:
                    _preview(hx, user, artifact, root)

            preview.on_value_change(load)


def _download(hx: Any, user: UserRead, artifact: ArtifactRead) -> None:
    try:
        url = signed_url(hx, user, artifact.id)
    except HelixNetError as exc:
        ui.notify(exc.detail, type="warning")
        return
    ui.download(url, artifact.filename)


def _preview(hx: Any, user: UserRead, artifact: ArtifactRead, root: str) -> None:
    if is_image(artifact):
        ui.image(signed_url(hx, user, artifact.id, root=root)).classes("max-w-full max-h-96").props("fit=contain")
        return
    try:
        with hx.artifacts.open(artifact.id, user) as stream:
            data = stream.read(PREVIEW_BYTES + 1)
    except HelixNetError as exc:
        ui.label(f"No preview: {exc.detail}").classes("text-warning")
        return
    cut = len(data) > PREVIEW_BYTES
    text = data[:PREVIEW_BYTES].decode("utf-8", errors="replace")
    if not cut and (artifact.content_type == "application/json" or artifact.filename.endswith(".json")):
        with contextlib.suppress(ValueError):  # not JSON after all: shown as it is
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    ui.label(text).classes("w-full whitespace-pre-wrap break-all font-mono text-xs")
    if cut:
        ui.label(f"The first {PREVIEW_BYTES // 1024} KiB; Download has all of it.").classes("text-xs opacity-70")


def _size(size: int | None) -> str:
    if size is None:
        return "? bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size = size / 1024  # type: ignore[assignment]
    return f"{size} bytes"


__all__ = ["artifact_card", "create", "is_image", "is_text", "signed_url"]
