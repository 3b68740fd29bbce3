"""examples/*.py run exactly as their docstrings say: real processes, driven over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api.apihelp import free_port
from api.conftest import Server

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ADMIN = {"HELIXNET_ADMIN_EMAIL": "admin@example.org", "HELIXNET_ADMIN_PASSWORD": "admin password 1"}


def wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.1)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    """``python examples/embed_in_service.py PORT``, with its data in tmp_path; its base URL."""
    port = free_port()
    env = {**os.environ, **ADMIN, "HELIXNET_DATA_DIR": str(tmp_path / "data"), "HELIXNET_BCRYPT_ROUNDS": "4",
           "HELIXNET_WORKER_GRACE_SECONDS": "0"}  # fmt: skip
    log = tmp_path / "service.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, str(EXAMPLES / "embed_in_service.py"), str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/helix/api/v1/health", proc, log)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    # uvicorn re-raises the SIGTERM it handled once the app's lifespan (hx.stop()) has run.
    output = log.read_text(errors="replace")
    assert code in (0, -signal.SIGTERM) and "Traceback" not in output, output


def test_embed_in_service(service: str) -> None:
    with httpx.Client(base_url=service, timeout=30) as http:
        # The service's own routes.
        refused = http.post("/reports", content=b"  ")
        assert refused.status_code == 422 and refused.json()["errors"][0]["loc"] == ["body"]
        submitted = http.post("/reports", content=b"gamma beta gamma\nalpha gamma")
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        assert submitted.headers["Location"] == f"/reports/{job_id}"
        report = _poll(http, f"/reports/{job_id}")
        assert report["status"] == "SUCCESS", report
        assert report["result"]["top_terms"][0] == {"term": "gamma", "count": 3}
        assert http.get(f"/reports/{uuid.uuid4()}").status_code == 404
        # HelixNet's API under /helix/api/v1: the admin sees the job the service submitted.
        assert http.get("/helix/api/v1/health").json()["status"] == "ok"
        token = http.post("/helix/api/v1/auth/token",
                          data={"username": ADMIN["HELIXNET_ADMIN_EMAIL"], "password": ADMIN["HELIXNET_ADMIN_PASSWORD"]})  # fmt: skip
        assert token.status_code == 200, token.text
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        job = http.get(f"/helix/api/v1/jobs/{job_id}", headers=auth)
        assert job.status_code == 200 and job.json()["plugin"] == "textstats"
        assert http.get(f"/helix/api/v1/jobs/{job_id}").status_code == 401
        # ...and its UI under /helix: the guard sends a visitor to the mount's own login page.
        page = http.get("/helix/jobs")
        assert page.status_code == 307 and page.headers["location"] == "/helix/login?redirect_to=/jobs"
        login = http.get("/helix/login")
        assert login.status_code == 200 and "<html" in login.text.lower()


def _poll(http: httpx.Client, path: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = http.get(path).json()
        if body["status"] in ("SUCCESS", "FAILURE", "CANCELLED") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


@pytest.fixture(params=["embedded", pytest.param("production", marks=[pytest.mark.postgres, pytest.mark.s3])])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """A real ``helixnet serve`` (tests/api/conftest.py's): on the local folder, whose upload URLs are the
    server's own, and on PostgreSQL + S3 (moto), whose upload URLs are S3's presigned ones."""
    env = dict(ADMIN)
    if request.param == "production":
        name = uuid.uuid4().hex[:12]
        env |= {"HELIXNET_DATABASE_URL": request.getfixturevalue("fresh_postgres_url"),
                "HELIXNET_STORAGE_URL": f"s3://examples-{name}/artifacts",
                "HELIXNET_STORAGE_OPTIONS": json.dumps(request.getfixturevalue("s3_options"))}  # fmt: skip
    started = Server(tmp_path / "serve-data", free_port(), env)
    yield started
    started.stop()


@pytest.mark.parametrize(
    ("example", "refused"),
    [
        ("rest_client.py", "POST /api/v1/auth/token -> 400: incorrect email or password\n"),
        ("client_sdk.py", "AuthenticationFailed: incorrect email or password\n"),
    ],
)
def test_the_qa_workflow_examples(server: Server, tmp_path: Path, example: str, refused: str) -> None:
    """The same flow over plain httpx and with helixnet.client: same result, one clear line when refused."""
    content, context = tmp_path / "notes.txt", tmp_path / "context.txt"
    content.write_text("queue worker queue\nartifact queue job\n")
    context.write_text("a worker takes a job off the queue\n")
    argv = [sys.executable, str(EXAMPLES / example), "--url", server.base]
    env = {**os.environ, "HELIXNET_EMAIL": ADMIN["HELIXNET_ADMIN_EMAIL"]}
    ran = subprocess.run([*argv, "--password", ADMIN["HELIXNET_ADMIN_PASSWORD"], str(content), str(context)],
                         env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr + server.output()
    result = json.loads(ran.stdout)
    assert result["top_terms"][0] == {"term": "queue", "count": 3}
    assert {t["term"] for t in result["shared_terms"]} == {"queue", "worker", "job"}

    wrong = subprocess.run([*argv, "--password", "not the password"], env=env, capture_output=True, text=True,
                           timeout=60)  # fmt: skip
    assert (wrong.returncode, wrong.stderr) == (1, refused)  # no traceback
