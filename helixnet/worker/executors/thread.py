"""``thread``: the plugin runs on the worker thread that claimed the job (the default).

Cheap and shares the worker's memory, but Python cannot kill a thread: past its timeout the
plugin is told to stop (``ctx.cancelled``) and, if it does not, abandoned while the job fails.
CPU-bound or C-bound plugins that must be stopped on time want the ``process`` executor.
"""

from __future__ import annotations

import contextvars
import logging
import threading

from helixnet.worker.executors import PluginCall, StorageSpec
from helixnet.worker.outcome import _call, _Outcome

log = logging.getLogger(__name__)

#: A plugin that ignores cancellation gets this long after its timeout before the job is failed anyway.
TIMEOUT_GRACE_SECONDS = 2.0


class ThreadExecutor:
    def __init__(self, spec: str = "thread", storage: StorageSpec | None = None) -> None:
        self.spec = spec

    def run(self, call: PluginCall) -> _Outcome:
        if call.timeout is None:
            return _call(call.plugin.run, call.ctx, call.params)
        return self._run_with_timeout(call, call.timeout)

    def _run_with_timeout(self, call: PluginCall, timeout: float) -> _Outcome:
        box: list[_Outcome] = []
        context = contextvars.copy_context()  # the job's log fields follow it into its thread
        thread = threading.Thread(target=lambda: box.append(context.run(_call, call.plugin.run, call.ctx, call.params)),
                                  daemon=True, name=f"helixnet-job-{call.ctx.job_id[:8]}")  # fmt: skip
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            call.mark_timed_out()
            call.ctx.request_cancel()
            thread.join(TIMEOUT_GRACE_SECONDS)
            if thread.is_alive():
                log.warning("job %s ignored its timeout; its thread is abandoned", call.ctx.job_id)
            return _Outcome.failed(f"timed out after {timeout:g} s")
        return box[0]

    def close(self) -> None:
        """Nothing to release: the threads are the worker's."""
