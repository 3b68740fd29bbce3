"""The ``http`` plugin through a real worker against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import datetime
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from helixnet import JobStatus, ValidationFailed

BIG = 64 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:  # quiet test output
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        port = self.server.server_address[1]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append({"method": self.command, "path": self.path, "host": self.headers["Host"], "body": body,
                          "auth": self.headers.get("Authorization")})  # fmt: skip
        if self.path == "/hello":
            self._reply(200, b"hello from the test server", {"X-Test": "yes"})
        elif self.path == "/redirect-ok":
            self._reply(302, headers={"Location": "/hello"})
        elif self.path == "/redirect-away":
            self._reply(302, headers={"Location": f"http://127.0.0.2:{port}/hello"})
        elif self.path == "/redirect-loop":
            self._reply(307, headers={"Location": "/redirect-loop"})
        elif self.path == "/big":  # no Content-Length: the limit must bite while streaming
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(4):
                self.wfile.write(b"x" * BIG)
            self.close_connection = True
        elif self.path == "/slow":
            time.sleep(1.5)
            self._reply(200, b"late")
        else:
            self._reply(404, b"no such page")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the plugin hanging up on /big and /slow is what the tests ask for


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def _run(hx: Any, user: Any, **params: Any) -> Any:
    return hx.jobs.wait(hx.jobs.submit(user, "http", params=params).id, timeout=30)


@pytest.fixture
def allowed(make_hx: Any, server: int) -> Any:
    """An instance that allows the test server by address, and a user on it."""
    hx = make_hx(http_allowed_hosts=[f"127.0.0.1:{server}"], http_timeout_seconds=0.5, http_max_bytes=BIG * 2)
    return hx, hx.users.create(email="http@example.org", password="correct horse battery")


def test_allowed_by_address_stores_the_body(allowed: Any, server: int) -> None:
    hx, user = allowed
    _Handler.seen.clear()
    job = _run(hx, user, method="POST", url=f"http://127.0.0.1:{server}/hello", body="ping",
               headers={"Authorization": "Bearer t0ken"})  # fmt: skip
    assert job.status == JobStatus.SUCCESS, job.error
    result = job.result
    assert result["status_code"] == 200 and result["url"] == f"http://127.0.0.1:{server}/hello"
    assert result["size"] == len(b"hello from the test server") and result["headers"]["x-test"] == "yes"
    assert 0 <= result["elapsed_seconds"] < 5
    (artifact,) = job.artifacts
    assert artifact.filename == "response.body" and artifact.content_type.startswith("text/plain")
    assert hx.artifacts.read_bytes(artifact.id) == b"hello from the test server"
    assert _Handler.seen == [{"method": "POST", "path": "/hello", "host": f"127.0.0.1:{server}", "body": b"ping",
                              "auth": "Bearer t0ken"}]  # fmt: skip


def test_default_refuses_every_host_naming_the_setting(hx: Any, user: Any, server: int) -> None:
    _Handler.seen.clear()
    job = _run(hx, user, url=f"http://127.0.0.1:{server}/hello")
    assert job.status == JobStatus.FAILURE
    assert "HELIXNET_HTTP_ALLOWED_HOSTS is empty" in job.error and job.artifacts == []
    assert _Handler.seen == []


def test_a_name_resolving_to_loopback_is_refused_unless_its_address_is_listed(make_hx: Any, server: int) -> None:
    refusing = make_hx(http_allowed_hosts=[f"localhost:{server}"])
    user = refusing.users.create(email="a@example.org", password="correct horse battery")
    job = _run(refusing, user, url=f"http://localhost:{server}/hello")
    assert job.status == JobStatus.FAILURE and "resolves to" in job.error and "127.0.0.1" in job.error
    # Listed by address as well: the call goes to the checked address, the name in the Host header.
    allowing = make_hx(http_allowed_hosts=[f"localhost:{server}", f"127.0.0.1:{server}"])
    user = allowing.users.create(email="b@example.org", password="correct horse battery")
    _Handler.seen.clear()
    job = _run(allowing, user, method="HEAD", url=f"http://localhost:{server}/hello")
    assert job.status == JobStatus.SUCCESS, job.error
    assert job.result["size"] == 0 and _Handler.seen[0]["host"] == f"localhost:{server}"


def test_redirects_are_followed_and_each_hop_checked(allowed: Any, server: int) -> None:
    hx, user = allowed
    job = _run(hx, user, url=f"http://127.0.0.1:{server}/redirect-ok")
    assert job.status == JobStatus.SUCCESS, job.error
    assert job.result["url"] == f"http://127.0.0.1:{server}/hello" and job.result["status_code"] == 200
    away = _run(hx, user, url=f"http://127.0.0.1:{server}/redirect-away")
    assert away.status == JobStatus.FAILURE and f"127.0.0.2:{server} is not allowed" in away.error
    loop = _run(hx, user, url=f"http://127.0.0.1:{server}/redirect-loop")
    assert loop.status == JobStatus.FAILURE and "too many redirects" in loop.error


def test_size_limit_and_timeout_fail_clearly(allowed: Any, server: int) -> None:
    hx, user = allowed
    big = _run(hx, user, url=f"http://127.0.0.1:{server}/big")
    assert big.status == JobStatus.FAILURE and "larger than HELIXNET_HTTP_MAX_BYTES" in big.error
    assert big.artifacts == []
    slow = _run(hx, user, url=f"http://127.0.0.1:{server}/slow")  # answers after 1.5 s: too late
    assert slow.status == JobStatus.FAILURE and "timed out after 0.5 s" in slow.error


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"method": "TRACE", "url": "http://127.0.0.1/"}, ["params", "method"]),
        ({"url": "file:///etc/passwd"}, ["params", "url"]),
        ({"url": "ftp://127.0.0.1/x"}, ["params", "url"]),
        ({"url": "http://127.0.0.1/", "headers": {"Host": "evil"}}, ["params", "headers"]),
        ({"url": "http://127.0.0.1/", "colour": "red"}, ["params", "colour"]),
    ],
)
def test_bad_params_are_refused_at_submit_naming_the_field(hx: Any, user: Any, params: Any, loc: list[str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        hx.jobs.submit(user, "http", params=params)
    assert caught.value.errors[0]["loc"] == loc


def _tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate for the name ``localhost`` only (no IP address in it), as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("test CA")).issuer_name(name("test CA"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))  # fmt: skip
    leaf = (x509.CertificateBuilder().subject_name(name("localhost")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(2).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(ca_key, hashes.SHA256()))  # fmt: skip
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return paths


def test_https_goes_to_the_checked_address_with_the_name_in_sni_and_verified(make_hx: Any, tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    ca, cert, key = _tls_files(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []
    context.sni_callback = lambda sock, server_name, ctx: names.append(server_name)
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_address[1]
    try:
        hx = make_hx(http_allowed_hosts=[f"localhost:{port}", f"127.0.0.1:{port}"], http_ca_bundle=ca)
        user = hx.users.create(email="tls@example.org", password="correct horse battery")
        job = _run(hx, user, url=f"https://localhost:{port}/hello")
        assert job.status == JobStatus.SUCCESS, job.error
        assert names == ["localhost"] and job.result["url"] == f"https://localhost:{port}/hello"
        # The certificate names localhost, not 127.0.0.1: verification is on, against the URL's name.
        by_address = _run(hx, user, url=f"https://127.0.0.1:{port}/hello")
        assert by_address.status == JobStatus.FAILURE and "CERTIFICATE_VERIFY_FAILED" in by_address.error
    finally:
        httpd.shutdown()
        httpd.server_close()
