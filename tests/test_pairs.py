"""The pair declarations (``qbrecon.entities.PAIRS``) are what the link lifecycle reads: each declared pair is
checked here against the schema, the builders and the queue, one test per pair."""

from __future__ import annotations

import pytest
from lxml import etree

from qbrecon import links, pairs
from qbrecon.entities import EXPORTABLE, PAIRS, dependencies_sql
from qbrecon.erp import permissions
from qbrecon.qbxml import spec
from qbrecon.qbxml.build import _PREPARE, build_requests, message_sets
from qbrecon.reconcile import rules
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


# -- generated per pair module (``qbrecon.pairs``): a changed declaration fails here ----------------------------
# What each pair is, in QuickBooks' and Procore's terms: its messages, its id kind, the pairs it waits for (Procore's
# ERP dependencies: an invoice needs its commitment, vendor, job and cost codes synced first). Changing one of these
# in a pair module is a change of behaviour; this table says so.
DECLARED = {
    "company": ("VendorAdd", "VendorMod", "VendorQuery", "ListID", ()),
    "project": ("CustomerAdd", "CustomerMod", "CustomerQuery", "ListID", ()),
    "cost_code": ("ItemServiceAdd", "ItemServiceMod", "ItemQuery", "ListID", ()),
    "budget": ("EstimateAdd", "EstimateMod", "EstimateQuery", "TxnID", ("cost_code", "project")),
    "commitment": (
        "PurchaseOrderAdd",
        "PurchaseOrderMod",
        "PurchaseOrderQuery",
        "TxnID",
        ("company", "cost_code", "project"),
    ),
    "change_order": (None, "PurchaseOrderMod", "PurchaseOrderQuery", "TxnID", ("commitment", "cost_code")),
    "invoice": (
        "BillAdd",
        "BillMod",
        "BillQuery",
        "TxnID",
        ("commitment", "company", "cost_code", "project"),
    ),
    "owner_invoice": ("InvoiceAdd", "InvoiceMod", "InvoiceQuery", "TxnID", ("cost_code", "project")),
    "timecard_entry": (
        "TimeTrackingAdd",
        "TimeTrackingMod",
        "TimeTrackingQuery",
        "TxnID",
        ("cost_code", "project"),
    ),
}
MODULES = pairs.registered()


def test_every_exportable_pair_is_a_pair_module_with_its_declaration_pinned():
    assert sorted(m.item_type for m in MODULES) == sorted(EXPORTABLE) == sorted(DECLARED)


@pytest.mark.parametrize("m", MODULES, ids=lambda m: m.item_type)
def test_each_pair_module_declares_its_messages_and_dependencies(m):
    p = m.pair
    declared = (p.add_request, p.mod_request, p.query_request, p.quickbooks_id, tuple(sorted(p.depends_on)))
    assert declared == DECLARED[m.item_type]
    assert _PREPARE[m.item_type] is m.prepare  # the build engine runs the module's own build


@pytest.mark.parametrize("m", MODULES, ids=lambda m: m.item_type)
def test_each_pair_module_builds_what_quickbooks_accepts_by_the_spec_tables(m):
    """Every pair's build over the small company of ``test_qbxml_build.scenario``: its requests are its own
    messages, and QuickBooks' own rules (element order, required elements, lengths: ``spec.check_request``, no XSD
    needed) find nothing wrong. A field map naming a wrong element, or writing elements out of order, fails."""
    from test_qbxml_build import scenario

    context, inputs = scenario()
    assert m.item_type in inputs, "a new pair module adds its rows to test_qbxml_build.scenario"
    rows, lines = inputs[m.item_type]
    result = build_requests(m.item_type, rows, lines, context)
    assert result.errors.empty, result.errors.to_dict("records")
    assert result.requests and {r.request_name for r in result.requests} <= {
        m.pair.add_request,
        m.pair.mod_request,
    }
    for ms in message_sets(result.requests, max_requests=1000):
        found = spec.check_request(etree.fromstring(ms.xml))
        assert found.fatal == [] and found.too_long == {}, (found.fatal, found.too_long)


@pytest.mark.parametrize("m", MODULES, ids=lambda m: m.item_type)
def test_each_pair_module_has_its_queue_row_tab_and_tool(m, ws):
    # its rows in the ERP queue's item view, with the view's columns; its dashboard tab, columns and Procore tool
    con = ws.store.con
    names = [d[0] for d in con.execute("SELECT * FROM erp_item_details LIMIT 0").description]
    assert len(con.execute(f"SELECT * FROM ({m.details_sql}) LIMIT 0").description) == len(names)
    assert m.columns and m.columns[0].key == "procore_id" and m.singular
    assert m.procore_tool in permissions.TOOLS
    if m.reconcile is not None:
        assert rules.RULES[m.item_type] is m.reconcile and m.item_type in rules.ALL_PAIRS


def test_procore_s_cco_number_and_title_rules_block_sending(ws):
    """Procore exports a CCO only with a number of at most 12 characters and a title of at most 30: one character
    over blocks it with the reason, the limit itself does not."""
    rows = [
        dict(id=1, contract_id=9, project_id=3, number="N" * 12, title="T" * 30, status="approved"),
        dict(id=2, contract_id=9, project_id=3, number="N" * 13, title="T" * 30, status="approved"),
        dict(id=3, contract_id=9, project_id=3, number="N" * 12, title="T" * 31, status="approved"),
    ]
    ws.store.put_rows("change_orders", rows)
    ws.refresh_queue()
    queue = ws.queue(item_type="change_order").set_index("procore_id")
    blockers = {pid: str(queue.loc[pid, "blockers"]) for pid in (1, 2, 3)}
    assert "longer than" not in blockers[1]
    assert "CCO number is longer than 12 characters" in blockers[2]
    assert "CCO title is longer than 30 characters" in blockers[3]
