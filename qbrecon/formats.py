"""How values leave qbrecon for people and spreadsheets: one rule each for missing values, money text and
cells a spreadsheet would evaluate as a formula.

Used by the CLI's table and CSV output, the Excel workbook and the HTML report. It imports only the lowest layer
(``schemas.types``), so every layer can use it.
"""

from __future__ import annotations

import csv
import io
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


__all__ = [
    "FORMULA_START",
    "is_missing",
    "money_text",
    "safe_cell",
    "safe_text",
    "write_csv",
    "csv_text",
]
