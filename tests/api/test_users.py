"""/users/me for everyone, /users for admins."""

from __future__ import annotations

import pytest

from .apihelp import API, VALIDATION, Account, sign_in

USER_FIELDS = {"id", "email", "fullname", "phone_number", "web_url", "is_admin", "created_at"}


def test_me(client, alice: Account) -> None:
    body = client.get(f"{API}/users/me", headers=alice.headers).json()
    assert set(body) >= USER_FIELDS
    assert body["email"] == alice.email and body["is_admin"] is False
    assert "password_hash" not in body and "token_version" not in body


def test_update_profile(client, alice: Account) -> None:
    changes = {"fullname": "Alice Liddell", "phone_number": "+44 20 7946 0958", "web_url": "https://alice.example.org/"}
    response = client.put(f"{API}/users/me", headers=alice.headers, json=changes)
    assert response.status_code == 200
    assert {k: response.json()[k] for k in changes} == changes
    assert client.get(f"{API}/users/me/", headers=alice.headers).json()["fullname"] == "Alice Liddell"


@pytest.mark.embedded_only(VALIDATION)
def test_profile_validation_names_the_field(client, alice: Account) -> None:
    for field, value in (("web_url", "ftp://example.org"), ("web_url", "not a url"), ("phone_number", "call me")):
        response = client.put(f"{API}/users/me", headers=alice.headers, json={field: value})
        assert response.status_code == 422, (field, value)
        assert response.json()["errors"][0]["loc"] == ["body", field]


def test_fields_outside_the_profile_never_change(client, alice: Account) -> None:
    for forbidden in ({"is_admin": True}, {"email": "mallory@example.org"}, {"password_hash": "x"},
                      {"fullname": "ok", "is_admin": True}):
        response = client.put(f"{API}/users/me", headers=alice.headers, json=forbidden)
        assert response.status_code == 422
    me = client.get(f"{API}/users/me", headers=alice.headers).json()
    assert me["is_admin"] is False and me["email"] == alice.email and me["fullname"] is None


def test_admin_routes_refuse_others(client, alice: Account) -> None:
    assert client.get(f"{API}/users", headers=alice.headers).status_code == 403
    assert client.post(f"{API}/users", headers=alice.headers,
                       json={"email": "x@example.org", "password": "long enough pw"}).status_code == 403
    assert client.patch(f"{API}/users/{alice.id}", headers=alice.headers, json={"is_admin": True}).status_code == 403
    assert client.get(f"{API}/jobs?all=true", headers=alice.headers).status_code == 403


def test_admin_creates_lists_and_manages_users(client, admin: Account, alice: Account) -> None:
    created = client.post(f"{API}/users", headers=admin.headers,
                          json={"email": "Carol@Example.org", "password": "carol's password", "fullname": "Carol"})
    assert created.status_code == 201
    carol = created.json()
    assert carol["email"] == "carol@example.org" and created.headers["Location"].endswith(carol["id"])
    duplicate = client.post(f"{API}/users", headers=admin.headers,
                            json={"email": "carol@example.org", "password": "another password"})
    assert duplicate.status_code == 409
    emails = {u["email"] for u in client.get(f"{API}/users", headers=admin.headers).json()}
    assert {"carol@example.org", alice.email, admin.email} <= emails

    carol_headers = sign_in(client, "carol@example.org", "carol's password")
    promoted = client.patch(f"{API}/users/{carol['id']}", headers=admin.headers, json={"is_admin": True})
    assert promoted.status_code == 200 and promoted.json()["is_admin"] is True
    reset = client.patch(f"{API}/users/{carol['id']}", headers=admin.headers, json={"password": "reset password 1"})
    assert reset.status_code == 200
    assert client.get(f"{API}/users/me", headers=carol_headers).status_code == 401  # reset revokes tokens
    carol_headers = sign_in(client, "carol@example.org", "reset password 1")
    deactivated = client.patch(f"{API}/users/{carol['id']}", headers=admin.headers, json={"is_active": False})
    assert deactivated.status_code == 200 and deactivated.json()["is_active"] is False
    assert client.get(f"{API}/users/me", headers=carol_headers).status_code == 401
    login = client.post(f"{API}/auth/token", data={"username": "carol@example.org", "password": "reset password 1"})
    assert login.status_code == 400 and login.json()["error"] == "invalid_grant"


def test_admin_user_errors(client, admin: Account) -> None:
    assert client.patch(f"{API}/users/{admin.id}", headers=admin.headers, json={"is_active": False}).status_code == 409
    assert client.patch(f"{API}/users/{admin.id}", headers=admin.headers, json={"is_admin": False}).status_code == 409
    assert client.patch(f"{API}/users/no-such-id", headers=admin.headers, json={"is_admin": True}).status_code == 404
    bad = client.post(f"{API}/users", headers=admin.headers, json={"email": "not-an-email", "password": "long enough"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"][-1] == "email"
    short = client.post(f"{API}/users", headers=admin.headers, json={"email": "d@example.org", "password": "short"})
    assert short.status_code == 422 and short.json()["errors"][0]["loc"][-1] == "password"
    extra = client.patch(f"{API}/users/{admin.id}", headers=admin.headers, json={"token_version": 9})
    assert extra.status_code == 422


def test_nul_characters_are_a_422_naming_the_field(client, alice: Account, admin: Account) -> None:
    """PostgreSQL's text cannot store U+0000: that was a 500 there alone, now a 422 (or no match) on every stack."""
    profile = client.put(f"{API}/users/me", headers=alice.headers, json={"fullname": "Al\u0000ice"})
    assert profile.status_code == 422 and profile.json()["errors"][0]["loc"] == ["body", "fullname"], profile.text
    created = client.post(f"{API}/users", headers=admin.headers,
                          json={"email": "n@example.org", "password": "long enough pw", "fullname": "\u0000"})  # fmt: skip
    assert created.status_code == 422 and created.json()["errors"][0]["loc"] == ["body", "fullname"], created.text
    bad_email = client.post(f"{API}/users", headers=admin.headers,
                            json={"email": "n\u0000@example.org", "password": "long enough pw"})  # fmt: skip
    assert bad_email.status_code == 422 and bad_email.json()["errors"][0]["loc"] == ["body", "email"], bad_email.text
    login = client.post(f"{API}/auth/token", data={"username": "alice\x00@example.org", "password": alice.password})
    assert login.status_code == 400 and login.json()["error"] == "invalid_grant", login.text
    assert client.get(f"{API}/users/me", headers=alice.headers).json()["fullname"] is None
