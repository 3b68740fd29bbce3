"""``helixnet serve``: the UI at ``/`` and the API at ``/api/v1`` with embedded workers, on one port.

Kept out of ``cli.py`` so the CLI's other commands never import the web stack.
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import socket
from typing import Any

from helixnet.commands import EXIT_OK, CommandError, build_hx

log = logging.getLogger(__name__)


def register(commands: Any) -> None:
    """Add ``serve`` to the CLI's subcommands."""
    serve = commands.add_parser(
        "serve",
        help="run the REST API with embedded workers (HELIXNET_* settings)",
        description="Serve the REST API and its docs, with embedded worker threads and the sweeper. "
        "On first start with no users an admin is created from HELIXNET_ADMIN_EMAIL and "
        "HELIXNET_ADMIN_PASSWORD; without a password one is generated and printed once.",
    )
    serve.add_argument("--host", default=None, help="address to listen on (default HELIXNET_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default HELIXNET_PORT or 8000; 0 picks one)")
    serve.add_argument("--workers", type=_count, default=None,
                       help="embedded worker threads (default HELIXNET_WORKERS or 2; 0 for none)")  # fmt: skip
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(func=cmd_serve)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, so the printed URL carries the real port (also for --port 0)."""
    try:
        family, kind, proto, _, _ = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        # proto must say TCP: asyncio sets TCP_NODELAY only on such sockets, and without it each
        # keep-alive response waited ~40 ms on Nagle and delayed ACKs (measured).
        sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from helixnet.api import API_PREFIX, create_app
    from helixnet.core.prometheus import metrics_token as settings_token

    hx = build_hx()
    host = args.host or hx.settings.host
    port = hx.settings.port if args.port is None else args.port
    sock = bind(host, port)
    hx.start(workers=args.workers)
    try:
        _first_admin(hx)
        app = create_app(hx, root_redirect=False)
        from helixnet.ui import mount_ui  # the UI at /, after the API's routes

        mount_ui(app, hx)
        # What exists now lives as long as the process; frozen, it is out of the collector's sight and
        # a full collection scans only what requests made (200-340 ms pauses on UI pages, measured).
        gc.collect()
        gc.freeze()
        shown = f"[{host}]" if ":" in host else host
        base = hx.settings.public_url or f"http://{shown}:{sock.getsockname()[1]}"
        workers = hx.pool.threads if hx.pool is not None else 0
        print(f"HelixNet UI:   {base}/\nHelixNet API:  {base}{API_PREFIX}\nAPI docs:      {base}{API_PREFIX}/docs\n"
              f"Embedded workers: {workers}  (Ctrl+C to stop)", flush=True)  # fmt: skip
        if settings_token(hx.settings):
            print(f"Metrics:       {base}/metrics  (Authorization: Bearer $HELIXNET_METRICS_TOKEN)", flush=True)
        settings = hx.settings
        # Proxy headers are the app's own job (helixnet.api.middleware, HELIXNET_FORWARDED_ALLOW_IPS), so
        # they hold the same when the app is mounted elsewhere; uvicorn must not apply them a second time.
        config = uvicorn.Config(app, log_level=args.log_level, lifespan="on", access_log=False,
                                server_header=False, proxy_headers=False,
                                limit_concurrency=settings.server_max_concurrency,
                                timeout_keep_alive=settings.server_keep_alive_seconds,
                                # JSON logs: uvicorn's own loggers go through ours instead of its text config.
                                log_config=None if settings.log_format == "json" else LOGGING_CONFIG)  # fmt: skip
        # uvicorn re-raises the signal that stopped it once it is done; with the default handler
        # that would kill us before hx.stop() requeues running jobs. A no-op handler lets us finish.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _noted)
        uvicorn.Server(config).run(sockets=[sock])
        print("HelixNet: stopping; running jobs are handed back to the queue", flush=True)
    finally:
        hx.stop(hx.settings.worker_grace_seconds)  # as `helixnet worker` does: finish, or hand back
        sock.close()
    return EXIT_OK


def _noted(signum: int, _frame: Any) -> None:
    """Handler uvicorn's re-raised stop signal lands on after the server has shut down."""


def _first_admin(hx: Any) -> None:
    """With no users yet, create the admin; a generated password is shown here once, never logged."""
    settings = hx.settings
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    created = hx.users.ensure_admin(settings.admin_email, password)
    if created is None:
        return
    user, generated = created
    if generated:
        print(f"Created admin {user.email} with password: {generated}\n"
              "  (shown once; change it with POST /api/v1/users/me/password)", flush=True)  # fmt: skip
    else:
        print(f"Created admin {user.email} from HELIXNET_ADMIN_EMAIL / HELIXNET_ADMIN_PASSWORD", flush=True)


__all__ = ["bind", "cmd_serve", "register"]
