"""Turning one page of rows into what a person reads: amounts as 1,234.56, times as local text, titles in
Procore's and QuickBooks' words. Only pages (tens of rows) pass through here, never a whole table.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa

from ..schemas.types import money_display as money_text  # the one reader-facing amount format

TITLES: dict[str, str] = {
    "procore_id": "Procore ID",
    "number": "Number",
    "name": "Name",
    "vendor": "Vendor",
    "project": "Project",
    "amount": "Amount",
    "status_label": "Status",
    "reason": "Reason",
    "error": "QuickBooks error",
    "attempts": "Attempts",
    "quickbooks_id": "QuickBooks ID",
    "updated_at": "Updated",
    "at": "When",
    "actor_name": "By",
    "action": "Action",
    "item_type": "Item type",
    "from_status": "From",
    "to_status": "To",
    "detail": "Detail",
    "audit_id": "#",
}

# Display column -> the stored column to sort by.
SORT_COLUMN: dict[str, str] = {"status_label": "status", "error": "last_error_message"}


def is_money(dtype: Any) -> bool:
    return isinstance(dtype, pd.ArrowDtype) and pa.types.is_decimal(dtype.pyarrow_dtype)


def is_time(dtype: Any) -> bool:
    return isinstance(dtype, pd.ArrowDtype) and (
        pa.types.is_timestamp(dtype.pyarrow_dtype) or pa.types.is_date(dtype.pyarrow_dtype)
    )


def for_display(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain Python objects the browser table can show exactly: decimals as text (never float), times as
    text, missing values as empty cells."""
    out = pd.DataFrame(index=range(len(frame)))
    for column in frame.columns:
        series = frame[column].reset_index(drop=True)
        dtype = series.dtype
        if is_money(dtype):
            out[column] = [money_text(v) for v in series.tolist()]
        elif is_time(dtype):
            out[column] = [
                ""
                if v is None or v is pd.NaT
                else (v.strftime("%Y-%m-%d %H:%M") if hasattr(v, "hour") else str(v))
                for v in series.tolist()
            ]
        elif isinstance(dtype, pd.ArrowDtype) and pa.types.is_integer(dtype.pyarrow_dtype):
            out[column] = ["" if v is None or v is pd.NA else int(v) for v in series.tolist()]
        else:
            out[column] = [_plain(v) for v in series.tolist()]
    return out


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, Decimal):
        return money_text(value)
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "hour") else str(value)
    return value


def queue_display(frame: pd.DataFrame) -> pd.DataFrame:
    """A queue page as the table shows it: one "QuickBooks error" column instead of code + message."""
    shown = frame.copy()
    code, message = shown["last_error_code"], shown["last_error_message"]
    shown["error"] = [
        "" if m is None or m is pd.NA else (f"{c}: {m}" if c is not None and c is not pd.NA else str(m))
        for c, m in zip(code.tolist(), message.tolist(), strict=True)
    ]
    shown["procore_id"] = shown["procore_id"].astype("string")  # an identifier, not a quantity: no 1,000
    columns = [
        "procore_id",
        "number",
        "name",
        "vendor",
        "project",
        "amount",
        "status_label",
        "reason",
        "error",
        "attempts",
        "updated_at",
    ]
    return for_display(shown[columns])


def record_table(record: dict[str, Any]) -> pd.DataFrame:
    """A record as two columns (field, value) for the details panel."""
    values = for_display(pd.DataFrame([record])) if record else pd.DataFrame()
    return pd.DataFrame(
        {"field": list(values.columns), "value": [str(values.iloc[0][c]) for c in values.columns]}
    )
