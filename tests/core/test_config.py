"""Settings: every HELIXNET_X variable is the field x; production refuses a default secret."""

from __future__ import annotations

import pytest

from helixnet import ConfigurationError, HelixNet, Settings


def test_environment_variables_map_to_fields(monkeypatch, tmp_path):
    monkeypatch.setenv("HELIXNET_JOB_LOST_AFTER_SECONDS", "4")
    monkeypatch.setenv("HELIXNET_WORKERS", "0")
    monkeypatch.setenv("HELIXNET_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("HELIXNET_PLUGINS", '["echo"]')
    settings = Settings()
    assert settings.job_lost_after_seconds == 4 and settings.workers == 0
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'd' / 'helixnet.db'}"
    assert settings.resolved_storage_url == f"file://{tmp_path / 'd' / 'artifacts'}"
    assert Settings(job_lost_after_seconds=7).job_lost_after_seconds == 7


def test_dotenv_is_read(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("HELIXNET_QUEUE_URL=memory://\n")
    monkeypatch.chdir(tmp_path)
    assert Settings().queue_url == "memory://"


def test_production_refuses_default_secret(tmp_path):
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        HelixNet(Settings(environment="production", data_dir=tmp_path))
    hx = HelixNet(Settings(environment="production", data_dir=tmp_path, secret_key="s" * 40,
                           allowed_hosts=["jobs.example.org"]))  # fmt: skip
    hx.stop()


def test_production_requires_allowed_hosts_or_a_public_url(tmp_path, monkeypatch):
    with pytest.raises(ConfigurationError, match="ALLOWED_HOSTS"):
        HelixNet(Settings(environment="production", data_dir=tmp_path, secret_key="s" * 40))
    HelixNet(Settings(environment="production", data_dir=tmp_path, secret_key="s" * 40,
                      public_url="https://jobs.example.org/")).stop()  # fmt: skip
    # Both forms of a list read from the environment: JSON, and the comma-separated one of uvicorn's docs.
    monkeypatch.setenv("HELIXNET_ALLOWED_HOSTS", '["a.example.org", "b.example.org"]')
    monkeypatch.setenv("HELIXNET_FORWARDED_ALLOW_IPS", "10.0.0.0/8, 192.0.2.1")
    settings = Settings(data_dir=tmp_path)
    assert settings.allowed_hosts == ["a.example.org", "b.example.org"]
    assert settings.forwarded_allow_ips == ["10.0.0.0/8", "192.0.2.1"]
    with pytest.raises(ValueError, match="public_url"):
        Settings(data_dir=tmp_path, public_url="ftp://example.org")


def test_development_secret_is_kept_in_the_data_dir(tmp_path):
    keys = Settings(data_dir=tmp_path).signing_keys()
    assert keys == Settings(data_dir=tmp_path).signing_keys()
    assert (tmp_path / ".secret_key").stat().st_mode & 0o077 == 0


def test_plugins_setting_restricts_what_loads(make_hx):
    hx = make_hx(workers=0, plugins=["echo"])
    assert list(hx.plugins) == ["echo"]
