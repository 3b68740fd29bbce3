"""The digest step: sha256 of S3 artifacts completed without one, filled in off the request path.

Driven by direct calls (``run_once``) and by one sweeper pass (``hx.sweep()``, which kicks it on
its own thread; the test joins that thread): nothing sleeps.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from helixnet.core.models import ArtifactStatus

DATA = b"one two three\n"
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def s3_hx(make_hx: Callable[..., Any], s3_options: dict[str, Any], database: str) -> Any:
    """On SQLite and PostgreSQL: the digest step's query must find its rows (a partial index) on both."""
    return make_hx(database, start=False, storage_url=f"s3://helixnet-tests/{uuid.uuid4().hex}",
                   storage_options=s3_options)  # fmt: skip


def completed(hx: Any, owner: Any, data: bytes = DATA, **declared: Any) -> Any:
    """An artifact uploaded to its presigned URL and completed (one HEAD)."""
    artifact = hx.artifacts.begin_upload(owner, "notes.txt", len(data), **declared)
    put = hx.artifacts.upload_request(artifact.id, owner)
    assert httpx.put(put.url, content=data, headers=put.headers).status_code == 200
    return hx.artifacts.complete(artifact.id, owner)


@pytest.mark.s3
def test_a_sweep_starts_the_digest_step_only_when_artifacts_wait(s3_hx: Any) -> None:
    owner = s3_hx.users.create(email="s3@example.org", password="correct horse battery")
    assert not s3_hx.sweep().digesting, "nothing waits: no thread is started"
    first, second = completed(s3_hx, owner), completed(s3_hx, owner, b"other bytes\n")
    assert (first.sha256, second.sha256) == (None, None)

    assert s3_hx.sweep().digesting
    s3_hx.digests.join()
    assert s3_hx.artifacts.get(first.id).sha256 == SHA
    assert s3_hx.artifacts.get(second.id).sha256 == hashlib.sha256(b"other bytes\n").hexdigest()
    assert not s3_hx.sweep().digesting


@pytest.mark.s3
def test_an_object_replaced_behind_the_apps_back_is_not_digested(s3_hx: Any, s3_client: Any) -> None:
    owner = s3_hx.users.create(email="s3@example.org", password="correct horse battery")
    artifact = completed(s3_hx, owner)
    bucket, key = s3_hx.storage.full_path(artifact.object_name).split("/", 1)
    s3_client.put_object(Bucket=bucket, Key=key, Body=b"something else")  # another ETag and size

    report = s3_hx.digests.run_once()
    assert (report.filled, report.failed) == (0, 1)
    assert s3_hx.artifacts.get(artifact.id).sha256 is None
    assert s3_hx.digests.waiting() == [], "not tried again by this process"
    assert not s3_hx.sweep().digesting


@pytest.mark.s3
def test_deleted_and_pending_artifacts_are_left_alone(s3_hx: Any) -> None:
    owner = s3_hx.users.create(email="s3@example.org", password="correct horse battery")
    gone = completed(s3_hx, owner)
    s3_hx.artifacts.delete(gone.id)
    s3_hx.artifacts.begin_upload(owner, "later.txt", 3)
    assert s3_hx.digests.waiting() == []
    assert s3_hx.digests.run_once().filled == 0


@pytest.mark.s3
def test_a_stopped_digest_step_starts_no_more_runs(s3_hx: Any) -> None:
    owner = s3_hx.users.create(email="s3@example.org", password="correct horse battery")
    artifact = completed(s3_hx, owner)
    s3_hx.digests.stop()
    assert not s3_hx.digests.kick()
    assert s3_hx.digests.run_once().stopped
    assert s3_hx.artifacts.get(artifact.id).sha256 is None


def test_the_local_folder_leaves_nothing_to_digest(hx: Any, user: Any) -> None:
    """Its complete() reads the app's own disk once; nothing waits for the digest step."""
    artifact = hx.artifacts.begin_upload(user, "notes.txt", len(DATA))
    put = hx.artifacts.upload_request(artifact.id, user)
    hx.artifacts.receive(hx.artifacts.redeem(put.token, "PUT"), io.BytesIO(DATA))
    done = hx.artifacts.complete(artifact.id, user)
    assert (done.status, done.sha256) == (ArtifactStatus.AVAILABLE, SHA)
    assert hx.digests.waiting() == []
