"""Column types shared by every table, and the value rules behind them.

Frames use Arrow-backed pandas dtypes so that what DuckDB stores (DECIMAL, DATE, TIMESTAMPTZ) comes back
unchanged: money stays exact decimal, never binary float.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any

import pandas as pd
import pyarrow as pa
from pandera.typing import Series

MONEY_TYPE = pa.decimal128(18, 2)
QUANTITY_TYPE = pa.decimal128(18, 5)

# Annotated pandas dtypes for DataFrameModel fields.
Id = Series[Annotated[pd.ArrowDtype, pa.int64()]]
Int = Series[Annotated[pd.ArrowDtype, pa.int64()]]
Text = Series[Annotated[pd.ArrowDtype, pa.string()]]
Bool = Series[Annotated[pd.ArrowDtype, pa.bool_()]]
Money = Series[Annotated[pd.ArrowDtype, MONEY_TYPE]]
Quantity = Series[Annotated[pd.ArrowDtype, QUANTITY_TYPE]]
Date = Series[Annotated[pd.ArrowDtype, pa.date32()]]
Timestamp = Series[Annotated[pd.ArrowDtype, pa.timestamp("us", tz="UTC")]]

ARROW_TO_DUCKDB = {
    pa.int64(): "BIGINT",
    pa.string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
    MONEY_TYPE: "DECIMAL(18,2)",
    QUANTITY_TYPE: "DECIMAL(18,5)",
    pa.date32(): "DATE",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
}

_CENT = Decimal("0.01")
_MONEY_JUNK = re.compile(r"[\s$,]")


class ValueError_(ValueError):
    """A single value could not be read; the message names what was expected."""


def parse_money(value: Any, places: int = 2) -> Decimal | None:
    """Read an amount from what Procore or QuickBooks sends: decimal strings, ints, floats, "$1,087.80".

    Floats go through their shortest repr (``str``) so 0.1 stays 0.10 rather than 0.1000000000000000055.
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool):
        raise ValueError_(f"expected an amount, got boolean {value!r}")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int | float):
        d = Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        negative = text.startswith("(") and text.endswith(")")
        text = _MONEY_JUNK.sub("", text.strip("()"))
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise ValueError_(f"expected an amount, got {value!r}") from None
        if negative:
            d = -d
    else:
        raise ValueError_(f"expected an amount, got {type(value).__name__}")
    if not d.is_finite():
        raise ValueError_(f"expected a finite amount, got {value!r}")
    q = Decimal(1).scaleb(-places)
    rounded = d.quantize(q)
    if rounded != d:
        raise ValueError_(f"amount {value!r} has more than {places} decimal places")
    if abs(rounded) >= Decimal(10) ** (18 - places):
        raise ValueError_(f"amount {value!r} is out of range")
    return rounded


def normalise_status(value: Any) -> str | None:
    """'Out For Signature' / 'out_for_signature' / 'Approved' -> 'out_for_signature' / 'approved'."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def money_text(value: Decimal) -> str:
    """An amount as qbXML wants it: plain, signed, two decimals, no separators (half a cent rounds up, as
    QuickBooks rounds a line's Quantity x Rate)."""
    return f"{Decimal(value).quantize(_CENT, rounding=ROUND_HALF_UP):f}"


def money_display(value: Any) -> str:
    """An amount as a reader sees it (dashboard, notebooks, reports): ``1,234.56``, blank for missing values.
    Exact for Decimals; a float goes through its shortest repr first."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    try:
        return f"{value if isinstance(value, Decimal) else Decimal(str(value)):,.2f}"
    except InvalidOperation:  # not an amount (a label in a money column): shown as it is
        return str(value)


# -- names ------------------------------------------------------------------------------------------------------
# Legal-form suffixes and punctuation do not make two firms different ("Acme Concrete, Inc." = "ACME concrete
# LLC"); "&" and "and" are the same word. One rule, three shapes: a Python function, a vectorised one for frames
# and a DuckDB macro for SQL (reconciliation's business keys), all built from these two patterns.
LEGAL_FORMS = (
    "inc",
    "incorporated",
    "llc",
    "l l c",
    "co",
    "corp",
    "corporation",
    "company",
    "ltd",
    "limited",
    "lp",
    "llp",
    "pc",
    "pllc",
)
_LEGAL_SUFFIX = r"( (" + "|".join(LEGAL_FORMS) + r"))+ *$"
_NON_ALNUM = r"[^a-z0-9]+"
_LEGAL_SUFFIX_RE = re.compile(_LEGAL_SUFFIX)
_NON_ALNUM_RE = re.compile(_NON_ALNUM)


def normalise_name(name: Any) -> str:
    """The key two names are equal by: lower case, '&' -> 'and', punctuation to spaces, trailing legal forms
    dropped, spaces collapsed (``"Acme Concrete, Inc."`` -> ``"acme concrete"``); '' for a missing name."""
    if name is None or name is pd.NA or (isinstance(name, float) and name != name):
        return ""
    text = _NON_ALNUM_RE.sub(" ", str(name).lower().replace("&", " and "))
    return _LEGAL_SUFFIX_RE.sub("", " ".join(text.split())).strip()


def normalise_names(names: pd.Series) -> list[str]:
    """``normalise_name`` over a column at once."""
    s = names.astype("string").fillna("").str.lower().str.replace("&", " and ", regex=False)
    s = s.str.replace(_NON_ALNUM, " ", regex=True).str.split().str.join(" ")
    return s.str.replace(_LEGAL_SUFFIX, "", regex=True).str.strip().fillna("").tolist()


# The same rule in DuckDB (NULL for a name that normalises to nothing, so it never matches another).
# The spaces are trimmed before the legal form is dropped, as in Python (".CO" is "co", not "").
NORMALISE_NAME_MACRO = rf"""CREATE OR REPLACE TEMP MACRO qbr_norm_name(s) AS nullif(trim(regexp_replace(trim(regexp_replace(
        regexp_replace(regexp_replace(lower(s), '&', ' and ', 'g'), '{_NON_ALNUM}', ' ', 'g'),
        '\s+', ' ', 'g')), '{_LEGAL_SUFFIX}', '', 'g')), '')"""
