"""One contract, every backend: memory, a local folder and a real S3 server (moto, loopback).

The ``storage`` fixture (conftest) opens each backend through ``open_storage``, so every
contract test also goes through the entry-point registry, as the app does.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import helixnet.storage as storage_pkg
from helixnet.errors import (
    ConfigurationError,
    ObjectNotFound,
    PayloadTooLarge,
    StorageError,
    ValidationFailed,
)
from helixnet.storage import Storage, WriteResult, open_fsspec_storage, open_storage, storage_schemes

KEY = "users/u1/artifacts/a1/report.pdf"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_paths(storage: Storage) -> list[str]:
    """Every file under the root, temporary names included (fresh listing, no cache)."""
    storage.fs.invalidate_cache()
    try:
        return sorted(storage.fs.find(storage.root))
    except FileNotFoundError:
        return []


def read_all(storage: Storage, key: str) -> bytes:
    with storage.open_read(key) as stream:
        return stream.read()


class RecordingSource(io.BytesIO):
    """A file-like source that remembers how it was asked for bytes."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.requests: list[int | None] = []

    def read(self, size: int | None = -1) -> bytes:
        self.requests.append(size)
        return super().read(size)


# --- the contract ---------------------------------------------------------------------------


def test_round_trip_bytes(storage: Storage) -> None:
    data = b"hello \x00 world\n" * 1000
    result = storage.write(KEY, data)
    assert result == WriteResult(size=len(data), sha256=sha256(data))
    assert read_all(storage, KEY) == data
    assert storage.exists(KEY)
    assert storage.size(KEY) == len(data)
    assert storage.digest(KEY) == result
    assert stored_paths(storage) == [storage.full_path(KEY)]


def test_stream_source_is_read_in_chunks(storage: Storage) -> None:
    data = bytes(range(256)) * 40  # 10,240 bytes: ten full chunks and a short one
    source = RecordingSource(data)
    result = storage.write(KEY, source, chunk_size=1000)
    assert result == WriteResult(size=len(data), sha256=sha256(data))
    assert set(source.requests) == {1000}, "the source must never be asked for everything at once"
    assert read_all(storage, KEY) == data


def test_read_back_in_chunks(storage: Storage) -> None:
    data = bytes(range(256)) * 13
    storage.write(KEY, data)
    pieces = []
    with storage.open_read(KEY) as stream:
        while piece := stream.read(100):
            assert len(piece) <= 100
            pieces.append(piece)
    assert b"".join(pieces) == data
    assert len(pieces) == -(-len(data) // 100)


def test_two_readers_keep_their_own_position(storage: Storage) -> None:
    storage.write(KEY, b"0123456789")
    with storage.open_read(KEY) as first, storage.open_read(KEY) as second:
        assert first.read(4) == b"0123"
        assert second.read(2) == b"01"
        assert first.read() == b"456789"
        assert second.read() == b"23456789"


def test_empty_object(storage: Storage) -> None:
    assert storage.write(KEY, b"") == WriteResult(size=0, sha256=sha256(b""))
    assert storage.exists(KEY)
    assert storage.size(KEY) == 0
    assert read_all(storage, KEY) == b""


def test_overwrite_replaces(storage: Storage) -> None:
    storage.write(KEY, b"first version, longer")
    storage.write(KEY, b"second")
    assert read_all(storage, KEY) == b"second"
    assert storage.size(KEY) == 6
    assert stored_paths(storage) == [storage.full_path(KEY)]


def test_open_write_streams_and_reports(storage: Storage) -> None:
    with storage.open_write(KEY) as out:
        assert out.write(b"abc") == 3
        assert out.write(memoryview(b"def")) == 3
        assert out.write(bytearray(b"g")) == 1
        assert out.tell() == 7
        assert not storage.exists(KEY), "nothing may be visible at the key before the block ends"
    assert out.result == WriteResult(size=7, sha256=sha256(b"abcdefg"))
    assert read_all(storage, KEY) == b"abcdefg"
    with pytest.raises(ValueError):
        out.write(b"after the block")


def test_max_bytes_exactly_fits(storage: Storage) -> None:
    assert storage.write(KEY, io.BytesIO(b"x" * 10), max_bytes=10, chunk_size=3).size == 10
    assert storage.size(KEY) == 10


def test_max_bytes_overflow_leaves_nothing(storage: Storage) -> None:
    with pytest.raises(PayloadTooLarge):
        storage.write(KEY, io.BytesIO(b"x" * 10_000), max_bytes=9_999, chunk_size=1024)
    assert not storage.exists(KEY)
    assert stored_paths(storage) == []


def test_max_bytes_on_open_write(storage: Storage) -> None:
    with pytest.raises(PayloadTooLarge), storage.open_write(KEY, max_bytes=5) as out:
        out.write(b"1234")
        out.write(b"56")
    assert stored_paths(storage) == []


def test_failure_inside_open_write_leaves_nothing(storage: Storage) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), storage.open_write(KEY) as out:
        out.write(b"partial " * 10_000)
        raise Boom
    assert not storage.exists(KEY)
    assert stored_paths(storage) == []


def stored_folders(storage: Storage) -> list[str]:
    """Every directory under a local folder's root (object stores have none)."""
    if storage.protocol != "file":
        return []
    root = Path(storage.root)
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_dir())


def test_begin_write_commits_or_discards_across_calls(storage: Storage) -> None:
    """The writer the API keeps between awaits: invisible until commit, nothing left on discard."""
    out = storage.begin_write(KEY, max_bytes=10)
    out.write(b"abc")
    out.write(b"def")
    assert not storage.exists(KEY)
    assert out.commit() == WriteResult(size=6, sha256=sha256(b"abcdef"))
    assert read_all(storage, KEY) == b"abcdef"

    other = "users/u1/artifacts/a2/other.bin"
    dropped = storage.begin_write(other)
    dropped.write(b"partial")
    dropped.discard()
    dropped.discard()  # idempotent: an abort after an error is always safe
    assert not storage.exists(other)
    assert stored_paths(storage) == [storage.full_path(KEY)]


def test_failed_writes_and_deletes_leave_no_empty_folders(storage: Storage) -> None:
    """Issue 8: refused uploads left users/<uid>/artifacts/<aid>/ behind, empty."""
    with pytest.raises(PayloadTooLarge):
        storage.write(KEY, b"too many bytes", max_bytes=3)
    storage.begin_write("users/u2/artifacts/a9/x.bin").discard()
    assert stored_folders(storage) == []
    storage.write(KEY, b"kept")
    storage.write("users/u1/artifacts/a2/gone.bin", b"deleted")
    storage.delete("users/u1/artifacts/a2/gone.bin")
    if storage.protocol == "file":
        assert stored_folders(storage) == ["users", "users/u1", "users/u1/artifacts", "users/u1/artifacts/a1"]
    storage.delete(KEY)
    assert stored_folders(storage) == []
    assert stored_paths(storage) == []
    storage.write(KEY, b"the root still works")
    assert read_all(storage, KEY) == b"the root still works"


def test_a_write_that_cannot_open_leaves_no_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folders are made, then the open fails (a full disk here, which a test cannot make)."""
    import errno

    storage = open_storage(f"file://{tmp_path / 'root'}")
    storage.write("users/u1/artifacts/a0/kept.bin", b"kept")

    def disk_full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage.fs, "open", disk_full)
    with pytest.raises(StorageError):
        storage.write("users/u1/artifacts/a1/x.bin", b"x")
    with pytest.raises(StorageError):
        storage.write("users/u2/artifacts/a1/x.bin", b"x")
    assert sorted(str(p.relative_to(tmp_path / "root")) for p in (tmp_path / "root").rglob("*")) == [
        "users", "users/u1", "users/u1/artifacts", "users/u1/artifacts/a0", "users/u1/artifacts/a0/kept.bin",
    ]  # fmt: skip


def test_failed_writes_keep_the_previous_object(storage: Storage) -> None:
    storage.write(KEY, b"v1")
    with pytest.raises(PayloadTooLarge):
        storage.write(KEY, b"v2 is longer", max_bytes=3)
    with pytest.raises(RuntimeError), storage.open_write(KEY) as out:
        out.write(b"v3")
        raise RuntimeError("the plugin crashed")
    assert read_all(storage, KEY) == b"v1"
    assert stored_paths(storage) == [storage.full_path(KEY)]


def test_source_errors_propagate_unchanged_and_leave_nothing(storage: Storage) -> None:
    class DroppedUpload:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, size: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise ConnectionResetError("client went away")
            return b"z" * size

    with pytest.raises(ConnectionResetError):
        storage.write(KEY, DroppedUpload(), chunk_size=4096)
    assert stored_paths(storage) == []


def test_missing_object(storage: Storage) -> None:
    missing = "users/u1/artifacts/nope/file.txt"
    assert not storage.exists(missing)
    with pytest.raises(ObjectNotFound):
        storage.open_read(missing)
    with pytest.raises(ObjectNotFound):
        storage.size(missing)
    with pytest.raises(ObjectNotFound):
        storage.digest(missing)
    assert issubclass(ObjectNotFound, StorageError)


def test_a_prefix_of_keys_is_not_an_object(storage: Storage) -> None:
    storage.write("a/b/c.txt", b"x")
    assert not storage.exists("a/b")
    with pytest.raises(ObjectNotFound):
        storage.size("a/b")
    with pytest.raises(ObjectNotFound):
        storage.open_read("a/b")


def test_delete_is_idempotent(storage: Storage) -> None:
    storage.write(KEY, b"bytes")
    storage.delete(KEY)
    assert not storage.exists(KEY)
    storage.delete(KEY)
    storage.delete("never/written")
    assert stored_paths(storage) == []


@pytest.mark.parametrize(
    "key",
    ["../escape", "a/../../escape", "/etc/passwd", "a\\b", "", "a//b", "./a", "a/.", "a/\x00b", "trailing/"],
)
def test_keys_that_leave_the_root_are_rejected(storage: Storage, key: str) -> None:
    calls: list[Any] = [
        lambda: storage.write(key, b"x"),
        lambda: storage.open_write(key).__enter__(),
        lambda: storage.open_read(key),
        lambda: storage.exists(key),
        lambda: storage.size(key),
        lambda: storage.delete(key),
        lambda: storage.digest(key),
        lambda: storage.full_path(key),
    ]
    for call in calls:
        with pytest.raises(ValidationFailed):
            call()
    assert stored_paths(storage) == []


def test_backend_errors_are_translated(storage: Storage) -> None:
    if storage.protocol == "s3":
        pytest.skip("S3 keys do not nest: 'a' and 'a/b' are two independent objects there")
    storage.write("a", b"an object, not a folder")
    with pytest.raises(StorageError) as caught:
        storage.write("a/b", b"cannot go under a file")
    assert not isinstance(caught.value, OSError)
    assert caught.value.__cause__ is not None, "raise ours from the backend's error"
    assert read_all(storage, "a") == b"an object, not a folder"


def test_attributes(storage: Storage) -> None:
    assert storage.protocol in {"memory", "file", "s3"}
    assert storage.full_path("x/y.txt") == f"{storage.root}/x/y.txt"
    assert "://" in storage.url
    if storage.protocol == "s3":
        assert storage.bucket == "helixnet-tests"
        assert storage.root.startswith("helixnet-tests/")
    else:
        assert storage.bucket == {"file": "local", "memory": "memory"}[storage.protocol]
        assert storage.root.startswith("/")


# --- S3 specifics (real server) ---------------------------------------------------------------


@pytest.mark.s3
def test_s3_creates_a_missing_bucket(s3_options: dict[str, Any], s3_client: Any) -> None:
    from botocore.exceptions import ClientError

    bucket = f"hx-{uuid.uuid4().hex[:12]}"
    with pytest.raises(ClientError):
        s3_client.head_bucket(Bucket=bucket)
    storage = open_storage(f"s3://{bucket}/some/prefix", s3_options)
    assert (storage.bucket, storage.root) == (bucket, f"{bucket}/some/prefix")
    storage.write("k.txt", b"value")
    assert s3_client.get_object(Bucket=bucket, Key="some/prefix/k.txt")["Body"].read() == b"value"
    assert open_storage(f"s3://{bucket}/some/prefix", s3_options).exists("k.txt")  # existing bucket is fine


@pytest.mark.s3
def test_s3_failed_upload_leaves_no_multipart_upload(s3_options: dict[str, Any], s3_client: Any) -> None:
    prefix = uuid.uuid4().hex
    storage = open_storage(f"s3://helixnet-tests/{prefix}", s3_options)
    size = 6 << 20  # above S3's 5 MiB minimum part size
    with pytest.raises(PayloadTooLarge):
        storage.write(KEY, io.BytesIO(b"x" * size), max_bytes=size - 1)
    with pytest.raises(KeyError), storage.open_write(KEY) as out:
        out.write(b"y" * size)
        raise KeyError("crash after a full part")
    uploads = s3_client.list_multipart_uploads(Bucket="helixnet-tests", Prefix=prefix).get("Uploads", [])
    assert uploads == []
    assert s3_client.list_objects_v2(Bucket="helixnet-tests", Prefix=prefix).get("KeyCount") == 0


@pytest.mark.s3
def test_s3_unreachable_endpoint_is_a_storage_error() -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = {
        "endpoint_url": f"http://127.0.0.1:{port}",
        "key": "testing",
        "secret": "testing",
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1},
    }
    with pytest.raises(StorageError) as caught:
        open_storage(f"s3://helixnet-tests/{uuid.uuid4().hex}", options)
    assert caught.value.__cause__ is not None


# --- factory and registry ----------------------------------------------------------------------


def test_builtin_schemes_register_through_entry_points() -> None:
    found = {ep.name: ep for ep in importlib.metadata.entry_points(group="helixnet.storage")}
    for scheme in ("file", "memory", "s3"):
        assert found[scheme].load() is open_fsspec_storage
    assert {"file", "memory", "s3"} <= set(storage_schemes())


def test_unknown_scheme_names_it_and_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as caught:
        open_storage("ftp://example.org/artifacts")  # fsspec knows ftp; our registry does not
    message = str(caught.value)
    assert "'ftp'" in message
    for scheme in ("file", "memory", "s3"):
        assert scheme in message


def test_url_without_scheme_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        open_storage("/srv/helixnet/artifacts")


def test_file_url_creates_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "not" / "yet" / "there"
    storage = open_storage(folder.as_uri())
    assert folder.is_dir()
    assert (storage.protocol, storage.root, storage.bucket) == ("file", str(folder), "local")
    storage.write("k/v.bin", b"bytes")
    assert (folder / "k" / "v.bin").read_bytes() == b"bytes"


def test_memory_url_is_rooted_at_its_name() -> None:
    name = f"helixnet-test-{uuid.uuid4().hex}"
    storage = open_storage(f"memory://{name}")
    assert (storage.protocol, storage.root, storage.bucket) == ("memory", f"/{name}", "memory")
    assert storage.full_path("k") == f"/{name}/k"


def test_missing_s3fs_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # what an install without the [s3] extra looks like
    with pytest.raises(ConfigurationError, match=r'pip install "helixnet\[s3\]"'):
        open_storage("s3://bucket/prefix")


def test_importing_the_package_imports_no_optional_backend() -> None:
    code = (
        "import sys, helixnet.storage; "
        "print(sorted(m for m in ('s3fs', 'botocore', 'aiobotocore', 'moto') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_public_names_are_pinned() -> None:
    assert storage_pkg.__all__ == sorted(storage_pkg.__all__)
    assert set(storage_pkg.__all__) == {
        "ByteSource",
        "DEFAULT_CHUNK_SIZE",
        "ENTRY_POINT_GROUP",
        "Storage",
        "StorageWriter",
        "WriteResult",
        "artifact_key",
        "content_disposition",
        "open_fsspec_storage",
        "open_storage",
        "sanitize_filename",
        "storage_schemes",
        "validate_key",
    }
    for name in storage_pkg.__all__:
        assert hasattr(storage_pkg, name)
