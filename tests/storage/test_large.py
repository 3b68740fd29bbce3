"""A 1 GiB artifact through the local-folder storage with flat memory.

The source produces its bytes block by block (there is never a 1 GiB ``bytes`` object), and
a sampling thread records the process RSS: a storage that read the source, buffered the
upload or read the object back in one piece would add about a gigabyte and fail.
"""

from __future__ import annotations

import gc
import hashlib
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from helixnet.storage import open_storage

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

GIB = 1 << 30
BLOCK = 1 << 20
RSS_BUDGET = 64 << 20


class GeneratedSource:
    """A read-only file of ``total`` deterministic bytes, produced on demand.

    Each 1 MiB block starts with its own index, so a dropped, repeated or reordered block
    changes the hash. ``sha256`` is what it handed out, computed independently of storage.
    """

    def __init__(self, total: int) -> None:
        self._blocks = self._generate(total)
        self._pending = memoryview(b"")
        self.sha256 = hashlib.sha256()

    @staticmethod
    def _generate(total: int) -> Iterator[bytes]:
        base = random.Random(1).randbytes(BLOCK)
        for index in range(total // BLOCK):
            yield index.to_bytes(8, "big") + base[8:]

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:  # honest file semantics: "everything" means everything
            data = bytes(self._pending) + b"".join(self._blocks)
            self._pending = memoryview(b"")
        else:
            if not self._pending:
                self._pending = memoryview(next(self._blocks, b""))
            data = bytes(self._pending[:size])
            self._pending = self._pending[size:]
        self.sha256.update(data)
        return data


class PeakRss:
    """Samples this process's resident set size every few milliseconds in a thread."""

    def __init__(self, interval: float = 0.005) -> None:
        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)
        self.baseline = 0
        self.peak = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(self._interval)

    def __enter__(self) -> PeakRss:
        gc.collect()
        self.baseline = self.peak = self._process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def test_one_gib_round_trip_keeps_memory_flat(tmp_path: Path) -> None:
    storage = open_storage((tmp_path / "artifacts").as_uri())
    key = "users/u1/artifacts/big/genome.bin"
    source = GeneratedSource(GIB)
    try:
        with PeakRss() as rss:
            written = storage.write(key, source)
            read_back = hashlib.sha256()
            read_size = 0
            with storage.open_read(key) as stream:
                while chunk := stream.read(BLOCK):
                    read_back.update(chunk)
                    read_size += len(chunk)
        assert written.size == read_size == storage.size(key) == GIB
        assert written.sha256 == source.sha256.hexdigest() == read_back.hexdigest()
        assert rss.growth < RSS_BUDGET, f"RSS grew by {rss.growth / 2**20:.0f} MiB for a 1 GiB artifact"
    finally:
        storage.delete(key)
    assert not storage.exists(key)
    assert not any(path.is_file() for path in (tmp_path / "artifacts").rglob("*"))
