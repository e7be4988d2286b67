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
@click.option(
    "--set",
    "pairs",
    multiple=True,
    required=True,
    metavar="COST_CODE=COST_TYPE",
    help="A standard cost code (full code or id) and its default cost type (repeatable).",
)
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


@main.group("payroll")
def payroll_group() -> None:
    """Set up your payroll export: Procore workers and classifications -> QuickBooks payroll items."""


@payroll_group.command("map")
@workspace_option
@click.option(
    "--worker", default="*", show_default=True, help="The worker (timecard party / QuickBooks employee)."
)
@click.option(
    "--classification", default="*", show_default=True, help="The Procore time type, e.g. Overtime."
)
@click.option(
    "--item", "payroll_item", default="", help="The QuickBooks payroll wage item (empty: remove the row)."
)
@by_option
@format_option
def payroll_map_cmd(
    workspace: str, worker: str, classification: str, payroll_item: str, by: str, fmt: str
) -> None:
    """Map a worker and classification to a QuickBooks payroll item (ERP 'Admin'); prints the whole map.

    \b
    Example:
      qbrecon payroll map -w company.duckdb --classification Overtime --item "Overtime Hourly" \\
          --by maria.alvarez@example-builders.com
    """
    with _workspace(workspace) as ws:
        ws.map_payroll_items({(worker, classification): payroll_item}, by=by)
        _emit(ws.payroll_item_map(), fmt)


@payroll_group.command("export-iif")
@workspace_option
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="The IIF file to write.")
@click.option("--project", type=int, help="Only this Procore project id.")
@by_option
def payroll_iif_cmd(workspace: str, out: str, project: int | None, by: str) -> None:
    """Export approved time entries as an IIF time-activity file with each entry's payroll item (PITEM).

    Exit status 1 when some entries could not be written (each listed with the reason).

    \b
    Example:
      qbrecon payroll export-iif -w company.duckdb --out time.iif --by carlos.delgado@example-builders.com
    """
    import sys

    with _workspace(workspace) as ws:
        result = ws.time_export_iif(out, project_id=project, by=by)
    click.echo(
        f"wrote {out}: {result.rows} time activit(ies); import it in QuickBooks (File > Utilities > Import)"
    )
    if len(result.errors):
        click.echo(result.errors.to_string(index=False), err=True)
        sys.exit(1)
