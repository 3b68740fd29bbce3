"""HelixNet inside a service of your own: its REST API and admin UI under ``/helix``, your routes beside them.

    HELIXNET_ADMIN_PASSWORD='a long admin password' python examples/embed_in_service.py [PORT]

``PORT`` (or the PORT variable, default 8080) on 127.0.0.1; HelixNet's settings come from the usual
``HELIXNET_*`` variables (``HELIXNET_DATA_DIR`` for its SQLite database, queue and artifacts). Then:

    curl -X POST --data-binary @notes.txt http://127.0.0.1:8080/reports     -> 202 {"id": ...}
    curl http://127.0.0.1:8080/reports/<id>                                -> status and result
    http://127.0.0.1:8080/helix/                  HelixNet's UI (sign in as HELIXNET_ADMIN_EMAIL)
    http://127.0.0.1:8080/helix/api/v1/docs       HelixNet's REST API and its docs

The service's own routes submit jobs through ``hx`` directly, as a service account of their own;
the embedded worker threads run them; the app's lifespan starts and stops ``hx``.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from helixnet import HelixNet, JobRead, NotFound, Settings, UserRead, ValidationFailed
from helixnet.api import create_app
from helixnet.ui import mount_ui

SERVICE_EMAIL = "reports-service@example.org"


def build_app(hx: HelixNet) -> Starlette:
    """The service: its routes, HelixNet's API at /helix/api/v1, then HelixNet's UI at /helix."""
    service: dict[str, UserRead] = {}

    async def submit_report(request: Request) -> JSONResponse:
        text = await request.body()
        if not text.strip():
            return JSONResponse({"detail": "send the text to analyse as the request body",
                                 "errors": [{"loc": ["body"], "msg": "must not be empty"}]}, 422)  # fmt: skip
        # hx's calls block (database, storage): off the event loop, in Starlette's thread pool.
        job = await run_in_threadpool(_submit, hx, service["user"], text)
        return JSONResponse({"id": job.id, "status": job.status.value}, 202, headers={"Location": f"/reports/{job.id}"})

    async def show_report(request: Request) -> JSONResponse:
        # Another user's job, like a missing one, is a NotFound: 404 through the handler below.
        job = await run_in_threadpool(hx.jobs.get, request.path_params["job_id"], service["user"])
        return JSONResponse({"id": job.id, "status": job.status.value, "result": job.result, "error": job.error})

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 404)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "errors": getattr(exc, "errors", [])}, 422)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hx.start()  # the embedded worker threads and the sweeper
        service["user"] = _service_account(hx)
        try:
            yield
        finally:
            hx.stop()  # running jobs get their grace, then go back to the queue

    app = Starlette(
        routes=[
            Route("/reports", submit_report, methods=["POST"]),
            Route("/reports/{job_id}", show_report, methods=["GET"]),
            # The API keeps its own middleware and error format inside the mount.
            Mount("/helix/api", app=create_app(hx, prefix="/v1", root_redirect=False)),
        ],
        exception_handlers={NotFound: not_found, ValidationFailed: invalid},
        lifespan=lifespan,
    )
    # Last: NiceGUI mounts itself at /helix (after the routes above, which keep precedence) and wraps
    # this app's lifespan with its own start-up. One UI per process: NiceGUI keeps a single app of pages.
    mount_ui(app, hx, mount_path="/helix")
    return app


def _submit(hx: HelixNet, user: UserRead, text: bytes) -> JobRead:
    artifact = hx.artifacts.create(user, filename="report.txt", data=text, content_type="text/plain")
    return hx.jobs.submit(user, "textstats", params={"top": 5}, inputs={"content": artifact.id})


def _service_account(hx: HelixNet) -> UserRead:
    """The first admin as ``helixnet serve`` makes it, and the account this service submits as."""
    settings = hx.settings
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    created = hx.users.ensure_admin(settings.admin_email, password)
    if created is not None and created[1] is not None:
        print(f"Created admin {created[0].email} with password: {created[1]} (shown once)", flush=True)
    existing = hx.users.get_by_email(SERVICE_EMAIL)
    # Nobody signs in as it: a random password, never shown.
    return existing or hx.users.create(email=SERVICE_EMAIL, password=secrets.token_urlsafe(24), fullname="Reports")


def main(argv: list[str]) -> None:
    port = int(argv[1] if len(argv) > 1 else os.environ.get("PORT", "8080"))
    hx = HelixNet(Settings())  # HELIXNET_* variables and .env, as everywhere
    # The schema first: NiceGUI runs its start-up (the UI's live feed, which reads the jobs table)
    # before this app's own lifespan, where hx.start() would migrate it.
    hx.migrate()
    print(f"Reports service on http://127.0.0.1:{port}/reports; HelixNet at /helix/ and /helix/api/v1", flush=True)
    uvicorn.run(build_app(hx), host="127.0.0.1", port=port, lifespan="on", log_level="warning")


if __name__ == "__main__":
    main(sys.argv)
