"""How ``helixnet remote`` prints: aligned tables and fields for people, one JSON document for scripts."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from typing import Any, TextIO


def dump_json(value: Any) -> None:
    """One JSON document on stdout, whatever the command (a script parses it whole)."""
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO | None = None) -> None:
    """Columns as wide as their widest cell; the last one is not padded."""
    out = out or sys.stdout
    cells = [[str(c) for c in headers], *[[_one_line(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        line = "  ".join(cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row))
        print(line.rstrip(), file=out)


def _one_line(value: Any) -> str:
    return " ".join(str(value if value is not None else "").split())


def job_lines(job: Any) -> list[str]:
    """A job as ``field  value`` lines, its result as indented JSON and its output artifacts as a table."""
    took = ""
    if job.started_at and job.finished_at:
        took = f" ({(job.finished_at - job.started_at).total_seconds():.2f} s)"
    fields = [
        ("id", job.id),
        ("plugin", job.plugin),
        ("status", f"{job.status.value} ({job.progress:.0%})"),
        ("message", job.message),
        ("error", job.error),
        ("created", _time(job.created_at)),
        ("finished", _time(job.finished_at) + took if job.finished_at else None),
        ("params", json.dumps(job.params, ensure_ascii=False) if job.params else None),
        ("inputs", ", ".join(f"{name}={value}" for name, value in job.inputs.items()) or None),
    ]
    lines = [f"{name:<9} {_one_line(value)}" for name, value in fields if value not in (None, "")]
    if job.result is not None:
        result = json.dumps(job.result, indent=2, ensure_ascii=False, default=str)
        lines.append("result")
        lines.extend("  " + line for line in result.splitlines())
    if job.artifacts:
        lines.append("artifacts")
        widths = [36, max(len(a.filename) for a in job.artifacts)]
        for artifact in job.artifacts:
            lines.append(f"  {artifact.id:<{widths[0]}}  {artifact.filename:<{widths[1]}}  {artifact.size or 0} bytes"
                         f"  {artifact.content_type}")  # fmt: skip
    return lines


def _time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


class ProgressBar:
    """A one-line bar redrawn in place on a terminal; on anything else it stays silent (logs, pipes)."""

    WIDTH = 24

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._live = bool(getattr(stream, "isatty", lambda: False)())
        self._drawn = False

    def update(self, job: Any) -> None:
        if not self._live:
            return
        filled = round(max(0.0, min(1.0, job.progress)) * self.WIDTH)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        text = f"[{bar}] {job.progress:4.0%} {job.status.value} {_one_line(job.message)}"
        columns = shutil.get_terminal_size((80, 24)).columns
        self._stream.write("\r" + text[: columns - 1].ljust(columns - 1))
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False


__all__ = ["ProgressBar", "dump_json", "job_lines", "table"]
