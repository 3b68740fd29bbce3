"""`helixnet serve` as a real process on a loopback port, driven over HTTP by httpx (the README's flow)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from .apihelp import free_port

pytestmark = pytest.mark.slow


def test_readme_flow_over_http(start_server: Any, stack: Any) -> None:
    """On both stacks: the same HELIXNET_* variables a deployment sets pick PostgreSQL, Redis and S3."""
    server = start_server({"HELIXNET_ADMIN_EMAIL": "admin@example.org", "HELIXNET_ADMIN_PASSWORD": "admin password 1"},
                          "--workers", "1")
    api = f"{server.base}/api/v1"
    out = server.output()
    assert f"{api}/docs" in out and "Created admin admin@example.org" in out
    assert "admin password 1" not in out
    with httpx.Client(timeout=30) as http:
        assert http.get(f"{server.base}/", follow_redirects=False).status_code in (302, 307)
        assert http.get(f"{api}/docs").status_code == 200
        token = http.post(f"{api}/auth/token", data={"username": "admin@example.org", "password": "admin password 1"})
        assert token.status_code == 200
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        files = {"content_key": ("poem.txt", b"so much depends\nupon\na red wheel\nbarrow\n", "text/plain")}
        submitted = http.post(f"{api}/jobs/upload", headers=auth, files=files, data={"params": json.dumps({"top": 3})})
        assert submitted.status_code == 201, submitted.text
        job_id = submitted.json()["id"]
        deadline = time.monotonic() + 30
        while (job := http.get(f"{api}/jobs/{job_id}", headers=auth).json())["status"] not in ("SUCCESS", "FAILURE"):
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        assert job["status"] == "SUCCESS", job
        result = next(a for a in job["artifacts"] if a["filename"] == "result.json")
        ticket = http.get(f"{api}/artifacts/{result['id']}/download", headers=auth)
        assert ticket.status_code == 200
        where = stack.settings["storage_options"]["endpoint_url"] if stack.s3 else f"{api}/storage/"
        assert ticket.json()["url"].startswith(where), ticket.json()  # on S3 the bytes come from S3
        downloaded = http.get(ticket.json()["url"])
        assert downloaded.status_code == 200
        assert json.loads(downloaded.content) == job["result"]
        assert job["result"]["lines"] == 4
    assert server.stop() == 0


def test_first_start_prints_a_generated_password_once(start_server: Any, tmp_path: Path) -> None:
    server = start_server({}, "--workers", "0")
    match = re.search(r"Created admin (\S+) with password: (\S+)", server.output())
    assert match, server.output()
    email, password = match.groups()
    api = f"{server.base}/api/v1"
    token = httpx.post(f"{api}/auth/token", data={"username": email, "password": password})
    assert token.status_code == 200
    me = httpx.get(f"{api}/users/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert me.json()["is_admin"] is True
    health = httpx.get(f"{api}/health").json()
    assert health["status"] == "ok" and health["workers"] == 0
    assert server.stop() == 0


def test_serve_refuses_the_default_secret_in_production(tmp_path: Path) -> None:
    env = {**os.environ, "HELIXNET_DATA_DIR": str(tmp_path / "d"), "HELIXNET_ENVIRONMENT": "production"}
    done = subprocess.run([sys.executable, "-m", "helixnet", "serve", "--port", str(free_port())],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "HELIXNET_SECRET_KEY" in done.stderr and "Traceback" not in done.stderr


def test_serve_reports_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "HELIXNET_DATA_DIR": str(tmp_path / "d")}
        done = subprocess.run([sys.executable, "-m", "helixnet", "serve", "--port", str(port)],
                              env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.embedded_only("the log format, the same on every stack")
def test_a_real_server_logs_json_with_the_job(start_server: Any) -> None:
    server = start_server({"HELIXNET_LOG_FORMAT": "json", "HELIXNET_ADMIN_EMAIL": "admin@example.org",
                           "HELIXNET_ADMIN_PASSWORD": "admin password 1"}, "--workers", "1")  # fmt: skip
    api = f"{server.base}/api/v1"
    with httpx.Client(timeout=30) as http:
        token = http.post(f"{api}/auth/token", data={"username": "admin@example.org", "password": "admin password 1"})
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        # A plugin that ignores its timeout: the runner warns about it, from inside the job.
        job = http.post(f"{api}/jobs", headers=auth, json={"plugin": "stubborn", "params": {"seconds": 3}, "timeout": 0.3})
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]
        deadline = time.monotonic() + 20
        while job_id not in server.output() and time.monotonic() < deadline:
            time.sleep(0.2)
    assert server.stop() == 0
    output = server.log.read_text()
    log_lines = [line for line in output.splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in log_lines]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    # No log line in text form got through (uvicorn's own included); banner lines are plain prints.
    assert not re.search(r"^(INFO|WARNING|ERROR):|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ", output, re.M)
    [warning] = [r for r in records if r.get("job_id") == job_id]
    assert warning["plugin"] == "stubborn" and warning["worker"] and warning["level"] == "WARNING"
