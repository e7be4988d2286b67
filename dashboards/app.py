"""``panel serve dashboards/app.py --args --workspace company.duckdb``: the dashboard without the Web
Connector endpoint (``qbrecon dashboard`` / ``qbrecon.server`` host both in one process)."""

from __future__ import annotations

import argparse
import sys

import panel as pn

from qbrecon.dashboard import create_app

parser = argparse.ArgumentParser(prog="dashboards/app.py")
parser.add_argument("--workspace", required=True, help="the workspace file (company.duckdb)")
parser.add_argument("--page-size", type=int, default=25)
args, _ = parser.parse_known_args(sys.argv[1:])

# ``panel serve`` runs this file once per session; the workspace is opened once per process and cached.
app = pn.state.as_cached(
    "qbrecon-dashboard-app", lambda: create_app(args.workspace, page_size=args.page_size)
)
app().servable(title="qbrecon dashboard")
