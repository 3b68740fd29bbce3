"""The child side of the ``process`` executor: runs one job and reports over its connection.

Children are forked by a multiprocessing forkserver that has this module (and so helixnet)
imported already: a job's process starts in milliseconds, not the second a fresh interpreter
needs. Each child starts its own session, so the worker can kill it with everything it started.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from typing import Any

from helixnet.worker.executors.remote import run_remote

CHILD_MODULE = "helixnet.worker.executors.child"
#: The worker's import path and main script, for the forkserver, which imports this module first
#: (see process._start_child): Python 3.11's forkserver passes neither on, though children need both.
SYS_PATH_VARIABLE = "HELIXNET_FORKSERVER_SYS_PATH"
MAIN_PATH_VARIABLE = "HELIXNET_FORKSERVER_MAIN"
if _worker_path := os.environ.get(SYS_PATH_VARIABLE):
    sys.path[:0] = [path for path in json.loads(_worker_path) if path not in sys.path]
if _main_path := os.environ.get(MAIN_PATH_VARIABLE):
    # Imported once here as __mp_main__, the worker's script is not run again in every child (they
    # skip it when __main__ is already that file), and plugins defined in it unpickle at once.
    from multiprocessing import spawn

    spawn.import_main_path(_main_path)

#: A child whose worker vanished (its connection closed) is killed, with its group, after this long.
ORPHAN_GRACE_SECONDS = 5.0


def child_main(conn: Connection, job_bytes: bytes) -> None:
    os.setsid()
    lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with lock:
            conn.send(message)

    # sys.path is already the worker's: multiprocessing prepares every child with it, so a plugin
    # registered by hand (not an entry point) unpickles here too.
    try:
        job = pickle.loads(job_bytes)
    except Exception as exc:  # the plugin could not be imported here: a clear outcome, not a crash
        send(("done", {"ok": False, "final": True, "traceback": traceback.format_exc(),
                       "error": f"the plugin could not be loaded in its process: {type(exc).__name__}: {exc}"}))  # fmt: skip
        return
    cancel = threading.Event()
    threading.Thread(target=_listen, args=(conn, cancel), daemon=True, name="helixnet-cancel").start()
    send(("done", run_remote(job, send, cancel)))


def _listen(conn: Connection, cancel: threading.Event) -> None:
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            cancel.set()  # the worker is gone: nobody will record the outcome; stop, then make sure
            threading.Timer(ORPHAN_GRACE_SECONDS, lambda: os.killpg(0, signal.SIGKILL)).start()
            return
        if message and message[0] == "cancel":
            cancel.set()
