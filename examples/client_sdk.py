"""The same QA workflow as ``rest_client.py``, with ``helixnet.client``: five calls instead of fifty lines.

    helixnet serve                                    # in another terminal; prints the admin password
    python examples/client_sdk.py --url http://127.0.0.1:8000 --email admin@example.org \\
        --password '...' [CONTENT_FILE [CONTEXT_FILE]]

The URL, email and password may come from HELIXNET_URL, HELIXNET_EMAIL and HELIXNET_PASSWORD
instead. The client uploads through the two-step presigned flow (streaming, sha256 declared),
waits with a progress line, downloads ``result.json`` (checked against its sha256) and raises
HelixNet's own errors (``AuthenticationFailed``, ``ValidationFailed`` ...) as the embedded services do.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from helixnet import HelixNetError, JobRead
from helixnet.client import Client

SAMPLE_CONTENT = b"HelixNet runs jobs. Jobs read artifacts and write artifacts.\nA worker runs each job.\n"
SAMPLE_CONTEXT = b"A queue holds jobs until a worker takes them.\n"


def show_progress(job: JobRead) -> None:
    print(f"  {job.status.value:<9} {job.progress:4.0%} {job.message or ''}", file=sys.stderr)


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

    try:
        with Client(args.url) as client:
            client.login(args.email, args.password)
            job = client.submit("textstats", {"top": 5},
                                files={"content": args.content or SAMPLE_CONTENT,
                                       "context": args.context or SAMPLE_CONTEXT})  # fmt: skip
            job = client.wait(job.id, timeout=120, on_progress=show_progress)
            if job.status.value != "SUCCESS":
                print(f"job {job.id} ended {job.status.value}: {job.error}", file=sys.stderr)
                return 1
            (result,) = [a for a in job.artifacts if a.filename == "result.json"]
            with tempfile.TemporaryDirectory() as folder:
                path = client.download(result.id, Path(folder) / "result.json")
                print(json.dumps(json.loads(Path(path).read_text()), indent=2))
    except HelixNetError as exc:  # one clear line: the API's reason, never a traceback
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
