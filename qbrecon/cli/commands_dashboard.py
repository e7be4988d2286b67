"""``qbrecon dashboard``: serve the approver's dashboard for one workspace.

It is ``qbrecon serve`` with the dashboard: the dashboard and the Web Connector endpoint (``/qbwc``) share one
process, since DuckDB lets one process hold the workspace.
"""

from __future__ import annotations

import click

from . import main


@main.command("dashboard")
@click.option(
    "--workspace",
    "-w",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The workspace file (company.duckdb); this process holds it while serving.",
)
@click.option("--port", "-p", default=5006, show_default=True, type=int, help="TCP port to listen on.")
@click.option(
    "--host",
    "--address",
    "address",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (loopback by default; put a TLS proxy in front for other machines).",
)
def dashboard(workspace: str, port: int, address: str) -> None:
    """Serve the ERP Integrations dashboard (sign in with a Company Directory login).

    \b
    Example:
      qbrecon dashboard --workspace company.duckdb --port 5006
    """
    from ..server import serve

    click.echo(f"qbrecon dashboard on http://{address}:{port}/ (workspace {workspace}); Ctrl+C stops it")
    serve(workspace, host=address, port=port, dashboard=True)
