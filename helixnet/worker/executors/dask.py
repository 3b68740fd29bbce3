"""``dask://host:port``: the plugin runs as a task on an existing Dask distributed cluster.

How one heavy job uses many machines. The worker stays the job's owner (claim, heartbeat,
outcome); it ships ``run`` to the cluster with a description of the job, relays progress and
log lines back (Dask's structured events) and cancellation forward (a Dask ``Event``). Inputs
and outputs travel as artifacts through storage, never pickled through the scheduler: the
cluster's workers open the same storage URL (S3 in a real cluster) with their own credentials
(e.g. ``AWS_*`` variables); credentials in ``HELIXNET_STORAGE_OPTIONS`` are not sent.

A Dask task cannot be killed: past its timeout, or on cancel, the plugin is told to stop
(``ctx.cancelled``), the future is cancelled and the job ends; a task that ignores it runs on
until it returns, and whatever it returns is dropped.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from typing import Any

from helixnet.worker.executors import PluginCall, StorageSpec
from helixnet.worker.executors.remote import RemoteJob, apply_message, describe, outcome_from, without_secrets
from helixnet.worker.outcome import _Outcome

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
CONNECT_TIMEOUT_SECONDS = 10.0
#: After the result, how long to wait for log lines still on their way (events and results race).
EVENT_DRAIN_SECONDS = 2.0


class DaskExecutor:
    def __init__(self, spec: str, storage: StorageSpec | None = None) -> None:
        try:
            import distributed  # noqa: F401
        except ImportError as exc:
            from helixnet.errors import ConfigurationError

            raise ConfigurationError(
                f"executor {spec!r} needs the distributed package: pip install distributed"
            ) from exc
        self.spec = spec
        self.address = "tcp://" + spec.split("://", 1)[1].strip().rstrip("/")
        self._storage = storage or StorageSpec("", {})
        self._client: Any = None
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        from distributed import Client

        with self._lock:
            if self._client is None or self._client.status not in ("running", "connecting"):
                if self._client is not None:
                    self._client.close()
                self._client = Client(self.address, timeout=CONNECT_TIMEOUT_SECONDS, set_as_default=False)
            return self._client

    def run(self, call: PluginCall) -> _Outcome:
        ctx = call.ctx
        try:
            client = self._connect()
        except Exception as exc:  # OSError, TimeoutError: the cluster is down; a retry may find it back
            return _Outcome.failed(f"could not reach the Dask scheduler at {self.address}: {exc}")
        storage = self._storage
        job = describe(ctx, call.plugin_name, call.plugin, call.params, storage.url, without_secrets(storage.options))
        topic = f"helixnet-{ctx.job_id}-{uuid.uuid4().hex[:8]}"
        received = [0]

        def relay(event: Any) -> None:
            received[0] += 1
            try:
                apply_message(ctx, tuple(event[1]))
            except Exception:  # a bad progress value must not break the client's event loop
                log.exception("job %s: could not apply an event from the cluster", ctx.job_id)

        from distributed import Event

        cancel = Event(f"{topic}-cancel", client=client)
        client.subscribe_topic(topic, relay)
        try:
            future = client.submit(run_on_cluster, job, topic, key=f"helixnet-{call.plugin_name}-{topic[9:]}",
                                   pure=False)  # fmt: skip
            return self._follow(call, future, cancel, received)
        finally:
            client.unsubscribe_topic(topic)
            with contextlib.suppress(Exception):  # the scheduler may be gone; nothing left to clean then
                cancel.clear()

    def _follow(self, call: PluginCall, future: Any, cancel: Any, received: list[int]) -> _Outcome:
        ctx = call.ctx
        deadline = time.monotonic() + call.timeout if call.timeout is not None else None
        while not future.done():
            if ctx.cancelled:
                cancel.set()
                future.cancel()
                return _Outcome(ok=False, error="cancelled", cancelled=True)
            if deadline is not None and time.monotonic() >= deadline:
                call.mark_timed_out()
                ctx.request_cancel()
                cancel.set()
                future.cancel()
                return _Outcome.failed(f"timed out after {call.timeout:g} s (the Dask task was told to stop)")
            time.sleep(POLL_SECONDS)
        try:
            data = future.result()
        except Exception as exc:  # KilledWorker, CancelledError, a worker that could not unpickle the job
            return _Outcome.failed(f"the Dask cluster did not run the job: {type(exc).__name__}: {exc}")
        drain_until = time.monotonic() + EVENT_DRAIN_SECONDS
        while received[0] < data.get("events_sent", 0) and time.monotonic() < drain_until:
            time.sleep(POLL_SECONDS)
        for record in data.get("outputs", []):
            apply_message(ctx, ("output", record))
        return outcome_from(data)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def run_on_cluster(job: RemoteJob, topic: str) -> dict[str, Any]:
    """The task a Dask worker runs: the plugin, with progress and log lines sent back as events."""
    from distributed import Event, get_client, get_worker

    from helixnet.worker.executors.remote import run_remote

    worker = get_worker()
    sent = [0]
    outputs: list[dict[str, Any]] = []

    def send(message: tuple[Any, ...]) -> None:
        if message[0] == "output":  # returned with the result: outputs must not race the outcome
            outputs.append(message[1])
            return
        worker.log_event(topic, list(message))
        sent[0] += 1

    cancel, stop = threading.Event(), threading.Event()
    asked = Event(f"{topic}-cancel", client=get_client())  # bound here: the watcher thread has no task context

    def watch() -> None:
        while not stop.wait(0.25):
            try:
                if asked.is_set():
                    cancel.set()
                    return
            except Exception:  # the scheduler went away: nobody will take the outcome
                log.warning("job %s: lost the Dask scheduler; stopping the plugin", job.job_id, exc_info=True)
                cancel.set()
                return

    threading.Thread(target=watch, daemon=True, name="helixnet-cancel").start()
    try:
        data = run_remote(job, send, cancel)
    finally:
        stop.set()
    data["outputs"] = outputs
    data["events_sent"] = sent[0]
    return data
