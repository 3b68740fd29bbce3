"""POST /auth/token from a real OAuth2 library (authlib over httpx) against a real `helixnet serve` (issue 9)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client, OAuthError

from .apihelp import API

EMAIL, PASSWORD = "oauth@example.org", "oauth password 1"


@pytest.fixture
def token_url(start_server: Callable[..., Any]) -> str:
    server = start_server({"HELIXNET_ADMIN_EMAIL": EMAIL, "HELIXNET_ADMIN_PASSWORD": PASSWORD})
    return f"{server.base}{API}/auth/token"


def _client() -> OAuth2Client:
    # A public client: no secret, so authlib sends client_id in the form (the server ignores it).
    return OAuth2Client(client_id="helixnet-tests", token_endpoint_auth_method="none", timeout=30)


def test_password_grant_gives_a_working_bearer_token(token_url: str) -> None:
    with _client() as oauth:
        token = oauth.fetch_token(token_url, username=EMAIL, password=PASSWORD)
        assert token["token_type"] == "bearer" and token["expires_in"] == 3600 and token["expires_at"]
        me = oauth.get(token_url.replace("/auth/token", "/users/me"))  # authlib adds the bearer header
        assert me.status_code == 200 and me.json()["email"] == EMAIL


def test_wrong_password_raises_invalid_grant(token_url: str) -> None:
    with _client() as oauth, pytest.raises(OAuthError) as caught:
        oauth.fetch_token(token_url, username=EMAIL, password="not the password")
    assert caught.value.error == "invalid_grant"
    assert caught.value.description == "incorrect email or password"


def test_another_grant_type_raises_unsupported_grant_type(token_url: str) -> None:
    with _client() as oauth, pytest.raises(OAuthError) as caught:
        oauth.fetch_token(token_url, grant_type="client_credentials")
    assert caught.value.error == "unsupported_grant_type"


def test_missing_field_is_invalid_request_and_nothing_is_cached(token_url: str) -> None:
    answer = httpx.post(token_url, data={"grant_type": "password", "username": EMAIL})
    assert answer.status_code == 400 and answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    assert body["error"] == "invalid_request" and ["body", "password"] in [e["loc"] for e in body["errors"]]
    assert body["detail"] == body["error_description"]
