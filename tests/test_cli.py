"""The command line, through its entry function (click's runner idea, with argparse)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from helixnet.cli import main


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("HELIXNET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HELIXNET_BCRYPT_ROUNDS", "4")
    return tmp_path


def run(monkeypatch, capsys, *argv, stdin=""):
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_db_upgrade(env, monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "db", "upgrade")
    assert code == 0 and "revision 0006" in out


def test_users_create_list(env, monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "users", "create", "ada@example.org", "--admin", "--password-stdin",
                       stdin="correct horse battery\n")  # fmt: skip
    assert code == 0 and "created admin ada@example.org" in out
    code, out, err = run(monkeypatch, capsys, "users", "create", "ADA@example.org", "--password-stdin",
                         stdin="another password\n")  # fmt: skip
    assert code == 1 and "already exists" in err and "Traceback" not in err
    code, out, err = run(monkeypatch, capsys, "users", "create", "bob@example.org", "--password-stdin", stdin="x" * 80)
    assert code == 1 and "72 bytes" in err
    code, out, _ = run(monkeypatch, capsys, "users", "list")
    assert "ada@example.org" in out and "admin" in out


def test_users_create_without_terminal_needs_stdin_flag(env, monkeypatch, capsys):
    code, _, err = run(monkeypatch, capsys, "users", "create", "ada@example.org")
    assert code == 2 and "--password-stdin" in err


def test_users_seed_is_idempotent(env, monkeypatch, capsys):
    seed = env / "seed.json"
    seed.write_text(json.dumps([
        {"email": "ada@example.org", "password": "correct horse battery", "is_admin": True},
        {"email": "bob@example.org", "password": "another good one", "fullname": "Bob"},
    ]))  # fmt: skip
    code, out, _ = run(monkeypatch, capsys, "users", "seed", str(seed))
    assert code == 0 and out.splitlines() == ["ada@example.org: created", "bob@example.org: created"]
    code, out, _ = run(monkeypatch, capsys, "users", "seed", str(seed))
    assert code == 0 and out.splitlines() == ["ada@example.org: already exists", "bob@example.org: already exists"]
    seed.write_text("{not json")
    code, _, err = run(monkeypatch, capsys, "users", "seed", str(seed))
    assert code == 1 and "cannot read" in err


def test_plugins_lists_what_loaded(env, monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "plugins", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 0 and rows["echo"]["package"] == "helixnet"


def test_bad_setting_is_a_clear_error(env, monkeypatch, capsys):
    monkeypatch.setenv("HELIXNET_WORKERS", "many")
    code, _, err = run(monkeypatch, capsys, "plugins")
    assert code == 1 and "HELIXNET_WORKERS" in err


def test_help_everywhere():
    for argv in ([], ["worker"], ["serve"], ["users"], ["users", "seed"], ["db", "upgrade"]):
        done = subprocess.run([sys.executable, "-m", "helixnet", *argv, "--help"], capture_output=True, text=True)
        assert done.returncode == 0 and "usage: helixnet" in done.stdout


@pytest.mark.parametrize(("argv", "error"), [(["--processes", "0"], "--processes: must be 1 or more"),
                                             (["--grace", "-1"], "--grace: must be 0 or more seconds"),
                                             (["--grace", "soon"], "--grace: 'soon' is not a number of seconds")])  # fmt: skip
def test_worker_options_are_checked(argv, error, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["worker", *argv])
    assert exited.value.code == 2 and error in capsys.readouterr().err


def test_worker_grace_comes_from_the_setting_unless_given(env):
    """A real worker process, stopped by SIGTERM once it says which grace period it uses."""
    import os
    import signal
    import time

    for extra, expected in (([], "grace 7.5 s"), (["--grace", "2"], "grace 2 s")):
        log = env / "worker.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "helixnet", "worker", "-c", "0", *extra], stdout=out,
                                    stderr=subprocess.STDOUT, env={**os.environ, "HELIXNET_WORKER_GRACE_SECONDS": "7.5"})  # fmt: skip
            deadline = time.monotonic() + 60
            while "helixnet worker" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        assert expected in log.read_text()


def test_supervisor_metrics_port_needs_the_token_too(env, monkeypatch, capsys):
    code, _, err = run(monkeypatch, capsys, "worker", "--processes", "2", "--metrics-port", "9101")
    assert code == 2 and "--metrics-port needs HELIXNET_METRICS_TOKEN" in err
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ  # refused before the multiprocess mode was set up


def test_schedules_commands(env, monkeypatch, capsys):
    run(monkeypatch, capsys, "users", "create", "ada@example.org", "--password-stdin", stdin="correct horse battery\n")
    code, out, err = run(monkeypatch, capsys, "schedules", "create", "echo", "--owner", "ada@example.org",
                         "--cron", "30 2 * * *", "--timezone", "Europe/Berlin", "--params", '{"message": "hi"}')  # fmt: skip
    assert code == 0, err
    schedule_id = out.split()[2].rstrip(";")
    code, out, _ = run(monkeypatch, capsys, "schedules", "list")
    assert schedule_id in out and "30 2 * * *" in out and "Europe/Berlin" in out and "enabled" in out
    code, out, _ = run(monkeypatch, capsys, "schedules", "disable", schedule_id)
    assert code == 0 and "disabled" in out
    code, out, _ = run(monkeypatch, capsys, "schedules", "show", schedule_id)
    assert json.loads(out)["enabled"] is False and json.loads(out)["next_fire_at"] is None
    code, out, _ = run(monkeypatch, capsys, "schedules", "enable", schedule_id)
    assert code == 0 and "enabled" in out
    code, out, _ = run(monkeypatch, capsys, "schedules", "run", schedule_id)
    assert code == 0 and "fired: job" in out and "PENDING" in out
    code, _, err = run(monkeypatch, capsys, "schedules", "create", "echo", "--owner", "ada@example.org",
                       "--cron", "0 * * * *", "--timezone", "Mars/Olympus")  # fmt: skip
    assert code == 1 and "timezone" in err and "Traceback" not in err
    code, out, _ = run(monkeypatch, capsys, "schedules", "delete", schedule_id)
    assert code == 0
    code, _, err = run(monkeypatch, capsys, "schedules", "show", schedule_id)
    assert code == 1 and "not found" in err
