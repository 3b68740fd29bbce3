"""``shell``: run one of the commands an admin allowed, on the job's inputs, never through a shell.

``HELIXNET_SHELL_COMMANDS`` maps a command name to an argv template (JSON)::

    {"wc": ["wc", "-l", "{input:content}"],
     "sort": ["sort", "-o", "{output:sorted.txt}", "--", "{input:content}"]}

The template language, in any argv item but the first (the program is always the admin's):

- ``{input:NAME}``: the path of the job's input ``NAME``, copied into the job's scratch folder
  (the job must give it; names are letters, digits and ``_``);
- ``{output:FILENAME}``: a path in the scratch folder; the file written there becomes an output
  artifact after the run (the first declared output is the main one); a missing one fails the job;
- ``{param:NAME}``: the value of ``params.args.NAME`` (required; other args are refused);
- ``{{`` and ``}}``: literal braces. Any other brace is a configuration error at start.

A placeholder may stand alone or inside an item (``--out={output:x.csv}``); either way the value
is one argv item, passed to the program as is with ``shell=False``: ``; rm -rf /`` in an arg stays
one harmless argument. It can still be an option to the program, though: put ``--`` before
whole-item params, or write them as ``--name={param:NAME}``.

The command runs in the scratch folder with a small environment (``PATH``, ``LANG``, ``HOME`` and
``TMPDIR`` in the scratch folder; none of the worker's secrets), in a session of its own: on a
timeout (``HELIXNET_SHELL_TIMEOUT_SECONDS``, or the job's own) or a cancel, its whole process
group gets SIGTERM, then SIGKILL. Its stdout and stderr lines go to the job's log as they come (the
first 1,000 of each). Unconfigured (no commands), the plugin is not offered.
"""

from __future__ import annotations

import mimetypes
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator

from helixnet import ComputePlugin, ConfigurationError, JobContext, PluginError, Settings
from helixnet.plugins.base import INPUT_NAME_PATTERN

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(?P<kind>[a-z]+):(?P<name>[^{}]*)\}|[{}]")
_COMMAND_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_OUTPUT_NAME = re.compile(r"^(?!\.\.?$)[A-Za-z0-9_.][A-Za-z0-9_.-]{0,127}$")
_NAME_RULES = {"input": re.compile(INPUT_NAME_PATTERN), "param": re.compile(INPUT_NAME_PATTERN), "output": _OUTPUT_NAME}
#: Lines of stdout (and of stderr) written to the job's log; the rest are counted, not logged.
MAX_LOGGED_LINES = 1000
#: Longest piece of output read as one log line (a program may write megabytes with no newline).
MAX_LINE_BYTES = 64 * 1024
#: After SIGTERM, the process group gets this long before SIGKILL (inside the runner's 2 s grace).
KILL_GRACE_SECONDS = 1.0


@dataclass(frozen=True)
class Placeholder:
    kind: Literal["input", "output", "param"]
    name: str


@dataclass(frozen=True)
class CommandTemplate:
    """One allowed command, parsed: argv items as literal text and placeholders."""

    name: str
    argv: tuple[tuple[str | Placeholder, ...], ...]

    def names(self, kind: str) -> list[str]:
        found = [
            part.name for item in self.argv for part in item if isinstance(part, Placeholder) and part.kind == kind
        ]
        return list(dict.fromkeys(found))

    def render(self, values: dict[str, dict[str, str]]) -> list[str]:
        """The argv, each placeholder replaced by its value (``values[kind][name]``)."""
        return ["".join(p if isinstance(p, str) else values[p.kind][p.name] for p in item) for item in self.argv]


def parse_commands(raw: dict[str, list[str]]) -> dict[str, CommandTemplate]:
    """The setting's templates, checked; anything malformed is a ConfigurationError naming the command."""
    commands = {}
    for name, argv in raw.items():
        where = ["shell_commands", name]
        if not _COMMAND_NAME.match(name):
            raise ConfigurationError(f"HELIXNET_SHELL_COMMANDS: {name!r} is not a command name (letters, digits, _.-)",
                                     errors=[{"loc": where, "msg": "bad command name"}])  # fmt: skip
        if not argv or not all(isinstance(item, str) for item in argv):
            raise ConfigurationError(f"HELIXNET_SHELL_COMMANDS[{name!r}] must be a non-empty list of strings",
                                     errors=[{"loc": where, "msg": "must be a non-empty list of strings"}])  # fmt: skip
        try:
            items = tuple(_parse_item(item) for item in argv)
        except ValueError as exc:
            raise ConfigurationError(f"HELIXNET_SHELL_COMMANDS[{name!r}]: {exc}",
                                     errors=[{"loc": where, "msg": str(exc)}]) from exc  # fmt: skip
        if not items[0] or any(isinstance(part, Placeholder) for part in items[0]):
            raise ConfigurationError(f"HELIXNET_SHELL_COMMANDS[{name!r}]: the program (first item) must be fixed text",
                                     errors=[{"loc": [*where, 0], "msg": "no placeholder in the program"}])  # fmt: skip
        commands[name] = CommandTemplate(name, items)
    return commands


def _parse_item(item: str) -> tuple[str | Placeholder, ...]:
    parts: list[str | Placeholder] = []
    position = 0
    for match in _PLACEHOLDER.finditer(item):
        if match.start() > position:
            parts.append(item[position : match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append(token[0])
        elif match.group("kind") is None:
            raise ValueError(f"lone {token!r} in {item!r}; write {token * 2} for a literal brace")
        elif match.group("kind") not in _NAME_RULES:
            raise ValueError(f"unknown placeholder {token!r} in {item!r}; use input:, output: or param:")
        elif not _NAME_RULES[match.group("kind")].match(match.group("name")):
            raise ValueError(f"{token!r}: {match.group('name')!r} is not a valid {match.group('kind')} name")
        else:
            parts.append(Placeholder(match.group("kind"), match.group("name")))  # type: ignore[arg-type]
    if position < len(item):
        parts.append(item[position:])
    merged: list[str | Placeholder] = []  # "{{" next to text: one literal string, not three
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return tuple(merged)


class ShellParams(BaseModel):
    """The params' shape; each instance makes a subclass whose ``command`` lists its allowed names."""

    model_config = ConfigDict(extra="forbid")
    commands: ClassVar[dict[str, CommandTemplate]] = {}

    command: str = Field(description="One of the commands the admin allowed (HELIXNET_SHELL_COMMANDS).")
    args: dict[str, str] = Field(default_factory=dict, description="Values for the command's {param:NAME} items.")

    @field_validator("args")
    @classmethod
    def _args_fit_command(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        template = cls.commands.get(info.data.get("command", ""))
        if template is None:
            return value  # the command itself was refused; that error says enough
        wanted = template.names("param")
        if missing := [name for name in wanted if name not in value]:
            raise ValueError(f"command {template.name!r} needs args {', '.join(missing)}")
        if extra := [name for name in value if name not in wanted]:
            raise ValueError(f"command {template.name!r} takes no args {', '.join(extra)} (it takes: "
                             f"{', '.join(wanted) or 'none'})")  # fmt: skip
        return value


class ShellPlugin(ComputePlugin):
    name = "shell"
    title = "Shell command"
    description = (
        "Runs one of the commands the admin allowed (HELIXNET_SHELL_COMMANDS) on the job's inputs, without a shell; "
        "declared output files become artifacts. Inputs under any name are accepted."
    )
    Params = ShellParams
    accepts_any_inputs = True

    def __init__(self) -> None:
        self._commands: dict[str, CommandTemplate] = {}
        self._timeout = 300.0

    def configure(self, settings: Settings) -> bool:
        """Offered only when commands are configured; their names become the params' allowed values."""
        self._commands = parse_commands(settings.shell_commands)
        self._timeout = settings.shell_timeout_seconds
        if not self._commands:
            return False
        names = tuple(sorted(self._commands))
        model = create_model(
            "ShellParams",
            __base__=ShellParams,
            command=(Literal[names], Field(description="One of the commands the admin allowed.")),  # type: ignore[valid-type,arg-type]
        )
        model.commands = self._commands
        self.Params = model  # type: ignore[misc]  # this instance's own model: a bad command is a 422 at submit
        return True

    def run(self, ctx: JobContext, params: ShellParams) -> dict[str, Any]:
        template = self._commands.get(params.command)
        if template is None:  # submitted to an instance configured differently than this worker's
            raise PluginError(f"params.command: {params.command!r} is not allowed on this worker")
        if missing := [name for name in template.names("input") if name not in ctx.inputs]:
            raise PluginError(f"command {template.name!r} needs input(s): {', '.join(missing)}")
        scratch = ctx.scratch_dir
        (scratch / "outputs").mkdir()
        (scratch / "tmp").mkdir()
        paths = {
            "input": self._write_inputs(ctx, scratch / "inputs"),
            "output": {name: str(scratch / "outputs" / name) for name in template.names("output")},
            "param": dict(params.args),
        }
        argv = template.render(paths)
        ctx.log.info(f"running {template.name}: {argv[0]} with {len(argv) - 1} argument(s)")
        started = time.monotonic()
        exit_code, last_error = _run(ctx, argv, scratch, self._timeout, template.name)
        duration = time.monotonic() - started
        if exit_code != 0:
            how = f"exited with status {exit_code}" if exit_code > 0 else f"was killed by {_signal_name(-exit_code)}"
            raise PluginError(f"command {template.name!r} {how}" + (f": {last_error}" if last_error else ""))
        outputs = template.names("output")
        for index, filename in enumerate(outputs):
            path = Path(paths["output"][filename])
            if not path.is_file():
                raise PluginError(f"command {template.name!r} did not write its declared output {filename!r}")
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            with path.open("rb") as source, ctx.outputs.open(filename, content_type, main=index == 0) as out:
                shutil.copyfileobj(source, out, 1024 * 1024)
        ctx.progress(1.0, f"{template.name} exited 0")
        return {"command": template.name, "exit_code": exit_code, "outputs": outputs,
                "duration_seconds": round(duration, 3)}  # fmt: skip

    @staticmethod
    def _write_inputs(ctx: JobContext, folder: Path) -> dict[str, str]:
        """Each input streamed to ``inputs/NAME/<its filename>``: tools that look at extensions still work."""
        paths = {}
        for name, source in ctx.inputs.items():
            filename = Path(source.filename or name).name.lstrip(".") or name
            target = folder / name / filename
            target.parent.mkdir(parents=True)
            with source.open() as data, target.open("wb") as out:
                shutil.copyfileobj(data, out, 1024 * 1024)
            paths[name] = str(target)
        return paths


def _run(ctx: JobContext, argv: list[str], scratch: Path, timeout: float, name: str) -> tuple[int, str]:
    """Run ``argv`` in its own session, its output to the job log; kill its group on timeout or cancel."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": os.environ.get("LANG", "C.UTF-8"),
           "HOME": str(scratch), "TMPDIR": str(scratch / "tmp")}  # fmt: skip
    try:
        process = subprocess.Popen(argv, cwd=scratch, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    except OSError as exc:
        raise PluginError(f"command {name!r} could not start {argv[0]!r}: {exc.strerror or exc}") from exc
    last_error: deque[str] = deque(maxlen=1)
    readers = [
        threading.Thread(target=_pump, args=(process.stdout, ctx.log.info, None), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, ctx.log.warning, last_error), daemon=True),
    ]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None:
            if ctx.cancelled:
                _kill_group(process)
                ctx.check_cancelled()
            if time.monotonic() > deadline:
                _kill_group(process)
                raise PluginError(f"command {name!r} timed out after {timeout:g} s (HELIXNET_SHELL_TIMEOUT_SECONDS)")
            ctx.wait(0.05)
    finally:
        _kill_group(process)  # also what it left running in the background once it exited
        for reader in readers:
            reader.join(KILL_GRACE_SECONDS)
    return process.returncode, last_error[0] if last_error else ""


def _pump(stream: IO[bytes] | None, log: Callable[[str], None], last: deque[str] | None) -> None:
    if stream is None:
        return
    count = 0
    with stream:
        for raw in iter(lambda: stream.readline(MAX_LINE_BYTES), b""):  # a line without end is read in pieces
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            count += 1
            if last is not None and line.strip():
                last.append(line[:2000])
            if count <= MAX_LOGGED_LINES:
                log(line[:2000])
    if count > MAX_LOGGED_LINES:
        log(f"... {count - MAX_LOGGED_LINES} more line(s) not logged")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole process group, SIGKILL to what is left after a grace; a no-op once all are gone."""
    if not _signal_group(process.pid, signal.SIGTERM):
        process.wait()
        return
    deadline = time.monotonic() + KILL_GRACE_SECONDS
    while time.monotonic() < deadline:  # the leader may be gone while its children still run
        process.poll()
        if not _group_alive(process.pid):
            break
        time.sleep(0.02)
    else:
        _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def _group_alive(pgid: int) -> bool:
    """Whether a member of the group still runs; zombies (killed, not yet reaped by init) do not count."""
    if not _signal_group(pgid, 0):
        return False
    proc = Path("/proc")
    if not proc.is_dir():
        return True  # not Linux: a zombie still counts, and the group gets its SIGKILL after the grace
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # it ended while we looked
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def _signal_group(pgid: int, signum: int) -> bool:
    """True when the group still had a member to signal."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
