"""/schedules: create, read, list, patch (pause), delete, run now, its jobs; and delayed jobs on POST /jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from .apihelp import API, VALIDATION, Account, wait_final


def create(client, account: Account, **body):
    return client.post(f"{API}/schedules", headers=account.headers, json={"plugin": "echo", **body})


def test_schedule_lifecycle(client, alice: Account, bob: Account, admin: Account) -> None:
    made = create(client, alice, params={"message": "hi"}, cron="30 2 * * *", timezone="Europe/Berlin",
                  overlap="skip", catchup_seconds=60)  # fmt: skip
    assert made.status_code == 201, made.text
    schedule = made.json()
    assert made.headers["Location"].endswith(f"{API}/schedules/{schedule['id']}")
    assert schedule["next_fire_at"] and schedule["enabled"] and schedule["overlap"] == "skip"
    assert datetime.fromisoformat(schedule["next_fire_at"]).astimezone(UTC).minute == 30
    url = f"{API}/schedules/{schedule['id']}"
    assert client.get(url, headers=alice.headers).json()["id"] == schedule["id"]
    # Another user's schedule does not exist for them, whatever they try; an admin sees it.
    for method in ("get", "patch", "delete"):
        kwargs = {"json": {"enabled": False}} if method == "patch" else {}
        assert getattr(client, method)(url, headers=bob.headers, **kwargs).status_code == 404
    assert client.post(f"{url}/run", headers=bob.headers).status_code == 404
    assert client.get(f"{url}/jobs", headers=bob.headers).status_code == 404
    assert client.get(f"{API}/schedules", headers=bob.headers).json()["items"] == []
    assert client.get(url, headers=admin.headers).status_code == 200
    assert client.get(f"{API}/schedules?all=true", headers=bob.headers).status_code == 403
    assert [s["id"] for s in client.get(f"{API}/schedules?all=true", headers=admin.headers).json()["items"]] == [
        schedule["id"]]  # fmt: skip

    paused = client.patch(url, headers=alice.headers, json={"enabled": False})
    assert paused.status_code == 200 and paused.json()["enabled"] is False and paused.json()["next_fire_at"] is None
    resumed = client.patch(url, headers=alice.headers, json={"enabled": True, "interval_seconds": 3600})
    assert resumed.json()["cron"] is None and resumed.json()["interval_seconds"] == 3600
    assert datetime.fromisoformat(resumed.json()["next_fire_at"]).minute == 0

    ran = client.post(f"{url}/run", headers=alice.headers)
    assert ran.status_code == 201, ran.text
    job = ran.json()
    assert job["schedule_id"] == schedule["id"] and job["fire_time"] and ran.headers["Location"].endswith(job["id"])
    assert wait_final(client, job["id"], alice.headers)["status"] == "SUCCESS"
    runs = client.get(f"{url}/jobs?limit=10", headers=alice.headers).json()
    assert [j["id"] for j in runs["items"]] == [job["id"]] and runs["next_cursor"] is None
    assert client.get(url, headers=alice.headers).json()["last_job_id"] == job["id"]

    assert client.delete(url, headers=alice.headers).status_code == 204
    assert client.get(url, headers=alice.headers).status_code == 404
    assert client.get(f"{API}/jobs/{job['id']}", headers=alice.headers).json()["schedule_id"] is None


@pytest.mark.embedded_only(VALIDATION)
def test_schedule_validation_names_the_field(client, alice: Account) -> None:
    cases = [
        ({"cron": "not cron"}, "cron"),
        ({"cron": "0 * * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"cron": "0 * * * *", "interval_seconds": 60}, "cron"),
        ({}, "cron"),
        ({"interval_seconds": 60, "overlap": "never"}, "overlap"),
        ({"interval_seconds": 60, "params": {"message": 5}}, "params"),
        ({"interval_seconds": 60, "catchup_seconds": -1}, "catchup_seconds"),
    ]
    for body, field in cases:
        response = create(client, alice, **body)
        assert response.status_code == 422, (body, response.text)
        assert any(field in error["loc"] for error in response.json()["errors"]), (body, response.json())
    made = create(client, alice, interval_seconds=60).json()
    bad = client.patch(f"{API}/schedules/{made['id']}", headers=alice.headers, json={"timezone": "Nowhere"})
    assert bad.status_code == 422 and "timezone" in bad.json()["errors"][0]["loc"]


def test_delayed_job_over_http(client, alice: Account) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    response = client.post(f"{API}/jobs", headers=alice.headers, json={"plugin": "echo", "run_at": soon})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "PENDING" and datetime.fromisoformat(job["run_at"]) == datetime.fromisoformat(soon)
    done = wait_final(client, job["id"], alice.headers)
    assert done["status"] == "SUCCESS" and done["started_at"] >= job["run_at"]


@pytest.mark.embedded_only(VALIDATION)
def test_delayed_job_validation(client, alice: Account) -> None:
    for body, field in [
        ({"run_at": "2030-01-01T09:00:00"}, "run_at"),  # naive
        ({"run_at": "2030-01-01T09:00:00+01:00", "delay": 5}, "run_at"),
        ({"delay": -1}, "delay"),
    ]:
        response = client.post(f"{API}/jobs", headers=alice.headers, json={"plugin": "echo", **body})
        assert response.status_code == 422, response.text
        assert any(field in error["loc"] for error in response.json()["errors"]), response.json()
    cancelled = client.post(f"{API}/jobs", headers=alice.headers, json={"plugin": "echo", "delay": 60}).json()
    assert client.post(f"{API}/jobs/{cancelled['id']}/cancel", headers=alice.headers).json()["status"] == "CANCELLED"
