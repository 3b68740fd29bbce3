"""Health, the plugin list, the OpenAPI document and its Swagger UI (served offline)."""

from __future__ import annotations

import html
from pathlib import Path

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from helixnet.api.middleware import csp_nonce
from helixnet.api.routing import Operation, call, hx_of, list_response, model_response, route
from helixnet.api.schemas import Health, PluginInfo
from helixnet.app import HelixNet


def _probe(hx: HelixNet) -> tuple[str, str]:
    try:
        with hx.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception:
        database = "unavailable"
    try:
        hx.queue.size()
        queue = "ok"
    except Exception:
        queue = "unavailable"
    return database, queue


@route("GET", "/health", Operation("Liveness and the state of the backends", "meta", response=Health, auth=False,
                                   extra_responses={503: "a backend is unavailable"}))  # fmt: skip
async def health(request: Request) -> Response:
    from helixnet import __version__

    hx = hx_of(request)
    database, queue = await call(_probe, hx)
    ok = database == "ok" and queue == "ok"
    pool = hx.pool
    body = Health(status="ok" if ok else "degraded", version=__version__, database=database, queue=queue,
                  workers=pool.threads if pool is not None else 0)  # fmt: skip
    return model_response(body, 200 if ok else 503)


@route("GET", "/plugins", Operation("The compute plugins this server runs, with their params' JSON Schema",
                                    "plugins", response=list[PluginInfo]))  # fmt: skip
async def list_plugins(request: Request) -> Response:
    hx = hx_of(request)
    items = []
    for name in hx.plugins:
        info = hx.plugins.info(name)
        items.append(PluginInfo(**info.plugin.describe(), package=info.package, version=info.version))
    return list_response(items)


async def openapi_json(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


def swagger_static_dir() -> Path:
    """Swagger UI's files from the installed swagger-ui-py package: the docs need no internet."""
    import swagger_ui

    return Path(swagger_ui.__file__).parent / "static"


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="{static}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{static}/swagger-ui-bundle.js"></script>
<script src="{static}/swagger-ui-standalone-preset.js"></script>
<script nonce="{nonce}">
window.ui = SwaggerUIBundle({{url: "{spec}", dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "BaseLayout",
  persistAuthorization: true}});
</script></body></html>
"""

#: Swagger UI's own files and this page's one inline script run; nothing else, and no framing.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


async def docs(request: Request) -> Response:
    # Paths, not absolute URLs: the page loads from wherever the browser found it, whatever Host said.
    nonce = csp_nonce()
    page = DOCS_PAGE.format(
        title=html.escape(request.app.state.openapi["info"]["title"]),
        static=html.escape(request.url_for("swagger_static", path="").path.rstrip("/")),
        spec=html.escape(request.url_for("openapi_json").path),
        nonce=nonce,
    )
    return HTMLResponse(page, headers={"Content-Security-Policy": DOCS_CSP.format(nonce=nonce)})


ROUTES = [health, list_plugins]

__all__ = ["ROUTES", "docs", "openapi_json", "swagger_static_dir"]
