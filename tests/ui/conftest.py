"""UI fixtures: the real UI factory mounted in a host app, driven by NiceGUI's testing ``User`` (no browser).

NiceGUI's own ``user`` fixture runs a main file; ours builds the UI with ``mount_ui`` around a real,
started HelixNet on a temp folder, inside ``nicegui_reset_globals`` so each test gets fresh pages.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from nicegui import core, ui
from nicegui.functions.download import download
from nicegui.functions.navigate import Navigate
from nicegui.functions.notify import notify
from nicegui.testing import User
from nicegui.testing.general import nicegui_reset_globals
from starlette.applications import Starlette

PASSWORD = "a long enough password"


@pytest.fixture
def hx(make_hx: Callable[..., Any]) -> Any:
    return make_hx(workers=1)


@pytest.fixture
def ada(hx: Any) -> Any:
    return hx.users.create(email="ada@example.org", password=PASSWORD, fullname="Ada")


@pytest.fixture
def bob(hx: Any) -> Any:
    return hx.users.create(email="bob@example.org", password=PASSWORD)


@pytest.fixture
def admin(hx: Any) -> Any:
    return hx.users.create(email="root@example.org", password=PASSWORD, is_admin=True)


@pytest_asyncio.fixture
async def ui_app(hx: Any, tmp_path: Path) -> AsyncIterator[Any]:
    """The UI of ``hx`` mounted at / of a host app, started (NiceGUI's start-up, the live hub)."""
    from helixnet.ui import mount_ui

    with nicegui_reset_globals():
        os.environ["NICEGUI_USER_SIMULATION"] = "true"
        try:
            host = Starlette()
            hub = mount_ui(host, hx, storage_path=tmp_path / "ui-sessions")
            async with host.router.lifespan_context(host):
                yield hub
        finally:
            os.environ.pop("NICEGUI_USER_SIMULATION", None)
            ui.navigate = Navigate()
            ui.notify = notify
            ui.download = download


@pytest_asyncio.fixture
async def make_user(ui_app: Any) -> AsyncIterator[Callable[[], User]]:
    """New browsers (each its own cookie jar) talking to the UI in-process."""
    clients: list[httpx.AsyncClient] = []

    def factory() -> User:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(core.app), base_url="http://test")
        clients.append(client)
        return User(client)

    yield factory
    for client in clients:
        await client.aclose()


@pytest_asyncio.fixture
async def user(make_user: Callable[[], User]) -> User:  # overrides the root conftest's HelixNet user
    return make_user()


async def log_in(user: User, email: str, password: str = PASSWORD, *, path: str = "/", wait: bool = True) -> None:
    """Open ``path``, land on the login page, log in and (``wait``) be back on ``path``."""
    await user.open(path)
    await user.should_see("Log in")
    user.find("Email").type(email)
    user.find("Password").type(password)
    user.find("Log in").click()
    if wait:
        # The navigation after login runs in the background. With two simulated Users in one process,
        # NiceGUI's testing User now and then loses that navigation (the session is signed in, the page
        # stays); a second click, as a person would give, then navigates. Chromium never shows this
        # (tests/ui/test_e2e.py logs in with no retry).
        for clicks in (1, 2):
            deadline = time.monotonic() + 5
            while True:
                try:
                    await user.should_not_see("Log in", retries=1)
                    return
                except AssertionError:
                    if time.monotonic() >= deadline:
                        break
                    await asyncio.sleep(0.02)
            if clicks == 1:
                user.find("Log in").click()
        raise AssertionError("login did not navigate away")
