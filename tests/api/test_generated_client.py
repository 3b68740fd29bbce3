"""The API as a generated client sees it (issue 9): openapi-python-client builds a package from the
live document of a real `helixnet serve`, and the QA workflow runs through its functions only."""

from __future__ import annotations

import importlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from openapi_spec_validator import validate

from .apihelp import API

PACKAGE = "helixnet_client"
EMAIL, PASSWORD = "qa@example.org", "qa password 1"
CONTENT = b"the cat sat on the mat\nthe dog sat on the log\n"
CONTEXT = b"a cat and a dog\n"


def _tools_env() -> dict[str, str]:
    """The generator runs `ruff` as a post hook: the one installed beside this Python."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])}


@pytest.fixture
def generated(start_server: Callable[..., Any], tmp_path: Path) -> Iterator[tuple[Any, ModuleType]]:
    server = start_server({"HELIXNET_ADMIN_EMAIL": EMAIL, "HELIXNET_ADMIN_PASSWORD": PASSWORD})
    spec = httpx.get(f"{server.base}{API}/openapi.json").json()
    validate(spec)  # openapi-spec-validator: a valid OpenAPI 3.1 document
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    out = tmp_path / "gen" / PACKAGE
    done = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec_path),
         "--output-path", str(out), "--meta", "none"],
        cwd=tmp_path, env=_tools_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0 and (out / "__init__.py").exists(), done.stdout + done.stderr
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--select", "F", str(out)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert lint.returncode == 0, f"the generated client has undefined names or broken imports:\n{lint.stdout}"
    sys.path.insert(0, str(out.parent))
    try:
        yield server, importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out.parent))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _api(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def _poll(client: Any, job_id: Any, timeout: float = 60) -> Any:
    read_job = _api("jobs.read_job")
    models = importlib.import_module(f"{PACKAGE}.models")
    deadline = time.monotonic() + timeout
    while True:
        job = read_job.sync(job_id=job_id, client=client)
        assert isinstance(job, models.JobRead), job
        if job.status in (models.JobStatus.SUCCESS, models.JobStatus.FAILURE, models.JobStatus.CANCELLED):
            return job
        assert time.monotonic() < deadline, f"job still {job.status} after {timeout} s"
        time.sleep(0.1)


@pytest.mark.embedded_only("it downloads through the generated storage_object_get, the app's own /storage route; "
    "the same flow on S3 is test_serve.py::test_readme_flow_over_http[production]")
def test_generated_client_runs_the_qa_workflow(generated: tuple[Any, ModuleType]) -> None:
    server, package = generated
    with package.Client(base_url=server.base, raise_on_unexpected_status=True) as anonymous:
        token = _sign_in(anonymous)
        with package.AuthenticatedClient(base_url=server.base, token=token, raise_on_unexpected_status=True) as client:
            _workflow(anonymous, client)


def _sign_in(anonymous: Any) -> str:
    models = importlib.import_module(f"{PACKAGE}.models")

    # The token: the form of the password grant, as the generated function sends it.
    wrong = _api("auth.issue_token").sync_detailed(client=anonymous, body=models.TokenForm(username=EMAIL, password="no"))
    assert wrong.status_code == 400 and isinstance(wrong.parsed, models.TokenError)
    assert wrong.parsed.error == models.TokenErrorError.INVALID_GRANT
    token = _api("auth.issue_token").sync(client=anonymous, body=models.TokenForm(username=EMAIL, password=PASSWORD))
    assert isinstance(token, models.Token), token
    return str(token.access_token)


def _workflow(anonymous: Any, client: Any) -> None:
    """Every call through a generated function; the models are the generated ones too."""
    models = importlib.import_module(f"{PACKAGE}.models")
    types = importlib.import_module(f"{PACKAGE}.types")
    me = _api("users.read_me").sync(client=client)
    assert isinstance(me, models.UserRead) and me.email == EMAIL

    # echo, submitted as JSON and polled to SUCCESS.
    params = models.JobCreateParams.from_dict({"message": "hello from a generated client"})
    echo = _api("jobs.submit_job").sync(client=client, body=models.JobCreate(plugin="echo", params=params))
    assert isinstance(echo, models.JobRead), echo
    done = _poll(client, echo.id)
    assert done.status == models.JobStatus.SUCCESS, done.error
    assert done.result == {"message": "hello from a generated client"}

    # textstats (the default plugin) on two uploaded files, in one multipart request.
    body = models.UploadJobBody(
        content_key=types.File(payload=io.BytesIO(CONTENT), file_name="content.txt", mime_type="text/plain"),
        context_key=types.File(payload=io.BytesIO(CONTEXT), file_name="context.txt", mime_type="text/plain"),
        params='{"top": 5}',
    )
    uploaded = _api("jobs.upload_job").sync(client=client, body=body)
    assert isinstance(uploaded, models.JobRead), uploaded
    assert uploaded.plugin == "textstats" and set(uploaded.inputs.to_dict()) == {"content", "context"}
    stats = _poll(client, uploaded.id)
    assert stats.status == models.JobStatus.SUCCESS, stats.error
    result = next(a for a in stats.artifacts if a.filename == "result.json")

    # The result.json output: a download ticket, then the bytes from the signed storage URL.
    ticket = _api("artifacts.download_artifact").sync(artifact_id=result.id, client=client)
    assert isinstance(ticket, models.DownloadTicket), ticket
    storage_token = urlsplit(ticket.url).path.rsplit("/", 1)[-1]
    file = _api("storage.storage_object_get").sync(token=storage_token, client=anonymous)
    assert isinstance(file, types.File), file
    summary = json.loads(file.payload.read())
    assert summary == stats.result
    assert summary["words"] == 12 and len(summary["top_terms"]) == 5
