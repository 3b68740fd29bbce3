"""Storage fixtures: one ``storage`` per backend; S3 is the moto server of ``tests/conftest.py``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from helixnet.storage import Storage, open_storage

S3_BUCKET = "helixnet-tests"


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
