"""POST /auth/token and bearer tokens: issue, refuse, expire, revoke, throttle."""

from __future__ import annotations

import time
from typing import Any

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from .apihelp import API, VALIDATION, Account


def test_token_for_good_credentials(client, alice: Account) -> None:
    response = client.post(f"{API}/auth/token", data={"username": alice.email, "password": alice.password})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    me = client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["email"] == alice.email


def test_token_accepts_json_and_any_email_case(client, alice: Account) -> None:
    response = client.post(f"{API}/auth/token", json={"username": "ALICE@example.org", "password": alice.password})
    assert response.status_code == 200


def test_wrong_credentials_are_invalid_grant_with_the_same_message(client, alice: Account) -> None:
    """RFC 6749 §5.2: 400 invalid_grant, so OAuth2 clients raise; our detail and errors stay beside it."""
    wrong = client.post(f"{API}/auth/token", data={"username": alice.email, "password": "not the password"})
    unknown = client.post(f"{API}/auth/token", data={"username": "nobody@example.org", "password": "whatever1"})
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json() == unknown.json()
    assert wrong.json() == {"error": "invalid_grant", "error_description": "incorrect email or password",
                            "detail": "incorrect email or password", "errors": []}
    assert wrong.headers["Cache-Control"] == "no-store"


def test_token_answers_are_never_cached(client, alice: Account) -> None:
    good = client.post(f"{API}/auth/token", data={"username": alice.email, "password": alice.password})
    assert good.status_code == 200 and good.headers["Cache-Control"] == "no-store"
    assert good.headers["Pragma"] == "no-cache"


def test_other_grant_types_are_unsupported(client, alice: Account) -> None:
    for grant in ("client_credentials", "authorization_code", ""):
        response = client.post(f"{API}/auth/token", data={"grant_type": grant, "username": alice.email,
                                                          "password": alice.password})  # fmt: skip
        assert response.status_code == 400, grant
        assert response.json()["error"] == "unsupported_grant_type", grant
        assert response.json()["errors"][0]["loc"] == ["body", "grant_type"]
    explicit = client.post(f"{API}/auth/token", data={"grant_type": "password", "username": alice.email,
                                                      "password": alice.password})  # fmt: skip
    assert explicit.status_code == 200


@pytest.mark.embedded_only(VALIDATION)
def test_a_body_that_is_no_form_is_invalid_request(client) -> None:
    response = client.post(f"{API}/auth/token", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.embedded_only(VALIDATION)
def test_missing_form_fields_are_named(client) -> None:
    response = client.post(f"{API}/auth/token", data={"username": "a@example.org"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request" and "password" in response.json()["error_description"]
    assert ["body", "password"] in [e["loc"] for e in response.json()["errors"]]


@pytest.mark.embedded_only(VALIDATION)
def test_missing_malformed_and_forged_tokens_are_401(client, alice: Account) -> None:
    token = alice.headers["Authorization"].split()[1]
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "},
                    {"Authorization": f"Bearer {token[:-2]}xx"}, {"Authorization": "Bearer not-a-token"}):
        response = client.get(f"{API}/users/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["detail"]


@pytest.mark.embedded_only(VALIDATION)
def test_expired_token_is_401(hx: Any, client, alice: Account) -> None:
    class Past(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 3601

    serializer = URLSafeTimedSerializer(hx.settings.signing_keys(), salt="helixnet.token", signer=Past)
    expired = serializer.dumps({"sub": alice.id, "tv": 0})
    response = client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_password_change_revokes_old_tokens(client, alice: Account) -> None:
    response = client.post(f"{API}/users/me/password", headers=alice.headers,
                           json={"current_password": alice.password, "new_password": "a brand new password"})
    assert response.status_code == 200
    fresh = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert client.get(f"{API}/users/me", headers=alice.headers).status_code == 401
    assert client.get(f"{API}/users/me", headers=fresh).status_code == 200
    old_login = client.post(f"{API}/auth/token", data={"username": alice.email, "password": alice.password})
    assert old_login.status_code == 400 and old_login.json()["error"] == "invalid_grant"


def test_password_change_needs_the_current_password(client, alice: Account) -> None:
    response = client.post(f"{API}/users/me/password", headers=alice.headers,
                           json={"current_password": "wrong wrong", "new_password": "a brand new password"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "current_password"]
    too_long = client.post(f"{API}/users/me/password", headers=alice.headers,
                           json={"current_password": alice.password, "new_password": "é" * 40})
    assert too_long.status_code == 422
    assert "72 bytes" in too_long.json()["detail"]
    assert client.get(f"{API}/users/me", headers=alice.headers).status_code == 200


def test_repeated_failures_are_throttled(client, alice: Account) -> None:
    statuses = [client.post(f"{API}/auth/token", data={"username": alice.email, "password": f"wrong {i}"}).status_code
                for i in range(5)]
    assert statuses == [400] * 5
    locked = client.post(f"{API}/auth/token", data={"username": alice.email, "password": alice.password})
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 60
    assert locked.headers["Cache-Control"] == "no-store" and locked.json()["detail"]
    # another account is not affected
    other = client.post(f"{API}/auth/token", data={"username": "x@example.org", "password": "whatever1"})
    assert other.status_code == 400


def test_lockout_ends(hx: Any, client, alice: Account) -> None:
    now = [1000.0]
    hx.users.throttle._clock = lambda: now[0]
    for i in range(5):
        client.post(f"{API}/auth/token", data={"username": alice.email, "password": f"wrong {i}"})
    assert client.post(f"{API}/auth/token", data={"username": alice.email, "password": alice.password}).status_code == 429
    now[0] += 61
    assert client.post(f"{API}/auth/token", data={"username": alice.email, "password": alice.password}).status_code == 200
