"""Running a plugin away from its worker: the job as data, and the plugin's side of the run.

Shared by the ``process`` executor (a child process) and the ``dask`` executor (a task on a
cluster). Only descriptions travel (the plugin object by reference, validated params, input
artifacts by their storage keys, the storage URL); bytes go through storage, never a pipe or
the Dask scheduler. Progress, log lines and written outputs flow back as small messages.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from helixnet.storage import Storage, open_storage
from helixnet.worker.context import InputFile, JobContext, OutputRecord, Outputs
from helixnet.worker.outcome import _call

#: fsspec options that are credentials: never sent to a Dask cluster (its workers have their own).
SECRET_OPTIONS = frozenset({"key", "secret", "token", "password", "aws_secret_access_key", "aws_session_token"})

Send = Callable[[tuple[Any, ...]], None]


@dataclass(frozen=True)
class RemoteJob:
    """Everything the far side needs to run one job."""

    job_id: str
    owner_id: str
    attempt: int
    plugin_name: str
    plugin: Any  # pickled by reference: the far side must have the plugin's package installed
    params: Any
    inputs: tuple[dict[str, Any], ...]  # InputFile fields but its storage
    storage_url: str
    storage_options: Mapping[str, Any] = field(default_factory=dict)


def describe(
    ctx: JobContext, plugin_name: str, plugin: Any, params: Any, storage_url: str, storage_options: Mapping[str, Any]
) -> RemoteJob:
    # An InputFile without its storage (the far side opens its own): every other field as it is.
    refs = tuple({f.name: getattr(file, f.name) for f in fields(InputFile) if f.name != "_storage"}
                 for file in ctx.inputs.values())  # fmt: skip
    return RemoteJob(ctx.job_id, ctx.owner_id, ctx.attempt, plugin_name, plugin, params, refs, storage_url,
                     dict(storage_options))  # fmt: skip


def without_secrets(options: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k.lower() not in SECRET_OPTIONS}


class _RelayedOutputs(Outputs):
    """Outputs that tell the worker about each file as soon as it is written (so a crash cannot orphan it)."""

    def __init__(self, storage: Storage, owner_id: str, send: Send) -> None:
        super().__init__(storage, owner_id)
        self._send = send

    def _add(self, *args: Any) -> None:
        super()._add(*args)
        self._send(("output", asdict(self.records[-1])))


def run_remote(job: RemoteJob, send: Send, cancel: threading.Event) -> dict[str, Any]:
    """Run the plugin here; returns the outcome as plain data (the result as JSON text)."""
    storage = open_storage(job.storage_url, dict(job.storage_options))
    inputs = {ref["name"]: InputFile(**ref, _storage=storage) for ref in job.inputs}
    ctx = JobContext(
        job_id=job.job_id,
        owner_id=job.owner_id,
        attempt=job.attempt,
        params=job.params,
        inputs=inputs,
        storage=storage,
        report_progress=lambda fraction, message: send(("progress", fraction, message)),
        emit_event=lambda level, message: send(("log", level, message)),
        outputs=_RelayedOutputs(storage, job.owner_id, send),
        cancel=cancel,
    )
    try:
        outcome = _call(job.plugin.run, ctx, job.params)
    finally:
        ctx.cleanup()
    result_json = None
    if outcome.ok:
        try:
            result_json = json.dumps(outcome.result)
        except (TypeError, ValueError) as exc:
            ctx.outputs.discard()
            return {"ok": False, "error": f"result is not JSON-serialisable: {exc}", "final": True}
    return {"ok": outcome.ok, "result_json": result_json, "error": outcome.error, "traceback": outcome.traceback,
            "cancelled": outcome.cancelled, "final": outcome.final}  # fmt: skip


def apply_message(ctx: JobContext, message: tuple[Any, ...]) -> None:
    """A progress, log or output message from the far side, applied to the worker's own context."""
    kind = message[0]
    if kind == "progress":
        ctx.progress(float(message[1]), message[2])
    elif kind == "log":
        ctx.log._emit(str(message[1]), str(message[2]))
    elif kind == "output":
        ctx.outputs.records.append(OutputRecord(**message[1]))


def outcome_from(data: Mapping[str, Any]) -> Any:
    from helixnet.worker.outcome import _Outcome

    if data.get("ok"):
        return _Outcome(ok=True, result=json.loads(data["result_json"]))
    return _Outcome(ok=False, error=data.get("error"), traceback=data.get("traceback"),
                    cancelled=bool(data.get("cancelled")), final=bool(data.get("final")))  # fmt: skip
