"""The ``shell`` plugin through a real worker running real subprocesses (never a shell)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from helixnet import ConfigurationError, JobStatus, ValidationFailed
from helixnet.plugins.shell import parse_commands

PY = sys.executable
# A child that starts a grandchild, says both pids (atomically, through a rename), then waits.
FAMILY = (
    "import os, subprocess, sys, time\n"
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "open(sys.argv[1] + '.tmp', 'w').write('%d %d' % (os.getpid(), g.pid))\n"
    "os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
    "print('family up', flush=True)\n"
    "time.sleep(60)\n"
)
COMMANDS = {
    "sort": ["sort", "-o", "{output:sorted.txt}", "--", "{input:content}"],
    "wc": ["wc", "-l", "{input:content}"],
    "argv": [PY, "-c", "import sys; print(sys.argv[1:])", "{param:first}", "--second={param:second}", "{{x}}"],
    "fail": [
        PY,
        "-c",
        "import sys; print('warming up', file=sys.stderr); print('disk full', file=sys.stderr); sys.exit(3)",
    ],
    "lazy": [PY, "-c", "pass", "{output:never.txt}"],
    "family": [PY, "-c", FAMILY, "{param:pidfile}"],
}


@pytest.fixture
def shell(make_hx: Any) -> Any:
    hx = make_hx(shell_commands=COMMANDS, shell_timeout_seconds=1.0)
    return hx, hx.users.create(email="sh@example.org", password="correct horse battery")


def _run(hx: Any, user: Any, command: str, *, wait: bool = True, inputs: Any = None, **args: str) -> Any:
    job = hx.jobs.submit(user, "shell", params={"command": command, "args": args}, inputs=inputs or {})
    return hx.jobs.wait(job.id, timeout=30) if wait else job


def _log(hx: Any, job: Any, level: str | None = None) -> list[str]:
    return [e.message for e in hx.jobs.events(job.id) if e.source == "plugin" and level in (None, e.level)]


def test_input_to_declared_output_and_stdout_to_the_log(shell: Any) -> None:
    hx, user = shell
    content = hx.artifacts.create(user, filename="names.txt", data=b"carol\nalice\nbob\n")
    job = _run(hx, user, "sort", inputs={"content": content.id})
    assert job.status == JobStatus.SUCCESS, job.error
    assert job.result["command"] == "sort" and job.result["exit_code"] == 0
    assert job.result["outputs"] == ["sorted.txt"] and 0 < job.result["duration_seconds"] < 10
    (artifact,) = job.artifacts
    assert artifact.filename == "sorted.txt" and artifact.content_type == "text/plain"
    assert hx.artifacts.read_bytes(artifact.id) == b"alice\nbob\ncarol\n"
    counted = _run(hx, user, "wc", inputs={"content": content.id})
    assert counted.status == JobStatus.SUCCESS and counted.artifacts == []
    (line,) = [m for m in _log(hx, counted, "INFO") if m.endswith("names.txt")]
    assert line.split()[0] == "3"  # wc -l's own output, read as it came


def test_args_are_single_argv_items_never_a_shell(shell: Any) -> None:
    hx, user = shell
    evil = "; rm -rf / && echo $HOME `id` | cat > /tmp/x"
    job = _run(hx, user, "argv", first=evil, second="a b")
    assert job.status == JobStatus.SUCCESS, job.error
    assert repr([evil, "--second=a b", "{x}"]) in _log(hx, job, "INFO")


def test_non_zero_exit_fails_with_the_status_and_last_stderr_line(shell: Any) -> None:
    hx, user = shell
    job = _run(hx, user, "fail")
    assert job.status == JobStatus.FAILURE
    assert job.error.endswith("command 'fail' exited with status 3: disk full")
    assert _log(hx, job, "WARNING") == ["warming up", "disk full"]


def test_a_declared_output_not_written_fails(shell: Any) -> None:
    hx, user = shell
    job = _run(hx, user, "lazy")
    assert job.status == JobStatus.FAILURE and "did not write its declared output 'never.txt'" in job.error


def _family(hx: Any, user: Any, pidfile: Path, **submit: Any) -> tuple[Any, list[int]]:
    job = _run(hx, user, "family", wait=False, pidfile=str(pidfile), **submit)
    deadline = time.monotonic() + 10
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    pids = [int(pid) for pid in pidfile.read_text().split()]
    assert all(psutil.pid_exists(pid) for pid in pids)
    return job, pids


def _gone(pids: list[int]) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                alive.append(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
            except psutil.NoSuchProcess:
                alive.append(False)
        if not any(alive):
            return True
        time.sleep(0.02)
    return False


def test_cancel_kills_the_child_and_its_grandchild(shell: Any, tmp_path: Path) -> None:
    hx, user = shell
    job, pids = _family(hx, user, tmp_path / "cancel.pids")
    hx.jobs.cancel(job.id)
    assert hx.jobs.wait(job.id, timeout=10).status == JobStatus.CANCELLED
    assert _gone(pids)


def test_timeout_kills_the_child_and_its_grandchild(shell: Any, tmp_path: Path) -> None:
    hx, user = shell
    job, pids = _family(hx, user, tmp_path / "timeout.pids")
    done = hx.jobs.wait(job.id, timeout=10)
    assert done.status == JobStatus.FAILURE
    assert "command 'family' timed out after 1 s (HELIXNET_SHELL_TIMEOUT_SECONDS)" in done.error
    assert _gone(pids) and "family up" in _log(hx, done, "INFO")


def test_refused_at_submit_naming_the_field(shell: Any) -> None:
    hx, user = shell
    with pytest.raises(ValidationFailed) as unknown:
        hx.jobs.submit(user, "shell", params={"command": "rm"})
    assert unknown.value.errors[0]["loc"] == ["params", "command"]
    with pytest.raises(ValidationFailed) as missing:
        hx.jobs.submit(user, "shell", params={"command": "argv", "args": {"first": "x"}})
    assert missing.value.errors[0]["loc"] == ["params", "args"] and "second" in missing.value.errors[0]["msg"]
    content = hx.artifacts.create(user, filename="t.txt", data=b"x")
    with pytest.raises(ValidationFailed) as bad_name:
        hx.jobs.submit(user, "shell", params={"command": "wc"}, inputs={"../etc": content.id})
    assert bad_name.value.errors[0]["loc"] == ["inputs", "../etc"]
    # Any well-formed input name is accepted at submit; the command says at run time which it needs.
    job = _run(hx, user, "wc", inputs={"other": content.id})
    assert job.status == JobStatus.FAILURE and "command 'wc' needs input(s): content" in job.error


def test_not_offered_when_unconfigured_and_the_schema_lists_the_commands(hx: Any, shell: Any) -> None:
    assert "shell" not in hx.plugins
    configured, _ = shell
    described = configured.plugins["shell"].describe()
    assert described["params_schema"]["properties"]["command"]["enum"] == sorted(COMMANDS)
    assert described["accepts_any_inputs"] is True and hx.plugins["echo"].describe()["accepts_any_inputs"] is False


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        ([], "non-empty list"),
        (["{param:prog}", "x"], "program (first item) must be fixed"),
        (["cat", "{input:content"], "lone '{'"),
        (["cat", "{env:HOME}"], "unknown placeholder"),
        (["cat", "{output:../escape.txt}"], "not a valid output name"),
        (["cat", "{input:a-b}"], "not a valid input name"),
    ],
)
def test_malformed_templates_stop_the_start(argv: list[str], reason: str) -> None:
    with pytest.raises(ConfigurationError, match=reason.replace("(", r"\(").replace(")", r"\)")) as caught:
        parse_commands({"bad": argv})
    assert caught.value.errors[0]["loc"][:2] == ["shell_commands", "bad"]


def test_other_plugins_still_refuse_undeclared_inputs(shell: Any) -> None:
    hx, user = shell
    content = hx.artifacts.create(user, filename="t.txt", data=b"x")
    with pytest.raises(ValidationFailed) as caught:
        hx.jobs.submit(user, "textstats", inputs={"content": content.id, "extra": content.id})
    assert caught.value.errors[0]["loc"] == ["inputs", "extra"]
