"""The digest step: the sha256 of artifacts completed from a HEAD, computed off the request path.

An S3 upload completed without a declared sha256 is AVAILABLE at once with its size and ETag, its
sha256 ``NULL`` (issue 11: completion no longer reads the object). This step reads such objects
and fills their sha256 in. The sweeper ``kick``s it after each pass it holds the lease for; it runs
on a thread of its own, so a 5 GB read never delays the recovery of lost jobs. Tests call
``run_once`` directly: nothing here sleeps or waits for a clock.

The object read is the one completion saw: its ETag and size must match the row, else the row is
left alone and a warning logged (an object replaced behind the app's back is not digested); this
process then skips it, so a few such rows never hold up the others or fill the log every pass.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass

from sqlalchemy import select, text, update

from helixnet.core.db import Database
from helixnet.core.models import UNDIGESTED, Artifact, ArtifactStatus
from helixnet.errors import HelixNetError
from helixnet.storage import DEFAULT_CHUNK_SIZE, Storage

log = logging.getLogger(__name__)

DIGEST_BATCH = 20
"""Artifacts read per run: a run ends, and the next kick starts another, so stop() is prompt."""


@dataclass(frozen=True)
class DigestReport:
    filled: int = 0
    failed: int = 0
    stopped: bool = False


class _Stopped(Exception):
    """Raised inside a read when ``stop()`` was called: the row stays as it was."""


class ArtifactDigests:
    """Finds AVAILABLE artifacts whose sha256 is unknown, reads them, records the digest."""

    def __init__(self, db: Database, storage: Storage, *, batch: int = DIGEST_BATCH) -> None:
        self._db = db
        self._storage = storage
        self._batch = batch
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._skip: set[str] = set()  # failed in this process: not tried again until a restart

    def waiting(self, limit: int | None = None) -> list[tuple[str, str, int | None, str | None]]:
        """(id, key, size, etag) of rows awaiting their sha256, oldest first (a partial index)."""
        wanted = limit or self._batch
        with self._db.read() as session:
            query = (
                select(Artifact.id, Artifact.object_name, Artifact.size, Artifact.etag)
                .where(text(UNDIGESTED))
                .order_by(Artifact.created_at)
                .limit(wanted + len(self._skip))
            )
            rows = [(row[0], row[1], row[2], row[3]) for row in session.execute(query)]
        return [row for row in rows if row[0] not in self._skip][:wanted]

    def run_once(self, limit: int | None = None) -> DigestReport:
        """Digest up to ``limit`` waiting artifacts now, in this thread."""
        filled = failed = 0
        for artifact_id, key, size, etag in self.waiting(limit):
            if self._stop.is_set():
                return DigestReport(filled, failed, stopped=True)
            try:
                sha256 = self._digest(artifact_id, key, size, etag)
            except _Stopped:
                return DigestReport(filled, failed, stopped=True)
            except HelixNetError as exc:
                log.warning("artifact %s: its sha256 could not be computed: %s", artifact_id, exc)
                sha256 = None
            if sha256 is None:
                self._skip.add(artifact_id)
                failed += 1
                continue
            with self._db.connect() as conn:
                done = conn.execute(
                    update(Artifact)
                    .where(Artifact.id == artifact_id, Artifact.sha256.is_(None),
                           Artifact.status == ArtifactStatus.AVAILABLE.value)
                    .values(sha256=sha256)
                ).rowcount  # fmt: skip
            filled += int(bool(done))
        return DigestReport(filled, failed)

    def kick(self) -> bool:
        """Start a background run if artifacts are waiting and none is running; never blocks on a read."""
        with self._lock:
            if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
                return False
            if not self.waiting(1):
                return False
            self._thread = threading.Thread(target=self._run_logged, name="helixnet-digests", daemon=True)
            self._thread.start()
            return True

    def join(self, timeout: float | None = None) -> None:
        """Wait for the background run, if any (for tests and ``stop``)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """End the background run between two chunks; what it had not recorded stays NULL."""
        self._stop.set()
        self.join(timeout)

    def _run_logged(self) -> None:
        try:
            report = self.run_once()
            if report.filled or report.failed:
                log.info("digests: %s", report)
        except Exception:
            log.exception("digest run failed; the next sweep tries again")

    def _digest(self, artifact_id: str, key: str, size: int | None, etag: str | None) -> str | None:
        head = self._storage.head(key)
        if (etag is not None and head.etag != etag) or (size is not None and head.size != size):
            log.warning("artifact %s: the stored object (etag %s, %d bytes) is not the one completed "
                        "(etag %s, %s bytes); its sha256 is left unknown", artifact_id, head.etag, head.size, etag, size)  # fmt: skip
            return None
        sha256 = hashlib.sha256()
        with self._storage.open_read(key) as stream:
            while chunk := stream.read(DEFAULT_CHUNK_SIZE):
                if self._stop.is_set():
                    raise _Stopped
                sha256.update(chunk)
        return sha256.hexdigest()


__all__ = ["DIGEST_BATCH", "ArtifactDigests", "DigestReport"]
