"""POST /jobs, GET /jobs (filters, keyset pages), one job, its events, cancel and retry."""

from __future__ import annotations

from typing import Any

import pytest

from helixnet.errors import ValidationFailed

from .apihelp import API, VALIDATION, Account, sign_in, wait_final


def submit(client, account: Account, plugin: str = "echo", **body: Any):
    return client.post(f"{API}/jobs", headers=account.headers, json={"plugin": plugin, **body})


def test_submit_is_202_with_location_and_runs(client, alice: Account) -> None:
    response = submit(client, alice, params={"message": "hello"})
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "PENDING" and job["plugin"] == "echo" and job["owner_id"] == alice.id
    assert response.headers["Location"] == f"http://testserver{API}/jobs/{job['id']}"
    assert client.get(response.headers["Location"], headers=alice.headers).json()["id"] == job["id"]
    done = wait_final(client, job["id"], alice.headers)
    assert done["status"] == "SUCCESS" and done["result"] == {"message": "hello"} and done["attempts"] == 1
    for field in ("progress", "message", "params", "inputs", "result_path", "error", "created_at",
                  "started_at", "finished_at", "artifacts"):
        assert field in done


def test_idempotency_key_returns_the_first_job(client, alice: Account) -> None:
    headers = {**alice.headers, "Idempotency-Key": "order-42"}
    first = client.post(f"{API}/jobs", headers=headers, json={"plugin": "echo"})
    again = client.post(f"{API}/jobs", headers=headers, json={"plugin": "echo"})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    other = client.post(f"{API}/jobs", headers={**alice.headers, "Idempotency-Key": "order-43"}, json={"plugin": "echo"})
    assert other.json()["id"] != first.json()["id"]


def test_bad_submissions_name_the_problem(client, alice: Account) -> None:
    unknown = submit(client, alice, plugin="nope")
    assert unknown.status_code == 422
    assert "nope" in unknown.json()["detail"] and "echo" in unknown.json()["detail"]
    bad_params = submit(client, alice, plugin="sleep", params={"seconds": "forever"})
    assert bad_params.status_code == 422
    assert bad_params.json()["errors"][0]["loc"] == ["params", "seconds"]
    out_of_range = submit(client, alice, plugin="sleep", params={"seconds": 99999})
    assert out_of_range.status_code == 422
    missing_input = submit(client, alice, plugin="textstats")
    assert missing_input.status_code == 422 and missing_input.json()["errors"][0]["loc"] == ["inputs", "content"]
    not_mine = submit(client, alice, plugin="textstats", inputs={"content": "00000000-0000-0000-0000-000000000000"})
    assert not_mine.status_code == 404
    extra = submit(client, alice, surprise=1)
    assert extra.status_code == 422 and extra.json()["errors"][0]["loc"] == ["body", "surprise"]
    priority = submit(client, alice, priority=1000)
    assert priority.status_code == 422 and priority.json()["errors"][0]["loc"] == ["body", "priority"]


@pytest.mark.embedded_only(VALIDATION)
def test_malformed_bodies_are_400(client, alice: Account) -> None:
    headers = {**alice.headers, "Content-Type": "application/json"}
    assert client.post(f"{API}/jobs", headers=headers, content=b'{"plugin": ').status_code == 400
    assert client.post(f"{API}/jobs", headers=headers, content=b"").status_code == 400
    assert client.post(f"{API}/jobs", headers=headers, content=b"\xff\xfe").status_code == 400
    as_list = client.post(f"{API}/jobs", headers=headers, content=b"[1, 2]")
    assert as_list.status_code == 422
    body = client.post(f"{API}/jobs", headers=headers, content=b"{").json()
    assert set(body) == {"detail", "errors"} and "Traceback" not in body["detail"]


def test_trailing_slash_works_without_redirect(client, alice: Account) -> None:
    response = client.post(f"{API}/jobs/", headers=alice.headers, json={"plugin": "echo"}, follow_redirects=False)
    assert response.status_code == 202
    listed = client.get(f"{API}/jobs/", headers=alice.headers, follow_redirects=False)
    assert listed.status_code == 200 and listed.json()["items"][0]["id"] == response.json()["id"]
    assert client.get(f"{API}/health/", follow_redirects=False).status_code == 200


def test_list_pages_and_filters(make_hx, make_client) -> None:
    hx = make_hx(workers=0)
    client = make_client(hx)

    hx.users.create(email="p@example.org", password="pager password")
    hx.users.create(email="q@example.org", password="other password")
    mine = sign_in(client, "p@example.org", "pager password")
    theirs = sign_in(client, "q@example.org", "other password")
    ids = [client.post(f"{API}/jobs", headers=mine, json={"plugin": "echo", "params": {"message": str(i)}}).json()["id"]
           for i in range(7)]
    client.post(f"{API}/jobs", headers=theirs, json={"plugin": "echo"})
    seen, cursor = [], None
    while True:
        page = client.get(f"{API}/jobs", headers=mine, params={"limit": 3, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200
        body = page.json()
        seen += [job["id"] for job in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))  # newest first, each once, none of the other user's
    client.post(f"{API}/jobs/{ids[0]}/cancel", headers=mine)
    cancelled = client.get(f"{API}/jobs", headers=mine, params={"status": "CANCELLED"}).json()["items"]
    assert [job["id"] for job in cancelled] == [ids[0]]
    assert client.get(f"{API}/jobs", headers=mine, params={"plugin": "sleep"}).json()["items"] == []
    assert len(client.get(f"{API}/jobs", headers=mine, params={"q": "echo"}).json()["items"]) == 7
    for params, field in (({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"limit": "x"}, "limit"),
                          ({"status": "DONE"}, "status"), ({"cursor": "garbage"}, "cursor"), ({"all": "maybe"}, "all")):
        bad = client.get(f"{API}/jobs", headers=mine, params=params)
        assert bad.status_code == 422, params
        assert bad.json()["errors"][0]["loc"][-1] == field


def test_admin_sees_all_with_all_true(client, alice: Account, bob: Account, admin: Account) -> None:
    a = submit(client, alice).json()["id"]
    b = submit(client, bob).json()["id"]
    everyone = {job["id"] for job in client.get(f"{API}/jobs?all=true", headers=admin.headers).json()["items"]}
    assert {a, b} <= everyone
    own = client.get(f"{API}/jobs", headers=admin.headers).json()["items"]
    assert own == []
    assert client.get(f"{API}/jobs/{a}", headers=admin.headers).status_code == 200


def test_events_cancel_and_retry(make_hx, make_client) -> None:

    hx = make_hx(workers=1)
    client = make_client(hx)
    hx.users.create(email="e@example.org", password="events password")
    me = sign_in(client, "e@example.org", "events password")
    sleeping = client.post(f"{API}/jobs", headers=me, json={"plugin": "sleep", "params": {"seconds": 30}}).json()
    # wait for it to run, then cancel it cooperatively
    import time

    deadline = time.monotonic() + 10
    while client.get(f"{API}/jobs/{sleeping['id']}", headers=me).json()["status"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert client.post(f"{API}/jobs/{sleeping['id']}/cancel", headers=me).status_code == 202
    assert wait_final(client, sleeping["id"], me)["status"] == "CANCELLED"
    assert client.post(f"{API}/jobs/{sleeping['id']}/cancel", headers=me).status_code == 409
    events = client.get(f"{API}/jobs/{sleeping['id']}/events", headers=me)
    assert events.status_code == 200
    lines = [e["message"] for e in events.json()]
    assert any("started" in line for line in lines) and any("cancel" in line for line in lines)

    retried = client.post(f"{API}/jobs/{sleeping['id']}/retry", headers=me)
    assert retried.status_code == 202 and retried.json()["id"] != sleeping["id"]
    client.post(f"{API}/jobs/{retried.json()['id']}/cancel", headers=me)

    failing = client.post(f"{API}/jobs", headers=me, json={"plugin": "echo", "params": {"fail": True}}).json()
    failed = wait_final(client, failing["id"], me)
    assert failed["status"] == "FAILURE" and failed["error"]
    again = client.post(f"{API}/jobs/{failing['id']}/retry", headers=me)
    assert again.status_code == 202
    ok = client.post(f"{API}/jobs", headers=me, json={"plugin": "echo"}).json()
    wait_final(client, ok["id"], me)
    assert client.post(f"{API}/jobs/{ok['id']}/retry", headers=me).status_code == 409


def test_other_users_jobs_are_404_everywhere(client, alice: Account, bob: Account) -> None:
    job = submit(client, alice).json()["id"]
    for method, path in (("GET", f"/jobs/{job}"), ("GET", f"/jobs/{job}/events"),
                         ("POST", f"/jobs/{job}/cancel"), ("POST", f"/jobs/{job}/retry")):
        response = client.request(method, f"{API}{path}", headers=bob.headers)
        assert response.status_code == 404, path
        absent = "ffffffff-ffff-4fff-8fff-ffffffffffff"
        missing = client.request(method, f"{API}{path.replace(job, absent)}", headers=bob.headers)
        assert missing.status_code == 404  # not the caller's and absent read the same
        assert missing.json()["detail"].replace(absent, job) == response.json()["detail"]


def test_upload_job_runs_textstats(client, alice: Account) -> None:
    files = {"content_key": ("book.txt", b"the cat sat on the mat\nthe dog sat too\n", "text/plain"),
             "context_key": ("ctx.txt", b"a cat and a dog", "text/plain")}
    response = client.post(f"{API}/jobs/upload", headers=alice.headers, files=files, data={"params": '{"top": 2}'})
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["plugin"] == "textstats" and set(job["inputs"]) == {"content", "context"}
    done = wait_final(client, job["id"], alice.headers)
    assert done["status"] == "SUCCESS", done
    assert done["result"]["lines"] == 2 and done["result"]["words"] == 10
    assert done["result_path"] and [a["filename"] for a in done["artifacts"]] == ["result.json"]
    assert all(a["job_id"] == job["id"] for a in done["artifacts"])
    mine = {a["id"] for a in client.get(f"{API}/artifacts", headers=alice.headers).json()}
    assert set(job["inputs"].values()) <= mine


def test_upload_job_with_idempotency_key_stores_once(client, alice: Account) -> None:
    headers = {**alice.headers, "Idempotency-Key": "upload-1"}
    first = client.post(f"{API}/jobs/upload", headers=headers, files={"content_key": ("a.txt", b"one two")})
    again = client.post(f"{API}/jobs/upload", headers=headers, files={"content_key": ("a.txt", b"one two")})
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    uploaded = [a for a in client.get(f"{API}/artifacts", headers=alice.headers).json() if a["filename"] == "a.txt"]
    assert len(uploaded) == 1


def test_upload_job_errors(client, alice: Account) -> None:
    url = f"{API}/jobs/upload"
    no_file = client.post(url, headers=alice.headers, data={"plugin": "textstats"}, files={"x": ("", b"", "text/plain")})
    assert no_file.status_code in (422, 400)
    bad_params = client.post(url, headers=alice.headers, files={"content_key": ("a.txt", b"x")}, data={"params": "{"})
    assert bad_params.status_code == 422 and bad_params.json()["errors"][0]["loc"] == ["body", "params"]
    bad_plugin = client.post(url, headers=alice.headers, files={"content_key": ("a.txt", b"x")}, data={"plugin": "nope"})
    assert bad_plugin.status_code == 422
    assert client.get(f"{API}/artifacts", headers=alice.headers).json() == []  # nothing left from refused uploads
    not_form = client.post(url, headers=alice.headers, json={"plugin": "textstats"})
    assert not_form.status_code == 400


def test_upload_over_the_limit_is_413(make_hx, make_client) -> None:

    hx = make_hx(max_upload_bytes=1000)
    client = make_client(hx)
    hx.users.create(email="big@example.org", password="big password")
    me = sign_in(client, "big@example.org", "big password")
    response = client.post(f"{API}/jobs/upload", headers=me, files={"content_key": ("a.txt", b"x" * 5000)})
    assert response.status_code == 413
    assert client.get(f"{API}/artifacts", headers=me).json() == []


def test_ids_are_uuids_on_the_wire_and_str_in_python(hx, client, alice: Account) -> None:
    """Issue 9: the document says format: uuid, so a non-UUID id is refused with the field named."""
    bad = client.post(f"{API}/jobs", headers=alice.headers, json={"plugin": "textstats", "inputs": {"content": "nope"}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "inputs", "content"]
    listed = client.get(f"{API}/artifacts?job_id=nope", headers=alice.headers)
    assert listed.status_code == 422 and listed.json()["errors"][0]["loc"] == ["query", "job_id"]
    job = hx.jobs.submit(hx.users.get(alice.id), "echo")
    assert isinstance(job.id, str) and isinstance(job.owner_id, str)  # the Python API still hands out str ids
    assert hx.jobs.get(job.id).id == job.id



def test_nul_characters_are_a_422_naming_the_field(hx, client, alice: Account, admin: Account) -> None:
    """PostgreSQL's jsonb and text cannot store U+0000: that was a 500 there alone, now a 422 on every stack."""
    job = client.post(f"{API}/jobs", headers=alice.headers, json={"plugin": "echo", "params": {"message": "a\u0000b"}})
    assert job.status_code == 422, job.text
    assert job.json()["errors"] == [{"loc": ["params", "message"], "msg": "must not contain the NUL character (U+0000)"}]
    files = {"content_key": ("a.txt", b"words", "text/plain")}
    upload = client.post(f"{API}/jobs/upload", headers=alice.headers, files=files,
                         data={"plugin": "echo", "params": '{"message": "\\u0000"}'})  # fmt: skip
    assert upload.status_code == 422 and upload.json()["errors"][0]["loc"] == ["params", "message"], upload.text
    assert client.get(f"{API}/jobs", headers=alice.headers).json()["items"] == []
    bulk = client.post(f"{API}/jobs/bulk", headers=admin.headers, json={"action": "cancel", "q": "a\u0000"})
    assert bulk.status_code == 422 and bulk.json()["errors"][0]["loc"] == ["body", "q"], bulk.text
    with pytest.raises(ValidationFailed) as caught:  # the Python API, as embedding code calls it
        hx.jobs.list(hx.users.get(alice.id), q="\x00")
    assert caught.value.errors[0]["loc"] == ["q"]
