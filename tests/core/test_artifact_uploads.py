"""Two-step uploads and signed URLs: begin, PUT, complete; then a signed GET.

The local folder's URLs are the app's own (tokens the API redeems); S3's are real presigned URLs,
sent with real HTTP to the moto server. Time is moved through the service's clock, never slept.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from itsdangerous import URLSafeSerializer

from helixnet.core.artifacts import ArtifactService
from helixnet.core.models import ArtifactStatus, utcnow
from helixnet.core.presign import STORAGE_URL_SALT, ObjectGrant, ObjectUrlSigner, SignedRequest
from helixnet.core.security import TokenSigner
from helixnet.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    ValidationFailed,
)
from helixnet.storage.base import S3_MAX_PUT_BYTES

DATA = b"id,name\n1,ada\n2,grace\n"
SHA = hashlib.sha256(DATA).hexdigest()


def at(hx: Any, moment: Callable[[], datetime]) -> ArtifactService:
    """The same service (same database, storage and keys) seen at another time."""
    return ArtifactService.from_settings(hx.db, hx.storage, hx.settings, clock=moment)


def uploaded(hx: Any, user: Any, data: bytes = DATA, name: str = "people.csv") -> Any:
    """An artifact uploaded and completed through the local signed-URL path."""
    artifact = hx.artifacts.begin_upload(user, name, len(data))
    put = hx.artifacts.upload_request(artifact.id, user)
    hx.artifacts.receive(hx.artifacts.redeem(put.token, "PUT"), io.BytesIO(data))
    return hx.artifacts.complete(artifact.id, user)


def flip(token: str, index: int) -> str:
    char = token[index]
    return token[:index] + ("A" if char != "A" else "B") + token[index + 1 :]


# --- the local flow -----------------------------------------------------------------------------------


def test_local_upload_and_download_flow(hx: Any, user: Any) -> None:
    before = utcnow()
    artifact = hx.artifacts.begin_upload(user, "../reports/people.csv", len(DATA))
    assert artifact.status == ArtifactStatus.PENDING
    assert (artifact.size, artifact.sha256) == (len(DATA), None)
    assert artifact.filename == "people.csv"
    assert artifact.content_type == "text/csv"
    assert artifact.object_name == f"users/{user.id}/artifacts/{artifact.id}/people.csv"
    assert not hx.storage.exists(artifact.object_name)

    put = hx.artifacts.upload_request(artifact.id, user)
    assert isinstance(put, SignedRequest)
    assert (put.method, put.url) == ("PUT", None)
    assert put.token and put.headers == {"Content-Type": "text/csv"}
    lifetime = (put.expires_at - before).total_seconds()
    assert 3598 <= lifetime <= 3601 and put.expires_at.microsecond == 0

    grant = hx.artifacts.redeem(put.token, "PUT")
    assert grant == ObjectGrant(
        key=artifact.object_name,
        method="PUT",
        max_bytes=len(DATA),
        artifact_id=artifact.id,
        filename="people.csv",
        content_type="text/csv",
        expires_at=put.expires_at,
        user_id=user.id,
        token_version=0,
    )
    written = hx.artifacts.receive(grant, io.BytesIO(DATA))
    assert (written.size, written.sha256) == (len(DATA), SHA)
    assert hx.artifacts.get(artifact.id).status == ArtifactStatus.PENDING, "bytes alone do not complete"

    done = hx.artifacts.complete(artifact.id, user)
    assert (done.status, done.size, done.sha256) == (ArtifactStatus.AVAILABLE, len(DATA), SHA)
    assert hx.artifacts.complete(artifact.id, user) == done, "completing again changes nothing"
    hx.storage.write(artifact.object_name, b"replaced behind our back")
    assert hx.artifacts.complete(artifact.id, user) == done, "nor does it look at the bytes again"
    hx.storage.write(artifact.object_name, DATA)
    assert hx.artifacts.read_bytes(artifact.id, user) == DATA

    get = hx.artifacts.download_request(artifact.id, user)
    assert (get.method, get.url, get.headers) == ("GET", None, {})
    assert 298 <= (get.expires_at - before).total_seconds() <= 301
    read_grant = hx.artifacts.redeem(get.token, "GET")
    assert (read_grant.method, read_grant.max_bytes, read_grant.filename) == ("GET", len(DATA), "people.csv")
    with hx.artifacts.send(read_grant) as stream:
        assert stream.read() == DATA

    short = hx.artifacts.download_request(artifact.id, user, expires_in=5)
    assert (short.expires_at - before).total_seconds() <= 6


def test_an_empty_file_can_be_uploaded(hx: Any, user: Any) -> None:
    done = uploaded(hx, user, b"", "empty.bin")
    assert (done.size, done.sha256) == (0, hashlib.sha256(b"").hexdigest())


def test_declared_content_type_is_kept_and_checked(hx: Any, user: Any) -> None:
    artifact = hx.artifacts.begin_upload(user, "data.bin", 3, "application/x-parquet")
    assert artifact.content_type == "application/x-parquet"
    assert hx.artifacts.upload_request(artifact.id).headers == {"Content-Type": "application/x-parquet"}
    for bad in ("text/plain\r\nX-Evil: 1", "no-slash", "a/" + "b" * 300, "text/plain; charset=é"):
        with pytest.raises(ValidationFailed) as caught:
            hx.artifacts.begin_upload(user, "data.bin", 3, bad)
        assert caught.value.errors[0]["loc"] == ["content_type"]


# --- tokens that must not work ------------------------------------------------------------------------


def test_a_tampered_token_is_refused(hx: Any, user: Any) -> None:
    artifact = hx.artifacts.begin_upload(user, "a.csv", 3)
    token = hx.artifacts.upload_request(artifact.id).token
    for index in (0, len(token) // 2, -1):
        with pytest.raises(PermissionDenied, match="signed URL is invalid"):
            hx.artifacts.redeem(flip(token, index), "PUT")
    for garbage in ("", "not-a-token", token + "x", token.replace(".", "", 1)):
        with pytest.raises(PermissionDenied, match="signed URL is invalid"):
            hx.artifacts.redeem(garbage, "PUT")


def test_a_token_signed_with_another_key_is_refused(hx: Any, user: Any) -> None:
    artifact = hx.artifacts.begin_upload(user, "a.csv", 3)
    genuine = hx.artifacts.redeem(hx.artifacts.upload_request(artifact.id).token, "PUT")
    forged = ObjectUrlSigner(["somebody else's secret"]).sign(genuine)
    with pytest.raises(PermissionDenied, match="signed URL is invalid"):
        hx.artifacts.redeem(forged, "PUT")


def test_keys_rotate_without_breaking_urls_in_flight() -> None:
    grant = ObjectGrant("k/x", "GET", 3, "a1", "x.txt", "text/plain", utcnow() + timedelta(minutes=5), "u1", 0)
    old_token = ObjectUrlSigner(["old"]).sign(grant)
    rotated = ObjectUrlSigner(["old", "new"])
    assert rotated.verify(old_token, "GET", utcnow()).key == "k/x"
    with pytest.raises(PermissionDenied):
        ObjectUrlSigner(["new"]).verify(old_token, "GET", utcnow())
    assert ObjectUrlSigner(["new"]).verify(rotated.sign(grant), "GET", utcnow()).artifact_id == "a1"


def test_login_tokens_and_storage_tokens_never_pass_for_each_other() -> None:
    keys = ["one shared secret"]
    login = TokenSigner(keys, max_age_seconds=60).issue("user-1", 0)
    with pytest.raises(PermissionDenied, match="signed URL is invalid"):
        ObjectUrlSigner(keys).verify(login, "GET", utcnow())
    grant = ObjectGrant("k/x", "GET", 3, "a1", "x.txt", "text/plain", utcnow() + timedelta(minutes=5), "u1", 0)
    storage_token = ObjectUrlSigner(keys).sign(grant)
    with pytest.raises(AuthenticationFailed):
        TokenSigner(keys, max_age_seconds=60).verify(storage_token)
    # The salt, not just the token format, keeps them apart: our payload signed for logins is refused.
    payload = URLSafeSerializer(keys, salt=STORAGE_URL_SALT).loads(storage_token)
    for other_salt in ("helixnet.token", "itsdangerous"):
        resigned = URLSafeSerializer(keys, salt=other_salt).dumps(payload)
        with pytest.raises(PermissionDenied, match="signed URL is invalid"):
            ObjectUrlSigner(keys).verify(resigned, "GET", utcnow())


def test_an_expired_token_is_refused(hx: Any, user: Any) -> None:
    artifact = hx.artifacts.begin_upload(user, "a.csv", 3)
    put = hx.artifacts.upload_request(artifact.id, expires_in=60)
    just_before = at(hx, lambda: put.expires_at - timedelta(seconds=1))
    assert just_before.redeem(put.token, "PUT").artifact_id == artifact.id
    for late in (put.expires_at, put.expires_at + timedelta(days=1)):
        with pytest.raises(PermissionDenied, match="signed URL expired"):
            at(hx, lambda late=late: late).redeem(put.token, "PUT")


def test_a_token_is_for_one_method(hx: Any, user: Any) -> None:
    artifact = hx.artifacts.begin_upload(user, "a.csv", len(DATA))
    put = hx.artifacts.upload_request(artifact.id)
    with pytest.raises(PermissionDenied, match="this URL is for PUT, not GET"):
        hx.artifacts.redeem(put.token, "GET")
    grant = hx.artifacts.redeem(put.token, "PUT")
    with pytest.raises(PermissionDenied, match="this URL is for PUT, not GET"):
        hx.artifacts.send(grant)
    hx.artifacts.receive(grant, io.BytesIO(DATA))
    hx.artifacts.complete(artifact.id)
    get = hx.artifacts.download_request(artifact.id)
    with pytest.raises(PermissionDenied, match="this URL is for GET, not PUT"):
        hx.artifacts.redeem(get.token, "PUT")
    with pytest.raises(PermissionDenied, match="this URL is for GET, not PUT"):
        hx.artifacts.receive(hx.artifacts.redeem(get.token, "GET"), io.BytesIO(DATA))


def test_a_token_dies_with_its_artifact_or_its_state(hx: Any, user: Any) -> None:
    artifact = hx.artifacts.begin_upload(user, "a.csv", len(DATA))
    put = hx.artifacts.upload_request(artifact.id)
    hx.artifacts.receive(hx.artifacts.redeem(put.token, "PUT"), io.BytesIO(DATA))
    hx.artifacts.complete(artifact.id)
    with pytest.raises(Conflict, match="already uploaded"):
        hx.artifacts.redeem(put.token, "PUT")
    get = hx.artifacts.download_request(artifact.id)
    hx.artifacts.delete(artifact.id, user)
    with pytest.raises(NotFound):
        hx.artifacts.redeem(get.token, "GET")


def test_send_when_storage_lost_the_bytes_is_not_found(hx: Any, user: Any) -> None:
    done = uploaded(hx, user)
    grant = hx.artifacts.redeem(hx.artifacts.download_request(done.id).token, "GET")
    hx.storage.delete(done.object_name)
    with pytest.raises(NotFound, match="has no content"):
        hx.artifacts.send(grant)


# --- bytes that must not be taken ---------------------------------------------------------------------


def test_more_bytes_than_declared_are_refused_and_leave_nothing(hx: Any, user: Any) -> None:
    artifact = hx.artifacts.begin_upload(user, "a.csv", len(DATA) - 1)
    grant = hx.artifacts.redeem(hx.artifacts.upload_request(artifact.id).token, "PUT")
    with pytest.raises(PayloadTooLarge) as caught:
        hx.artifacts.receive(grant, io.BytesIO(DATA))
    assert caught.value.errors == [{"loc": ["body"], "msg": f"must be at most {len(DATA) - 1} bytes"}]
    assert not hx.storage.exists(artifact.object_name)
    assert hx.artifacts.get(artifact.id).status == ArtifactStatus.PENDING
    hx.artifacts.receive(grant, io.BytesIO(DATA[:-1]))  # the same URL works for a right-sized retry
    assert hx.artifacts.complete(artifact.id).sha256 == hashlib.sha256(DATA[:-1]).hexdigest()


def test_the_server_limit_caps_even_a_grant_that_says_more(make_hx: Callable[..., Any]) -> None:
    hx = make_hx(start=False, max_upload_bytes=8)
    owner = hx.users.create(email="cap@example.org", password="correct horse battery")
    artifact = hx.artifacts.begin_upload(owner, "a.bin", 8)
    grant = hx.artifacts.redeem(hx.artifacts.upload_request(artifact.id).token, "PUT")
    inflated = ObjectGrant(**{**grant.__dict__, "max_bytes": 100})
    with pytest.raises(PayloadTooLarge):
        hx.artifacts.receive(inflated, io.BytesIO(b"x" * 9))
    assert not hx.storage.exists(artifact.object_name)


def test_fewer_bytes_than_declared_are_refused_and_leave_nothing(hx: Any, user: Any) -> None:
    artifact = hx.artifacts.begin_upload(user, "a.csv", len(DATA) + 1)
    grant = hx.artifacts.redeem(hx.artifacts.upload_request(artifact.id).token, "PUT")
    with pytest.raises(ValidationFailed) as caught:
        hx.artifacts.receive(grant, io.BytesIO(DATA))
    assert caught.value.errors[0]["loc"] == ["body"]
    assert not hx.storage.exists(artifact.object_name)


def test_a_declared_sha256_is_checked_by_the_signed_put_and_a_mismatch_leaves_nothing(hx: Any, user: Any) -> None:
    artifact = hx.artifacts.begin_upload(user, "a.csv", len(DATA), sha256=SHA)
    assert artifact.sha256 == SHA
    put = hx.artifacts.upload_request(artifact.id)
    assert put.headers == {"Content-Type": "text/csv"}, "the app's own URL needs no checksum header"
    grant = hx.artifacts.redeem(put.token, "PUT")
    assert grant.sha256 == SHA, "the declared digest travels signed in the token"
    same_size = DATA.replace(b"ada", b"bob")
    with pytest.raises(ValidationFailed, match="not the declared") as caught:
        hx.artifacts.receive(grant, io.BytesIO(same_size))
    assert caught.value.errors[0]["loc"] == ["body"]
    assert not hx.storage.exists(artifact.object_name)
    assert not (hx.storage.fs.exists(f"{hx.storage.root}/users/{user.id}")), "no folders left behind either"
    assert hx.artifacts.get(artifact.id).status == ArtifactStatus.PENDING
    hx.artifacts.receive(grant, io.BytesIO(DATA))  # the same URL takes the right bytes
    assert hx.artifacts.complete(artifact.id).sha256 == SHA


def test_a_download_token_carries_no_sha256(hx: Any, user: Any) -> None:
    artifact = hx.artifacts.begin_upload(user, "a.csv", len(DATA), sha256=SHA)
    hx.artifacts.receive(hx.artifacts.redeem(hx.artifacts.upload_request(artifact.id).token, "PUT"), io.BytesIO(DATA))
    hx.artifacts.complete(artifact.id)
    assert hx.artifacts.redeem(hx.artifacts.download_request(artifact.id).token, "GET").sha256 is None


def test_a_key_takes_one_upload(hx: Any, user: Any) -> None:
    artifact = hx.artifacts.begin_upload(user, "a.csv", len(DATA))
    grant = hx.artifacts.redeem(hx.artifacts.upload_request(artifact.id).token, "PUT")
    hx.artifacts.receive(grant, io.BytesIO(DATA))
    with pytest.raises(Conflict, match="already uploaded"):
        hx.artifacts.receive(grant, io.BytesIO(DATA.upper()))
    assert hx.artifacts.complete(artifact.id).sha256 == SHA


def test_complete_without_bytes_is_a_conflict(hx: Any, user: Any) -> None:
    artifact = hx.artifacts.begin_upload(user, "a.csv", 3)
    with pytest.raises(Conflict, match="no bytes uploaded yet"):
        hx.artifacts.complete(artifact.id, user)
    assert hx.artifacts.get(artifact.id).status == ArtifactStatus.PENDING


def test_complete_with_the_wrong_size_discards_the_bytes(hx: Any, user: Any) -> None:
    artifact = hx.artifacts.begin_upload(user, "a.csv", len(DATA))
    # What a misbehaving object store would hold: bytes of another size at the key.
    hx.storage.write(artifact.object_name, DATA + b"3,linus\n")
    with pytest.raises(Conflict) as caught:
        hx.artifacts.complete(artifact.id, user)
    assert f"{len(DATA) + 8} bytes were uploaded but {len(DATA)} were declared" in caught.value.detail
    assert not hx.storage.exists(artifact.object_name)
    assert hx.artifacts.get(artifact.id).status == ArtifactStatus.PENDING
    grant = hx.artifacts.redeem(hx.artifacts.upload_request(artifact.id).token, "PUT")
    hx.artifacts.receive(grant, io.BytesIO(DATA))
    assert hx.artifacts.complete(artifact.id, user).sha256 == SHA


def test_state_rules(hx: Any, user: Any) -> None:
    pending = hx.artifacts.begin_upload(user, "a.csv", 3)
    with pytest.raises(Conflict, match="not uploaded yet"):
        hx.artifacts.download_request(pending.id, user)
    done = uploaded(hx, user)
    with pytest.raises(Conflict, match="already uploaded"):
        hx.artifacts.upload_request(done.id, user)
    with pytest.raises(NotFound):
        hx.artifacts.open(pending.id, user)


# --- validation and ownership -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "size", "field"),
    [("", 3, "filename"), ("   ", 3, "filename"), ("a.csv", -1, "size"), ("a.csv", "3", "size"),
     ("a.csv", 2.0, "size"), ("a.csv", True, "size"), ("a.csv", None, "size")],
)  # fmt: skip
def test_begin_upload_checks_its_input(hx: Any, user: Any, filename: str, size: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        hx.artifacts.begin_upload(user, filename, size)
    assert caught.value.errors[0]["loc"] == [field]
    assert hx.artifacts.list(user) == []


def test_begin_upload_over_the_server_limit(make_hx: Callable[..., Any]) -> None:
    hx = make_hx(start=False, max_upload_bytes=1000)
    owner = hx.users.create(email="big@example.org", password="correct horse battery")
    assert hx.artifacts.begin_upload(owner, "ok.bin", 1000).size == 1000
    with pytest.raises(PayloadTooLarge) as caught:
        hx.artifacts.begin_upload(owner, "big.bin", 1001)
    assert caught.value.errors == [{"loc": ["size"], "msg": "must be at most 1000 bytes"}]
    assert len(hx.artifacts.list(owner)) == 1


def test_another_users_artifact_is_not_found(hx: Any, user: Any, other_user: Any) -> None:
    pending = hx.artifacts.begin_upload(user, "mine.csv", len(DATA))
    done = uploaded(hx, user)
    calls = [
        lambda: hx.artifacts.upload_request(pending.id, other_user),
        lambda: hx.artifacts.complete(pending.id, other_user),
        lambda: hx.artifacts.complete(done.id, other_user),
        lambda: hx.artifacts.download_request(done.id, other_user),
        lambda: hx.artifacts.download_request(str(uuid.uuid4()), user),
        lambda: hx.artifacts.upload_request("not an id", user),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()
    admin = hx.users.create(email="root@example.org", password="correct horse battery", is_admin=True)
    assert hx.artifacts.upload_request(pending.id, admin).token
    assert hx.artifacts.download_request(done.id, admin).token


# --- S3: real presigned URLs, real HTTP ---------------------------------------------------------------


@pytest.fixture
def make_s3_hx(make_hx: Callable[..., Any], s3_options: dict[str, Any]) -> Callable[..., Any]:
    def factory(**overrides: Any) -> Any:
        url = f"s3://helixnet-tests/{uuid.uuid4().hex}"
        return make_hx(start=False, storage_url=url, storage_options=s3_options, **overrides)

    return factory


@pytest.fixture
def s3_hx(make_s3_hx: Callable[..., Any]) -> Any:
    return make_s3_hx()


@pytest.mark.s3
def test_s3_upload_and_download_go_straight_to_s3(s3_hx: Any, s3_endpoint: str) -> None:
    owner = s3_hx.users.create(email="s3@example.org", password="correct horse battery")
    artifact = s3_hx.artifacts.begin_upload(owner, "people.csv", len(DATA))
    put = s3_hx.artifacts.upload_request(artifact.id, owner)
    assert put.method == "PUT" and put.token is None
    assert put.url is not None and put.url.startswith(f"{s3_endpoint}/helixnet-tests/")
    assert put.headers == {"Content-Type": "text/csv", "If-None-Match": "*"}

    assert httpx.put(put.url, content=DATA, headers=put.headers).status_code == 200
    assert httpx.put(put.url, content=DATA, headers=put.headers).status_code == 412, "one upload per key"
    done = s3_hx.artifacts.complete(artifact.id, owner)
    # No sha256 declared: completion read nothing (issue 11); the digest step fills it in later.
    assert (done.status, done.size, done.sha256) == (ArtifactStatus.AVAILABLE, len(DATA), None)
    assert s3_hx.digests.run_once().filled == 1
    assert s3_hx.artifacts.get(artifact.id).sha256 == SHA

    get = s3_hx.artifacts.download_request(artifact.id, owner)
    assert get.method == "GET" and get.token is None and get.url is not None
    response = httpx.get(get.url)
    assert (response.status_code, response.content) == (200, DATA)


@pytest.mark.s3
def test_s3_wrong_size_is_caught_by_complete(s3_hx: Any) -> None:
    """Real S3 refuses the PUT (Content-Length is signed); moto does not check, complete() does."""
    owner = s3_hx.users.create(email="s3@example.org", password="correct horse battery")
    artifact = s3_hx.artifacts.begin_upload(owner, "people.csv", len(DATA))
    put = s3_hx.artifacts.upload_request(artifact.id, owner)
    assert "content-length" in httpx.URL(put.url).params["X-Amz-SignedHeaders"].split(";")
    httpx.put(put.url, content=DATA + b"extra", headers=put.headers)
    with pytest.raises(Conflict, match="were declared"):
        s3_hx.artifacts.complete(artifact.id, owner)
    assert not s3_hx.storage.exists(artifact.object_name)
    assert httpx.put(put.url, content=DATA, headers=put.headers).status_code == 200, "free for a retry"
    assert s3_hx.artifacts.complete(artifact.id, owner).size == len(DATA)


@pytest.mark.s3
def test_s3_caps_uploads_at_what_one_put_takes(make_s3_hx: Callable[..., Any]) -> None:
    hx = make_s3_hx(max_upload_bytes=10 * 1024**3)
    owner = hx.users.create(email="s3@example.org", password="correct horse battery")
    assert hx.artifacts.begin_upload(owner, "big.bin", S3_MAX_PUT_BYTES).size == S3_MAX_PUT_BYTES
    with pytest.raises(PayloadTooLarge) as caught:
        hx.artifacts.begin_upload(owner, "huge.bin", S3_MAX_PUT_BYTES + 1)
    assert caught.value.errors[0]["loc"] == ["size"]
