"""Workers register in the database and heart-beat: name, host, jobs done, what each runs now."""

from __future__ import annotations

import os
import socket
import time

from helixnet.core.models import JobStatus


def _until(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_a_pool_registers_beats_and_stops(make_hx, database):
    hx = make_hx(database, workers=1)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    [worker] = hx.workers.list()
    assert (worker.name, worker.host, worker.pid, worker.threads) == (hx.worker_name, socket.gethostname(), os.getpid(), 1)
    assert worker.stopped_at is None
    job = hx.jobs.submit(user, "sleep", params={"seconds": 2})
    _until(lambda: hx.workers.list()[0].current_jobs == [job.id])
    assert hx.jobs.wait(job.id, timeout=30).status == JobStatus.SUCCESS
    _until(lambda: hx.workers.list()[0].jobs_done == 1 and hx.workers.list()[0].current_jobs == [])
    beat = hx.workers.list()[0].heartbeat_at
    _until(lambda: hx.workers.list()[0].heartbeat_at > beat)  # beats while idle too
    hx.stop()
    [stopped] = hx.workers.list()
    assert stopped.stopped_at is not None
