"""HELIXNET_LOG_FORMAT=json: one JSON object a log line, naming the job, plugin and worker (issue 11)."""

from __future__ import annotations

import io
import json
import logging

from helixnet.logs import JobContextFilter, JsonFormatter, TextFormatter, job_scope


def _capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(JobContextFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"helixnet.test.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_records_inside_a_job_carry_its_fields() -> None:
    logger, stream = _capture(JsonFormatter())
    logger.info("before")
    with job_scope("job-1", "echo", "host:1/w1"):
        logger.warning("inside %s", "the job")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    logger.info("after")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["before", "inside the job", "failed", "after"]
    assert "job_id" not in lines[0] and "job_id" not in lines[3]
    assert {k: lines[1][k] for k in ("job_id", "plugin", "worker", "level")} == {
        "job_id": "job-1", "plugin": "echo", "worker": "host:1/w1", "level": "WARNING"}
    assert "ValueError: boom" in lines[2]["exception"]


def test_text_lines_name_the_job_too() -> None:
    logger, stream = _capture(TextFormatter())
    with job_scope("job-2", "sleep", "host:1/w2"):
        logger.info("hello")
    assert stream.getvalue().rstrip().endswith("hello [job job-2 plugin sleep worker host:1/w2]")
