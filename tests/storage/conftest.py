"""Storage fixtures: one ``storage`` per backend, S3 served by a real moto server on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from helixnet.storage import Storage, open_storage

S3_BUCKET = "helixnet-tests"
FAKE_CREDENTIALS = {"key": "testing", "secret": "testing"}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API (moto's server mode) on 127.0.0.1, one for the whole session."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as mp:
        # Nothing of the developer's AWS setup (profiles, instance metadata) may reach botocore.
        for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_CONFIG_FILE", "/nonexistent/helixnet-test-aws-config")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/helixnet-test-aws-credentials")
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def s3_options(s3_endpoint: str) -> dict[str, Any]:
    """What a deployment puts in ``HELIXNET_STORAGE_OPTIONS`` for MinIO or another S3."""
    return {"endpoint_url": s3_endpoint, **FAKE_CREDENTIALS, "client_kwargs": {"region_name": "us-east-1"}}


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    """A plain boto3 client, to look at the server without going through our code."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=FAKE_CREDENTIALS["key"],
        aws_secret_access_key=FAKE_CREDENTIALS["secret"],
        region_name="us-east-1",
    )


@pytest.fixture(params=["memory", "file", pytest.param("s3", marks=pytest.mark.s3)])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """The contract suite's subject, opened through the registry as the app does."""
    name = uuid.uuid4().hex
    if request.param == "memory":
        opened = open_storage(f"memory://helixnet-test-{name}")
    elif request.param == "file":
        opened = open_storage((tmp_path / "artifacts").as_uri())
    else:
        opened = open_storage(f"s3://{S3_BUCKET}/{name}", request.getfixturevalue("s3_options"))
    yield opened
    if request.param == "memory":  # fsspec's memory store is process-wide
        with suppress(FileNotFoundError):
            opened.fs.rm(opened.root, recursive=True)
