"""``AsyncClient``: ``Client``'s methods as coroutines (``httpx.AsyncClient``), for asyncio or trio.

The logic is the flows of ``_flows.py``, the same ones ``Client`` runs; only the I/O differs::

    async with AsyncClient("http://127.0.0.1:8000") as client:
        await client.login("ada@example.org", "correct horse battery")
        job = await client.wait((await client.submit("echo", {"message": "hi"})).id)
        async for job in client.jobs(status="FAILURE"):
            ...
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
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


class AsyncClient:
    """An async client of one HelixNet server; see ``Client`` for the arguments and methods."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:  # fmt: skip
        self.base_url = api_root(base_url)
        self.token = token
        redact_signed_urls()
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport, headers={"User-Agent": user_agent()})

    # -- running a flow -----------------------------------------------------------------------------

    async def _run(self, flow: Flow[T]) -> T:
        """``Client._run`` with awaited steps."""
        result: Any = None
        error: Exception | None = None
        try:
            while True:
                try:
                    step = flow.throw(error) if error is not None else flow.send(result)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
                try:
                    result, error = await self._perform(step), None
                except Exception as exc:
                    result, error = None, exc
        finally:
            flow.close()

    async def _perform(self, step: Step) -> Any:
        if isinstance(step, Call):
            return await self._call(step)
        if isinstance(step, Put):
            return await self._put(step)
        if isinstance(step, Fetch):
            return await self._fetch(step)
        if isinstance(step, Sleep):
            await anyio.sleep(step.seconds)
            return None
        if isinstance(step, Notify):
            outcome = step.callback(step.value)
            return await outcome if inspect.isawaitable(outcome) else outcome
        raise TypeError(f"unknown step {step!r}")

    async def _call(self, call: Call) -> Any:
        request = self._http.build_request(**request_args(call, self.base_url, self.token))
        try:
            response = await self._http.send(request)
        except httpx.TransportError as exc:
            raise connection_failed(request.url, exc) from exc
        return reply(response, token_sent=call.auth and bool(self.token))

    async def _put(self, put: Put) -> None:
        try:
            response = await self._http.put(put.url, content=put.source.achunks(), headers=put_headers(put))
        except httpx.TransportError as exc:
            raise connection_failed(put.url, exc, signed=True) from exc
        if not response.is_success:
            raise error_of(response, signed=True)

    async def _fetch(self, fetch: Fetch) -> int:
        try:
            async with self._http.stream("GET", fetch.url) as response:
                if not response.is_success:
                    await response.aread()
                    raise error_of(response, signed=True)
                async for chunk in response.aiter_bytes(CHUNK):
                    await anyio.to_thread.run_sync(fetch.sink.write, chunk)
        except httpx.TransportError as exc:
            raise connection_failed(fetch.url, exc, signed=True) from exc
        return fetch.sink.count

    # -- the API ------------------------------------------------------------------------------------

    async def login(self, email: str, password: str) -> str:
        self.token = await self._run(flows.login(email, password))
        return self.token

    async def me(self) -> UserRead:
        return await self._run(flows.me())

    async def plugins(self) -> list[dict[str, Any]]:
        return await self._run(flows.plugins())

    async def submit(self, plugin: str, params: Mapping[str, Any] | None = None,
                     inputs: Mapping[str, Any] | None = None, files: Mapping[str, UploadSource] | None = None,
                     priority: int | None = None, idempotency_key: str | None = None, *,
                     max_retries: int | None = None, timeout: float | None = None,
                     after: Sequence[Any] | None = None, allow_failed_parents: bool = False) -> JobRead:  # fmt: skip
        flow = flows.submit(plugin, params, inputs, files, priority, idempotency_key, max_retries, timeout, after,
                            allow_failed_parents)  # fmt: skip
        return await self._run(flow)

    async def wait(self, job_id: Any, timeout: float | None = None,
                   on_progress: Callable[[JobRead], Any] | None = None) -> JobRead:  # fmt: skip
        """``on_progress`` may be a plain function or a coroutine function."""
        return await self._run(flows.wait(job_id, timeout, on_progress))

    async def job(self, job_id: Any) -> JobRead:
        return await self._run(flows.job(job_id))

    async def jobs(self, status: Any = None, plugin: str | None = None, q: str | None = None, *,
                   limit: int | None = None, page_size: int = flows.JOBS_PAGE) -> AsyncIterator[JobRead]:  # fmt: skip
        """``async for job in client.jobs(...)``: every page, fetched as the iteration reaches it."""
        size = min(page_size, limit) if limit else page_size
        cursor: str | None = None
        given = 0
        while limit is None or given < limit:
            page = await self._run(flows.jobs_page(status, plugin, q, cursor, size))
            for item in page.items[: None if limit is None else limit - given]:
                given += 1
                yield item
            if not page.next_cursor or not page.items:
                return
            cursor = page.next_cursor

    async def events(self, job_id: Any) -> list[JobEventRead]:
        return await self._run(flows.events(job_id))

    async def cancel(self, job_id: Any) -> JobRead:
        return await self._run(flows.cancel(job_id))

    async def retry(self, job_id: Any, idempotency_key: str | None = None, *, rearm_children: bool = False) -> JobRead:
        return await self._run(flows.retry(job_id, idempotency_key, rearm_children))

    async def artifact(self, artifact_id: Any) -> ArtifactRead:
        return await self._run(flows.artifact(artifact_id))

    async def upload(self, data: UploadSource, filename: str | None = None,
                     content_type: str | None = None) -> ArtifactRead:  # fmt: skip
        return await self._run(flows.upload(data, filename, content_type))

    async def download(self, artifact_id: Any, dest: DownloadTarget) -> Path | int:
        return await self._run(flows.download(artifact_id, dest))

    # -- lifetime -----------------------------------------------------------------------------------

    async def close(self) -> None:
        await self._http.aclose()

    aclose = close

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncClient({self.base_url!r})"


__all__ = ["AsyncClient"]
