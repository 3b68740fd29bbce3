"""Log lines as text or as one JSON object each (``HELIXNET_LOG_FORMAT``), with the job they concern.

While a worker runs a job, every log record made on that thread (the worker's, the runner's and a
plugin's own ``logging`` calls) carries ``job_id``, ``plugin`` and ``worker``: a log aggregator can
then follow one job across processes without parsing messages. Nothing here runs at import.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

#: The fields a record gets while a job runs.
JOB_FIELDS = ("job_id", "plugin", "worker")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_job: ContextVar[dict[str, str] | None] = ContextVar("helixnet_job", default=None)


@contextmanager
def job_scope(job_id: str, plugin: str, worker: str) -> Iterator[None]:
    """Within this block, log records made in this context name the job."""
    token = _job.set({"job_id": job_id, "plugin": plugin, "worker": worker})
    try:
        yield
    finally:
        _job.reset(token)


class JobContextFilter(logging.Filter):
    """Copies the running job's fields onto each record (a handler filter: third-party loggers too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        job = _job.get()
        if job:
            for key, value in job.items():
                if not hasattr(record, key):
                    setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the job's fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in JOB_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The usual line, with ``[job … plugin … worker …]`` appended while a job runs."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        job_id = getattr(record, "job_id", None)
        if job_id:
            line += f" [job {job_id} plugin {getattr(record, 'plugin', '?')} worker {getattr(record, 'worker', '?')}]"
        return line


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> logging.Handler:
    """Send every log record to standard error in ``log_format`` (``text`` or ``json``); returns the handler."""
    handler = logging.StreamHandler()
    handler.addFilter(JobContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return handler


__all__ = ["JOB_FIELDS", "JobContextFilter", "JsonFormatter", "TextFormatter", "configure_logging", "job_scope"]
