"""``mount_ui(app, hx)``: the admin UI, built by a factory and mounted into an ASGI app.

NiceGUI keeps one global FastAPI app (``nicegui.app``) with its pages; that is the only global
state here, and it is what NiceGUI itself requires. Everything of HelixNet's (the instance, the
live hub) is passed to the page modules by this factory, never read from a module global.
"""

from __future__ import annotations

from pathlib import Path

from nicegui import core, storage, ui
from starlette.applications import Starlette

from helixnet.app import HelixNet
from helixnet.headers import DefaultHeaders
from helixnet.ui import artifacts, dashboard, files, jobs, login, new_job, profile, schedules
from helixnet.ui.admin import jobs as admin_jobs
from helixnet.ui.admin import monitor
from helixnet.ui.admin import users as admin_users
from helixnet.ui.guard import AuthGuard
from helixnet.ui.live import LiveHub
from helixnet.ui.security import UI_HEADERS
from helixnet.ui.session import session_secret


def mount_ui(
    app: Starlette,
    hx: HelixNet,
    *,
    mount_path: str = "/",
    storage_path: Path | None = None,
    title: str = "HelixNet",
) -> LiveHub:
    """Serve the UI of ``hx`` at ``mount_path`` of ``app``; mount it after your own routes.

    ``app`` runs NiceGUI's start-up in its lifespan, so serve it with lifespan enabled. Browser
    sessions are kept under ``storage_path`` (default ``<data_dir>/ui-sessions``). Returns the
    live hub (the process's change feed for open pages), mostly for tests.
    """
    storage.Storage.path = (storage_path or hx.settings.data_dir / "ui-sessions").resolve()
    hub = register_pages(hx)
    core.app.add_middleware(AuthGuard, hx=hx)  # before run_with: inside NiceGUI's session middleware
    core.app.add_middleware(DefaultHeaders, headers=UI_HEADERS)
    ui.run_with(
        app,  # type: ignore[arg-type]  # NiceGUI types it FastAPI; it uses only Starlette's surface
        mount_path=mount_path,
        title=title,
        dark=None,
        storage_secret=session_secret(hx.settings.signing_keys()),
        show_welcome_message=False,
        favicon="🧬",
    )
    core.app.on_startup(hub.start)
    core.app.on_shutdown(hub.stop)
    return hub


def register_pages(hx: HelixNet) -> LiveHub:
    """Every page, one module each; the hub fans the process's job changes out to open pages."""
    hub = LiveHub(hx)
    login.create(hx)
    dashboard.create(hx, hub)
    new_job.create(hx)
    jobs.create(hx, hub)
    schedules.create(hx)
    files.create(hx)
    artifacts.create(hx)
    profile.create(hx)
    admin_users.create(hx)
    admin_jobs.create(hx, hub)
    monitor.create(hx, monitor.MonitorData(hx))
    return hub


__all__ = ["mount_ui", "register_pages"]
