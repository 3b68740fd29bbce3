"""Accounts, bcrypt passwords and signed, expiring, revocable tokens."""

from __future__ import annotations

import time

import pytest

from helixnet import AuthenticationFailed, Conflict, HelixNet, Settings, ValidationFailed


def test_create_and_get_by_email_case_insensitive(hx):
    user = hx.users.create(email="Ada@Example.org", password="correct horse battery", fullname="Ada L")
    assert user.email == "ada@example.org"
    assert hx.users.get_by_email("ADA@example.ORG").id == user.id
    assert hx.users.get_by_email("nobody@example.org") is None
    with pytest.raises(Conflict) as info:
        hx.users.create(email="ada@EXAMPLE.org", password="another password")
    assert info.value.errors[0]["loc"] == ["email"]


def test_password_is_hashed_with_bcrypt(hx):
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    from helixnet.core.models import User

    with hx.db.read() as session:
        stored = session.get(User, user.id).password_hash
    assert stored.startswith("$2") and "correct horse" not in stored


@pytest.mark.parametrize(
    ("password", "reason"),
    [("x" * 73, "at most 72 bytes"), ("é" * 37, "at most 72 bytes"), ("short", "at least 8")],
)
def test_bad_passwords_are_refused_clearly(hx, password, reason):
    with pytest.raises(ValidationFailed) as info:
        hx.users.create(email="ada@example.org", password=password)
    assert reason in info.value.detail and info.value.errors[0]["loc"] == ["password"]


def test_72_bytes_exactly_is_fine(hx):
    hx.users.create(email="ada@example.org", password="p" * 72)
    assert hx.users.authenticate("ada@example.org", "p" * 72)


def test_bad_email(hx):
    with pytest.raises(ValidationFailed) as info:
        hx.users.create(email="not-an-email", password="correct horse battery")
    assert info.value.errors[0]["loc"] == ["email"]


def test_authenticate(hx, user):
    assert hx.users.authenticate("ADA@example.org", "correct horse battery").id == user.id
    for email, password in [("ada@example.org", "wrong password"), ("nobody@example.org", "x" * 10), ("", "x")]:
        with pytest.raises(AuthenticationFailed):
            hx.users.authenticate(email, password)
    with pytest.raises(ValidationFailed):  # no account has an empty password: not even a guess
        hx.users.authenticate("ada@example.org", "")
    hx.users.set_flags(user, is_active=False)
    with pytest.raises(AuthenticationFailed):
        hx.users.authenticate("ada@example.org", "correct horse battery")


def test_token_round_trip_and_revocation(hx, user):
    token = hx.users.issue_token(user)
    assert hx.users.authenticate_token(token).id == user.id
    hx.users.set_password(user, "a brand new password", current_password="correct horse battery")
    with pytest.raises(AuthenticationFailed, match="revoked"):
        hx.users.authenticate_token(token)
    assert hx.users.authenticate("ada@example.org", "a brand new password")
    with pytest.raises(AuthenticationFailed):
        hx.users.set_password(user, "yet another password", current_password="wrong one")


def test_forged_and_expired_tokens(make_hx):
    hx = make_hx(workers=0, token_max_age_seconds=1)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    token = hx.users.issue_token(user)
    with pytest.raises(AuthenticationFailed, match="invalid"):
        hx.users.authenticate_token(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    time.sleep(2.1)  # itsdangerous reads the wall clock; one short wait proves expiry
    with pytest.raises(AuthenticationFailed, match="expired"):
        hx.users.authenticate_token(token)


def test_key_rotation(tmp_path):
    old = Settings(data_dir=tmp_path, secret_key="old-secret-" + "x" * 30, bcrypt_rounds=4)
    hx = HelixNet(old).start(0)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    token = hx.users.issue_token(user)
    hx.stop()
    rotated = Settings(
        data_dir=tmp_path, secret_key="new-secret-" + "y" * 30, previous_secret_keys=[old.secret_key], bcrypt_rounds=4
    )
    hx2 = HelixNet(rotated).start(0)
    try:
        assert hx2.users.authenticate_token(token).id == user.id
    finally:
        hx2.stop()
    dropped = Settings(data_dir=tmp_path, secret_key="new-secret-" + "y" * 30, bcrypt_rounds=4)
    hx3 = HelixNet(dropped).start(0)
    try:
        with pytest.raises(AuthenticationFailed):
            hx3.users.authenticate_token(token)
    finally:
        hx3.stop()


def test_profile_update_only_touches_profile_fields(hx, user):
    updated = hx.users.update(user, {"fullname": "Ada Lovelace", "phone_number": "+44 20 7946 0958",
                                     "web_url": "https://ada.example.org"})  # fmt: skip
    assert updated.fullname == "Ada Lovelace" and updated.web_url.startswith("https://ada.example.org")
    for bad in ({"is_admin": True}, {"email": "x@y.org"}, {"web_url": "ftp://x"}, {"phone_number": "call me"}):
        with pytest.raises(ValidationFailed) as info:
            hx.users.update(user, bad)
        assert info.value.errors[0]["loc"] == [next(iter(bad))]
    assert not hx.users.get(user.id).is_admin
