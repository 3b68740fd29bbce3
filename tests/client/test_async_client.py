"""helixnet.client.AsyncClient: the same flows as Client, awaited, against the same real server."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest

import helixnet
from helixnet import ArtifactRead, JobRead, JobStatus
from helixnet.client import AsyncClient, ConnectionFailed

from .conftest import Login


@pytest.mark.asyncio
async def test_async_client_basics(server: Any, login: Login, tmp_path: Path) -> None:
    async with AsyncClient(server.base) as client:
        await client.login(login.email, login.password)
        assert (await client.me()).email == login.email
        seen: list[JobRead] = []

        async def progress(job: JobRead) -> None:  # a coroutine callback is awaited
            seen.append(job)

        book = tmp_path / "book.txt"
        book.write_bytes(b"a b a\n")
        job = await client.submit("textstats", {"top": 1}, files={"content": book})
        done = await client.wait(job.id, timeout=30, on_progress=progress)
        assert done.status == JobStatus.SUCCESS and done.result["top_terms"] == [{"term": "a", "count": 2}]
        assert seen[-1].status == JobStatus.SUCCESS
        echoes = [(await client.submit("echo", {"message": str(n)})).id for n in range(3)]
        listed = [job.id async for job in client.jobs(plugin="echo", page_size=2)]
        assert listed == echoes[::-1]
        assert [job.id async for job in client.jobs(limit=2)] == [echoes[2], echoes[1]]
        assert len(await client.events(done.id)) >= 1
        data = bytes(range(256)) * 8192  # 2 MiB
        artifact = await client.upload(io.BytesIO(data), filename="blob.bin")
        assert isinstance(artifact, ArtifactRead) and artifact.sha256 == hashlib.sha256(data).hexdigest()
        target = tmp_path / "copy.bin"
        assert await client.download(artifact.id, target) == target and target.read_bytes() == data
        with pytest.raises(helixnet.ValidationFailed) as invalid:
            await client.submit("echo", {"unknown": 1})
        assert ["params", "unknown"] in [e["loc"] for e in invalid.value.errors]
        with pytest.raises(helixnet.NotFound):
            await client.cancel("00000000-0000-4000-8000-000000000000")
        slow = await client.submit("sleep", {"seconds": 30})
        with pytest.raises(helixnet.WaitTimeout):
            await client.wait(slow, timeout=0.1)
        await client.cancel(slow)
    async with AsyncClient("http://127.0.0.1:9", "token") as nowhere:
        with pytest.raises(ConnectionFailed, match="127.0.0.1:9"):
            await nowhere.job(done.id)
