"""Every client operation, written once as a flow of steps (see ``_protocol.py``).

``Client`` runs these with blocking I/O, ``AsyncClient`` with async I/O; neither holds any logic
of its own. The names and parameters follow the embedded services (``hx.jobs.submit``,
``hx.jobs.wait``...), so code moves between ``HelixNet`` and a client with few changes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from helixnet.client._files import DownloadTarget, Sink, Source, UploadSource
from helixnet.client._protocol import Call, Fetch, Flow, Notify, Put, Sleep, object_id
from helixnet.core.models import FINAL_STATUSES
from helixnet.core.schemas import ArtifactRead, JobEventRead, JobPage, JobRead, UserRead
from helixnet.errors import HelixNetError, ValidationFailed, WaitTimeout

#: First pause between two polls of ``wait``; it grows by half each time, up to ``WAIT_MAX_DELAY``.
WAIT_FIRST_DELAY = 0.05
WAIT_MAX_DELAY = 1.0
#: Events fetched at once (the API's most is 5000).
EVENTS_PAGE = 1000
#: Jobs a page when iterating ``jobs()`` (the API's most is 500).
JOBS_PAGE = 100


def _job(job_id: Any, tail: str = "") -> str:
    return f"/jobs/{object_id(job_id, 'job')}{tail}"


def _artifact(artifact_id: Any, tail: str = "") -> str:
    return f"/artifacts/{object_id(artifact_id, 'artifact')}{tail}"


def login(email: str, password: str) -> Flow[str]:
    """OAuth2 password grant (a form), as ``POST /auth/token`` documents it."""
    body = yield Call("POST", "/auth/token", form={"grant_type": "password", "username": email, "password": password},
                      auth=False)  # fmt: skip
    return str(body["access_token"])


def me() -> Flow[UserRead]:
    return UserRead.model_validate((yield Call("GET", "/users/me")))


def plugins() -> Flow[list[dict[str, Any]]]:
    """Each plugin's name, title, description, params JSON Schema, inputs, package and version."""
    return list((yield Call("GET", "/plugins")))


def job(job_id: Any) -> Flow[JobRead]:
    return JobRead.model_validate((yield Call("GET", _job(job_id))))


def jobs_page(status: Any = None, plugin: str | None = None, q: str | None = None, cursor: str | None = None,
              limit: int = JOBS_PAGE) -> Flow[JobPage]:  # fmt: skip
    """One page of ``GET /jobs`` (keyset: ``next_cursor`` asks for the next)."""
    params = {"status": getattr(status, "value", status), "plugin": plugin, "q": q, "cursor": cursor, "limit": limit}
    return JobPage.model_validate((yield Call("GET", "/jobs", params=params)))


def events(job_id: Any) -> Flow[list[JobEventRead]]:
    """All the job's log lines, in order, however many pages they take."""
    found: list[JobEventRead] = []
    after = 0
    while True:
        params = {"after": after, "limit": EVENTS_PAGE}
        body = yield Call("GET", _job(job_id, "/events"), params=params)
        page = [JobEventRead.model_validate(e) for e in body]
        found.extend(page)
        if len(page) < EVENTS_PAGE:
            return found
        after = page[-1].id


def cancel(job_id: Any) -> Flow[JobRead]:
    return JobRead.model_validate((yield Call("POST", _job(job_id, "/cancel"))))


def retry(job_id: Any, idempotency_key: str | None = None, rearm_children: bool = False) -> Flow[JobRead]:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    body = {"rearm_children": True} if rearm_children else None  # workflows: children cancelled by it wait again
    return JobRead.model_validate((yield Call("POST", _job(job_id, "/retry"), json=body, headers=headers)))


def artifact(artifact_id: Any) -> Flow[ArtifactRead]:
    return ArtifactRead.model_validate((yield Call("GET", _artifact(artifact_id))))


def submit(
    plugin: str,
    params: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    files: Mapping[str, UploadSource] | None = None,
    priority: int | None = None,
    idempotency_key: str | None = None,
    max_retries: int | None = None,
    timeout: float | None = None,
    after: Sequence[Any] | None = None,
    allow_failed_parents: bool = False,
) -> Flow[JobRead]:
    """Upload ``files`` (each becomes the input of its name), then submit the job with them.

    An input may be a parent's output, ``{"job": id, "output": "result.json"}``; ``after`` lists jobs
    (or their ids) this one waits for (docs/workflows.md).
    """
    all_inputs: dict[str, Any] = {
        name: {"job": str(getattr(value["job"], "id", value["job"])), "output": value.get("output")}
        if isinstance(value, Mapping) else str(getattr(value, "id", value))
        for name, value in (inputs or {}).items()
    }  # fmt: skip
    for name in files or {}:
        if name in all_inputs:
            raise ValidationFailed.field(["files", name], "also given in inputs; name each input once")
    for name, source in (files or {}).items():
        uploaded = yield from upload(source, loc=f"files.{name}")
        all_inputs[name] = uploaded.id
    body: dict[str, Any] = {"plugin": plugin, "params": dict(params or {}), "inputs": all_inputs}
    for key, value in (("priority", priority), ("max_retries", max_retries), ("timeout", timeout)):
        if value is not None:
            body[key] = value
    if after is not None:
        body["after"] = [str(getattr(job, "id", job)) for job in after]
    if allow_failed_parents:
        body["allow_failed_parents"] = True
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return JobRead.model_validate((yield Call("POST", "/jobs", json=body, headers=headers)))


def wait(
    job_id: Any,
    timeout: float | None = None,
    on_progress: Callable[[JobRead], Any] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Flow[JobRead]:
    """Poll until the job is final, with a growing pause (the API has no long poll).

    ``on_progress(job)`` is called with the first state seen and again whenever the status,
    progress or message changes. ``WaitTimeout`` after ``timeout`` seconds (None: never).
    """
    deadline = None if timeout is None else clock() + timeout
    delay = WAIT_FIRST_DELAY
    seen: tuple[Any, ...] | None = None
    while True:
        current = yield from job(job_id)
        state = (current.status, current.progress, current.message)
        if on_progress is not None and state != seen:
            yield Notify(on_progress, current)
        seen = state
        if current.status in FINAL_STATUSES:
            return current
        if deadline is not None and clock() >= deadline:
            raise WaitTimeout(f"job {current.id} is still {current.status.value} after {timeout:g} s")
        pause = delay if deadline is None else min(delay, max(0.0, deadline - clock()))
        yield Sleep(pause)
        delay = min(delay * 1.5, WAIT_MAX_DELAY)


def upload(data: UploadSource, filename: str | None = None, content_type: str | None = None, *,
           loc: str = "file") -> Flow[ArtifactRead]:  # fmt: skip
    """Announce, PUT the bytes to the signed URL, complete; a failed upload's artifact is deleted."""
    with Source(data, filename, content_type, loc=loc) as source:
        announce: dict[str, Any] = {"filename": source.filename, "size": source.size, "sha256": source.sha256}
        if source.content_type:
            announce["content_type"] = source.content_type
        ticket = yield Call("POST", "/artifacts/upload", json=announce)
        artifact_id = ticket["artifact"]["id"]
        try:
            yield Put(ticket["upload_url"], dict(ticket.get("headers") or {}), source)
            done = yield Call("POST", _artifact(artifact_id, "/complete"))
        except HelixNetError:
            with contextlib.suppress(HelixNetError):  # leave no PENDING artifact; report the first error
                yield Call("DELETE", _artifact(artifact_id))
            raise
    return ArtifactRead.model_validate(done)


def download(artifact_id: Any, dest: DownloadTarget) -> Flow[Any]:
    """Stream the artifact's bytes to ``dest``, checked against its size and sha256.

    Returns the path written (a folder gets the artifact's filename in it), or the number of
    bytes when ``dest`` is a file object.
    """
    found = yield from artifact(artifact_id)
    ticket = yield Call("GET", _artifact(found.id, "/download"))
    sink = Sink(dest, found.filename, found.id)
    try:
        yield Fetch(ticket["url"], sink)
        return sink.finish(found.size, found.sha256)
    finally:
        sink.discard()


__all__ = [
    "artifact", "cancel", "download", "events", "job", "jobs_page", "login", "me", "plugins", "retry",
    "submit", "upload", "wait",
]  # fmt: skip
