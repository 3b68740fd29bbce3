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

from helixnet.errors import PayloadTooLarge, ValidationFailed
from helixnet.storage import Storage, content_disposition, open_storage
from helixnet.storage.base import MAX_PRESIGN_SECONDS, S3_MAX_PUT_BYTES

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
