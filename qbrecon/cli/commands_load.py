"""``qbrecon load``: load a Procore export and/or QuickBooks qbXML responses into a workspace.

Exit status: 0 when everything loaded, 1 when rows were quarantined or QuickBooks reported errors, 2 when a
file could not be read at all (nothing was written).
"""

from __future__ import annotations

import json
import sys

import click

from ..errors import InputError
from ..formats import csv_text
from . import main, open_workspace


@main.command("load")
@click.option(
    "--workspace",
    "-w",
    required=True,
    type=click.Path(dir_okay=False),
    help="The workspace file (created when missing).",
)
@click.option(
    "--procore",
    "procore",
    type=click.Path(exists=True),
    help="A Procore export folder (one JSON file or page folder per API resource).",
)
@click.option(
    "--quickbooks",
    "quickbooks",
    type=click.Path(exists=True),
    help="A folder of qbXML response files (*.xml) or one response file.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="How to print the load report.",
)
def load_cmd(workspace: str, procore: str | None, quickbooks: str | None, fmt: str) -> None:
    """Load both sides into the workspace; loading the same files again updates rows, never duplicates them.

    \b
    Examples:
      qbrecon load -w company.duckdb --procore data/procore --quickbooks data/quickbooks
      qbrecon load -w company.duckdb --quickbooks BillQueryRs_0001.xml --format json

    Rows that fail validation are kept in the quarantine table (named by file, row and field); the
    command then exits with status 1.
    """
    if not procore and not quickbooks:
        raise InputError("nothing to load: give --procore DIR and/or --quickbooks PATH")

    reports = []
    with open_workspace(workspace) as ws:
        if procore:
            reports.append(ws.load_procore(procore))
        if quickbooks:
            reports.append(ws.load_quickbooks(quickbooks))
    if fmt == "json":
        click.echo(json.dumps([r.to_dict() for r in reports], default=str, indent=2))
    elif fmt == "csv":
        for i, r in enumerate(reports):
            frame = r.to_frame()
            frame.insert(0, "side", r.side)
            frame.insert(0, "load_id", r.load_id)
            click.echo(csv_text(frame, header=(i == 0)), nl=False)
    else:
        click.echo("\n\n".join(str(r) for r in reports))
    if not all(r.ok for r in reports):
        sys.exit(1)
