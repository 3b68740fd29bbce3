"""Schedules: create, list, read, change (pause), delete, run now, and the jobs each one fired."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from helixnet.api.routing import (
    Operation,
    Param,
    all_users_query,
    call,
    hx_of,
    json_body,
    model_response,
    path_id,
    query_int,
    query_str,
    route,
    url_to,
    user_of,
)
from helixnet.core.schedule_schemas import ScheduleCreate, SchedulePage, ScheduleRead, ScheduleUpdate
from helixnet.core.schemas import JobPage, JobRead

PAGE = (
    Param("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}),
    Param("cursor", {"type": "string", "maxLength": 500}, "next_cursor of the previous page"),
)
RULES = ("Cron expressions are read in the schedule's IANA time zone: a wall-clock time skipped by a DST change "
         "fires at the shifted time (02:30 -> 03:30), one that happens twice fires once (the first). Interval "
         "fire times are the multiples of interval_seconds since 1970-01-01 UTC.")  # fmt: skip


@route("POST", "/schedules", Operation(
    "Create a schedule: a plugin run on a cron expression or an interval", "schedules", response=ScheduleRead,
    status=201, body=ScheduleCreate, description=RULES + " Give exactly one of cron and interval_seconds; params "
    "are checked as a job submit checks them.", response_headers={"Location": "the schedule's URL"},
    extra_responses={404: "an input artifact is not found"},
))  # fmt: skip
async def create_schedule(request: Request) -> Response:
    body = await json_body(request, ScheduleCreate)
    schedule = await call(hx_of(request).schedules.create, user_of(request), **body.model_dump())
    return model_response(schedule, 201, {"Location": url_to(request, f"/schedules/{schedule.id}")})


@route("GET", "/schedules", Operation("The caller's schedules, newest first (admins: all=true for everyone's)",
    "schedules", response=SchedulePage,
    params=(*PAGE, Param("all", {"type": "boolean", "default": False}, "admins only: every user's schedules")),
    extra_responses={403: "all=true is for admins"},
))  # fmt: skip
async def list_schedules(request: Request) -> Response:
    user = user_of(request)
    everyone = all_users_query(request)
    page = await call(hx_of(request).schedules.list, user, limit=query_int(request, "limit", 50, 1, 500),
                      cursor=query_str(request, "cursor", 500), all_users=everyone)  # fmt: skip
    return model_response(page)


@route("GET", "/schedules/{schedule_id:uuid}", Operation(
    "One schedule, with its next and last fire times and its missed and skipped counts", "schedules",
    response=ScheduleRead,
))  # fmt: skip
async def read_schedule(request: Request) -> Response:
    return model_response(await call(hx_of(request).schedules.get, path_id(request, "schedule_id"), user_of(request)))


@route("PATCH", "/schedules/{schedule_id:uuid}", Operation(
    "Change a schedule; {\"enabled\": false} pauses it", "schedules", response=ScheduleRead, body=ScheduleUpdate,
    description="Fields left out keep their value. Setting cron clears interval_seconds and the other way round; "
    "a change of timing or of enabled computes next_fire_at again from now.",
))  # fmt: skip
async def update_schedule(request: Request) -> Response:
    body = await json_body(request, ScheduleUpdate)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    schedule = await call(hx_of(request).schedules.update, path_id(request, "schedule_id"), user_of(request), **changes)
    return model_response(schedule)


@route("DELETE", "/schedules/{schedule_id:uuid}", Operation(
    "Delete a schedule; the jobs it fired stay", "schedules", status=204,
))  # fmt: skip
async def delete_schedule(request: Request) -> Response:
    await call(hx_of(request).schedules.delete, path_id(request, "schedule_id"), user_of(request))
    return Response(status_code=204)


@route("POST", "/schedules/{schedule_id:uuid}/run", Operation(
    "Fire a schedule now, as an extra run; its next fire time stays", "schedules", response=JobRead, status=201,
    response_headers={"Location": "the job's URL"}, extra_responses={409: "it already fired at this very instant"},
))  # fmt: skip
async def run_schedule(request: Request) -> Response:
    job = await call(hx_of(request).schedules.run_now, path_id(request, "schedule_id"), user_of(request))
    return model_response(job, 201, {"Location": url_to(request, f"/jobs/{job.id}")})


@route("GET", "/schedules/{schedule_id:uuid}/jobs", Operation(
    "The jobs a schedule fired, newest fire time first", "schedules", response=JobPage, params=PAGE,
))  # fmt: skip
async def schedule_jobs(request: Request) -> Response:
    page = await call(
        hx_of(request).schedules.runs, path_id(request, "schedule_id"), user_of(request),
        limit=query_int(request, "limit", 50, 1, 500), cursor=query_str(request, "cursor", 500),
    )  # fmt: skip
    return model_response(page)


ROUTES = [create_schedule, list_schedules, read_schedule, update_schedule, delete_schedule, run_schedule,
          schedule_jobs]  # fmt: skip

__all__ = ["ROUTES"]
