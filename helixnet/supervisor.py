"""``helixnet worker``: one worker process, or a supervisor running P of them (``--processes P``).

Signals, the same for both shapes:

* first SIGTERM or SIGINT: stop taking jobs; running jobs get the grace period
  (``HELIXNET_WORKER_GRACE_SECONDS``, or ``--grace``) to finish, then are handed back to the queue
  (PENDING again, the attempt not counted, a JobEvent saying so);
* second SIGTERM or SIGINT: hand running jobs back at once and exit.

The supervisor forwards both to its children, waits for them (grace plus a margin), and SIGKILLs
whatever is left at the very end, recovering the jobs of a killed child at once. Children are
fresh interpreters (``sys.executable -m helixnet worker --processes 1``) rather than
multiprocessing children: nothing of the supervisor's (threads, locks, open connections) is
inherited, a child is exactly what an operator would start by hand, and ``start_new_session``
puts each in its own session, so a terminal's Ctrl-C reaches them only through the supervisor.
A child whose supervisor disappears (its parent pid changes) stops gracefully on its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from helixnet.app import HelixNet

log = logging.getLogger(__name__)

#: A child that dies sooner than this after starting counts as a crash in a row (back-off grows).
CRASH_WINDOW_SECONDS = 10.0
#: First and longest delay before restarting a crash-looping child.
RESTART_BACKOFF_SECONDS, RESTART_BACKOFF_MAX_SECONDS = 0.5, 30.0
#: On shutdown, children get the grace period plus this before they are killed.
STOP_MARGIN_SECONDS = 10.0
#: After "stop now" is forwarded, children get this long before they are killed.
HURRY_SECONDS = 5.0
#: How often a supervised child checks that its supervisor is still its parent.
ORPHAN_CHECK_SECONDS = 0.5


class StopSignals:
    """Counts SIGTERM/SIGINT: the first asks for a graceful stop, the second for an immediate one."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.count = 0
        self.requested = threading.Event()
        self.on_second: list[Callable[[], None]] = []

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        self.count += 1
        name = signal.Signals(signum).name
        if self.count == 1:
            print(f"{self.what}: {name} received, stopping gracefully (send it again to stop now)",
                  file=sys.stderr, flush=True)  # fmt: skip
        else:
            print(f"{self.what}: {name} received again, stopping now", file=sys.stderr, flush=True)
            for callback in self.on_second:
                callback()
        self.requested.set()


def run_worker_process(hx: HelixNet, *, concurrency: int, grace: float, sweeper: bool, supervisor_pid: int | None,
                       describe: Callable[[str], str]) -> int:  # fmt: skip
    """One worker process: N threads until a signal (or the loss of its supervisor) stops it."""
    hx.migrate()
    pool = hx.worker_pool(concurrency, sweeper=sweeper)
    signals = StopSignals("helixnet worker")
    signals.on_second.append(pool.hurry)
    signals.install()
    if supervisor_pid is not None:
        threading.Thread(target=_watch_parent, args=(supervisor_pid, signals.requested), daemon=True,
                         name="helixnet-orphan-check").start()  # fmt: skip
    pool.start()
    print(describe(pool.name), flush=True)
    signals.requested.wait()
    pool.stop(grace)
    hx.stop()
    return 0


def _watch_parent(supervisor_pid: int, stop: threading.Event) -> None:
    while not stop.wait(ORPHAN_CHECK_SECONDS):
        if os.getppid() != supervisor_pid:
            print(f"helixnet worker {os.getpid()}: supervisor {supervisor_pid} is gone, stopping gracefully",
                  file=sys.stderr, flush=True)  # fmt: skip
            stop.set()
            return


@dataclass
class Child:
    """One slot of the supervisor: the process in it now, and how often it crashed in a row."""

    slot: int
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    crashes: int = 0
    restart_at: float | None = field(default=0.0)  # monotonic time to (re)start it; None: running

    @property
    def name(self) -> str:
        assert self.proc is not None
        return f"{socket.gethostname()}:{self.proc.pid}"


class Supervisor:
    """Runs ``processes`` worker children, restarts the ones that die, stops them all on a signal."""

    def __init__(self, hx: HelixNet, *, processes: int, concurrency: int, grace: float, sweeper: bool = True,
                 verbose: bool = False) -> None:  # fmt: skip
        self.hx = hx
        self.grace = grace
        self.children = [Child(slot) for slot in range(processes)]
        self._concurrency, self._sweeper, self._verbose = concurrency, sweeper, verbose
        self.signals = StopSignals("helixnet worker supervisor")
        self.stop_margin = STOP_MARGIN_SECONDS
        #: Extra environment for every child (e.g. PROMETHEUS_MULTIPROC_DIR for multiprocess metrics).
        self.child_env: dict[str, str] = {}
        #: Called with (pid, exit code) after a child has exited and its jobs were recovered, e.g.
        #: ``prometheus_client.multiprocess.mark_process_dead``. A failing hook is logged, never fatal.
        self.on_child_exit: list[Callable[[int, int], None]] = []

    def child_command(self) -> list[str]:
        command = [sys.executable, "-m", "helixnet"] + (["-v"] if self._verbose else [])
        command += ["worker", "--concurrency", str(self._concurrency), "--processes", "1", "--grace", f"{self.grace:g}",
                    "--supervisor-pid", str(os.getpid())]  # fmt: skip
        return command + ([] if self._sweeper else ["--no-sweeper"])

    def run(self) -> int:
        """Until a signal: keep every slot filled. Returns 0 when every child stopped cleanly."""
        self.hx.migrate()  # once here, so the children start on a current schema
        self.signals.install()
        print(f"helixnet worker supervisor {os.getpid()}: {len(self.children)} process(es) of "
              f"{self._concurrency} thread(s), grace {self.grace:g} s", flush=True)  # fmt: skip
        while not self.signals.requested.is_set():
            now = time.monotonic()
            for child in self.children:
                if child.restart_at is not None and now >= child.restart_at:
                    self._spawn(child)
                elif child.proc is not None and child.restart_at is None and child.proc.poll() is not None:
                    self._exited(child, restart=True)
            self.signals.requested.wait(0.2)
        return self._shutdown()

    # -- children -------------------------------------------------------------------------------------

    def _spawn(self, child: Child) -> None:
        env = {**os.environ, **self.child_env}
        try:
            child.proc = subprocess.Popen(self.child_command(), env=env, start_new_session=True)
        except OSError as exc:
            log.error("could not start worker process %d: %s", child.slot + 1, exc)
            child.restart_at = time.monotonic() + RESTART_BACKOFF_MAX_SECONDS
            return
        child.started, child.restart_at = time.monotonic(), None
        log.info("started worker process %d: pid %d", child.slot + 1, child.proc.pid)

    def _exited(self, child: Child, *, restart: bool, reason: str | None = None) -> int:
        """Recover a finished child's jobs at once, run the hooks and, if asked, plan its restart."""
        assert child.proc is not None
        code = child.proc.wait()
        lived = time.monotonic() - child.started
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        try:
            requeued, failed = self.hx.recover_worker(child.name, reason=reason or f"process {how}")
            if requeued or failed:
                log.warning("worker %s %s: %d job(s) requeued, %d failed (worker lost)", child.name, how,
                            requeued, failed)  # fmt: skip
        except Exception:  # the sweeper still finds them once their heartbeat runs out
            log.warning("could not recover the jobs of worker %s now", child.name, exc_info=True)
        for hook in self.on_child_exit:
            try:
                hook(child.proc.pid, code)
            except Exception:
                log.warning("on_child_exit hook %r failed", hook, exc_info=True)
        if restart:
            child.crashes = child.crashes + 1 if lived < CRASH_WINDOW_SECONDS else 0
            delay = 0.0 if not child.crashes else min(
                RESTART_BACKOFF_SECONDS * 2 ** (child.crashes - 1), RESTART_BACKOFF_MAX_SECONDS)  # fmt: skip
            log.warning("worker process %d (%s) %s after %.1f s; restarting in %.1f s%s", child.slot + 1, child.name,
                        how, lived, delay, f" ({child.crashes} crash(es) in a row)" if child.crashes else "")  # fmt: skip
            child.restart_at = time.monotonic() + delay
        return code

    def _live(self) -> list[Child]:
        return [c for c in self.children if c.proc is not None and c.restart_at is None and c.proc.poll() is None]

    def _forward(self, signum: int) -> None:
        for child in self._live():
            assert child.proc is not None
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signum)

    def _shutdown(self) -> int:
        """Forward the stop, wait (grace + margin), forward "stop now" on a second signal, kill the rest."""
        self._forward(signal.SIGTERM)
        deadline = time.monotonic() + self.grace + self.stop_margin
        hurried, clean = False, True
        waiting = [c for c in self.children if c.proc is not None and c.restart_at is None]
        while waiting and time.monotonic() < deadline:
            if self.signals.count >= 2 and not hurried:
                hurried = True
                self._forward(signal.SIGTERM)  # a child's second signal: hand back now, exit
                deadline = min(deadline, time.monotonic() + HURRY_SECONDS)
            for child in list(waiting):
                assert child.proc is not None
                if child.proc.poll() is not None:
                    clean &= self._exited(child, restart=False) == 0
                    waiting.remove(child)
            time.sleep(0.1)
        for child in waiting:
            assert child.proc is not None
            log.error("worker process %d (%s) did not stop in time; killing it", child.slot + 1, child.name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGKILL)  # its own session: its process group is its own
            self._exited(child, restart=False, reason="killed by its supervisor at shutdown")
            clean = False
        self.hx.stop()
        return 0 if clean else 1


__all__ = ["Supervisor", "StopSignals", "run_worker_process"]
