"""Where uploaded bytes come from and downloaded bytes go, streamed in chunks: never a whole file in memory.

An upload declares its exact size and sha256 before a byte moves (the API signs both into the
upload URL, and S3 then checks the body itself), so a source is read twice: once to hash, once to
send. A download is written to a hidden ``.part`` file beside the destination and renamed into
place only when its size and sha256 match the artifact's: an interrupted download leaves nothing
that looks complete.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

import anyio.to_thread

from helixnet.errors import StorageError, ValidationFailed

CHUNK = 1 << 20
"""Bytes read or written at once: few system calls and thread hops, flat memory."""

#: What ``upload`` and ``submit(files=...)`` accept: a path, the bytes themselves, or a binary file.
UploadSource = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO | IO[bytes]
#: Where ``download`` writes: a path (a folder: the artifact's filename in it) or a writable binary file.
DownloadTarget = str | os.PathLike[str] | BinaryIO | IO[bytes]


class Source:
    """Bytes to upload with their size, sha256 and filename, known before sending."""

    def __init__(self, data: UploadSource, filename: str | None = None, content_type: str | None = None,
                 *, loc: str = "file") -> None:  # fmt: skip
        self.content_type = content_type
        self._loc = loc
        self._owned = True
        if isinstance(data, bytes | bytearray | memoryview):
            self._file: IO[bytes] = io.BytesIO(bytes(data))
            self.filename = filename or "upload.bin"
        elif isinstance(data, str | os.PathLike):
            path = Path(data)
            try:
                self._file = path.open("rb")
            except OSError as exc:
                raise ValidationFailed.field([loc], f"cannot read {path}: {exc.strerror or exc}") from exc
            self.filename = filename or path.name
        elif hasattr(data, "read"):
            if isinstance(data, io.TextIOBase):
                raise ValidationFailed.field([loc], "a text file; open it in binary mode ('rb')")
            name = getattr(data, "name", None)
            self.filename = filename or (Path(name).name if isinstance(name, str) and name else "upload.bin")
            self._owned = not _seekable(data)  # a spool of ours is closed; the caller's file is theirs
            self._file = _spooled(data) if self._owned else data
        else:
            raise ValidationFailed.field([loc], f"expected a path, bytes or a binary file, not {type(data).__name__}")
        self._start = self._file.tell()
        self.size, self.sha256 = self._measure()

    def _measure(self) -> tuple[int, str]:
        digest, size = hashlib.sha256(), 0
        while chunk := self._file.read(CHUNK):
            if not isinstance(chunk, bytes):
                raise ValidationFailed.field([self._loc], "a text file; open it in binary mode ('rb')")
            digest.update(chunk)
            size += len(chunk)
        self._file.seek(self._start)
        return size, digest.hexdigest()

    def _read(self, remaining: int) -> bytes:
        return self._file.read(min(CHUNK, remaining))

    def chunks(self) -> Iterator[bytes]:
        """The bytes, exactly ``size`` of them (a file that grew meanwhile sends what was measured)."""
        self._file.seek(self._start)
        remaining = self.size
        while remaining > 0 and (chunk := self._read(remaining)):
            remaining -= len(chunk)
            yield chunk

    async def achunks(self) -> AsyncIterator[bytes]:
        """``chunks`` for the async client: disk reads run in a worker thread, off the event loop."""
        in_memory = isinstance(self._file, io.BytesIO)
        self._file.seek(self._start)  # no I/O: only the reads go to a thread
        remaining = self.size
        while remaining > 0:
            chunk = self._read(remaining) if in_memory else await anyio.to_thread.run_sync(self._read, remaining)
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk

    def close(self) -> None:
        if self._owned:
            self._file.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _seekable(file: Any) -> bool:
    try:
        return bool(file.seekable())
    except (AttributeError, ValueError, OSError):
        return False


def _spooled(file: Any) -> IO[bytes]:
    """A pipe or socket cannot be read twice: copy it to a temporary file (in memory while small)."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 * CHUNK)  # noqa: SIM115 - closed by Source.close
    while chunk := file.read(CHUNK):
        spool.write(chunk)
    spool.seek(0)
    return spool


class Sink:
    """A download's destination: a ``.part`` file renamed into place when complete, or the caller's file."""

    def __init__(self, dest: DownloadTarget, filename: str, fallback_name: str) -> None:
        self.count = 0
        self._digest = hashlib.sha256()
        self.path: Path | None = None
        self._part: Path | None = None
        if hasattr(dest, "write"):
            self._file: IO[bytes] = dest  # type: ignore[assignment]
            return
        path = Path(dest)
        if path.is_dir():
            name = Path(filename).name
            path = path / (name if name not in ("", ".", "..") else fallback_name)
        self.path = path
        self._part = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        try:
            # 0o666 less the umask: the file ends with the permissions any new file would have.
            fd = os.open(self._part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except OSError as exc:
            raise ValidationFailed.field(["dest"], f"cannot write {path}: {exc.strerror or exc}") from exc
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._digest.update(chunk)
        self.count += len(chunk)

    def finish(self, size: int | None, sha256: str | None) -> Path | int:
        """Check what arrived against the artifact, then put it in place; the path, or the count."""
        if size is not None and self.count != size:
            raise StorageError(f"download incomplete: {self.count} of {size} bytes arrived")
        if sha256 is not None and self._digest.hexdigest() != sha256:
            raise StorageError("download corrupt: its sha256 differs from the artifact's")
        if self.path is None or self._part is None:
            return self.count
        self._file.close()
        os.replace(self._part, self.path)
        self._part = None
        return self.path

    def discard(self) -> None:
        """After a failure: the partial file goes; the caller's own file is left as it is."""
        if self._part is not None:
            self._file.close()
            self._part.unlink(missing_ok=True)
            self._part = None


__all__ = ["CHUNK", "DownloadTarget", "Sink", "Source", "UploadSource"]
