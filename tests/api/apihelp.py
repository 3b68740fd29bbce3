"""What the API tests share: the prefix, an Account, signing in, polling a job."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any

API = "/api/v1"


@dataclass
class Account:
    """A user the tests act as: their record, password and ready Authorization header."""

    id: str
    email: str
    password: str
    headers: dict[str, str]


def sign_in(client: Any, email: str, password: str) -> dict[str, str]:
    response = client.post(f"{API}/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def wait_final(client: Any, job_id: str, headers: dict[str, str], timeout: float = 30) -> dict[str, Any]:
    """Poll GET /jobs/{id} as a client would, until the job is final."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"{API}/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("SUCCESS", "FAILURE", "CANCELLED"):
            return job
        assert time.monotonic() < deadline, f"job still {job['status']} after {timeout} s"
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
