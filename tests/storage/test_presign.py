"""``Storage.presign``: real S3 presigned URLs, tried with real HTTP against the moto server.

A folder or memory has no URL of its own (``None``: the app serves those bytes). moto does not
check signatures of presigned URLs, so what S3 itself would refuse (another size or type) is
asserted on the signed headers; ``If-None-Match`` is enforced by moto, so a second upload is
really refused.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from helixnet.errors import ObjectNotFound, PayloadTooLarge, StorageError, ValidationFailed
from helixnet.storage import Storage, content_disposition, open_storage
from helixnet.storage.base import MAX_PRESIGN_SECONDS, S3_MAX_PUT_BYTES, signed_headers
from helixnet.storage.checksums import sha256_base64, sha256_hex

KEY = "users/u1/artifacts/a1/report.csv"


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def test_presign_is_s3_only(storage: Storage) -> None:
    url = storage.presign(KEY, "PUT", 60, content_type="text/csv", size=3)
    if storage.protocol == "s3":
        assert url is not None and url.startswith("http")
    else:
        assert url is None
        assert storage.presign(KEY, "GET", 60) is None


@pytest.mark.parametrize(
    ("method", "expires_in", "field"),
    [
        ("DELETE", 60, "method"),
        ("put", 60, "method"),
        ("GET", 0, "expires_in"),
        ("GET", MAX_PRESIGN_SECONDS + 1, "expires_in"),
        ("GET", 1.5, "expires_in"),
        ("GET", True, "expires_in"),
    ],
)
def test_presign_checks_its_arguments(storage: Storage, method: str, expires_in: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        storage.presign(KEY, method, expires_in)
    assert caught.value.errors[0]["loc"] == [field]


def test_presign_checks_a_declared_sha256(storage: Storage) -> None:
    with pytest.raises(ValidationFailed) as caught:
        storage.presign(KEY, "PUT", 60, sha256="not hex")
    assert caught.value.errors[0]["loc"] == ["sha256"]


def test_presign_checks_the_key(storage: Storage) -> None:
    with pytest.raises(ValidationFailed):
        storage.presign("../escape", "GET", 60)


# --- S3 (real server) --------------------------------------------------------------------------------


@pytest.fixture
def s3_storage(s3_options: dict[str, Any]) -> Storage:
    return open_storage(f"s3://helixnet-tests/{uuid.uuid4().hex}", s3_options)


@pytest.mark.s3
def test_s3_put_url_signs_type_size_and_create_only(s3_storage: Storage, s3_endpoint: str) -> None:
    url = s3_storage.presign(KEY, "PUT", 120, content_type="text/csv", size=3, create_only=True)
    assert url is not None and url.startswith(f"{s3_endpoint}/helixnet-tests/")
    params = query(url)
    # SigV4 even in us-east-1 (botocore would presign with SigV2 there, which signs no size).
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-Expires"] == "120"
    signed = set(params["X-Amz-SignedHeaders"].split(";"))
    assert signed == {"content-length", "content-type", "host", "if-none-match"}


@pytest.mark.s3
def test_s3_put_then_get_through_the_urls(s3_storage: Storage, s3_client: Any) -> None:
    data = b"a,b\n1,2\n"
    put = s3_storage.presign(KEY, "PUT", 60, content_type="text/csv", size=len(data), create_only=True)
    assert put is not None
    headers = {"Content-Type": "text/csv", "If-None-Match": "*"}
    assert httpx.put(put, content=data, headers=headers).status_code == 200
    assert s3_storage.digest(KEY).sha256 == hashlib.sha256(data).hexdigest()
    head = s3_client.head_object(Bucket="helixnet-tests", Key=s3_storage.full_path(KEY).split("/", 1)[1])
    assert head["ContentType"] == "text/csv"

    again = httpx.put(put, content=b"x,y\n9,9\n", headers=headers)
    assert again.status_code == 412, "If-None-Match: * makes S3 refuse a second upload to the key"
    assert s3_storage.digest(KEY).sha256 == hashlib.sha256(data).hexdigest()

    get = s3_storage.presign(KEY, "GET", 60, content_type="text/csv", filename="résumé 2024.csv")
    assert get is not None
    response = httpx.get(get)
    assert response.status_code == 200
    assert response.content == data
    # moto ignores the response-* overrides; S3 and MinIO answer with them. They are signed params.
    assert query(get)["response-content-disposition"] == content_disposition("résumé 2024.csv")
    assert query(get)["response-content-type"] == "text/csv"


@pytest.mark.s3
def test_s3_refuses_to_sign_more_than_one_put_takes(s3_storage: Storage) -> None:
    with pytest.raises(PayloadTooLarge):
        s3_storage.presign(KEY, "PUT", 60, size=S3_MAX_PUT_BYTES + 1)
    assert s3_storage.presign(KEY, "PUT", 60, size=S3_MAX_PUT_BYTES) is not None


@pytest.mark.s3
def test_s3_signature_version_chosen_by_the_deployment_is_kept(s3_options: dict[str, Any]) -> None:
    options = {**s3_options, "config_kwargs": {"signature_version": "s3"}}  # SigV2, on purpose
    storage = open_storage(f"s3://helixnet-tests/{uuid.uuid4().hex}", options)
    url = storage.presign(KEY, "GET", 60)
    assert url is not None and "AWSAccessKeyId" in query(url)


@pytest.mark.s3
def test_s3_put_url_signs_a_declared_sha256_as_headers(s3_storage: Storage) -> None:
    digest = hashlib.sha256(b"abc").hexdigest()
    url = s3_storage.presign(KEY, "PUT", 60, content_type="text/csv", size=3, create_only=True, sha256=digest)
    assert url is not None
    assert {"x-amz-checksum-sha256", "x-amz-sdk-checksum-algorithm"} <= set(signed_headers(url))
    # Not hoisted into the query string: there S3 would not check it (aws-sdk-go-v2#2610).
    assert not [name for name in query(url) if name.lower().startswith("x-amz-checksum")]
    assert sha256_base64(digest) == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="


@pytest.mark.s3
def test_s3_head_reads_size_etag_and_the_kept_checksum(s3_storage: Storage) -> None:
    data = b"a,b\n1,2\n"
    digest = hashlib.sha256(data).hexdigest()
    url = s3_storage.presign(KEY, "PUT", 60, size=len(data), sha256=digest)
    assert url is not None
    headers = {"x-amz-checksum-sha256": sha256_base64(digest), "x-amz-sdk-checksum-algorithm": "SHA256"}
    assert httpx.put(url, content=data, headers=headers).status_code == 200
    head = s3_storage.head(KEY)
    assert (head.size, head.etag, head.sha256) == (len(data), hashlib.md5(data).hexdigest(), digest)
    s3_storage.write("plain.txt", data)  # through s3fs: no checksum asked for, none kept
    assert s3_storage.head("plain.txt").sha256 is None
    with pytest.raises(ObjectNotFound):
        s3_storage.head("missing.txt")


def test_head_gives_the_size_on_every_storage(storage: Storage) -> None:
    storage.write("h/one.txt", b"12345")
    head = storage.head("h/one.txt")
    assert head.size == 5
    if storage.protocol != "s3":
        assert (head.etag, head.sha256) == (None, None)
    with pytest.raises(ObjectNotFound):
        storage.head("h/none.txt")


@pytest.mark.s3
def test_a_url_that_cannot_sign_the_checksum_is_refused(s3_options: dict[str, Any]) -> None:
    """SigV2 (chosen by a deployment) has no X-Amz-SignedHeaders to show the checksum is signed."""
    options = {**s3_options, "config_kwargs": {"signature_version": "s3"}}
    storage = open_storage(f"s3://helixnet-tests/{uuid.uuid4().hex}", options)
    with pytest.raises(StorageError, match="x-amz-checksum-sha256"):
        storage.presign(KEY, "PUT", 60, sha256="0" * 64)


def test_signed_headers_tells_a_hoisted_checksum_from_a_signed_one() -> None:
    hoisted = ("https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Checksum-Sha256=abc%3D"
               "&X-Amz-SignedHeaders=host&X-Amz-Signature=00")  # what aws-sdk-go-v2 made (issue 2610)
    assert signed_headers(hoisted) == ["host"]
    assert signed_headers("https://b/k?X-Amz-SignedHeaders=host%3Bx-amz-checksum-sha256") == [
        "host", "x-amz-checksum-sha256"]  # fmt: skip
    assert signed_headers("https://b/k") == []


def test_sha256_converts_between_hex_and_base64() -> None:
    digest = hashlib.sha256(b"abc").hexdigest()
    assert sha256_hex(sha256_base64(digest)) == digest
    assert sha256_hex("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=-3") is None, "a multipart checksum"
    assert sha256_hex("not base64!") is None
    assert sha256_hex("AAAA") is None, "too short for a sha256"


def test_content_disposition_is_safe_for_any_name() -> None:
    assert content_disposition("report.pdf") == 'attachment; filename="report.pdf"'
    value = content_disposition('../"evil"\r\nX-Injected: 1.txt')
    assert "\r" not in value and "\n" not in value and "/" not in value.split(";", 1)[1].split("*=")[0]
    assert value.count('"') == 2
    unicode = content_disposition("résumé.pdf")
    assert unicode == "attachment; filename=\"resume.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"


@pytest.mark.s3
def test_s3_endpoint_and_credentials_from_the_aws_variables(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What boto users set works as it does for boto3: no HELIXNET_STORAGE_OPTIONS at all (issue 11)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    storage = open_storage(f"s3://helixnet-env-{uuid.uuid4().hex[:8]}/artifacts", {})
    storage.write("a/b.txt", b"from the environment")
    url = storage.presign("a/b.txt", "GET", 60)
    assert url is not None and url.startswith(s3_endpoint)
    assert httpx.get(url).content == b"from the environment"
