"""Files only the server's own user may read: the data directory, the SQLite databases, the secret.

SQLite and mkdir follow the umask (0644 and 0755 with the usual 022): the database file was world-
readable beside a 0600 secret (issue 8). Created here first with the right mode, SQLite keeps it,
and gives its -wal and -shm files the database file's mode. Existing paths are left as they are:
their owner chose.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def make_private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and missing parents) as 0700; an existing directory is left alone."""
    directory = Path(path)
    if not directory.exists():
        directory.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            directory.mkdir(mode=0o700)
    return directory


def touch_private(path: str | os.PathLike[str]) -> Path:
    """Create an empty file as 0600 unless it exists, so whatever opens it next keeps that mode."""
    file = Path(path)
    make_private_dir(file.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return file


__all__ = ["make_private_dir", "touch_private"]
