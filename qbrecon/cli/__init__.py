"""The ``qbrecon`` command. Each command group lives in its own module under ``qbrecon/cli/``."""

from __future__ import annotations

import sys

import click

from ..errors import QbreconError


class QbreconGroup(click.Group):
    """Prints QbreconError as one clear line (no traceback unless --debug) and exits with its code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except QbreconError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=QbreconGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@click.version_option(package_name="qbrecon")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """qbrecon: export Procore to QuickBooks Desktop and reconcile both sides.

    \b
    Examples:
      qbrecon demo --workspace demo.duckdb
      qbrecon fixtures generate --out data --projects 5 --seed 1
      qbrecon load --workspace company.duckdb --procore data/procore --quickbooks data/quickbooks
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _register() -> None:
    # Command modules register themselves on ``main``; import order is help order.
    from . import commands_load  # noqa: F401
    from . import commands_queue  # noqa: F401
    from . import commands_qbwc  # noqa: F401
    from . import commands_dashboard  # noqa: F401
    from . import commands_fixtures  # noqa: F401
    from . import commands_reconcile  # noqa: F401


_register()
