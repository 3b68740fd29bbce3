"""API fixtures: a started HelixNet, Starlette's test client over its app, and signed-in users.

Every test here that builds a HelixNet (``make_hx``, ``hx``, ``client``, ``start_server``) runs on
both stacks (the ``stack`` fixture): ``embedded`` (SQLite database, SQLite queue, local folder) and
``production`` (PostgreSQL, Redis, S3 on a moto server), each test with an emptied database, its own
queue name and its own bucket. A test or module that is about the embedded stack alone says so,
with the reason: ``@pytest.mark.embedded_only("the local folder's own signed URLs")``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from .apihelp import Account, free_port, sign_in


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "embedded_only(reason): runs on the embedded stack alone (SQLite, SQLite queue, local folder)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that uses ``stack`` (directly or through a fixture) on both stacks."""
    if "stack" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("embedded_only")
    if marker is not None and not (marker.args and str(marker.args[0]).strip()):
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: embedded_only needs a reason")
    production = pytest.param("production", marks=[pytest.mark.postgres, pytest.mark.redis, pytest.mark.s3])
    metafunc.parametrize("stack", ["embedded"] if marker else ["embedded", production], indirect=True)


@dataclass(frozen=True)
class Stack:
    """Where a test's HelixNet keeps its rows, its queue and its bytes.

    ``settings`` are ``Settings`` overrides for ``make_hx``; ``env`` the same as the ``HELIXNET_*``
    variables of a ``helixnet serve`` process. Both are empty on the embedded stack (its defaults).
    """

    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def s3(self) -> bool:
        """Presigned URLs point at the S3 server, not at the app's /storage routes."""
        return self.name == "production"


@pytest.fixture
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """This test's stack (parametrised by ``pytest_generate_tests``); production needs PostgreSQL and Redis."""
    if getattr(request, "param", "embedded") == "embedded":
        yield Stack("embedded")
        return
    database_url = request.getfixturevalue("fresh_postgres_url")
    redis_url = request.getfixturevalue("redis_url")
    s3_options = request.getfixturevalue("s3_options")
    name = uuid.uuid4().hex[:12]
    settings: dict[str, Any] = {"database_url": database_url, "queue_url": redis_url, "queue_name": f"test-{name}",
                                "storage_url": f"s3://stack-{name}/artifacts", "storage_options": s3_options}  # fmt: skip
    env = {f"HELIXNET_{key.upper()}": value if isinstance(value, str) else json.dumps(value)
           for key, value in settings.items()}  # fmt: skip
    yield Stack("production", settings, env)
    import redis

    with redis.Redis.from_url(redis_url) as client:  # the queue's keys go with the test
        for key in client.scan_iter(match=f"*{settings['queue_name']}*"):
            client.delete(key)


@pytest.fixture
def make_hx(make_hx: Callable[..., Any], stack: Stack) -> Callable[..., Any]:
    """tests/conftest.py's ``make_hx`` on this test's stack; a test's own overrides win."""

    def factory(database: str = "sqlite", **overrides: Any) -> Any:
        return make_hx(database, **{**stack.settings, **overrides})

    return factory


@pytest.fixture
def make_client(make_hx: Callable[..., Any]) -> Iterator[Callable[..., TestClient]]:
    from helixnet.api import create_app

    clients: list[TestClient] = []

    def factory(hx: Any = None, **overrides: Any) -> TestClient:
        hx = hx if hx is not None else make_hx(**overrides)
        client = TestClient(create_app(hx))
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(hx: Any, make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(hx)


@pytest.fixture
def make_account(hx: Any, client: TestClient) -> Callable[..., Account]:
    def factory(email: str, password: str = "a long enough password", *, is_admin: bool = False) -> Account:
        user = hx.users.create(email=email, password=password, is_admin=is_admin)
        return Account(user.id, user.email, password, sign_in(client, email, password))

    return factory


@pytest.fixture
def alice(make_account: Callable[..., Account]) -> Account:
    return make_account("alice@example.org")


@pytest.fixture
def bob(make_account: Callable[..., Account]) -> Account:
    return make_account("bob@example.org")


@pytest.fixture
def admin(make_account: Callable[..., Account]) -> Account:
    return make_account("root@example.org", is_admin=True)


# -- a real `helixnet serve` process --------------------------------------------------------------


class Server:
    def __init__(self, data_dir: Path, port: int, env: dict[str, str], *args: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.data_dir = data_dir
        # A stopped test server hands running jobs back at once instead of giving them the 30 s grace.
        full_env = {**os.environ, "HELIXNET_DATA_DIR": str(data_dir), "HELIXNET_BCRYPT_ROUNDS": "4",
                    "HELIXNET_WORKER_GRACE_SECONDS": "0", **env}  # fmt: skip
        self.log = data_dir.parent / f"serve-{port}.log"
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "helixnet", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            env=full_env, stdout=self._out, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.1)

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return int(self.proc.returncode)


@pytest.fixture
def start_server(tmp_path: Path, stack: Stack) -> Iterator[Any]:
    """Start ``helixnet serve`` processes on this test's stack; ``env`` adds or overrides variables."""
    servers: list[Server] = []

    def factory(env: dict[str, str] | None = None, *args: str) -> Server:
        server = Server(tmp_path / f"data{len(servers)}", free_port(), {**stack.env, **(env or {})}, *args)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
