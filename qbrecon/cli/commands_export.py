"""``qbrecon export`` / ``qbrecon apply-responses``: hand qbXML message sets to your own QuickBooks tooling as
files, and apply the response files back (matched by requestID to the message they answer).

Exit status: 0 when everything applied (or nothing was left to write), 1 when some items failed to export,
2 when a file could not be read or matched (nothing was changed for it).
"""

from __future__ import annotations

import sys

import click

from ..formats import cell_text
from . import main, open_workspace


@main.command("export")
@click.option(
    "--workspace",
    "-w",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The workspace file.",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for the request files (qbxml-request-<message id>.xml).",
)
@click.option(
    "--max-requests",
    default=50,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Requests per message set.",
)
def export_cmd(workspace: str, out: str, max_requests: int) -> None:
    """Write every accepted item that can go now as qbXML request files, marked sent in the export ledger.

    \b
    Examples:
      qbrecon export -w company.duckdb --out outbox
      qbrecon apply-responses -w company.duckdb inbox/*.xml
      qbrecon export -w company.duckdb --out outbox     # the items that waited for their parents

    Items whose parents are still on their way (a bill whose vendor is in this batch) wait for the next
    run, after their parents' responses are applied. A written message stays "sent" until its response
    is applied; its items are never written again meanwhile.
    """

    with open_workspace(workspace) as ws:
        files = ws.export_to_files(out, max_requests=max_requests)
        pending = ws.export_pending()
    for f in files:
        click.echo(str(f))
    click.echo(
        f"{len(files)} message set(s) written; {pending['awaiting']} awaiting responses, "
        f"{pending['exporting']} item(s) Exporting",
        err=True,
    )


@main.command("apply-responses")
@click.option(
    "--workspace",
    "-w",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The workspace file.",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def apply_responses_cmd(workspace: str, files: tuple[str, ...]) -> None:
    """Apply qbXML response files (QuickBooks' answers to files written by ``qbrecon export``).

    Each file is matched to the message it answers by its requestIDs; applying a file twice changes nothing.

    \b
    Example:
      qbrecon apply-responses -w company.duckdb inbox/*.xml

    Exit status 1 when some items failed to export (each is listed on stderr).
    """

    with open_workspace(workspace) as ws:
        outcomes = ws.apply_response_files(list(files))
    decided = outcomes["decision"].value_counts().to_dict() if len(outcomes) else {}
    click.echo(", ".join(f"{n} {k}" for k, n in sorted(decided.items())) or "nothing new to apply")
    failed = outcomes[outcomes["decision"] == "failed"] if len(outcomes) else outcomes
    for row in failed.itertuples():
        message = cell_text(row.status_message) or "(QuickBooks gave no message)"
        click.echo(f"  failed: {row.item_type} {row.procore_id}: {message}", err=True)
    if len(failed):
        sys.exit(1)
