"""ERP queue commands: ``queue``, the decisions (``send accept reject retry retrieve resend unlink``),
``settings show|set``, ``mail`` and ``erp-report``.

Exit codes suit a scheduler: 0 done, 2 refused (the message names every offending row; nothing changed),
75 workspace busy (retry later), 77 permission denied.
"""

from __future__ import annotations

import json
import sys

import click
import pandas as pd

from ..errors import InputError
from . import main, open_workspace
from .output import emit

QUEUE_COLUMNS = [
    "item_type",
    "procore_id",
    "name",
    "number",
    "vendor",
    "project",
    "amount",
    "status_label",
    "sent_by_name",
    "decided_by_name",
    "reason",
    "last_error_message",
    "blockers",
]
SECRET_SETTINGS = {"service_password", "smtp_password"}


def _workspace(path: str):

    return open_workspace(path)


def _emit(frame: pd.DataFrame, fmt: str, empty: str = "(nothing)") -> None:
    emit(frame, fmt, empty=empty)


workspace_option = click.option(
    "--workspace",
    "-w",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The workspace file (it must exist: 'qbrecon load' creates it).",
)
format_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)


@main.command("queue")
@workspace_option
@click.option("--status", "-s", multiple=True, help="Only this status (repeatable), e.g. ready_to_export.")
@click.option("--type", "item_type", multiple=True, help="Only this item type (repeatable), e.g. invoice.")
@click.option(
    "--where",
    help='SQL condition on the queue view (as for accept/reject), e.g. "amount > 100000 AND NOT vendor_synced".',
)
@click.option("--refresh", is_flag=True, help="First give newly loaded Procore records their queue rows.")
@click.option("--all-columns", is_flag=True, help="Show every column of the queue view.")
@format_option
def queue_cmd(
    workspace: str,
    status: tuple[str, ...],
    item_type: tuple[str, ...],
    where: str | None,
    refresh: bool,
    all_columns: bool,
    fmt: str,
) -> None:
    """List the ERP queue.

    \b
    Examples:
      qbrecon queue -w company.duckdb --status ready_to_export --type invoice
      qbrecon queue -w company.duckdb --where "status = 'failed_to_export' AND amount > 10000"
      qbrecon queue -w company.duckdb --format csv > queue.csv
    """
    with _workspace(workspace) as ws:
        if refresh:
            click.echo(f"{ws.refresh_queue()} item(s) added to the queue", err=True)
        frame = ws.queue(status=list(status) or None, item_type=list(item_type) or None)
        if where:
            # the same (guarded) filter as the decisions' --where, so both select the same rows
            chosen = ws.erp_queue._filter(where, None)
            keys = set(zip(chosen["item_type"].tolist(), chosen["procore_id"].tolist(), strict=True))
            mask = [
                k in keys for k in zip(frame["item_type"].tolist(), frame["procore_id"].tolist(), strict=True)
            ]
            frame = frame[mask]
    if fmt == "table" and not all_columns:
        shown = frame[["item_label", *QUEUE_COLUMNS[1:]]]
    else:
        shown = frame if all_columns or fmt == "json" else frame[QUEUE_COLUMNS]
    _emit(shown, fmt, empty="no item matches" if where or status or item_type else "the queue is empty")


def _decision(action: str, help_text: str, extra: list[click.Option] | None = None):
    def command(
        workspace: str,
        by: str,
        ids: str | None,
        item_type: str | None,
        where: str | None,
        fmt: str,
        **options,
    ) -> None:
        if bool(ids) == bool(where):
            raise InputError("give either --ids (with --type) or --where", field="--ids/--where")
        if ids:
            try:
                selection = [int(x) for x in ids.replace(" ", "").split(",") if x]
            except ValueError:
                raise InputError(
                    f"--ids must be whole numbers separated by commas, got {ids!r}", field="--ids"
                ) from None
            if not item_type:
                raise InputError("--ids needs --type", field="--type")
        else:
            selection = where
        with _workspace(workspace) as ws:
            try:
                result = getattr(ws, action)(
                    selection,
                    by=by,
                    item_type=item_type,
                    **{k: v for k, v in options.items() if v is not None},
                )
            except InputError as exc:
                if exc.field != "selection" or "empty" not in str(exc):
                    raise
                # nothing matched: success for a scheduled job on a quiet day, not a usage error
                if fmt == "json":
                    click.echo(
                        json.dumps(
                            {"action": action, "count": 0, "by": by, "to_status": {}, "mails_queued": 0}
                        )
                    )
                else:
                    click.echo(f"{action}: nothing to do, no item matches the selection (nothing changed)")
                return
        if fmt == "json":
            click.echo(
                json.dumps(
                    {
                        "action": result.action,
                        "count": result.count,
                        "by": result.by,
                        "to_status": result.to_status,
                        "mails_queued": result.mails_queued,
                    }
                )
            )
        else:
            click.echo(repr(result).strip("<>"))

    params = [
        click.Option(
            ["--workspace", "-w"],
            required=True,
            type=click.Path(dir_okay=False, exists=True),
            help="The workspace file (it must exist: 'qbrecon load' creates it).",
        ),
        click.Option(["--by"], required=True, help="Acting user: login or id (permissions are checked)."),
        click.Option(["--ids"], help="Procore ids, comma-separated (with --type)."),
        click.Option(["--type", "item_type"], help="Item type: " + ", ".join(_item_types())),
        click.Option(
            ["--where"],
            help="SQL condition on the queue view, e.g. \"item_type = 'invoice' AND amount < 10000\".",
        ),
        click.Option(
            ["--format", "fmt"], type=click.Choice(["table", "json"]), default="table", show_default=True
        ),
        *(extra or []),
    ]
    example = _EXAMPLES.get(
        action, f"qbrecon {action} -w company.duckdb --by LOGIN --ids 1280001 --type invoice"
    )
    help_text += (
        f"\n\n\b\nExample:\n  {example}\n\nA refused batch changes nothing (exit 2); 77: not allowed."
    )
    main.add_command(click.Command(action, callback=command, params=params, help=help_text))


_EXAMPLES = {
    "send": "qbrecon send -w company.duckdb --by carlos.delgado@example-builders.com "
    "--where \"status = 'not_sent' AND can_send\"",
    "accept": "qbrecon accept -w company.duckdb --by james.bennett@example-builders.com "
    "--where \"status = 'ready_to_export' AND item_type = 'invoice' AND amount < 10000 AND vendor_synced\"",
    "reject": "qbrecon reject -w company.duckdb --by james.bennett@example-builders.com --ids 1280030 "
    "--type invoice --reason 'Needs sign-off'",
    "retry": "qbrecon retry -w company.duckdb --by james.bennett@example-builders.com "
    "--where \"status = 'failed_to_export'\"",
}


def _item_types() -> list[str]:
    from ..entities import EXPORTABLE

    return EXPORTABLE


def _accept_options() -> list[click.Option]:
    """One flag per accept option the pairs declare (``--customer``, ``--vendor-type``, ...)."""
    from ..pairs import accept_options

    return [
        click.Option([declared[0][1].flag, name], help=" ".join(dict.fromkeys(o.help for _, o in declared)))
        for name, declared in accept_options().items()
    ]


_decision("send", "Send items to ERP (Ready to Export; Exporting with direct export).")
_decision("resend", "Re-send corrected, rejected items.")
_decision("retrieve", "Retrieve items from ERP before a decision.")
_decision(
    "accept",
    "Accept items for export to QuickBooks (accounting approvers).",
    _accept_options(),
)
_decision(
    "reject",
    "Reject items with a reason (the creator and sender are e-mailed).",
    [
        click.Option(["--reason"], required=True, help="Why the item was rejected."),
    ],
)
_decision("retry", "Retry failed exports.")
_decision("unlink", "Unlink synced companies, commitments, CCOs or invoices.")


@main.group("settings")
def settings_group() -> None:
    """Show or change the ERP Integrations settings."""


@settings_group.command("show")
@workspace_option
@format_option
def settings_show(workspace: str, fmt: str) -> None:
    """Show every setting (secrets masked).

    \b
    Example:
      qbrecon settings show -w company.duckdb --format json
    """
    with _workspace(workspace) as ws:
        values = ws.settings
    frame = pd.DataFrame(
        {
            "setting": list(values),
            "value": [json.dumps(v) if isinstance(v, dict) else v for v in values.values()],
        }
    )
    _emit(frame, fmt)


@settings_group.command("set")
@workspace_option
@click.option("--by", required=True, help="An ERP Integrations admin (login or id).")
@click.option("--smtp-password-stdin", is_flag=True, help="Read the SMTP password from the first stdin line.")
@click.argument("assignments", nargs=-1)
def settings_set(workspace: str, by: str, smtp_password_stdin: bool, assignments: tuple[str, ...]) -> None:
    """Change settings: KEY=VALUE ... (all validated before any is stored).

    \b
    Example:
      qbrecon settings set -w company.duckdb --by adam invoice_retainage_item=Retainage direct_export=true
    """
    values: dict[str, str] = {}
    for text in assignments:
        key, sep, value = text.partition("=")
        if not sep:
            raise InputError(f"expected KEY=VALUE, got {text!r}", field=text)
        if key.strip() in SECRET_SETTINGS:
            raise InputError(
                "passwords never go on the command line (the process list shows them); use "
                "--smtp-password-stdin or 'qbrecon service-user set'",
                field=key.strip(),
            )
        values[key.strip()] = value
    if smtp_password_stdin:
        values["smtp_password"] = sys.stdin.readline().rstrip("\r\n")
    if not values:
        raise InputError("nothing to set", field="assignments")
    with _workspace(workspace) as ws:
        changed = ws.update_settings(by=by, **values)
    for key, value in changed.items():
        click.echo(f"{key} = {json.dumps(value)}")


@main.command("mail")
@workspace_option
@click.option("--daily-summary", is_flag=True, help="Queue today's 'ERP Integrations Daily Summary' first.")
@click.option("--no-deliver", is_flag=True, help="Only queue; do not contact the SMTP server.")
def mail_cmd(workspace: str, daily_summary: bool, no_deliver: bool) -> None:
    """Queue the daily summary and deliver queued mail (run it from a scheduler).

    \b
    Example:
      qbrecon mail -w company.duckdb --daily-summary

    Exit status 75 when the mail server could not take everything (run again later).
    """
    with _workspace(workspace) as ws:
        if daily_summary:
            click.echo(f"{ws.queue_daily_summaries()} daily summary mail(s) queued")
        if not no_deliver:
            result = ws.deliver_mail()
            click.echo(
                f"sent {result['sent']}, still queued {result['queued']}, given up {result['gave_up']}"
            )
            for problem in result.get("given_up", []):
                click.echo(f"error: {problem}", err=True)
            if result["queued"]:
                sys.exit(75)  # the server could not take everything: try again later
            if result["gave_up"]:
                sys.exit(1)  # some mail can never be sent (named above); the rest went out


@main.command("erp-report")
@click.argument("report", type=click.Choice(["accountant", "job-costs", "unsyncable"]))
@workspace_option
@click.option("--from", "start", help="Accountant report: first day (YYYY-MM-DD).")
@click.option("--to", "end", help="Accountant report: day after the last (YYYY-MM-DD).")
@click.option("--project", type=int, help="Job costs / unsyncable: one project id.")
@click.option(
    "--by",
    required=True,
    help="Acting user; checked against the permissions matrix (accountant and company-level "
    "job costs: ERP 'Admin').",
)
@format_option
def report_cmd(
    report: str,
    workspace: str,
    start: str | None,
    end: str | None,
    project: int | None,
    by: str | None,
    fmt: str,
) -> None:
    """ERP reports: accountant (synced in a period), job-costs, unsyncable (direct costs).

    \b
    Examples:
      qbrecon erp-report accountant -w company.duckdb --by maria.alvarez@example-builders.com --from 2024-09-01 --to 2024-10-01
      qbrecon erp-report job-costs -w company.duckdb --by maria.alvarez@example-builders.com --format csv > job-costs.csv
    """
    with _workspace(workspace) as ws:
        if report == "accountant":
            frame = ws.accountant_report(start, end, by=by)
        elif report == "job-costs":
            frame = ws.erp_job_costs(project, by=by)
        else:
            frame = ws.unsyncable_direct_costs(project, by=by)
    _emit(frame, fmt)
