"""``serve_metrics``: ``GET /metrics`` of one process on a port of its own (``helixnet worker --metrics-port``).

A worker process has no web app, so this is a small threaded ``http.server`` with the same rule
as the API's ``/metrics``: ``Authorization: Bearer <token>`` compared in constant time, 401 with
``WWW-Authenticate: Bearer`` otherwise, errors in the API's JSON shape. prometheus_client's own
``start_http_server`` has no way to check a token, hence this. Request lines are not logged.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import generate_latest

from helixnet.core.prometheus import CONTENT_TYPE, bearer_matches


class MetricsServer:
    """A running metrics endpoint; ``close()`` stops it and frees the port."""

    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve_metrics(host: str, port: int, token: str, registry: Any) -> MetricsServer:
    """Serve ``registry`` (anything with ``collect()``, e.g. ``hx.prometheus.exposition_registry()``)
    at ``http://host:port/metrics`` from a daemon thread; ``port`` 0 picks a free one.

    ``token`` is required: metrics are served to Prometheus with a bearer token or not at all.
    Raises OSError when the address cannot be bound.
    """
    if not token:
        raise ValueError("serve_metrics needs a token (HELIXNET_METRICS_TOKEN)")

    class Handler(BaseHTTPRequestHandler):
        server_version = "helixnet-metrics"
        sys_version = ""

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.split("?", 1)[0].rstrip("/") != "/metrics":
                self._error(404, "Not Found")
            elif not bearer_matches(self.headers.get("Authorization"), token):
                self._error(401, "a valid metrics token is required: Authorization: Bearer <HELIXNET_METRICS_TOKEN>",
                            {"WWW-Authenticate": "Bearer"})  # fmt: skip
            else:
                try:
                    body = generate_latest(registry)
                except Exception:  # a collector's failure is one failed scrape, not a dead thread
                    self._error(500, "internal error")
                    return
                self._send(200, body, CONTENT_TYPE)

        def _error(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
            body = json.dumps({"detail": detail, "errors": []}).encode()
            self._send(status, body, "application/json", headers)

        def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
            """Quiet: a scrape every few seconds is not news."""

    server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
    server = server_class((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="helixnet-metrics", daemon=True)
    thread.start()
    return MetricsServer(server, thread)


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


__all__ = ["MetricsServer", "serve_metrics"]
