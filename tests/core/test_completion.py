"""``complete()`` without reading the bytes back (issue 11), against the moto S3 server.

What the app sent to S3 is read from the moto server's own request log (werkzeug's), and the
storage's read methods are made to fail, so a GET of the object during ``complete`` cannot hide.
moto does not check signatures, nor (moto 5.2, ``s3/responses.py::_get_checksum``) that a body
matches its ``x-amz-checksum-sha256``: it keeps the header's value as the object's checksum. What
real S3 refuses itself is therefore asserted on the URL (the signed headers); what ``complete``
refuses is tried for real.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from helixnet.core.models import Artifact, ArtifactStatus
from helixnet.errors import Conflict, ValidationFailed

pytestmark = pytest.mark.s3

DATA = b"id,name\n1,ada\n2,grace\n"
SHA = hashlib.sha256(DATA).hexdigest()
SHA_B64 = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
OTHER = b"id,name\n1,bob\n2,carol\n"[: len(DATA)].ljust(len(DATA), b"x")
_REQUEST = re.compile(r'"(?:\x1b\[[0-9;]*m)*([A-Z]+) (\S+) HTTP')


@pytest.fixture
def s3_hx(make_hx: Callable[..., Any], s3_options: dict[str, Any]) -> Any:
    return make_hx(start=False, storage_url=f"s3://helixnet-tests/{uuid.uuid4().hex}", storage_options=s3_options)


@pytest.fixture
def owner(s3_hx: Any) -> Any:
    return s3_hx.users.create(email="s3@example.org", password="correct horse battery")


@pytest.fixture
def no_reads(s3_hx: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Reading an object through the storage fails the test (the server log is checked as well)."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("complete() read the object's bytes")

    monkeypatch.setattr(s3_hx.storage, "open_read", refuse)
    monkeypatch.setattr(s3_hx.storage, "digest", refuse)
    yield
    monkeypatch.undo()


class ServerLog:
    """The requests moto served, as (method, path), from its werkzeug log lines."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog
        caplog.set_level("INFO", logger="werkzeug")

    def clear(self) -> None:
        self._caplog.clear()

    def for_key(self, key: str) -> list[str]:
        found = (_REQUEST.search(record.getMessage()) for record in self._caplog.records if record.name == "werkzeug")
        return [match[1] for match in found if match and urlsplit(match[2]).path.endswith(key)]


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> ServerLog:
    return ServerLog(caplog)


def signed_headers(url: str) -> list[str]:
    return parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"][0].split(";")


def etag_of(hx: Any, artifact_id: str) -> str | None:
    with hx.db.read() as session:
        return session.get(Artifact, artifact_id).etag


def test_the_put_url_signs_the_declared_sha256(s3_hx: Any, owner: Any) -> None:
    artifact = s3_hx.artifacts.begin_upload(owner, "people.csv", len(DATA), sha256=SHA)
    assert (artifact.status, artifact.sha256) == (ArtifactStatus.PENDING, SHA)
    put = s3_hx.artifacts.upload_request(artifact.id, owner)
    assert put.url is not None
    # Signed as headers (botocore does not hoist them into the query, where S3 would not check them).
    assert {"x-amz-checksum-sha256", "x-amz-sdk-checksum-algorithm"} <= set(signed_headers(put.url))
    assert not any(name.lower().startswith("x-amz-checksum") for name in parse_qs(urlsplit(put.url).query))
    assert put.headers == {"Content-Type": "text/csv", "If-None-Match": "*",
                           "x-amz-checksum-sha256": SHA_B64, "x-amz-sdk-checksum-algorithm": "SHA256"}  # fmt: skip


def test_complete_with_a_declared_sha256_is_one_head_and_no_get(
    s3_hx: Any, owner: Any, server_log: ServerLog, no_reads: None
) -> None:
    artifact = s3_hx.artifacts.begin_upload(owner, "people.csv", len(DATA), sha256=SHA)
    put = s3_hx.artifacts.upload_request(artifact.id, owner)
    reply = httpx.put(put.url, content=DATA, headers=put.headers)
    assert reply.status_code == 200 and reply.headers["x-amz-checksum-sha256"] == SHA_B64
    server_log.clear()

    done = s3_hx.artifacts.complete(artifact.id, owner)
    assert (done.status, done.size, done.sha256) == (ArtifactStatus.AVAILABLE, len(DATA), SHA)
    assert server_log.for_key(artifact.object_name) == ["HEAD"]
    assert etag_of(s3_hx, artifact.id) == hashlib.md5(DATA).hexdigest()  # a one-part PUT's ETag
    assert s3_hx.digests.waiting() == [], "nothing left for the digest step"


def test_a_checksum_other_than_the_declared_one_is_refused_by_complete(
    s3_hx: Any, owner: Any, no_reads: None
) -> None:
    """Real S3 refuses this PUT (the checksum header is signed); moto takes it, complete() does not."""
    artifact = s3_hx.artifacts.begin_upload(owner, "people.csv", len(DATA), sha256=SHA)
    put = s3_hx.artifacts.upload_request(artifact.id, owner)
    other_b64 = base64.b64encode(hashlib.sha256(OTHER).digest()).decode()
    sent = httpx.put(put.url, content=OTHER, headers={**put.headers, "x-amz-checksum-sha256": other_b64})
    assert sent.status_code == 200, "moto checks no signature"
    with pytest.raises(Conflict, match="not the declared") as caught:
        s3_hx.artifacts.complete(artifact.id, owner)
    assert caught.value.errors[0]["loc"] == ["sha256"]
    assert not s3_hx.storage.exists(artifact.object_name), "refused bytes are discarded"
    assert s3_hx.artifacts.get(artifact.id).status == ArtifactStatus.PENDING
    assert httpx.put(put.url, content=DATA, headers=put.headers).status_code == 200, "the URL serves a retry"
    assert s3_hx.artifacts.complete(artifact.id, owner).sha256 == SHA


def test_bytes_sent_without_the_checksum_headers_are_refused_by_complete(s3_hx: Any, owner: Any, no_reads: None) -> None:
    """Real S3 refuses the PUT (signed headers missing); moto keeps no checksum, so complete() refuses."""
    artifact = s3_hx.artifacts.begin_upload(owner, "people.csv", len(DATA), sha256=SHA)
    put = s3_hx.artifacts.upload_request(artifact.id, owner)
    bare = {name: value for name, value in put.headers.items() if not name.startswith("x-amz-")}
    assert httpx.put(put.url, content=DATA, headers=bare).status_code == 200
    with pytest.raises(Conflict, match="kept no sha256") as caught:
        s3_hx.artifacts.complete(artifact.id, owner)
    assert caught.value.errors[0]["loc"] == ["sha256"]
    assert not s3_hx.storage.exists(artifact.object_name)


def test_without_a_declared_sha256_complete_reads_nothing_and_the_digest_step_fills_it(
    s3_hx: Any, owner: Any, server_log: ServerLog, monkeypatch: pytest.MonkeyPatch, no_reads: None
) -> None:
    artifact = s3_hx.artifacts.begin_upload(owner, "people.csv", len(DATA))
    put = s3_hx.artifacts.upload_request(artifact.id, owner)
    assert not any(name.startswith("x-amz-checksum") for name in signed_headers(put.url))
    assert httpx.put(put.url, content=DATA, headers=put.headers).status_code == 200
    server_log.clear()

    done = s3_hx.artifacts.complete(artifact.id, owner)
    assert (done.status, done.size, done.sha256) == (ArtifactStatus.AVAILABLE, len(DATA), None)
    assert server_log.for_key(artifact.object_name) == ["HEAD"]
    assert etag_of(s3_hx, artifact.id) == hashlib.md5(DATA).hexdigest()
    assert [row[0] for row in s3_hx.digests.waiting()] == [artifact.id]

    monkeypatch.undo()  # the digest step does read the object: that is its job, off the request path
    report = s3_hx.digests.run_once()
    assert (report.filled, report.failed) == (1, 0)
    assert "GET" in server_log.for_key(artifact.object_name)
    assert s3_hx.artifacts.get(artifact.id, owner).sha256 == SHA
    assert s3_hx.digests.run_once().filled == 0


def test_wrong_size_with_a_declared_sha256_names_the_size(s3_hx: Any, owner: Any) -> None:
    artifact = s3_hx.artifacts.begin_upload(owner, "people.csv", len(DATA), sha256=SHA)
    put = s3_hx.artifacts.upload_request(artifact.id, owner)
    httpx.put(put.url, content=DATA + b"!", headers=put.headers)
    with pytest.raises(Conflict) as caught:
        s3_hx.artifacts.complete(artifact.id, owner)
    assert caught.value.errors[0]["loc"] == ["size"]
    assert not s3_hx.storage.exists(artifact.object_name)


@pytest.mark.parametrize("value", ["A" * 64, "0" * 63, "0" * 65, "g" * 64, SHA.upper(), SHA_B64, 42, ""])
def test_a_declared_sha256_must_be_64_lowercase_hex(s3_hx: Any, owner: Any, value: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        s3_hx.artifacts.begin_upload(owner, "people.csv", len(DATA), sha256=value)
    assert caught.value.errors[0]["loc"] == ["sha256"]


def test_the_readme_cors_rule_allows_every_header_a_ticket_asks_for(s3_hx: Any, owner: Any) -> None:
    """A browser's preflight fails on any header the bucket rule leaves out: the README must not drift."""
    import json
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```json\n(\{\n  \"CORSRules\".*?)\n```", readme, re.S)
    assert block, "README has the put-bucket-cors JSON"
    (rule,) = json.loads(block[1])["CORSRules"]
    allowed = {name.lower() for name in rule["AllowedHeaders"]}
    artifact = s3_hx.artifacts.begin_upload(owner, "people.csv", len(DATA), sha256=SHA)
    put = s3_hx.artifacts.upload_request(artifact.id, owner)
    assert {name.lower() for name in put.headers} <= allowed
    assert {"PUT", "GET"} <= set(rule["AllowedMethods"])
    xml_headers = set(re.findall(r"<AllowedHeader>([^<]+)</AllowedHeader>", readme))
    assert {name.lower() for name in xml_headers} == allowed, "the MinIO XML says the same"
