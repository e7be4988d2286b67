"""One place per rule: names are normalised by one rule, amounts read and written by one parser and formatter,
and QuickBooks' length limits are written only in the qbXML spec tables."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from qbrecon import display
from qbrecon.qbxml import spec
from qbrecon.reconcile import matching, reports, rules
from qbrecon.schemas.types import (
    NORMALISE_NAME_MACRO,
    money_display,
    money_text,
    normalise_name,
    normalise_names,
)

PACKAGE = Path(__file__).resolve().parents[1] / "qbrecon"

NAMES = [
    "Acme Concrete, Inc.",
    "ACME concrete LLC",
    "B & C Co",
    "Smith Builders L.L.C.",
    "Jones Paving LP",
    "Delta Drywall PLLC",
    "The Co",
    "",
    "  x  ",
    "Inc",
    "Oak & Stone Co Inc",
]


_CON = duckdb.connect()
_CON.execute(NORMALISE_NAME_MACRO)


def _sql(names: list[str | None]) -> list[str]:
    rows = _CON.execute("SELECT qbr_norm_name(n) FROM unnest(?) AS t(n)", [names]).fetchall()
    return [r[0] or "" for r in rows]


def test_the_name_rule_examples():
    assert normalise_name("Acme Concrete, Inc.") == normalise_name("ACME concrete LLC") == "acme concrete"
    assert normalise_name("Jones Paving LP") == "jones paving"  # the queue's old rule kept "lp"
    assert normalise_name("B & C Co") == "b and c"
    assert normalise_name(None) == ""


@settings(deadline=None, max_examples=60)
# a name that is only a legal form once lost its leading space in SQL only
@example([".CO", " co", "Acme Co"])
@given(st.lists(st.text(alphabet="abcAB &.,-'LlCcIiNnOo ", max_size=30), min_size=1, max_size=8))
def test_python_frame_and_sql_shapes_of_the_rule_agree(names):
    one = [normalise_name(n) for n in names]
    assert normalise_names(pd.Series(names, dtype="object")) == one
    assert _sql(names) == one


def test_every_user_of_names_uses_the_one_rule():
    assert matching.normalise_name is normalise_name
    assert NORMALISE_NAME_MACRO in rules.MACROS


def test_one_money_format_for_readers_and_one_for_qbxml():
    assert display.money_text is money_display and reports._money is money_display
    assert (
        money_display(Decimal("1234.5")) == "1,234.50"
        and money_display(None) == ""
        and money_display(0.1) == "0.10"
    )
    assert (
        money_text(Decimal("2.345")) == "2.35" and money_text(Decimal("-1")) == "-1.00"
    )  # half a cent rounds up


# A limit written as a literal next to a length check, outside the spec tables, is a second source of the rule.
_LIMITS = "|".join(sorted({str(v) for v in spec.MAXLEN.values()}, key=int))
# a slice is a truncation to a limit only for the long text limits (a slice to 20 or 50 is usually a page of a list)
_TEXT_LIMITS = "|".join(str(v) for v in sorted({v for v in spec.MAXLEN.values() if v > 36}))
_LITERAL_LIMIT = re.compile(
    rf"(len(gth)?\([^)]*\)\s*[<>]=?\s*({_LIMITS})\b|\b({_LIMITS}) AS name_limit|\[:({_TEXT_LIMITS})\]"
    rf"|allow ({_LIMITS})\b)"
)
_NOT_QUICKBOOKS = re.compile(
    r"problems\)? ?[>\[]|create_sheet"
)  # a list shown to a reader; Excel's sheet names


@pytest.mark.parametrize("path", sorted(p for p in PACKAGE.rglob("*.py") if p.name != "spec.py"), ids=str)
def test_no_quickbooks_limit_is_written_outside_the_spec_tables(path):
    found = [
        f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if _LITERAL_LIMIT.search(line) and not _NOT_QUICKBOOKS.search(line)
    ]
    assert found == []
