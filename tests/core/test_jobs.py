"""Submitting, listing, cancelling and retrying jobs; every bad input."""

from __future__ import annotations

import time

import pytest

from helixnet import Conflict, JobStatus, NotFound, ValidationFailed, WaitTimeout


def test_unknown_plugin_names_it_and_lists_known(hx, user):
    with pytest.raises(ValidationFailed) as info:
        hx.jobs.submit(user, "nope", params={})
    assert "'nope'" in info.value.detail
    for known in ("echo", "sleep", "textstats"):
        assert known in info.value.detail
    assert info.value.errors[0]["loc"] == ["plugin"]


def test_params_errors_name_each_field(hx, user):
    with pytest.raises(ValidationFailed) as info:
        hx.jobs.submit(user, "sleep", params={"seconds": 99999, "bogus": 1})
    locs = {tuple(e["loc"]) for e in info.value.errors}
    assert ("params", "seconds") in locs and ("params", "bogus") in locs
    assert all(e["msg"] for e in info.value.errors)


def test_missing_required_param(hx, user):
    with pytest.raises(ValidationFailed) as info:
        hx.jobs.submit(user, "sleep", params={})
    assert info.value.errors[0]["loc"] == ["params", "seconds"]


def test_inputs_missing_unknown_foreign(hx, user, other_user):
    with pytest.raises(ValidationFailed) as info:
        hx.jobs.submit(user, "textstats")
    assert info.value.errors[0]["loc"] == ["inputs", "content"]
    mine = hx.artifacts.create(user, filename="a.txt", data=b"x")
    with pytest.raises(ValidationFailed):
        hx.jobs.submit(user, "textstats", inputs={"content": mine.id, "extra": mine.id})
    theirs = hx.artifacts.create(other_user, filename="b.txt", data=b"secret")
    with pytest.raises(NotFound) as foreign:
        hx.jobs.submit(user, "textstats", inputs={"content": theirs.id})
    with pytest.raises(NotFound) as missing:
        hx.jobs.submit(user, "textstats", inputs={"content": "00000000-0000-0000-0000-000000000000"})
    # Another user's artifact and a missing one read the same: no leak of existence.
    assert foreign.value.detail.replace(theirs.id, "ID") == missing.value.detail.replace(
        "00000000-0000-0000-0000-000000000000", "ID"
    )


@pytest.mark.parametrize("field,value", [("priority", 1000), ("max_retries", -1), ("timeout", 0)])
def test_range_errors(hx, user, field, value):
    with pytest.raises(ValidationFailed) as info:
        hx.jobs.submit(user, "echo", **{field: value})
    assert info.value.errors[0]["loc"] == [field]


def test_idempotency_key_returns_first_job(hx, user, other_user):
    first = hx.jobs.submit(user, "echo", params={"message": "1"}, idempotency_key="k-1")
    again = hx.jobs.submit(user, "echo", params={"message": "1"}, idempotency_key="k-1")
    theirs = hx.jobs.submit(other_user, "echo", idempotency_key="k-1")
    assert again.id == first.id
    assert theirs.id != first.id


def test_get_and_events_of_another_users_job_are_not_found(hx, user, other_user):
    job = hx.jobs.submit(user, "echo")
    with pytest.raises(NotFound):
        hx.jobs.get(job.id, other_user)
    with pytest.raises(NotFound):
        hx.jobs.events(job.id, other_user)
    with pytest.raises(NotFound):
        hx.jobs.cancel(job.id, other_user)
    assert hx.jobs.get(job.id, user).id == job.id


def test_admin_sees_everything(hx, user):
    admin = hx.users.create(email="root@example.org", password="admin password!", is_admin=True)
    job = hx.jobs.submit(user, "echo")
    assert hx.jobs.get(job.id, admin).id == job.id
    assert [j.id for j in hx.jobs.list(admin, all_users=True).items] == [job.id]
    assert hx.jobs.list(admin).items == []  # without all=true, admins see their own


def test_list_newest_first_with_keyset_pages_and_filters(make_hx, database):
    hx = make_hx(database, workers=0)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    ids = [hx.jobs.submit(user, "echo", params={"message": str(i)}).id for i in range(7)]
    sleeper = hx.jobs.submit(user, "sleep", params={"seconds": 1}).id
    seen, cursor = [], None
    while True:
        page = hx.jobs.list(user, limit=3, cursor=cursor)
        seen += [job.id for job in page.items]
        if not (cursor := page.next_cursor):
            break
    assert seen == [sleeper, *reversed(ids)]
    assert [j.id for j in hx.jobs.list(user, plugin="sleep").items] == [sleeper]
    assert len(hx.jobs.list(user, status="pending").items) == 8
    assert hx.jobs.list(user, status=JobStatus.SUCCESS).items == []
    assert [j.id for j in hx.jobs.list(user, q="slee").items] == [sleeper]
    with pytest.raises(ValidationFailed):
        hx.jobs.list(user, status="DONE")
    with pytest.raises(ValidationFailed):
        hx.jobs.list(user, cursor="garbage!")
    with pytest.raises(ValidationFailed):
        hx.jobs.list(user, limit=501)


def test_cancel_pending_at_once(make_hx):
    hx = make_hx(workers=0)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = hx.jobs.submit(user, "echo")
    cancelled = hx.jobs.cancel(job.id, user)
    assert cancelled.status == JobStatus.CANCELLED and cancelled.finished_at
    # The queued id may still be delivered: it must run nothing.
    assert hx.runner.execute(job.id, "w") is None
    with pytest.raises(Conflict):
        hx.jobs.cancel(job.id, user)


def test_cancel_running_is_cooperative(hx, user):
    job = hx.jobs.submit(user, "sleep", params={"seconds": 60})
    _wait_for_status(hx, job.id, JobStatus.RUNNING)
    started = time.monotonic()
    assert hx.jobs.cancel(job.id, user).cancel_requested
    done = hx.jobs.wait(job.id, timeout=10)
    assert done.status == JobStatus.CANCELLED
    assert time.monotonic() - started < 5
    assert any("cancel requested" in e.message for e in hx.jobs.events(job.id))


def test_cancel_running_from_another_process_view(make_hx):
    """A cancel written to the row (as another process would) reaches the plugin via the monitor."""
    hx = make_hx()
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = hx.jobs.submit(user, "sleep", params={"seconds": 60})
    _wait_for_status(hx, job.id, JobStatus.RUNNING)
    hx.jobs._on_cancel = None  # as if cancelled from a process that does not run this job
    hx.jobs.cancel(job.id)
    assert hx.jobs.wait(job.id, timeout=10).status == JobStatus.CANCELLED


def test_retry_makes_a_new_job(hx, user):
    failed = hx.jobs.wait(hx.jobs.submit(user, "echo", params={"fail": True}).id, timeout=30)
    assert failed.status == JobStatus.FAILURE
    retried = hx.jobs.retry(failed.id, user)
    assert retried.id != failed.id and retried.params == failed.params
    succeeded = hx.jobs.wait(hx.jobs.submit(user, "echo").id, timeout=30)
    with pytest.raises(Conflict):
        hx.jobs.retry(succeeded.id, user)


def test_wait_times_out(make_hx):
    hx = make_hx(workers=0)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = hx.jobs.submit(user, "echo")
    with pytest.raises(WaitTimeout):
        hx.jobs.wait(job.id, timeout=0.2)


def _wait_for_status(hx, job_id, status, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hx.jobs.get(job_id).status == status:
            return
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never reached {status}: {hx.jobs.get(job_id)}")
