"""``qbrecon user set-password``: give a Company Directory user a dashboard sign-in.

The password never goes on the command line (the process list shows it): it comes from ``$QBRECON_USER_PASSWORD``,
a hidden prompt on a terminal, or the first line of standard input.
"""

from __future__ import annotations

import click

from . import main, open_workspace, read_password

PASSWORD_ENV = "QBRECON_USER_PASSWORD"


@main.group("user")
def user_group() -> None:
    """Dashboard sign-in for Company Directory users (the Procore users table)."""


@user_group.command("set-password")
@click.option(
    "--workspace",
    "-w",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The workspace file (with the Procore users loaded).",
)
@click.option("--user", "-u", required=True, help="The user's Procore login (e-mail) or id.")
@click.option("--by", required=True, help="The ERP Integrations admin making the change (login or id).")
def set_password_cmd(workspace: str, user: str, by: str) -> None:
    """Set a user's dashboard password (at least 8 characters; stored as a salted scrypt hash).

    What the user may do once signed in comes from Procore's permissions: 'Standard' or 'Admin' on the ERP
    Integrations tool plus 'Can Push to Accounting' to accept and reject.

    \b
    Example:
      printf '%s\\n' "$PW" | qbrecon user set-password -w company.duckdb \\
          --user james.bennett@example-builders.com --by maria.alvarez@example-builders.com
    """

    password = read_password(PASSWORD_ENV, "Dashboard password", confirm=True)
    with open_workspace(workspace) as ws:
        ws.set_user_password(user, password, by=by)
    click.echo(f"dashboard password set for {user}")


@user_group.command("tools")
@click.option(
    "--workspace",
    "-w",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The workspace file (with the Procore users loaded).",
)
@click.option("--user", "-u", required=True, help="The user's Procore login (e-mail) or id.")
@click.option(
    "--set",
    "levels",
    multiple=True,
    metavar="TOOL=LEVEL",
    help="A tool permission, e.g. commitments=admin (repeatable; level none removes it).",
)
@click.option("--by", default=None, help="The ERP Integrations admin making the change (needed with --set).")
def tools_cmd(workspace: str, user: str, levels: tuple[str, ...], by: str | None) -> None:
    """Show or set a user's permission levels on Procore tools (Projects, Commitments, Budget, ...).

    Sending, retrieving and re-sending an item to ERP needs 'Admin' on the tool the item lives in; the
    project-level ERP reports need Reports and Budget / Prime Contract levels. The ERP Integrations level and
    'Can Push to Accounting' come from the Procore users table.

    \b
    Example:
      qbrecon user tools -w company.duckdb --user carlos.delgado@example-builders.com \\
          --set commitments=admin --set projects=admin --by maria.alvarez@example-builders.com
    """
    from ..erp.permissions import LEVEL_LABELS, TOOLS, find_user
    from ..workspace_full import Workspace

    parsed = {}
    for item in levels:
        tool, sep, level = item.partition("=")
        if not sep:
            raise click.UsageError(f"--set takes TOOL=LEVEL, got {item!r}")
        parsed[tool.strip().lower()] = level.strip().lower()
    if parsed and not by:
        raise click.UsageError("--by is required with --set (an ERP Integrations admin)")
    with Workspace(workspace) as ws:
        now = ws.set_tool_permissions(user, parsed, by=by) if parsed else find_user(ws.store, user)["tools"]
    for tool, label in TOOLS.items():
        if tool != "erp_integrations":
            click.echo(f"{label}: {LEVEL_LABELS[now.get(tool, 'none')]}")
