"""``helixnet.testing``: pytest fixtures to test compute plugins in-process, without a server.

Installed with HelixNet as a pytest plugin (entry point ``pytest11``), so a plugin's test suite
needs no conftest.py::

    def test_wordfreq(run_job, job_output):
        job = run_job("wordfreq", params={"limit": 2}, inputs={"text": "b a b"})
        assert job.status == "SUCCESS", job.error

Fixtures:

- ``hx``: a migrated ``HelixNet`` on ``tmp_path`` (SQLite database, ``memory://`` queue, artifact
  folder), with no worker thread; stopped at teardown. It ignores ``HELIXNET_*`` variables and
  ``.env`` (a test must not reach the developer's real database): set values through the
  ``helixnet_settings`` fixture instead.
- ``helixnet_settings``: a dict of ``Settings`` overrides for ``hx``; override it in a conftest.py.
- ``hx_user``: the user jobs are submitted as, created on first use.
- ``run_job(plugin, params=None, inputs=None, *, user=None, timeout=None)``: submits a job, runs it
  synchronously in the calling thread and returns the final ``JobRead``.
- ``job_output(job, filename=None) -> bytes``: an output artifact's bytes (the main one by default).

This module is imported by every pytest run of a project that has HelixNet installed: it imports
nothing of HelixNet (nor SQLAlchemy, huey, fsspec) until one of its fixtures is used.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from helixnet import ArtifactRead, ComputePlugin, HelixNet, JobRead, UserRead

#: The worker id jobs run by ``run_job`` are recorded under (``job.worker_id``).
WORKER_ID = "helixnet.testing"
#: Email and password of the ``hx_user`` fixture's user.
TEST_USER_EMAIL = "plugin-tests@example.org"
TEST_USER_PASSWORD = "helixnet plugin tests"

InputValue = Any  # artifact id | ArtifactRead | bytes | str | Path | (filename, bytes | str)


@pytest.fixture
def helixnet_settings() -> dict[str, Any]:
    """``Settings`` overrides for the ``hx`` fixture: override this fixture to change them."""
    return {}


@pytest.fixture
def hx(tmp_path: Path, helixnet_settings: Mapping[str, Any]) -> Iterator[HelixNet]:
    """A migrated HelixNet of this test alone, with no worker thread (``run_job`` runs jobs)."""
    from helixnet import HelixNet

    instance = HelixNet(_settings(tmp_path / "helixnet", helixnet_settings))
    try:
        instance.migrate()
        yield instance
    finally:
        instance.stop(timeout=0)


@pytest.fixture
def hx_user(hx: HelixNet) -> UserRead:
    """The user ``run_job`` submits as unless told otherwise."""
    return hx.users.create(email=TEST_USER_EMAIL, password=TEST_USER_PASSWORD, fullname="Plugin tests")


@pytest.fixture
def run_job(hx: HelixNet, request: pytest.FixtureRequest) -> JobRunnerForTests:
    """``run_job(plugin, params=None, inputs=None, *, user=None, timeout=None) -> JobRead``."""
    return JobRunnerForTests(hx, lambda: request.getfixturevalue("hx_user"))


@pytest.fixture
def job_output(hx: HelixNet) -> Callable[..., bytes]:
    """``job_output(job, filename=None) -> bytes``: an output's bytes; the main output by default."""

    def read(job: JobRead, filename: str | None = None) -> bytes:
        return hx.artifacts.read_bytes(output_artifact(job, filename).id)

    return read


class JobRunnerForTests:
    """Submits a job and runs it at once in the calling thread, as a worker would run it."""

    def __init__(self, hx: HelixNet, default_user: Callable[[], Any]) -> None:
        self.hx = hx
        self._default_user = default_user

    def __call__(
        self,
        plugin: str | ComputePlugin | type[ComputePlugin],
        params: Mapping[str, Any] | None = None,
        inputs: Mapping[str, InputValue] | None = None,
        *,
        user: Any = None,
        timeout: float | None = None,
    ) -> JobRead:
        """Run one job to its end and return it; ``timeout`` is the job's own timeout (seconds).

        ``plugin`` is an installed plugin's name, or a ``ComputePlugin`` class or instance that
        need not be installed: it is registered on this test's ``hx`` (in place of an installed
        plugin of the same name). ``inputs`` values are artifact ids (a UUID string) or
        ``ArtifactRead``s, or content stored as an artifact for you: ``bytes`` (filename = the input's
        name), any other ``str`` (UTF-8, ``<input>.txt``), a ``pathlib.Path`` (its bytes and name), or
        a ``(filename, bytes | str)`` pair. Submitting goes through the same validation as the API:
        bad params raise ``ValidationFailed`` here, naming the field.
        """
        name = self.register(plugin)
        owner = user if user is not None else self._default_user()
        artifact_ids = {key: self._artifact_id(owner, key, value) for key, value in (inputs or {}).items()}
        job = self.hx.jobs.submit(owner, name, params=params, inputs=artifact_ids, timeout=timeout)
        return self.run(job.id)

    def run(self, job_id: str) -> JobRead:
        """Run a submitted job here, retries included; a retry scheduled for later stays PENDING."""
        from helixnet import FINAL_STATUSES

        while True:
            status = self.hx.runner.execute(job_id, WORKER_ID)
            if status is None:  # not claimable: taken by a started hx's workers, paused, or scheduled later
                if self.hx.pool is not None:
                    return self.hx.jobs.wait(job_id, timeout=60)
                return self.hx.jobs.get(job_id)
            if status in FINAL_STATUSES:
                return self.hx.jobs.get(job_id)

    def register(self, plugin: str | ComputePlugin | type[ComputePlugin]) -> str:
        """The plugin's name, after registering a class or instance on ``hx`` when it is not there yet."""
        from helixnet import PluginError

        if isinstance(plugin, str):
            return plugin
        registry = self.hx.plugins
        name = getattr(plugin, "name", None)
        current = registry.get(name) if isinstance(name, str) else None
        if current is not None and (current is plugin or type(current) is plugin):
            return name  # type: ignore[return-value]  # already this plugin (installed, or registered earlier)
        instance = plugin() if isinstance(plugin, type) else plugin
        if not instance.configure(self.hx.settings):
            raise PluginError(
                f"plugin {name!r} declined configure(settings): give it what it needs first (helixnet_settings, environment)"
            )
        registry.add(instance, entry_point=f"{name} (registered by helixnet.testing)", replace=True)
        return instance.name

    def _artifact_id(self, owner: Any, key: str, value: InputValue) -> str:
        from helixnet.core.validation import is_uuid

        artifacts = self.hx.artifacts
        if isinstance(value, str) and is_uuid(value):
            return value
        if hasattr(value, "id") and hasattr(value, "object_name"):  # an ArtifactRead
            return str(value.id)
        if isinstance(value, Path):
            with value.open("rb") as handle:
                return artifacts.create(owner, filename=value.name, data=handle).id
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
            filename, data = value
            return artifacts.create(owner, filename=filename, data=_as_bytes(key, data)).id
        if isinstance(value, str):
            return artifacts.create(owner, filename=f"{key}.txt", data=value.encode("utf-8")).id
        return artifacts.create(owner, filename=key, data=_as_bytes(key, value)).id


def output_artifact(job: JobRead, filename: str | None = None) -> ArtifactRead:
    """One of ``job``'s output artifacts by filename; without one, the main output (``result_path``)."""
    outputs = list(job.artifacts)
    for artifact in outputs:
        if (artifact.object_name == job.result_path) if filename is None else (artifact.filename == filename):
            return artifact
    names = ", ".join(sorted(a.filename for a in outputs)) or "none"
    wanted = f"no output named {filename!r}" if filename else "no main output"
    raise LookupError(f"job {job.id} ({job.status}) has {wanted}; its outputs: {names}")


def _as_bytes(key: str, data: Any) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise TypeError(
        f"inputs[{key!r}]: expected an artifact id, an ArtifactRead, bytes, str, a pathlib.Path or a "
        f"(filename, bytes | str) pair, not {type(data).__name__}"
    )


def _settings(data_dir: Path, overrides: Mapping[str, Any]) -> Any:
    """Settings from the code alone: no HELIXNET_* variable or .env of the machine can leak in."""
    from helixnet import Settings

    values: dict[str, Any] = {
        "data_dir": data_dir,
        "queue_url": "memory://",
        "queue_name": f"test-{uuid.uuid4().hex[:8]}",
        "bcrypt_rounds": 4,
        "workers": 0,
        "job_retry_backoff_seconds": 0,  # a retry runs at once inside run_job
        **overrides,
    }
    with pytest.MonkeyPatch.context() as patch:
        for variable in list(os.environ):
            if variable.upper().startswith("HELIXNET_"):
                patch.delenv(variable)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]


__all__ = [
    "TEST_USER_EMAIL",
    "TEST_USER_PASSWORD",
    "WORKER_ID",
    "JobRunnerForTests",
    "helixnet_settings",
    "hx",
    "hx_user",
    "job_output",
    "output_artifact",
    "run_job",
]
