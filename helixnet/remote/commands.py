"""``helixnet remote``: a server's REST API from the shell, through ``helixnet.client``.

The server and the token come from ``HELIXNET_URL`` and ``HELIXNET_TOKEN``, else from what
``helixnet remote login`` saved (``auth.py``). Output is for people (aligned tables) unless
``--json`` asks for one JSON document on stdout. A failure is one line on stderr,
``helixnet remote: error: ...``, and exit 1 (2 for a usage error), never a traceback.

Only argparse is imported here at start-up; the client (httpx) loads when a remote command runs,
so the other ``helixnet`` commands start no slower.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helixnet.commands import EXIT_ERROR, EXIT_OK, EXIT_USAGE, CommandError
from helixnet.errors import HelixNetError
from helixnet.remote.auth import Remote, forget, remember, resolve
from helixnet.remote.output import ProgressBar, dump_json, job_lines, table

PROG = "helixnet remote"


def _client(remote: Remote) -> Any:
    from helixnet.client import Client

    return Client(remote.url, remote.token)


def _connected(args: argparse.Namespace) -> Any:
    remote = resolve(args.url)
    if remote.token is None:
        raise CommandError(f"not signed in to {remote.url}: run `helixnet remote login` or set HELIXNET_TOKEN")
    return _client(remote)


# -- commands ------------------------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    remote = resolve(args.url)
    with _client(remote) as client:  # a malformed URL is refused before anything is asked
        email = args.email or _ask("Email: ")
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            password = getpass.getpass("Password: ")
        else:
            raise CommandError("no terminal to ask for the password; use --password-stdin", EXIT_USAGE)
        if not password:
            raise CommandError("no password given", EXIT_USAGE)
        token = client.login(email, password)
        user = client.me()
    path = remember(remote.url, token, user.email)
    if args.json:
        dump_json({"url": remote.url, "email": user.email, "config": str(path)})
    else:
        print(f"signed in to {remote.url} as {user.email}; token saved in {path}")
    return EXIT_OK


def _ask(prompt: str) -> str:
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for the email; use --email", EXIT_USAGE)
    answer = input(prompt).strip()
    if not answer:
        raise CommandError("no email given", EXIT_USAGE)
    return answer


def cmd_logout(args: argparse.Namespace) -> int:
    removed = forget()
    if args.json:
        dump_json({"removed": str(removed) if removed else None})
    else:
        print(f"signed out: removed {removed}" if removed else "not signed in: no saved token")
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    with _connected(args) as client:
        plugins = client.plugins()
    if args.json:
        dump_json(plugins)
    else:
        rows = [[p["name"], p.get("title") or "", p.get("package") or "-", p.get("version") or ""] for p in plugins]
        table(["NAME", "TITLE", "PACKAGE", "VERSION"], rows)
    return EXIT_OK


def cmd_submit(args: argparse.Namespace) -> int:
    from helixnet.core.validation import is_uuid

    params = dict(_pairs(args.param, "-p"))
    inputs: dict[str, str] = {}
    files: dict[str, Path] = {}
    for name, value in _pairs(args.input, "-i"):
        path = Path(value).expanduser()
        if path.is_file():
            files[name] = path
        elif is_uuid(value):
            inputs[name] = value  # an artifact already on the server
        else:
            raise CommandError(f"-i {name}: no such file: {value}", EXIT_USAGE)
    with _connected(args) as client:
        job = client.submit(args.plugin, params, inputs, files, args.priority, args.idempotency_key)
        if args.wait:
            bar = ProgressBar(sys.stderr)
            try:
                job = client.wait(job.id, timeout=args.timeout, on_progress=bar.update)
            finally:
                bar.close()
    _show_job(job, args.json)
    if args.wait and job.status.value != "SUCCESS":
        why = f": {' '.join(job.error.split())}" if job.error else ""
        print(f"{PROG}: error: job {job.id} ended {job.status.value}{why}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _pairs(items: list[str] | None, flag: str) -> list[tuple[str, Any]]:
    """``key=value`` options; a -p value is JSON when it parses as JSON (5, true, [1]), else a string."""
    pairs = []
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"{flag} expects name=value, not {item!r}", EXIT_USAGE)
        if flag == "-p":
            try:
                pairs.append((key.strip(), json.loads(value)))
            except ValueError:
                pairs.append((key.strip(), value))
        else:
            pairs.append((key.strip(), value))
    return pairs


def cmd_jobs(args: argparse.Namespace) -> int:
    with _connected(args) as client:
        jobs = list(client.jobs(status=args.status, plugin=args.plugin, q=args.q, limit=args.limit))
    if args.json:
        dump_json([job.model_dump(mode="json") for job in jobs])
        return EXIT_OK
    rows = [[job.id, job.status.value, job.plugin, f"{job.progress:.0%}",
             job.created_at.strftime("%Y-%m-%d %H:%M:%S"), (job.error or job.message or "")[:60]]
            for job in jobs]  # fmt: skip
    table(["ID", "STATUS", "PLUGIN", "PROGRESS", "CREATED", "MESSAGE"], rows)
    return EXIT_OK


def cmd_get(args: argparse.Namespace) -> int:
    with _connected(args) as client:
        job = client.job(args.id)
    _show_job(job, args.json)
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    with _connected(args) as client:
        job = client.cancel(args.id)
    if args.json:
        dump_json(job.model_dump(mode="json"))
    else:
        state = "cancel requested" if job.status.value == "RUNNING" else job.status.value
        print(f"job {job.id}: {state}")
    return EXIT_OK


def cmd_download(args: argparse.Namespace) -> int:
    dest = Path(args.output) if args.output else Path.cwd()
    with _connected(args) as client:
        written = client.download(args.artifact_id, dest)
    size = Path(written).stat().st_size
    if args.json:
        dump_json({"path": str(written), "size": size})
    else:
        print(f"{written} ({size} bytes)")
    return EXIT_OK


def _show_job(job: Any, as_json: bool) -> None:
    if as_json:
        dump_json(job.model_dump(mode="json"))
    else:
        print("\n".join(job_lines(job)))


# -- parser --------------------------------------------------------------------------------------------


def register(commands: Any) -> None:
    """Add ``remote`` and its subcommands to the ``helixnet`` parser."""
    remote = commands.add_parser(
        "remote", help="use a HelixNet server's REST API (HELIXNET_URL, HELIXNET_TOKEN or a saved login)",
        description="Talk to a HelixNet server over its REST API. The server is HELIXNET_URL (or --url), the "
        "token HELIXNET_TOKEN or the one `helixnet remote login` saved.",
    )  # fmt: skip
    sub = remote.add_subparsers(dest="remote_command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="the server, e.g. http://127.0.0.1:8000 (default HELIXNET_URL or the saved one)")
    common.add_argument("--json", action="store_true", help="print one JSON document for scripts")

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help, parents=[common])
        parser.set_defaults(func=_guarded(func))
        return parser

    login = add("login", cmd_login, "sign in and save the token (0600) in the user's config folder")
    login.add_argument("--email", help="the account's email (asked when not given)")
    login.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add("logout", cmd_logout, "forget the saved token")
    add("plugins", cmd_plugins, "the plugins the server runs")
    submit = add("submit", cmd_submit, "submit a job, uploading its input files")
    submit.add_argument("plugin")
    submit.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                        help="a param; the value is read as JSON when it is JSON, else as a string")  # fmt: skip
    submit.add_argument("-i", "--input", action="append", metavar="NAME=PATH",
                        help="an input file to upload (or the id of an artifact already uploaded)")  # fmt: skip
    submit.add_argument("--wait", action="store_true", help="wait for the job to finish and print it")
    submit.add_argument("--timeout", type=float, default=None, help="with --wait: give up after these seconds")
    submit.add_argument("--priority", type=int, default=None, help="-100 to 100, higher runs first")
    submit.add_argument("--idempotency-key", default=None, help="a retried submit with the same key returns the job")
    jobs = add("jobs", cmd_jobs, "list your jobs, newest first")
    jobs.add_argument("--status", type=str.upper, choices=["PENDING", "WAITING", "RUNNING", "SUCCESS", "FAILURE", "CANCELLED"])
    jobs.add_argument("--plugin")
    jobs.add_argument("-q", help="search the id prefix, plugin, message and error")
    jobs.add_argument("--limit", type=_positive, default=20, help="at most this many jobs (default 20)")
    get = add("get", cmd_get, "one job, with its result and output artifacts")
    get.add_argument("id")
    cancel = add("cancel", cmd_cancel, "cancel a job")
    cancel.add_argument("id")
    download = add("download", cmd_download, "download an artifact")
    download.add_argument("artifact_id")
    download.add_argument("-o", "--output", help="a file or folder (default: the artifact's filename here)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Every failure as one line under this command's name: API errors exit 1, usage errors 2."""

    def run(args: argparse.Namespace) -> int:
        if not getattr(args, "verbose", False):  # httpx logs every request at INFO: only with -v
            logging.getLogger("httpx").setLevel(logging.WARNING)
        try:
            return func(args)
        except CommandError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return exc.code
        except HelixNetError as exc:
            print(f"{PROG}: error: {_describe(exc)}", file=sys.stderr)
            return EXIT_ERROR
        except OSError as exc:  # a destination that cannot be written, a full disk
            print(f"{PROG}: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
            return EXIT_ERROR

    run.__name__ = func.__name__
    return run


def _describe(exc: HelixNetError) -> str:
    """The detail, and the fields it does not name yet (one line: a script reads the first line)."""
    detail = " ".join(exc.detail.split())
    fields = [f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg', '')}" for e in exc.errors]
    missing = [f for f in fields if f not in detail]
    return "; ".join([detail, *missing]) if missing else detail


__all__ = ["register"]
