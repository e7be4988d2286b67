"""``qbrecon budget ...``: cost codes and budgets on QuickBooks-integrated projects (ERP Integrations tool).

Refresh a project's cost codes, import a budget from the job's QuickBooks estimate, assign default cost types to
ERP standard cost codes, and enable / run job cost transaction syncing per project. Each checks the acting user
against the permissions matrix (``--by``).
"""

from __future__ import annotations

import click

from . import main
from .commands_queue import _emit, _workspace, format_option, workspace_option

by_option = click.option("--by", required=True, help="The acting user (id, login or e-mail).")
project_option = click.option("--project", required=True, type=int, help="The Procore project id.")


@main.group("budget")
def budget_group() -> None:
    """Cost codes and budgets on QuickBooks-integrated projects."""


@budget_group.command("refresh-cost-codes")
@workspace_option
@project_option
@by_option
def refresh_cost_codes_cmd(workspace: str, project: int, by: str) -> None:
    """Refresh the cost codes on an ERP-integrated project (ERP 'Admin').

    \b
    Example:
      qbrecon budget refresh-cost-codes -w company.duckdb --project 598134325002 --by maria.alvarez@example-builders.com
    """
    with _workspace(workspace) as ws:
        added = ws.refresh_project_cost_codes(project, by=by)
    click.echo(f"{added} cost code(s) added to project {project}")


@budget_group.command("import")
@workspace_option
@project_option
@by_option
def import_budget_cmd(workspace: str, project: int, by: str) -> None:
    """Import a budget from ERP: the job's QuickBooks estimate becomes budget lines (accounting approver).

    \b
    Example:
      qbrecon budget import -w company.duckdb --project 598134325002 --by james.bennett@example-builders.com
    """
    with _workspace(workspace) as ws:
        added = ws.import_budget(project, by=by)
    click.echo(f"{added} budget line(s) imported into project {project}")


@budget_group.command("default-cost-type")
@workspace_option
@click.option("--set", "pairs", multiple=True, required=True, metavar="COST_CODE=COST_TYPE",
              help="A standard cost code (full code or id) and its default cost type (repeatable).")  # fmt: skip
@by_option
def default_cost_type_cmd(workspace: str, pairs: tuple[str, ...], by: str) -> None:
    """Assign default cost types to ERP standard cost codes (accounting approver).

    \b
    Example:
      qbrecon budget default-cost-type -w company.duckdb --set 03-300=Material --set 01-100=Labor \\
          --by james.bennett@example-builders.com
    """
    parsed = {}
    for pair in pairs:
        code, sep, cost_type = pair.partition("=")
        if not sep:
            raise click.UsageError(f"--set takes COST_CODE=COST_TYPE, got {pair!r}")
        parsed[code.strip()] = cost_type.strip()
    with _workspace(workspace) as ws:
        n = ws.assign_default_cost_types(parsed, by=by)
    click.echo(f"{n} default cost type(s) assigned")


@budget_group.command("job-cost-sync")
@workspace_option
@click.option(
    "--project", type=int, help="The Procore project id (without it: list the integrated projects)."
)
@click.option("--enable/--disable", default=None, help="Turn Job Cost Transaction Syncing on or off.")
@click.option("--by", help="The acting user (ERP 'Admin'); needed with --enable/--disable.")
@format_option
def job_cost_sync_cmd(
    workspace: str, project: int | None, enable: bool | None, by: str | None, fmt: str
) -> None:
    """Enable Job Cost Transaction Syncing on a Procore project, or list where it is on.

    \b
    Example:
      qbrecon budget job-cost-sync -w company.duckdb --project 598134325002 --enable \\
          --by maria.alvarez@example-builders.com
      qbrecon budget job-cost-sync -w company.duckdb
    """
    if enable is not None and (project is None or not by):
        raise click.UsageError("--enable/--disable need --project and --by")
    with _workspace(workspace) as ws:
        if enable is not None:
            ws.enable_job_cost_sync(project, enable, by=by)
        _emit(ws.job_cost_sync_projects(), fmt)


@budget_group.command("sync-job-costs")
@workspace_option
@by_option
def sync_job_costs_cmd(workspace: str, by: str) -> None:
    """Sync job cost transactions from QuickBooks into the budgets of projects with syncing enabled (ERP 'Admin').

    \b
    Example:
      qbrecon budget sync-job-costs -w company.duckdb --by maria.alvarez@example-builders.com
    """
    with _workspace(workspace) as ws:
        n = ws.import_job_costs(by=by)
    click.echo(f"{n} budget line(s) updated from QuickBooks job costs")


@budget_group.command("show")
@workspace_option
@project_option
@by_option
@format_option
def show_cmd(workspace: str, project: int, by: str, fmt: str) -> None:
    """A project's budget as the Budget tool shows it: the Direct Cost column's source (QuickBooks, read only, or
    the Direct Costs tool, editable) and no Job To Date Costs column when the settings hide it.

    \b
    Example:
      qbrecon budget show -w company.duckdb --project 598134325002 --by maria.alvarez@example-builders.com
    """
    with _workspace(workspace) as ws:
        _emit(ws.budget(project, by=by), fmt)


@main.group("erp-companies")
def erp_companies_group() -> None:
    """QuickBooks vendors and jobs not linked to Procore: archive, restore, list archived, sub jobs."""


@erp_companies_group.command("archive")
@workspace_option
@click.option(
    "--list-id", "list_ids", multiple=True, required=True, help="A QuickBooks vendor ListID (repeatable)."
)
@by_option
def archive_cmd(workspace: str, list_ids: tuple[str, ...], by: str) -> None:
    """Archive ERP companies: they leave "Ready to Import" (accounting approver).

    \b
    Example:
      qbrecon erp-companies archive -w company.duckdb --list-id 80000031-1699291000 \\
          --by james.bennett@example-builders.com
    """
    with _workspace(workspace) as ws:
        n = ws.archive_erp_companies(list_ids, by=by)
    click.echo(f"{n} ERP company(ies) archived")


@erp_companies_group.command("restore")
@workspace_option
@click.option(
    "--list-id", "list_ids", multiple=True, required=True, help="An archived vendor's ListID (repeatable)."
)
@by_option
def restore_cmd(workspace: str, list_ids: tuple[str, ...], by: str) -> None:
    """Restore archived ERP companies to "Ready to Import" (accounting approver).

    \b
    Example:
      qbrecon erp-companies restore -w company.duckdb --list-id 80000031-1699291000 --by james.bennett@example-builders.com
    """
    with _workspace(workspace) as ws:
        n = ws.restore_erp_companies(list_ids, by=by)
    click.echo(f"{n} ERP company(ies) restored")


@erp_companies_group.command("archived")
@workspace_option
@by_option
@format_option
def archived_cmd(workspace: str, by: str, fmt: str) -> None:
    """View the archived companies list (ERP 'Read Only' or above).

    \b
    Example:
      qbrecon erp-companies archived -w company.duckdb --by aisha.okafor@example-builders.com
    """
    with _workspace(workspace) as ws:
        _emit(ws.archived_erp_companies(by=by), fmt)


@erp_companies_group.command("sub-jobs")
@workspace_option
@format_option
def sub_jobs_cmd(workspace: str, fmt: str) -> None:
    """QuickBooks sub jobs, kept out of "Ready to Import" (the connector does not support them), with the reason.

    \b
    Example:
      qbrecon erp-companies sub-jobs -w company.duckdb
    """
    with _workspace(workspace) as ws:
        _emit(ws.sub_jobs(), fmt)
