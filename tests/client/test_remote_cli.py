"""`helixnet remote` as a real subprocess against a real server, in a home and config folder of its own."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helixnet.cli import main
from helixnet.client import Client
from helixnet.remote.auth import config_dir, remember, resolve
from helixnet.remote.output import ProgressBar

from .conftest import Login

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def remote(server: Any, tmp_path: Path) -> Run:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HELIXNET_")}
    env.update(HELIXNET_URL=server.base, HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "config"))

    def run(*args: str, stdin: str | None = None, **extra_env: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "helixnet", "remote", *args], input=stdin, text=True,
                              capture_output=True, env={**env, **extra_env}, cwd=tmp_path, timeout=60)  # fmt: skip
        assert "Traceback" not in done.stderr, done.stderr
        return done

    return run


def test_login_submit_list_get_cancel_download_logout(remote: Run, server: Any, login: Login, tmp_path: Path) -> None:
    signed_in = remote("login", "--email", login.email, "--password-stdin", stdin=login.password + "\n")
    assert signed_in.returncode == 0, signed_in.stderr
    saved = tmp_path / "config" / "helixnet" / "credentials.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    record = json.loads(saved.read_text())
    assert (
        record["url"] == server.base
        and record["email"] == login.email
        and record["token"]
        and record["token"] not in signed_in.stdout
    )

    book = tmp_path / "book.txt"
    book.write_text("one two two three three three\n", encoding="utf-8")
    submitted = remote("submit", "textstats", "-p", "top=2", "-p", "case_sensitive=false", "-i", f"content={book}",
                       "--wait", "--json")  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stderr == ""  # not a terminal: no progress bar
    job = json.loads(submitted.stdout)
    assert job["status"] == "SUCCESS" and job["result"]["top_terms"][0] == {"term": "three", "count": 3}
    assert job["params"]["top"] == 2 and job["params"]["case_sensitive"] is False  # -p values read as JSON

    listed = remote("jobs", "--plugin", "textstats")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "PLUGIN", "PROGRESS", "CREATED", "MESSAGE"]
    assert row.startswith(f"{job['id']}  SUCCESS  textstats") and header.index("STATUS") == row.index("SUCCESS")

    shown = remote("get", job["id"])
    assert shown.returncode == 0 and "status    SUCCESS (100%)" in shown.stdout and '"term": "three"' in shown.stdout

    with Client(server.base, login.token) as client:  # in process: one subprocess fewer
        slow = client.submit("sleep", {"seconds": 30}).model_dump(mode="json")
    cancelled = remote("cancel", slow["id"])
    assert cancelled.returncode == 0 and cancelled.stdout.startswith(f"job {slow['id']}: ")

    [result] = job["artifacts"]
    target = tmp_path / "result.json"
    fetched = remote("download", result["id"], "-o", str(target))
    assert fetched.returncode == 0, fetched.stderr
    assert json.loads(target.read_text())["words"] == 6 and str(target) in fetched.stdout

    signed_out = remote("logout")
    assert signed_out.returncode == 0 and not saved.exists() and str(saved) in signed_out.stdout


def test_a_bad_token_is_one_line_and_exit_1(remote: Run) -> None:
    bad_token = remote("jobs", HELIXNET_TOKEN="not-a-token")
    assert bad_token.returncode == 1 and bad_token.stdout == ""
    assert bad_token.stderr.splitlines() == ["helixnet remote: error: invalid token"]


def test_other_failures_are_one_line_too(
    server: Any, login: Login, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In process (main() as the console script calls it): the same code paths, no interpreter start each."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HELIXNET_URL", server.base)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["remote", *argv])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    code, _, err = run("jobs")
    assert (
        code == 1
        and err
        == f"helixnet remote: error: not signed in to {server.base}: run `helixnet remote login` or set HELIXNET_TOKEN\n"
    )
    monkeypatch.setenv("HELIXNET_TOKEN", login.token)
    code, _, err = run("submit", "echo", "-p", "nope=1")
    assert code == 1 and err.count("\n") == 1 and err.startswith("helixnet remote: error: ") and "params.nope" in err
    code, _, err = run("submit", "echo", "-p", "no-equals-sign")
    assert code == 2 and err == "helixnet remote: error: -p expects name=value, not 'no-equals-sign'\n"
    code, _, err = run("submit", "textstats", "-i", f"content={tmp_path / 'missing.txt'}")
    assert code == 2 and "no such file" in err
    code, out, err = run("submit", "echo", "-p", "fail=true", "--wait")
    assert code == 1 and "ended FAILURE" in err and "status    FAILURE" in out
    code, _, err = run("get", "12")
    assert code == 1 and err == "helixnet remote: error: job 12 not found\n"
    monkeypatch.setenv("HELIXNET_URL", "http://127.0.0.1:9")
    code, _, err = run("plugins", "--json")
    assert code == 1 and err.startswith("helixnet remote: error: cannot reach http://127.0.0.1:9/api/v1/plugins")
    monkeypatch.setenv("HELIXNET_URL", "127.0.0.1:9")
    assert run("plugins") == (2, "", "helixnet remote: error: HELIXNET_URL must be an http:// or https:// URL, "
                                     "not '127.0.0.1:9'\n")  # fmt: skip


def test_the_progress_bar_draws_only_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    job = type("Job", (), {"progress": 0.5, "message": "half", "status": type("S", (), {"value": "RUNNING"})()})()
    quiet, terminal = io.StringIO(), Terminal()
    for stream in (quiet, terminal):
        bar = ProgressBar(stream)
        bar.update(job)
        bar.close()
    assert quiet.getvalue() == ""
    assert terminal.getvalue().startswith("\r[" + "#" * 12 + "-" * 12 + "]  50% RUNNING half")
    assert terminal.getvalue().endswith("\n")


def test_the_login_is_saved_0600_under_xdg_or_home_and_sent_only_to_its_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")  # the XDG spec: only an absolute path counts
    assert config_dir() == tmp_path / "home" / ".config" / "helixnet"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(os, "umask", os.umask)  # restored whatever happens below
    previous = os.umask(0)  # even with no umask at all, the file is created 0600
    try:
        path = remember("http://127.0.0.1:8000/api/v1/", "secret-token", "ada@example.org")
    finally:
        os.umask(previous)
    assert path == tmp_path / "xdg" / "helixnet" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and [p.name for p in path.parent.iterdir()] == [path.name]
    assert resolve().token == "secret-token" and resolve().url == "http://127.0.0.1:8000"
    assert resolve("http://127.0.0.1:8000/").token == "secret-token"
    assert resolve("http://other.example:8000").token is None  # never sent to another server
    monkeypatch.setenv("HELIXNET_TOKEN", "from-env")
    assert resolve("http://other.example:8000").token == "from-env"
