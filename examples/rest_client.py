"""The REST API with nothing but httpx: sign in, upload two files, run ``textstats``, print its result.

    helixnet serve                                    # in another terminal; prints the admin password
    python examples/rest_client.py --url http://127.0.0.1:8000 --email admin@example.org \\
        --password '...' [CONTENT_FILE [CONTEXT_FILE]]

The URL, email and password may come from HELIXNET_URL, HELIXNET_EMAIL and HELIXNET_PASSWORD
instead. Without files, two short sample texts are uploaded. Each file goes up in two steps: ask the
API for an upload URL (``POST /artifacts/upload``), PUT the bytes there (to S3 itself when the
server stores artifacts on S3: they never pass through the server), then ``complete`` it. The job
runs on the server's workers; the script polls it and prints ``result.json``, its main output.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

SAMPLE_CONTENT = b"HelixNet runs jobs. Jobs read artifacts and write artifacts.\nA worker runs each job.\n"
SAMPLE_CONTEXT = b"A queue holds jobs until a worker takes them.\n"
FINAL = {"SUCCESS", "FAILURE", "CANCELLED"}


def sign_in(http: httpx.Client, email: str, password: str) -> None:
    """OAuth2's password form: the bearer token goes on every later request of this client."""
    response = http.post("/api/v1/auth/token", data={"username": email, "password": password})
    check(response)
    http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"


def upload(http: httpx.Client, filename: str, data: bytes, content_type: str = "text/plain") -> str:
    """The two-step upload: a ticket, the bytes to its URL with exactly its headers, then complete."""
    ticket = http.post(
        "/api/v1/artifacts/upload",
        json={"filename": filename, "content_type": content_type, "size": len(data),
              "sha256": hashlib.sha256(data).hexdigest()},  # storage refuses bytes with another digest
    )  # fmt: skip
    check(ticket)
    body = ticket.json()
    # A plain httpx call, not ``http``: the URL may point at S3, which must not see our bearer token.
    check(httpx.request(body["method"], body["upload_url"], content=data, headers=body["headers"], timeout=60))
    artifact_id: str = body["artifact"]["id"]
    check(http.post(f"/api/v1/artifacts/{artifact_id}/complete"))
    return artifact_id


def run_textstats(http: httpx.Client, content_id: str, context_id: str, timeout: float = 120) -> dict[str, Any]:
    """Submit the job, then poll it (with a growing pause) until it is final."""
    submitted = http.post("/api/v1/jobs", json={"plugin": "textstats", "params": {"top": 5},
                                                "inputs": {"content": content_id, "context": context_id}})  # fmt: skip
    check(submitted)
    job: dict[str, Any] = submitted.json()
    deadline, pause = time.monotonic() + timeout, 0.05
    while job["status"] not in FINAL:
        if time.monotonic() > deadline:
            raise SystemExit(f"job {job['id']} is still {job['status']} after {timeout:g} s")
        time.sleep(pause)
        pause = min(pause * 1.5, 1.0)
        response = http.get(f"/api/v1/jobs/{job['id']}")
        check(response)
        job = response.json()
    return job


def download(http: httpx.Client, artifact_id: str) -> bytes:
    """A short-lived download URL from the API, then the bytes from wherever it points."""
    link = http.get(f"/api/v1/artifacts/{artifact_id}/download")
    check(link)
    response = httpx.get(link.json()["url"], timeout=60)
    check(response)
    return response.content


def check(response: httpx.Response) -> None:
    """Stop with the API's own explanation (``detail`` and each field error), never a bare traceback."""
    if response.is_success:
        return
    try:
        body = response.json()
        reason = body.get("detail", response.text)
        fields = "; ".join(f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}" for e in body.get("errors", []))
    except ValueError:
        reason, fields = response.text[:500], ""
    request = response.request
    raise SystemExit(f"{request.method} {request.url.path} -> {response.status_code}: {reason}"
                     + (f" ({fields})" if fields else ""))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("HELIXNET_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--email", default=os.environ.get("HELIXNET_EMAIL"))
    parser.add_argument("--password", default=os.environ.get("HELIXNET_PASSWORD"))
    parser.add_argument("content", nargs="?", type=Path, help="the text to analyse (default: a sample)")
    parser.add_argument("context", nargs="?", type=Path, help="a second text to compare with (default: a sample)")
    args = parser.parse_args(argv)
    if not args.email or not args.password:
        parser.error("--email and --password (or HELIXNET_EMAIL and HELIXNET_PASSWORD) are required")

    content = (args.content.name, args.content.read_bytes()) if args.content else ("content.txt", SAMPLE_CONTENT)
    context = (args.context.name, args.context.read_bytes()) if args.context else ("context.txt", SAMPLE_CONTEXT)
    with httpx.Client(base_url=args.url.rstrip("/"), timeout=30) as http:
        sign_in(http, args.email, args.password)
        content_id, context_id = upload(http, *content), upload(http, *context)
        job = run_textstats(http, content_id, context_id)
        if job["status"] != "SUCCESS":
            print(f"job {job['id']} ended {job['status']}: {job['error']}", file=sys.stderr)
            return 1
        (result,) = [a for a in job["artifacts"] if a["filename"] == "result.json"]
        print(json.dumps(json.loads(download(http, result["id"])), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
