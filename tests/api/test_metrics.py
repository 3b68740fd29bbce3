"""``GET /metrics``: Prometheus' scrape beside the API, behind HELIXNET_METRICS_TOKEN, on a real server."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-token-7f3a9c1e"
ADMIN = {"HELIXNET_ADMIN_EMAIL": "admin@example.org", "HELIXNET_ADMIN_PASSWORD": "admin password 1"}


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}  # fmt: skip


def test_disabled_without_a_token(make_client):
    client = make_client(workers=0)
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404
    assert response.json()["detail"] == "Not Found"


def test_token_checked_before_anything_is_shown(make_client):
    client = make_client(workers=0, metrics_token=TOKEN)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}):  # fmt: skip
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert set(response.json()) == {"detail", "errors"} and "helixnet_" not in response.text
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert parse(response.text)[("helixnet_queue_depth", ())] == 0


def test_not_in_the_openapi_document(make_client):
    client = make_client(workers=0, metrics_token=TOKEN)
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "/metrics" not in paths and "/api/v1/metrics" in paths  # the latter: the admin charts' JSON


@pytest.mark.slow
def test_a_real_server_counts_jobs_for_prometheus(start_server: Any) -> None:
    server = start_server({**ADMIN, "HELIXNET_METRICS_TOKEN": TOKEN}, "--workers", "1")
    assert f"Metrics:       {server.base}/metrics" in server.output()
    api = f"{server.base}/api/v1"
    scrape = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(timeout=30) as http:
        assert http.get(f"{server.base}/metrics").status_code == 401
        wrong = http.get(f"{server.base}/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert wrong.json()["errors"] == []
        token = http.post(f"{api}/auth/token", data={"username": ADMIN["HELIXNET_ADMIN_EMAIL"],
                                                     "password": ADMIN["HELIXNET_ADMIN_PASSWORD"]})  # fmt: skip
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        ids = [http.post(f"{api}/jobs", headers=auth, json={"plugin": "echo", "params": {"message": str(n)}}).json()["id"]
               for n in range(4)]  # fmt: skip
        failing = http.post(f"{api}/jobs", headers=auth, json={"plugin": "echo", "params": {"fail": True}})
        ids.append(failing.json()["id"])
        for job_id in ids:
            _final(http, f"{api}/jobs/{job_id}", auth)
        # A long job RUNNING on the one worker thread, two more PENDING behind it.
        sleeping = [http.post(f"{api}/jobs", headers=auth, json={"plugin": "sleep", "params": {"seconds": 60}}).json()["id"]
                    for _ in range(3)]  # fmt: skip
        _until(lambda: http.get(f"{api}/jobs/{sleeping[0]}", headers=auth).json()["status"] == "RUNNING")

        response = http.get(f"{server.base}/metrics", headers=scrape)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        got = parse(response.text)
        assert got[("helixnet_jobs_submitted_total", (("plugin", "echo"),))] == 5
        assert got[("helixnet_jobs_submitted_total", (("plugin", "sleep"),))] == 3
        assert got[("helixnet_jobs_finished_total", (("plugin", "echo"), ("status", "SUCCESS")))] == 4
        assert got[("helixnet_jobs_finished_total", (("plugin", "echo"), ("status", "FAILURE")))] == 1
        assert got[("helixnet_job_duration_seconds_count", (("plugin", "echo"),))] == 5
        assert got[("helixnet_jobs_running", ())] == 1
        assert got[("helixnet_queue_depth", ())] == 2
        assert got[("helixnet_workers_alive", ())] == 1
        for job_id in reversed(sleeping):  # the waiting ones first: none starts in between
            http.post(f"{api}/jobs/{job_id}/cancel", headers=auth)
    assert server.stop() == 0
    assert TOKEN not in server.log.read_text()


@pytest.mark.slow
def test_a_real_server_without_a_token_has_no_metrics(start_server: Any) -> None:
    server = start_server({}, "--workers", "0")
    response = httpx.get(f"{server.base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404  # the API's answer, not the UI's login redirect
    assert response.json()["detail"] == "Not Found"
    assert server.stop() == 0


def _final(http: httpx.Client, url: str, auth: dict[str, str]) -> None:
    _until(lambda: http.get(url, headers=auth).json()["status"] in ("SUCCESS", "FAILURE", "CANCELLED"))


def _until(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)
