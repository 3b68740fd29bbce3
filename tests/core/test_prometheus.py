"""Prometheus metrics of one HelixNet: counters on the job path, gauges read from the database."""

from __future__ import annotations

import time

from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from helixnet.core.models import JobStatus
from helixnet.core.prometheus import (
    MULTIPROC_ENV,
    bearer_matches,
    child_exited,
    multiprocess_dir,
    prepare_multiprocess_dir,
)


def samples(hx) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by name and sorted labels (the text parsed, as Prometheus would)."""
    text = hx.prometheus.exposition().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}  # fmt: skip


def _until(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)
    return value


def test_counts_submitted_finished_and_durations(make_hx, database):
    hx = make_hx(database, workers=1)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    jobs = [hx.jobs.submit(user, "echo", params={"message": str(n)}) for n in range(3)]
    failing = hx.jobs.submit(user, "echo", params={"fail": True})
    for job in [*jobs, failing]:
        hx.jobs.wait(job.id, timeout=30)
    again = hx.jobs.submit(user, "echo", params={"message": "0"}, idempotency_key="k")
    assert hx.jobs.submit(user, "echo", params={"message": "0"}, idempotency_key="k").id == again.id
    hx.jobs.wait(again.id, timeout=30)

    got = samples(hx)
    assert got[("helixnet_jobs_submitted_total", (("plugin", "echo"),))] == 5  # the repeated key: once
    assert got[("helixnet_jobs_finished_total", (("plugin", "echo"), ("status", "SUCCESS")))] == 4
    assert got[("helixnet_jobs_finished_total", (("plugin", "echo"), ("status", "FAILURE")))] == 1
    assert got[("helixnet_job_duration_seconds_count", (("plugin", "echo"),))] == 5
    assert got[("helixnet_job_duration_seconds_bucket", (("le", "3600.0"), ("plugin", "echo")))] == 5
    assert got[("helixnet_queue_depth", ())] == 0 and got[("helixnet_jobs_running", ())] == 0
    assert got[("helixnet_workers_alive", ())] == 1
    assert got[("helixnet_queue_messages", ())] == 0


def test_gauges_show_pending_running_and_workers_from_the_database(make_hx, database):
    hx = make_hx(database, workers=1)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    running = hx.jobs.submit(user, "sleep", params={"seconds": 60})
    _until(lambda: hx.jobs.get(running.id).status == JobStatus.RUNNING)
    waiting = [hx.jobs.submit(user, "sleep", params={"seconds": 60}) for _ in range(2)]
    # Another instance on the same database (another process, as far as the database can tell);
    # "sqlite" only so that the fixture does not empty the PostgreSQL database again.
    other = make_hx("sqlite", start=False, database_url=hx.settings.resolved_database_url,
                    queue_url=hx.settings.queue_url, queue_name=hx.settings.queue_name)  # fmt: skip
    for instance in (hx, other):
        got = samples(instance)
        assert got[("helixnet_queue_depth", ())] == 2
        assert got[("helixnet_jobs_running", ())] == 1
        assert got[("helixnet_workers_alive", ())] == 1
    # The counters are per instance: the other one saw nothing submitted.
    assert ("helixnet_jobs_submitted_total", (("plugin", "sleep"),)) not in samples(other)
    assert samples(hx)[("helixnet_jobs_submitted_total", (("plugin", "sleep"),))] == 3
    for job in [*waiting, running]:  # the waiting ones first: none may start in between
        hx.jobs.cancel(job.id)
    for job in [*waiting, running]:
        assert hx.jobs.wait(job.id, timeout=30).status == JobStatus.CANCELLED
    hx.stop()  # the pool's row is marked stopped: no longer alive
    got = samples(other)
    assert got[("helixnet_queue_depth", ())] == 0 and got[("helixnet_jobs_running", ())] == 0
    assert got[("helixnet_workers_alive", ())] == 0


def test_a_cancelled_run_counts_as_cancelled(make_hx):
    hx = make_hx(workers=1)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    job = hx.jobs.submit(user, "sleep", params={"seconds": 60})
    _until(lambda: hx.jobs.get(job.id).status == JobStatus.RUNNING)
    hx.jobs.cancel(job.id)
    assert hx.jobs.wait(job.id, timeout=30).status == JobStatus.CANCELLED
    got = samples(hx)
    assert got[("helixnet_jobs_finished_total", (("plugin", "sleep"), ("status", "CANCELLED")))] == 1


def test_a_broken_database_leaves_the_gauges_out_not_the_scrape(make_hx, tmp_path):
    hx = make_hx(workers=0)
    hx.prometheus.job_submitted("echo")
    hx.db.dispose()
    (hx.settings.data_dir / "helixnet.db").unlink()
    (hx.settings.data_dir / "helixnet.db").mkdir()  # opening it now fails
    got = samples(hx)
    assert got[("helixnet_jobs_submitted_total", (("plugin", "echo"),))] == 1
    assert ("helixnet_queue_depth", ()) not in got


def test_bearer_matches():
    assert bearer_matches("Bearer s3cret", "s3cret")
    assert bearer_matches("bearer s3cret", "s3cret")
    assert not bearer_matches("Bearer s3cre", "s3cret")
    assert not bearer_matches("Basic s3cret", "s3cret")
    assert not bearer_matches("s3cret", "s3cret")
    assert not bearer_matches(None, "s3cret")
    assert not bearer_matches("Bearer ", "")


def test_prepare_multiprocess_dir_cleans_and_switches_modes(tmp_path, monkeypatch):
    folder = tmp_path / "prom"
    folder.mkdir()
    (folder / "counter_12345.db").write_bytes(b"stale")
    (folder / "notes.txt").write_text("not ours")
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    try:
        assert prepare_multiprocess_dir(folder) == folder
        assert multiprocess_dir() == str(folder)
        assert getattr(values.ValueClass, "_multiprocess", False)
        assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
        from helixnet.core.prometheus import PrometheusMetrics

        metrics = PrometheusMetrics()
        metrics.job_finished("echo", JobStatus.SUCCESS, 0.01)
        assert any(p.name.startswith("counter_") for p in folder.iterdir())  # written to the files
        child_exited(12345)  # no live gauges of ours: nothing to remove, and no error
    finally:
        monkeypatch.delenv(MULTIPROC_ENV, raising=False)
        values.ValueClass.close_all_files() if hasattr(values.ValueClass, "close_all_files") else None
        values.ValueClass = values.get_value_class()
    assert not getattr(values.ValueClass, "_multiprocess", False)
