"""What the API tests share: the prefix, an Account, signing in, polling a job, following a signed URL."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

API = "/api/v1"
VALIDATION = "validation of the request alone, refused before any database, queue or storage is touched"
"""Why a purely-validation test runs on the embedded stack only (tests/api/conftest.py)."""


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


def transfer(client: Any, method: str, url: str, **kwargs: Any) -> Any:
    """Send a request to a URL the API handed out, wherever it points.

    The local folder's signed URLs are the app's own (``http://testserver/...`` under the test
    client): they go through ``client``. S3's presigned URLs point at the S3 server (moto here):
    they go there with httpx, as a real client's would, never through the app.
    """
    import httpx

    if urlsplit(url).netloc == urlsplit(str(client.base_url)).netloc:
        return client.request(method, url, **kwargs)
    return httpx.request(method, url, timeout=30, **kwargs)
