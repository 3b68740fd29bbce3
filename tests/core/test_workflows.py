"""Workflows (issue 13): jobs after others, parents' outputs as inputs, fan-out, fan-in, failures, re-arm."""

from __future__ import annotations

import json
import threading

import pytest

from helixnet import Conflict, JobStatus, NotFound, ValidationFailed


def _text(hx, user, data=b"the quick brown fox jumps over the lazy dog the end"):
    return hx.artifacts.create(user, filename="in.txt", data=data)


def test_a_chain_passes_outputs_from_a_to_b_to_c(make_hx, database):
    hx = make_hx(database, workers=2)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    a = hx.jobs.submit(user, "textstats", inputs={"content": _text(hx, user).id})
    b = hx.jobs.submit(user, "textstats", inputs={"content": {"job": a.id, "output": "result.json"}})
    c = hx.jobs.submit(user, "textstats", inputs={"content": {"job": b.id, "output": "result.json"}}, after=[b.id])
    assert b.parents == [a.id] and c.parents == [b.id]  # a ref's job joins after
    assert c.status in (JobStatus.WAITING, JobStatus.PENDING) and c.input_refs["content"].job == b.id
    done = hx.jobs.wait(c.id, timeout=30)
    assert done.status == JobStatus.SUCCESS, done.error
    a, b = hx.jobs.get(a.id), hx.jobs.get(b.id)
    assert b.inputs["content"] == next(x.id for x in a.artifacts if x.filename == "result.json")
    assert done.inputs["content"] == next(x.id for x in b.artifacts if x.filename == "result.json")
    assert a.children == [b.id] and b.children == [c.id] and b.parents == [a.id]
    assert b.started_at >= a.finished_at and done.started_at >= b.finished_at
    # B counted the words of A's JSON result: the output really was its input.
    assert b.result["words"] > 0 and b.result["top_terms"] != a.result["top_terms"]
    events = [e.message for e in hx.jobs.events(c.id)]
    assert any("released" in m for m in events)


def test_a_failure_in_b_cancels_c_with_the_reason_and_retry_rearms(make_hx):
    hx = make_hx(workers=0)  # each job run by hand, in order: no race with a fast worker
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    a = hx.jobs.submit(user, "echo", params={"message": "a"})
    b = hx.jobs.submit(user, "echo", params={"fail": True}, after=[a.id])
    c = hx.jobs.submit(user, "echo", after=[b.id])
    d = hx.jobs.submit(user, "echo", after=[c.id])  # transitively
    ok = hx.jobs.submit(user, "echo", after=[b.id], allow_failed_parents=True)
    assert {j.status for j in (b, c, d, ok)} == {JobStatus.WAITING}
    assert hx.runner.execute(a.id, "w") == JobStatus.SUCCESS
    assert hx.runner.execute(b.id, "w") == JobStatus.FAILURE
    c_done, d_done = hx.jobs.get(c.id), hx.jobs.get(d.id)
    assert (c_done.status, c_done.error) == (JobStatus.CANCELLED, f"dependency failed: {b.id}")
    assert (d_done.status, d_done.error) == (JobStatus.CANCELLED, f"dependency failed: {c.id}")
    assert hx.runner.execute(ok.id, "w") == JobStatus.SUCCESS  # allow_failed_parents runs anyway
    # A plain retry leaves the cancelled children alone.
    plain = hx.jobs.retry(b.id)
    assert plain.parents == [a.id] and plain.children == [] and plain.status == JobStatus.PENDING
    assert hx.jobs.get(c.id).status == JobStatus.CANCELLED
    # Re-armed: C and D wait again, C now for the retry; the retry fails too, so they end again.
    again = hx.jobs.retry(b.id, rearm_children=True)
    assert again.children == [c.id] and hx.jobs.get(c.id).parents == [again.id]
    assert hx.jobs.get(c.id).status == hx.jobs.get(d.id).status == JobStatus.WAITING
    assert hx.runner.execute(again.id, "w") == JobStatus.FAILURE
    assert hx.jobs.get(c.id).error == f"dependency failed: {again.id}"
    assert hx.jobs.get(d.id).error == f"dependency failed: {c.id}"


def test_rearm_runs_the_children_once_the_retry_succeeds(make_hx):
    hx = make_hx(workers=0)  # nothing runs by itself: every step is taken by hand
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    b = hx.jobs.submit(user, "echo")
    c = hx.jobs.submit(user, "echo", after=[b.id])
    hx.jobs.cancel(b.id)
    assert hx.jobs.get(c.id).error == f"dependency failed: {b.id}"
    retried = hx.jobs.retry(b.id, rearm_children=True)
    assert hx.jobs.get(c.id).status == JobStatus.WAITING
    assert hx.runner.execute(retried.id, "w") == JobStatus.SUCCESS
    assert hx.jobs.get(c.id).status == JobStatus.PENDING
    assert hx.runner.execute(c.id, "w") == JobStatus.SUCCESS


def test_refusals_name_after(hx, user, other_user):
    missing = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(NotFound) as unknown:
        hx.jobs.submit(user, "echo", after=[missing])
    assert unknown.value.errors[0]["loc"] == ["after"]
    theirs = hx.jobs.submit(other_user, "echo")
    with pytest.raises(NotFound) as foreign:
        hx.jobs.submit(user, "echo", after=[theirs.id])
    # Another user's job reads exactly as a missing one.
    assert foreign.value.detail.replace(theirs.id, "ID") == unknown.value.detail.replace(missing, "ID")
    with pytest.raises(NotFound) as ref:
        hx.jobs.submit(user, "textstats", inputs={"content": {"job": theirs.id, "output": "result.json"}})
    assert ref.value.errors[0]["loc"] == ["inputs", "content", "job"]
    with pytest.raises(ValidationFailed) as bad:
        hx.jobs.submit(user, "echo", after="not a list")
    assert bad.value.errors[0]["loc"] == ["after"]
    with pytest.raises(ValidationFailed) as shape:
        hx.jobs.submit(user, "textstats", inputs={"content": {"job": theirs.id}})
    assert shape.value.errors[0]["loc"] == ["inputs", "content"]
    failed = hx.jobs.submit(user, "echo", params={"fail": True})
    hx.jobs.wait(failed.id, timeout=20)
    with pytest.raises(Conflict) as conflict:
        hx.jobs.submit(user, "echo", after=[failed.id])
    assert conflict.value.errors[0]["loc"] == ["after"] and failed.id in conflict.value.detail
    assert hx.jobs.submit(user, "echo", after=[failed.id], allow_failed_parents=True).status == JobStatus.PENDING
    # What the job page reads for a workflow's rows: only the caller's own jobs, in the order asked.
    assert [j.id for j in hx.jobs.get_many([theirs.id, failed.id, missing], user)] == [failed.id]


def test_a_cycle_through_an_idempotency_key_is_refused(hx, user):
    first = hx.jobs.submit(user, "echo", idempotency_key="step-1")
    with pytest.raises(ValidationFailed) as info:
        hx.jobs.submit(user, "echo", idempotency_key="step-1", after=[first.id])
    assert info.value.errors[0]["loc"] == ["after"] and "cycle" in info.value.detail


def test_a_succeeded_parent_resolves_at_once_or_names_the_missing_output(hx, user):
    a = hx.jobs.submit(user, "textstats", inputs={"content": _text(hx, user).id})
    hx.jobs.wait(a.id, timeout=20)
    b = hx.jobs.submit(user, "textstats", inputs={"content": {"job": a.id, "output": "result.json"}})
    assert b.status == JobStatus.PENDING and b.inputs["content"] in {x.id for x in hx.jobs.get(a.id).artifacts}
    with pytest.raises(ValidationFailed) as info:
        hx.jobs.submit(user, "textstats", inputs={"content": {"job": a.id, "output": "nope.json"}})
    assert info.value.errors[0]["loc"] == ["inputs", "content"] and "'nope.json'" in info.value.detail


def test_a_missing_output_fails_the_waiting_child_naming_input_and_file(make_hx):
    hx = make_hx(workers=0)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    a = hx.jobs.submit(user, "echo")  # echo writes no files
    b = hx.jobs.submit(user, "textstats", inputs={"content": {"job": a.id, "output": "result.json"}})
    assert hx.runner.execute(a.id, "w") == JobStatus.SUCCESS
    failed = hx.jobs.get(b.id)
    assert failed.status == JobStatus.FAILURE
    assert "'content'" in failed.error and "'result.json'" in failed.error and a.id in failed.error


def test_cancel_of_a_waiting_job_cascades_and_counts_and_lists_as_waiting(make_hx):
    hx = make_hx(workers=0)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    a = hx.jobs.submit(user, "echo")
    b = hx.jobs.submit(user, "echo", after=[a.id])
    c = hx.jobs.submit(user, "echo", after=[b.id])
    assert hx.jobs.counts(user)[JobStatus.WAITING] == 2
    assert {j.id for j in hx.jobs.list(user, status="waiting").items} == {b.id, c.id}
    assert hx.jobs.cancel(b.id).status == JobStatus.CANCELLED
    assert hx.jobs.get(c.id).error == f"dependency failed: {b.id}"
    assert hx.jobs.get(a.id).status == JobStatus.PENDING


def test_the_sweeper_releases_a_child_a_path_forgot(make_hx):
    """A parent made final behind the services' back (a crash, a hand edit): the sweeper's safety net."""
    from sqlalchemy import update

    from helixnet.core.models import Job

    hx = make_hx(workers=0)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    a = hx.jobs.submit(user, "echo")
    b = hx.jobs.submit(user, "echo", after=[a.id])
    with hx.db.connect() as conn:
        conn.execute(update(Job).where(Job.id == a.id).values(status="SUCCESS"))
    assert hx.jobs.get(b.id).status == JobStatus.WAITING
    assert hx.sweep().released_waiting == 1
    assert hx.jobs.get(b.id).status == JobStatus.PENDING
    assert hx.runner.execute(b.id, "w") == JobStatus.SUCCESS


def test_batch_items_take_after(hx, user):
    parent = hx.jobs.submit(user, "echo", params={"message": "p"})
    jobs = hx.jobs.submit_many(user, [{"plugin": "echo", "after": [parent]} for _ in range(3)])  # a JobRead is its id
    assert all(j.parents == [parent.id] for j in jobs)
    assert all(hx.jobs.wait(j.id, timeout=20).status == JobStatus.SUCCESS for j in jobs)
    assert sorted(hx.jobs.get(parent.id).children) == sorted(j.id for j in jobs)


def test_fan_in_of_20_runs_the_child_once_after_the_last_parent_on_postgres(make_hx):
    """Twenty parents finishing together on four worker threads: the child is released exactly once."""
    hx = make_hx("postgres", workers=4, worker_claim_batch=1)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    parents = [hx.jobs.submit(user, "sleep", params={"seconds": 0.05}) for _ in range(20)]
    child = hx.jobs.submit(user, "echo", params={"message": "in"}, after=[p.id for p in parents])
    done = hx.jobs.wait(child.id, timeout=60)
    assert done.status == JobStatus.SUCCESS and done.attempts == 1
    finished = [hx.jobs.get(p.id).finished_at for p in parents]
    assert done.started_at >= max(finished)
    started = [e for e in hx.jobs.events(child.id) if e.message.startswith("started on worker")]
    released = [e for e in hx.jobs.events(child.id) if e.message.startswith("released")]
    assert len(started) == 1 and len(released) == 1
    assert sorted(done.parents) == sorted(p.id for p in parents)


def test_the_settle_of_concurrent_parents_releases_once_on_postgres(make_hx):
    """Two parents' transactions at the same instant: neither may think the other is unfinished."""
    from concurrent.futures import ThreadPoolExecutor

    hx = make_hx("postgres", workers=0)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    for _ in range(5):
        parents = [hx.jobs.submit(user, "echo") for _ in range(8)]
        child = hx.jobs.submit(user, "echo", after=[p.id for p in parents])
        barrier = threading.Barrier(len(parents))

        def run(job_id: str, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            hx.runner.execute(job_id, f"w-{job_id[:4]}")

        with ThreadPoolExecutor(len(parents)) as pool:
            list(pool.map(run, [p.id for p in parents]))
        got = hx.jobs.get(child.id)
        assert got.status == JobStatus.PENDING, json.dumps([hx.jobs.get(p.id).status for p in parents])
        assert sum(e.message.startswith("released") for e in hx.jobs.events(child.id)) == 1
