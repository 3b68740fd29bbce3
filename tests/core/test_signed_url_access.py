"""Issue 8, item 3: a signed storage URL dies with its user's access, and lives no longer than allowed.

A URL names the user it was issued to and their ``token_version``; ``redeem`` refuses it once that
user is deactivated, changes their password or has their tokens revoked, even if reactivated later.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from helixnet.core.config import Settings
from helixnet.errors import ConfigurationError, PermissionDenied, ValidationFailed

DATA = b"id,name\n1,ada\n"


def available(hx: Any, user: Any) -> Any:
    artifact = hx.artifacts.begin_upload(user, "people.csv", len(DATA))
    hx.artifacts.receive(hx.artifacts.redeem(hx.artifacts.upload_request(artifact.id, user).token, "PUT"),
                         io.BytesIO(DATA))  # fmt: skip
    return hx.artifacts.complete(artifact.id, user)


@pytest.mark.parametrize(
    "revoke",
    [
        lambda hx, user: hx.users.set_flags(user, is_active=False),
        lambda hx, user: hx.users.set_password(user, "a brand new password"),
        lambda hx, user: hx.users.revoke_tokens(user),
    ],
    ids=["deactivated", "password-changed", "tokens-revoked"],
)
def test_urls_issued_before_a_revocation_are_refused(
    make_hx: Callable[..., Any], database: str, revoke: Callable[..., Any]
) -> None:
    hx = make_hx(database, start=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    done = available(hx, user)
    get = hx.artifacts.download_request(done.id, user).token
    pending = hx.artifacts.begin_upload(user, "later.csv", len(DATA))
    put = hx.artifacts.upload_request(pending.id, user).token
    assert hx.artifacts.redeem(get, "GET").user_id == user.id
    assert hx.artifacts.redeem(put, "PUT").token_version == 0

    revoke(hx, user)
    for token, method in ((get, "GET"), (put, "PUT")):
        with pytest.raises(PermissionDenied, match="revoked"):
            hx.artifacts.redeem(token, method)
    hx.users.set_flags(user, is_active=True)  # reactivated: the old URLs stay dead, new ones work
    with pytest.raises(PermissionDenied, match="revoked"):
        hx.artifacts.redeem(get, "GET")
    assert hx.artifacts.redeem(hx.artifacts.download_request(done.id, user).token, "GET").artifact_id == done.id


def test_a_url_is_bound_to_who_asked_for_it(hx: Any, user: Any) -> None:
    """An admin's URL to someone's file dies with the admin's access, not the owner's."""
    admin = hx.users.create(email="root@example.org", password="the admin's password", is_admin=True)
    done = available(hx, user)
    as_admin = hx.artifacts.download_request(done.id, admin).token
    as_trusted_code = hx.artifacts.download_request(done.id).token  # no caller: issued to the owner
    assert hx.artifacts.redeem(as_admin, "GET").user_id == admin.id
    assert hx.artifacts.redeem(as_trusted_code, "GET").user_id == user.id

    hx.users.set_flags(admin, is_active=False)
    with pytest.raises(PermissionDenied):
        hx.artifacts.redeem(as_admin, "GET")
    assert hx.artifacts.redeem(as_trusted_code, "GET").artifact_id == done.id
    hx.users.set_flags(user, is_active=False)
    with pytest.raises(PermissionDenied):
        hx.artifacts.redeem(as_trusted_code, "GET")


def test_url_lifetimes_cannot_exceed_the_configured_maximum(make_hx: Callable[..., Any]) -> None:
    hx = make_hx(upload_url_expires_seconds=600, download_url_max_expires_seconds=900, start=False)
    owner = hx.users.create(email="max@example.org", password="a long enough password")
    done = available(hx, owner)
    assert hx.artifacts.download_request(done.id, owner, expires_in=900).token
    for asked in (901, 604800, 0, -1, True, 1.5):
        with pytest.raises(ValidationFailed) as caught:
            hx.artifacts.download_request(done.id, owner, expires_in=asked)
        assert caught.value.errors == [{"loc": ["expires_in"],
                                        "msg": "must be a whole number of seconds from 1 to 900"}]  # fmt: skip
    pending = hx.artifacts.begin_upload(owner, "b.csv", 1)
    assert hx.artifacts.upload_request(pending.id, owner, expires_in=600).token
    with pytest.raises(ValidationFailed, match="from 1 to 600"):
        hx.artifacts.upload_request(pending.id, owner, expires_in=601)


def test_a_default_longer_than_the_maximum_is_a_configuration_error(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path, download_url_expires_seconds=7200, download_url_max_expires_seconds=3600)
    with pytest.raises(ConfigurationError) as caught:
        settings.check()
    assert caught.value.errors[0]["loc"] == ["download_url_expires_seconds"]
