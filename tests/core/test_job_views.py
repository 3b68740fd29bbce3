"""What the dashboards read: oldest-first pages, search inside params, capped status counts."""

from __future__ import annotations

import pytest

from helixnet.core.models import JobStatus
from helixnet.errors import ValidationFailed


def test_oldest_first_keyset_pages(make_hx, database):
    hx = make_hx(database, workers=0)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    ids = [hx.jobs.submit(user, "echo", params={"message": str(i)}).id for i in range(7)]
    seen, cursor = [], None
    while True:
        page = hx.jobs.list(user, limit=3, cursor=cursor, oldest_first=True)
        seen += [job.id for job in page.items]
        if not (cursor := page.next_cursor):
            break
    assert seen == ids


def test_search_finds_words_inside_params(make_hx, database):
    hx = make_hx(database, workers=0)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    hx.jobs.submit(user, "echo", params={"message": "nothing to see"})
    wanted = hx.jobs.submit(user, "echo", params={"message": "the Aardvark report"}).id
    assert [job.id for job in hx.jobs.list(user, q="aardvark").items] == [wanted]
    assert hx.jobs.list(user, q="zebra").items == []


def test_counts_per_status_stop_at_the_cap(make_hx, database):
    hx = make_hx(database, workers=0)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    other = hx.users.create(email="bob@example.org", password="correct horse battery")
    for i in range(5):
        hx.jobs.submit(user, "echo", params={"message": str(i)})
    hx.jobs.cancel(hx.jobs.submit(user, "sleep", params={"seconds": 1}).id)
    hx.jobs.submit(other, "echo")
    counts = hx.jobs.counts(user)
    assert counts[JobStatus.PENDING] == 5 and counts[JobStatus.CANCELLED] == 1 and counts[JobStatus.SUCCESS] == 0
    assert hx.jobs.counts(user, cap=3)[JobStatus.PENDING] == 4  # cap + 1: "more than 3"
    assert hx.jobs.counts(user, plugin="sleep")[JobStatus.PENDING] == 0
    assert hx.jobs.counts(None, all_users=True)[JobStatus.PENDING] == 6
    assert hx.jobs.counts(user, all_users=True)[JobStatus.PENDING] == 5  # not an admin: own jobs only
    with pytest.raises(ValidationFailed):
        hx.jobs.counts(user, cap=0)
