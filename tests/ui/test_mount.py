"""``mount_ui`` under a prefix of an embedding app, beside the API: the README's example."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from nicegui.testing.general import nicegui_reset_globals
from starlette.applications import Starlette

from helixnet.api import create_app
from helixnet.ui import mount_ui

pytestmark = pytest.mark.asyncio


async def test_mounted_under_a_prefix_beside_the_api(hx: Any, ada: Any, tmp_path: Path) -> None:
    with nicegui_reset_globals():
        os.environ["NICEGUI_USER_SIMULATION"] = "true"
        try:
            app = Starlette()
            app.mount("/helixnet/api", create_app(hx, prefix="/v1", root_redirect=False))
            mount_ui(app, hx, mount_path="/helixnet", storage_path=tmp_path / "s")
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app)
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                    page = await http.get("/helixnet/jobs/new", follow_redirects=False)
                    assert page.status_code == 307
                    assert page.headers["location"] == "/helixnet/login?redirect_to=/jobs/new"
                    login = await http.get("/helixnet/login")
                    assert login.status_code == 200 and "/helixnet/_nicegui" in login.text
                    health = await http.get("/helixnet/api/v1/health")
                    assert health.status_code == 200 and health.json()["status"] == "ok"
                    assert (await http.get("/elsewhere")).status_code == 404
        finally:
            os.environ.pop("NICEGUI_USER_SIMULATION", None)
