"""A built wheel, installed into a fresh venv, runs on its own: migrations and package data ship in it.

An editable install reads files straight from the source tree, so it cannot see package data that the
wheel forgets; this test meets HelixNet the way ``pip install .`` users do (issue 7).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


pytestmark = pytest.mark.slow
# Leftovers of a developer's own builds and runs must not reach the wheel (setuptools reuses build/).
IGNORED = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__",
                                 ".tox", ".mypy_cache", ".ruff_cache", ".pytest_cache", "helixnet-data")  # fmt: skip


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source") / "helixnet"
    shutil.copytree(ROOT, source, ignore=IGNORED)
    out = tmp_path_factory.mktemp("wheelhouse")
    # No build isolation: setuptools and wheel come with the test extra, so no index is needed to build.
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        cwd=source)  # fmt: skip
    (built,) = out.glob("helixnet-*.whl")
    return built


def test_wheel_holds_the_migrations_and_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(ROOT)) for p in (ROOT / "helixnet" / "core" / "migrations").rglob("*")
                if p.is_file() and p.suffix in (".py", ".mako")}  # fmt: skip
    assert expected and expected <= names, sorted(expected - names)
    assert "helixnet/py.typed" in names
    # helixnet.testing reaches plugin authors' pytest runs through this entry point.
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "[pytest11]\nhelixnet = helixnet.testing" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not any("/tests/" in n or n.startswith("tests/") for n in names)


def test_wheel_in_a_fresh_venv_upgrades_the_db_and_serves(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)], cwd=tmp_path)

    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELIXNET_", "PYTHON"))}
    env |= {"HELIXNET_DATA_DIR": str(empty / "data"), "HELIXNET_BCRYPT_ROUNDS": "4"}
    helixnet = str(env_dir / "bin" / "helixnet")

    assert "serve" in run([helixnet, "--help"], cwd=empty, env=env)
    assert "revision 0006" in run([helixnet, "db", "upgrade"], cwd=empty, env=env)
    # The installed package, not the checkout, answered.
    where = run([str(python), "-c", "import helixnet; print(helixnet.__file__)"], cwd=empty, env=env)
    assert str(env_dir) in where

    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([helixnet, "serve", "--port", str(port)], cwd=empty, env=env, stdout=log,
                            stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        docs = httpx.get(f"http://127.0.0.1:{port}/api/v1/docs/static/swagger-ui-bundle.js", timeout=5)
        assert docs.status_code == 200 and len(docs.content) > 1000
        login = httpx.get(f"http://127.0.0.1:{port}/login", timeout=10)  # the bundled UI, from the wheel
        assert login.status_code == 200 and "_nicegui" in login.text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == 0, (tmp_path / "serve.log").read_text()
