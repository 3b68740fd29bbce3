"""``helixnet worker`` with its SQL statements and commits counted (SQLAlchemy engine events).

Run by the benchmark instead of ``helixnet worker`` when BENCH_COUNT_FILE is set; writes
``{"statements": n, "commits": n}`` there when the worker exits. Counting costs a Python call per
statement, the same in every run.
"""

from __future__ import annotations

import json
import os
import sys

from sqlalchemy import event
from sqlalchemy.engine import Engine

COUNTS = {"statements": 0, "commits": 0}


def install() -> dict[str, int]:
    """Count every statement and commit of every engine in this process."""

    def _statement(*_args: object) -> None:
        COUNTS["statements"] += 1

    def _commit(*_args: object) -> None:
        COUNTS["commits"] += 1

    event.listen(Engine, "before_cursor_execute", _statement)
    event.listen(Engine, "commit", _commit)
    return COUNTS


if __name__ == "__main__":
    install()
    from helixnet.cli import main

    code = main(sys.argv[1:])
    with open(os.environ["BENCH_COUNT_FILE"], "w") as out:
        json.dump(COUNTS, out)
    sys.exit(code)
