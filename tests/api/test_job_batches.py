"""POST /jobs/batch: many jobs in one request, all or none, in order, each item's errors named."""

from __future__ import annotations

from .apihelp import API, Account, wait_final


def _batch(client, account: Account, jobs):
    return client.post(f"{API}/jobs/batch", headers=account.headers, json={"jobs": jobs})


def test_a_batch_is_201_with_every_job_in_order_and_they_run(client, alice: Account) -> None:
    response = _batch(client, alice, [{"plugin": "echo", "params": {"message": str(i)}} for i in range(25)])
    assert response.status_code == 201, response.text
    jobs = response.json()["jobs"]
    assert [job["params"]["message"] for job in jobs] == [str(i) for i in range(25)]
    assert {job["owner_id"] for job in jobs} == {alice.id} and {job["status"] for job in jobs} == {"PENDING"}
    assert [wait_final(client, job["id"], alice.headers)["result"] for job in jobs] == [
        {"message": str(i)} for i in range(25)
    ]
    listed = client.get(f"{API}/jobs", headers=alice.headers, params={"limit": 100}).json()["items"]
    assert len(listed) == 25


def test_bad_items_are_a_422_naming_each_and_nothing_is_submitted(client, alice: Account) -> None:
    jobs = [{"plugin": "echo"}, {"plugin": "echo", "params": {"message": 3}}, {"plugin": "nope"}, {"plugin": "echo"}]
    response = _batch(client, alice, jobs)  # errors the plugins' own params models find
    assert response.status_code == 422
    locs = {".".join(map(str, error["loc"])) for error in response.json()["errors"]}
    assert "body.jobs.1.params.message" in locs and any(loc.startswith("body.jobs.2") for loc in locs)
    assert not any(loc.startswith(("body.jobs.0", "body.jobs.3")) for loc in locs)
    response = _batch(
        client, alice, [{"plugin": "echo"}, {"plugin": "echo", "priority": 500}, {"plugin": "echo", "x": 1}]
    )
    assert response.status_code == 422  # errors the request schema finds
    locs = {".".join(map(str, error["loc"])) for error in response.json()["errors"]}
    assert {"body.jobs.1.priority", "body.jobs.2.x"} <= locs and not any(loc.startswith("body.jobs.0") for loc in locs)
    assert client.get(f"{API}/jobs", headers=alice.headers).json()["items"] == []
    assert _batch(client, alice, []).status_code == 422
    assert client.post(f"{API}/jobs/batch", headers=alice.headers, json=[{"plugin": "echo"}]).status_code == 422
    assert client.post(f"{API}/jobs/batch", headers=alice.headers, content=b"").status_code == 400


def test_more_jobs_than_the_setting_allows_is_a_413(make_client, make_hx) -> None:
    from .apihelp import sign_in

    hx = make_hx(job_batch_max=3)
    client = make_client(hx)
    hx.users.create(email="carol@example.org", password="a long enough password")
    account = Account("", "carol@example.org", "", sign_in(client, "carol@example.org", "a long enough password"))
    assert _batch(client, account, [{"plugin": "echo"}] * 3).status_code == 201
    response = _batch(client, account, [{"plugin": "echo"}] * 4)
    assert response.status_code == 413
    assert response.json()["errors"][0]["loc"] == ["body", "jobs"]


def test_item_idempotency_keys_return_the_first_jobs_and_anonymous_callers_are_refused(client, alice, bob) -> None:
    batch = [{"plugin": "echo", "idempotency_key": "a"}, {"plugin": "echo", "params": {"message": "b"}}]
    first = _batch(client, alice, batch).json()["jobs"]
    again = _batch(client, alice, batch).json()["jobs"]
    assert again[0]["id"] == first[0]["id"] and again[1]["id"] != first[1]["id"]
    assert _batch(client, bob, batch).json()["jobs"][0]["id"] != first[0]["id"]  # keys are per owner
    assert client.post(f"{API}/jobs/batch", json={"jobs": batch}).status_code == 401
