"""A job's whole life on the embedded defaults, and on PostgreSQL."""

from __future__ import annotations

import json

import pytest

from helixnet import HelixNet, JobStatus, Settings

TEXT = b"the quick brown fox\njumps over the lazy dog\nthe dog sleeps\n"
CONTEXT = b"a lazy afternoon for the dog\n"


def test_readme_flow_on_embedded_defaults(tmp_path):
    """The issue's embedding example, verbatim apart from the artifact."""
    hx = HelixNet(Settings(data_dir=str(tmp_path / "hx-data"), bcrypt_rounds=4))
    hx.start()
    try:
        user = hx.users.create(email="ada@example.org", password="correct horse battery")
        artifact = hx.artifacts.create(user, filename="fox.txt", data=TEXT)
        job = hx.jobs.submit(user, "textstats", params={"top": 5}, inputs={"content": artifact.id})
        job = hx.jobs.wait(job.id, timeout=30)
    finally:
        hx.stop()
    assert job.status == JobStatus.SUCCESS
    assert job.result["lines"] == 3
    assert job.result["words"] == 12
    assert job.result["top_terms"][0] == {"term": "the", "count": 3}
    assert len(job.result["top_terms"]) == 5
    [output] = job.artifacts
    assert output.filename == "result.json" and output.job_id == job.id
    assert job.result_path == output.object_name
    assert (tmp_path / "hx-data" / "helixnet.db").exists()
    assert (tmp_path / "hx-data" / "queue.db").exists()
    assert (tmp_path / "hx-data" / "artifacts" / output.object_name).exists()


def test_lifecycle(make_hx, database):
    hx = make_hx(database)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    content = hx.artifacts.create(user, filename="content.txt", data=TEXT)
    context = hx.artifacts.create(user, filename="context.txt", data=CONTEXT)
    submitted = hx.jobs.submit(user, "textstats", params={"top": 3}, inputs={"content": content.id, "context": context.id})
    assert submitted.status == JobStatus.PENDING
    assert submitted.params == {"top": 3, "min_length": 1, "case_sensitive": False}

    job = hx.jobs.wait(submitted.id, timeout=30)
    assert job.status == JobStatus.SUCCESS
    assert job.progress == 1.0
    assert job.attempts == 1
    assert job.started_at and job.finished_at and job.started_at <= job.finished_at
    shared = {item["term"] for item in job.result["shared_terms"]}
    assert shared == {"the", "dog", "lazy"}
    # The output artifact holds the same summary as the result.
    [output] = job.artifacts
    assert json.loads(hx.artifacts.read_bytes(output.id)) == job.result
    assert output.size == len(hx.artifacts.read_bytes(output.id))
    assert output.owner_id == user.id

    messages = [event.message for event in hx.jobs.events(job.id)]
    assert messages[0].startswith("started on worker")
    assert messages[-1].startswith("finished SUCCESS")


def test_status_transitions_pending_running_success(make_hx):
    hx = make_hx(workers=0)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = hx.jobs.submit(user, "echo", params={"message": "hi"})
    assert hx.jobs.get(job.id).status == JobStatus.PENDING

    claim = hx.runner.claim(job.id, "test-worker")
    assert claim is not None
    running = hx.jobs.get(job.id)
    assert running.status == JobStatus.RUNNING and running.worker_id == "test-worker" and running.attempts == 1
    # A duplicate delivery finds nothing to claim.
    assert hx.runner.claim(job.id, "other-worker") is None


@pytest.mark.parametrize(("params", "status", "error"), [({"fail": True, "message": "boom"}, JobStatus.FAILURE, "boom")])
def test_failure_records_error_and_traceback(hx, user, params, status, error):
    job = hx.jobs.wait(hx.jobs.submit(user, "echo", params=params).id, timeout=30)
    assert job.status == status
    assert error in job.error
    levels = [event.level for event in hx.jobs.events(job.id)]
    assert "DEBUG" in levels  # the traceback, for the job page


def test_echo_success_result(hx, user):
    job = hx.jobs.wait(hx.jobs.submit(user, "echo", params={"message": "hello"}).id, timeout=30)
    assert (job.status, job.result) == (JobStatus.SUCCESS, {"message": "hello"})


@pytest.mark.postgres
def test_postgresql_alone_database_and_queue(make_hx, postgres_url):
    """A deployment of PostgreSQL (and S3) alone: the queue is a table in the same database."""
    hx = make_hx("postgres", queue_url=postgres_url)
    make_hx("postgres", queue_url=postgres_url, workers=1, sweeper=False)  # a second instance takes too
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    jobs = [hx.jobs.submit(user, "echo", params={"message": f"m{i}"}) for i in range(20)]
    done = [hx.jobs.wait(job.id, timeout=30) for job in jobs]
    assert {job.status for job in done} == {JobStatus.SUCCESS}
    assert {job.result["message"] for job in done} == {f"m{i}" for i in range(20)}
    assert hx.queue.size() == 0
