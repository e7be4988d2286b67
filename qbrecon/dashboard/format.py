"""Turning one page of rows into what a person reads: amounts as 1,234.56, ids without separators, times in one
time zone, titles in Procore's and QuickBooks' words, and every text escaped. Only pages (tens of rows) pass
through here, never a whole table.

Two rules keep the browser tables right whatever the first page looked like:

- every cell goes to the browser as text (``str`` columns, empty string for a missing value), so the table never
  guesses a number format from a first page that happened to be empty (``NaN``, ``1,280,001.0``);
- text shown in a Markdown or HTML pane goes through ``esc`` first: Procore names, rejection reasons and
  QuickBooks or Web Connector errors are data, never markup.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa

from ..erp.states import STATUSES
from ..formats import is_missing
from ..schemas.types import money_display as money_text  # the one reader-facing amount format

# Markdown's inline punctuation, escaped with a backslash so a name like "*Acme*" or "[x](y)" stays literal;
# a block marker ("# ", "- ", "1. ") only counts at the start of the text.
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")
_BLOCK_START = re.compile(r"^([#+\-=>])")
_ORDERED_START = re.compile(r"^(\d+)([.)])")


def esc(value: Any) -> str:
    """``value`` as literal text for a Markdown/HTML pane: HTML escaped, Markdown punctuation neutralised,
    line breaks kept as spaces. Use it for every piece of data put into a pane's text."""
    text = "" if is_missing(value) else str(value)
    text = " ".join(text.split())  # a newline in data must not start a Markdown block
    text = _MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(text, quote=True))
    return _ORDERED_START.sub(r"\1\\\2", _BLOCK_START.sub(r"\\\1", text))


def when_text(value: Any) -> str:
    """A time as people read it, always in the server's local time zone with its name ("2026-11-28 16:52 UTC");
    ISO strings (settings) and timestamps (tables) come out the same way. Dates stay dates."""
    if is_missing(value) or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            try:
                value = pd.Timestamp(value).to_pydatetime()
            except (ValueError, TypeError):
                return value
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # the store writes UTC
        local = value.astimezone()
        return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or "")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def id_text(value: Any) -> str:
    """An identifier: digits only, never 1,280,001 or 1280001.0."""
    if is_missing(value) or value == "":
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    return str(value)


def count_text(value: Any) -> str:
    if is_missing(value) or value == "":
        return ""
    return f"{int(value):,}"


def hours_text(value: Any) -> str:
    if is_missing(value) or value == "":
        return ""
    number = Decimal(str(value)).quantize(Decimal("0.01"))
    return f"{number:,.2f}"


def plain_text(value: Any) -> str:
    if is_missing(value):
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, Decimal):
        return money_text(value)
    if isinstance(value, datetime | pd.Timestamp):
        return when_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return detail_text(value)
    return str(value)


_FORMATTERS = {
    "text": plain_text,
    "id": id_text,
    "money": lambda v: "" if is_missing(v) else money_text(v),
    "count": count_text,
    "hours": hours_text,
    "time": when_text,
    "status": lambda v: "" if is_missing(v) else STATUSES.get(str(v), str(v)),
}


@dataclass(frozen=True)
class Column:
    """One column of a browser table: the frame's column, its title, how its cells read, its width."""

    key: str
    title: str
    kind: str = "text"  # text | id | money | count | hours | time | status
    width: int = 140

    @property
    def align(self) -> str:
        return "right" if self.kind in ("money", "count", "hours") else "left"


def table_frame(frame: pd.DataFrame, columns: list[Column]) -> pd.DataFrame:
    """The page as the browser table shows it: one ``str`` column per ``Column``, in order, the same dtypes
    with or without rows."""
    out: dict[str, list[str]] = {}
    for c in columns:
        values = frame[c.key].tolist() if c.key in frame.columns else [None] * len(frame)
        out[c.key] = [_FORMATTERS[c.kind](v) for v in values]
    return pd.DataFrame(out, columns=[c.key for c in columns], dtype=object).astype("str")


def table_options(columns: list[Column]) -> dict[str, Any]:
    """Tabulator keyword arguments for ``columns``: titles, fixed widths (nothing leaks from another table),
    alignment, and plain-text formatters."""
    return {
        "titles": {c.key: c.title for c in columns},
        "widths": {c.key: c.width for c in columns},
        "text_align": {c.key: c.align for c in columns},
        "header_align": {c.key: c.align for c in columns},
        # Tabulator's own "plaintext" (the text escaped, as the cell's content) instead of Panel's default, which
        # formats each cell through a Bokeh formatter into HTML and parses that back into a node: every cell is
        # text already (``table_frame``); alignment comes from ``text_align`` (Tabulator's hozAlign).
        "formatters": {c.key: "plaintext" for c in columns},
    }


def guess_kind(name: str, dtype: Any) -> str:
    """How to show a column of a frame nobody declared columns for (record details, reconciliation)."""
    if isinstance(dtype, pd.ArrowDtype):
        t = dtype.pyarrow_dtype
        if pa.types.is_decimal(t):
            return "hours" if "hours" in name else "money"
        if pa.types.is_timestamp(t):
            return "time"
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        return "time"
    if name == "id" or name.endswith("_id") or name.endswith("ListID") or name.endswith("TxnID"):
        return "id"
    if pd.api.types.is_integer_dtype(dtype):
        return "count"
    if pd.api.types.is_float_dtype(dtype):
        return "id" if name.endswith("id") else "text"
    return "text"


def for_display(frame: pd.DataFrame) -> pd.DataFrame:
    """Any frame as text cells, each column formatted by its name and type (ids without separators, money
    exact, times in one zone, missing values empty)."""
    columns = [Column(str(c), label(str(c)), guess_kind(str(c), frame[c].dtype)) for c in frame.columns]
    out = table_frame(frame.reset_index(drop=True), columns)
    return out


# -- field names in people's words ---------------------------------------------------------------------------
LABELS: dict[str, str] = {
    "procore_id": "Procore ID",
    "id": "Procore ID",
    "quickbooks_id": "QuickBooks ID",
    "origin_id": "QuickBooks link (origin ID)",
    "origin_data": "QuickBooks link data",
    "origin_code": "QuickBooks code",
    "project_id": "Project ID",
    "vendor_id": "Vendor ID",
    "commitment_id": "Commitment ID",
    "contract_id": "Commitment ID",
    "requisition_id": "Invoice ID",
    "created_by_id": "Created by (user ID)",
    "cost_code_id": "Cost code ID",
    "vendor_name": "Vendor",
    "vendor_company": "Vendor",
    "invoice_number": "Invoice #",
    "project_number": "Project #",
    "number": "Number",
    "erp_status": "ERP status",
    "total_value": "Total value",
    "grand_total": "Grand total",
    "current_payment_due": "Current payment due",
    "total_claimed_amount": "Total claimed",
    "work_completed_this_period": "Work completed this period",
    "description_of_work": "Description of work",
    "last_error_code": "QuickBooks error code",
    "last_error_message": "QuickBooks error",
    "sent_by_name": "Sent by",
    "decided_by_name": "Decided by",
    "actor_name": "By",
    "at": "When",
    "from_status": "From",
    "to_status": "To",
    "item_type": "Item type",
    "audit_id": "#",
    "FullName": "Full name",
    "ListID": "QuickBooks list ID",
    "TxnID": "QuickBooks transaction ID",
    "EditSequence": "Edit sequence",
    "RefNumber": "Ref #",
    "TxnDate": "Date",
    "VendorRef_FullName": "Vendor",
    "CustomerRef_FullName": "Customer:Job",
}


def label(name: str) -> str:
    """A field name as a reader's label: ``total_claimed_amount`` -> "Total claimed amount",
    ``VendorRef_FullName`` -> "Vendor ref full name"."""
    if name in LABELS:
        return LABELS[name]
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ").split()
    words = ["ID" if w.lower() == "id" else w for w in words]
    text = " ".join(words)
    return text[:1].upper() + text[1:].lower().replace(" id", " ID") if text else name


def record_table(record: dict[str, Any]) -> pd.DataFrame:
    """A record as two text columns (field, value) for a details panel: human labels, fields with a value
    first, internal link fields (``origin_*``) after them, empty fields left out."""
    rows: list[tuple[int, str, str]] = []
    for key, value in record.items():
        text = id_text(value) if key == "id" or key.endswith("_id") else plain_text(value)
        if text == "":
            continue
        rows.append((1 if key.startswith("origin_") else 0, label(key), text))
    rows.sort(key=lambda r: r[0])
    return pd.DataFrame({"field": [r[1] for r in rows], "value": [r[2] for r in rows]}, dtype=object).astype(
        "str"
    )


# -- the audit log in plain words ------------------------------------------------------------------------------
ACTION_WORDS: dict[str, str] = {
    "send": "Sent to ERP",
    "resend": "Sent again after rejection",
    "retrieve": "Retrieved by the sender",
    "accept": "Accepted for export",
    "reject": "Rejected",
    "retry": "Export retried",
    "unlink": "Unlinked from QuickBooks",
    "export_succeeded": "Exported to QuickBooks",
    "export_failed": "Export failed",
    "refresh": "Status taken from Procore's data",
    "import": "Imported from QuickBooks",
    "update_settings": "Settings changed",
    "set_user_password": "Dashboard password set",
    "set_service_credentials": "Web Connector sign-in set",
    "vendor_auto_update": "Vendor updated from QuickBooks",
    "link_vendor": "Vendor linked to QuickBooks",
}


def action_text(action: Any) -> str:
    if is_missing(action):
        return ""
    action = str(action)
    if action in ACTION_WORDS:
        return ACTION_WORDS[action]
    if action.endswith("_direct_export") and action.removesuffix("_direct_export") in ACTION_WORDS:
        return ACTION_WORDS[action.removesuffix("_direct_export")] + " (direct export)"
    return label(action)


def detail_text(detail: Any) -> str:
    """An audit row's detail: JSON objects as "Label: value; ..." (no braces or quotes), other text as is."""
    if is_missing(detail):
        return ""
    value = detail
    if isinstance(detail, str):
        stripped = detail.strip()
        if not stripped.startswith(("{", "[")):
            return detail
        try:
            value = json.loads(stripped)
        except ValueError:
            return detail
    if isinstance(value, dict):
        parts = []
        for k, v in value.items():
            if isinstance(v, dict):
                v = v.get("FullName") or v.get("name") or ", ".join(f"{a}: {b}" for a, b in v.items())
            parts.append(f"{label(str(k))}: {'(none)' if v is None else plain_text(v)}")
        return "; ".join(parts)
    if isinstance(value, list):
        return ", ".join(plain_text(v) for v in value)
    return plain_text(value)
