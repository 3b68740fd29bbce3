"""What the admin UI reads and does, over HTTP too: status counts, bulk actions, pause and resume,
queue depth, workers and metrics. The UI calls the same services in-process.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import Response

from helixnet.api.routing import (
    Operation,
    Param,
    call,
    hx_of,
    json_body,
    list_response,
    model_response,
    query_bool,
    query_int,
    query_str,
    route,
    user_of,
)
from helixnet.core.bulk import BulkAction
from helixnet.core.metrics import WINDOWS
from helixnet.core.schemas import WorkerRead
from helixnet.core.validation import nul_free
from helixnet.errors import NotFound, ValidationFailed

STATUS = Literal["PENDING", "RUNNING", "SUCCESS", "FAILURE", "CANCELLED", "WAITING"]


class JobCounts(BaseModel):
    counts: dict[str, int] = Field(description="status -> jobs; cap + 1 means more than cap")
    cap: int


class BulkRequest(BaseModel):
    # An example Swagger's "Try it out" can send as it stands (issue 9): retry this plugin's failures.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"action": "retry_failed", "plugin": "echo"}]})  # fmt: skip

    action: Literal["cancel", "retry_failed", "delete_finished"]
    status: STATUS | None = None
    plugin: str | None = Field(default=None, max_length=100)
    q: str | None = Field(default=None, max_length=200)
    owner_id: str | None = Field(default=None, max_length=36)

    _nul_free = field_validator("plugin", "q", "owner_id")(nul_free)


class BulkResult(BaseModel):
    action: str
    seen: int
    changed: int
    batches: int
    done: bool


class PluginPause(BaseModel):
    plugin: str
    paused: bool
    paused_at: datetime | None = None
    released: int = Field(default=0, description="jobs put back on the queue by a resume")


class PluginDepth(BaseModel):
    plugin: str
    pending: int
    running: int


class MetricPoint(BaseModel):
    at: datetime
    succeeded: int
    failed: int
    cancelled: int
    p50_ms: float | None = None
    p95_ms: float | None = None


class MetricSeries(BaseModel):
    window: str
    plugins: dict[str, list[MetricPoint]]


@route("GET", "/jobs/counts", Operation(
    "Jobs per status, each counted up to cap + 1 (cheap at millions of rows)", "jobs", response=JobCounts,
    params=(Param("plugin", {"type": "string", "maxLength": 100}),
            Param("cap", {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 10000}),
            Param("all", {"type": "boolean", "default": False}, description="admins: everyone's jobs")),
))  # fmt: skip
async def job_counts(request: Request) -> Response:
    cap = query_int(request, "cap", 10_000, 1, 1_000_000)
    counts = await call(hx_of(request).jobs.counts, user_of(request), cap=cap, plugin=query_str(request, "plugin", 100),
                        all_users=query_bool(request, "all"))  # fmt: skip
    return model_response(JobCounts(counts={status.value: n for status, n in counts.items()}, cap=cap))


@route("POST", "/jobs/bulk", Operation(
    "Cancel, retry failed or delete finished jobs: every job matching the filter, in batches (admins only)",
    "admin", response=BulkResult, body=BulkRequest, admin=True,
))  # fmt: skip
async def bulk_jobs(request: Request) -> Response:
    body = await json_body(request, BulkRequest)
    report = await call(hx_of(request).jobs.bulk, user_of(request), BulkAction(body.action), status=body.status,
                        plugin=body.plugin, q=body.q, owner_id=body.owner_id)  # fmt: skip
    return model_response(BulkResult(action=report.action.value, seen=report.seen, changed=report.changed,
                                     batches=report.batches, done=report.done))  # fmt: skip


@route("GET", "/plugins/paused", Operation("Paused plugins (admins only)", "admin", response=list[PluginPause],
                                           admin=True))  # fmt: skip
async def paused_plugins(request: Request) -> Response:
    paused = await call(hx_of(request).pauses.paused)
    return list_response([PluginPause(plugin=name, paused=True, paused_at=at) for name, at in paused.items()])


def _plugin(request: Request) -> str:
    name = str(request.path_params["name"])
    if name not in hx_of(request).plugins:
        raise NotFound(f"plugin {name!r} not found")
    return name


@route("POST", "/plugins/{name}/pause", Operation(
    "Pause a plugin: its jobs are accepted and stay PENDING (admins only)", "admin", response=PluginPause,
    admin=True, extra_responses={404: "no such plugin"},
))  # fmt: skip
async def pause_plugin(request: Request) -> Response:
    name = _plugin(request)
    hx = hx_of(request)
    await call(hx.pauses.pause, name)
    return model_response(PluginPause(plugin=name, paused=True, paused_at=(await call(hx.pauses.paused)).get(name)))


@route("POST", "/plugins/{name}/resume", Operation(
    "Resume a plugin: its waiting jobs are queued again (admins only)", "admin", response=PluginPause,
    admin=True, extra_responses={404: "no such plugin"},
))  # fmt: skip
async def resume_plugin(request: Request) -> Response:
    name = _plugin(request)
    released = await call(hx_of(request).pauses.resume, name)
    return model_response(PluginPause(plugin=name, paused=False, released=released))


@route("GET", "/queue", Operation("PENDING and RUNNING jobs per plugin (admins only)", "admin",
                                  response=list[PluginDepth], admin=True))  # fmt: skip
async def queue_depth(request: Request) -> Response:
    depth = await call(hx_of(request).jobs.depth)
    return list_response([PluginDepth(plugin=name, pending=d.get("PENDING", 0), running=d.get("RUNNING", 0))
                          for name, d in sorted(depth.items())])  # fmt: skip


@route("GET", "/workers", Operation("Worker pools seen in the last hour (admins only)", "admin",
                                    response=list[WorkerRead], admin=True))  # fmt: skip
async def list_workers(request: Request) -> Response:
    return list_response(await call(hx_of(request).workers.list))


@route("GET", "/metrics", Operation(
    "Per plugin: succeeded, failed, cancelled and duration p50/p95 per step of a window (admins only)", "admin",
    response=MetricSeries, admin=True, params=(Param("window", {"type": "string", "enum": list(WINDOWS)}),),
))  # fmt: skip
async def metrics(request: Request) -> Response:
    window = query_str(request, "window", 10)
    window = "hour" if window is None else window
    if window not in WINDOWS:
        raise ValidationFailed.field(["query", "window"], f"must be one of {', '.join(WINDOWS)}")
    series = await call(hx_of(request).metrics.series, window)
    plugins = {name: [MetricPoint(at=p.at, succeeded=p.succeeded, failed=p.failed, cancelled=p.cancelled,
                                  p50_ms=_finite(p.p50_ms), p95_ms=_finite(p.p95_ms)) for p in points]
               for name, points in series.items()}  # fmt: skip
    return model_response(MetricSeries(window=window, plugins=plugins))


def _finite(value: float | None) -> float | None:
    """JSON has no infinity: a duration past the last histogram bound is reported as unknown."""
    return None if value is None or value == float("inf") else value


ROUTES = [job_counts, bulk_jobs, paused_plugins, pause_plugin, resume_plugin, queue_depth, list_workers, metrics]

__all__ = ["ROUTES"]
