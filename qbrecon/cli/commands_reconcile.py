"""``qbrecon reconcile``: compare Procore with QuickBooks and write the HTML (and Excel) report.

Exit status: 0 within the thresholds, 3 when the differences exceed ``--fail-over`` / ``--max-differences``
(for scheduled runs), 2 for bad input, 75 when the workspace is busy.
"""

from __future__ import annotations

import sys
from decimal import Decimal, InvalidOperation

import click

from . import main, open_workspace

EXIT_DIFFERENCES = 3


def _amount(ctx: click.Context, param: click.Parameter, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"expected an amount such as 100.00, got {value!r}") from None
    if not d.is_finite() or d < 0:
        raise click.BadParameter("expected a non-negative amount")
    return d


def _report_text(rec) -> str:
    """What a person reads after a run: the headline, each pair's figures, and why they differ (in words)."""
    import pandas as pd

    from ..formats import money_text
    from ..reconcile.labels import PAIR_TITLES, SUMMARY_LABELS
    from .output import render_table

    lines = [
        f"{rec.n_differences} finding(s): delta (Procore - QuickBooks) {money_text(rec.total_delta)}, "
        f"absolute difference {money_text(rec.total_abs_delta)}"
    ]
    s = rec.summary
    pairs = pd.DataFrame(
        {
            "Pair": [PAIR_TITLES.get(p, p) for p in s["pair"]],
            SUMMARY_LABELS["differences"]: s["differences"],
            SUMMARY_LABELS["not_exported"]: s["not_exported"],
            SUMMARY_LABELS["in_queue_total"]: s["in_queue_total"],
            SUMMARY_LABELS["delta"]: s["delta"],
        }
    )
    lines += ["", render_table(pairs)]
    reasons = rec.reasons()
    if not reasons.empty:
        why = pd.DataFrame(
            {
                "Pair": [PAIR_TITLES.get(p, p) for p in reasons["pair"]],
                "Why they differ": reasons["reason_text"],
                "Code": reasons["reason"],
                "Findings": reasons["count"],
            }
        )
        lines += ["", render_table(why)]
    return "\n".join(lines)


@main.command("reconcile")
@click.option(
    "--workspace",
    "-w",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The workspace file with both sides loaded.",
)
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False), help="The HTML report to write."
)
@click.option("--xlsx", "xlsx", type=click.Path(dir_okay=False), help="Also write an Excel workbook.")
@click.option(
    "--pair",
    "pairs",
    multiple=True,
    help="Only this pair (repeatable): company, project, cost_code, budget, commitment, change_order, "
    "invoice, payment, job_cost.",
)
@click.option(
    "--tolerance",
    "tolerance",
    callback=_amount,
    help="Absolute money tolerance for every money field, e.g. 0.01 (default: exact).",
)
@click.option("--as-of", "as_of", help="Ignore transactions dated after this day (YYYY-MM-DD).")
@click.option(
    "--fail-over",
    "fail_over",
    callback=_amount,
    help="Exit 3 when the absolute money difference exceeds this amount.",
)
@click.option(
    "--max-differences",
    "max_differences",
    type=click.IntRange(min=0),
    help="Exit 3 when there are more differences than this.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def reconcile_cmd(
    workspace: str,
    out: str,
    xlsx: str | None,
    pairs: tuple[str, ...],
    tolerance: Decimal | None,
    as_of: str | None,
    fail_over: Decimal | None,
    max_differences: int | None,
    quiet: bool,
) -> None:
    """Reconcile Procore with QuickBooks Desktop and explain every difference.

    \b
    Examples:
      qbrecon reconcile -w company.duckdb --out recon.html --xlsx recon.xlsx
      qbrecon reconcile -w company.duckdb --out recon.html --pair invoice --tolerance 0.01 --fail-over 100
    """
    from tqdm import tqdm

    from ..reconcile.engine import _pairs

    wanted = _pairs(list(pairs) or None)
    with open_workspace(workspace) as ws:
        with tqdm(total=len(wanted), desc="reconcile", unit="pair", disable=quiet, file=sys.stderr) as bar:

            def progress(name: str) -> None:
                bar.set_postfix_str(name)
                bar.update(1)

            rec = ws.reconcile(pair=wanted, tolerance=tolerance, as_of=as_of, progress=progress)
    rec.to_html(out)
    if xlsx:
        rec.to_excel(xlsx)
    click.echo(_report_text(rec))
    click.echo(f"report: {out}" + (f", workbook: {xlsx}" if xlsx else ""))
    if rec.exceeds(fail_over, max_differences):
        click.echo("differences exceed the threshold", err=True)
        sys.exit(EXIT_DIFFERENCES)
