"""How values leave qbrecon for people and spreadsheets: one rule each for missing values, money text and
cells a spreadsheet would evaluate as a formula.

Used by the CLI's table and CSV output, the Excel workbook and the HTML report. It imports only the lowest layer
(``schemas.types``), so every layer can use it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil
import textwrap
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TextIO

import pandas as pd

from .schemas.types import money_display

# A cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice and Google Sheets:
# "=HYPERLINK(...)", "+1+cmd|...", "-2+3", "@SUM(...)", and a leading tab or carriage return (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def is_missing(value: Any) -> bool:
    """None, pandas' NA/NaT and NaN: printed as an empty cell, never as ``<NA>``, ``None`` or ``nan``."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and value != value


money_text = money_display  # ``1,234.56`` exact from a Decimal, "" for missing: the one reader-facing format


def safe_cell(value: Any) -> Any:
    """A text a spreadsheet would evaluate is kept as text with a leading ``'``; numbers pass unchanged.

    ``-1.00`` as a Decimal stays a number; the text ``"-1+1"`` becomes ``"'-1+1"``.
    """
    if is_missing(value):
        return None
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def safe_text(value: Any) -> str:
    """``safe_cell`` as text for a CSV cell: "" for a missing value, numbers as written."""
    cell = safe_cell(value)
    return "" if cell is None else str(cell)


def write_csv(frame: pd.DataFrame, out: TextIO, header: bool = True) -> None:
    """A frame as CSV for a spreadsheet or a program: every text cell formula-safe (``safe_cell``), missing
    values empty, numbers and Decimals exact. The one CSV writer of every ``--format csv``."""
    # RFC 4180 line ends: a field holding a CR or an LF is then always quoted
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow([safe_text(c) for c in frame.columns])
    for row in frame.astype(object).itertuples(index=False, name=None):
        writer.writerow([safe_text(v) for v in row])


def csv_text(frame: pd.DataFrame, header: bool = True) -> str:
    buffer = io.StringIO()
    write_csv(frame, buffer, header=header)
    return buffer.getvalue()


# Column headers in the users' words; anything not named here becomes "Sentence case" of its code.
HEADERS = {
    "item_type": "Item type",
    "item_label": "Item type",
    "procore_id": "Procore id",
    "name": "Name",
    "number": "Number",
    "vendor": "Vendor",
    "project": "Project",
    "amount": "Amount",
    "status": "Status code",
    "status_label": "Status",
    "sent_by_name": "Sent by",
    "sent_at": "Sent at",
    "decided_by_name": "Decided by",
    "decided_at": "Decided at",
    "reason": "Rejection reason",
    "last_error_message": "QuickBooks error",
    "last_error_code": "QuickBooks error code",
    "blockers": "Blocked by",
    "quickbooks_id": "QuickBooks id",
    "attempts": "Attempts",
    "can_send": "Can send",
    "setting": "Setting",
    "value": "Value",
}
WRAP_AT = 40  # characters per line of a long text column


def header(column: str, labels: Mapping[str, str] | None = None) -> str:
    if labels and column in labels:
        return labels[column]
    if column in HEADERS:
        return HEADERS[column]
    text = str(column).replace("_", " ").strip()
    text = text[:1].upper() + text[1:]
    # the systems' own spelling
    return re.sub(
        r"\bquickbooks\b", "QuickBooks", re.sub(r"\bprocore\b", "Procore", text, flags=re.I), flags=re.I
    )


def cell_text(value: Any, money: bool = False) -> str:
    """One value as people read it."""
    if is_missing(value):
        return ""
    if money or isinstance(value, Decimal):
        return money_text(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M") + (f" {value.tzname()}" if value.tzinfo else "")
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str)
    return str(value)


def _is_money(series: pd.Series) -> bool:
    return "decimal" in str(series.dtype)


def _is_number(series: pd.Series) -> bool:
    if _is_money(series):
        return True
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def render_table(
    frame: pd.DataFrame,
    labels: Mapping[str, str] | None = None,
    empty: str = "(nothing)",
    wrap_at: int | None = None,
) -> str:
    """A plain-text table: human headers, formatted cells, long texts wrapped (every word kept)."""
    if frame.empty:
        return empty
    width = wrap_at or max(WRAP_AT, min(60, shutil.get_terminal_size((120, 24)).columns // 3))
    columns = list(frame.columns)
    heads = [header(c, labels) for c in columns]
    money = [_is_money(frame[c]) for c in columns]
    right = [_is_number(frame[c]) for c in columns]
    body: list[list[list[str]]] = []
    for row in frame.astype(object).itertuples(index=False, name=None):
        cells = []
        for value, is_money in zip(row, money, strict=True):
            text = cell_text(value, is_money)
            lines: list[str] = []
            for part in text.splitlines() or [""]:
                lines += textwrap.wrap(part, width, break_long_words=True, break_on_hyphens=False) or [""]
            cells.append(lines)
        body.append(cells)
    widths = [max([len(h)] + [len(line) for cells in body for line in cells[j]]) for j, h in enumerate(heads)]

    def fmt(texts: list[str]) -> str:
        parts = [t.rjust(w) if r else t.ljust(w) for t, w, r in zip(texts, widths, right, strict=True)]
        return "  ".join(parts).rstrip()

    out = [fmt(heads), fmt(["-" * w for w in widths])]
    for cells in body:
        for k in range(max(len(c) for c in cells)):
            out.append(fmt([c[k] if k < len(c) else "" for c in cells]))
    return "\n".join(out)


__all__ = [
    "FORMULA_START",
    "is_missing",
    "money_text",
    "safe_cell",
    "safe_text",
    "write_csv",
    "csv_text",
    "render_table",
    "cell_text",
    "header",
    "HEADERS",
]
