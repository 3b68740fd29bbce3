"""The per-process change feed: worker threads notify at once, other processes are found by one poll."""

from __future__ import annotations

import threading

from helixnet.core.changes import Change
from helixnet.core.models import Job, JobStatus


def collect(hx):
    seen: list[Change] = []
    lock = threading.Lock()

    def keep(change: Change) -> None:
        with lock:
            seen.append(change)

    return seen, hx.changes.subscribe(keep)


def test_submit_run_and_finish_notify_at_once(make_hx):
    hx = make_hx(workers=1)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    seen, unsubscribe = collect(hx)
    job = hx.jobs.submit(user, "echo", params={"message": "hi"})
    hx.jobs.wait(job.id, timeout=30)
    ids = [change.job_id for change in seen]
    assert ids.count(job.id) >= 3  # submitted, claimed, finished
    assert seen[0] == Change(job.id, user.id)
    unsubscribe()
    hx.jobs.submit(user, "echo")
    assert len(seen) == len(ids)


def test_poll_sees_what_another_process_did(make_hx, database):
    # Two instances on one database: ``there`` stands for another process, nothing notifies ``here``.
    here = make_hx(database, workers=0)
    there = make_hx(database, workers=0, data_dir=here.settings.data_dir.parent / "there",
                    database_url=here.settings.resolved_database_url)  # fmt: skip
    user = here.users.create(email="ada@example.org", password="correct horse battery")
    seen, _ = collect(here)
    assert here.changes.poll_once() == []  # the first poll only learns the state
    job = there.jobs.submit(user, "sleep", params={"seconds": 5})
    assert Change(None) in here.changes.poll_once()  # a new job somewhere
    claim = there.runner.claim(job.id, "elsewhere")
    assert claim is not None
    assert here.changes.poll_once() == [Change(job.id, user.id)]  # now RUNNING
    there.runner.report_progress(job.id, 0.5, "half")
    assert here.changes.poll_once() == [Change(job.id, user.id)]  # progress moved
    assert here.changes.poll_once() == []  # nothing new: nothing notified
    with there.db.write() as session:  # the other process finishes it
        session.get(Job, job.id).status = JobStatus.SUCCESS.value
    assert here.changes.poll_once() == [Change(job.id, user.id)]  # left RUNNING
    assert all(change.job_id in (None, job.id) for change in seen)
