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
import json
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from multiprocessing import forkserver, spawn
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from helixnet.worker.executors import PluginCall, StorageSpec
from helixnet.worker.executors.child import CHILD_MODULE, MAIN_PATH_VARIABLE, SYS_PATH_VARIABLE, child_main
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
        child = _CONTEXT.Process(target=child_main, args=(theirs, job_bytes),
                                 name=f"helixnet-job-{call.ctx.job_id[:8]}")  # fmt: skip
        try:
            _start_child(child)
        except OSError as exc:
            return _Outcome.failed(f"could not start the plugin's process: {exc}")
        finally:
            theirs.close()
        try:
            return self._follow(call, child, ours)
        finally:
            ours.close()
            _kill_group(child, wait=KILL_GRACE_SECONDS)
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

    def preload(self, modules: list[str]) -> None:
        """Have the forkserver import these (the plugins' modules) before its first fork.

        Each job's child then starts with its plugin imported: a plugin that imports numpy or torch
        pays for it once per worker, not once per job. A plugin defined in the script being run
        (``__main__``) makes the server import that script once (hence the ``__main__`` guard).
        Plugins added after the first process job still work; their children import them.
        """
        with _PRELOAD_LOCK:
            _PRELOAD.update(modules)

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


def _kill_group(child: BaseProcess, wait: float = 0.0) -> None:
    """Stop the child and everything it started (its session is its process group).

    ``wait``: how long the child may take to exit by itself first (it sent its outcome). Then the
    group gets SIGTERM, the child a second to go, and the group SIGKILL, whatever is left of it:
    the job's processes end with the job. Only the child is waited for; a grandchild killed after it
    is reaped by init (zombies would keep a group "alive" to a signal 0 for as long as init takes).
    """
    if child.pid is None:
        return
    if wait:
        child.join(wait)
    for sig, then_wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, sig)
        if child.exitcode is None:  # the child itself too, should it not have its session yet
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child.pid, sig)
        child.join(then_wait)


#: What the forkserver imports when it starts (one per worker process, started by the first process job),
#: after ``helixnet.worker.executors.child``, which sets the server's import path from ``SYS_PATH_VARIABLE``.
_PRELOAD: set[str] = set()
_CONTEXT = multiprocessing.get_context("forkserver")
#: The preload the process's forkserver was started with. Kept on that one forkserver object, not
#: in this module, which may be imported twice (pytester drops modules a test imported).
_SERVER: dict[str, Any] = forkserver._forkserver.__dict__.setdefault(
    "_helixnet_state", {"preloaded": None, "lock": threading.Lock()}
)
_PRELOAD_LOCK: threading.Lock = _SERVER["lock"]


def _start_child(child: BaseProcess) -> None:
    """Fork ``child`` from a server that has helixnet and the plugins imported: milliseconds, not a second.

    The server starts with the first process job of this worker, importing the modules of the plugins
    known then; a plugin registered later still runs, its children importing it themselves. The server
    must see the worker's import path and main script to import plugins that are not installed (a
    script's, a test's); Python 3.11's forkserver passes neither on, so they travel in environment
    variables that the first preloaded module reads.
    """
    with _PRELOAD_LOCK:
        if _SERVER["preloaded"] is None or not getattr(forkserver._forkserver, "_forkserver_pid", 1):
            preload = [CHILD_MODULE, *sorted(_PRELOAD - {CHILD_MODULE, "__main__"})]
            _CONTEXT.set_forkserver_preload(preload)
            passed = {SYS_PATH_VARIABLE: json.dumps(sys.path)}
            # Exactly the path each child will be told to run as __main__ (multiprocessing's own normalising).
            if main_path := spawn.get_preparation_data("helixnet-forkserver").get("init_main_from_path"):
                passed[MAIN_PATH_VARIABLE] = main_path
            os.environ.update(passed)
            try:
                forkserver.ensure_running()
            finally:
                for name in passed:
                    os.environ.pop(name, None)
            _SERVER["preloaded"] = preload
    child.start()
