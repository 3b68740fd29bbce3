"""``JobContext``: everything a compute plugin may see of the world while its job runs."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from helixnet.core.models import new_id
from helixnet.errors import ValidationFailed
from helixnet.storage import Storage, StorageWriter, artifact_key, sanitize_filename


class JobCancelled(Exception):
    """Raised by ``ctx.check_cancelled()``; the job ends CANCELLED, not FAILURE."""


class JobFailed(Exception):
    """Raised by a plugin that knows why it failed: the message alone becomes the job's ``error``.

    With ``retry=False`` (the default) no attempt is left to waste: a refused API key or a bad input
    will not heal by running again. Any other exception fails the job as ``Type: message`` and is
    retried while attempts remain.
    """

    def __init__(self, message: str, *, retry: bool = False) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class InputFile:
    """An input artifact, readable as a stream (never loaded whole unless asked)."""

    name: str
    artifact_id: str
    filename: str
    content_type: str
    size: int | None
    object_name: str
    _storage: Storage = field(repr=False)

    def open(self) -> IO[bytes]:
        return self._storage.open_read(self.object_name)

    def read_bytes(self) -> bytes:
        with self.open() as handle:
            return handle.read()

    def read_text(self, encoding: str = "utf-8", errors: str = "replace") -> str:
        return self.read_bytes().decode(encoding, errors)


@dataclass
class OutputRecord:
    """An output written by the plugin; becomes an Artifact row when the job's result is recorded."""

    artifact_id: str
    filename: str
    content_type: str
    object_name: str
    bucket: str
    size: int
    sha256: str
    main: bool


class Outputs:
    """Writes output artifacts straight to storage, streaming; rows are recorded with the result."""

    def __init__(self, storage: Storage, owner_id: str) -> None:
        self._storage = storage
        self._owner_id = owner_id
        self.records: list[OutputRecord] = []

    @contextmanager
    def open(
        self, filename: str, content_type: str = "application/octet-stream", *, main: bool = False
    ) -> Iterator[StorageWriter]:
        """A binary file to write one output into; ``main`` marks the job's ``result_path``."""
        artifact_id = new_id()
        key = artifact_key(self._owner_id, artifact_id, filename)
        with self._storage.open_write(key) as handle:
            yield handle
        written = handle.result  # size and sha256 counted on the way through: no read-back
        self._add(artifact_id, filename, content_type, key, written.size, written.sha256, main)

    def write_bytes(
        self, filename: str, data: bytes, content_type: str = "application/octet-stream", *, main: bool = False
    ) -> str:
        artifact_id = new_id()
        key = artifact_key(self._owner_id, artifact_id, filename)
        written = self._storage.write(key, data)
        self._add(artifact_id, filename, content_type, key, written.size, written.sha256, main)
        return artifact_id

    def write_text(self, filename: str, text: str, content_type: str = "text/plain; charset=utf-8", **kw: Any) -> str:
        return self.write_bytes(filename, text.encode("utf-8"), content_type, **kw)

    def write_json(self, filename: str, value: Any, *, main: bool = False) -> str:
        data = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return self.write_bytes(filename, data, "application/json", main=main)

    def discard(self) -> None:
        """Remove what was written: the job did not succeed, or its result was refused."""
        for record in self.records:
            self._storage.delete(record.object_name)
        self.records.clear()

    @property
    def main_path(self) -> str | None:
        for record in self.records:
            if record.main:
                return record.object_name
        return self.records[0].object_name if self.records else None

    def _add(
        self, artifact_id: str, filename: str, content_type: str, key: str, size: int, sha: str, main: bool
    ) -> None:
        self.records.append(
            OutputRecord(
                artifact_id=artifact_id,
                filename=sanitize_filename(filename),
                content_type=content_type,
                object_name=key,
                bucket=self._storage.bucket,
                size=size,
                sha256=sha,
                main=main,
            )
        )


class EventLog:
    """The plugin's logger: each line becomes a JobEvent on the job's page."""

    def __init__(self, emit: Callable[[str, str], None]) -> None:
        self._emit = emit

    def debug(self, message: str) -> None:
        self._emit("DEBUG", message)

    def info(self, message: str) -> None:
        self._emit("INFO", message)

    def warning(self, message: str) -> None:
        self._emit("WARNING", message)

    def error(self, message: str) -> None:
        self._emit("ERROR", message)


class JobContext:
    """What a plugin's ``run(ctx, params)`` receives."""

    def __init__(
        self,
        *,
        job_id: str,
        owner_id: str,
        attempt: int,
        params: Any,
        inputs: Mapping[str, InputFile],
        storage: Storage,
        report_progress: Callable[[float, str | None], None],
        emit_event: Callable[[str, str], None],
        outputs: Outputs | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """``outputs`` and ``cancel``: for a plugin run away from its worker (``worker/executors``),
        whose outputs are reported as written and whose cancel flag the worker's relay sets."""
        self.job_id = job_id
        self.owner_id = owner_id
        self.attempt = attempt
        self.params = params
        self.inputs: Mapping[str, InputFile] = inputs
        self.outputs = outputs if outputs is not None else Outputs(storage, owner_id)
        self.log = EventLog(emit_event)
        self._report_progress = report_progress
        self._cancel = cancel if cancel is not None else threading.Event()
        self._scratch: Path | None = None

    @property
    def scratch_dir(self) -> Path:
        """A private folder for temporary files, made on first use and removed when the job ends."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix=f"helixnet-job-{self.job_id[:8]}-"))
        return self._scratch

    def cleanup(self) -> None:
        """Called by the worker once the outcome is known, not by plugins."""
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    @property
    def cancelled(self) -> bool:
        """True once a cancel was asked for (or the timeout passed): stop soon, cleanly."""
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled(self.job_id)

    def wait(self, seconds: float) -> bool:
        """Sleep that wakes at once on cancel; returns True when cancelled."""
        return self._cancel.wait(seconds)

    def progress(self, fraction: float, message: str | None = None) -> None:
        if not 0.0 <= float(fraction) <= 1.0:
            raise ValidationFailed.field(["progress"], "must be between 0 and 1")
        self._report_progress(float(fraction), message)

    def request_cancel(self) -> None:
        """Called by the worker, not by plugins."""
        self._cancel.set()
