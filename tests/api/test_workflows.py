"""Workflows over HTTP: after, outputs of parents as inputs, parents/children, refusals, retry re-arm."""

from __future__ import annotations

import httpx
import pytest

from .apihelp import API, Account, sign_in, wait_final


def submit(client, account: Account, plugin: str = "echo", **body):
    return client.post(f"{API}/jobs", headers=account.headers, json={"plugin": plugin, **body})


def test_after_parents_children_and_refusals(client, alice: Account, bob: Account) -> None:
    parent = submit(client, alice, params={"message": "p"}).json()
    child = submit(client, alice, after=[parent["id"]])
    assert child.status_code == 202
    assert child.json()["parents"] == [parent["id"]] and child.json()["allow_failed_parents"] is False
    done = wait_final(client, child.json()["id"], alice.headers)
    assert done["status"] == "SUCCESS"
    assert client.get(f"{API}/jobs/{parent['id']}", headers=alice.headers).json()["children"] == [done["id"]]
    listed = client.get(f"{API}/jobs", headers=alice.headers).json()["items"]
    assert {j["id"]: j["parents"] for j in listed}[done["id"]] == [parent["id"]]

    theirs = submit(client, bob).json()
    missing = "00000000-0000-0000-0000-000000000000"
    foreign, unknown = submit(client, alice, after=[theirs["id"]]), submit(client, alice, after=[missing])
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["errors"][0]["loc"] == ["after"]
    assert foreign.json()["detail"].replace(theirs["id"], "ID") == unknown.json()["detail"].replace(missing, "ID")
    not_uuid = submit(client, alice, after=["nope"])
    assert not_uuid.status_code == 422 and not_uuid.json()["errors"][0]["loc"][:2] == ["body", "after"]
    bad_ref = submit(client, alice, "textstats", inputs={"content": {"job": parent["id"], "file": "x"}})
    assert bad_ref.status_code == 422

    failing = submit(client, alice, params={"fail": True}).json()
    assert wait_final(client, failing["id"], alice.headers)["status"] == "FAILURE"
    refused = submit(client, alice, after=[failing["id"]])
    assert refused.status_code == 409 and refused.json()["errors"][0]["loc"] == ["after"]
    waiting = client.post(
        f"{API}/jobs/batch",
        headers=alice.headers,
        json={"jobs": [{"plugin": "echo", "after": [failing["id"]], "allow_failed_parents": True}]},
    )
    assert waiting.status_code == 201 and waiting.json()["jobs"][0]["parents"] == [failing["id"]]
    # A batch item's input from a parent that succeeded without that file: refused, naming the item's input.
    no_file = client.post(f"{API}/jobs/batch", headers=alice.headers, json={"jobs": [
        {"plugin": "textstats", "inputs": {"content": {"job": parent["id"], "output": "result.json"}}}]})  # fmt: skip
    assert no_file.status_code == 422, no_file.text
    assert no_file.json()["errors"][0]["loc"] == ["body", "jobs", 0, "inputs", "content"]


def test_cancel_cascades_and_retry_rearms_over_http(client, alice: Account) -> None:
    parent = submit(client, alice, "sleep", params={"seconds": 30}, priority=-100).json()
    child = submit(client, alice, after=[parent["id"]]).json()
    assert child["status"] == "WAITING"
    assert (
        client.get(f"{API}/jobs", headers=alice.headers, params={"status": "WAITING"}).json()["items"][0]["id"]
        == child["id"]
    )
    assert client.post(f"{API}/jobs/{parent['id']}/cancel", headers=alice.headers).status_code == 202
    cancelled = wait_final(client, child["id"], alice.headers)
    assert cancelled["status"] == "CANCELLED" and cancelled["error"] == f"dependency failed: {parent['id']}"
    wait_final(client, parent["id"], alice.headers)
    bad = client.post(f"{API}/jobs/{parent['id']}/retry", headers=alice.headers, json={"rearm_children": "yes"})
    assert bad.status_code == 422
    retried = client.post(f"{API}/jobs/{parent['id']}/retry", headers=alice.headers, json={"rearm_children": True})
    assert retried.status_code == 202 and retried.json()["children"] == [child["id"]]
    assert client.get(f"{API}/jobs/{child['id']}", headers=alice.headers).json()["parents"] == [retried.json()["id"]]
    client.post(f"{API}/jobs/{retried.json()['id']}/cancel", headers=alice.headers)
    assert wait_final(client, child["id"], alice.headers)["error"] == f"dependency failed: {retried.json()['id']}"
    again = client.post(f"{API}/jobs/{retried.json()['id']}/retry?rearm_children=true", headers=alice.headers)
    assert again.status_code == 202 and again.json()["children"] == [child["id"]]
    client.post(f"{API}/jobs/{again.json()['id']}/cancel", headers=alice.headers)


@pytest.mark.embedded_only("one real `helixnet serve` process is enough to see the chain over the wire")
def test_a_chain_of_outputs_over_a_real_server(start_server) -> None:
    server = start_server({"HELIXNET_ADMIN_EMAIL": "ada@example.org", "HELIXNET_ADMIN_PASSWORD": "a long password!"})
    with httpx.Client(base_url=server.base, timeout=10) as http:
        headers = sign_in(http, "ada@example.org", "a long password!")
        first = http.post(f"{API}/jobs/upload", headers=headers, files={"content": ("a.txt", b"one two two three")})
        a = first.json()
        b = http.post(
            f"{API}/jobs",
            headers=headers,
            json={"plugin": "textstats", "inputs": {"content": {"job": a["id"], "output": "result.json"}}},
        ).json()
        c = http.post(
            f"{API}/jobs",
            headers=headers,
            json={"plugin": "textstats", "inputs": {"content": {"job": b["id"], "output": "result.json"}}},
        ).json()
        assert b["parents"] == [a["id"]] and c["input_refs"]["content"] == {"job": b["id"], "output": "result.json"}
        done = wait_final(http, c["id"], headers)
        assert done["status"] == "SUCCESS", done
        b = http.get(f"{API}/jobs/{b['id']}", headers=headers).json()
        assert done["inputs"]["content"] in {x["id"] for x in b["artifacts"]} and b["children"] == [c["id"]]
