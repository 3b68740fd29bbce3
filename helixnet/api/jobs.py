"""Jobs: submit (JSON or a multipart upload), list, read, events, cancel and retry."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from helixnet.api.errors import MalformedRequest
from helixnet.api.jsonlimits import parse_json
from helixnet.api.routing import (
    Operation,
    Param,
    all_users_query,
    call,
    hx_of,
    json_body,
    limit_body,
    list_response,
    model_response,
    path_id,
    query_bool,
    query_int,
    query_str,
    read_limited,
    refuse_declared_over,
    route,
    url_to,
    user_of,
    validated_body,
)
from helixnet.core.models import JobStatus
from helixnet.core.schemas import JobBatchCreate, JobBatchRead, JobCreate, JobEventRead, JobPage, JobRead
from helixnet.errors import HelixNetError, PayloadTooLarge, ValidationFailed

IDEMPOTENCY = Param("Idempotency-Key", {"type": "string", "maxLength": 200}, location="header",
                    description="a retried POST with the same key returns the first job")  # fmt: skip
STATUS_SCHEMA = {"type": "string", "enum": [status.value for status in JobStatus]}
#: Room in a multipart body for boundaries, part headers and the small fields beside the files.
FORM_OVERHEAD_BYTES = 1 << 20
#: Form field names of the upload form that name an input differently (the seeds' clients send these).
UPLOAD_ALIASES = {"content_key": "content", "context_key": "context"}
UPLOAD_FORM = {
    "multipart/form-data": {"schema": {
        "type": "object",
        "properties": {
            "plugin": {"type": "string", "default": "textstats", "examples": ["textstats"]},
            # Swagger UI pre-fills a field with its example, else with the word "string", which is
            # no JSON object (issue 9): the example must be accepted as it stands.
            "params": {"type": "string", "description": "JSON object of the plugin's params",
                       "default": "{}", "examples": ['{"top": 5}']},
            "content_key": {"type": "string", "format": "binary", "description": "the input 'content'"},
            "context_key": {"type": "string", "format": "binary", "description": "the input 'context'"},
        },
        "additionalProperties": {"type": "string", "format": "binary"},
    }}
}  # fmt: skip


def _location(request: Request, job: JobRead) -> dict[str, str]:
    return {"Location": url_to(request, f"/jobs/{job.id}")}


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= 200:
        raise ValidationFailed.field(["header", "Idempotency-Key"], "must be 1 to 200 characters")
    return key


@route("POST", "/jobs", Operation(
    "Submit a job; it runs in the background", "jobs", response=JobRead, status=202, body=JobCreate,
    params=(IDEMPOTENCY,), response_headers={"Location": "the job's URL"},
    description="With `after` (parent job ids) the job is WAITING until every parent is final, then runs; an "
    'input may be a parent\'s output, `{"job": id, "output": "result.json"}` (that parent joins `after`).',
    extra_responses={404: "an input artifact or a parent job (after) is not found",
                     409: "the job could not be recorded, or a parent already failed (see allow_failed_parents)"},
))  # fmt: skip
async def submit_job(request: Request) -> Response:
    body = await json_body(request, JobCreate)
    job = await call(
        hx_of(request).jobs.submit, user_of(request), body.plugin, params=body.params, inputs=body.plain_inputs(),
        priority=body.priority, max_retries=body.max_retries, timeout=body.timeout,
        idempotency_key=_idempotency_key(request), run_at=body.run_at, delay=body.delay, after=body.after,
        allow_failed_parents=body.allow_failed_parents,
    )  # fmt: skip
    return model_response(job, 202, _location(request, job))


#: A batch body may be larger than other JSON bodies: up to HELIXNET_JOB_BATCH_MAX jobs' params.
BATCH_MAX_BYTES = 32 << 20


@route("POST", "/jobs/batch", Operation(
    "Submit many jobs at once, all or none; they run in the background", "jobs", response=JobBatchRead, status=201,
    body=JobBatchCreate, description="One transaction and one queue round trip for the lot. Errors name the item "
    "(body.jobs.3.params.x); nothing is submitted when any item is invalid. Each item may carry its own idempotency_key.",
    extra_responses={413: "more jobs than HELIXNET_JOB_BATCH_MAX", 409: "the jobs could not be recorded"},
))  # fmt: skip
async def submit_batch(request: Request) -> Response:
    hx = hx_of(request)
    raw = await read_limited(request, BATCH_MAX_BYTES)
    if not raw.strip():
        raise MalformedRequest("a JSON body is required", errors=[{"loc": ["body"], "msg": "empty body"}])
    data = parse_json(raw, ["body"])
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if isinstance(jobs, list) and len(jobs) > hx.settings.job_batch_max:  # before validating a huge body
        raise PayloadTooLarge(f"{len(jobs)} jobs in one batch; at most {hx.settings.job_batch_max}",
                              errors=[{"loc": ["body", "jobs"], "msg": f"at most {hx.settings.job_batch_max} jobs"}])
    body = validated_body(raw, data, JobBatchCreate)
    items = [item.model_dump(exclude_unset=True) for item in body.jobs]
    try:
        created = await call(hx.jobs.submit_many, user_of(request), items)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.detail, errors=[{**e, "loc": ["body", *e["loc"]]} for e in exc.errors]) from None
    return model_response(JobBatchRead(jobs=created), 201)


@route("POST", "/jobs/upload", Operation(
    "Upload files and submit a job on them in one request; each file field names an input", "jobs",
    response=JobRead, status=201, body_content=UPLOAD_FORM, params=(IDEMPOTENCY,),
    extra_responses={409: "the job could not be recorded", 503: "storage is unavailable"},
))  # fmt: skip
async def upload_job(request: Request) -> Response:
    hx, user = hx_of(request), user_of(request)
    limit = hx.settings.max_upload_bytes
    body_limit = limit + FORM_OVERHEAD_BYTES
    refuse_declared_over(request, body_limit)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise MalformedRequest("send multipart/form-data with one file field per input")
    key = _idempotency_key(request)
    # The parser spools files to disk; a body past the limit stops it before the disk fills.
    limited = Request(request.scope, receive=limit_body(request.receive, body_limit))
    try:
        form = await limited.form(max_files=100, max_fields=100)
    except HelixNetError:
        raise
    except Exception as exc:
        raise MalformedRequest(f"not a multipart form: {exc}") from exc
    try:
        plugin, params, files = _read_upload_form(form)
        if key is not None and (earlier := await call(hx.jobs.by_idempotency_key, user, key)):
            digests = await call(_digests, files)
            earlier = await call(hx.jobs.replay_upload, earlier, plugin, params, digests)
            return model_response(earlier, 201, _location(request, earlier))  # a retry stores no second copy
        inputs: dict[str, str] = {}
        try:
            for field, upload in files:
                artifact = await call(
                    hx.artifacts.create, user, upload.filename or field, upload.file,
                    upload.content_type or None, max_bytes=limit,
                )  # fmt: skip
                inputs[UPLOAD_ALIASES.get(field, field)] = artifact.id
            job = await call(hx.jobs.submit, user, plugin, params=params, inputs=inputs, idempotency_key=key)
        except BaseException:
            for artifact_id in inputs.values():  # no orphans from a request that was refused
                await call(hx.artifacts.delete, artifact_id, user)
            raise
    finally:
        await form.close()  # removes the spooled temporary files
    return model_response(job, 201, _location(request, job))


def _digests(files: list[tuple[str, UploadFile]]) -> dict[str, str]:
    """sha256 of each spooled file by input name (read from the temporary file, then rewound)."""
    digests = {}
    for field, upload in files:
        digest = hashlib.sha256()
        while chunk := upload.file.read(1 << 20):
            digest.update(chunk)
        upload.file.seek(0)
        digests[UPLOAD_ALIASES.get(field, field)] = digest.hexdigest()
    return digests


def _read_upload_form(form: Any) -> tuple[str, dict[str, Any], list[tuple[str, UploadFile]]]:
    plugin = "textstats"
    params: dict[str, Any] = {}
    files: list[tuple[str, UploadFile]] = []
    for field, value in form.multi_items():
        if isinstance(value, UploadFile):
            files.append((field, value))
        elif field == "plugin":
            plugin = value.strip() or plugin
        elif field == "params":
            try:
                params = parse_json(value, ["body", "params"]) if value.strip() else {}
            except MalformedRequest as exc:  # a form field, not the body: a bad value is a 422 on it
                raise ValidationFailed.field(["body", "params"], f"not valid JSON: {exc.detail}") from None
            if not isinstance(params, dict):
                raise ValidationFailed.field(["body", "params"], "must be a JSON object")
        else:
            raise ValidationFailed.field(["body", field], "unknown form field; send files, plugin and params")
    if not files:
        raise ValidationFailed.field(["body"], "no file uploaded")
    return plugin, params, files


@route("GET", "/jobs", Operation("The caller's jobs, newest first (admins: all=true for everyone's)", "jobs",
    response=JobPage, params=(
        Param("status", STATUS_SCHEMA),
        Param("plugin", {"type": "string", "maxLength": 100}),
        Param("q", {"type": "string", "maxLength": 200}, "search id prefix, plugin, message, error"),
        Param("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}),
        Param("cursor", {"type": "string", "maxLength": 500}, "next_cursor of the previous page"),
        Param("all", {"type": "boolean", "default": False}, "admins only: every user's jobs"),
    ), extra_responses={403: "all=true is for admins"},
))  # fmt: skip
async def list_jobs(request: Request) -> Response:
    user = user_of(request)
    everyone = all_users_query(request)
    page = await call(
        hx_of(request).jobs.list, user, status=query_str(request, "status", 20),
        plugin=query_str(request, "plugin", 100), q=query_str(request, "q", 200),
        limit=query_int(request, "limit", 50, 1, 500), cursor=query_str(request, "cursor", 500),
        all_users=everyone,
    )  # fmt: skip
    return model_response(page)


@route("GET", "/jobs/{job_id:uuid}", Operation("One job, with its result and output artifacts", "jobs", response=JobRead))
async def read_job(request: Request) -> Response:
    return model_response(await call(hx_of(request).jobs.get, path_id(request, "job_id"), user_of(request)))


@route("GET", "/jobs/{job_id:uuid}/events", Operation("The job's log lines, in order", "jobs",
    response=list[JobEventRead], params=(
        Param("after", {"type": "integer", "minimum": 0, "default": 0}, "only lines with a larger id"),
        Param("limit", {"type": "integer", "minimum": 1, "maximum": 5000, "default": 1000}),
    ),
))  # fmt: skip
async def job_events(request: Request) -> Response:
    events = await call(
        hx_of(request).jobs.events, path_id(request, "job_id"), user_of(request),
        after_id=query_int(request, "after", 0, 0, 2**62), limit=query_int(request, "limit", 1000, 1, 5000),
    )  # fmt: skip
    return list_response(events)


@route("POST", "/jobs/{job_id:uuid}/cancel", Operation(
    "Cancel: a PENDING job at once, a RUNNING one as soon as its plugin notices", "jobs", response=JobRead,
    status=202, extra_responses={409: "the job already finished"},
))  # fmt: skip
async def cancel_job(request: Request) -> Response:
    job = await call(hx_of(request).jobs.cancel, path_id(request, "job_id"), user_of(request))
    return model_response(job, 202)


@route("POST", "/jobs/{job_id:uuid}/retry", Operation(
    "Run a FAILURE or CANCELLED job again, as a new job", "jobs", response=JobRead, status=202,
    params=(IDEMPOTENCY, Param("rearm_children", {"type": "boolean", "default": False},
                               "children cancelled because this job failed wait again, for the new job")),
    description='`rearm_children` may also come as a JSON body, `{"rearm_children": true}`.',
    extra_responses={409: "the job is not FAILURE or CANCELLED"},
))  # fmt: skip
async def retry_job(request: Request) -> Response:
    rearm = query_bool(request, "rearm_children")
    raw = await read_limited(request, MAX_RETRY_BODY_BYTES)
    if raw.strip():  # an optional body: {"rearm_children": true}
        rearm = validated_body(raw, parse_json(raw, ["body"]), JobRetry).rearm_children or rearm
    job = await call(hx_of(request).jobs.retry, path_id(request, "job_id"), user_of(request),
                     idempotency_key=_idempotency_key(request), rearm_children=rearm)  # fmt: skip
    return model_response(job, 202, _location(request, job))


#: A retry's optional JSON body is one small object.
MAX_RETRY_BODY_BYTES = 4096


class JobRetry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rearm_children: bool = False


ROUTES = [submit_job, submit_batch, upload_job, list_jobs, read_job, job_events, cancel_job, retry_job]

__all__ = ["ROUTES"]
