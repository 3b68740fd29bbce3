"""``process``: each job's plugin runs in a child process of the worker, in a session of its own.

CPU-bound work escapes the GIL, and a timeout is enforced: the child's whole process group is
killed (SIGTERM, then SIGKILL a second later), so a plugin stuck in C code, or one that started
subprocesses of its own, still stops. The worker relays progress, log lines and cancellation over
a socket pair and records the outcome; a child that dies (a segfault, ``os._exit``) fails the job
with its exit status and the worker carries on.

One child per job, forked from a multiprocessing forkserver that has helixnet imported (so a job's
process starts in milliseconds and no state leaks between jobs). As with any multiprocessing code,
a script that runs jobs this way in its own process guards its entry with ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from helixnet.worker.executors import PluginCall, StorageSpec
from helixnet.worker.executors.child import child_main
from helixnet.worker.executors.remote import apply_message, describe, outcome_from
from helixnet.worker.outcome import _Outcome

log = logging.getLogger(__name__)

#: After a cancel (or a shutdown hand-back) the child gets this long to stop by itself.
CANCEL_GRACE_SECONDS = 2.0
#: Between SIGTERM and SIGKILL of the process group.
KILL_GRACE_SECONDS = 1.0
POLL_SECONDS = 0.05


class ProcessExecutor:
    def __init__(self, spec: str = "process", storage: StorageSpec | None = None) -> None:
        self.spec = spec
        self._storage = storage

    def run(self, call: PluginCall) -> _Outcome:
        storage = self._storage or StorageSpec("", {})
        if storage.url.startswith("memory://"):
            return _Outcome.failed("the process executor cannot reach memory:// storage (it lives in the worker's "
                                   "memory); use a folder (file://) or S3 storage", final=True)  # fmt: skip
        job = describe(call.ctx, call.plugin_name, call.plugin, call.params, storage.url, storage.options)
        try:
            job_bytes = pickle.dumps(job)
        except Exception as exc:
            return _Outcome.failed(f"the job cannot be sent to a process (plugin or params not picklable): {exc}",
                                   final=True)  # fmt: skip
        ours, theirs = _CONTEXT.Pipe(duplex=True)
        child = _CONTEXT.Process(target=child_main, args=(theirs, list(sys.path), job_bytes),
                                 name=f"helixnet-job-{call.ctx.job_id[:8]}")  # fmt: skip
        try:
            child.start()
        except OSError as exc:
            return _Outcome.failed(f"could not start the plugin's process: {exc}")
        finally:
            theirs.close()
        try:
            return self._follow(call, child, ours)
        finally:
            ours.close()
            _kill_group(child)
            with contextlib.suppress(ValueError):  # still running only if even SIGKILL did not end it
                child.close()

    def _follow(self, call: PluginCall, child: BaseProcess, conn: Connection) -> _Outcome:
        ctx = call.ctx
        deadline = time.monotonic() + call.timeout if call.timeout is not None else None
        cancel_by: float | None = None
        while True:
            if conn.poll(POLL_SECONDS):
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    return self._ended(child, None)
                if message[0] == "done":
                    return outcome_from(message[1])
                try:
                    apply_message(ctx, message)
                except Exception:  # a bad progress value from the plugin must not kill the relay
                    log.exception("job %s: could not apply %r from its process", ctx.job_id, message[0])
                continue
            now = time.monotonic()
            if ctx.cancelled and cancel_by is None:
                cancel_by = now + CANCEL_GRACE_SECONDS
                with contextlib.suppress(OSError):
                    conn.send(("cancel",))
            if deadline is not None and now >= deadline:
                call.mark_timed_out()
                _kill_group(child)
                return _Outcome.failed(f"timed out after {call.timeout:g} s (its process group was killed)")
            if cancel_by is not None and now >= cancel_by:
                _kill_group(child)
                return _Outcome(ok=False, error="cancelled", cancelled=True)
            if child.exitcode is not None and not conn.poll(0):
                return self._ended(child, cancel_by)

    def _ended(self, child: BaseProcess, cancel_by: float | None) -> _Outcome:
        """The child went away without an outcome."""
        child.join()
        code = child.exitcode if child.exitcode is not None else -1
        if cancel_by is not None:
            return _Outcome(ok=False, error="cancelled", cancelled=True)
        return _Outcome.failed(f"the plugin's process {describe_exit(code)} before it finished")

    def close(self) -> None:
        """Nothing pooled: each job's child ends with the job."""


def describe_exit(code: int) -> str:
    """-11 -> 'was killed by SIGSEGV (exit status -11)'; 3 -> 'exited with status 3'."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name} (exit status {code})"
    return f"exited with status {code}"


def _kill_group(child: BaseProcess) -> None:
    """Stop the child and everything it started (its session is its process group)."""
    if child.pid is None:
        return
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        if not _group_alive(child.pid) and child.exitcode is not None:
            return
        for kill in (os.killpg, os.kill):  # the child itself too, should it not have its session yet
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(child.pid, sig)
        child.join(wait)
        deadline = time.monotonic() + wait
        while _group_alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # grandchildren reparented away from us: wait until the group is empty


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _forkserver() -> Any:
    context = multiprocessing.get_context("forkserver")
    # Children fork from a server that has helixnet imported: milliseconds per job, not a second.
    context.set_forkserver_preload(["helixnet.worker.executors.child"])
    return context


_CONTEXT = _forkserver()
