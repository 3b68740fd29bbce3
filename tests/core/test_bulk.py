"""Bulk actions walk every match in batches: more than one page, each batch its own transaction."""

from __future__ import annotations

import threading

import pytest

from helixnet.core.bulk import BulkAction, BulkReport
from helixnet.core.models import JobStatus
from helixnet.errors import ValidationFailed


def setup(make_hx, database, workers=0):
    hx = make_hx(database, workers=workers)
    admin = hx.users.create(email="root@example.org", password="correct horse battery", is_admin=True)
    ada = hx.users.create(email="ada@example.org", password="correct horse battery")
    bob = hx.users.create(email="bob@example.org", password="correct horse battery")
    return hx, admin, ada, bob


def test_cancel_every_match_across_batches(make_hx, database):
    hx, admin, ada, bob = setup(make_hx, database)
    mine = [hx.jobs.submit(ada, "echo", params={"message": f"m{i}"}).id for i in range(23)]
    theirs = hx.jobs.submit(bob, "echo").id
    other_plugin = hx.jobs.submit(ada, "sleep", params={"seconds": 1}).id
    reports: list[BulkReport] = []
    report = hx.jobs.bulk(admin, "cancel", plugin="echo", owner_id=ada.id, batch_size=5,
                          progress=lambda r: reports.append(BulkReport(**vars(r))))  # fmt: skip
    assert (report.changed, report.batches, report.done) == (23, 5, True)
    assert [r.seen for r in reports] == [5, 10, 15, 20, 23, 23]
    assert all(hx.jobs.get(job_id).status == JobStatus.CANCELLED for job_id in mine)
    assert hx.jobs.get(theirs).status == JobStatus.PENDING and hx.jobs.get(other_plugin).status == JobStatus.PENDING
    assert "bulk action" in hx.jobs.events(mine[0])[-1].message


def test_plain_users_bulk_only_their_own(make_hx, database):
    hx, admin, ada, bob = setup(make_hx, database)
    hx.jobs.submit(ada, "echo")
    theirs = hx.jobs.submit(bob, "echo").id
    assert hx.jobs.bulk(ada, BulkAction.CANCEL, owner_id=bob.id).changed == 1  # owner_id ignored: own jobs
    assert hx.jobs.get(theirs).status == JobStatus.PENDING


def test_retry_failed_and_delete_finished(make_hx, database):
    hx, admin, ada, bob = setup(make_hx, database, workers=1)
    failed = [hx.jobs.submit(ada, "echo", params={"fail": True}).id for _ in range(3)]
    ok = hx.jobs.submit(ada, "echo").id
    for job_id in [*failed, ok]:
        hx.jobs.wait(job_id, timeout=30)
    report = hx.jobs.bulk(admin, "retry_failed", batch_size=2)
    assert report.changed == 3
    jobs = hx.jobs.list(ada, limit=50).items
    assert len(jobs) == 7
    for job in jobs:
        hx.jobs.wait(job.id, timeout=30)
    deleted = hx.jobs.bulk(admin, "delete_finished", status="SUCCESS")
    assert deleted.changed == 1
    assert {job.status for job in hx.jobs.list(ada, limit=50).items} == {JobStatus.FAILURE}
    assert hx.jobs.bulk(admin, "delete_finished").changed == 6
    assert hx.jobs.list(ada).items == []


def test_stop_between_batches_and_bad_input(make_hx):
    hx, admin, ada, _ = setup(make_hx, "sqlite")
    for _ in range(6):
        hx.jobs.submit(ada, "echo")
    stop = threading.Event()
    report = hx.jobs.bulk(admin, "cancel", batch_size=2, progress=lambda r: stop.set(), stop=stop)
    assert (report.changed, report.done) == (2, False)
    with pytest.raises(ValidationFailed):
        hx.jobs.bulk(admin, "explode")
    with pytest.raises(ValidationFailed):
        hx.jobs.bulk(admin, "cancel", batch_size=0)
