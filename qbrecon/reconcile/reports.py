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

from ..reasons import REASONS
from ..schemas.types import money_display

if TYPE_CHECKING:
    from .result import Reconciliation

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("qbrecon.reconcile", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)

PAIR_TITLES = {
    "company": "Companies / Vendors", "project": "Projects / Jobs", "cost_code": "Cost codes / Service items",
    "budget": "Budgets / Estimates", "commitment": "Commitments / Purchase orders",
    "change_order": "Change orders / PO lines", "invoice": "Subcontractor invoices / Bills",
    "payment": "Payments issued / Bill payments", "job_cost": "Job-to-date costs / Job costs",
}  # fmt: skip

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
    "reason",
    "reason_text",
]


_money = money_display  # the one reader-facing amount format


def _text(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return str(value)


_ENV.filters["money"] = _money
_ENV.filters["text"] = _text


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
    cols = columns or list(frame.columns)
    return frame[cols].astype(object).where(frame[cols].notna(), None).to_dict("records")


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
                    "rows": _records(shown, DIFF_COLUMNS),
                    "truncated": len(rows) - len(shown),
                }
            )
        groups.append(
            {"pair": pair, "title": PAIR_TITLES.get(pair, pair), "count": len(part), "projects": projects}
        )
    template = _ENV.get_template("report.html")
    return template.render(
        fragment=fragment,
        created_at=rec.created_at.isoformat(),
        as_of=rec.as_of.isoformat() if rec.as_of else "",
        tolerance=rec.tolerance,
        summary=_records(rec.summary),
        reasons=_records(rec.reasons()) if not d.empty else [],
        n_differences=rec.n_differences,
        total_abs_delta=rec.total_abs_delta,
        by_project=bar_chart(
            rec.variance("project"), "project", "Variance by project (Procore - QuickBooks)"
        ),
        by_vendor=bar_chart(rec.variance("vendor"), "vendor", "Variance by vendor (Procore - QuickBooks)"),
        groups=groups,
        suggestions=_records(rec.suggestions),
        reason_codes=REASONS,
    )


# -- Excel ----------------------------------------------------------------------------------------------------
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MONEY_FORMAT = "#,##0.00;-#,##0.00"


def safe_cell(value: Any) -> Any:
    """Text a spreadsheet would evaluate (``=HYPERLINK(...)``, ``+1``, ``@SUM``) is kept as text with a ``'``."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _as_money(value: Any) -> Decimal | None:
    if value is None or value is pd.NA:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def write_excel(rec: Reconciliation, path: Path) -> Path:
    """Summary sheet, one sheet per pair, suggestions; money as numbers, text formula-safe."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    bold = Font(bold=True)

    def sheet(
        title: str, frame: pd.DataFrame, money: set[str], money_if_delta: set[str] = frozenset()
    ) -> None:
        ws = wb.create_sheet(title[:31])
        cols = list(frame.columns)
        ws.append(cols)
        for cell in ws[1]:
            cell.font = bold
        has_delta = "delta" in cols
        for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None):
            record = dict(zip(cols, row, strict=True))
            out = []
            for c in cols:
                v = record[c]
                if c in money or (c in money_if_delta and has_delta and record["delta"] is not None):
                    m = _as_money(v)
                    out.append(m if m is not None else safe_cell(v))
                else:
                    out.append(safe_cell(v))
            ws.append(out)
        for j, c in enumerate(cols, start=1):
            letter = get_column_letter(j)
            if c in money or c in money_if_delta:
                for cell in ws[letter][1:]:
                    if isinstance(cell.value, Decimal | int | float):
                        cell.number_format = MONEY_FORMAT
            ws.column_dimensions[letter].width = min(40, max(10, len(c) + 2))
        ws.freeze_panes = "A2"

    wb.remove(wb.active)
    sheet("Summary", rec.summary, {"procore_total", "quickbooks_total", "delta", "abs_delta"})
    d = rec.differences
    for pair in rec.pairs:
        sheet(
            pair,
            d[d["pair"] == pair][DIFF_COLUMNS + ["matched_by"]],
            {"delta"},
            {"procore_value", "quickbooks_value"},
        )
    sheet("Suggestions", rec.suggestions, set())
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
