"""Client fixtures: one real ``helixnet serve`` (embedded stack) shared by this package, and accounts on it.

The server is tests/api/conftest.py's ``Server`` and its ``stack``/``start_server`` fixtures are
reused as they are, so a test here that needs another stack asks for them the same way.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from api.apihelp import free_port
from api.conftest import Server, Stack, pytest_configure, pytest_generate_tests, stack, start_server

ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "admin password 1"


@dataclass(frozen=True)
class Login:
    email: str
    password: str
    token: str


def create_account(base: str, admin_token: str) -> Login:
    """A new user made through the admin API, signed in: a test that counts jobs sees only its own."""
    email, password = f"user-{secrets.token_hex(4)}@example.org", "a long enough password"
    with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as http:
        created = http.post("/users", json={"email": email, "password": password},
                            headers={"Authorization": f"Bearer {admin_token}"})  # fmt: skip
        assert created.status_code == 201, created.text
        token = http.post("/auth/token", data={"username": email, "password": password})
        assert token.status_code == 200, token.text
    return Login(email, password, token.json()["access_token"])


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One embedded-stack server for the package: starting one costs about a second."""
    with pytest.MonkeyPatch.context() as patch:  # no developer HELIXNET_* reaches it (see _isolated_env)
        for key in list(os.environ):
            if key.startswith("HELIXNET_"):
                patch.delenv(key)
        env = {"HELIXNET_ADMIN_EMAIL": ADMIN_EMAIL, "HELIXNET_ADMIN_PASSWORD": ADMIN_PASSWORD}
        running = Server(tmp_path_factory.mktemp("client-server") / "data", free_port(), env, "--workers", "2")
    yield running
    running.stop()


@pytest.fixture(scope="package")
def admin_token(server: Server) -> str:
    token = httpx.post(f"{server.base}/api/v1/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert token.status_code == 200, token.text
    return str(token.json()["access_token"])


@pytest.fixture
def make_login(server: Server, admin_token: str) -> Callable[[], Login]:
    return lambda: create_account(server.base, admin_token)


@pytest.fixture
def login(make_login: Callable[[], Login]) -> Login:
    return make_login()


def write_random(path: Path, size: int) -> str:
    """A file of ``size`` random bytes written in pieces; its sha256."""
    import hashlib

    digest = hashlib.sha256()
    with path.open("wb") as file:
        for _ in range(0, size, 1 << 20):
            chunk = os.urandom(min(1 << 20, size - file.tell()))
            digest.update(chunk)
            file.write(chunk)
    return digest.hexdigest()


__all__ = ["Login", "Stack", "pytest_configure", "pytest_generate_tests", "stack", "start_server"]
