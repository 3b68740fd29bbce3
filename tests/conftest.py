"""Shared fixtures: a HelixNet on a temp folder, real PostgreSQL and Redis when they answer.

Servers that are absent skip their tests with a message; under CI (``CI=true``) they fail instead,
so a green CI run means every backend was really exercised.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_SITE = Path(__file__).resolve().parent / "fixtures" / "site"
PG_ADMIN_URL = os.environ.get("HELIXNET_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HELIXNET_TEST_REDIS", "redis://127.0.0.1:6379/15")

# The test plugins register through a real entry point: their dist-info must be on the path,
# here and in every worker subprocess the tests start.
if str(TEST_SITE) not in sys.path:
    sys.path.insert(0, str(TEST_SITE))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TEST_SITE), os.environ.get("PYTHONPATH")]))


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_service(name: str, port: int) -> None:
    if port_open("127.0.0.1", port):
        return
    message = f"{name} is not answering on 127.0.0.1:{port} (../shared/services.sh starts it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No HELIXNET_* variable or .env of the developer's leaks into a test (httpx does the same)."""
    for key in list(os.environ):
        if key.startswith("HELIXNET_") and not key.startswith("HELIXNET_TEST_"):
            monkeypatch.delenv(key)
    # Multiprocess metrics switched on by code under test (a supervisor) must end with the test.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    monkeypatch.chdir(tmp_path)


@contextlib.contextmanager
def _scratch_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped (with its connections) when done."""
    require_service("PostgreSQL", 5432)
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database for this test session, dropped at the end."""
    with _scratch_database("helixnet_test") as url:
        yield url


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A database of this test's own with no tables at all (first-start races, migrations)."""
    with _scratch_database("helixnet_empty") as url:
        yield url


@pytest.fixture
def redis_url() -> Iterator[str]:
    require_service("Redis", 6379)
    yield REDIS_URL


def _truncate_postgres(url: str) -> None:
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
        if tables:
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> str:
    """The session's PostgreSQL database, emptied for this test (the schema stays)."""
    _truncate_postgres(postgres_url)
    return postgres_url


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> str:
    """Parametrize a test over both databases: ``sqlite`` or ``postgres``."""
    return request.param


@pytest.fixture
def make_settings(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., Any]:
    from helixnet import Settings

    def factory(database: str = "sqlite", **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "hx-data",
            "bcrypt_rounds": 4,
            "job_heartbeat_seconds": 0.2,
            "sweep_interval_seconds": 0.2,
            "queue_name": f"test-{uuid.uuid4().hex[:8]}",
        }
        if database == "postgres":
            url = request.getfixturevalue("postgres_url")
            _truncate_postgres(url)
            values["database_url"] = url
        values.update(overrides)
        return Settings(**values)

    return factory


@pytest.fixture
def make_hx(make_settings: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """Build (and, with ``start=True``, start) HelixNet instances; all are stopped at teardown."""
    from helixnet import HelixNet

    built: list[Any] = []

    def factory(database: str = "sqlite", *, start: bool = True, workers: int | None = None, **overrides: Any) -> Any:
        hx = HelixNet(make_settings(database, **overrides))
        built.append(hx)
        if start:
            hx.start(workers)
        else:
            hx.migrate()
        return hx

    yield factory
    for hx in built:
        hx.stop(timeout=0)  # running jobs handed back at once: a test that cares about the grace stops it itself


@pytest.fixture
def hx(make_hx: Callable[..., Any]) -> Any:
    """A started HelixNet on the embedded defaults (SQLite DB, SQLite queue, local folder)."""
    return make_hx()


@pytest.fixture
def user(hx: Any) -> Any:
    return hx.users.create(email="ada@example.org", password="correct horse battery", fullname="Ada")


@pytest.fixture
def other_user(hx: Any) -> Any:
    return hx.users.create(email="bob@example.org", password="another good password")


# -- S3: a real S3 API (moto's server mode) on loopback, for storage, artifact and API tests -----------

FAKE_CREDENTIALS = {"key": "testing", "secret": "testing"}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API (moto's server mode) on 127.0.0.1, one for the whole session."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as mp:
        # Nothing of the developer's AWS setup (profiles, instance metadata) may reach botocore.
        for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_CONFIG_FILE", "/nonexistent/helixnet-test-aws-config")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/helixnet-test-aws-credentials")
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def s3_options(s3_endpoint: str) -> dict[str, Any]:
    """What a deployment puts in ``HELIXNET_STORAGE_OPTIONS`` for MinIO or another S3."""
    return {"endpoint_url": s3_endpoint, **FAKE_CREDENTIALS, "client_kwargs": {"region_name": "us-east-1"}}


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    """A plain boto3 client, to look at the server without going through our code."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=FAKE_CREDENTIALS["key"],
        aws_secret_access_key=FAKE_CREDENTIALS["secret"],
        region_name="us-east-1",
    )
