"""The streams ``Storage`` hands out: a counting, hashing writer and a reader, with our errors only.

Split from ``base.py`` to keep each module to one concern; ``base`` re-exports these names.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Protocol

from helixnet.errors import HelixNetError, ObjectNotFound, PayloadTooLarge, StorageError


class ByteSource(Protocol):
    """Anything ``write`` can copy from: ``read(n)`` returns at most n bytes, ``b""`` at the end."""

    def read(self, size: int = ..., /) -> bytes: ...


@dataclass(frozen=True)
class WriteResult:
    """What was stored: the numbers an Artifact row records."""

    size: int
    sha256: str


@contextmanager
def translate_errors(action: str, key: str, *, missing_is_not_found: bool = True) -> Iterator[None]:
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

    def __init__(self, file: IO[bytes], key: str, max_bytes: int | None,
                 finish: Callable[[], None] | None = None, abandon: Callable[[], None] | None = None) -> None:  # fmt: skip
        super().__init__()
        self._file = file
        self._key = key
        self._max_bytes = max_bytes
        self._size = 0
        self._hash = hashlib.sha256()
        self._finish = finish
        self._abandon = abandon

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed StorageWriter")
        nbytes = memoryview(data).nbytes
        if self._max_bytes is not None and self._size + nbytes > self._max_bytes:
            raise PayloadTooLarge(f"more than {self._max_bytes} bytes for key {self._key!r}")
        with translate_errors("writing", self._key, missing_is_not_found=False):
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

    def commit(self) -> WriteResult:
        """Make the object appear at its key; if that fails, nothing is left and the error is raised."""
        finish, self._finish, self._abandon = self._finish, None, None
        try:
            if finish is not None:
                finish()
        finally:
            self.close()
        return self.result

    def discard(self) -> None:
        """Throw away what was written (idempotent); any previous object at the key stays."""
        abandon, self._finish, self._abandon = self._abandon, None, None
        try:
            if abandon is not None:
                abandon()
        finally:
            self.close()


class ObjectReader(io.RawIOBase):
    """A read stream whose errors are ours (reads from S3 can fail long after open)."""

    def __init__(self, file: IO[bytes], key: str) -> None:
        super().__init__()
        self._file = file
        self._key = key

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        with translate_errors("reading", self._key):
            return self._file.read(-1 if size is None else size)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(view.nbytes)
        view[: len(data)] = data
        return len(data)

    def seekable(self) -> bool:
        return bool(self._file.seekable())

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        with translate_errors("seeking", self._key):
            return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        if self.closed:
            return
        try:
            with translate_errors("closing", self._key):
                self._file.close()
        finally:
            super().close()


__all__ = ["ByteSource", "ObjectReader", "StorageWriter", "WriteResult", "translate_errors"]
