"""End to end: a real ``helixnet serve`` on a loopback port, driven by Debian's headless Chromium.

Never a downloaded browser: ``.ci/run`` installs the ``chromium`` package with apt-get; without it
this test skips (fails under CI). Screenshots of every page visited land in the test's tmp folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ADMIN = ("admin@example.org", "admin password 1")
PLAIN = ("plain@example.org", "plain password 1")
EVIL = "<img src=x onerror=alert(1)>"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HELIXNET_DATA_DIR": str(tmp_path / "data"), "HELIXNET_BCRYPT_ROUNDS": "4",
           "HELIXNET_ADMIN_EMAIL": ADMIN[0], "HELIXNET_ADMIN_PASSWORD": ADMIN[1]}  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "helixnet", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1"], env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        message = "Debian's chromium is not installed (apt-get install chromium; .ci/run does it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            yield browser
        finally:
            browser.close()


def _api_user(base: str, email: str, password: str) -> None:
    """A plain user, made by the admin over the REST API."""
    token = httpx.post(f"{base}/api/v1/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]}).json()
    created = httpx.post(f"{base}/api/v1/users", json={"email": email, "password": password},
                         headers={"Authorization": f"Bearer {token['access_token']}"})  # fmt: skip
    assert created.status_code == 201, created.text


def _log_in(page: Any, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_log_in_submit_watch_download_log_out(server: str, browser: Any, tmp_path: Path) -> None:
    shots = tmp_path / "screens"
    shots.mkdir()
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(f"{server}/jobs/new?plugin=echo")
    page.wait_for_url(re.compile(r"/login\?redirect_to=/jobs/new"))
    page.get_by_role("button", name="Log in").wait_for()
    page.screenshot(path=shots / "01-login.png", full_page=True)
    _log_in(page, *ADMIN)
    page.wait_for_url(re.compile(r"/jobs/new\?plugin=echo$"))
    page.get_by_label("Message").wait_for()
    page.get_by_label("Message").fill("hello from chromium")
    page.screenshot(path=shots / "02-new-job.png", full_page=True)
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    page.evaluate("window.__still_the_same_page = true")
    page.get_by_text("SUCCESS", exact=True).first.wait_for(timeout=30_000)  # live, no reload
    assert page.evaluate("window.__still_the_same_page") is True
    page.get_by_text("Download result").wait_for()
    page.screenshot(path=shots / "03-job-success.png", full_page=True)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download result").click()
    downloaded = download_info.value.path()
    assert json.loads(Path(downloaded).read_text()) == {"message": "hello from chromium"}

    page.goto(f"{server}/")
    page.get_by_text("SUCCESS 1").wait_for()
    page.screenshot(path=shots / "04-dashboard.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing scrolls sideways
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=shots / "05-dashboard-phone.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/login"))
    page.goto(f"{server}/")
    page.wait_for_url(re.compile(r"/login\?redirect_to=/$"))
    assert dialogs == []
    context.close()


def test_plain_user_sees_no_admin_page_and_no_script_runs(server: str, browser: Any, tmp_path: Path) -> None:
    shots = tmp_path / "screens"
    shots.mkdir()
    _api_user(server, *PLAIN)
    token = httpx.post(f"{server}/api/v1/auth/token", data={"username": PLAIN[0], "password": PLAIN[1]}).json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    job = httpx.post(f"{server}/api/v1/jobs", json={"plugin": "echo", "params": {"message": EVIL}}, headers=auth)
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{server}/login")
    _log_in(page, *PLAIN)
    page.wait_for_url(f"{server}/")
    page.get_by_text("New job").wait_for()
    assert page.get_by_text("Users", exact=True).count() == 0  # no admin links

    response = page.goto(f"{server}/admin/users")
    assert response is not None and response.status == 404
    page.screenshot(path=shots / "06-plain-admin-users.png", full_page=True)
    assert page.get_by_text("Reset password").count() == 0
    assert page.get_by_text("admin@example.org").count() == 0

    page.goto(f"{server}/jobs/{job_id}")
    page.get_by_text("SUCCESS", exact=True).first.wait_for(timeout=30_000)
    page.get_by_text(EVIL).first.wait_for()  # the characters, shown as text
    page.wait_for_timeout(500)  # an <img onerror> would have fired by now
    page.screenshot(path=shots / "07-evil-job.png", full_page=True)
    assert dialogs == []
    assert page.locator("img[src='x']").count() == 0
    context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_renders_for_an_admin(server: str, browser: Any, tmp_path: Path, width: int) -> None:
    """Each page once, at laptop and phone width: no sideways scrolling, no script error."""
    shots = tmp_path / "screens"
    shots.mkdir()
    token = httpx.post(f"{server}/api/v1/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]}).json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    job = httpx.post(f"{server}/api/v1/jobs", json={"plugin": "sleep", "params": {"seconds": 30}}, headers=auth)
    files = {"content_key": ("poem.txt", b"so much depends\nupon\na red wheel\nbarrow\n", "text/plain")}
    assert httpx.post(f"{server}/api/v1/jobs/upload", headers=auth, files=files).status_code == 201
    child = httpx.post(f"{server}/api/v1/jobs", headers=auth, json={"plugin": "echo", "after": [job.json()["id"]]})
    assert child.status_code == 202 and child.json()["status"] == "WAITING", child.text
    schedule = {"plugin": "echo", "params": {"message": "tick"}, "cron": "30 2 * * *", "timezone": "Europe/Berlin"}
    assert httpx.post(f"{server}/api/v1/schedules", headers=auth, json=schedule).status_code == 201
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/login")
    _log_in(page, *ADMIN)
    page.wait_for_url(f"{server}/")
    pages = {"dashboard": "/", "new-job": "/jobs/new?plugin=textstats", "job": f"/jobs/{job.json()['id']}",
             "artifacts": "/artifacts", "profile": "/profile", "admin-users": "/admin/users",
             "admin-jobs": "/admin/jobs", "admin-monitor": "/admin/monitor", "schedules": "/schedules",
             "waiting-child": f"/jobs/{child.json()['id']}"}  # fmt: skip
    for name, path in pages.items():
        response = page.goto(f"{server}{path}")
        assert response is not None and response.status == 200, name
        page.get_by_role("button", name="Log out").wait_for()
        page.wait_for_timeout(400)
        page.screenshot(path=shots / f"{width}-{name}.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), f"{name} scrolls sideways"
    httpx.post(f"{server}/api/v1/jobs/{job.json()['id']}/cancel", headers=auth)
    assert errors == []
    context.close()


def test_a_hidden_tab_waits_and_catches_up_when_shown(server: str, browser: Any) -> None:
    """Live pages pause while their tab is hidden (no refresh work for nobody) and catch up when shown."""
    token = httpx.post(f"{server}/api/v1/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]}).json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    job = httpx.post(f"{server}/api/v1/jobs", headers=auth, json={"plugin": "sleep", "params": {"seconds": 60}}).json()
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(f"{server}/jobs/{job['id']}")
    _log_in(page, *ADMIN)
    page.get_by_text("RUNNING", exact=True).first.wait_for(timeout=30_000)
    page.evaluate("""() => {  // what a browser does when the tab goes to the background
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    page.wait_for_timeout(500)  # the server has heard the tab went hidden
    assert httpx.post(f"{server}/api/v1/jobs/{job['id']}/cancel", headers=auth).status_code == 202
    page.wait_for_timeout(2000)  # changes are shown within 1 s to a visible tab
    assert page.get_by_text("CANCELLED", exact=True).count() == 0
    page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    page.get_by_text("CANCELLED", exact=True).first.wait_for(timeout=5_000)
