"""What ``POST /artifacts/{id}/complete`` checks, without reading the bytes back where storage can say.

Issue 11: completion used to stream the whole object through the app for its sha256, so a 5 GB
upload cost 5 GB of app traffic. On S3 it is now one HEAD (``Storage.head``):

* with a declared sha256, S3 itself checked the body against the signed ``x-amz-checksum-sha256``
  and kept the checksum; the HEAD (``ChecksumMode=ENABLED``) must return that same digest;
* without one, size and ETag are recorded and the sha256 stays unknown (``None``) until the digest
  step (``core.digests``) reads the object, off the request path.

A local folder or memory has no checksums: the bytes are on the app's own disk, read once here.
Whatever is refused is deleted, so the same (still valid) upload URL can be used again.
"""

from __future__ import annotations

from dataclasses import dataclass

from helixnet.core.schemas import ArtifactRead
from helixnet.errors import Conflict, ObjectNotFound
from helixnet.storage import Storage
from helixnet.storage.base import CHECKSUM_HEADER


@dataclass(frozen=True)
class Checked:
    """What an AVAILABLE row records: ``sha256`` is ``None`` when the digest step must find it."""

    size: int
    sha256: str | None
    etag: str | None


def check_upload(storage: Storage, artifact: ArtifactRead) -> Checked:
    """The facts of a PENDING artifact's uploaded bytes, or ``Conflict`` (and the bytes discarded)."""
    key = artifact.object_name
    declared = artifact.sha256
    try:
        if storage.protocol == "s3":
            head = storage.head(key)
            size, sha256, etag = head.size, head.sha256, head.etag
        else:
            stored = storage.digest(key)
            size, sha256, etag = stored.size, stored.sha256, None
    except ObjectNotFound as exc:
        raise Conflict(
            f"artifact {artifact.id} has no bytes uploaded yet; send them to its upload URL first"
        ) from exc
    if artifact.size is not None and size != artifact.size:
        _refuse(storage, artifact, "size", f"{size} bytes were uploaded but {artifact.size} were declared")
    if declared is None:
        # On S3 the HEAD's checksum is the client's business (it was not signed): not recorded.
        return Checked(size=size, sha256=sha256 if storage.protocol != "s3" else None, etag=etag)
    if sha256 is None:
        _refuse(storage, artifact, "sha256", f"storage kept no sha256 for the bytes (send the {CHECKSUM_HEADER} "
                "header of the upload ticket, or upload to a store that keeps S3 checksums)")  # fmt: skip
    if sha256 != declared:
        _refuse(storage, artifact, "sha256", f"the bytes uploaded have sha256 {sha256}, not the declared {declared}")
    return Checked(size=size, sha256=declared, etag=etag)


def _refuse(storage: Storage, artifact: ArtifactRead, field: str, msg: str) -> None:
    storage.delete(artifact.object_name)
    errors = [{"loc": [field], "msg": msg}]
    raise Conflict(f"artifact {artifact.id}: {msg}; they were discarded, upload again", errors=errors)


__all__ = ["Checked", "check_upload"]
