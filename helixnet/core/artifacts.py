"""Artifacts: files that jobs read and write, their bytes in storage, their facts in the database."""

from __future__ import annotations

import mimetypes
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from helixnet.core.db import Database
from helixnet.core.errors import NotFound, ValidationFailed
from helixnet.core.models import Artifact, ArtifactStatus, new_id
from helixnet.core.schemas import ArtifactRead
from helixnet.core.users import UserRef, user_id_of
from helixnet.storage import Storage, artifact_key, sanitize_filename


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
    def __init__(self, db: Database, storage: Storage, *, max_upload_bytes: int) -> None:
        self._db = db
        self._storage = storage
        self._max_upload_bytes = max_upload_bytes

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
                    content_type=content_type or guess_content_type(safe_name),
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

    @staticmethod
    def _visible(session: Session, artifact_id: str, user: UserRef | None) -> Artifact:
        row = session.get(Artifact, artifact_id) if isinstance(artifact_id, str) else None
        if row is None or row.status == ArtifactStatus.DELETED or not can_see(user, row.owner_id):
            raise NotFound(f"artifact {artifact_id} not found")
        return row
