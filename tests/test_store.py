"""The store: schema version, atomic transactions, exact money, and DuckDB 2.0's pending results."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest

from qbrecon.store import Store


def test_half_read_results_do_not_block_register_or_sql():
    store = Store()
    store.con.execute("SELECT * FROM range(10)").fetchone()  # leaves nine rows unread
    store.con.register("t", pa.table({"a": [1, 2]}))
    store.con.execute("SELECT * FROM range(10)").fetchone()
    assert store.con.sql("SELECT sum(a) FROM t").fetchall() == [(3,)]


def test_transaction_is_all_or_nothing_and_nests():
    store = Store()
    with pytest.raises(RuntimeError), store.transaction() as con:
        con.execute("INSERT INTO qbrecon_meta VALUES ('x', '1')")
        with store.transaction() as inner:
            inner.execute("INSERT INTO qbrecon_meta VALUES ('y', '2')")
        raise RuntimeError("boom")
    assert store.scalar("SELECT count(*) FROM qbrecon_meta WHERE key IN ('x', 'y')") == 0


def test_money_comes_back_as_exact_decimal(tmp_path):
    store = Store(tmp_path / "w.duckdb")
    frame = store.frame("SELECT 0.1::DECIMAL(18,2) + 0.2::DECIMAL(18,2) AS total")
    assert frame["total"].iloc[0] == Decimal("0.30")
    assert str(frame["total"].dtype).startswith("decimal128")
    assert store.schema_version >= 1


def test_upsert_counts_inserted_and_updated():
    store = Store()
    row = {"key": ["a"], "value": ["1"]}
    store.execute("CREATE TABLE kv (key VARCHAR PRIMARY KEY, value VARCHAR)")
    assert store.upsert("kv", pa.table(row), ["key"]) == (1, 0)
    assert store.upsert("kv", pa.table({"key": ["a", "b"], "value": ["2", "3"]}), ["key"]) == (1, 1)
    assert store.frame("SELECT value FROM kv ORDER BY key")["value"].tolist() == ["2", "3"]


def test_sql_is_a_relation_with_or_without_parameters():
    store = Store()
    assert store.sql("SELECT 41 + 1").fetchall() == [(42,)]
    rel = store.sql("SELECT ?::DECIMAL(18,2) + 0.10::DECIMAL(18,2) AS total", [Decimal("0.20")])
    assert rel.columns == ["total"]
    assert rel.fetchall() == [(Decimal("0.30"),)]
