"""``helixnet`` command line: a thin layer over the services.

Every command reads its settings from ``HELIXNET_*`` environment variables (and ``.env``); errors
print one clear line to stderr and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from helixnet.commands import EXIT_ERROR, EXIT_OK, EXIT_USAGE, CommandError, build_hx, safe_url
from helixnet.errors import HelixNetError
from helixnet.logs import configure_logging

# -- commands ------------------------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    hx = build_hx()
    hx.migrate()
    from helixnet.core.migrate import current_revision

    print(f"database {safe_url(hx.settings.resolved_database_url)} is at revision {current_revision(hx.db.engine)}")
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    """One worker process, or (``--processes P`` > 1) a supervisor of P; signals in helixnet.supervisor."""
    from helixnet.supervisor import Supervisor, run_worker_process
    from helixnet.worker.pool import process_worker_name

    if args.processes == 1:
        # Names this process's PostgreSQL connections (libpq reads PGAPPNAME): operators, and the
        # tests that kill them, find a worker's connections in pg_stat_activity.
        os.environ.setdefault("PGAPPNAME", f"helixnet-worker {process_worker_name()}")
    hx = build_hx()
    grace = hx.settings.worker_grace_seconds if args.grace is None else args.grace
    if args.processes > 1:
        supervisor = Supervisor(hx, processes=args.processes, concurrency=args.concurrency, grace=grace,
                                sweeper=not args.no_sweeper, verbose=args.verbose)  # fmt: skip
        if args.metrics_port is None:
            return supervisor.run()
        with _supervisor_metrics(hx, supervisor, args.metrics_host, args.metrics_port):
            return supervisor.run()
    metrics = _start_metrics(hx, args.metrics_host, args.metrics_port) if args.metrics_port is not None else None

    def describe(name: str) -> str:
        return (f"helixnet worker {name}: {args.concurrency} thread(s), queue {safe_url(hx.settings.queue_url)}, "
                f"database {safe_url(hx.settings.resolved_database_url)}, plugins {', '.join(hx.plugins)}, "
                f"grace {grace:g} s")  # fmt: skip

    try:
        return run_worker_process(hx, concurrency=args.concurrency, grace=grace, sweeper=not args.no_sweeper,
                                  supervisor_pid=args.supervisor_pid, describe=describe)  # fmt: skip
    finally:
        if metrics is not None:
            metrics.close()


@contextlib.contextmanager
def _supervisor_metrics(hx: Any, supervisor: Any, host: str, port: int) -> Iterator[None]:
    """One ``/metrics`` for all children: prometheus_client's multiprocess mode, served by the supervisor.

    The children write their counters to files in one folder (``PROMETHEUS_MULTIPROC_DIR``, or a
    temporary one removed at the end); a scrape of the supervisor sums them.
    """
    from helixnet.core.prometheus import MULTIPROC_ENV, child_exited, disable_multiprocess, prepare_multiprocess_dir

    _metrics_token(hx)  # refused before anything is made
    given = os.environ.get(MULTIPROC_ENV)
    folder = prepare_multiprocess_dir(given or tempfile.mkdtemp(prefix="helixnet-metrics-"))
    supervisor.on_child_exit.append(lambda pid, _code: child_exited(pid))
    try:
        server = _start_metrics(hx, host, port)
        try:
            yield
        finally:
            server.close()
    finally:
        if not given:
            shutil.rmtree(folder, ignore_errors=True)
            disable_multiprocess()


def _metrics_token(hx: Any) -> str:
    from helixnet.core.prometheus import metrics_token

    token = metrics_token(hx.settings)
    if token is None:
        raise CommandError("--metrics-port needs HELIXNET_METRICS_TOKEN: metrics are served with a token or not at all",
                           EXIT_USAGE)  # fmt: skip
    return token


def _start_metrics(hx: Any, host: str, port: int) -> Any:
    """``GET /metrics`` of this worker process (all processes' sums in multiprocess mode)."""
    from helixnet.metrics_server import serve_metrics

    token = _metrics_token(hx)
    try:
        server = serve_metrics(host, port, token, hx.prometheus.exposition_registry())
    except OSError as exc:
        raise CommandError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from exc
    shown = f"[{server.host}]" if ":" in server.host else server.host
    print(f"helixnet worker metrics: http://{shown}:{server.port}/metrics", flush=True)
    return server


def cmd_plugins(args: argparse.Namespace) -> int:
    hx = build_hx()
    rows = []
    for name in hx.plugins:
        info = hx.plugins.info(name)
        rows.append({"name": name, "title": info.plugin.title, "package": info.package, "version": info.version,
                     "entry_point": info.entry_point})  # fmt: skip
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{row['name']:<16} {row['package'] or '-'} {row['version'] or ''}  {row['title']}")
    return EXIT_OK


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("no password on standard input")
        return password
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for a password; use --password-stdin", EXIT_USAGE)
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise CommandError("the passwords differ")
    return first


def cmd_users_create(args: argparse.Namespace) -> int:
    password = _read_password(args)
    hx = build_hx()
    hx.migrate()
    user = hx.users.create(email=args.email, password=password, fullname=args.fullname, is_admin=args.admin)
    print(f"created {'admin' if user.is_admin else 'user'} {user.email} ({user.id})")
    return EXIT_OK


def cmd_users_list(args: argparse.Namespace) -> int:
    hx = build_hx()
    hx.migrate()
    for user in hx.users.list(limit=10_000):
        flags = ",".join(f for f, on in (("admin", user.is_admin), ("inactive", not user.is_active)) if on)
        print(f"{user.id}  {user.email:<40} {user.fullname or '':<30} {flags}")
    return EXIT_OK


def cmd_users_seed(args: argparse.Namespace) -> int:
    """Create the accounts listed in a JSON file; running it twice changes nothing."""
    try:
        entries = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CommandError(f"cannot read {args.file}: {exc}") from exc
    if isinstance(entries, dict):
        entries = entries.get("users", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise CommandError(f"{args.file}: expected a list of {{email, password, fullname, is_admin}} objects")
    hx = build_hx()
    hx.migrate()
    failed = 0
    for number, entry in enumerate(entries, 1):
        email = str(entry.get("email", ""))
        if hx.users.get_by_email(email) is not None:
            print(f"{email}: already exists")
            continue
        try:
            hx.users.create(email=email, password=str(entry.get("password", "")), fullname=entry.get("fullname"),
                            is_admin=bool(entry.get("is_admin", False)))  # fmt: skip
            print(f"{email}: created")
        except HelixNetError as exc:
            failed += 1
            print(f"entry {number} ({email or 'no email'}): {exc.detail}", file=sys.stderr)
    return EXIT_ERROR if failed else EXIT_OK


# -- parser --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="helixnet",
        description="HelixNet job runner. Settings come from HELIXNET_* environment variables and .env.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    worker = commands.add_parser("worker", help="run worker threads against the configured queue and database")
    worker.add_argument("-c", "--concurrency", type=_positive_int, default=2, help="worker threads (default 2)")
    worker.add_argument("--no-sweeper", action="store_true", help="do not take part in sweeping lost jobs")
    worker.add_argument("-p", "--processes", type=_at_least_one, default=1,
                        help="worker processes, run and restarted by a supervisor (default 1: this process)")  # fmt: skip
    worker.add_argument("--grace", type=_seconds, default=None,
                        help="seconds running jobs get to finish on SIGTERM before they are handed back "
                             "(default HELIXNET_WORKER_GRACE_SECONDS, 30)")  # fmt: skip
    worker.add_argument("--supervisor-pid", type=int, default=None, help=argparse.SUPPRESS)  # set for its children
    worker.add_argument("--metrics-port", type=_port, default=None,
                        help="serve GET /metrics (Prometheus) on this port; needs HELIXNET_METRICS_TOKEN")  # fmt: skip
    worker.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port (default 127.0.0.1)")
    worker.set_defaults(func=cmd_worker)

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="migrate the schema to the newest revision").set_defaults(func=cmd_db_upgrade)

    plugins = commands.add_parser("plugins", help="list the compute plugins that load, and from which package")
    plugins.add_argument("--json", action="store_true")
    plugins.set_defaults(func=cmd_plugins)

    users = commands.add_parser("users", help="manage user accounts").add_subparsers(
        dest="users_command", required=True
    )
    create = users.add_parser("create", help="create a user (asks for the password)")
    create.add_argument("email")
    create.add_argument("--admin", action="store_true", help="make the user an admin")
    create.add_argument("--fullname")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.set_defaults(func=cmd_users_create)
    users.add_parser("list", help="list users").set_defaults(func=cmd_users_list)
    seed = users.add_parser("seed", help="create the users of a JSON file; idempotent")
    seed.add_argument("file")
    seed.set_defaults(func=cmd_users_seed)
    _register_extra(commands)
    from helixnet.remote import register as register_remote  # argparse only: the client loads when used

    register_remote(commands)
    return parser


def _register_extra(commands: Any) -> None:
    """Commands that live in their own modules (serve), registered when importable."""
    try:
        from helixnet.serve import register
    except ImportError:
        return
    register(commands)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:  # NaN too
        raise argparse.ArgumentTypeError("must be 0 or more seconds")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError("must be a port number, 0 to 65535")
    return value


def _log_format() -> str:
    """HELIXNET_LOG_FORMAT, read before any command runs; bad settings are reported by the command itself."""
    from helixnet.core.config import Settings

    try:
        return Settings().log_format
    except ValidationError:
        return "text"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(_log_format(), logging.DEBUG if args.verbose else logging.INFO)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except CommandError as exc:
        print(f"helixnet: error: {exc}", file=sys.stderr)
        return exc.code
    except HelixNetError as exc:
        print(f"helixnet: error: {exc.detail}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
