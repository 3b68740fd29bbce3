"""``GET /metrics``: Prometheus' scrape, beside the API, behind a bearer token of its own.

Without ``HELIXNET_METRICS_TOKEN`` the path answers 404 as if it did not exist; with it, the
request must carry ``Authorization: Bearer <token>`` (compared in constant time) or gets 401.
Not in the OpenAPI document: it is for Prometheus, not for API clients, and takes no user token.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from helixnet.core.prometheus import CONTENT_TYPE, bearer_matches, metrics_token
from helixnet.errors import AuthenticationFailed


async def metrics(request: Request) -> Response:
    hx = request.app.state.hx
    token = metrics_token(hx.settings)
    if token is None:
        raise HTTPException(404, "Not Found")
    if not bearer_matches(request.headers.get("authorization"), token):
        raise AuthenticationFailed("a valid metrics token is required: Authorization: Bearer <HELIXNET_METRICS_TOKEN>")
    body = await run_in_threadpool(hx.prometheus.exposition)  # database gauges: off the event loop
    return Response(body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


__all__ = ["metrics"]
