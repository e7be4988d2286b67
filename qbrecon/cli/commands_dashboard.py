"""``qbrecon dashboard``: serve the approver's dashboard for one workspace.

When ``qbrecon.server`` is installed it serves the dashboard and the Web Connector endpoint (``/qbwc``) in one
process, since DuckDB lets one process hold the workspace; otherwise it serves the dashboard alone.
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
    try:  # one process for the dashboard and the Web Connector endpoint (/qbwc)
        from ..server import serve
    except ImportError:
        serve = None
    click.echo(f"qbrecon dashboard on http://{address}:{port}/ (workspace {workspace}); Ctrl+C stops it")
    if serve is not None:
        serve(workspace, host=address, port=port, dashboard=True)
        return
    from ..dashboard.serve import serve_dashboard
    from ..workspace_full import Workspace

    ws = Workspace(workspace)
    try:
        serve_dashboard(ws, port=port, address=address, threaded=False, start=True)
    finally:
        ws.close()
