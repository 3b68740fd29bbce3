"""The admin routes behind the admin UI: counts, bulk actions, pause and resume, queue, workers, metrics."""

from __future__ import annotations

import pytest

from .apihelp import API, Account, wait_final


@pytest.fixture
def hx(make_hx):
    return make_hx(workers=1)


def test_plain_users_are_refused(client, alice: Account) -> None:
    for method, path in (("POST", "/jobs/bulk"), ("GET", "/plugins/paused"), ("POST", "/plugins/echo/pause"),
                         ("GET", "/queue"), ("GET", "/workers"), ("GET", "/metrics")):  # fmt: skip
        response = client.request(method, f"{API}{path}", headers=alice.headers, json={"action": "cancel"})
        assert response.status_code == 403, (method, path)


def test_counts_are_mine_and_capped(client, alice: Account, bob: Account) -> None:
    for _ in range(3):
        client.post(f"{API}/jobs", headers=alice.headers, json={"plugin": "sleep", "params": {"seconds": 3600}})
    client.post(f"{API}/jobs", headers=bob.headers, json={"plugin": "echo"})
    body = client.get(f"{API}/jobs/counts?cap=1&plugin=sleep", headers=alice.headers).json()
    assert body["cap"] == 1 and body["counts"]["PENDING"] == 2  # cap + 1: "more than 1" (2 or 3 wait)
    assert all(n <= 2 for n in body["counts"].values())
    mine = client.get(f"{API}/jobs/counts", headers=alice.headers).json()["counts"]
    assert sum(mine.values()) == 3  # bob's job is not counted
    assert set(body["counts"]) == {"PENDING", "RUNNING", "SUCCESS", "FAILURE", "CANCELLED", "WAITING"}


def test_pause_bulk_resume_and_monitor_reads(client, admin: Account, alice: Account) -> None:
    assert client.post(f"{API}/plugins/echo/pause", headers=admin.headers).json()["paused"] is True
    assert client.post(f"{API}/plugins/nope/pause", headers=admin.headers).status_code == 404
    assert [p["plugin"] for p in client.get(f"{API}/plugins/paused", headers=admin.headers).json()] == ["echo"]
    ids = [client.post(f"{API}/jobs", headers=alice.headers, json={"plugin": "echo"}).json()["id"] for _ in range(3)]
    queue = client.get(f"{API}/queue", headers=admin.headers).json()
    assert {"plugin": "echo", "pending": 3, "running": 0} in queue
    cancelled = client.post(f"{API}/jobs/bulk", headers=admin.headers,
                            json={"action": "cancel", "owner_id": alice.id, "q": ids[0]}).json()  # fmt: skip
    assert (cancelled["changed"], cancelled["done"]) == (1, True)
    resumed = client.post(f"{API}/plugins/echo/resume", headers=admin.headers).json()
    assert resumed == {"plugin": "echo", "paused": False, "paused_at": None, "released": 2}
    for job_id in ids[1:]:
        assert wait_final(client, job_id, alice.headers)["status"] == "SUCCESS"
    workers = client.get(f"{API}/workers", headers=admin.headers).json()
    assert len(workers) == 1 and workers[0]["threads"] == 1
    assert client.get(f"{API}/metrics?window=day", headers=admin.headers).json()["window"] == "day"
    assert client.get(f"{API}/metrics?window=year", headers=admin.headers).status_code == 422
    bad = client.post(f"{API}/jobs/bulk", headers=admin.headers, json={"action": "explode"})
    assert bad.status_code == 422
