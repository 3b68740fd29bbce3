"""``http``: call an HTTP endpoint an admin allowed, store the response body as the job's main artifact.

Settings: ``HELIXNET_HTTP_ALLOWED_HOSTS`` (empty by default: every call is refused, with a message
naming the setting), ``HELIXNET_HTTP_TIMEOUT_SECONDS``, ``HELIXNET_HTTP_MAX_BYTES``.

Every hop, the first request and each redirect (followed here, at most five), is checked by
:mod:`helixnet.plugins.netguard` and sent to the exact address that was checked: the name goes only
into the Host header and TLS SNI (whose certificate is still verified against the name), so a DNS
answer that changes between check and connect (rebinding) cannot redirect the call. Proxy
variables of the worker's environment are ignored for the same reason.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from helixnet import ComputePlugin, ConfigurationError, JobContext, PluginError, Settings
from helixnet.plugins.netguard import DEFAULT_PORTS, AllowedHost, Target, check_url, parse_allowed_hosts

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
SETTING = "HELIXNET_HTTP_ALLOWED_HOSTS"
# Set by the plugin itself from the URL it checked, or by httpx from the body.
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class HttpParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = Field(default="GET")
    url: str = Field(min_length=1, max_length=8192, description="An http:// or https:// URL on an allowed host.")
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers (not Host or Content-Length).")
    body: str | None = Field(default=None, description="Request body, sent as UTF-8.")

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https"):
            raise ValueError("only http:// and https:// URLs may be called")
        if not parts.hostname:
            raise ValueError("the URL has no host")
        try:
            parts.port  # noqa: B018 - a bad port raises here, at submit
        except ValueError:
            raise ValueError("the port is not a number from 0 to 65535") from None
        if parts.username is not None or parts.password is not None:
            raise ValueError("credentials in the URL are refused; send an Authorization header")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not name or not set(name) <= _TOKEN:
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"the {name} header is set by the plugin itself")
            if "\r" in text or "\n" in text or "\x00" in text:
                raise ValueError(f"the value of {name} contains a line break or NUL")
        return value


class HttpPlugin(ComputePlugin):
    name = "http"
    title = "HTTP request"
    description = (
        "Calls an HTTP(S) endpoint on a host the admin allowed (HELIXNET_HTTP_ALLOWED_HOSTS) and stores the "
        "response body as the main artifact; the result holds the status code, headers, final URL and size."
    )
    Params = HttpParams

    def __init__(self) -> None:
        self._allowed: list[AllowedHost] = []
        self._timeout = 30.0
        self._max_bytes = 100 * 1024**2
        self._verify: ssl.SSLContext | bool = True  # httpx's default: the public CAs (certifi)

    def configure(self, settings: Settings) -> bool:
        """Always offered: with no host allowed, each job fails with a message naming the setting."""
        try:
            self._allowed = parse_allowed_hosts(settings.http_allowed_hosts)
        except ValueError as exc:
            raise ConfigurationError(
                f"{SETTING}: {exc}", errors=[{"loc": ["http_allowed_hosts"], "msg": str(exc)}]
            ) from exc
        self._timeout = settings.http_timeout_seconds
        self._max_bytes = settings.http_max_bytes
        if settings.http_ca_bundle is not None:
            try:
                self._verify = ssl.create_default_context(cafile=str(settings.http_ca_bundle))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigurationError(
                    f"HELIXNET_HTTP_CA_BUNDLE: cannot read {settings.http_ca_bundle}: {exc}",
                    errors=[{"loc": ["http_ca_bundle"], "msg": "not a readable PEM file of CA certificates"}],
                ) from exc
        return True

    def run(self, ctx: JobContext, params: HttpParams) -> dict[str, Any]:
        started = time.monotonic()
        deadline = started + self._timeout
        method: str = params.method
        url, body = params.url, params.body
        headers = dict(params.headers)
        for hop in range(MAX_REDIRECTS + 1):
            ctx.check_cancelled()
            target = check_url(url, self._allowed, setting=SETTING)
            if hop:
                ctx.log.info(f"redirected to {url}")
            with (
                _client(self._timeout, self._verify) as client,
                _send(client, target, method, headers, body) as response,
            ):
                location = response.headers.get("location")
                if response.status_code in REDIRECT_STATUSES and location:
                    next_url = urljoin(url, location)
                    method, body = _redirected_method(response.status_code, method, body)
                    if _origin(next_url) != _origin(url):  # as browsers and httpx do: no credentials to another host
                        headers = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "cookie")}
                    url = next_url
                    continue
                size = self._store(ctx, response, deadline)
                result = {
                    "status_code": response.status_code,
                    "headers": {name: ", ".join(response.headers.get_list(name)) for name in response.headers},
                    "url": url,
                    "size": size,
                    "elapsed_seconds": round(time.monotonic() - started, 3),
                }
            ctx.log.info(f"{method} {url} -> {result['status_code']} ({size:,} bytes)")
            ctx.progress(1.0, f"HTTP {result['status_code']}, {size:,} bytes")
            return result
        raise PluginError(f"too many redirects (more than {MAX_REDIRECTS}); the last one pointed to {url}")

    def _store(self, ctx: JobContext, response: httpx.Response, deadline: float) -> int:
        """Stream the body into the artifact, stopping at the size limit, the deadline or a cancel."""
        content_type = response.headers.get("content-type", "application/octet-stream")
        expected = _declared_length(response)
        if expected is not None and expected > self._max_bytes:
            raise PluginError(_too_large(expected, self._max_bytes, "declared"))
        size = 0
        with ctx.outputs.open("response.body", content_type, main=True) as out:
            try:
                for chunk in response.iter_bytes(64 * 1024):
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise PluginError(_too_large(size, self._max_bytes, "received"))
                    if time.monotonic() > deadline:
                        raise PluginError(
                            f"the call timed out after {self._timeout:g} s (HELIXNET_HTTP_TIMEOUT_SECONDS)"
                        )
                    ctx.check_cancelled()
                    out.write(chunk)
                    if expected:
                        ctx.progress(min(0.99, size / expected), f"{size:,} of {expected:,} bytes")
            except httpx.HTTPError as exc:
                raise _translated(exc, self._timeout) from exc
        return size


def _client(timeout: float, verify: ssl.SSLContext | bool) -> httpx.Client:
    # trust_env=False: an HTTP(S)_PROXY of the worker would receive the call instead of the checked address.
    return httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False, verify=verify)


@contextmanager
def _send(
    client: httpx.Client, target: Target, method: str, headers: dict[str, str], body: str | None
) -> Iterator[httpx.Response]:
    """``client.stream`` to the checked address, with the name as Host header and SNI; errors translated."""
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    if target.port != DEFAULT_PORTS[target.scheme]:
        host_header = f"{host_header}:{target.port}"
    request = client.build_request(
        method,
        httpx.URL(target.url).copy_with(host=target.address, port=target.port),
        headers={**headers, "Host": host_header},
        content=body.encode("utf-8") if body is not None else None,
        extensions={"sni_hostname": target.host},
    )
    try:
        response = client.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise _translated(exc, client.timeout.read or 0) from exc
    try:
        yield response
    finally:
        response.close()


def _redirected_method(status: int, method: str, body: str | None) -> tuple[str, str | None]:
    """What httpx and browsers do: 303 becomes GET (HEAD stays), as do 301/302 after a POST; 307/308 keep all."""
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        return "GET", None
    return method, body


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.hostname, parts.port


def _declared_length(response: httpx.Response) -> int | None:
    if response.headers.get("content-encoding"):
        return None  # the stored body is the decoded one; its length is not the header's
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _too_large(size: int, limit: int, how: str) -> str:
    return f"the response body is larger than HELIXNET_HTTP_MAX_BYTES ({limit:,} bytes; {how} {size:,})"


def _translated(exc: httpx.HTTPError, timeout: float) -> PluginError:
    if isinstance(exc, httpx.TimeoutException):
        return PluginError(f"the call timed out after {timeout:g} s (HELIXNET_HTTP_TIMEOUT_SECONDS)")
    return PluginError(f"the call failed: {type(exc).__name__}: {exc}")
