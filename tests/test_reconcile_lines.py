"""compare_lines: the line comparison the reconciliation engine runs, on caller-given frames."""

from __future__ import annotations

from decimal import Decimal as D

import pandas as pd
import pyarrow as pa
import pytest

from qbrecon.errors import InputError
from qbrecon.reconcile import compare_lines

MONEY = pa.decimal128(18, 2)


def lines(rows: list[tuple]) -> pa.Table:
    return pa.table(
        {
            "txn": pa.array([r[0] for r in rows], pa.string()),
            "item": pa.array([r[1] for r in rows], pa.string()),
            "amount": pa.array([r[2] for r in rows], MONEY),
        }
    )


def test_differences_missing_and_extra_lines_with_tolerance():
    p = lines(
        [
            ("B1", "I1", D("100.00")),
            ("B1", "I2", D("50.00")),
            ("B2", "I1", D("10.00")),
            ("B2", "I3", D("7.00")),
        ]
    )
    q = lines(
        [
            ("B1", "I1", D("100.01")),
            ("B1", "I2", D("55.00")),
            ("B2", "I1", D("10.00")),
            ("B3", "I9", D("1.00")),
        ]
    )
    d = compare_lines(p, q, keys=["txn", "item"], tolerance="0.01")
    got = {
        (t, i): (r, delta)
        for t, i, r, delta in zip(d["txn"], d["item"], d["reason"], d["delta"], strict=True)
    }
    assert got == {
        ("B1", "I2"): ("amount_differs", D("-5.00")),  # 100.00 vs 100.01 is within the tolerance
        ("B2", "I3"): ("line_missing_in_quickbooks", D("7.00")),
        ("B3", "I9"): ("line_only_in_quickbooks", D("-1.00")),
    }
    assert str(d["procore_amount"].dtype).startswith("decimal")  # money stays decimal
    assert d["reason_text"].notna().all()
    assert compare_lines(p, q, keys=["txn", "item"]).shape[0] == 4  # no tolerance: the 0.01 counts too


def test_lines_with_the_same_key_are_added_up():
    p = lines([("B1", "I1", D("60.00")), ("B1", "I1", D("40.00"))])
    q = pd.DataFrame(
        {"txn": ["B1"], "item": ["I1"], "amount": pd.Series([D("100.00")], dtype=pd.ArrowDtype(MONEY))}
    )
    assert compare_lines(p, q, keys=["txn", "item"]).empty


def test_float_money_and_missing_columns_are_refused():
    p = lines([("B1", "I1", D("1.00"))])
    q = pd.DataFrame({"txn": ["B1"], "item": ["I1"], "amount": [1.0]})
    with pytest.raises(InputError, match="amounts must be decimal") as err:
        compare_lines(p, q, keys=["txn", "item"])
    assert err.value.field == "amount" and err.value.file == "QuickBooks lines"
    with pytest.raises(InputError, match="no column"):
        compare_lines(p, p.drop_columns(["item"]), keys=["txn", "item"])
