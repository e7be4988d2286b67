"""``qbrecon dashboard``: another name for ``qbrecon serve`` (same options, same default port).

The dashboard and the Web Connector endpoint (``/qbwc``) share one process, since DuckDB lets one process hold
the workspace, so there is one command with two names rather than two servers with different defaults.
"""

from __future__ import annotations

import click

from . import main
from .commands_qbwc import SERVE_PARAMS, serve_cmd

main.add_command(
    click.Command(
        "dashboard",
        callback=serve_cmd,
        params=SERVE_PARAMS,
        help="""Serve the ERP Integrations dashboard (sign in with a Company Directory login); the same
    command as 'qbrecon serve' (the Web Connector endpoint /qbwc runs in the same process).

    \b
    Example:
      qbrecon dashboard --workspace company.duckdb --port 8080
    """,
    )
)
