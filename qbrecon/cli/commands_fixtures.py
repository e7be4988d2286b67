"""``qbrecon fixtures generate``: write realistic Procore + QuickBooks Desktop test data with an answer key."""

from __future__ import annotations

import json

import click

from . import main


@main.group("fixtures")
def fixtures_group() -> None:
    """Generate test data: a Procore export, QuickBooks qbXML responses and the planted discrepancies."""


@fixtures_group.command("generate")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False),
    help="Output folder (gets procore/, quickbooks/ and answer_key.json).",
)
@click.option(
    "--projects", default=5, show_default=True, type=click.IntRange(min=1), help="Number of projects."
)
@click.option("--seed", default=1, show_default=True, type=int, help="Same seed, same bytes.")
@click.option(
    "--lines-per-invoice",
    default=8,
    show_default=True,
    type=click.IntRange(min=1),
    help="Schedule-of-values lines per commitment, so contract items per invoice (plus CCO lines).",
)
@click.option(
    "--commitments",
    "commitments_per_project",
    default=6,
    show_default=True,
    type=click.IntRange(min=1),
    help="Commitments per project.",
)
@click.option(
    "--invoices",
    "invoices_per_commitment",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="Invoices per invoiced commitment.",
)
@click.option(
    "--bills-per-page",
    default=500,
    show_default=True,
    type=click.IntRange(min=1),
    help="BillRet elements per BillQueryRs_NNNN.xml page (iterator size).",
)
@click.option("--force", is_flag=True, help="Replace the output folder if it is not empty.")
@click.option("--json", "as_json", is_flag=True, help="Print the generation report as JSON.")
def generate_cmd(
    out: str,
    projects: int,
    seed: int,
    lines_per_invoice: int,
    commitments_per_project: int,
    invoices_per_commitment: int,
    bills_per_page: int,
    force: bool,
    as_json: bool,
) -> None:
    """Write OUT/procore (JSON as the Procore API returns it), OUT/quickbooks (qbXML 13.0 query responses) and
    OUT/answer_key.json (every planted discrepancy).

    \b
    Examples:
      qbrecon fixtures generate --out data --projects 5 --seed 1
      qbrecon fixtures generate --out big --projects 200 --commitments 25 --invoices 10 --lines-per-invoice 20
    """
    from ..fixtures import generate

    report = generate(
        out,
        projects=projects,
        seed=seed,
        lines_per_invoice=lines_per_invoice,
        commitments_per_project=commitments_per_project,
        invoices_per_commitment=invoices_per_commitment,
        bills_per_page=bills_per_page,
        overwrite=force,
    )
    if as_json:
        data = {
            "out_dir": str(report.out_dir),
            "seed": report.seed,
            "projects": report.projects,
            "records": report.records,
            "discrepancies": report.discrepancies,
            "invoice_lines": report.invoice_lines,
            "bill_lines": report.bill_lines,
            "seconds": round(report.seconds, 2),
            "files": report.files,
        }
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(report.summary())
