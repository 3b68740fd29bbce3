"""Settings: every ``HELIXNET_X`` environment variable is the field ``x``.

Passed explicitly to ``HelixNet(settings)``; nothing reads the environment at import time.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from helixnet.errors import ConfigurationError

#: What a secret looks like when nobody chose one. Refused in production.
DEFAULT_SECRET = "change-me"


class Settings(BaseSettings):
    """Configuration of one HelixNet instance; defaults need no external service."""

    model_config = SettingsConfigDict(
        env_prefix="HELIXNET_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Field(default=Path("./helixnet-data"), description="SQLite DB, SQLite queue, artifacts.")
    database_url: str | None = Field(default=None, description="Default: sqlite:///<data_dir>/helixnet.db")
    queue_url: str = Field(default="sqlite://", description="sqlite:// | memory:// | redis://host:port/db")
    queue_name: str = "helixnet"
    queue_options: dict[str, object] = Field(default_factory=dict, description="Passed to the queue (JSON).")
    storage_url: str | None = Field(default=None, description="Default: file://<data_dir>/artifacts")
    storage_options: dict[str, object] = Field(default_factory=dict, description="Passed to fsspec (JSON).")
    plugins: list[str] | None = Field(default=None, description="Only these compute plugins load (names).")

    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    previous_secret_keys: list[SecretStr] = Field(default_factory=list, description="Still accepted.")
    token_max_age_seconds: int = Field(default=3600, ge=1)
    bcrypt_rounds: int = Field(default=12, ge=4, le=16, description="Lower only in tests.")

    workers: int = Field(default=2, ge=0, le=256, description="Embedded worker threads run by hx.start().")
    worker_poll_seconds: float = Field(default=0.05, gt=0, le=5)
    job_heartbeat_seconds: float = Field(default=5.0, gt=0)
    job_lost_after_seconds: float = Field(default=30.0, gt=0)
    job_max_retries: int = Field(default=0, ge=0, le=100)
    job_retry_backoff_seconds: float = Field(default=2.0, ge=0)
    job_retry_backoff_max_seconds: float = Field(default=300.0, ge=0)
    job_default_timeout: float | None = Field(default=None, gt=0)
    sweep_interval_seconds: float = Field(default=1.0, gt=0)
    sweeper: bool = Field(default=True, description="Run the sweeper in this process (hx.start()).")

    max_upload_bytes: int = Field(default=5 * 1024**3, gt=0, description="Largest artifact accepted, in bytes.")
    upload_url_expires_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600,
                                            description="Lifetime of an upload URL; also its maximum.")  # fmt: skip
    download_url_expires_seconds: int = Field(default=300, ge=1, le=7 * 24 * 3600,
                                              description="Lifetime of a download URL unless asked otherwise.")  # fmt: skip
    download_url_max_expires_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600,
                                                  description="Longest download URL a client may ask for.")  # fmt: skip
    upload_idle_timeout_seconds: float = Field(default=30.0, gt=0, le=3600,
                                               description="An upload body silent this long is aborted.")  # fmt: skip

    login_max_failures: int = Field(default=5, ge=1, description="Failed logins of one account before a pause.")
    login_lockout_seconds: float = Field(default=60.0, gt=0, description="How long that pause lasts.")

    admin_email: str | None = Field(default=None, description="First admin, created when there are no users.")
    admin_password: SecretStr | None = Field(default=None, description="Generated and printed once when unset.")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'helixnet.db'}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or f"file://{self.data_dir.resolve() / 'artifacts'}"

    def signing_keys(self) -> list[str]:
        """Keys for itsdangerous, oldest first: the last one signs, all of them verify.

        In development with no secret chosen, a random one is kept in the data dir so tokens
        survive restarts; production refuses to start without a real one.
        """
        current = self.secret_key.get_secret_value()
        if current == DEFAULT_SECRET:
            if self.environment == "production":
                raise ConfigurationError(
                    "HELIXNET_SECRET_KEY is the default; set a long random secret in production",
                    errors=[{"loc": ["secret_key"], "msg": "default secret refused in production"}],
                )
            current = _local_secret(self.data_dir)
        return [key.get_secret_value() for key in self.previous_secret_keys] + [current]

    def check(self) -> None:
        """Fail fast on settings that cannot work, before anything starts."""
        self.signing_keys()
        if self.download_url_expires_seconds > self.download_url_max_expires_seconds:
            raise ConfigurationError(
                "HELIXNET_DOWNLOAD_URL_EXPIRES_SECONDS is longer than HELIXNET_DOWNLOAD_URL_MAX_EXPIRES_SECONDS",
                errors=[{"loc": ["download_url_expires_seconds"], "msg": "must not exceed the maximum"}],
            )


def _local_secret(data_dir: Path) -> str:
    path = data_dir / ".secret_key"
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: when several processes start at once, exactly one writes the secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            secret = path.read_text().strip()
            if secret:
                return secret
            time.sleep(0.01)
        raise ConfigurationError(f"{path} is empty; delete it or set HELIXNET_SECRET_KEY") from None
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret
