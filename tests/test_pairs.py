"""The pair declarations (``qbrecon.entities.PAIRS``) are what the link lifecycle reads: each declared pair is
checked here against the schema, the builders and the queue, one test per pair."""

from __future__ import annotations

import pytest

from qbrecon import links
from qbrecon.entities import EXPORTABLE, PAIRS, dependencies_sql
from qbrecon.qbxml import spec
from qbrecon.qbxml.build import _PREPARE
from qbrecon.schemas import TABLES

EXPORT_PAIRS = [PAIRS[t] for t in EXPORTABLE]


@pytest.mark.parametrize("pair", EXPORT_PAIRS, ids=lambda p: p.item_type)
def test_declared_columns_exist(pair):
    columns = set(TABLES[pair.procore_table].column_names)
    assert set(pair.changed_fields) <= columns, set(pair.changed_fields) - columns
    for line in pair.lines:
        line_columns = set(TABLES[line.table].column_names)
        assert {line.parent_key, *line.fields} <= line_columns, line


@pytest.mark.parametrize("pair", EXPORT_PAIRS, ids=lambda p: p.item_type)
def test_declared_sql_runs(pair, ws):
    con = ws.store.con
    if (sql := links.fingerprint_sql(pair)) is not None:
        con.execute(sql).fetchall()
    for _, parent_sql in pair.parents:
        assert len(con.execute(f"SELECT * FROM ({parent_sql})").description) == 2
    if pair.amount:
        con.execute(f'SELECT {pair.amount[0]} FROM "{pair.procore_table}" t').fetchall()
        assert pair.amount[1] in TABLES[pair.quickbooks_table].column_names
    if pair.cannot_modify:
        con.execute(
            f'SELECT count(*) FROM "{pair.quickbooks_table}" q WHERE {pair.cannot_modify[0]}'
        ).fetchall()


@pytest.mark.parametrize("pair", EXPORT_PAIRS, ids=lambda p: p.item_type)
def test_updates_have_a_mod_the_builder_and_the_schema_know(pair):
    if not pair.updatable:
        return
    assert pair.item_type in _PREPARE
    assert pair.mod_request in spec.ORDER, f"{pair.mod_request} has no element order"


def test_dependencies_are_the_declared_parents(ws):
    rows = ws.store.con.execute(
        f"SELECT DISTINCT item_type, parent_type FROM ({dependencies_sql()})"
    ).fetchall()
    assert rows == []  # an empty workspace has no items; the SQL binds against every table
    declared = {(p.item_type, t) for p in PAIRS.values() for t, _ in p.parents}
    assert declared == {(p.item_type, t) for p in PAIRS.values() for t in p.depends_on}
    for p in PAIRS.values():
        assert all(t in PAIRS and PAIRS[t].export_order < p.export_order for t in p.depends_on), p.item_type
