"""helixnet.client.Client against a real `helixnet serve`: the models and errors of the embedded services."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import helixnet
from helixnet import ArtifactRead, JobEventRead, JobRead, JobStatus, UserRead
from helixnet.client import Client, ConnectionFailed

from .conftest import Login, write_random


class CountingTransport(httpx.HTTPTransport):
    """The real transport, remembering each request's URL: to see how many pages were fetched."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[httpx.URL] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        return super().handle_request(request)


def test_login_submit_and_wait_for_textstats_on_an_uploaded_file(server: Any, login: Login, tmp_path: Path) -> None:
    book = tmp_path / "book.txt"
    book.write_text("the cat and the hat\nthe end\n", encoding="utf-8")
    with Client(server.base) as client:  # the server root: the client adds /api/v1
        assert client.login(login.email, login.password) == client.token
        me = client.me()
        assert isinstance(me, UserRead) and me.email == login.email
        assert {"echo", "textstats"} <= {p["name"] for p in client.plugins()}
        job = client.submit("textstats", {"top": 2}, files={"content": book})
        assert isinstance(job, JobRead) and job.status in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.SUCCESS)
        seen: list[JobRead] = []
        done = client.wait(job.id, timeout=30, on_progress=seen.append)
        assert done.status == JobStatus.SUCCESS, done.error
        assert done.result["words"] == 7 and done.result["top_terms"][0] == {"term": "the", "count": 3}
        assert (
            seen and seen[-1].status == JobStatus.SUCCESS and len({(j.status, j.progress) for j in seen}) == len(seen)
        )
        uploaded = client.artifact(done.inputs["content"])
        assert isinstance(uploaded, ArtifactRead) and uploaded.filename == "book.txt"
        assert uploaded.sha256 == hashlib.sha256(book.read_bytes()).hexdigest()
        events = client.events(done)  # a model with an id is accepted where an id is
        assert events and all(isinstance(e, JobEventRead) for e in events)
        assert client.job(done.id) == done


def test_echo_through_the_api_root_url_with_a_given_token(server: Any, login: Login) -> None:
    with Client(f"{server.base}/api/v1/", token=login.token) as client:
        job = client.wait(client.submit("echo", {"message": "hi"}, priority=5).id, timeout=30)
        assert job.status == JobStatus.SUCCESS and job.result == {"message": "hi"} and job.priority == 5
        again = client.submit("echo", {"message": "once"}, idempotency_key="k-1")
        assert client.submit("echo", {"message": "once"}, idempotency_key="k-1").id == again.id


def test_jobs_iterates_over_every_page(server: Any, login: Login) -> None:
    transport = CountingTransport()
    with Client(server.base, login.token, transport=transport) as client:
        submitted = [client.submit("echo", {"message": str(n)}).id for n in range(5)]
        transport.urls.clear()
        listed = [job.id for job in client.jobs(page_size=2)]
        assert listed == submitted[::-1]  # newest first, each once, over 3 pages
        pages = [url for url in transport.urls if url.path == "/api/v1/jobs"]
        assert len(pages) == 3 and all(url.params["limit"] == "2" for url in pages)
        assert "cursor" not in pages[0].params and all(url.params["cursor"] for url in pages[1:])
        assert [job.id for job in client.jobs(plugin="echo", limit=3)] == submitted[:-4:-1]
        assert list(client.jobs(plugin="textstats")) == []
        client.wait(submitted[-1], timeout=30)
        assert submitted[-1] in {job.id for job in client.jobs(status=JobStatus.SUCCESS)}


def test_errors_are_the_embedded_services_classes(server: Any, make_login: Callable[[], Login]) -> None:
    alice, bob = make_login(), make_login()
    with Client(server.base, alice.token) as client:
        with pytest.raises(helixnet.ValidationFailed) as invalid:
            client.submit("textstats", {"top": 0})
        assert ["params", "top"] in [e["loc"] for e in invalid.value.errors]
        with pytest.raises(helixnet.ValidationFailed) as unknown:
            client.submit("no-such-plugin")
        assert any("plugin" in e["loc"] for e in unknown.value.errors)
        with pytest.raises(helixnet.NotFound):
            client.job("00000000-0000-4000-8000-000000000000")
        with pytest.raises(helixnet.NotFound, match="job 12 not found"):
            client.job("12")  # never sent as a path
        done = client.wait(client.submit("echo").id, timeout=30)
        with pytest.raises(helixnet.Conflict):
            client.cancel(done.id)
        slow = client.submit("sleep", {"seconds": 30})
        with pytest.raises(helixnet.WaitTimeout):
            client.wait(slow.id, timeout=0.2)
        assert client.cancel(slow.id).status in (JobStatus.CANCELLED, JobStatus.RUNNING)
    with Client(server.base) as fresh:
        with pytest.raises(helixnet.AuthenticationFailed):
            fresh.login(alice.email, "a wrong password")
        with pytest.raises(helixnet.RateLimited) as limited:  # 5 failures a window (HELIXNET_LOGIN_MAX_FAILURES)
            for _ in range(10):
                with pytest.raises(helixnet.AuthenticationFailed):
                    fresh.login(alice.email, "a wrong password")
        assert limited.value.retry_after >= 1
    with Client(server.base, bob.token) as as_bob, pytest.raises(helixnet.NotFound):
        as_bob.job(done.id)  # another user's job does not exist for bob
    with Client(server.base, "not-a-token") as stranger, pytest.raises(helixnet.AuthenticationFailed):
        stranger.me()
    with Client(server.base) as anonymous, pytest.raises(helixnet.AuthenticationFailed, match="not signed in"):
        list(anonymous.jobs())
    with Client("http://127.0.0.1:9", alice.token) as nowhere, pytest.raises(ConnectionFailed) as failed:
        nowhere.me()
    assert isinstance(failed.value, helixnet.HelixNetError) and "http://127.0.0.1:9/api/v1/users/me" in str(
        failed.value
    )


@pytest.mark.parametrize("source", ["path", "file", "pipe"])
def test_upload_takes_a_path_a_file_or_a_pipe(server: Any, login: Login, tmp_path: Path, source: str) -> None:
    data = b"line one\nline two\n" * 1000
    path = tmp_path / "notes.txt"
    path.write_bytes(data)
    with Client(server.base, login.token) as client:
        if source == "path":
            artifact = client.upload(path, content_type="text/plain")
        elif source == "file":
            with path.open("rb") as file:
                artifact = client.upload(file)
        else:
            import subprocess

            with subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE) as cat:
                assert cat.stdout is not None
                artifact = client.upload(cat.stdout, filename="notes.txt")
        assert artifact.filename == "notes.txt" and artifact.size == len(data)
        assert artifact.sha256 == hashlib.sha256(data).hexdigest() and artifact.status.value == "AVAILABLE"
        with pytest.raises(helixnet.ValidationFailed, match="binary"), path.open("r") as text:
            client.upload(text)
        with pytest.raises(helixnet.ValidationFailed, match="cannot read"):
            client.upload(tmp_path / "missing.txt")


def test_multi_megabyte_round_trip_on_each_stack(start_server: Any, stack: Any, tmp_path: Path) -> None:
    """On S3 the bytes go to the S3 server with its signed headers, never through the app."""
    server = start_server({"HELIXNET_ADMIN_EMAIL": "admin@example.org", "HELIXNET_ADMIN_PASSWORD": "admin password 1"},
                          "--workers", "0")  # fmt: skip
    source = tmp_path / "big.bin"
    digest = write_random(source, 6 * (1 << 20) + 123)
    with Client(server.base) as client:
        client.login("admin@example.org", "admin password 1")
        artifact = client.upload(source)
        assert artifact.size == source.stat().st_size and artifact.sha256 == digest
        folder = tmp_path / "out"
        folder.mkdir()
        written = client.download(artifact.id, folder)  # a folder: the artifact's filename in it
        assert written == folder / "big.bin"
        assert hashlib.sha256(written.read_bytes()).hexdigest() == digest
        buffer = io.BytesIO()
        assert client.download(artifact, buffer) == artifact.size
        assert hashlib.sha256(buffer.getvalue()).hexdigest() == digest
        assert [p.name for p in folder.iterdir()] == ["big.bin"]  # no .part file left


def test_a_failed_transfer_deletes_its_artifact_and_hides_the_signed_url(server: Any, login: Login) -> None:
    class DroppedPut(httpx.HTTPTransport):
        """The real server, except that every PUT to a signed URL times out."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "PUT":
                raise httpx.WriteTimeout("the network went away", request=request)
            return super().handle_request(request)

    with Client(server.base, login.token, transport=DroppedPut()) as client:
        with pytest.raises(ConnectionFailed) as failed:
            client.upload(b"payload", "lost.txt")
        assert str(failed.value) == f"cannot reach {server.base} (a signed URL): timed out"
        listed = httpx.get(f"{server.base}/api/v1/artifacts", headers={"Authorization": f"Bearer {login.token}"})
        assert listed.json() == []  # the announced artifact went with the failed upload


def test_a_workflow_through_the_client(server: Any, login: Login) -> None:
    """after, a parent's output as an input, parents/children, and a retry that re-arms (docs/workflows.md)."""
    with Client(server.base, login.token) as client:
        first = client.submit("textstats", files={"content": b"one two two"})
        second = client.submit("textstats", inputs={"content": {"job": first, "output": "result.json"}})
        last = client.submit("echo", after=[second], allow_failed_parents=True)
        assert second.parents == [first.id] and last.parents == [second.id] and last.allow_failed_parents
        assert client.wait(last.id, timeout=30).status == JobStatus.SUCCESS
        assert client.job(second.id).inputs["content"] in {a.id for a in client.job(first.id).artifacts}
        held = client.submit("sleep", {"seconds": 30})  # still running when its child is submitted
        child = client.submit("echo", after=[held.id])
        client.cancel(held.id)
        assert client.wait(child.id, timeout=30).error == f"dependency failed: {held.id}"
        client.wait(held.id, timeout=30)
        retried = client.retry(held.id, rearm_children=True)
        assert retried.children == [child.id] and client.job(child.id).status == JobStatus.WAITING
        client.cancel(retried.id)
        assert client.wait(child.id, timeout=30).error == f"dependency failed: {retried.id}"
