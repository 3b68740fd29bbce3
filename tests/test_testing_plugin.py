"""helixnet.testing as a plugin author meets it: a pytest run of their own, through the pytest11 entry point.

The author's suites run under ``pytester`` in a folder of their own, so this project's conftest.py
(which has an ``hx`` fixture of its own) is not in the way: what passes there is what an author gets.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pytest

pytest_plugins = ["pytester"]

# pytest-asyncio (installed here) warns when this option is unset; the warning is not the subject.
INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"

AUTHOR_SUITE = '''
import pathlib

import pytest
from pydantic import BaseModel, Field

from helixnet import ComputePlugin, InputSpec, JobContext, ValidationFailed


class ShoutParams(BaseModel):
    times: int = Field(default=1, ge=1, le=3)


class Shout(ComputePlugin):
    """Not installed anywhere: run_job registers it on this test's hx."""

    name = "shout"
    Params = ShoutParams
    inputs = (InputSpec(name="text"),)

    def run(self, ctx: JobContext, params: ShoutParams) -> dict:
        loud = ctx.inputs["text"].read_text().upper() * params.times
        ctx.log.info("shouting")
        ctx.outputs.write_text("loud.txt", loud, main=True)
        ctx.outputs.write_text("note.txt", "extra")
        return {"length": len(loud), "filename": ctx.inputs["text"].filename}


class Broken(ComputePlugin):
    name = "broken"

    def run(self, ctx, params):
        raise ValueError("no luck")


class NotJson(ComputePlugin):
    name = "notjson"

    def run(self, ctx, params):
        return {"when": object()}


class Patient(ComputePlugin):
    name = "patient"

    def run(self, ctx, params):
        while not ctx.wait(0.05):
            pass
        return {"stopped": True}


def test_a_class_runs_without_being_installed(run_job, job_output, hx):
    job = run_job(Shout, params={"times": 2}, inputs={"text": "hey "})
    assert job.status == "SUCCESS", job.error
    assert job.result == {"length": 8, "filename": "text.txt"}
    assert job_output(job) == b"HEY HEY "
    assert job_output(job, "note.txt") == b"extra"
    with pytest.raises(LookupError, match="loud.txt, note.txt"):
        job_output(job, "missing.txt")
    assert [e.message for e in hx.jobs.events(job.id) if e.source == "plugin"] == ["shouting"]
    assert job.worker_id == "helixnet.testing"


def test_every_kind_of_input(run_job, hx, hx_user, tmp_path):
    stored = hx.artifacts.create(hx_user, filename="stored.txt", data=b"x")
    path = tmp_path / "on-disk.txt"
    path.write_bytes(b"y")
    for value, filename in [(b"raw", "text"), ("str", "text.txt"), (path, "on-disk.txt"),
                            (("named.md", "# md"), "named.md"), (stored.id, "stored.txt"), (stored, "stored.txt")]:
        assert run_job(Shout, inputs={"text": value}).result["filename"] == filename


def test_an_installed_plugin_by_name(run_job, job_output):
    job = run_job("textstats", params={"top": 1}, inputs={"content": b"b a b", "context": "b"})
    assert job.status == "SUCCESS", job.error
    assert job.result["top_terms"][0]["term"] == "b"
    assert job.result["shared_terms"]


def test_an_exception_fails_the_job_with_its_traceback_in_the_log(run_job, hx):
    job = run_job(Broken)
    assert (job.status, job.error) == ("FAILURE", "ValueError: no luck")
    assert any("Traceback" in e.message for e in hx.jobs.events(job.id))


def test_a_result_that_is_not_json_fails_the_job(run_job):
    job = run_job(NotJson)
    assert job.status == "FAILURE"
    assert "result is not JSON-serialisable" in job.error


def test_bad_params_are_refused_at_submit(run_job):
    with pytest.raises(ValidationFailed) as caught:
        run_job(Shout, params={"times": 9}, inputs={"text": "x"})
    assert caught.value.errors[0]["loc"][-1] == "times"


def test_timeout_is_the_jobs_own(run_job):
    job = run_job(Patient, timeout=0.2)
    assert (job.status, job.error) == ("FAILURE", "timed out after 0.2 s")


def test_a_user_of_ones_own(run_job, hx):
    other = hx.users.create(email="grace@example.org", password="a long enough password")
    assert run_job(Shout, inputs={"text": "x"}, user=other).owner_id == other.id


def test_no_artifacts_from_other_tests(hx, hx_user, run_job):
    # Every test above stored inputs: none of them is here.
    assert hx.artifacts.list(hx_user) == []
    assert str(hx.settings.data_dir).startswith(str(pathlib.Path.cwd().parent))
'''


@pytest.fixture
def author(hx: object, pytester: pytest.Pytester) -> pytest.Pytester:
    """A plugin author's project folder.

    ``hx`` (this suite's) is built before ``pytester`` takes its snapshot of ``sys.modules``: modules
    first imported after it are dropped at its teardown, and the next test would load a second copy
    of a module and meet two copies of a class (``Storage`` is not ``Storage``).
    """
    pytester.makeini(INI)
    return pytester


def test_the_entry_point_names_this_module():
    (entry,) = [ep for ep in entry_points(group="pytest11") if ep.name == "helixnet"]
    assert entry.value == "helixnet.testing"


def test_a_plugin_authors_suite(author: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own settings must not reach the fixture: this database does not exist.
    monkeypatch.setenv("HELIXNET_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    author.makepyfile(test_author=AUTHOR_SUITE)
    result = author.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=9)


def test_settings_and_retries(author: pytest.Pytester) -> None:
    author.makeconftest("""
        import pytest

        @pytest.fixture
        def helixnet_settings():
            return {"job_max_retries": 1}
    """)
    author.makepyfile(
        test_retry=textwrap.dedent("""
        from helixnet import ComputePlugin

        class Flaky(ComputePlugin):
            name = "flaky"

            def run(self, ctx, params):
                if ctx.attempt == 1:
                    raise RuntimeError("first attempt fails")
                return {"attempt": ctx.attempt}

        def test_a_retry_runs_at_once(run_job):
            job = run_job(Flaky)
            assert (job.status, job.attempts, job.result) == ("SUCCESS", 2, {"attempt": 2})
        """)
    )
    author.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_loading_the_plugin_imports_nothing_heavy(author: pytest.Pytester) -> None:
    """Every pytest run of a project with HelixNet installed loads it: it must cost nothing there."""
    author.makepyfile(
        test_other="""
        import sys

        def test_unrelated():
            assert "helixnet.testing" in sys.modules
            heavy = {"sqlalchemy", "huey", "fsspec", "helixnet.core", "pydantic_settings"} & set(sys.modules)
            assert not heavy
        """
    )
    result = author.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:anyio")
    result.assert_outcomes(passed=1)


def test_import_helixnet_is_light() -> None:
    code = "import sys, helixnet; assert 'sqlalchemy' not in sys.modules; print(helixnet.JobStatus.SUCCESS.value)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "SUCCESS"


def test_run_job_with_this_projects_started_hx(hx, run_job) -> None:
    """Here conftest.py's ``hx`` (started, with worker threads) wins over the plugin's: run_job still works."""
    assert hx.pool is not None
    job = run_job("echo", params={"message": "hi"})
    assert job.status == "SUCCESS", job.error
