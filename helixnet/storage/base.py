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
from typing import IO, Any, BinaryIO, cast
from urllib.parse import parse_qs, urlsplit

from fsspec import AbstractFileSystem

from helixnet.errors import ObjectNotFound, PayloadTooLarge, StorageError, ValidationFailed
from helixnet.storage.checksums import ObjectHead, checked_sha256, sha256_base64, sha256_hex
from helixnet.storage.keys import content_disposition, validate_key
from helixnet.storage.streams import ByteSource, ObjectReader, StorageWriter, WriteResult
from helixnet.storage.streams import translate_errors as _translate

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

CHECKSUM_HEADER = "x-amz-checksum-sha256"
"""The header that carries a declared sha256 to S3 (base64), which S3 checks against the body."""


def signed_headers(url: str) -> list[str]:
    """The header names a SigV4 presigned URL signed (``X-Amz-SignedHeaders``), lowercase."""
    values = parse_qs(urlsplit(url).query).get("X-Amz-SignedHeaders", [""])
    return [name for name in values[0].lower().split(";") if name]


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
        writer = self.begin_write(key, max_bytes=max_bytes)
        try:
            yield writer
        except BaseException:
            writer.discard()
            raise
        writer.commit()

    def begin_write(self, key: str, *, max_bytes: int | None = None) -> StorageWriter:
        """``open_write`` without the ``with``: call ``commit()`` or ``discard()`` on the writer.

        For writers that live across awaits (the API's uploads write each chunk as it arrives);
        until one of the two is called the object is invisible. A failed commit discards.
        """
        path = self.full_path(key)
        # The temporary name has a fixed length, so a 255-byte filename still fits beside it.
        temp = f"{path.rsplit('/', 1)[0]}/.helixnet-{uuid.uuid4().hex}.part"
        target = temp if self._staged_by_rename else path
        try:
            with _translate("opening for write", key, missing_is_not_found=False):
                file = self._open_target(path, target)
        except BaseException:
            self._prune(key)  # the folders made for it, if the open itself failed
            raise

        def finish() -> None:
            try:
                with _translate("finishing write of", key, missing_is_not_found=False):
                    self._finish(file, target, path)
            except BaseException:
                self._abandon(file, target, key)
                raise

        return StorageWriter(file, key, max_bytes, finish, lambda: self._abandon(file, target, key))

    def _open_target(self, path: str, target: str) -> IO[bytes]:
        if not self._staged_by_rename:
            return cast(IO[bytes], self._fs.open(target, "wb", autocommit=False))
        for attempt in (1, 2):
            if self.protocol == "file":
                self._fs.makedirs(path.rsplit("/", 1)[0] or "/", exist_ok=True)
            try:
                return cast(IO[bytes], self._fs.open(target, "wb"))
            except FileNotFoundError:
                # A failed upload beside this one removed the empty folder we just made; once.
                if attempt == 2 or self.protocol != "file":
                    raise
        raise AssertionError("unreachable")

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
        self._prune(key)

    def _prune(self, key: str) -> None:
        """Remove the folders of ``key`` left empty (issue 8: refused uploads left them behind).

        Only a local folder has real directories; ``rmdir`` removes empty ones only, so a
        folder another write is using survives, and the storage root itself is never touched.
        """
        if self.protocol != "file":
            return
        parts = validate_key(key).split("/")[:-1]
        while parts:
            try:
                os.rmdir(f"{self.root.rstrip('/')}/{'/'.join(parts)}")
            except FileNotFoundError:
                pass  # removed already by a failed write beside this one: go on upwards
            except OSError:
                return  # not empty: the folders above it are not empty either
            parts.pop()

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
        return cast(BinaryIO, ObjectReader(file, key))

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
        self._prune(key)

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
        sha256: str | None = None,
    ) -> str | None:
        """A URL for one request straight to the object store, or ``None`` when the app must serve it.

        Only S3 has such URLs; a folder or memory has none, so the API streams those bytes itself.
        The URL is SigV4 (``open_fsspec_storage`` sets it), so for a PUT ``content_type``, ``size``
        and ``create_only`` are signed headers: S3 itself refuses another Content-Type, another
        Content-Length, and (``If-None-Match: *``) a second upload to a key that already has bytes.
        The client must send those headers as signed. ``sha256`` (hex) is signed the same way, as
        ``x-amz-checksum-sha256`` (with ``x-amz-sdk-checksum-algorithm: SHA256``): S3 refuses a body
        with another digest and keeps the checksum for ``head``. For a GET, ``filename`` and
        ``content_type`` become the response's Content-Disposition (attachment) and Content-Type.
        """
        path = self.full_path(key)
        if method not in _PRESIGN_OPERATIONS:
            raise ValidationFailed.field(["method"], "must be PUT or GET")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int):
            raise ValidationFailed.field(["expires_in"], "must be a whole number of seconds")
        if not 0 < expires_in <= MAX_PRESIGN_SECONDS:
            raise ValidationFailed.field(["expires_in"], f"must be 1 to {MAX_PRESIGN_SECONDS} seconds")
        sha256 = checked_sha256(sha256)
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
            if sha256 is not None:
                params["ChecksumSHA256"] = sha256_base64(sha256)
                # S3 ignores it beside a checksum; moto (5.2) keeps the checksum only with it.
                params["ChecksumAlgorithm"] = "SHA256"
        else:
            if filename:
                params["ResponseContentDisposition"] = content_disposition(filename)
            if content_type:
                params["ResponseContentType"] = content_type
        fs: Any = self._fs
        with _translate("presigning", key, missing_is_not_found=False):
            # s3fs's url() is generate_presigned_url on its own client: endpoint, region and
            # credentials are the ones every other call uses. Signing is local, no request is sent.
            url = str(fs.url(path, expires=expires_in, client_method=_PRESIGN_OPERATIONS[method], **params))
        if sha256 is not None and CHECKSUM_HEADER not in signed_headers(url):
            # Other SDKs "hoist" x-amz-* headers into the query string, where S3 does not check a
            # checksum (aws-sdk-go-v2#2610, aws-sdk-js-v3#4448): refuse rather than hand out a URL
            # that only looks checked. botocore 1.43 signs it as a header.
            raise StorageError(f"the presigned PUT for {key!r} does not sign {CHECKSUM_HEADER}; S3 would not check it")
        return url

    def head(self, key: str) -> ObjectHead:
        """Size, tag and verified sha256 of a stored object from one HEAD: no byte is read.

        On S3 the HEAD asks for the checksum (``ChecksumMode=ENABLED``): S3 returns the sha256 it
        verified at upload, if the upload sent one. A folder or memory has neither tag nor checksum.
        """
        if self.protocol != "s3":
            return ObjectHead(size=self.size(key))
        fs: Any = self._fs
        bucket, object_key, _ = fs.split_path(self.full_path(key))
        with _translate("checking", key):
            reply = fs.call_s3("head_object", Bucket=bucket, Key=object_key, ChecksumMode="ENABLED")
        checksum = reply.get("ChecksumSHA256")
        # A multipart upload's checksum is COMPOSITE (a checksum of the parts): not the bytes' sha256.
        whole = reply.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT"
        return ObjectHead(
            size=int(reply["ContentLength"]),
            etag=str(reply["ETag"]).strip('"') if reply.get("ETag") else None,
            sha256=sha256_hex(checksum) if checksum and whole else None,
        )

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
    "CHECKSUM_HEADER",
    "DEFAULT_CHUNK_SIZE",
    "MAX_PRESIGN_SECONDS",
    "S3_MAX_PUT_BYTES",
    "ByteSource",
    "ObjectHead",
    "Storage",
    "StorageWriter",
    "WriteResult",
    "signed_headers",
]
