"""The ``qbrecon`` command. Each command group lives in its own module under ``qbrecon/cli/``."""

from __future__ import annotations

import sys

import click

from ..errors import QbreconError

# Exit status a scheduler can act on (README "Command reference"); QbreconError subclasses carry their own.
EXIT_OK, EXIT_DATA, EXIT_USAGE, EXIT_DIFFERENCES = 0, 1, 2, 3
EXIT_BUSY, EXIT_SOFTWARE, EXIT_NOPERM, EXIT_IOERR = 75, 70, 77, 74
COMMAND_ORDER = [
    "demo",
    "fixtures",
    "load",
    "queue",
    "send",
    "resend",
    "retrieve",
    "accept",
    "reject",
    "retry",
    "unlink",
    "export",
    "apply-responses",
    "refresh",
    "pull",
    "push",
    "import",
    "serve",
    "qwc",
    "service-user",
    "simulate",
    "dashboard",
    "reconcile",
    "erp-report",
    "budget",
    "job-costs",
    "erp-companies",
    "payroll",
    "settings",
    "user",
    "lockouts",
    "mail",
]


class QbreconGroup(click.Group):
    """Prints errors as one clear line (no traceback unless --debug) and exits with a status a scheduler can
    act on: QbreconError -> its ``exit_code``; a file or folder that cannot be read or written (OSError, a file
    that is not a workspace) -> 2, or 77 when the operating system refuses access; anything else is a bug -> 70.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        """--help lists commands in the order of the flow, not alphabetically."""
        order = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(self.commands, key=lambda name: (order.get(name, len(order)), name))

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """The global options work before or after the command (``qbrecon queue -w W --debug``): they are
        taken out of the arguments wherever they are (up to a ``--``), then the command parses the rest."""
        args = list(args)
        end = args.index("--") if "--" in args else len(args)
        head, tail = args[:end], args[end:]
        rest: list[str] = []
        i = 0
        while i < len(head):
            arg = head[i]
            if arg == "--debug":
                ctx.meta[DEBUG_KEY] = True
            elif arg == "--wait" or arg.startswith("--wait="):
                value = arg.partition("=")[2] if "=" in arg else (head[i + 1] if i + 1 < len(head) else None)
                if "=" not in arg:
                    i += 1
                ctx.meta[WAIT_KEY] = _seconds(value)
            else:
                rest.append(arg)
            i += 1
        return super().parse_args(ctx, rest + tail)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # usage errors (2), --help, Ctrl+C: click reports these itself
        except Exception as exc:
            if ctx.meta.get(DEBUG_KEY) or (ctx.obj and ctx.obj.get("debug")):
                raise
            message, code = _describe(exc)
            click.echo(f"error: {message}", err=True)
            sys.exit(code)


DEBUG_KEY, WAIT_KEY = "qbrecon.debug", "qbrecon.wait"
DEFAULT_WAIT = 10.0  # seconds a command waits for a busy workspace before exit 75


def _seconds(value: str | None) -> float:
    try:
        seconds = float(value) if value is not None else -1.0
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also refuses nan
        raise click.UsageError(f"--wait needs a number of seconds (0 or more), got {value!r}")
    return seconds


def open_workspace(path: str, *, create: bool = False):
    """The workspace for a command, waiting ``--wait`` seconds (default 10) while another process holds it;
    then exit 75 with a message that says how long it waited and how to wait longer."""
    from ..errors import WorkspaceLocked
    from ..workspace_full import Workspace

    ctx = click.get_current_context(silent=True)
    wait = ctx.meta.get(WAIT_KEY, DEFAULT_WAIT) if ctx is not None else DEFAULT_WAIT
    try:
        return Workspace(path, busy_timeout=wait)
    except WorkspaceLocked as exc:
        raise WorkspaceLocked(f"{exc} Waited {wait:g} s; --wait SECONDS waits longer.") from None


def _describe(exc: Exception) -> tuple[str, int]:
    import duckdb

    if isinstance(exc, QbreconError):
        return str(exc), exc.exit_code
    if _disk_full(exc):
        return (
            "the disk is full (no space left on device): nothing more could be written. Free some space and run "
            "the command again; what was committed before stays in the workspace",
            EXIT_IOERR,
        )
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        code = EXIT_NOPERM if isinstance(exc, PermissionError) else EXIT_USAGE
        return f"{exc.strerror or exc}{where}", code
    if isinstance(exc, duckdb.IOException):  # not a workspace file, or its folder does not exist
        return str(exc).removeprefix("IO Error: "), EXIT_USAGE
    return (
        f"unexpected {type(exc).__name__}: {exc} (a bug: run again with --debug and report it)",
        EXIT_SOFTWARE,
    )


def _disk_full(exc: BaseException) -> bool:
    """A full disk, however it surfaces: OSError ENOSPC, or DuckDB's error text (its checkpoint raises a fatal
    error that would otherwise be reported as a bug)."""
    import errno

    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


@click.group(cls=QbreconGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks (before or after the command).")
@click.option(
    "--wait",
    "wait",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help=f"How long to wait for a workspace another process holds (default {DEFAULT_WAIT:g}); then exit 75.",
)
@click.version_option(package_name="qbrecon")
@click.pass_context
def main(ctx: click.Context, debug: bool, wait: float | None) -> None:
    """qbrecon: export Procore to QuickBooks Desktop and reconcile both sides.

    \b
    Examples:
      qbrecon demo --workspace demo.duckdb
      qbrecon fixtures generate --out data --projects 5 --seed 1
      qbrecon load --workspace company.duckdb --procore data/procore --quickbooks data/quickbooks

    \b
    Exit status: 0 ok; 1 data problems (quarantined rows, failed items);
    2 usage or bad input; 3 reconciliation differences over the threshold;
    75 workspace busy (retry later; --wait SECONDS); 74 disk full; 77 permission denied;
    70 a bug (--debug).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug or bool(ctx.meta.get(DEBUG_KEY))
    if wait is not None:
        ctx.meta[WAIT_KEY] = wait


def read_password(env: str, prompt: str, *, confirm: bool = False) -> str:
    """A password from ``$env``, a hidden prompt (terminal) or the first line of standard input.

    Never from argv: the process list shows every user of the machine the command line.
    """
    import os

    from ..errors import InputError

    value = os.environ.get(env)
    if value:
        return value
    if sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise InputError(f"no password given: pipe it on standard input or set ${env}", field="password")
    return line


def _register() -> None:
    # Command modules register themselves on ``main``; --help lists them in COMMAND_ORDER.
    from . import (
        commands_budget,  # noqa: F401
        commands_dashboard,  # noqa: F401
        commands_demo,  # noqa: F401
        commands_export,  # noqa: F401
        commands_fixtures,  # noqa: F401
        commands_job_costs,  # noqa: F401
        commands_load,  # noqa: F401
        commands_procore,  # noqa: F401
        commands_qbwc,  # noqa: F401
        commands_queue,  # noqa: F401
        commands_reconcile,  # noqa: F401
        commands_refresh,  # noqa: F401
        commands_security,  # noqa: F401
        commands_users,  # noqa: F401
    )


_register()
