"""``Storage``: one fsspec filesystem and a root, seen as a flat space of object keys.

fsspec gives the backends; this wrapper gives them all the same promises: bytes stream
in chunks with size and sha256 computed on the way; a failed write (an error, too many
bytes, an exception in the caller's ``with`` block) leaves nothing at the key and any
previous object untouched; callers only see our errors, never OSError/fsspec/botocore.

A write stays invisible until complete: local folder and memory write to a temporary
name beside the key and rename it into place (``os.replace`` is atomic); object stores
open with ``autocommit=False``, so S3 completes the multipart upload only on
``commit()`` and ``discard()`` aborts it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, Protocol, cast

from fsspec import AbstractFileSystem

from helixnet.errors import (
    HelixNetError,
    ObjectNotFound,
    PayloadTooLarge,
    StorageError,
    ValidationFailed,
)
from helixnet.storage.keys import content_disposition, validate_key

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 1 << 20
"""Bytes per step when copying: large enough for throughput, small enough to keep memory flat."""

_FOLDER_PROTOCOLS = frozenset({"file", "memory"})
#: What an artifact's ``bucket`` says on storages that have no bucket (issue 9: no server paths).
_LOGICAL_BUCKETS = {"file": "local", "local": "local", "memory": "memory"}
"""Backends where rename is cheap, so writes are staged under a temporary name."""

MAX_PRESIGN_SECONDS = 7 * 24 * 3600
"""Longest life of a SigV4 presigned URL: S3 refuses to sign for longer."""

S3_MAX_PUT_BYTES = 5 * 1024**3
"""Largest object S3 takes in one PUT; a presigned URL is one PUT (multipart is not signed here)."""

_PRESIGN_OPERATIONS = {"PUT": "put_object", "GET": "get_object"}


class ByteSource(Protocol):
    """Anything ``write`` can copy from: ``read(n)`` returns at most n bytes, ``b""`` at the end."""

    def read(self, size: int = ..., /) -> bytes: ...


@dataclass(frozen=True)
class WriteResult:
    """What was stored: the numbers an Artifact row records."""

    size: int
    sha256: str


@contextmanager
def _translate(action: str, key: str, *, missing_is_not_found: bool = True) -> Iterator[None]:
    """Translate backend errors at the edge, so nothing from fsspec/botocore/OS leaks out."""
    try:
        yield
    except HelixNetError:
        raise
    except (FileNotFoundError, IsADirectoryError) as exc:
        if missing_is_not_found:
            raise ObjectNotFound(f"no object at key {key!r}") from exc
        raise StorageError(f"{action} {key!r} failed: {exc}") from exc
    except Exception as exc:
        raise StorageError(f"{action} {key!r} failed: {exc}") from exc


class StorageWriter(io.RawIOBase):
    """The write-only stream ``Storage.open_write`` yields.

    It counts and hashes every byte on the way through, so callers get ``result`` (size
    and sha256) without reading the object back, and it enforces ``max_bytes`` before a
    byte too many reaches the backend.
    """

    def __init__(self, file: IO[bytes], key: str, max_bytes: int | None) -> None:
        super().__init__()
        self._file = file
        self._key = key
        self._max_bytes = max_bytes
        self._size = 0
        self._hash = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed StorageWriter")
        nbytes = memoryview(data).nbytes
        if self._max_bytes is not None and self._size + nbytes > self._max_bytes:
            raise PayloadTooLarge(f"more than {self._max_bytes} bytes for key {self._key!r}")
        with _translate("writing", self._key, missing_is_not_found=False):
            self._file.write(data)
        self._hash.update(data)
        self._size += nbytes
        return nbytes

    def tell(self) -> int:
        return self._size

    @property
    def result(self) -> WriteResult:
        """Size and sha256 of everything written so far."""
        return WriteResult(size=self._size, sha256=self._hash.hexdigest())


class _Reader(io.RawIOBase):
    """A read stream whose errors are ours (reads from S3 can fail long after open)."""

    def __init__(self, file: IO[bytes], key: str) -> None:
        super().__init__()
        self._file = file
        self._key = key

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        with _translate("reading", self._key):
            return self._file.read(-1 if size is None else size)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(view.nbytes)
        view[: len(data)] = data
        return len(data)

    def seekable(self) -> bool:
        return bool(self._file.seekable())

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        with _translate("seeking", self._key):
            return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        if self.closed:
            return
        try:
            with _translate("closing", self._key):
                self._file.close()
        finally:
            super().close()


class Storage:
    """Artifact bytes under one root of one fsspec filesystem; build it with ``open_storage(url)``.

    Keys are relative and ``/``-separated (``keys.validate_key``). Attributes: ``url`` as
    opened (options, hence secrets, are not kept in it); ``protocol`` (``"file"``,
    ``"memory"``, ``"s3"``); ``root``, the path keys live under (``bucket/prefix`` on S3);
    ``bucket``, the S3 bucket, or the logical name ``"local"`` (a folder) or ``"memory"``: it is
    recorded on every artifact and shown by the API, which must not reveal the server's paths.
    """

    url: str
    protocol: str
    bucket: str
    root: str

    def __init__(self, fs: AbstractFileSystem, root: str, *, url: str) -> None:
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self._fs = fs
        self.url = url
        self.protocol = protocol
        self.root = root.rstrip("/") or "/"
        self.bucket = _LOGICAL_BUCKETS.get(protocol) or self.root.split("/", 1)[0]
        self._staged_by_rename = protocol in _FOLDER_PROTOCOLS

    def __repr__(self) -> str:
        return f"Storage({self.url!r})"

    @property
    def fs(self) -> AbstractFileSystem:
        """The fsspec filesystem, for adapters inside helixnet (e.g. presigned URLs) only."""
        return self._fs

    def full_path(self, key: str) -> str:
        """The filesystem path of ``key`` (what fsspec calls open with)."""
        return f"{self.root.rstrip('/')}/{validate_key(key)}"

    def write(
        self,
        key: str,
        source: bytes | ByteSource,
        *,
        max_bytes: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> WriteResult:
        """Copy ``source`` to ``key`` chunk by chunk; nothing is left at ``key`` on failure.

        ``source`` is read with ``read(chunk_size)`` until it returns nothing, so a
        multi-gigabyte upload never sits in memory. Errors raised by ``source`` itself
        propagate unchanged (they are the caller's); backend errors become ``StorageError``.
        """
        if chunk_size <= 0:
            raise ValidationFailed.field(["chunk_size"], "must be positive")
        stream = io.BytesIO(source) if isinstance(source, bytes | bytearray | memoryview) else source
        with self.open_write(key, max_bytes=max_bytes) as out:
            while chunk := stream.read(chunk_size):
                out.write(chunk)
        return out.result

    @contextmanager
    def open_write(self, key: str, *, max_bytes: int | None = None) -> Iterator[StorageWriter]:
        """A streaming writer for ``key``; the object appears only when the block exits cleanly.

        If the ``with`` block raises (or ``max_bytes`` is exceeded), what was written is
        thrown away, any previous object at ``key`` is kept, and the exception propagates.
        """
        path = self.full_path(key)
        # The temporary name has a fixed length, so a 255-byte filename still fits beside it.
        temp = f"{path.rsplit('/', 1)[0]}/.helixnet-{uuid.uuid4().hex}.part"
        target = temp if self._staged_by_rename else path
        with _translate("opening for write", key, missing_is_not_found=False):
            if self.protocol == "file":
                self._fs.makedirs(path.rsplit("/", 1)[0] or "/", exist_ok=True)
            if self._staged_by_rename:
                file = self._fs.open(target, "wb")
            else:
                file = self._fs.open(target, "wb", autocommit=False)
        writer = StorageWriter(file, key, max_bytes)
        try:
            yield writer
            with _translate("finishing write of", key, missing_is_not_found=False):
                self._finish(file, target, path)
        except BaseException:
            self._abandon(file, target, key)
            raise
        finally:
            writer.close()

    def _finish(self, file: IO[bytes], target: str, path: str) -> None:
        file.close()
        if not self._staged_by_rename:
            cast(Any, file).commit()
        elif self.protocol == "file":
            os.replace(target, path)  # atomic; shutil.move (fs.mv) would move *into* a directory
        else:
            self._fs.mv(target, path)

    def _abandon(self, file: IO[bytes], target: str, key: str) -> None:
        """Throw a failed write away; log cleanup errors so the original error is the one raised."""
        with suppress(Exception):
            file.close()  # uploads S3's last buffered part, which discard() then aborts
        try:
            if self._staged_by_rename:
                self._fs.rm_file(target)
            else:
                cast(Any, file).discard()
        except FileNotFoundError:
            pass
        except Exception:
            logger.warning("cleaning up abandoned write of %r failed", key, exc_info=True)

    def open_read(self, key: str) -> BinaryIO:
        """A binary stream over the object at ``key``; ``ObjectNotFound`` if there is none."""
        path = self.full_path(key)
        with _translate("opening", key):
            if self.protocol == "memory":
                # fsspec's memory fs hands out the stored BytesIO itself: two readers would
                # share one position. A copy is cheap here, the bytes are in memory anyway.
                file: IO[bytes] = io.BytesIO(self._fs.cat_file(path))
            elif self.protocol == "file":
                file = self._fs.open(path, "rb")  # a directory fails here (IsADirectoryError)
            else:
                # Object stores open a "directory" prefix as an empty file: ask first.
                if self._fs.info(path).get("type") != "file":
                    raise ObjectNotFound(f"no object at key {key!r}")
                file = self._fs.open(path, "rb")
        return cast(BinaryIO, _Reader(file, key))

    def exists(self, key: str) -> bool:
        """Whether an object is stored at ``key`` (a "directory" of keys is not one)."""
        path = self.full_path(key)
        with _translate("checking", key):
            return bool(self._fs.isfile(path))

    def size(self, key: str) -> int:
        """Stored size in bytes; ``ObjectNotFound`` if there is no object."""
        path = self.full_path(key)
        with _translate("sizing", key):
            info = self._fs.info(path)
        if info.get("type") != "file":
            raise ObjectNotFound(f"no object at key {key!r}")
        return int(info["size"])

    def delete(self, key: str) -> None:
        """Remove the object at ``key``; a missing object is fine (deletes are retried)."""
        path = self.full_path(key)
        with _translate("deleting", key, missing_is_not_found=False), suppress(FileNotFoundError):
            self._fs.rm_file(path)

    def presign(
        self,
        key: str,
        method: str,
        expires_in: int,
        *,
        content_type: str | None = None,
        size: int | None = None,
        filename: str | None = None,
        create_only: bool = False,
    ) -> str | None:
        """A URL for one request straight to the object store, or ``None`` when the app must serve it.

        Only S3 has such URLs; a folder or memory has none, so the API streams those bytes itself.
        The URL is SigV4 (``open_fsspec_storage`` sets it), so for a PUT ``content_type``, ``size``
        and ``create_only`` are signed headers: S3 itself refuses another Content-Type, another
        Content-Length, and (``If-None-Match: *``) a second upload to a key that already has bytes.
        The client must send those headers as signed. For a GET, ``filename`` and ``content_type``
        become the response's Content-Disposition (attachment) and Content-Type.
        """
        path = self.full_path(key)
        if method not in _PRESIGN_OPERATIONS:
            raise ValidationFailed.field(["method"], "must be PUT or GET")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int):
            raise ValidationFailed.field(["expires_in"], "must be a whole number of seconds")
        if not 0 < expires_in <= MAX_PRESIGN_SECONDS:
            raise ValidationFailed.field(["expires_in"], f"must be 1 to {MAX_PRESIGN_SECONDS} seconds")
        if self.protocol != "s3":
            return None
        params: dict[str, Any] = {}
        if method == "PUT":
            if size is not None:
                if size > S3_MAX_PUT_BYTES:
                    raise PayloadTooLarge(f"S3 takes at most {S3_MAX_PUT_BYTES} bytes in one PUT; got {size}")
                params["ContentLength"] = size
            if content_type:
                params["ContentType"] = content_type
            if create_only:
                params["IfNoneMatch"] = "*"
        else:
            if filename:
                params["ResponseContentDisposition"] = content_disposition(filename)
            if content_type:
                params["ResponseContentType"] = content_type
        fs: Any = self._fs
        with _translate("presigning", key, missing_is_not_found=False):
            # s3fs's url() is generate_presigned_url on its own client: endpoint, region and
            # credentials are the ones every other call uses. Signing is local, no request is sent.
            return str(fs.url(path, expires=expires_in, client_method=_PRESIGN_OPERATIONS[method], **params))

    def digest(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> WriteResult:
        """Size and sha256 of a stored object, streamed: to verify what a client uploaded."""
        sha256 = hashlib.sha256()
        size = 0
        with self.open_read(key) as stream:
            while chunk := stream.read(chunk_size):
                sha256.update(chunk)
                size += len(chunk)
        return WriteResult(size=size, sha256=sha256.hexdigest())


__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_PRESIGN_SECONDS",
    "S3_MAX_PUT_BYTES",
    "ByteSource",
    "Storage",
    "StorageWriter",
    "WriteResult",
]
