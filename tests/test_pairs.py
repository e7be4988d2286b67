"""The pair declarations (``qbrecon.entities.PAIRS``) are what the link lifecycle reads: each declared pair is
checked here against the schema, the builders and the queue, one test per pair."""

from __future__ import annotations

from decimal import Decimal

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


# -- what a pair needs beyond its messages, pinned per pair module: the accept options the approver gives, where a
# loaded item's QuickBooks id is read, whose QuickBooks record it modifies and one-per-parent sending (a CCO's PO),
# the hooks around its build (time's payroll items; purchase orders refused while QuickBooks' inventory is off), how
# a 3140 names its records, its dashboard words and total, its noun in Procore's mails, its costs that cannot sync.
# The engines read these and nothing else: changing one in a pair module changes behaviour and fails here.
BEHAVIOUR = {
    "company": dict(accept=("vendor_type",), referenced_as=("vendor",)),
    "project": dict(
        accept=("customer",), referenced_as=("customer", "customer:job", "job"), mail_noun="project"
    ),
    "cost_code": dict(referenced_as=("item", "service item")),
    "budget": dict(link_column=None, loaded_link=True, total=True),
    "commitment": dict(accept=("quickbooks_number",), after_build=True, total=True, unsyncable=1),
    "change_order": dict(
        shares_parent_record="commitment",
        serial_per_parent="commitment",
        total=True,
        mail_noun="commitment change order",
    ),
    "invoice": dict(total=True, unsyncable=2, landing_tab=True),
    "owner_invoice": dict(total=True),
    "timecard_entry": dict(before_build=True, plural="time entries", unsyncable=1, queue_columns=("hours",)),
}


# what a pair module that declares none of these has
DEFAULTS = dict(
    accept=(),
    link_column="origin_id",
    loaded_link=False,
    shares_parent_record="",
    serial_per_parent="",
    before_build=False,
    after_build=False,
    referenced_as=(),
    total=False,
    plural="",
    mail_noun="",
    unsyncable=0,
    queue_columns=(),
    landing_tab=False,
)


def _behaviour(m: pairs.PairModule) -> dict:
    found = dict(
        accept=tuple(o.name for o in m.accept_options),
        link_column=m.pair.link_column,
        loaded_link=bool(m.loaded_link_sql),
        shares_parent_record=m.shares_parent_record,
        serial_per_parent=m.serial_per_parent,
        before_build=m.before_build is not None,
        after_build=m.after_build is not None,
        referenced_as=m.referenced_as,
        total=m.shows_total,
        plural=m.plural,
        mail_noun=m.mail_noun,
        unsyncable=len(m.unsyncable_sql),
        queue_columns=tuple(c for c, _ in m.queue_columns),
        landing_tab=m.landing_tab,
    )
    return {k: v for k, v in found.items() if v != DEFAULTS[k]}


ACCEPT_OPTIONS = [(m, o) for m in MODULES for o in m.accept_options]


@pytest.mark.parametrize("m", MODULES, ids=lambda m: m.item_type)
def test_each_pair_module_declares_what_the_engines_do_for_it(m, ws):
    assert _behaviour(m) == BEHAVIOUR[m.item_type]
    if m.loaded_link_sql:  # (procore_id, quickbooks_id, edit_sequence)
        assert len(ws.store.con.execute(f"SELECT * FROM ({m.loaded_link_sql}) LIMIT 0").description) == 3
    for sql in m.unsyncable_sql:  # the unsyncable direct costs report's columns
        assert len(ws.store.con.execute(f"SELECT * FROM ({sql}) LIMIT 0").description) == 9
    for parent in (m.shares_parent_record, m.serial_per_parent):
        assert not parent or parent in m.pair.depends_on  # a declared parent, read from ``parents``


@pytest.mark.parametrize("m", MODULES, ids=lambda m: m.item_type)
def test_the_dashboard_s_queue_page_reads_the_columns_a_pair_declares(m, ws):
    """Every queue column a pair fills is one the dashboard's page knows, and its page read runs with it."""
    from qbrecon.dashboard import queries

    assert {c for c, _ in m.queue_columns} <= set(queries.QUEUE_COLUMNS)
    assert ws.store.con.execute(f"SELECT * FROM ({queries.item_sql(m.item_type)}) LIMIT 0").description


def test_a_time_entry_s_hours_show_on_its_queue_page_as_its_pair_declares(ws):
    from qbrecon.dashboard import queries

    ws.store.put_rows("projects", [dict(id=5, name="Clinic")])
    ws.store.put_rows(
        "timecard_entries", [dict(id=70, project_id=5, hours=Decimal("7.5"), approval_status="approved")]
    )
    ws.refresh_queue()
    rows = ws.store.execute(
        f"SELECT procore_id, hours FROM ({queries.item_sql('timecard_entry')})"
    ).fetchall()
    assert rows == [(70, Decimal("7.50"))]
    rows = ws.store.execute(f"SELECT hours FROM ({queries.item_sql('project')})").fetchall()
    assert rows == [(None,)]


def test_a_3140_names_the_pair_that_creates_the_missing_record():
    from qbrecon.erp import ledger

    assert ledger.REFERENCE_ITEM_TYPE == {
        kind: t for t, b in BEHAVIOUR.items() for kind in b.get("referenced_as", ())
    }


@pytest.mark.parametrize("m,option", ACCEPT_OPTIONS, ids=lambda x: getattr(x, "name", None) or x.item_type)
def test_every_accept_option_is_a_cli_flag_a_keyword_and_a_selection_column(m, option, ws):
    import click

    from qbrecon.cli import main

    command = main.get_command(click.Context(main), "accept")
    flags = {p.name: p.opts for p in command.params}
    assert flags.get(option.name) == [option.flag], f"qbrecon accept lacks {option.flag}"
    # a keyword of ws.accept (a frame column per row), trimmed; an undeclared one is refused
    sel = ws.erp_queue._selection([1], m.item_type, {option.name: f"  {option.name} value "})
    assert sel.column(option.name).to_pylist() == [f"{option.name} value"]
    with pytest.raises(TypeError, match="unexpected option"):
        ws.accept([1], by=1, item_type=m.item_type, **{option.name + "_x": "v"})


@pytest.mark.slow
@pytest.mark.parametrize("m,option", ACCEPT_OPTIONS, ids=lambda x: getattr(x, "name", None) or x.item_type)
def test_every_accept_option_is_a_field_of_the_dashboard_s_accept_controls_on_its_tab(m, option, ws):
    """The approver's accept controls show the option, with its words, on its pair's tab only."""
    from qbrecon.dashboard.auth import DashboardUser
    from qbrecon.dashboard.queue_view import QueueView

    view = QueueView(ws, DashboardUser(1, "Ann Approver", "ann", "standard", True))
    field = view.accept_inputs[m.item_type, option.name]
    for other in MODULES:
        view.item_tabs.value = other.item_type
        view.filters.value = "ready_to_export"
        assert field.visible == (other is m), other.item_type
    assert field.name == option.label and field in view.action_row.objects


def test_options_are_checked_and_stored_for_the_build_as_declared(ws):
    """A job goes under the customer the approver names, stored for the CustomerAdd; a PO number over the limit is
    refused with the limit from the spec tables; a company's vendor type is kept."""
    from qbrecon.errors import BatchRejected
    from qbrecon.pairs.commitment import QUICKBOOKS_NUMBER

    s = ws.store
    s.put_rows(
        "users",
        [
            dict(
                id=1,
                name="Ann",
                login="ann",
                erp_integrations_permission="admin",
                can_push_to_accounting=True,
                is_active=True,
            )
        ],
    )
    s.put_rows("projects", [dict(id=5, name="Clinic")])
    s.put_rows("companies", [dict(id=6, name="Acme Steel")])
    s.put_rows(
        "commitments", [dict(id=7, project_id=5, vendor_id=6, number="SC-0000000001", status="approved")]
    )
    s.put_rows("customers", [dict(ListID="C1", Name="Harbor", FullName="Harbor", Sublevel=0, IsActive=True)])
    ws.refresh_queue()
    s.execute("UPDATE erp_items SET status = 'ready_to_export'")
    ws.accept([5], by=1, item_type="project", customer="harbor")
    ws.accept([6], by=1, item_type="company", vendor_type="Subcontractors")
    with pytest.raises(BatchRejected) as refused:
        ws.accept([7], by=1, item_type="commitment", quickbooks_number="P" * 12)
    limit = spec.max_length("PurchaseOrderAdd/RefNumber")
    assert f"is longer than {limit} characters" in str(refused.value.problems)
    assert str(limit) in QUICKBOOKS_NUMBER.label
    stored = dict(
        s.execute("SELECT item_type, export_options FROM erp_items WHERE status = 'exporting'").fetchall()
    )
    assert stored == {
        "project": '{"parent_customer_list_id":"C1","parent_customer_full_name":"Harbor"}',
        "company": '{"vendor_type":"Subcontractors"}',
    }


def test_a_pair_serial_per_parent_goes_out_one_item_per_parent_at_a_time(ws):
    """Each CCO's PurchaseOrderMod needs the EditSequence the previous one returns: of three CCOs Exporting, two
    on one commitment, the next message set takes one per commitment (the lower id first)."""
    ws.store.put_rows(
        "change_orders",
        [dict(id=i, contract_id=c, project_id=3, status="approved") for i, c in ((11, 9), (12, 9), (13, 8))],
    )
    ws.store.execute(
        "INSERT INTO erp_items (item_type, procore_id, status, attempts, updated_at) "
        "SELECT 'change_order', id, 'exporting', 0, now() FROM change_orders"
    )
    picked = ws.export_service._ready_items(10)
    assert sorted(picked["procore_id"].tolist()) == [11, 13]


def test_the_ready_items_hold_back_what_the_exporting_types_declare(ws):
    """The ready-items query plans only what can hold an item back among the item types now Exporting (the export
    job passes them): a CCO waits while another CCO of its PO is in flight and while its commitment is Exporting;
    with no serial type and no dependency among the types, everything not in flight goes."""
    ws.store.put_rows(
        "change_orders",
        [
            dict(id=i, contract_id=c, project_id=3, status="approved")
            for i, c in ((11, 9), (12, 9), (13, 8), (14, 7))
        ],
    )
    ws.store.put_rows("commitments", [dict(id=c, project_id=3, vendor_id=1) for c in (7, 8, 9)])
    ws.store.put_rows("companies", [dict(id=i, name=f"Vendor {i}") for i in (21, 22, 23)])
    ws.store.execute(
        "INSERT INTO erp_items (item_type, procore_id, status, attempts, updated_at) "
        "SELECT 'change_order', id, 'exporting', 0, now() FROM change_orders UNION ALL "
        "SELECT 'commitment', 7, 'exporting', 0, now() UNION ALL "
        "SELECT 'company', id, 'synced', 0, now() FROM companies"
    )
    # CCO 11 is out (sent, no answer yet); company 22 went out twice, its second send still unanswered
    ws.store.execute(
        "INSERT INTO export_ledger (item_type, procore_id, attempt, state, outcome) "
        "VALUES ('change_order', 11, 1, 'sent', NULL), ('company', 22, 1, 'answered', 'retry'), "
        "('company', 22, 2, 'sent', NULL), ('company', 23, 1, 'answered', 'retry')"
    )

    def ready(types: set[str]) -> list[tuple[str, int, int]]:
        exporting = ws.store.execute("SELECT DISTINCT item_type FROM erp_items WHERE status = 'exporting'")
        assert {t for (t,) in exporting.fetchall()} == types  # what the settings read passes
        picked = ws.export_service._ready_batch(10, types)[0]
        return sorted(zip(picked["item_type"], picked["procore_id"], picked["attempt"], strict=True))

    # 11 in flight, 12 behind it on PO 9, 14 behind its commitment (7, Exporting): 13 and the commitment go
    assert ready({"change_order", "commitment"}) == [("change_order", 13, 1), ("commitment", 7, 1)]
    ws.store.execute("UPDATE erp_items SET status = 'synced' WHERE item_type = 'commitment'")
    assert ready({"change_order"}) == [("change_order", 13, 1), ("change_order", 14, 1)]
    # vendors alone (the usual message set): the one in flight stays, a retried one takes its next attempt
    ws.store.execute(
        "UPDATE erp_items SET status = CASE item_type WHEN 'company' THEN 'exporting' ELSE 'synced' END"
    )
    assert ready({"company"}) == [("company", 21, 1), ("company", 23, 2)]


def test_a_loaded_item_takes_its_quickbooks_id_where_its_pair_declares_it(ws):
    """A budget's Procore row (the project) holds the job's id: a loaded budget's estimate TxnID and EditSequence
    come from its lines' origin_data, as the budget pair declares, and the item is Synced with them."""
    ws.store.put_rows("projects", [dict(id=5, name="Clinic", origin_id="JOB-1", budget_locked=True)])
    ws.store.put_rows(
        "budget_line_items",
        [
            dict(
                id=50,
                project_id=5,
                original_budget_amount=1,
                origin_id="EST-1-L1",
                origin_data='{"txn_id": "EST-1", "edit_sequence": "77"}',
            ),
        ],
    )
    ws.refresh_queue()
    row = ws.store.execute(
        "SELECT status, quickbooks_id, edit_sequence FROM erp_items WHERE item_type = 'budget' AND procore_id = 5"
    ).fetchall()
    assert row == [("synced", "EST-1", "77")]


def test_one_pair_declares_the_tab_the_dashboard_opens_on():
    from qbrecon.dashboard import queries

    landing = [m.item_type for m in MODULES if m.landing_tab]
    assert landing == [queries.LANDING_TAB] == [queries.QueueQuery().item_type]


# Procore's side of each pair, pinned: the endpoints its records (and lines) are read from, its rows of Procore's
# ERP permissions matrix, and the ERP payloads it keeps out of the load. Each pair module declares them
# (``procore_endpoints``, ``approver_rows``, ``erp_payload_notes``); the Procore engines read them generically.
PROCORE_SIDE = {
    "company": (("vendors",), ("accept_company", "unlink_company")),
    "cost_code": (("standard_cost_codes", "cost_codes"), ("accept_cost_code",)),
    "project": (("projects",), ("accept_project",)),
    "budget": (
        ("budget_line_items", "budget_changes", "budget_modifications", "adjustment_line_items"),
        ("accept_budget",),
    ),
    "commitment": (
        (
            "work_order_contracts",
            "purchase_order_contracts",
            "work_order_contract_line_items",
            "purchase_order_contract_line_items",
        ),
        ("accept_commitment", "unlink_commitment"),
    ),
    "change_order": (
        ("commitment_change_orders", "commitment_change_order_line_items"),
        ("accept_change_order", "unlink_change_order"),
    ),
    "invoice": (("requisitions", "contract_items"), ("accept_invoice", "unlink_invoice")),
    "owner_invoice": (
        ("payment_applications", "payment_application_line_items"),
        ("accept_owner_invoice", "unlink_owner_invoice"),
    ),
    "timecard_entry": (("timecard_entries",), ()),
    "payment": (("contract_payments",), ()),
}
ALL_PAIRS = [*MODULES, *pairs.imported()]


def test_every_pair_s_procore_side_is_pinned():
    assert sorted(m.item_type for m in ALL_PAIRS) == sorted(PROCORE_SIDE)


@pytest.mark.parametrize("m", ALL_PAIRS, ids=lambda m: m.item_type)
def test_each_pair_declares_its_procore_endpoints_and_the_pull_reads_them(m):
    from qbrecon.loaders.procore_shapes import LINE_RESOURCES
    from qbrecon.procore import resources

    assert tuple(e.name for e in m.procore_endpoints) == PROCORE_SIDE[m.item_type][0]
    names = [e.name for e in resources.ENDPOINTS]
    for e in m.procore_endpoints:
        assert resources.BY_NAME[e.name] is e
        if e.parent:  # a line endpoint: read after its parent, and a line resource of the loader
            parent = resources.BY_NAME[e.parent]
            assert names.index(parent.name) < names.index(e.name)
            assert parent in m.procore_endpoints
            assert LINE_RESOURCES[e.folder] == (parent.folder, e.lines_key, e.parent_key)


def test_only_endpoints_no_pair_owns_are_declared_by_the_procore_package():
    """Users and permission templates; every endpoint whose records carry links, or that has lines, is a pair's."""
    from qbrecon.loaders.procore_shapes import LINE_RESOURCES
    from qbrecon.procore import resources

    owned = {e.name for m in ALL_PAIRS for e in m.procore_endpoints}
    general = [e for e in resources.ENDPOINTS if e.name not in owned]
    assert [e.name for e in general] == [
        "users",
        "company_permission_templates",
        "project_permission_templates",
    ]
    assert not any(e.table or e.parent or e.item_type or e.sync for e in general)
    assert len(resources.BY_NAME) == len(resources.ENDPOINTS)  # no name declared twice
    line_folders = {e.folder for m in ALL_PAIRS for e in m.procore_endpoints if e.parent}
    assert set(LINE_RESOURCES) == line_folders


@pytest.mark.parametrize("m", ALL_PAIRS, ids=lambda m: m.item_type)
def test_each_pair_declares_its_rows_of_procore_s_permissions_matrix(m):
    rows = getattr(m, "approver_rows", ())
    assert tuple(key for key, _label in rows) == PROCORE_SIDE[m.item_type][1]
    for key, label in rows:
        rule = permissions.MATRIX[key]
        assert (rule.label, rule.tool, rule.levels, rule.can_push, rule.applies) == (
            label,
            permissions.ERP,
            permissions.APPROVER,
            True,
            "yes",
        )
    # the matrix holds no accept / unlink row of this pair that the pair does not declare
    assert {k for k in permissions.MATRIX if k in (f"accept_{m.item_type}", f"unlink_{m.item_type}")} == {
        key for key, _label in rows
    }


def test_the_owner_invoice_pair_keeps_procore_s_payment_application_payloads_out_of_the_load():
    from qbrecon.loaders import procore_shapes

    m = pairs.module("owner_invoice")
    assert m.erp_payload_notes == (
        ("payment_application", "owner invoices do not sync with QuickBooks Desktop"),
    )
    out = procore_shapes.ErpPayloads()
    procore_shapes.read_erp_requests(
        [{"request_name": "create_payment_application", "request_data": {"id": 1}}], "erp_requests.json", out
    )
    assert out.notes == [
        "erp_requests.json request 1 (create_payment_application): owner invoices do not sync with QuickBooks "
        "Desktop; skipped"
    ]
