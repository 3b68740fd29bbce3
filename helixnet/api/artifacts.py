"""Artifacts: announce an upload, send the bytes to a signed URL, complete; list, read, download, delete.

Bytes never pass through these handlers: on S3 the URLs are S3's own presigned ones; on the local
folder they point at ``storage.py``'s routes, which stream straight to and from disk.
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from helixnet.api.middleware import public_base
from helixnet.api.routing import (
    Operation,
    Param,
    call,
    hx_of,
    json_body,
    list_response,
    model_response,
    path_id,
    query_bool,
    query_int,
    query_str,
    route,
    url_to,
    user_of,
)
from helixnet.api.schemas import DownloadTicket, UploadRequest, UploadTicket
from helixnet.core.presign import SignedRequest
from helixnet.core.schemas import ArtifactRead
from helixnet.errors import ValidationFailed


def _query_uuid(request: Request, name: str) -> str | None:
    """An optional id in the query, in the form ids are stored in; the document says ``format: uuid``."""
    raw = query_str(request, name, 100)
    if raw is None:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ValidationFailed.field(["query", name], "must be a UUID") from None


def signed_url(request: Request, signed: SignedRequest) -> str:
    """A direct URL (S3) as it is; an app-served one under this API's storage route."""
    if signed.url is not None:
        return signed.url
    assert signed.token is not None
    return public_base(request) + request.url_for("storage_object_get", token=signed.token).path


@route("POST", "/artifacts/upload", Operation(
    "Announce an upload; send the bytes with the returned method, URL and headers, then complete it",
    "artifacts", response=UploadTicket, status=201, body=UploadRequest,
    extra_responses={413: "larger than the server accepts", 503: "storage is unavailable"},
))  # fmt: skip
async def begin_upload(request: Request) -> Response:
    body = await json_body(request, UploadRequest)
    hx, user = hx_of(request), user_of(request)
    artifact = await call(hx.artifacts.begin_upload, user, body.filename, body.size, body.content_type,
                          sha256=body.sha256)  # fmt: skip
    signed = await call(hx.artifacts.upload_request, artifact.id, user)
    ticket = UploadTicket(artifact=artifact, upload_url=signed_url(request, signed), headers=signed.headers,
                          expires_at=signed.expires_at)  # fmt: skip
    return model_response(ticket, 201, {"Location": url_to(request, f"/artifacts/{artifact.id}")})


@route("POST", "/artifacts/{artifact_id:uuid}/complete", Operation(
    "Check the uploaded bytes, record their size and sha256, and make the artifact available",
    "artifacts", response=ArtifactRead,
    description="On S3 the bytes are not read back: a declared sha256 was checked by S3 and is compared with "
                "what it kept; without one, sha256 is null until the server computes it in the background.",
    extra_responses={409: "nothing uploaded yet, or not the declared size or sha256", 503: "storage is unavailable"},
))  # fmt: skip
async def complete_upload(request: Request) -> Response:
    artifact = await call(hx_of(request).artifacts.complete, path_id(request, "artifact_id"), user_of(request))
    return model_response(artifact)


@route("GET", "/artifacts", Operation("The caller's artifacts, newest first", "artifacts",
    response=list[ArtifactRead], params=(
        Param("job_id", {"type": "string", "format": "uuid"}, "only the outputs of this job"),
        Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
    ),
))  # fmt: skip
async def list_artifacts(request: Request) -> Response:
    artifacts = await call(hx_of(request).artifacts.list, user_of(request),
                           limit=query_int(request, "limit", 100, 1, 1000), job_id=_query_uuid(request, "job_id"))  # fmt: skip
    return list_response(artifacts)


@route("GET", "/artifacts/{artifact_id:uuid}", Operation("One artifact", "artifacts", response=ArtifactRead))
async def read_artifact(request: Request) -> Response:
    artifact = await call(hx_of(request).artifacts.get, path_id(request, "artifact_id"), user_of(request))
    return model_response(artifact)


@route("GET", "/artifacts/{artifact_id:uuid}/download", Operation(
    "A short-lived download URL (redirect=true answers 307 to it)", "artifacts", response=DownloadTicket,
    params=(
        Param("redirect", {"type": "boolean", "default": False}),
        Param("expires_in", {"type": "integer", "minimum": 1},
              "seconds; default HELIXNET_DOWNLOAD_URL_EXPIRES_SECONDS (300), "
              "at most HELIXNET_DOWNLOAD_URL_MAX_EXPIRES_SECONDS (3600)"),
    ),
    extra_responses={307: "redirect to the download URL", 409: "not uploaded yet", 503: "storage is unavailable"},
))  # fmt: skip
async def download_artifact(request: Request) -> Response:
    hx = hx_of(request)
    expires_in = query_int(request, "expires_in", hx.settings.download_url_expires_seconds, 1,
                           hx.artifacts.download_max_expires_seconds)  # fmt: skip
    redirect = query_bool(request, "redirect")
    signed = await call(hx.artifacts.download_request, path_id(request, "artifact_id"), user_of(request),
                        expires_in=expires_in)  # fmt: skip
    url = signed_url(request, signed)
    if redirect:
        return RedirectResponse(url, status_code=307)
    return model_response(DownloadTicket(url=url, expires_at=signed.expires_at))


@route("DELETE", "/artifacts/{artifact_id:uuid}", Operation("Delete an artifact and its bytes", "artifacts", status=204,
                                                            extra_responses={503: "storage is unavailable"}))  # fmt: skip
async def delete_artifact(request: Request) -> Response:
    await call(hx_of(request).artifacts.delete, path_id(request, "artifact_id"), user_of(request))
    return Response(status_code=204)


ROUTES = [begin_upload, complete_upload, list_artifacts, read_artifact, download_artifact, delete_artifact]

__all__ = ["ROUTES", "signed_url"]
