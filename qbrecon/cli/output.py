"""How listing commands print: ``table`` for people, ``csv`` and ``json`` for programs.

``table``: human headers, empty cells for missing values (never ``<NA>``, ``None`` or ``nan``), money as
``1,234.56`` (exact, from Decimal), long texts (blockers, reasons, QuickBooks errors) wrapped in full, never
cut. ``csv``: raw values, every text cell formula-safe (``qbrecon.formats.write_csv``: the one CSV writer).
``json``: raw records.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import textwrap
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import click
import pandas as pd

from ..formats import csv_text, is_missing, money_text

# Column headers in the users' words; anything not named here becomes "Sentence case" of its code.
HEADERS = {
    "item_type": "Item type", "item_label": "Item type", "procore_id": "Procore id", "name": "Name",
    "number": "Number", "vendor": "Vendor", "project": "Project", "amount": "Amount", "status": "Status code",
    "status_label": "Status", "sent_by_name": "Sent by", "sent_at": "Sent at", "decided_by_name": "Decided by",
    "decided_at": "Decided at", "reason": "Rejection reason", "last_error_message": "QuickBooks error",
    "last_error_code": "QuickBooks error code", "blockers": "Blocked by", "quickbooks_id": "QuickBooks id",
    "attempts": "Attempts", "can_send": "Can send", "setting": "Setting", "value": "Value",
}  # fmt: skip
WRAP_AT = 40  # characters per line of a long text column


def header(column: str, labels: Mapping[str, str] | None = None) -> str:
    if labels and column in labels:
        return labels[column]
    if column in HEADERS:
        return HEADERS[column]
    text = str(column).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


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
    widths = [
        max([len(h)] + [len(line) for cells in body for line in cells[j]]) for j, h in enumerate(heads)
    ]

    def fmt(texts: list[str]) -> str:
        parts = [t.rjust(w) if r else t.ljust(w) for t, w, r in zip(texts, widths, right, strict=True)]
        return "  ".join(parts).rstrip()

    out = [fmt(heads), fmt(["-" * w for w in widths])]
    for cells in body:
        for k in range(max(len(c) for c in cells)):
            out.append(fmt([c[k] if k < len(c) else "" for c in cells]))
    return "\n".join(out)


def emit(frame: pd.DataFrame, fmt: str, labels: Mapping[str, str] | None = None, empty: str = "(nothing)") -> None:
    """Print a frame in the chosen format (see the module's docstring)."""
    if fmt == "csv":
        click.echo(csv_text(frame), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", date_format="iso", default_handler=str))
    else:
        click.echo(render_table(frame, labels, empty=empty))


__all__ = ["emit", "render_table", "cell_text", "header", "HEADERS"]
