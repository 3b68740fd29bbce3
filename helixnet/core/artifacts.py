"""Artifacts: files that jobs read and write, their bytes in storage, their facts in the database.

Small files may go through ``create``. Big ones take two steps so their bytes never pass through
the app on S3: ``begin_upload`` records a PENDING row and ``upload_request`` hands out a short-lived
signed PUT (S3's own presigned URL, or a token for the app's storage route on a local folder);
``complete`` then checks what arrived and makes the artifact AVAILABLE. ``download_request`` is
the same for reading. ``redeem``, ``begin_receive`` (or ``receive``) and ``send`` are what the
app's storage route calls for backends with no URLs of their own.

A signed URL is issued to a user (the caller, or the owner when trusted code asks) and dies with
that user's access: ``redeem`` refuses it once they are deactivated or their tokens revoked. Its
lifetime is capped by settings (issue 8: URLs outlived their users, and could last a week).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import IO, BinaryIO

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from helixnet.core.completion import check_upload
from helixnet.core.config import Settings
from helixnet.core.db import Database
from helixnet.core.mediatypes import MAX_CONTENT_TYPE_CHARS, guess_content_type, well_formed_media_type
from helixnet.core.mediatypes import checked_content_type as _content_type
from helixnet.core.models import Artifact, ArtifactStatus, User, new_id, utcnow
from helixnet.core.presign import ObjectGrant, ObjectUrlSigner, SignedRequest
from helixnet.core.presign import lifetime as _lifetime
from helixnet.core.schemas import ArtifactRead
from helixnet.core.uploads import Upload, too_large
from helixnet.core.users import UserRef, user_id_of
from helixnet.errors import Conflict, NotFound, ObjectNotFound, PayloadTooLarge, PermissionDenied, ValidationFailed
from helixnet.storage import DEFAULT_CHUNK_SIZE, ByteSource, Storage, WriteResult, artifact_key, sanitize_filename
from helixnet.storage.base import CHECKSUM_HEADER, S3_MAX_PUT_BYTES
from helixnet.storage.checksums import checked_sha256, sha256_base64

_REDEEM = (
    select(Artifact.status, Artifact.object_name, User.is_active, User.token_version)
    .select_from(Artifact)
    .outerjoin(User, User.id == bindparam("p_user"))
    .where(Artifact.id == bindparam("p_artifact"))
)
"""What a storage URL is checked against on every use: two primary-key lookups in one query."""


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
        download_max_expires_seconds: int | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._storage = storage
        self._max_upload_bytes = max_upload_bytes
        self._signer = url_signer
        self._upload_expires = upload_expires_seconds
        self._download_expires = download_expires_seconds
        # An upload URL lives at most the configured time; a download URL may be asked for longer,
        # up to its own maximum (HELIXNET_DOWNLOAD_URL_MAX_EXPIRES_SECONDS).
        self._download_max = max(download_expires_seconds, download_max_expires_seconds or 0)
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
            download_max_expires_seconds=settings.download_url_max_expires_seconds,
            clock=clock,
        )

    @property
    def storage(self) -> Storage:
        return self._storage

    @property
    def download_max_expires_seconds(self) -> int:
        """The longest lifetime a download URL may be asked for."""
        return self._download_max

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
        try:
            written = self._storage.write(key, data, max_bytes=limit)
        except PayloadTooLarge as exc:
            raise too_large(artifact_id, limit) from exc
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
        self, user: UserRef, filename: str, size: int, content_type: str | None = None, *, sha256: str | None = None
    ) -> ArtifactRead:
        """Record an announced upload (PENDING, with its declared size and sha256); no bytes move yet.

        A declared ``sha256`` (64 lowercase hex) is signed into the upload URL: storage refuses
        other bytes, and ``complete`` needs no read to know the digest (issue 11).
        """
        if not isinstance(filename, str) or not filename.strip():
            raise ValidationFailed.field(["filename"], "must not be empty")
        sha256 = checked_sha256(sha256)
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
                sha256=sha256,
                status=ArtifactStatus.PENDING,
            )
            session.add(row)
            session.flush()
            return ArtifactRead.model_validate(row)

    def upload_request(
        self, artifact_id: str, user: UserRef | None = None, *, expires_in: int | None = None
    ) -> SignedRequest:
        """A signed PUT for a PENDING artifact's bytes: exactly the declared size, once."""
        seconds = _lifetime(expires_in, self._upload_expires, self._upload_expires)
        artifact, holder = self._issuing(artifact_id, user)
        if artifact.status != ArtifactStatus.PENDING:
            raise Conflict(f"artifact {artifact_id} is already uploaded")
        headers = {"Content-Type": artifact.content_type}
        url = self._storage.presign(
            artifact.object_name,
            "PUT",
            seconds,
            content_type=artifact.content_type,
            size=artifact.size,
            create_only=True,
            sha256=artifact.sha256,
        )
        if url is not None:
            headers["If-None-Match"] = "*"  # signed: S3 refuses a second upload to the key
            if artifact.sha256 is not None:  # signed as headers (presign checked): S3 checks the body
                headers[CHECKSUM_HEADER] = sha256_base64(artifact.sha256)
                headers["x-amz-sdk-checksum-algorithm"] = "SHA256"
        return self._signed(artifact, holder, "PUT", seconds, url, headers, artifact.size)

    def complete(self, artifact_id: str, user: UserRef | None = None) -> ArtifactRead:
        """Check what was uploaded and make the artifact AVAILABLE; again on AVAILABLE is a no-op.

        The database records what storage really holds, whatever the client claimed. On S3 that
        is one HEAD, no byte read (``core.completion``); ``sha256`` may stay ``None`` until the
        digest step fills it in.
        """
        artifact = self.get(artifact_id, user)
        if artifact.status == ArtifactStatus.AVAILABLE:
            return artifact
        checked = check_upload(self._storage, artifact)
        with self._db.write() as session:
            row = self._visible(session, artifact_id, user)
            if row.status == ArtifactStatus.PENDING:
                row.status = ArtifactStatus.AVAILABLE
                row.size, row.sha256, row.etag = checked.size, checked.sha256, checked.etag
            return ArtifactRead.model_validate(row)

    def download_request(
        self, artifact_id: str, user: UserRef | None = None, *, expires_in: int | None = None
    ) -> SignedRequest:
        """A signed GET for an AVAILABLE artifact's bytes, for at most the configured maximum."""
        seconds = _lifetime(expires_in, self._download_expires, self._download_max)
        artifact, holder = self._issuing(artifact_id, user)
        if artifact.status != ArtifactStatus.AVAILABLE:
            raise Conflict(f"artifact {artifact_id} is not uploaded yet")
        url = self._storage.presign(
            artifact.object_name,
            "GET",
            seconds,
            content_type=artifact.content_type,
            filename=artifact.filename,
        )
        return self._signed(artifact, holder, "GET", seconds, url, {}, artifact.size)

    def redeem(self, token: str, method: str) -> ObjectGrant:
        """Check a token from the app's storage URL: genuine, unexpired, its user's access intact,
        and the artifact still wants it. One query, by primary keys: this runs on every request."""
        grant = self._signer.verify(token, method, self._clock())
        with self._db.read() as session:
            row = session.execute(_REDEEM, {"p_user": grant.user_id, "p_artifact": grant.artifact_id}).first()
        if row is None or row.status == ArtifactStatus.DELETED or row.object_name != grant.key:
            raise NotFound(f"artifact {grant.artifact_id} not found")
        # is_active is None when the outer join found no such user (deleted).
        if not row.is_active or row.token_version != grant.token_version:
            raise PermissionDenied("signed URL revoked: its user was deactivated or signed out everywhere")
        status = row.status
        if grant.method == "PUT" and status != ArtifactStatus.PENDING:
            raise Conflict(f"artifact {grant.artifact_id} is already uploaded")
        if grant.method == "GET" and status != ArtifactStatus.AVAILABLE:
            raise Conflict(f"artifact {grant.artifact_id} is not uploaded yet")
        return grant

    def begin_receive(self, grant: ObjectGrant) -> Upload:
        """Start an upload to the grant's key, to be fed chunk by chunk (see ``core.uploads``).

        Like S3 with our signed headers, a key takes one upload (``complete`` discards a wrong
        one), a body of another size is refused, and on any error nothing is left at the key.
        """
        _require_method(grant, "PUT")
        if self._storage.exists(grant.key):
            raise Conflict(f"the bytes of artifact {grant.artifact_id} are already uploaded; complete it")
        limit = self._max_upload_bytes
        if grant.max_bytes is not None:
            limit = min(limit, grant.max_bytes)
        return Upload(self._storage.begin_write(grant.key, max_bytes=limit), grant, limit)

    def receive(self, grant: ObjectGrant, source: ByteSource) -> WriteResult:
        """``begin_receive`` fed from a blocking ``source`` until it ends: exactly the declared size."""
        upload = self.begin_receive(grant)
        try:
            while chunk := source.read(DEFAULT_CHUNK_SIZE):
                upload.write(chunk)
        except BaseException:
            upload.abort()
            raise
        return upload.finish()

    def send(self, grant: ObjectGrant) -> BinaryIO:
        """A stream over the grant's object, for the app to copy to the client; the caller closes it."""
        _require_method(grant, "GET")
        try:
            return self._storage.open_read(grant.key)
        except ObjectNotFound as exc:
            raise NotFound(f"artifact {grant.artifact_id} has no content") from exc

    def _issuing(self, artifact_id: str, user: UserRef | None) -> tuple[ArtifactRead, tuple[str, int]]:
        """The artifact, and who a URL for it is issued to: the caller, or the owner for trusted code."""
        with self._db.read() as session:
            artifact = self._visible(session, artifact_id, user)
            holder_id = artifact.owner_id if user is None else user_id_of(user)
            holder = session.get(User, holder_id)
            if holder is None:
                raise NotFound(f"user {holder_id} not found")
            return ArtifactRead.model_validate(artifact), (holder.id, holder.token_version)

    def _signed(
        self,
        artifact: ArtifactRead,
        holder: tuple[str, int],
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
            user_id=holder[0],
            token_version=holder[1],
            sha256=artifact.sha256 if method == "PUT" else None,
        )
        token = self._signer.sign(grant)
        return SignedRequest(method=method, url=None, token=token, headers=headers, expires_at=expires_at)

    @staticmethod
    def _visible(session: Session, artifact_id: str, user: UserRef | None) -> Artifact:
        row = session.get(Artifact, artifact_id) if isinstance(artifact_id, str) else None
        if row is None or row.status == ArtifactStatus.DELETED or not can_see(user, row.owner_id):
            raise NotFound(f"artifact {artifact_id} not found")
        return row


def _require_method(grant: ObjectGrant, method: str) -> None:
    if grant.method != method:
        raise PermissionDenied(f"this URL is for {grant.method}, not {method}")


__all__ = ["MAX_CONTENT_TYPE_CHARS", "ArtifactService", "can_see", "guess_content_type"]
