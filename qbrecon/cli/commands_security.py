"""``qbrecon lockouts list|clear``: accounts and addresses locked out after repeated failed logins."""

from __future__ import annotations

import click

from . import main


@main.group("lockouts")
def lockouts_group() -> None:
    """Lockouts after repeated failed dashboard sign-ins or Web Connector logins (brute-force throttling)."""


@lockouts_group.command("list")
@click.option(
    "--workspace",
    "-w",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The workspace file.",
)
@click.option("--all", "include_expired", is_flag=True, help="Include lockouts that have already ended.")
def list_cmd(workspace: str, include_expired: bool) -> None:
    """Show who is locked out (channel dashboard or qbwc; kind user or address) and until when.

    \b
    Example:
      qbrecon lockouts list -w company.duckdb
    """
    from ..workspace_full import Workspace

    with Workspace(workspace) as ws:
        frame = ws.login_lockouts(include_expired=include_expired)
    if frame.empty:
        click.echo("no lockouts")
        return
    for row in frame.itertuples(index=False):
        click.echo(
            f"{row.channel}\t{row.kind}\t{row.who!r}\t{row.failures} failed\t"
            f"locked {row.locked_at:%Y-%m-%d %H:%M:%S %Z} until {row.locked_until:%Y-%m-%d %H:%M:%S %Z}"
        )


@lockouts_group.command("clear")
@click.option(
    "--workspace",
    "-w",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The workspace file.",
)
@click.option("--who", help="A login or an address (default: every lockout).")
@click.option("--channel", type=click.Choice(["dashboard", "qbwc"]), help="Only this channel.")
@click.option("--by", required=True, help="The ERP Integrations admin lifting the lockout (login or id).")
def clear_cmd(workspace: str, who: str | None, channel: str | None, by: str) -> None:
    """Lift lockouts so the user or address may try again at once.

    \b
    Example:
      qbrecon lockouts clear -w company.duckdb --who ann@example.com --by maria.alvarez@example-builders.com
    """
    from ..workspace_full import Workspace

    with Workspace(workspace) as ws:
        n = ws.clear_login_lockouts(who, channel, by=by)
    click.echo(f"{n} lockout(s) lifted")
