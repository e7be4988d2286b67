"""``qbrecon refresh``: schedule a refresh of the QuickBooks side for the next Web Connector session.

The Web Connector reads the queued kinds (customers and jobs, vendors, items, estimates, purchase orders, bills,
bill payments, time) page by page after that session's exports; ``--status`` shows how far it got.
"""

from __future__ import annotations

import sys

import click

from . import main, open_workspace
from .output import emit

_COLUMNS = [
    "query",
    "state",
    "from_modified_text",
    "pages",
    "rows_read",
    "rows_loaded",
    "rows_updated",
    "rows_quarantined",
    "status_message",
]
_HEADERS = {
    "query": "QuickBooks query",
    "from_modified_text": "Modified since",
    "status_message": "QuickBooks message",
}


@main.command("refresh")
@click.option(
    "--workspace",
    "-w",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The workspace file.",
)
@click.option(
    "--since",
    default=None,
    metavar="DATE[THH:MM:SS]",
    help="Read records modified since then (QuickBooks' local time unless an offset is given), "
    "instead of since the newest record already stored.",
)
@click.option(
    "--full", is_flag=True, help="Read every record, not only the ones modified since the last refresh."
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    metavar="KIND",
    help="Only these kinds (repeatable): CustomerQuery, vendors, Bill, bill_payments, ...",
)
@click.option(
    "--overlap-minutes",
    default=60,
    show_default=True,
    type=click.IntRange(0, 7 * 24 * 60),
    help="How far before the newest stored record an incremental refresh starts.",
)
@click.option(
    "--by", default=None, help="The requesting user (id, login or e-mail): needs ERP Integrations 'Admin'."
)
@click.option(
    "--import-payments",
    is_flag=True,
    help="When the refresh finishes, import bill payments on synced bills as Procore payments "
    "issued (needs --by with permission to import).",
)
@click.option("--status", "status_only", is_flag=True, help="Show the refresh jobs; queue nothing.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="How to print the jobs.",
)
def refresh_cmd(
    workspace: str,
    since: str | None,
    full: bool,
    kinds: tuple[str, ...],
    overlap_minutes: int,
    by: str | None,
    import_payments: bool,
    status_only: bool,
    fmt: str,
) -> None:
    """Queue a refresh of the QuickBooks side; the next Web Connector session runs it.

    \b
    Examples:
      qbrecon refresh -w company.duckdb --by maria         # what changed since the last refresh
      qbrecon refresh -w company.duckdb --full --kind vendors
      qbrecon refresh -w company.duckdb --since 2024-10-01
      qbrecon refresh -w company.duckdb --status

    Exit status 1 with --status when a kind failed (QuickBooks' message is shown).
    """
    from datetime import datetime, timedelta

    from ..errors import InputError

    if full and since:
        raise click.UsageError("--full and --since exclude each other")
    if since:
        try:
            datetime.fromisoformat(since)
        except ValueError:
            raise InputError(
                f"--since must be a date or date-time (YYYY-MM-DD[THH:MM:SS]), got {since!r}", field="since"
            ) from None
    if not status_only and not by:
        raise click.UsageError("--by is required: refreshing needs 'Admin' on the ERP Integrations tool")
    with open_workspace(workspace) as ws:
        if status_only:
            jobs = ws.refresh_jobs(list(kinds) or None)
        else:
            jobs = ws.request_refresh(
                list(kinds) or None,
                full=full,
                since=since,
                overlap=timedelta(minutes=overlap_minutes),
                by=by,
                import_payments=import_payments,
            )
    emit(jobs[_COLUMNS], fmt, labels=_HEADERS, empty="no refresh has been requested")
    if status_only:
        if (jobs["state"] == "failed").any():
            sys.exit(1)
        return
    click.echo(
        f"{len(jobs)} kind(s) queued; the next QuickBooks Web Connector session reads them after its "
        "exports (qbrecon serve must be running when it polls).",
        err=True,
    )
