"""The execution side: claiming jobs, running plugins with a ``JobContext``, recording outcomes.

It depends on ``helixnet.core`` (models, database, services) and on the plugin door
(``helixnet.plugins.base`` and ``registry``); core never imports it. The ``HelixNet`` facade
(``helixnet.app``) composes both.
"""

from helixnet.worker.context import InputFile, JobCancelled, JobContext
from helixnet.worker.pool import WorkerPool, process_worker_name
from helixnet.worker.runner import JobRunner
from helixnet.worker.sweeper import Sweeper

__all__ = ["InputFile", "JobCancelled", "JobContext", "JobRunner", "Sweeper", "WorkerPool", "process_worker_name"]
