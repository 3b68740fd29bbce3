"""API fixtures: a started HelixNet, Starlette's test client over its app, and signed-in users."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from .apihelp import Account, free_port, sign_in


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
        full_env = {**os.environ, "HELIXNET_DATA_DIR": str(data_dir), "HELIXNET_BCRYPT_ROUNDS": "4", **env}
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
def start_server(tmp_path: Path) -> Iterator[Any]:
    servers: list[Server] = []

    def factory(env: dict[str, str] | None = None, *args: str) -> Server:
        server = Server(tmp_path / f"data{len(servers)}", free_port(), env or {}, *args)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
