"""Settings: every ``HELIXNET_X`` environment variable is the field ``x``.

Passed explicitly to ``HelixNet(settings)``; nothing reads the environment at import time.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from helixnet.errors import ConfigurationError
from helixnet.private import make_private_dir

#: What a secret looks like when nobody chose one. Refused in production.
DEFAULT_SECRET = "change-me"
_ORIGIN = re.compile(r"^https?://[^/?#\s]+$")


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
    executors: dict[str, str] = Field(
        default_factory=dict,
        description='Where plugins run, overriding their own choice (JSON): {"wordfreq": "process", '
        '"train": "dask://10.0.0.5:8786"}; executors: thread (default), process, dask://host:port.',
    )

    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    previous_secret_keys: list[SecretStr] = Field(default_factory=list, description="Still accepted.")
    token_max_age_seconds: int = Field(default=3600, ge=1)
    bcrypt_rounds: int = Field(default=12, ge=4, le=16, description="Lower only in tests.")

    workers: int = Field(default=2, ge=0, le=256, description="Embedded worker threads run by hx.start().")
    worker_poll_seconds: float = Field(default=0.05, gt=0, le=5)
    worker_claim_batch: int = Field(default=10, ge=1, le=100, description=(
        "Ready jobs one worker thread may claim in one statement while the queue is deep and its jobs quick;"
        " 1 claims one at a time."))
    worker_claim_batch_below_seconds: float = Field(default=0.02, gt=0, le=3600, description=(
        "A thread claims in batches only while its jobs take less than this on average (claim, run and"
        " record); slower jobs are claimed one at a time so they spread over the threads."))
    job_heartbeat_seconds: float = Field(default=5.0, gt=0)
    job_lost_after_seconds: float = Field(default=30.0, gt=0)
    job_max_retries: int = Field(default=0, ge=0, le=100)
    job_batch_max: int = Field(default=1000, ge=1, le=100_000,
                               description="Most jobs one POST /jobs/batch may submit (more: 413).")
    job_retry_backoff_seconds: float = Field(default=2.0, ge=0)
    job_retry_backoff_max_seconds: float = Field(default=300.0, ge=0)
    job_default_timeout: float | None = Field(default=None, gt=0)
    sweep_interval_seconds: float = Field(default=1.0, gt=0)
    sweeper: bool = Field(default=True, description="Run the sweeper in this process (hx.start()).")
    worker_grace_seconds: float = Field(
        default=30.0, ge=0, description="On SIGTERM, running jobs get this long to finish before they are handed back."
    )

    max_upload_bytes: int = Field(default=5 * 1024**3, gt=0, description="Largest artifact accepted, in bytes.")
    upload_url_expires_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600,
                                            description="Lifetime of an upload URL; also its maximum.")  # fmt: skip
    download_url_expires_seconds: int = Field(default=300, ge=1, le=7 * 24 * 3600,
                                              description="Lifetime of a download URL unless asked otherwise.")  # fmt: skip
    download_url_max_expires_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600,
                                                  description="Longest download URL a client may ask for.")  # fmt: skip
    upload_idle_timeout_seconds: float = Field(default=30.0, gt=0, le=3600,
                                               description="An upload body silent this long is aborted.")  # fmt: skip

    login_max_failures: int = Field(
        default=5, ge=1, description="Failed sign-ins of one account from one address per window before a pause."
    )
    login_account_max_failures: int = Field(
        default=50, ge=1, description="Failed sign-ins of one account from all addresses per window: the ceiling."
    )
    login_lockout_seconds: float = Field(default=60.0, gt=0, description="The window, and so the longest pause.")

    admin_email: str | None = Field(default=None, description="First admin, created when there are no users.")
    admin_password: SecretStr | None = Field(default=None, description="Generated and printed once when unset.")

    cors_origins: list[str] = Field(
        default_factory=list, description="Web origins allowed to call the API from a browser (JSON list); none by default."
    )

    metrics_token: SecretStr | None = Field(
        default=None, description="Bearer token for GET /metrics (Prometheus); unset: /metrics is disabled (404)."
    )

    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per log line, with job_id, plugin and worker."
    )

    # The built-in compute plugins (issue 12, docs/builtin-plugins.md); each reads these in configure().
    http_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Hosts the http plugin may call (JSON list or commas): host or host:port (a bare host allows any port)."
            " Empty: every call is refused. A name resolving to a loopback, private, link-local, reserved, multicast"
            " or unspecified address is refused unless that address itself is listed, e.g. 127.0.0.1:8123."
        ),
    )
    http_timeout_seconds: float = Field(
        default=30.0, gt=0, le=86400, description="The http plugin's connect, read and whole-call timeout."
    )
    http_max_bytes: int = Field(
        default=100 * 1024**2, gt=0, description="Largest response body the http plugin stores; past it the job fails."
    )
    http_ca_bundle: Path | None = Field(
        default=None,
        description="PEM file of the CA certificates the http plugin trusts (an internal CA); unset: the public ones.",
    )
    llm_base_url: str | None = Field(
        default=None,
        description=(
            "OpenAI-compatible API base, e.g. http://127.0.0.1:8080/v1 (the llm plugin POSTs {base}/chat/completions);"
            " unset: the llm plugin is not offered."
        ),
    )
    llm_api_key: SecretStr | None = Field(default=None, description="Sent as Authorization: Bearer; never logged.")
    llm_model: str | None = Field(
        default=None, description="The llm plugin's default model (else params.model is required)."
    )
    llm_timeout_seconds: float = Field(
        default=120.0, gt=0, le=86400, description="Longest wait for the LLM endpoint's answer or its next chunk."
    )
    llm_max_attempts: int = Field(
        default=4, ge=1, le=20, description="Calls of the LLM endpoint per job while it answers 429 or 5xx."
    )
    llm_retry_backoff_seconds: float = Field(
        default=1.0,
        ge=0,
        le=3600,
        description=(
            "First wait before calling the LLM endpoint again after a 429 or 5xx; doubles each time (Retry-After wins)."
        ),
    )
    llm_retry_max_delay_seconds: float = Field(
        default=30.0, ge=0, le=3600, description="Longest single wait between LLM calls, Retry-After included."
    )
    shell_commands: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            "Commands the shell plugin may run (JSON): name -> argv template, never run through a shell. In an argv item,"
            " {input:NAME} is the path of input NAME, {output:FILENAME} a path whose file becomes an output artifact,"
            " {param:NAME} the value of params.args.NAME, {{ and }} literal braces. Empty: the shell plugin is not offered."
        ),
    )
    shell_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        le=7 * 24 * 3600,
        description=(
            "Longest run of a shell command (the job's own timeout applies too); its whole process group is killed."
        ),
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str | None = Field(
        default=None, description="How clients reach this server, e.g. https://jobs.example.org: every absolute URL."
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*"], description="Host headers accepted (JSON list or commas); required in production."
    )
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Proxies whose X-Forwarded-Proto/Host/For are believed (addresses or networks; * for any).",
    )
    server_max_concurrency: int | None = Field(
        default=1000, ge=1, description="Connections and requests at once before 503 (uvicorn's limit_concurrency)."
    )
    server_keep_alive_seconds: int = Field(default=5, ge=1, description="Idle keep-alive connections close.")

    @field_validator("allowed_hosts", "forwarded_allow_ips", "http_allowed_hosts", mode="before")
    @classmethod
    def _list(cls, value: object) -> object:
        """A JSON list, or the comma-separated form uvicorn and proxies' docs use."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("must be an http(s) URL such as https://jobs.example.org, without query or fragment")
        return value.strip().rstrip("/")

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        """An origin is scheme://host[:port] exactly as a browser sends it; a path never matches one."""
        origins = []
        for origin in value:
            origin = origin.strip().rstrip("/")
            if origin != "*" and not _ORIGIN.match(origin):
                raise ValueError(f"{origin!r} is not an origin such as https://app.example.org or http://localhost:3000")
            origins.append(origin)
        return origins

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
        if self.environment == "production" and "*" in self.allowed_hosts and not self.public_url:
            raise ConfigurationError(
                "in production set HELIXNET_ALLOWED_HOSTS (the host names clients use) or HELIXNET_PUBLIC_URL: "
                "otherwise absolute URLs follow whatever Host header a client sends",
                errors=[{"loc": ["allowed_hosts"], "msg": "required in production unless public_url is set"}],
            )
        if self.download_url_expires_seconds > self.download_url_max_expires_seconds:
            raise ConfigurationError(
                "HELIXNET_DOWNLOAD_URL_EXPIRES_SECONDS is longer than HELIXNET_DOWNLOAD_URL_MAX_EXPIRES_SECONDS",
                errors=[{"loc": ["download_url_expires_seconds"], "msg": "must not exceed the maximum"}],
            )


def _local_secret(data_dir: Path) -> str:
    path = data_dir / ".secret_key"
    make_private_dir(data_dir)
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
