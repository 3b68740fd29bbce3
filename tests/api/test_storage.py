"""The local folder's signed URLs against a real `helixnet serve` (issue 8: an attack on the running API).

Each test starts the server as a process and talks HTTP to it, with httpx or a raw socket where a
client must misbehave (stop sending, hang up). Storage is looked at on disk, the log in its file.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180),
              pytest.mark.embedded_only("the local folder's signed URLs, served and streamed by the app itself")]

ADMIN = {"HELIXNET_ADMIN_EMAIL": "admin@example.org", "HELIXNET_ADMIN_PASSWORD": "the admin password"}
DATA = b"0123456789" * 10


@pytest.fixture
def make_api() -> Any:
    made: list[Api] = []

    def factory(server: Any) -> Api:
        made.append(Api(server))
        return made[-1]

    yield factory
    for api in made:
        api.http.close()


class Api:
    """An httpx client on a running server, signed in as the admin."""

    def __init__(self, server: Any) -> None:
        self.base = f"{server.base}/api/v1"
        self.http = httpx.Client(timeout=30)
        self.admin = self.sign_in("admin@example.org", "the admin password")

    def sign_in(self, email: str, password: str) -> dict[str, str]:
        token = self.http.post(f"{self.base}/auth/token", data={"username": email, "password": password})
        assert token.status_code == 200, token.text
        return {"Authorization": f"Bearer {token.json()['access_token']}"}

    def announce(self, auth: dict[str, str], size: int = len(DATA), **extra: Any) -> dict[str, Any]:
        ticket = self.http.post(f"{self.base}/artifacts/upload", headers=auth,
                                json={"filename": "data.bin", "content_type": "application/octet-stream", "size": size,
                                      **extra})  # fmt: skip
        assert ticket.status_code == 201, ticket.text
        return dict(ticket.json())

    def upload(self, auth: dict[str, str], data: bytes = DATA) -> str:
        ticket = self.announce(auth, len(data))
        assert self.http.put(ticket["upload_url"], content=data, headers=ticket["headers"]).status_code == 200
        artifact_id = str(ticket["artifact"]["id"])
        assert self.http.post(f"{self.base}/artifacts/{artifact_id}/complete", headers=auth).status_code == 200
        return artifact_id


def token_of(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


def leftovers(data_dir: Path) -> list[str]:
    """Everything under the artifact folder: files, temporary parts and empty folders alike."""
    root = data_dir / "artifacts"
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def raw_put(url: str, content_length: int, body: bytes) -> socket.socket:
    """A PUT that sends its headers and ``body``, then neither sends more nor hangs up."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    head = (f"PUT {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {content_length}\r\n\r\n")  # fmt: skip
    sock.sendall(head.encode() + body)
    return sock


def wait_for(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


# --- item 3: a signed URL dies with its user's access; its lifetime is capped -----------------------


def test_signed_urls_stop_working_when_their_user_is_deactivated(start_server: Any, make_api: Any) -> None:
    api = make_api(start_server(ADMIN, "--workers", "0"))
    made = api.http.post(f"{api.base}/users", headers=api.admin,
                         json={"email": "mallory@example.org", "password": "mallory's password"})  # fmt: skip
    assert made.status_code == 201, made.text
    mallory = api.sign_in("mallory@example.org", "mallory's password")
    artifact_id = api.upload(mallory)
    download = api.http.get(f"{api.base}/artifacts/{artifact_id}/download", headers=mallory).json()["url"]
    ticket = api.announce(mallory)
    assert api.http.get(download).content == DATA

    off = api.http.patch(f"{api.base}/users/{made.json()['id']}", headers=api.admin, json={"is_active": False})
    assert off.status_code == 200, off.text
    assert api.http.get(f"{api.base}/users/me", headers=mallory).status_code == 401
    refused_get = api.http.get(download)
    refused_put = api.http.put(ticket["upload_url"], content=DATA, headers=ticket["headers"])
    assert (refused_get.status_code, refused_put.status_code) == (403, 403), (refused_get.text, refused_put.text)
    assert "revoked" in refused_get.json()["detail"]

    week = api.http.get(f"{api.base}/artifacts/{artifact_id}/download", headers=api.admin,
                        params={"expires_in": 604800})  # fmt: skip
    assert week.status_code == 422, week.text
    assert week.json()["errors"] == [{"loc": ["query", "expires_in"], "msg": "must be from 1 to 3600"}]
    hour = api.http.get(f"{api.base}/artifacts/{artifact_id}/download", headers=api.admin,
                        params={"expires_in": 3600})  # fmt: skip
    assert hour.status_code == 200 and api.http.get(hour.json()["url"]).content == DATA


# --- item 5: slow uploads hold no thread; a silent one is aborted -------------------------------------


def test_sixty_slow_uploads_do_not_stall_other_requests(start_server: Any, make_api: Any) -> None:
    server = start_server(ADMIN, "--workers", "0")
    api = make_api(server)
    tickets = [api.announce(api.admin, size=8) for _ in range(60)]
    sent = [0] * len(tickets)

    async def trickle(index: int) -> Any:  # 1 byte every 0.5 s: 8 bytes in about 4 s
        for _ in range(8):
            yield b"x"
            sent[index] += 1
            await asyncio.sleep(0.5)

    async def scenario() -> tuple[list[int], float, float, bool]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            uploads = [
                asyncio.create_task(http.put(t["upload_url"], content=trickle(i),
                                             headers={**t["headers"], "Content-Length": "8"}))  # fmt: skip
                for i, t in enumerate(tickets)
            ]
            while min(sent) < 2:  # every upload is under way, none is done
                await asyncio.sleep(0.05)
            began = time.monotonic()
            health = await http.get(f"{api.base}/health")
            health_seconds = time.monotonic() - began
            began = time.monotonic()
            login = await http.post(f"{api.base}/auth/token",
                                    data={"username": "admin@example.org", "password": "the admin password"})  # fmt: skip
            login_seconds = time.monotonic() - began
            assert health.status_code == 200 and login.status_code == 200
            running = max(sent) < 8
            return [r.status_code for r in await asyncio.gather(*uploads)], health_seconds, login_seconds, running

    statuses, health_seconds, login_seconds, running = asyncio.run(scenario())
    print(f"during 60 slow uploads: /health {health_seconds:.3f} s, login {login_seconds:.3f} s")
    assert health_seconds < 1 and login_seconds < 1, (health_seconds, login_seconds)
    assert running, "the uploads must still be running while we measure"
    assert statuses == [200] * 60


def test_a_silent_upload_is_aborted_and_leaves_nothing(start_server: Any, tmp_path: Path, make_api: Any) -> None:
    server = start_server({**ADMIN, "HELIXNET_UPLOAD_IDLE_TIMEOUT_SECONDS": "1"}, "--workers", "0")
    api = make_api(server)
    ticket = api.announce(api.admin)
    began = time.monotonic()
    with raw_put(ticket["upload_url"], len(DATA), DATA[:10]) as sock:
        answer = sock.recv(65536).decode(errors="replace")
    waited = time.monotonic() - began
    assert answer.startswith("HTTP/1.1 408"), answer
    assert 0.9 < waited < 5, waited
    artifact_id = ticket["artifact"]["id"]
    wait_for(lambda: f"upload of artifact {artifact_id} aborted after 10 bytes" in server.output())
    assert leftovers(tmp_path / "data0") == []
    again = api.http.put(ticket["upload_url"], content=DATA, headers=ticket["headers"])  # a retry works
    assert again.status_code == 200, again.text


# --- item 6: tokens never reach the log; a hang-up is an INFO line ----------------------------------


def test_a_client_that_hangs_up_mid_upload_is_logged_without_its_token(start_server: Any, tmp_path: Path, make_api: Any) -> None:
    server = start_server(ADMIN, "--workers", "0")
    api = make_api(server)
    ticket = api.announce(api.admin, size=1 << 20)
    artifact_id = ticket["artifact"]["id"]
    sock = raw_put(ticket["upload_url"], 1 << 20, b"x" * 4096)
    time.sleep(0.3)
    sock.close()
    wait_for(lambda: f"upload of artifact {artifact_id} aborted" in server.output())
    log = server.output()
    line = next(line for line in log.splitlines() if artifact_id in line)
    assert " INFO " in line and "disconnected" in line, line
    assert token_of(ticket["upload_url"]) not in log
    assert "Traceback" not in log and "ERROR" not in log, log
    assert leftovers(tmp_path / "data0") == []
    assert api.http.put(ticket["upload_url"], content=b"y" * (1 << 20), headers=ticket["headers"]).status_code == 200


def test_a_failing_storage_url_is_logged_by_artifact_not_by_token(start_server: Any, tmp_path: Path, make_api: Any) -> None:
    server = start_server(ADMIN, "--workers", "0")
    api = make_api(server)
    ticket = api.announce(api.admin)
    (tmp_path / "data0" / "artifacts" / "users").write_text("a file where a folder must go: writes fail")
    failed = api.http.put(ticket["upload_url"], content=DATA, headers=ticket["headers"])
    assert failed.status_code == 503 and "users" not in failed.text, failed.text
    wait_for(lambda: "failed" in server.output())
    log = server.output()
    assert token_of(ticket["upload_url"]) not in log
    assert f"PUT /api/v1/storage/[artifact {ticket['artifact']['id']}] failed" in log, log


# --- refused uploads: no empty folders, no storage keys in messages ----------------------------------


def test_refused_uploads_leave_no_folders_and_name_the_artifact(start_server: Any, tmp_path: Path, make_api: Any) -> None:
    server = start_server({**ADMIN, "HELIXNET_MAX_UPLOAD_BYTES": "1000"}, "--workers", "0")
    api = make_api(server)

    def chunked(data: bytes) -> Any:  # no Content-Length: the server finds out while reading
        yield data

    over = api.announce(api.admin)
    too_many = api.http.put(over["upload_url"], content=chunked(DATA + b"!"), headers=over["headers"])
    assert too_many.status_code == 413, too_many.text
    assert over["artifact"]["id"] in too_many.json()["detail"] and "users/" not in too_many.text
    short = api.announce(api.admin)
    too_few = api.http.put(short["upload_url"], content=chunked(DATA[:-1]), headers=short["headers"])
    assert too_few.status_code == 422 and too_few.json()["errors"][0]["loc"] == ["body"], too_few.text
    assert leftovers(tmp_path / "data0") == []
    declared = api.announce(api.admin, sha256=hashlib.sha256(DATA).hexdigest())
    other = api.http.put(declared["upload_url"], content=chunked(DATA[::-1]), headers=declared["headers"])
    assert other.status_code == 422 and "not the declared" in other.json()["errors"][0]["msg"], other.text
    assert "users/" not in other.text, "no storage key in the answer"
    assert leftovers(tmp_path / "data0") == []

    files = {"content_key": ("big.txt", b"x" * 1001, "text/plain")}
    big = api.http.post(f"{api.base}/jobs/upload", headers=api.admin, files=files, data={"plugin": "textstats"})
    assert big.status_code == 413, big.text
    assert "users/" not in big.text and "artifact" in big.json()["detail"]
    assert leftovers(tmp_path / "data0") == []
