"""API fixtures: a started HelixNet, Starlette's test client over its app, and signed-in users."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from .apihelp import Account, sign_in


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


