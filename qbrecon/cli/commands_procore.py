"""``qbrecon pull procore`` and ``qbrecon push procore``: Procore's REST API in, links back out.

Credentials come from ``$PROCORE_CLIENT_ID`` / ``$PROCORE_CLIENT_SECRET`` (never the command line); a token is
kept in the workspace, encrypted (``qbrecon.procore.tokens``).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from . import main

_COMMON = [
    click.option(
        "--workspace",
        "-w",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The workspace file (created when missing).",
    ),
    click.option("--company-id", required=True, type=int, help="The Procore company (Procore-Company-Id)."),
    click.option(
        "--base-url", default=None, help="Procore's API (default https://api.procore.com, or the kept one)."
    ),
    click.option("--login-url", default=None, help="Procore's sign-in (default https://login.procore.com)."),
]


def _common(f):
    for option in reversed(_COMMON):
        f = option(f)
    return f


@main.group("pull")
def pull_group() -> None:
    """Read records from a source system into the workspace."""


@pull_group.command("procore")
@_common
@click.option("--project", "projects", type=int, multiple=True, help="Only this project (repeatable).")
@click.option("--since", default=None, help="Only records updated since this date or date-time (UTC).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the pages go (default: <workspace>-procore/pull-<UTC time>).",
)
@click.option("--per-page", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option(
    "--sign-in",
    is_flag=True,
    help="Sign in as a person first (authorization code): open the printed address, paste the code.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar of the pages received (default: when stderr is a terminal).",
)
def pull_procore(
    workspace: Path,
    company_id: int,
    base_url: str | None,
    login_url: str | None,
    projects: tuple[int, ...],
    since: str | None,
    out: Path | None,
    per_page: int,
    sign_in: bool,
    progress: bool | None,
) -> None:
    """Pull every resource qbrecon uses from Procore's REST API, keep each page as received (the export layout
    ``qbrecon load --procore`` reads) and load it.

    \b
    Example:
      PROCORE_CLIENT_ID=... PROCORE_CLIENT_SECRET=... qbrecon pull procore -w company.duckdb --company-id 9
      qbrecon pull procore -w company.duckdb --company-id 9 --project 598134325001 --since 2024-09-01
    """
    from ..procore import open_client
    from ..procore.pull import pull_into, since_window
    from ..workspace_full import Workspace

    if since is not None:
        since_window(since)  # a bad date stops before any request
    out = out or Path(f"{workspace.with_suffix('')}-procore") / f"pull-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    with Workspace(workspace) as ws:
        client = open_client(ws, company_id, base_url=base_url, login_url=login_url)
        try:
            if sign_in:
                _sign_in(client)
            result = pull_into(
                ws,
                client,
                out,
                projects=list(projects) or None,
                since=since,
                per_page=per_page,
                progress=sys.stderr.isatty() if progress is None else progress,
            )
        finally:
            client.close()
        report = result.report
    click.echo(result.summary())
    click.echo(str(report))
    if not report.ok:
        sys.exit(1)


def _sign_in(client) -> None:
    click.echo(
        f"Open this address, sign in to Procore and allow qbrecon:\n  {client.authorization_url()}", err=True
    )
    if sys.stdin.isatty():
        code = click.prompt("Code", hide_input=True, err=True)
    else:
        code = sys.stdin.readline().strip()
    if not code:
        raise click.UsageError("no authorization code given")
    client.fetch_token_from_code(code)


@main.group("push")
def push_group() -> None:
    """Write what qbrecon knows back to a source system."""


@push_group.command("procore")
@_common
@click.option("--dry-run", is_flag=True, help="Write the sync payloads to files instead of calling Procore.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where --dry-run writes (default: <workspace>-procore/push-<UTC time>).",
)
def push_procore(
    workspace: Path,
    company_id: int,
    base_url: str | None,
    login_url: str | None,
    dry_run: bool,
    out: Path | None,
) -> None:
    """Write each link back to Procore with its sync actions: origin_id = the QuickBooks ListID / TxnID,
    origin_data = {"edit_sequence": ...}, origin_code where Procore shows one. Only links Procore does not
    have yet are sent, so running it again sends nothing.

    \b
    Examples:
      qbrecon push procore -w company.duckdb --company-id 9 --dry-run
      PROCORE_CLIENT_ID=... PROCORE_CLIENT_SECRET=... qbrecon push procore -w company.duckdb --company-id 9
    """
    from ..procore import open_client
    from ..procore.push import push
    from ..workspace_full import Workspace

    with Workspace(workspace) as ws:
        if dry_run:
            out = (
                out
                or Path(f"{workspace.with_suffix('')}-procore") / f"push-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
            )
            result = push(ws, None, company_id=company_id, dry_run_dir=out)
        else:
            client = open_client(ws, company_id, base_url=base_url, login_url=login_url)
            try:
                result = push(ws, client, company_id=company_id)
            finally:
                client.close()
    click.echo(result.summary())
    if result.errors:
        sys.exit(1)


@main.group("import")
def import_group() -> None:
    """Import from QuickBooks: vendors and jobs Procore lacks (Ready to Import)."""


@import_group.command("list")
@click.option(
    "--workspace",
    "-w",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The workspace file.",
)
@click.option("--kind", type=click.Choice(["vendor", "job"]), default=None)
@click.option("--all", "show_all", is_flag=True, help="Also the records kept out, with the reason.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
def import_list(workspace: Path, kind: str | None, show_all: bool, fmt: str) -> None:
    """List QuickBooks vendors and jobs Procore lacks (Ready to Import); --all adds sub jobs kept out.

    \b
    Example:
      qbrecon import list -w company.duckdb --all
    """
    from ..erp.imports import import_candidates
    from ..workspace_full import Workspace

    with Workspace(workspace) as ws:
        frame = import_candidates(ws)
    if kind:
        frame = frame[frame["kind"] == kind]
    if not show_all:
        frame = frame[frame["reason"].isna()].drop(columns=["reason"])
    frame = frame.drop(columns=["edit_sequence"])
    if fmt == "json":
        click.echo(frame.to_json(orient="records", indent=2))
    elif fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    else:
        click.echo(frame.to_string(index=False) if len(frame) else "Ready to Import: nothing")


@import_group.command("accept")
@_common
@click.argument("list_ids", nargs=-1, required=True)
@click.option("--by", required=True, help="The accounting approver (user id or login).")
@click.option("--payloads", is_flag=True, help="Write the Procore payloads to files even when connected.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where payloads / Procore's answers go (default: <workspace>-procore/import-<UTC time>).",
)
def import_accept(
    workspace: Path,
    company_id: int,
    base_url: str | None,
    login_url: str | None,
    list_ids: tuple[str, ...],
    by: str,
    payloads: bool,
    out: Path | None,
) -> None:
    """Import QuickBooks vendors / jobs (by ListID) into Procore, linked to them: through Procore's API when
    connected (a kept connection or $PROCORE_CLIENT_ID), as payload files otherwise.

    \b
    Example:
      qbrecon import accept -w company.duckdb --company-id 9 --by maria.alvarez@example-builders.com 80000042-1699290428
    """
    import os

    from ..procore import CLIENT_ID_ENV, open_client
    from ..procore.imports import accept_imports
    from ..procore.tokens import load_connection
    from ..workspace_full import Workspace

    out = out or Path(f"{workspace.with_suffix('')}-procore") / f"import-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    with Workspace(workspace) as ws:
        with ws.store.transaction() as con:
            kept = load_connection(con, ws.path, company_id)
        connected = not payloads and (kept is not None or bool(os.environ.get(CLIENT_ID_ENV)))
        client = open_client(ws, company_id, base_url=base_url, login_url=login_url) if connected else None
        try:
            result = accept_imports(
                ws, list(list_ids), by=by, company_id=company_id, client=client, out_dir=out
            )
        finally:
            if client is not None:
                client.close()
    click.echo(result.summary())
    for c in result.created:
        click.echo(f"  {c['kind']} {c['list_id']} -> Procore id {c['procore_id']}")
    for f in result.files:
        click.echo(f"  {f}")


@import_group.command("link-job")
@click.option(
    "--workspace",
    "-w",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The workspace file.",
)
@click.option("--project", "project_id", required=True, type=int, help="The Procore project.")
@click.option("--job", "list_id", required=True, help="The QuickBooks job's ListID (a Customer:Job).")
@click.option("--by", required=True, help="The accounting approver (user id or login).")
def import_link_job(workspace: Path, project_id: int, list_id: str, by: str) -> None:
    """Link a Procore project to an existing QuickBooks job instead of creating one (push tells Procore).

    \b
    Example:
      qbrecon import link-job -w company.duckdb --project 598134325001 --job 80000042-1699290428 --by maria
    """
    from ..erp.imports import link_project_to_job
    from ..workspace_full import Workspace

    with Workspace(workspace) as ws:
        link_project_to_job(ws, [(project_id, list_id)], by=by)
    click.echo(
        f"project {project_id} linked to QuickBooks job {list_id}; run 'qbrecon push procore' to tell Procore"
    )
