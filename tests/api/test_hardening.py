"""What an attack on a running `helixnet serve` found (issue 8), each reproduced over real HTTP."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow
# The throttles, idempotency keys and stored media types run on both stacks (tests/api/conftest.py);
# the rest is about the HTTP layer in front of the services, or the local folder, and stays embedded.
HTTP_LAYER = "request checks and headers in front of the services, the same on every stack"
LOCAL_URLS = "absolute URLs of the app's own /storage routes (S3's presigned URLs carry S3's host)"

ADMIN = {"HELIXNET_ADMIN_EMAIL": "admin@example.org", "HELIXNET_ADMIN_PASSWORD": "admin password 1"}
# Wrong credentials answer 401 or, as OAuth2 asks (issue 9), 400: either way a password was checked.
CHECKED = {400, 401}


def _token(http: httpx.Client, api: str, email: str, password: str) -> httpx.Response:
    return http.post(f"{api}/auth/token", data={"username": email, "password": password})


def test_parallel_wrong_logins_get_at_most_max_failures_checks(start_server: Any) -> None:
    server = start_server({**ADMIN, "HELIXNET_LOGIN_MAX_FAILURES": "5"}, "--workers", "0")
    api = f"{server.base}/api/v1"
    limits = httpx.Limits(max_connections=50)
    with httpx.Client(timeout=30, limits=limits) as http, ThreadPoolExecutor(max_workers=50) as pool:
        statuses = Counter(pool.map(lambda i: _token(http, api, "admin@example.org", f"guess {i}").status_code,
                                    range(100)))  # fmt: skip
        assert sum(statuses[s] for s in CHECKED) <= 5 and statuses[429] >= 95, statuses
        locked = _token(http, api, "admin@example.org", "admin password 1")
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1


@pytest.mark.embedded_only(HTTP_LAYER)
def test_invalid_passwords_do_not_lock_an_account(start_server: Any) -> None:
    server = start_server(ADMIN, "--workers", "0")
    api = f"{server.base}/api/v1"
    with httpx.Client(timeout=30) as http:
        for password in ["x" * 73] * 6 + ["é" * 40] * 2:
            refused = _token(http, api, "admin@example.org", password)
            assert refused.status_code in (400, 422), refused.text
            assert "72 bytes" in refused.text
        assert _token(http, api, "admin@example.org", "admin password 1").status_code == 200


def test_wrong_current_passwords_are_throttled(start_server: Any) -> None:
    server = start_server({**ADMIN, "HELIXNET_LOGIN_MAX_FAILURES": "5"}, "--workers", "0")
    api = f"{server.base}/api/v1"
    with httpx.Client(timeout=30) as http:
        token = _token(http, api, "admin@example.org", "admin password 1").json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        def change(current: str) -> httpx.Response:
            return http.post(f"{api}/users/me/password", headers=auth,
                             json={"current_password": current, "new_password": "a new password 2"})  # fmt: skip

        statuses = [change(f"wrong {i}").status_code for i in range(12)]
        assert statuses == [422] * 5 + [429] * 7, statuses
        assert change("admin password 1").status_code == 429  # the right one waits too: no 13th guess
        assert _token(http, api, "admin@example.org", "a new password 2").status_code != 200


@pytest.mark.embedded_only(HTTP_LAYER)
def test_hostile_but_valid_json_is_a_422_naming_the_field(start_server: Any) -> None:
    server = start_server(ADMIN, "--workers", "0")
    api = f"{server.base}/api/v1"
    deep = "[" * 10_000 + "]" * 10_000
    with httpx.Client(timeout=30) as http:
        auth = {"Authorization": f"Bearer {_token(http, api, 'admin@example.org', 'admin password 1').json()['access_token']}"}
        json_headers = {**auth, "Content-Type": "application/json"}
        for body, loc in [
            ('{"plugin": "echo", "params": {"a": ' + deep + "}}", ["body", "params"]),
            ('{"plugin": "echo", "inputs": ' + "{" * 10_000 + "}" * 10_000 + "}", ["body", "inputs"]),
            ('{"plugin": "echo", "priority": ' + "9" * 5000 + "}", ["body", "priority"]),
            ('{"plugin": "echo", "params": {"n": [1, ' + "1" * 5000 + "]}}", ["body", "params", "n", 1]),
        ]:
            answer = http.post(f"{api}/jobs", headers=json_headers, content=body)
            assert answer.status_code == 422, (loc, answer.status_code, answer.text[:300])
            assert answer.json()["errors"][0]["loc"] == loc, answer.text[:300]
        nan = http.post(f"{api}/jobs", headers=json_headers, content='{"plugin": "echo", "params": {"x": NaN}}')
        assert nan.status_code == 400 and "NaN" in nan.json()["detail"]
        upload = http.post(f"{api}/jobs/upload", headers=auth, files={"content_key": ("a.txt", b"a b c", "text/plain")},
                           data={"params": '{"top": ' + deep + "}"})  # fmt: skip
        assert upload.status_code == 422 and upload.json()["errors"][0]["loc"] == ["body", "params", "top"], upload.text
        # The server is still there and sane.
        assert http.get(f"{api}/health").status_code == 200


def _admin_auth(http: httpx.Client, api: str) -> dict[str, str]:
    token = _token(http, api, "admin@example.org", "admin password 1")
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _upload_and_link(http: httpx.Client, api: str, auth: dict[str, str], headers: dict[str, str]) -> tuple[str, str]:
    """Submit a job and ask for a download URL of a new artifact: the Location and the URL."""
    job = http.post(f"{api}/jobs", headers={**auth, **headers}, json={"plugin": "echo"})
    assert job.status_code == 202, job.text
    ticket = http.post(f"{api}/artifacts/upload", headers={**auth, **headers},
                       json={"filename": "a.txt", "content_type": "text/plain", "size": 3}).json()  # fmt: skip
    assert http.put(ticket["upload_url"].replace(ticket["upload_url"].split("/api/v1")[0], api.removesuffix("/api/v1")),
                    content=b"abc").status_code in (200, 201)  # fmt: skip
    http.post(f"{api}/artifacts/{ticket['artifact']['id']}/complete", headers=auth)
    link = http.get(f"{api}/artifacts/{ticket['artifact']['id']}/download", headers={**auth, **headers})
    assert link.status_code == 200, link.text
    return job.headers["Location"], link.json()["url"]


@pytest.mark.embedded_only(HTTP_LAYER)
def test_allowed_hosts_refuse_a_foreign_host(start_server: Any) -> None:
    server = start_server({**ADMIN, "HELIXNET_ALLOWED_HOSTS": '["127.0.0.1", "jobs.example.org"]'}, "--workers", "0")
    api = f"{server.base}/api/v1"
    with httpx.Client(timeout=30) as http:
        assert http.get(f"{api}/health", headers={"Host": "evil.example"}).status_code == 400
        assert http.get(f"{api}/docs", headers={"Host": "evil.example"}).status_code == 400
        assert http.get(f"{api}/health", headers={"Host": "jobs.example.org"}).status_code == 200


@pytest.mark.embedded_only(LOCAL_URLS)
def test_public_url_builds_every_absolute_url(start_server: Any) -> None:
    server = start_server({**ADMIN, "HELIXNET_PUBLIC_URL": "https://jobs.example.org/"}, "--workers", "0")
    api = f"{server.base}/api/v1"
    with httpx.Client(timeout=30) as http:
        auth = _admin_auth(http, api)
        location, url = _upload_and_link(http, api, auth, {"Host": "evil.example"})
        assert location.startswith("https://jobs.example.org/api/v1/jobs/"), location
        assert url.startswith("https://jobs.example.org/api/v1/storage/"), url
        docs = http.get(f"{api}/docs", headers={"Host": "evil.example"})
        assert docs.status_code == 200 and "evil.example" not in docs.text


@pytest.mark.embedded_only(LOCAL_URLS)
def test_forwarded_headers_from_a_trusted_proxy_only(start_server: Any) -> None:
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "jobs.example.org", "X-Forwarded-For": "198.51.100.7"}
    trusted = start_server(ADMIN, "--workers", "0")  # the default trusts 127.0.0.1: the test is the proxy
    with httpx.Client(timeout=30) as http:
        api = f"{trusted.base}/api/v1"
        location, url = _upload_and_link(http, api, _admin_auth(http, api), proxy)
        assert location.startswith("https://jobs.example.org/api/v1/jobs/"), location
        assert url.startswith("https://jobs.example.org/api/v1/storage/"), url
    untrusted = start_server({**ADMIN, "HELIXNET_FORWARDED_ALLOW_IPS": "192.0.2.1"}, "--workers", "0")
    with httpx.Client(timeout=30) as http:
        api = f"{untrusted.base}/api/v1"
        location, url = _upload_and_link(http, api, _admin_auth(http, api), proxy)
        assert location.startswith(f"{untrusted.base}/api/v1/jobs/"), location
        assert url.startswith(f"{untrusted.base}/api/v1/storage/"), url


@pytest.mark.embedded_only(LOCAL_URLS)
def test_security_headers(start_server: Any) -> None:
    server = start_server(ADMIN, "--workers", "0")
    api = f"{server.base}/api/v1"
    with httpx.Client(timeout=30) as http:
        auth = _admin_auth(http, api)
        _, url = _upload_and_link(http, api, auth, {})
        responses = {
            "health": http.get(f"{api}/health"),
            "json": http.get(f"{api}/users/me", headers=auth),
            "error": http.get(f"{api}/jobs/00000000-0000-0000-0000-000000000000", headers=auth),
            "download": http.get(url),
            "docs": http.get(f"{api}/docs"),
        }
        for name, response in responses.items():
            assert response.headers.get("X-Content-Type-Options") == "nosniff", name
            assert "frame-ancestors 'none'" in response.headers.get("Content-Security-Policy", ""), name
        assert responses["download"].content == b"abc"
        docs = responses["docs"]
        nonce = docs.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
        assert f'<script nonce="{nonce}">' in docs.text and "unsafe-eval" not in docs.headers["Content-Security-Policy"]


def test_multipart_parts_keep_only_well_formed_media_types(start_server: Any) -> None:
    server = start_server(ADMIN, "--workers", "0")
    api = f"{server.base}/api/v1"
    with httpx.Client(timeout=30) as http:
        auth = _admin_auth(http, api)
        for label, stored in [("not a media type at all", "application/octet-stream"),
                              ("text/html; charset=éÿ", "application/octet-stream"),
                              ("text/plain; charset=utf-8", "text/plain; charset=utf-8")]:  # fmt: skip
            body = (b"--b\r\nContent-Disposition: form-data; name=\"content_key\"; filename=\"a.txt\"\r\n"
                    b"Content-Type: " + label.encode() + b"\r\n\r\nsome words here\r\n--b--\r\n")  # fmt: skip
            job = http.post(f"{api}/jobs/upload", content=body,
                            headers={**auth, "Content-Type": "multipart/form-data; boundary=b"})  # fmt: skip
            assert job.status_code == 201, job.text
            artifact = http.get(f"{api}/artifacts/{job.json()['inputs']['content']}", headers=auth).json()
            assert artifact["content_type"] == stored, label
            link = http.get(f"{api}/artifacts/{artifact['id']}/download", headers=auth).json()["url"]
            served = http.get(link)
            assert served.headers["content-type"].startswith(stored.split(";")[0]), label


def test_an_idempotency_key_reused_for_another_request_is_422(start_server: Any) -> None:
    server = start_server(ADMIN, "--workers", "0")
    api = f"{server.base}/api/v1"
    with httpx.Client(timeout=30) as http:
        auth = _admin_auth(http, api)
        keyed = {**auth, "Idempotency-Key": "order-42"}
        first = http.post(f"{api}/jobs", headers=keyed, json={"plugin": "echo", "params": {"message": "hi"}})
        again = http.post(f"{api}/jobs", headers=keyed, json={"plugin": "echo", "params": {"message": "hi"}})
        assert first.status_code == again.status_code == 202 and first.json()["id"] == again.json()["id"]
        other = http.post(f"{api}/jobs", headers=keyed, json={"plugin": "sleep", "params": {"seconds": 0.1}})
        assert other.status_code == 422 and other.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
        assert first.json()["id"] in other.json()["detail"]

        upload_keyed = {**auth, "Idempotency-Key": "upload-7"}
        files = {"content_key": ("a.txt", b"alpha beta", "text/plain")}
        one = http.post(f"{api}/jobs/upload", headers=upload_keyed, files=files)
        two = http.post(f"{api}/jobs/upload", headers=upload_keyed, files=files)
        assert one.status_code == two.status_code == 201 and one.json()["id"] == two.json()["id"]
        artifacts_before = len(http.get(f"{api}/artifacts", headers=auth).json())
        changed = http.post(f"{api}/jobs/upload", headers=upload_keyed,
                            files={"content_key": ("a.txt", b"gamma delta", "text/plain")})  # fmt: skip
        assert changed.status_code == 422, changed.text
        assert len(http.get(f"{api}/artifacts", headers=auth).json()) == artifacts_before


@pytest.mark.embedded_only("the data directory's own files: SQLite databases and the secret key")
def test_the_data_directory_and_databases_are_private(start_server: Any) -> None:
    import stat

    server = start_server(ADMIN, "--workers", "0")
    data_dir = server.data_dir
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for name in ("helixnet.db", "queue.db", ".secret_key"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name
