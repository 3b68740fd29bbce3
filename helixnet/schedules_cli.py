"""``helixnet schedules list|create|show|enable|disable|delete|run``: schedules on the local database.

An admin tool like ``helixnet users``: it acts as the trusted operator (every user's schedules);
``create`` names the owner with ``--owner EMAIL``. Wired into ``cli.py`` by ``register``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from helixnet.commands import EXIT_OK, CommandError, build_hx


def register(commands: Any) -> None:
    """Add ``schedules`` and its subcommands to the CLI."""
    parser = commands.add_parser("schedules", help="manage schedules (cron or interval runs of a plugin)")
    sub = parser.add_subparsers(dest="schedules_command", required=True)
    sub.add_parser("list", help="every schedule, newest first").set_defaults(func=cmd_list)
    create = sub.add_parser("create", help="create a schedule")
    create.add_argument("plugin")
    create.add_argument("--owner", required=True, help="email of the user the schedule (and its jobs) belong to")
    timing = create.add_mutually_exclusive_group(required=True)
    timing.add_argument("--cron", help="cron expression, read in --timezone, e.g. '30 2 * * *'")
    timing.add_argument("--interval", type=int, dest="interval_seconds", help="fire every N seconds")
    create.add_argument("--params", default="{}", help="the plugin's params as a JSON object")
    create.add_argument("--timezone", default="UTC", help="IANA time zone (default UTC)")
    create.add_argument("--catchup", type=int, default=600, dest="catchup_seconds",
                        help="after downtime, run missed fire times this recent (seconds, default 600)")  # fmt: skip
    create.add_argument("--overlap", choices=["skip", "allow", "queue"], default="allow",
                        help="when the previous run is still active (default allow)")  # fmt: skip
    create.add_argument("--disabled", action="store_true", help="create it paused")
    create.set_defaults(func=cmd_create)
    for name, func, text in (("show", cmd_show, "one schedule, as JSON"), ("enable", cmd_enable, "resume it"),
                             ("disable", cmd_disable, "pause it"), ("delete", cmd_delete, "remove it"),
                             ("run", cmd_run, "fire it now, as an extra run")):  # fmt: skip
        command = sub.add_parser(name, help=text)
        command.add_argument("schedule_id")
        command.set_defaults(func=func)


def _hx() -> Any:
    hx = build_hx()
    hx.migrate()
    return hx


def _line(schedule: Any) -> str:
    timing = schedule.cron or f"every {schedule.interval_seconds} s"
    state = "enabled" if schedule.enabled else "disabled"
    nxt = schedule.next_fire_at.isoformat(timespec="seconds") if schedule.next_fire_at else "-"
    return f"{schedule.id}  {schedule.plugin:<12} {timing:<20} {schedule.timezone:<18} {state:<8} next {nxt}"


def cmd_list(args: argparse.Namespace) -> int:
    hx, cursor = _hx(), None
    while True:
        page = hx.schedules.list(None, all_users=True, limit=500, cursor=cursor)
        for schedule in page.items:
            print(_line(schedule))
        if not (cursor := page.next_cursor):
            return EXIT_OK


def cmd_create(args: argparse.Namespace) -> int:
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as exc:
        raise CommandError(f"--params is not JSON: {exc}") from exc
    hx = _hx()
    owner = hx.users.get_by_email(args.owner)
    if owner is None:
        raise CommandError(f"no user {args.owner}")
    schedule = hx.schedules.create(owner, args.plugin, params, cron=args.cron, interval_seconds=args.interval_seconds,
                                   timezone=args.timezone, enabled=not args.disabled,
                                   catchup_seconds=args.catchup_seconds, overlap=args.overlap)  # fmt: skip
    print(f"created schedule {schedule.id}; next fire {schedule.next_fire_at or '- (disabled)'}")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    print(_hx().schedules.get(args.schedule_id).model_dump_json(indent=2))
    return EXIT_OK


def cmd_enable(args: argparse.Namespace) -> int:
    print(_line(_hx().schedules.enable(args.schedule_id)))
    return EXIT_OK


def cmd_disable(args: argparse.Namespace) -> int:
    print(_line(_hx().schedules.disable(args.schedule_id)))
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    _hx().schedules.delete(args.schedule_id)
    print(f"deleted schedule {args.schedule_id}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    job = _hx().schedules.run_now(args.schedule_id)
    print(f"fired: job {job.id} ({job.status.value})")
    return EXIT_OK


__all__ = ["register"]
