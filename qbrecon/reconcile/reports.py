"""The reconciliation's reports: a self-contained HTML page and an Excel workbook.

HTML comes from ``templates/report.html`` (Jinja2 with autoescape: every value from either system is
escaped); the charts are inline SVG built here from escaped labels, so the page needs no script or CDN.
Excel cells that a spreadsheet would read as a formula (= + - @ tab CR) are written with a leading ``'``;
money is written as numbers with a two-decimal format.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import pandas as pd
from markupsafe import Markup

from ..formats import is_missing, safe_cell
from ..formats import money_text as _money
from ..reasons import REASONS
from .labels import (
    DIFFERENCE_LABELS,
    FIELD_LABELS,
    LEVEL_LABELS,
    MATCHED_BY_LABELS,
    PAIR_TITLES,
    SHEET_NAMES,
    SUGGESTION_LABELS,
    SUMMARY_COUNTS,
    SUMMARY_LABELS,
    SUMMARY_MONEY,
    label,
)

if TYPE_CHECKING:
    from .result import Reconciliation

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("qbrecon.reconcile", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)

DIFF_COLUMNS = [
    "level",
    "procore_id",
    "quickbooks_id",
    "project",
    "vendor",
    "number",
    "cost_code",
    "field",
    "procore_value",
    "quickbooks_value",
    "delta",
    "counted",
    "reason",
    "reason_text",
    "matched_by",
]
# The summary as people read it: counts, then the money that ties out (Procore - queue - QuickBooks - ...= delta)
SUMMARY_COLUMNS = ["label", *SUMMARY_COUNTS, *SUMMARY_MONEY, "amount"]


# In the money table the column says it is an amount already.
MONEY_TITLES = {
    "in_queue_total": "In the queue",
    "explained_elsewhere_total": "Explained by invoice findings",
}


def _text(value: Any) -> str:
    return "" if is_missing(value) else str(value)


def _value(value: Any, row: dict) -> str:
    """A compared value: money fields as ``1,234.56`` (their row has a delta), anything else as text."""
    if is_missing(value):
        return ""
    if not is_missing(row.get("delta")):
        return _money(value)
    return str(value)


_ENV.filters["money"] = _money
_ENV.filters["text"] = _text


def summary_frame(rec: Reconciliation) -> pd.DataFrame:
    """The summary's columns in reading order, each pair named in both systems' words."""
    s = rec.summary[[c for c in ["pair", *SUMMARY_COLUMNS] if c in rec.summary.columns]].copy()
    s["label"] = [PAIR_TITLES.get(p, p) for p in s["pair"]]
    return s.drop(columns="pair")


def summary_totals(rec: Reconciliation) -> dict[str, Any]:
    """The summary's Total row: findings, Delta and Absolute difference added up (= the headline). Procore and
    QuickBooks totals measure different things per pair (budgets, POs, bills) and are not added."""
    s = rec.summary
    out: dict[str, Any] = {"label": "Total (headline)"}
    out["differences"] = int(s["differences"].fillna(0).sum())
    for c in ("delta", "abs_delta"):
        out[c] = sum((x for x in s[c].tolist() if not is_missing(x)), Decimal("0.00"))
    return out


def bar_chart(frame: pd.DataFrame, label: str, title: str, top: int = 15) -> Markup:
    """Horizontal bars of ``delta`` per ``label`` (Procore - QuickBooks), inline SVG, labels escaped."""
    rows = frame.head(top)
    if rows.empty:
        return Markup(f'<p class="muted">{escape(title)}: no money differences.</p>')
    values = [float(x) for x in rows["delta"].tolist()]
    labels = [_text(x) for x in rows[label].tolist()]
    peak = max(abs(v) for v in values) or 1.0
    bar_h, gap, left, width, right = 18, 6, 260, 360, 110
    height = len(values) * (bar_h + gap) + 30
    mid = left + width / 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{left + width + right}" '
        f'height="{height}" aria-label="{escape(title)}">',
        f'<text x="4" y="14" class="t">{escape(title)}</text>',
        f'<line x1="{mid}" y1="20" x2="{mid}" y2="{height}" stroke="#888"/>',
    ]
    for i, (v, name) in enumerate(zip(values, labels, strict=True)):
        y = 24 + i * (bar_h + gap)
        w = abs(v) / peak * (width / 2)
        x = mid if v >= 0 else mid - w
        colour = "#c0392b" if v > 0 else "#2471a3"
        short = name if len(name) <= 38 else name[:37] + "\u2026"
        parts.append(f'<text x="4" y="{y + 13}">{escape(short)}</text>')
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h}" fill="{colour}">'
            f"<title>{escape(name)}: {escape(_money(v))}</title></rect>"
        )
        parts.append(f'<text x="{left + width + 4}" y="{y + 13}">{escape(_money(v))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _records(frame: pd.DataFrame, columns: list[str] | None = None) -> list[dict]:
    cols = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    return frame[cols].astype(object).where(frame[cols].notna(), None).to_dict("records")


def _difference_rows(rows: pd.DataFrame) -> list[dict]:
    out = []
    for r in _records(rows, DIFF_COLUMNS):
        r["level_label"] = label(LEVEL_LABELS, r["level"])
        r["field_label"] = label(FIELD_LABELS, r["field"])
        r["matched_by_label"] = label(MATCHED_BY_LABELS, r.get("matched_by"))
        r["procore_text"] = _value(r["procore_value"], r)
        r["quickbooks_text"] = _value(r["quickbooks_value"], r)
        out.append(r)
    return out


def render_html(rec: Reconciliation, fragment: bool = False, max_rows: int = 5000) -> str:
    """The report page (``fragment=True``: the body only, for Jupyter)."""
    d = rec.differences
    groups = []
    for pair in rec.pairs:
        part = d[d["pair"] == pair]
        projects = []
        for project, rows in part.groupby(part["project"].fillna("(no project)"), sort=True):
            shown = rows.head(max_rows)
            projects.append(
                {
                    "project": project,
                    "count": len(rows),
                    "rows": _difference_rows(shown),
                    "truncated": len(rows) - len(shown),
                }
            )
        groups.append(
            {"pair": pair, "title": PAIR_TITLES.get(pair, pair), "count": len(part), "projects": projects}
        )
    reasons = _records(rec.reasons()) if not d.empty else []
    for r in reasons:
        r["pair_title"] = PAIR_TITLES.get(r["pair"], r["pair"])
    suggestions = _records(rec.suggestions)
    for r in suggestions:
        r["pair_title"] = PAIR_TITLES.get(r["pair"], r["pair"])
    template = _ENV.get_template("report.html")
    return template.render(
        fragment=fragment,
        created_at=rec.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        as_of=rec.as_of.isoformat() if rec.as_of else "",
        tolerance=rec.tolerance,
        # two tables that each fit a page: the records per column, then the money that ties out
        record_columns=[(c, SUMMARY_LABELS[c]) for c in ["label", *SUMMARY_COUNTS]],
        money_table_columns=[
            (c, MONEY_TITLES.get(c, SUMMARY_LABELS[c])) for c in ["label", *SUMMARY_MONEY, "amount"]
        ],
        money_columns=set(SUMMARY_MONEY),
        count_columns=set(SUMMARY_COUNTS),
        summary=_records(summary_frame(rec)),
        totals=summary_totals(rec),
        reasons=reasons,
        n_differences=rec.n_differences,
        total_delta=rec.total_delta,
        total_abs_delta=rec.total_abs_delta,
        by_project=bar_chart(
            rec.variance("project"), "project", "Variance by project (Procore - QuickBooks)"
        ),
        by_vendor=bar_chart(rec.variance("vendor"), "vendor", "Variance by vendor (Procore - QuickBooks)"),
        groups=groups,
        suggestions=suggestions,
        reason_codes=REASONS,
    )


# -- Excel ----------------------------------------------------------------------------------------------------
MONEY_FORMAT = "#,##0.00;-#,##0.00"
_WRAP = {"Reason", "Procore", "QuickBooks", "Pair", "Totals of"}


def _as_money(value: Any) -> Decimal | None:
    if is_missing(value):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _tolerance_text(tolerance: dict) -> str:
    parts = []
    for field, t in tolerance.items():
        name = "every money field" if field == "*" else label(FIELD_LABELS, field)
        parts.append(f"{name}: {t['abs']} absolute, {t['rel']} relative")
    return "; ".join(parts)


def _difference_sheet_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """A pair's findings as the accountant reads them: words, the counted delta apart from the details (so that
    the column's sum is the pair's Delta), the QuickBooks ids last and labelled."""
    counted = rows["counted"].fillna(False).astype(bool) if "counted" in rows else rows["level"] != "line"
    records = _difference_rows(rows)
    return pd.DataFrame(
        {
            DIFFERENCE_LABELS["project"]: [_text(r["project"]) for r in records],
            DIFFERENCE_LABELS["vendor"]: [_text(r["vendor"]) for r in records],
            DIFFERENCE_LABELS["number"]: [_text(r["number"]) for r in records],
            DIFFERENCE_LABELS["level"]: [r["level_label"] for r in records],
            DIFFERENCE_LABELS["cost_code"]: [_text(r["cost_code"]) for r in records],
            DIFFERENCE_LABELS["field"]: [r["field_label"] for r in records],
            DIFFERENCE_LABELS["procore_value"]: [_money_or_text(r["procore_value"], r) for r in records],
            DIFFERENCE_LABELS["quickbooks_value"]: [
                _money_or_text(r["quickbooks_value"], r) for r in records
            ],
            DIFFERENCE_LABELS["counted_delta"]: [
                _as_money(r["delta"]) if c else None for r, c in zip(records, counted, strict=True)
            ],
            DIFFERENCE_LABELS["detail_delta"]: [
                None if c else _as_money(r["delta"]) for r, c in zip(records, counted, strict=True)
            ],
            DIFFERENCE_LABELS["reason_text"]: [_text(r["reason_text"]) for r in records],
            DIFFERENCE_LABELS["matched_by"]: [r["matched_by_label"] for r in records],
            DIFFERENCE_LABELS["procore_id"]: [_text(r["procore_id"]) for r in records],
            DIFFERENCE_LABELS["quickbooks_id"]: [_text(r["quickbooks_id"]) for r in records],
            DIFFERENCE_LABELS["reason"]: [_text(r["reason"]) for r in records],
        }
    )


def _cell(value: Any, money: bool) -> Any:
    """A money column's amount as a number (text such as a candidate list stays text); other cells safe text."""
    if money and not isinstance(value, str):
        m = _as_money(value)
        if m is not None:
            return m
    return safe_cell(value)


def _money_or_text(value: Any, row: dict) -> Any:
    if not is_missing(row.get("delta")):
        m = _as_money(value)
        if m is not None:
            return m
    return _text(value) or None


def write_excel(rec: Reconciliation, path: Path) -> Path:
    """A workbook to hand to an accountant: a cover (run, tolerance, as-of, totals), the summary, one sheet per
    pair with findings, the suggestions when there are any. Human headers, widths, filters, frozen headers;
    money as numbers with two decimals; text a spreadsheet would evaluate is kept as text."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")

    def table(title: str, frame: pd.DataFrame, money: set[str], total: dict | None = None) -> None:
        ws = wb.create_sheet(title[:31])
        cols = list(frame.columns)
        ws.append(cols)
        for cell in ws[1]:
            cell.font = bold
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for row in frame.astype(object).itertuples(index=False, name=None):
            ws.append([_cell(v, c in money) for c, v in zip(cols, row, strict=True)])
        if total is not None:  # below the filtered range, bold: a filter never hides it
            ws.append([_cell(total.get(c), c in money) for c in cols])
            for cell in ws[ws.max_row]:
                cell.font = bold
        last = ws.max_row - (1 if total is not None else 0)
        for j, c in enumerate(cols, start=1):
            letter = get_column_letter(j)
            cells = ws[letter][1:]
            longest = max(
                [len(str(c))]
                + [len(_money(x.value)) if c in money else len(str(x.value or "")) for x in cells]
            )
            width = min(60 if c in _WRAP else 40, max(12, longest + 2))
            ws.column_dimensions[letter].width = width
            for cell in cells:
                if c in money and isinstance(cell.value, Decimal | int | float):
                    cell.number_format = MONEY_FORMAT
                elif c in _WRAP:
                    cell.alignment = wrap
        ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{last}"
        ws.freeze_panes = "B2"

    wb.remove(wb.active)
    totals = summary_totals(rec)
    cover = wb.create_sheet("Cover")
    rows: list[tuple[str, Any]] = [
        ("Procore / QuickBooks Desktop reconciliation", None),
        ("Run at", rec.created_at.strftime("%Y-%m-%d %H:%M UTC")),
        ("As of", rec.as_of.isoformat() if rec.as_of else "every date (no as-of date)"),
        ("Tolerance", _tolerance_text(rec.tolerance)),
        ("Pairs", ", ".join(PAIR_TITLES.get(p, p) for p in rec.pairs)),
        ("Findings", rec.n_differences),
        ("Delta (Procore - QuickBooks)", rec.total_delta),
        ("Absolute difference", rec.total_abs_delta),
        (
            "How to read it",
            "Per pair (Summary sheet): Procore total - In the queue - QuickBooks total - "
            "Explained by invoice findings - Within tolerance = Delta; the Delta is the sum of the pair sheet's "
            "'Difference (in the totals)' column. Items still in the approval queue are not differences.",
        ),
    ]
    for name, value in rows:
        cover.append([name, safe_cell(value)])
    cover["A1"].font = Font(bold=True, size=14)
    for cell in cover["A"]:
        if cell.row > 1:
            cell.font = bold
    for cell in cover["B"]:
        if isinstance(cell.value, Decimal):
            cell.number_format = MONEY_FORMAT
    cover.column_dimensions["A"].width = 44
    cover.column_dimensions["B"].width = 70
    for cell in cover["B"]:
        cell.alignment = Alignment(wrap_text=True, vertical="top", horizontal="left")

    table(
        "Summary",
        summary_frame(rec).rename(columns=SUMMARY_LABELS),
        {SUMMARY_LABELS[c] for c in SUMMARY_MONEY},
        total={SUMMARY_LABELS.get(k, k): v for k, v in totals.items()},
    )
    d = rec.differences
    money = {
        DIFFERENCE_LABELS[c] for c in ("procore_value", "quickbooks_value", "counted_delta", "detail_delta")
    }
    for pair in rec.pairs:
        rows_of_pair = d[d["pair"] == pair]
        if rows_of_pair.empty:
            continue  # no empty sheets: the summary says the pair agrees
        table(SHEET_NAMES.get(pair, pair), _difference_sheet_frame(rows_of_pair), money)
    if not rec.suggestions.empty:
        suggestions = rec.suggestions.copy()
        suggestions["pair"] = [PAIR_TITLES.get(p, p) for p in suggestions["pair"]]
        table("Suggestions", suggestions.rename(columns=SUGGESTION_LABELS), set())
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


__all__ = [
    "render_html",
    "write_excel",
    "safe_cell",
    "summary_frame",
    "summary_totals",
    "bar_chart",
    "PAIR_TITLES",
]
