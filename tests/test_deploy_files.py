"""The Dockerfile and the compose stack, checked as far as a machine without a Docker engine can.

No Docker engine runs here or in CI, so nothing is built; what can rot without one is checked
instead: every HELIXNET_* variable the stack sets is a real setting and together they make a valid
production configuration, every command is one the CLI knows, and the image installs the project
from its own wheel with extras that exist.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from helixnet.cli import build_parser
from helixnet.core.config import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.dev.yml").read_text())
    return loaded


def _helixnet_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if svc.get("build") == "."}


def test_the_stack_runs_serve_and_two_workers_beside_its_backends(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "minio", "minio-bucket", "serve", "worker"} <= set(services)
    ours = _helixnet_services(compose)
    assert set(ours) == {"serve", "worker"}
    assert ours["worker"]["deploy"]["replicas"] == 2
    assert "mc mb" in " ".join(services["minio-bucket"]["command"])  # the bucket exists before serve starts
    assert ours["serve"]["depends_on"]["minio-bucket"]["condition"] == "service_completed_successfully"


def test_every_helixnet_variable_is_a_setting_and_the_whole_is_valid(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, service in _helixnet_services(compose).items():
        env = {k: str(v) for k, v in service["environment"].items()}
        unknown = [k for k in env if k.startswith("HELIXNET_") and k.removeprefix("HELIXNET_").lower()
                   not in Settings.model_fields]  # fmt: skip
        assert not unknown, f"{name}: {unknown} are not settings"
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("HELIXNET_DATA_DIR", str(tmp_path / name))
        settings = Settings()
        settings.check()  # production: a real secret, and a public URL instead of any Host
        assert settings.environment == "production"
        assert settings.queue_url.startswith("redis://") and settings.resolved_storage_url.startswith("s3://")


def test_every_command_is_one_the_cli_knows(compose: dict[str, Any]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    default = re.search(r'^CMD (\[.*\])$', dockerfile, re.M)
    assert default is not None
    commands = [yaml.safe_load(default.group(1))] + [svc["command"] for svc in _helixnet_services(compose).values()]
    for argv in commands:
        assert argv[0] == "helixnet", argv
        build_parser().parse_args(argv[1:])  # exits (SystemExit) on an unknown command or option


def test_the_image_installs_the_project_from_its_wheel() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile, re.M):
        *sources, _ = shlex.split(line)
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    assert re.search(r"pip wheel .*--no-deps", dockerfile)
    install = re.search(r'pip install .*"\$\(ls /wheels/helixnet-\*\.whl\)\[([a-z0-9,]+)\]"', dockerfile)
    assert install, "the image must install helixnet from the wheel it built"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(install.group(1).split(",")) <= set(extras)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "helixnet-data"} <= set(ignored)


def test_workers_get_their_grace_period_before_compose_kills_them(compose: dict[str, Any]) -> None:
    """compose sends SIGTERM, then SIGKILL after stop_grace_period (10 s unless set): it must outlast the grace."""
    for name, service in _helixnet_services(compose).items():
        if service["command"][:2] != ["helixnet", "worker"]:
            continue
        grace = float(service["environment"].get("HELIXNET_WORKER_GRACE_SECONDS",
                                                 Settings.model_fields["worker_grace_seconds"].default))  # fmt: skip
        match = re.fullmatch(r"(\d+)s", str(service.get("stop_grace_period", "10s")))
        assert match is not None, f"{name}: stop_grace_period in seconds, e.g. 45s"
        assert int(match.group(1)) > grace, f"{name}: stop_grace_period must exceed the {grace:g} s grace period"
