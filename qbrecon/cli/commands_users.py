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
@click.option("--workspace", "-w", required=True, type=click.Path(dir_okay=False, exists=True),
              help="The workspace file (with the Procore users loaded).")  # fmt: skip
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
