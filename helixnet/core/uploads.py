"""An upload in progress to a signed PUT's key, written chunk by chunk as the bytes arrive.

``ArtifactService.begin_receive`` makes one. Each method is short and blocking: the API awaits the
body on the event loop and hands only full chunks to a small pool of its own, so a client that
sends slowly holds no thread while it waits (issue 8: 40 slow uploads stalled every request).
Errors name the artifact, never the storage key (the key is internal; issue 8 again).
"""

from __future__ import annotations

from helixnet.core.mediatypes import MAX_CONTENT_TYPE_CHARS, checked_content_type, guess_content_type
from helixnet.core.presign import ObjectGrant
from helixnet.errors import PayloadTooLarge, ValidationFailed
from helixnet.storage import StorageWriter, WriteResult


def too_large(artifact_id: str, limit: int) -> PayloadTooLarge:
    """The 413 for a body over ``limit``, naming the artifact (storage's own error names the key)."""
    errors = [{"loc": ["body"], "msg": f"must be at most {limit} bytes"}]
    return PayloadTooLarge(f"more than the {limit} bytes allowed for artifact {artifact_id}", errors=errors)


class Upload:
    """The bytes of one artifact on their way into storage: ``write``, then ``finish`` or ``abort``.

    Nothing is visible at the key until ``finish`` succeeds; every failure (too many bytes, the
    wrong size, an error of the caller's) leaves nothing behind once ``abort`` ran, and the
    methods that fail here abort by themselves.
    """

    def __init__(self, writer: StorageWriter, grant: ObjectGrant, limit: int) -> None:
        self._writer = writer
        self._grant = grant
        self._limit = limit

    @property
    def artifact_id(self) -> str:
        return self._grant.artifact_id

    @property
    def received(self) -> int:
        """Bytes written so far."""
        return self._writer.tell()

    def write(self, chunk: bytes) -> None:
        try:
            self._writer.write(chunk)
        except PayloadTooLarge as exc:
            self.abort()
            raise too_large(self.artifact_id, self._limit) from exc
        except BaseException:
            self.abort()
            raise

    def finish(self) -> WriteResult:
        """Store the object if it is exactly the declared size and sha256; else abort and say why (422).

        The digest was computed as the bytes streamed in, so checking it costs no second read; like
        S3 with a signed ``x-amz-checksum-sha256``, a body with another digest leaves nothing behind.
        """
        declared = self._grant.max_bytes
        if declared is not None and self.received != declared:
            received = self.received
            self.abort()
            raise ValidationFailed.field(["body"], f"{received} bytes sent, {declared} declared")
        sent = self._writer.result.sha256
        if self._grant.sha256 is not None and sent != self._grant.sha256:
            self.abort()
            msg = f"the sha256 of the bytes sent is {sent}, not the declared {self._grant.sha256}"
            raise ValidationFailed.field(["body"], msg)
        return self._writer.commit()

    def abort(self) -> None:
        """Throw away what was written, and the empty folders it made; safe to call again."""
        self._writer.discard()


__all__ = ["MAX_CONTENT_TYPE_CHARS", "Upload", "checked_content_type", "guess_content_type", "too_large"]
