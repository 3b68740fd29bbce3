"""Artifacts: files that jobs read and write, their bytes in storage, their facts in the database.

Small files may go through ``create``. Big ones take two steps so their bytes never pass through
the app on S3: ``begin_upload`` records a PENDING row and ``upload_request`` hands out a short-lived
signed PUT (S3's own presigned URL, or a token for the app's storage route on a local folder);
``complete`` then checks what arrived and makes the artifact AVAILABLE. ``download_request`` is
the same for reading. ``redeem``, ``receive`` and ``send`` are what the app's storage route calls
for backends with no URLs of their own.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import IO, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from helixnet.core.config import Settings
from helixnet.core.db import Database
from helixnet.core.models import Artifact, ArtifactStatus, new_id, utcnow
from helixnet.core.presign import ObjectGrant, ObjectUrlSigner, SignedRequest
from helixnet.core.schemas import ArtifactRead
from helixnet.core.users import UserRef, user_id_of
from helixnet.errors import (
    Conflict,
    NotFound,
    ObjectNotFound,
    PayloadTooLarge,
    PermissionDenied,
    ValidationFailed,
)
from helixnet.storage import (
    DEFAULT_CHUNK_SIZE,
    ByteSource,
    Storage,
    WriteResult,
    artifact_key,
    sanitize_filename,
)
from helixnet.storage.base import S3_MAX_PUT_BYTES

MAX_CONTENT_TYPE_CHARS = 255
"""The width of ``artifacts.content_type``; it also travels in a signed header."""


def guess_content_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def can_see(viewer: UserRef | None, owner_id: str) -> bool:
    """Nobody sees another user's objects, admins aside; ``None`` is trusted embedding code."""
    if viewer is None:
        return True
    if getattr(viewer, "is_admin", False):
        return True
    return user_id_of(viewer) == owner_id


class ArtifactService:
    def __init__(
        self,
        db: Database,
        storage: Storage,
        *,
        max_upload_bytes: int,
        url_signer: ObjectUrlSigner,
        upload_expires_seconds: int = 3600,
        download_expires_seconds: int = 300,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._storage = storage
        self._max_upload_bytes = max_upload_bytes
        self._signer = url_signer
        self._upload_expires = upload_expires_seconds
        self._download_expires = download_expires_seconds
        self._clock = clock

    @classmethod
    def from_settings(
        cls, db: Database, storage: Storage, settings: Settings, *, clock: Callable[[], datetime] = utcnow
    ) -> ArtifactService:
        """The service as ``HelixNet`` wires it: limits, URL lifetimes and signing keys from settings."""
        return cls(
            db,
            storage,
            max_upload_bytes=settings.max_upload_bytes,
            url_signer=ObjectUrlSigner(settings.signing_keys()),
            upload_expires_seconds=settings.upload_url_expires_seconds,
            download_expires_seconds=settings.download_url_expires_seconds,
            clock=clock,
        )

    @property
    def storage(self) -> Storage:
        return self._storage

    def create(
        self,
        user: UserRef,
        filename: str,
        data: bytes | IO[bytes],
        content_type: str | None = None,
        *,
        max_bytes: int | None = None,
    ) -> ArtifactRead:
        """Stream ``data`` into storage, then record it; a failed record leaves no orphan bytes."""
        if not isinstance(filename, str) or not filename.strip():
            raise ValidationFailed.field(["filename"], "must not be empty")
        owner_id = user_id_of(user)
        artifact_id = new_id()
        safe_name = sanitize_filename(filename)
        key = artifact_key(owner_id, artifact_id, safe_name)
        limit = min(max_bytes or self._max_upload_bytes, self._max_upload_bytes)
        written = self._storage.write(key, data, max_bytes=limit)
        try:
            with self._db.write() as session:
                row = Artifact(
                    id=artifact_id,
                    owner_id=owner_id,
                    bucket=self._storage.bucket,
                    object_name=key,
                    filename=safe_name,
                    content_type=well_formed_media_type(content_type) or guess_content_type(safe_name),
                    size=written.size,
                    sha256=written.sha256,
                    status=ArtifactStatus.AVAILABLE,
                )
                session.add(row)
                session.flush()
                return ArtifactRead.model_validate(row)
        except BaseException:
            self._storage.delete(key)
            raise

    def get(self, artifact_id: str, user: UserRef | None = None) -> ArtifactRead:
        with self._db.read() as session:
            return ArtifactRead.model_validate(self._visible(session, artifact_id, user))

    def open(self, artifact_id: str, user: UserRef | None = None) -> IO[bytes]:
        """A binary stream of the artifact's bytes; the caller closes it."""
        artifact = self.get(artifact_id, user)
        if artifact.status != ArtifactStatus.AVAILABLE:
            raise NotFound(f"artifact {artifact_id} has no content ({artifact.status.value.lower()})")
        return self._storage.open_read(artifact.object_name)

    def read_bytes(self, artifact_id: str, user: UserRef | None = None) -> bytes:
        with self.open(artifact_id, user) as handle:
            return handle.read()

    def list(self, user: UserRef, *, limit: int = 100, job_id: str | None = None) -> list[ArtifactRead]:
        with self._db.read() as session:
            query = (
                select(Artifact)
                .where(Artifact.owner_id == user_id_of(user), Artifact.status != ArtifactStatus.DELETED)
                .order_by(Artifact.created_at.desc(), Artifact.id.desc())
                .limit(limit)
            )
            if job_id is not None:
                query = query.where(Artifact.job_id == job_id)
            return [ArtifactRead.model_validate(row) for row in session.scalars(query)]

    def delete(self, artifact_id: str, user: UserRef | None = None) -> None:
        with self._db.write() as session:
            row = self._visible(session, artifact_id, user)
            row.status = ArtifactStatus.DELETED
            key = row.object_name
        self._storage.delete(key)

    # -- two-step upload and signed URLs --------------------------------------------------------------

    def begin_upload(
        self, user: UserRef, filename: str, size: int, content_type: str | None = None
    ) -> ArtifactRead:
        """Record an announced upload (PENDING, with its declared size); no bytes move yet."""
        if not isinstance(filename, str) or not filename.strip():
            raise ValidationFailed.field(["filename"], "must not be empty")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValidationFailed.field(["size"], "must be a whole number of bytes, 0 or more")
        limit = self._max_upload_bytes
        if self._storage.protocol == "s3":
            limit = min(limit, S3_MAX_PUT_BYTES)  # one presigned PUT; S3 refuses more
        if size > limit:
            errors = [{"loc": ["size"], "msg": f"must be at most {limit} bytes"}]
            raise PayloadTooLarge(f"{size} bytes is more than the {limit} this server accepts", errors=errors)
        owner_id = user_id_of(user)
        artifact_id = new_id()
        safe_name = sanitize_filename(filename)
        with self._db.write() as session:
            row = Artifact(
                id=artifact_id,
                owner_id=owner_id,
                bucket=self._storage.bucket,
                object_name=artifact_key(owner_id, artifact_id, safe_name),
                filename=safe_name,
                content_type=_content_type(content_type, safe_name),
                size=size,
                sha256=None,
                status=ArtifactStatus.PENDING,
            )
            session.add(row)
            session.flush()
            return ArtifactRead.model_validate(row)

    def upload_request(
        self, artifact_id: str, user: UserRef | None = None, *, expires_in: int | None = None
    ) -> SignedRequest:
        """A signed PUT for a PENDING artifact's bytes: exactly the declared size, once."""
        artifact = self.get(artifact_id, user)
        if artifact.status != ArtifactStatus.PENDING:
            raise Conflict(f"artifact {artifact_id} is already uploaded")
        seconds = self._upload_expires if expires_in is None else expires_in
        headers = {"Content-Type": artifact.content_type}
        url = self._storage.presign(
            artifact.object_name,
            "PUT",
            seconds,
            content_type=artifact.content_type,
            size=artifact.size,
            create_only=True,
        )
        if url is not None:
            headers["If-None-Match"] = "*"  # signed: S3 refuses a second upload to the key
        return self._signed(artifact, "PUT", seconds, url, headers, artifact.size)

    def complete(self, artifact_id: str, user: UserRef | None = None) -> ArtifactRead:
        """Check what was uploaded and make the artifact AVAILABLE; again on AVAILABLE is a no-op.

        The bytes are read back once (streamed) for their size and sha256: the database records
        what storage really holds, whatever the client claimed.
        """
        artifact = self.get(artifact_id, user)
        if artifact.status == ArtifactStatus.AVAILABLE:
            return artifact
        try:
            stored = self._storage.digest(artifact.object_name)
        except ObjectNotFound as exc:
            raise Conflict(
                f"artifact {artifact_id} has no bytes uploaded yet; send them to its upload URL first"
            ) from exc
        if artifact.size is not None and stored.size != artifact.size:
            # Thrown away so the same (still valid) upload URL can be used again.
            self._storage.delete(artifact.object_name)
            msg = f"{stored.size} bytes were uploaded but {artifact.size} were declared"
            errors = [{"loc": ["size"], "msg": msg}]
            raise Conflict(f"artifact {artifact_id}: {msg}; they were discarded, upload again", errors=errors)
        with self._db.write() as session:
            row = self._visible(session, artifact_id, user)
            if row.status == ArtifactStatus.PENDING:
                row.status = ArtifactStatus.AVAILABLE
                row.size = stored.size
                row.sha256 = stored.sha256
            return ArtifactRead.model_validate(row)

    def download_request(
        self, artifact_id: str, user: UserRef | None = None, *, expires_in: int | None = None
    ) -> SignedRequest:
        """A signed GET for an AVAILABLE artifact's bytes."""
        artifact = self.get(artifact_id, user)
        if artifact.status != ArtifactStatus.AVAILABLE:
            raise Conflict(f"artifact {artifact_id} is not uploaded yet")
        seconds = self._download_expires if expires_in is None else expires_in
        url = self._storage.presign(
            artifact.object_name,
            "GET",
            seconds,
            content_type=artifact.content_type,
            filename=artifact.filename,
        )
        return self._signed(artifact, "GET", seconds, url, {}, artifact.size)

    def redeem(self, token: str, method: str) -> ObjectGrant:
        """Check a token from the app's storage URL: genuine, unexpired, and the artifact still wants it."""
        grant = self._signer.verify(token, method, self._clock())
        with self._db.read() as session:
            row = session.get(Artifact, grant.artifact_id)
            if row is None or row.status == ArtifactStatus.DELETED or row.object_name != grant.key:
                raise NotFound(f"artifact {grant.artifact_id} not found")
            status = row.status
        if grant.method == "PUT" and status != ArtifactStatus.PENDING:
            raise Conflict(f"artifact {grant.artifact_id} is already uploaded")
        if grant.method == "GET" and status != ArtifactStatus.AVAILABLE:
            raise Conflict(f"artifact {grant.artifact_id} is not uploaded yet")
        return grant

    def receive(self, grant: ObjectGrant, source: ByteSource) -> WriteResult:
        """Stream an upload to the grant's key: exactly the declared size, never over a limit.

        Like S3 with our signed headers, a key takes one upload (``complete`` discards a wrong
        one), and a body of another size is refused; on any error nothing is left at the key.
        """
        _require_method(grant, "PUT")
        if self._storage.exists(grant.key):
            raise Conflict(f"the bytes of artifact {grant.artifact_id} are already uploaded; complete it")
        limit = self._max_upload_bytes
        if grant.max_bytes is not None:
            limit = min(limit, grant.max_bytes)
        try:
            with self._storage.open_write(grant.key, max_bytes=limit) as out:
                while chunk := source.read(DEFAULT_CHUNK_SIZE):
                    out.write(chunk)
                if grant.max_bytes is not None and out.tell() != grant.max_bytes:
                    msg = f"{out.tell()} bytes sent, {grant.max_bytes} declared"
                    raise ValidationFailed.field(["body"], msg)
        except PayloadTooLarge as exc:
            errors = [{"loc": ["body"], "msg": f"must be at most {limit} bytes"}]
            detail = f"more than the {limit} bytes allowed for artifact {grant.artifact_id}"
            raise PayloadTooLarge(detail, errors=errors) from exc
        return out.result

    def send(self, grant: ObjectGrant) -> BinaryIO:
        """A stream over the grant's object, for the app to copy to the client; the caller closes it."""
        _require_method(grant, "GET")
        try:
            return self._storage.open_read(grant.key)
        except ObjectNotFound as exc:
            raise NotFound(f"artifact {grant.artifact_id} has no content") from exc

    def _signed(
        self,
        artifact: ArtifactRead,
        method: str,
        seconds: int,
        url: str | None,
        headers: dict[str, str],
        max_bytes: int | None,
    ) -> SignedRequest:
        """The storage's own URL when it has one, else a token for the app's storage route."""
        # Whole seconds: the token keeps a Unix timestamp, and both must say the same instant.
        expires_at = self._clock().replace(microsecond=0) + timedelta(seconds=seconds)
        if url is not None:
            return SignedRequest(method=method, url=url, token=None, headers=headers, expires_at=expires_at)
        grant = ObjectGrant(
            key=artifact.object_name,
            method=method,
            max_bytes=max_bytes,
            artifact_id=artifact.id,
            filename=artifact.filename,
            content_type=artifact.content_type,
            expires_at=expires_at,
        )
        token = self._signer.sign(grant)
        return SignedRequest(method=method, url=None, token=token, headers=headers, expires_at=expires_at)

    @staticmethod
    def _visible(session: Session, artifact_id: str, user: UserRef | None) -> Artifact:
        row = session.get(Artifact, artifact_id) if isinstance(artifact_id, str) else None
        if row is None or row.status == ArtifactStatus.DELETED or not can_see(user, row.owner_id):
            raise NotFound(f"artifact {artifact_id} not found")
        return row


_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(
    rf"^{_TOKEN}/{_TOKEN}(\s*;\s*{_TOKEN}=({_TOKEN}|\"([\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*\"))*$"
)


def is_media_type(value: str) -> bool:
    """RFC 9110's ``type/subtype *(; name=value)``, in ASCII, at most MAX_CONTENT_TYPE_CHARS long."""
    return len(value) <= MAX_CONTENT_TYPE_CHARS and _MEDIA_TYPE.match(value) is not None


def well_formed_media_type(content_type: str | None) -> str | None:
    """A label a client gave a file: kept when well formed, else ``application/octet-stream``; None if absent.

    A multipart part labelled ``not a media type at all`` must not be served back as such (issue 8).
    """
    if not isinstance(content_type, str) or not content_type.strip():
        return None
    value = content_type.strip()
    return value if is_media_type(value) else "application/octet-stream"


def _content_type(content_type: str | None, filename: str) -> str:
    """The declared type, checked because it becomes a (signed) header; guessed when not given."""
    if content_type is None or (isinstance(content_type, str) and not content_type.strip()):
        return guess_content_type(filename)
    value = content_type.strip() if isinstance(content_type, str) else ""
    if not is_media_type(value):
        msg = f"must be a media type such as text/csv: printable ASCII, {MAX_CONTENT_TYPE_CHARS} at most"
        raise ValidationFailed.field(["content_type"], msg)
    return value


def _require_method(grant: ObjectGrant, method: str) -> None:
    if grant.method != method:
        raise PermissionDenied(f"this URL is for {grant.method}, not {method}")
