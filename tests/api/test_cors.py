"""Browser clients on other origins: CORS preflights against a real `helixnet serve` (issue 9)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from .apihelp import API

pytestmark = pytest.mark.embedded_only("CORS headers: middleware in front of the app, the same on every stack")

ALLOWED = "http://app.example.org:3000"
PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"}  # fmt: skip


@pytest.fixture
def base(start_server: Callable[..., Any]) -> str:
    server = start_server({"HELIXNET_CORS_ORIGINS": json.dumps([ALLOWED, "https://other.example.org/"]),
                           "HELIXNET_ADMIN_EMAIL": "cors@example.org", "HELIXNET_ADMIN_PASSWORD": "cors password 1"})  # fmt: skip
    return f"{server.base}{API}"


def test_preflight_from_an_allowed_origin(base: str) -> None:
    answer = httpx.options(f"{base}/jobs", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert answer.status_code == 200, answer.text
    assert answer.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key"} <= allowed
    # The trailing slash of the configured "https://other.example.org/" is no part of an origin.
    other = httpx.options(f"{base}/jobs", headers={"Origin": "https://other.example.org", **PREFLIGHT})
    assert other.headers["Access-Control-Allow-Origin"] == "https://other.example.org"


def test_preflight_from_a_refused_origin(base: str) -> None:
    for origin in ("http://evil.example.org", "http://app.example.org", "http://app.example.org:3000.evil.org"):
        answer = httpx.options(f"{base}/jobs", headers={"Origin": origin, **PREFLIGHT})
        assert "Access-Control-Allow-Origin" not in answer.headers, origin
        assert answer.status_code == 400, origin


def test_actual_requests_expose_location_and_retry_after(base: str) -> None:
    token = httpx.post(f"{base}/auth/token", data={"username": "cors@example.org", "password": "cors password 1"})
    auth = {"Authorization": f"Bearer {token.json()['access_token']}", "Origin": ALLOWED}
    job = httpx.post(f"{base}/jobs", json={"plugin": "echo"}, headers=auth)
    assert job.status_code == 202 and job.headers["Access-Control-Allow-Origin"] == ALLOWED
    exposed = {h.strip().lower() for h in job.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"location", "retry-after"} <= exposed
    refused = httpx.get(f"{base}/health", headers={"Origin": "http://evil.example.org"})
    assert refused.status_code == 200 and "Access-Control-Allow-Origin" not in refused.headers


def test_no_cross_origin_access_by_default(client) -> None:
    preflight = client.options(f"{API}/jobs", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert "Access-Control-Allow-Origin" not in preflight.headers
    plain = client.get(f"{API}/health", headers={"Origin": ALLOWED})
    assert "Access-Control-Allow-Origin" not in plain.headers


@pytest.mark.parametrize("origin", ["app.example.org", "http://app.example.org/path", "ftp://x.org", ""])
def test_a_setting_that_is_no_origin_is_refused(origin: str) -> None:
    from helixnet import Settings

    with pytest.raises(ValidationError, match="cors_origins"):
        Settings(cors_origins=[origin])
