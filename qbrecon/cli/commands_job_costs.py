"""``qbrecon job-costs ...``: Sync Job Cost Transactions from QuickBooks into Procore budgets, per project.

QuickBooks job costs are the transaction lines that name a customer:job: item and expense lines of bills, checks
and credit card charges, and journal entry lines whose name is a customer:job (debit positive, credit negative).
Lines on an item land on the budget line of that item's cost code; the others count in the job's costs and are
listed with why they land on no budget line. Enabling, disabling and syncing need ERP Integrations 'Admin'.
"""

from __future__ import annotations

import click

from . import main
from .commands_queue import _emit, _workspace, format_option, workspace_option

by_option = click.option("--by", required=True, help="The acting user (id, login or e-mail).")


@main.group("job-costs")
def job_costs_group() -> None:
    """Sync Job Cost Transactions from QuickBooks into Procore budgets, per project."""


@job_costs_group.command("list")
@workspace_option
@format_option
def list_cmd(workspace: str, fmt: str) -> None:
    """The integrated projects and whether Job Cost Transaction Syncing is enabled on each.

    \b
    Example:
      qbrecon job-costs list -w company.duckdb
    """
    with _workspace(workspace) as ws:
        _emit(ws.job_cost_sync_projects(), fmt)


def _switch(workspace: str, project: int, by: str, enabled: bool) -> None:
    with _workspace(workspace) as ws:
        ws.enable_job_cost_sync(project, enabled, by=by)
        name = ws.store.scalar("SELECT name FROM projects WHERE id = ?", [project])
    state = "enabled" if enabled else "disabled"
    click.echo(f"Job Cost Transaction Syncing {state} on project {project} ({name})")


@job_costs_group.command("enable")
@workspace_option
@click.option("--project", required=True, type=int, help="The Procore project id.")
@by_option
def enable_cmd(workspace: str, project: int, by: str) -> None:
    """Enable Job Cost Transaction Syncing on an integrated project (ERP 'Admin').

    \b
    Example:
      qbrecon job-costs enable -w company.duckdb --project 598134325002 --by maria.alvarez@example-builders.com
    """
    _switch(workspace, project, by, True)


@job_costs_group.command("disable")
@workspace_option
@click.option("--project", required=True, type=int, help="The Procore project id.")
@by_option
def disable_cmd(workspace: str, project: int, by: str) -> None:
    """Disable Job Cost Transaction Syncing on a project (ERP 'Admin'); its budget keeps the costs it has.

    \b
    Example:
      qbrecon job-costs disable -w company.duckdb --project 598134325002 --by maria.alvarez@example-builders.com
    """
    _switch(workspace, project, by, False)


@job_costs_group.command("sync")
@workspace_option
@click.option(
    "--project", type=int, help="One project (it must have syncing enabled); default: every enabled one."
)
@by_option
def sync_cmd(workspace: str, project: int | None, by: str) -> None:
    """Sync job cost transactions from QuickBooks into the budgets now (ERP 'Admin').

    Uses the QuickBooks data in the workspace: refresh it first (``qbrecon refresh --kind bills --kind checks
    --kind credit_card_charges --kind journal_entries``). Each Web Connector session reads them by itself
    while a project has syncing enabled, and the enabled projects take them when it finishes.

    \b
    Example:
      qbrecon job-costs sync -w company.duckdb --project 598134325002 --by maria.alvarez@example-builders.com
    """
    with _workspace(workspace) as ws:
        n = ws.import_job_costs(project, by=by)
    where = f"project {project}" if project is not None else "projects with syncing enabled"
    click.echo(f"{n} budget line(s) updated from QuickBooks job costs ({where})")


@job_costs_group.command("transactions")
@workspace_option
@click.option("--project", type=int, help="One project's job (default: every job).")
@by_option
@format_option
def transactions_cmd(workspace: str, project: int | None, by: str, fmt: str) -> None:
    """The QuickBooks lines behind the job costs (bills, checks, credit card charges, journal entries), each with
    the budget line it lands on or why it lands on none (the ERP Job Costs report's permissions).

    \b
    Example:
      qbrecon job-costs transactions -w company.duckdb --project 598134325002 --by maria.alvarez@example-builders.com
    """
    with _workspace(workspace) as ws:
        _emit(ws.job_cost_transactions(project, by=by), fmt)
