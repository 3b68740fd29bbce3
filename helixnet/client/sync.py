"""``Client``: the REST API from Python, blocking (``httpx.Client``).

It answers with the models the embedded services return (``JobRead``, ``ArtifactRead``...) and
raises the same ``helixnet.errors`` classes, so code written against ``hx.jobs`` reads the same::

    with Client("http://127.0.0.1:8000") as client:
        client.login("ada@example.org", "correct horse battery")
        job = client.submit("textstats", {"top": 5}, files={"content": "book.txt"})
        job = client.wait(job.id, timeout=60)
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from helixnet.client import _flows as flows
from helixnet.client._files import CHUNK, DownloadTarget, UploadSource
from helixnet.client._protocol import (
    Call,
    Fetch,
    Flow,
    Notify,
    Put,
    Sleep,
    Step,
    T,
    api_root,
    connection_failed,
    error_of,
    put_headers,
    redact_signed_urls,
    reply,
    request_args,
    user_agent,
)
from helixnet.core.schemas import ArtifactRead, JobEventRead, JobRead, UserRead


class Client:
    """A blocking client of one HelixNet server.

    ``base_url`` is the server root (``http://host:8000``) or its API root (``.../api/v1``);
    ``token`` a bearer token (or call ``login``); ``transport`` an ``httpx`` transport (tests,
    proxies, retries).
    """

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:  # fmt: skip
        self.base_url = api_root(base_url)
        self.token = token
        redact_signed_urls()
        self._http = httpx.Client(timeout=timeout, transport=transport, headers={"User-Agent": user_agent()})

    # -- running a flow -----------------------------------------------------------------------------

    def _run(self, flow: Flow[T]) -> T:
        """Perform each step the flow yields and send it the result (or throw it the error)."""
        result: Any = None
        error: Exception | None = None
        try:
            while True:
                try:
                    step = flow.throw(error) if error is not None else flow.send(result)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
                try:
                    result, error = self._perform(step), None
                except Exception as exc:
                    result, error = None, exc
        finally:
            flow.close()

    def _perform(self, step: Step) -> Any:
        if isinstance(step, Call):
            return self._call(step)
        if isinstance(step, Put):
            return self._put(step)
        if isinstance(step, Fetch):
            return self._fetch(step)
        if isinstance(step, Sleep):
            time.sleep(step.seconds)
            return None
        if isinstance(step, Notify):
            return step.callback(step.value)
        raise TypeError(f"unknown step {step!r}")

    def _call(self, call: Call) -> Any:
        request = self._http.build_request(**request_args(call, self.base_url, self.token))
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:
            raise connection_failed(request.url, exc) from exc
        return reply(response, token_sent=call.auth and bool(self.token))

    def _put(self, put: Put) -> Any:
        try:
            response = self._http.put(put.url, content=put.source.chunks(), headers=put_headers(put))
        except httpx.TransportError as exc:
            raise connection_failed(put.url, exc, signed=True) from exc
        if not response.is_success:
            raise error_of(response, signed=True)
        return None

    def _fetch(self, fetch: Fetch) -> int:
        try:
            with self._http.stream("GET", fetch.url) as response:
                if not response.is_success:
                    response.read()
                    raise error_of(response, signed=True)
                for chunk in response.iter_bytes(CHUNK):
                    fetch.sink.write(chunk)
        except httpx.TransportError as exc:
            raise connection_failed(fetch.url, exc, signed=True) from exc
        return fetch.sink.count

    # -- the API ------------------------------------------------------------------------------------

    def login(self, email: str, password: str) -> str:
        """Get a bearer token for these credentials; the client uses it from now on. Returns it."""
        self.token = self._run(flows.login(email, password))
        return self.token

    def me(self) -> UserRead:
        return self._run(flows.me())

    def plugins(self) -> list[dict[str, Any]]:
        """The compute plugins the server runs: name, title, description, params_schema, inputs..."""
        return self._run(flows.plugins())

    def submit(self, plugin: str, params: Mapping[str, Any] | None = None, inputs: Mapping[str, Any] | None = None,
               files: Mapping[str, UploadSource] | None = None, priority: int | None = None,
               idempotency_key: str | None = None, *, max_retries: int | None = None,
               timeout: float | None = None, after: Sequence[Any] | None = None,
               allow_failed_parents: bool = False) -> JobRead:  # fmt: skip
        """Submit a job; ``files`` (name -> path, bytes or binary file) are uploaded first as its inputs.

        ``after``: jobs (or ids) to wait for; an input may be ``{"job": parent, "output": filename}``.
        """
        return self._run(flows.submit(plugin, params, inputs, files, priority, idempotency_key, max_retries, timeout,
                                      after, allow_failed_parents))  # fmt: skip

    def wait(self, job_id: Any, timeout: float | None = None,
             on_progress: Callable[[JobRead], Any] | None = None) -> JobRead:  # fmt: skip
        """Block until the job is final and return it; ``WaitTimeout`` after ``timeout`` seconds."""
        return self._run(flows.wait(job_id, timeout, on_progress))

    def job(self, job_id: Any) -> JobRead:
        return self._run(flows.job(job_id))

    def jobs(self, status: Any = None, plugin: str | None = None, q: str | None = None, *,
             limit: int | None = None, page_size: int = flows.JOBS_PAGE) -> Iterator[JobRead]:  # fmt: skip
        """The caller's jobs, newest first, over every page (fetched as the iteration reaches them)."""
        size = min(page_size, limit) if limit else page_size
        return itertools.islice(self._pages(status, plugin, q, size), limit)

    def _pages(self, status: Any, plugin: str | None, q: str | None, size: int) -> Iterator[JobRead]:
        cursor: str | None = None
        while True:
            page = self._run(flows.jobs_page(status, plugin, q, cursor, size))
            yield from page.items
            if not page.next_cursor or not page.items:
                return
            cursor = page.next_cursor

    def events(self, job_id: Any) -> list[JobEventRead]:
        return self._run(flows.events(job_id))

    def cancel(self, job_id: Any) -> JobRead:
        return self._run(flows.cancel(job_id))

    def retry(self, job_id: Any, idempotency_key: str | None = None, *, rearm_children: bool = False) -> JobRead:
        return self._run(flows.retry(job_id, idempotency_key, rearm_children))

    def artifact(self, artifact_id: Any) -> ArtifactRead:
        return self._run(flows.artifact(artifact_id))

    def upload(self, data: UploadSource, filename: str | None = None, content_type: str | None = None) -> ArtifactRead:
        """Upload a path, bytes or binary file (streamed from disk) as a new artifact."""
        return self._run(flows.upload(data, filename, content_type))

    def download(self, artifact_id: Any, dest: DownloadTarget) -> Path | int:
        """Stream an artifact to a path (returned) or a writable binary file (the byte count returned)."""
        return self._run(flows.download(artifact_id, dest))  # type: ignore[no-any-return]

    # -- lifetime -----------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"


__all__ = ["Client"]
