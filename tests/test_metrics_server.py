"""A worker's own ``/metrics`` port, and multiprocess mode: two real worker processes, one scrape."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from helixnet import JobStatus
from helixnet.metrics_server import serve_metrics

TOKEN = "worker-metrics-token-51c0de"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}  # fmt: skip


def test_serve_metrics_checks_the_token(make_hx):
    hx = make_hx(workers=0)
    hx.prometheus.job_submitted("echo", 3)
    server = serve_metrics("127.0.0.1", 0, TOKEN, hx.prometheus.exposition_registry())
    base = f"http://127.0.0.1:{server.port}"
    try:
        missing = httpx.get(f"{base}/metrics")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["errors"] == [] and "helixnet_" not in missing.text
        assert httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer no"}).status_code == 401
        assert httpx.get(f"{base}/other", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
        ok = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert parse(ok.text)[("helixnet_jobs_submitted_total", (("plugin", "echo"),))] == 3
    finally:
        server.close()
    with pytest.raises(ValueError):
        serve_metrics("127.0.0.1", 0, "", hx.prometheus.registry)


def test_worker_metrics_port_needs_a_token(tmp_path):
    env = {**os.environ, "HELIXNET_DATA_DIR": str(tmp_path / "d")}
    done = subprocess.run([sys.executable, "-m", "helixnet", "worker", "--metrics-port", str(free_port())],
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert "HELIXNET_METRICS_TOKEN" in done.stderr and "Traceback" not in done.stderr


def _env(hx: Any, folder: Path) -> dict[str, str]:
    s = hx.settings
    return {**os.environ, "HELIXNET_DATA_DIR": str(s.data_dir), "HELIXNET_DATABASE_URL": s.resolved_database_url,
            "HELIXNET_QUEUE_URL": s.queue_url, "HELIXNET_QUEUE_NAME": s.queue_name,
            "HELIXNET_STORAGE_URL": s.resolved_storage_url, "HELIXNET_JOB_HEARTBEAT_SECONDS": "0.2",
            "HELIXNET_METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(folder)}  # fmt: skip


def _scrape(port: int) -> dict[Any, float] | None:
    """The worker's or supervisor's metrics, parsed; None while its server is not up yet."""
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    except httpx.TransportError:
        return None
    assert response.status_code == 200, response.text
    return parse(response.text)


def _until(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)
    return value


@pytest.mark.slow
def test_two_worker_processes_summed_in_one_scrape(make_hx, tmp_path):
    hx = make_hx(workers=0, sweeper=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    folder = tmp_path / "prom"
    folder.mkdir()
    port = free_port()
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    commands = [["--metrics-port", str(port)], []]
    procs = []
    for log, extra in zip(logs, commands, strict=True):
        with log.open("wb") as out:
            procs.append(subprocess.Popen([sys.executable, "-m", "helixnet", "worker", "-c", "1", *extra],
                                          env=_env(hx, folder), stdout=out, stderr=subprocess.STDOUT))  # fmt: skip
    try:
        _until(lambda: len([w for w in hx.workers.list() if w.stopped_at is None]) == 2)
        count_log = tmp_path / "count.log"
        # Jobs of a second each on two single-threaded workers: both processes run some.
        jobs = [hx.jobs.submit(user, "count", params={"log": str(count_log), "seconds": 1.0}) for _ in range(6)]
        done = [hx.jobs.wait(job.id, timeout=60) for job in jobs]
        assert all(job.status == JobStatus.SUCCESS for job in done)
        pids = {line.split()[2] for line in count_log.read_text().splitlines() if line.startswith("end")}
        assert pids == {str(p.pid) for p in procs}
        assert {f"counter_{p.pid}.db" for p in procs} <= {entry.name for entry in folder.iterdir()}

        got = _until(lambda: _scrape(port))
        assert got[("helixnet_jobs_finished_total", (("plugin", "count"), ("status", "SUCCESS")))] == 6
        assert got[("helixnet_job_duration_seconds_count", (("plugin", "count"),))] == 6
        assert got[("helixnet_job_duration_seconds_bucket", (("le", "0.5"), ("plugin", "count")))] == 0
        assert got[("helixnet_workers_alive", ())] == 2
        assert got[("helixnet_queue_depth", ())] == 0 and got[("helixnet_jobs_running", ())] == 0
        assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 401
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    output = "".join(log.read_text(errors="replace") for log in logs)
    assert f"http://127.0.0.1:{port}/metrics" in output
    assert TOKEN not in output and "Traceback" not in output
    assert all(proc.returncode == 0 for proc in procs)


def test_a_supervisor_serves_the_sum_of_its_children(make_hx, tmp_path):
    """``--processes 2 --metrics-port``: the children write multiprocess files, the supervisor's scrape sums them."""
    hx = make_hx(workers=0, sweeper=False)
    user = hx.users.create(email="ada@example.org", password="correct horse battery")
    env = _env(hx, tmp_path / "unused")
    del env["PROMETHEUS_MULTIPROC_DIR"]  # the supervisor makes a folder of its own
    port = free_port()
    log = tmp_path / "supervisor.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "helixnet", "worker", "-c", "1", "--processes", "2",
                                 "--metrics-port", str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        _until(lambda: len([w for w in hx.workers.list() if w.stopped_at is None]) == 2)
        count_log = tmp_path / "count.log"
        jobs = [hx.jobs.submit(user, "count", params={"log": str(count_log), "seconds": 1.0}) for _ in range(6)]
        assert all(hx.jobs.wait(job.id, timeout=60).status == JobStatus.SUCCESS for job in jobs)
        pids = {line.split()[2] for line in count_log.read_text().splitlines() if line.startswith("end")}
        assert len(pids) == 2 and str(proc.pid) not in pids  # the children ran them, both of them

        got = _until(lambda: _scrape(port))
        assert got[("helixnet_jobs_finished_total", (("plugin", "count"), ("status", "SUCCESS")))] == 6
        assert got[("helixnet_job_duration_seconds_count", (("plugin", "count"),))] == 6
        assert got[("helixnet_workers_alive", ())] == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    output = log.read_text(errors="replace")
    assert f"http://127.0.0.1:{port}/metrics" in output
    assert TOKEN not in output and "Traceback" not in output
    assert proc.returncode == 0, output
