"""``create_app(hx)``: the REST API as a Starlette app, ready to serve or to mount in another ASGI app."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from helixnet.api import admin, artifacts, jobs, meta, prometheus, schedules, storage, users
from helixnet.api.cors import cors_middleware
from helixnet.api.errors import EXCEPTION_HANDLERS
from helixnet.api.middleware import edge_middleware
from helixnet.api.openapi import build_openapi
from helixnet.api.routing import ApiRoute
from helixnet.app import HelixNet

API_PREFIX = "/api/v1"


def api_routes() -> list[ApiRoute]:
    """Every documented endpoint, in the order the docs show them."""
    return [*meta.ROUTES, *users.ROUTES, *jobs.ROUTES, *schedules.ROUTES, *artifacts.ROUTES, *storage.ROUTES,
            *admin.ROUTES]  # fmt: skip


def create_app(hx: HelixNet, *, prefix: str = API_PREFIX, root_redirect: bool = True) -> Starlette:
    """The API for ``hx`` under ``prefix``; starting and stopping ``hx`` stays with the caller.

    ``root_redirect`` sends ``/`` to the docs (the bundled UI takes ``/`` over when mounted).
    """
    from helixnet import __version__

    documented = api_routes()
    routes: list[BaseRoute] = [
        Mount(prefix, routes=[
            *documented,
            Route("/openapi.json", meta.openapi_json, name="openapi_json"),
            Route("/docs", meta.docs, name="docs"),
            Mount("/docs/static", StaticFiles(directory=meta.swagger_static_dir()), name="swagger_static"),
        ]),
        # Prometheus' scrape at the root, before the UI (mounted at / after these routes) could take it.
        Route("/metrics", prometheus.metrics, methods=["GET"], include_in_schema=False),
        Route("/openapi.json", meta.openapi_json, include_in_schema=False),
        Route("/docs", meta.docs, include_in_schema=False),
    ]  # fmt: skip
    if root_redirect:
        routes.append(Route("/", _to_docs(prefix), include_in_schema=False))
    app = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
                    middleware=[*edge_middleware(hx.settings), *cors_middleware(hx.settings),
                                Middleware(TrailingSlash)])  # fmt: skip
    app.router.redirect_slashes = False
    app.state.hx = hx
    app.state.openapi = build_openapi(documented, prefix=prefix, title="HelixNet", version=__version__)
    return app


def _to_docs(prefix: str):  # type: ignore[no-untyped-def]
    async def root(request: object) -> Response:
        return RedirectResponse(f"{prefix}/docs", status_code=307)

    return root


class TrailingSlash:
    """Serve ``/jobs/`` exactly like ``/jobs``, without a redirect (a POST body survives).

    Also notes the root path the app was entered with: routing rewrites it on the way down, and
    the 405 handler must match the path from the top again to list every allowed method.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = dict(scope)
            scope["helixnet.app_root_path"] = scope.get("root_path", "")
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope["path"] = path.rstrip("/") or "/"
                raw = scope.get("raw_path")
                if raw:
                    scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


__all__ = ["API_PREFIX", "TrailingSlash", "api_routes", "create_app"]
