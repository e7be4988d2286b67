"""Owner invoices -> QuickBooks invoices (``qbrecon/pairs/owner_invoice.py``): the pair that proves a pair is one
module. Procore payment applications load from the export, wait in the ERP queue with Procore's reasons, become
``InvoiceAdd`` on the Customer:Job (one line per cost code, retainage as a negative line), are linked from
QuickBooks' answer, read back with ``InvoiceQuery`` and reconciled with reasons."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

from qbrecon import Workspace, pairs
from qbrecon.entities import EXPORTABLE, PAIRS
from qbrecon.errors import SettingMissing
from qbrecon.qbwc import simulator
from qbrecon.qbwc.simulator import QuickBooksCompany
from qbrecon.qbxml import spec
from qbrecon.qbxml.build import BuildContext, build_requests, message_sets

DATA = Path(__file__).parent / "data" / "owner_invoices" / "procore"
HEAD = b'<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
TAIL = b"</QBXMLMsgsRq></QBXML>"
JOB = "80000005-1700000000"


def _export(tmp_path: Path, edit=None) -> Path:
    """The fixture export, optionally edited (``edit(payment_applications)``) in a copy."""
    out = tmp_path / "procore"
    shutil.copytree(DATA, out)
    if edit is not None:
        path = out / "payment_applications.json"
        apps = json.loads(path.read_text())
        edit(apps)
        path.write_text(json.dumps(apps))
    return out


def _rows(ws: Workspace) -> tuple[pd.DataFrame, pd.DataFrame]:
    return ws.frame("owner_invoices"), ws.frame("owner_invoice_lines")


def _context(retainage: str | None = "Retainage") -> BuildContext:
    projects = pd.DataFrame({"id": [701], "origin_id": [JOB]})
    cost_codes = pd.DataFrame(
        {
            "id": [9301, 9302],
            "cost_code_level": ["standard", "standard"],
            "origin_id": ["80000003-1700000000", "80000004-1700000000"],
            "full_code": ["03", "09"],
            "standard_cost_code_id": [None, None],
        }
    )
    return BuildContext(retainage_item=retainage, frames={"projects": projects, "cost_codes": cost_codes})


# -- declaration ---------------------------------------------------------------------------------------------
def test_the_pair_is_registered_with_every_engine():
    from qbrecon.erp import export, permissions, refresh
    from qbrecon.reconcile import labels, rules

    m = pairs.module("owner_invoice")
    assert m is not None and PAIRS["owner_invoice"] is m.pair and "owner_invoice" in EXPORTABLE
    assert export._LINES["owner_invoice"] == [("owner_invoice_lines", "payment_application_id")]
    assert refresh.KINDS["InvoiceQuery"] == ("qb_invoices", None)
    assert rules.RULES["owner_invoice"] is m.reconcile and "owner_invoice" in rules.ALL_PAIRS
    assert labels.PAIR_TITLES["owner_invoice"] == "Owner invoices / Invoices"
    assert permissions.ITEM_TOOL["owner_invoice"] == "prime_contract"
    assert permissions.MATRIX["accept_owner_invoice"].applies == "yes"
    assert simulator.ADD_KIND["InvoiceAdd"] == ("invoice", "InvoiceRet")
    assert simulator.QUERY_KIND["InvoiceQueryRq"] == "invoice"


@pytest.mark.parametrize("m", pairs.registered(), ids=lambda m: m.item_type)
def test_each_pair_module_is_consistent_with_the_spec_and_the_queue(m):
    p = m.pair
    for request in (p.add_request, p.mod_request):  # a CCO has no Add: it is a Mod of its commitment's PO
        assert request is None or request in spec.ORDER, f"{request} has no element order"
    assert f"{p.query_request}Rq" in spec.ORDER, f"{p.query_request} has no element order"
    if p.name_field:  # the name field has its limit (a FullName is built from the Add's Name and its parents)
        leaf = "Name" if p.name_field == "FullName" else p.name_field
        assert spec.max_length(f"{p.add_request}/{leaf}") is not None
    if m.reconcile is not None:  # time is not reconciled
        assert m.reconcile.pair == p.item_type
        assert m.reconcile_title and len(m.sheet_name) <= 31


# -- load ---------------------------------------------------------------------------------------------------
def test_payment_applications_load_with_their_lines(ws):
    report = ws.load_procore(DATA)
    assert not len(ws.frame("quarantine")), ws.frame("quarantine")
    heads, lines = _rows(ws)
    assert sorted(heads["id"].tolist()) == [5001, 5002]
    first = heads.set_index("id").loc[5001]
    assert first["contract_id"] == 880 and first["contract_title"] == "Harbor Clinic prime contract"
    assert first["current_payment_due"] == Decimal("28500.00") and first["total_retainage"] == Decimal(
        "1500.00"
    )
    assert sorted(lines["payment_application_id"].tolist()) == [5001, 5001, 5002]
    assert "owner_invoices" in str(report)


def test_a_bad_line_is_held_back_naming_file_row_and_field(ws, tmp_path):
    def edit(apps):
        apps[0]["line_items"][1]["work_completed_this_period"] = "twelve"

    ws.load_procore(_export(tmp_path, edit))
    q = ws.frame("quarantine")
    bad = q[q["field"].notna()]
    assert bad[["table_name", "source_file", "source_row", "field"]].values.tolist() == [
        ["owner_invoice_lines", "payment_applications.json", 1, "work_completed_this_period"]
    ]
    assert "expected an amount, got 'twelve'" in bad["failure_case"].iloc[0]
    # the whole owner invoice waits with its line: nothing half-loaded
    assert ws.frame("owner_invoices")["id"].tolist() == [5002]


# -- queue -----------------------------------------------------------------------------------------------------
def test_queue_shows_why_an_owner_invoice_cannot_be_sent(ws):
    ws.load_procore(DATA)
    ws.refresh_queue()
    q = ws.queue(item_type="owner_invoice").set_index("procore_id")
    assert "project Harbor Clinic Expansion is not synced" in q.loc[5001, "blockers"]
    assert "cost code(s) not synced: 03, 09" in q.loc[5001, "blockers"]
    assert "only Approved owner invoices export" in q.loc[5002, "blockers"]
    assert q.loc[5001, "item_label"] == "Owner Invoices"


# -- build ---------------------------------------------------------------------------------------------------------
def test_invoice_add_on_the_job_with_a_line_per_cost_code_and_retainage(ws, qbxml_schema):
    ws.load_procore(DATA)
    heads, lines = _rows(ws)
    result = build_requests("owner_invoice", heads[heads["id"] == 5001], lines, _context())
    assert result.errors.empty, result.errors
    (req,) = result.requests
    add = req.element.find("InvoiceAdd")
    assert add.findtext("CustomerRef/ListID") == JOB
    assert add.findtext("RefNumber") == "OI-0001" and add.findtext("TxnDate") == "2025-03-31"
    got = [
        (ln.findtext("ItemRef/ListID") or ln.findtext("ItemRef/FullName"), ln.findtext("Amount"))
        for ln in add.findall("InvoiceLineAdd")
    ]
    assert got == [
        ("80000003-1700000000", "20000.00"),
        ("80000004-1700000000", "10000.00"),
        ("Retainage", "-1500.00"),
    ]
    # schema order: the header's children, then the lines
    assert [c.tag for c in add][:4] == ["CustomerRef", "TxnDate", "RefNumber", "Memo"]
    (mset,) = message_sets(result.requests)
    qbxml_schema.assertValid(etree.fromstring(mset.xml))


def test_refusals_name_the_row_and_field_never_truncate(ws, tmp_path):
    limit = spec.max_length("InvoiceAdd/RefNumber")

    def edit(apps):
        apps[0]["invoice_number"] = "X" * (limit + 1)
        apps[0]["status"] = "approved"
        apps[1]["status"] = "approved"
        apps[1]["g702"]["current_payment_due"] = "4000.00"  # lines say 4750.00

    ws.load_procore(_export(tmp_path, edit))
    heads, lines = _rows(ws)
    result = build_requests("owner_invoice", heads, lines, _context())
    assert result.requests == []
    errors = result.errors.set_index("procore_id")
    assert errors.loc[5001, "field"] == "invoice_number"
    assert f"InvoiceAdd/RefNumber allows {limit} characters" in errors.loc[5001, "message"]
    assert errors.loc[5002, "field"] == "current_payment_due"
    assert "would total 4750.00" in errors.loc[5002, "message"]


def test_the_retainage_item_setting_is_required(ws):
    ws.load_procore(DATA)
    heads, lines = _rows(ws)
    with pytest.raises(SettingMissing, match="invoice_retainage_item"):
        build_requests("owner_invoice", heads, lines, _context(retainage=None))


# -- simulator -----------------------------------------------------------------------------------------------------
def test_simulator_adds_and_queries_invoices():
    company = QuickBooksCompany()
    company.process(
        HEAD + b"<CustomerAddRq><CustomerAdd><Name>Owner</Name></CustomerAdd></CustomerAddRq>"
        b"<ItemServiceAddRq><ItemServiceAdd><Name>03</Name><SalesOrPurchase><AccountRef><FullName>Income"
        b"</FullName></AccountRef></SalesOrPurchase></ItemServiceAdd></ItemServiceAddRq>" + TAIL
    )
    add = (
        b"<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>Owner</FullName></CustomerRef><RefNumber>A-1</RefNumber>"
        b"<InvoiceLineAdd><ItemRef><FullName>03</FullName></ItemRef><Amount>%s</Amount></InvoiceLineAdd>"
        b"</InvoiceAdd></InvoiceAddRq>"
    )
    ok = etree.fromstring(company.process(HEAD + add % b"100.00" + TAIL))
    ret = ok.find(".//InvoiceRet")
    assert ret.findtext("Subtotal") == "100.00" and ret.findtext("BalanceRemaining") == "100.00"
    assert ret.findtext("IsPaid") == "false"
    negative = etree.fromstring(company.process(HEAD + add % b"-5.00" + TAIL))
    assert negative.find(".//InvoiceAddRs").get("statusCode") == "3210"
    query = b"<InvoiceQueryRq><IncludeLineItems>true</IncludeLineItems></InvoiceQueryRq>"
    found = etree.fromstring(company.process(HEAD + query + TAIL)).findall(".//InvoiceRet")
    assert len(found) == 1 and found[0].findtext("InvoiceLineRet/Amount") == "100.00"
    assert company.counts()["invoice"] == 1


# -- end to end ------------------------------------------------------------------------------------------------------
def _job_and_cost_codes_synced(tmp_path: Path) -> tuple[Workspace, QuickBooksCompany]:
    """The fixture export in a workspace; its job and cost codes synced to a simulated company file (the owner
    customer and the retainage item created there first and read back)."""
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.load_procore(DATA)
    company = QuickBooksCompany(tmp_path / "qb.duckdb")
    company.process(
        HEAD
        + b"<CustomerAddRq><CustomerAdd><Name>Harbor Health Partners</Name></CustomerAdd></CustomerAddRq>"
        b"<ItemServiceAddRq><ItemServiceAdd><Name>Retainage</Name><SalesOrPurchase><AccountRef><FullName>"
        b"Retainage</FullName></AccountRef></SalesOrPurchase></ItemServiceAdd></ItemServiceAddRq>" + TAIL
    )
    ws.request_refresh(["ItemQuery", "CustomerQuery"], full=True)
    ws.refresh_now(company.process)
    ws.update_settings(by=1, invoice_retainage_item="Retainage", service_item_expense_account="Job Expenses")
    ws.refresh_queue()
    ws.send([("project", 701)], by=1)
    ws.accept([("project", 701)], by=1, customer="Harbor Health Partners")
    codes = [("cost_code", 9301), ("cost_code", 9302)]
    ws.send(codes, by=1)
    ws.accept(codes, by=1)
    ws.export(company.process)
    return ws, company


@pytest.fixture()
def synced(tmp_path):
    """Owner invoice 5001 synced (after its job and cost codes) and the invoices read back with InvoiceQuery."""
    ws, company = _job_and_cost_codes_synced(tmp_path)
    ws.send([("owner_invoice", 5001)], by=1)
    ws.accept([("owner_invoice", 5001)], by=1)
    summary = ws.export(company.process)
    assert summary.requests == 1
    ws.request_refresh(["InvoiceQuery"], full=True)
    ws.refresh_now(company.process)
    yield ws, company
    company.close()
    ws.close()


@pytest.mark.slow
def test_quickbooks_refusal_is_kept_with_its_status_and_message(tmp_path):
    ws, company = _job_and_cost_codes_synced(tmp_path)
    job = ws.frame("projects").set_index("id").loc[701, "origin_id"]
    company.process(
        HEAD
        + f"<ListDelRq><ListDelType>Customer</ListDelType><ListID>{job}</ListID></ListDelRq>".encode()
        + TAIL
    )
    ws.send([("owner_invoice", 5001)], by=1)
    ws.accept([("owner_invoice", 5001)], by=1)
    ws.export(company.process)
    item = ws.queue(item_type="owner_invoice").set_index("procore_id").loc[5001]
    assert item["status"] == "failed_to_export" and item["last_error_code"] == 3140
    assert job in item["last_error_message"]
    assert company.counts().get("invoice", 0) == 0 and pd.isna(
        ws.frame("owner_invoices").set_index("id").loc[5001, "origin_id"]
    )
    company.close()
    ws.close()


@pytest.mark.slow
def test_a_rejected_owner_invoice_mails_its_creator_naming_it(tmp_path):
    # the rejection mail names the item by the pair's word; before, owner invoices had none, the mail's body was
    # NULL and the whole rejection failed
    ws, company = _job_and_cost_codes_synced(tmp_path)
    ws.store.con.execute("UPDATE users SET email_address = 'ada@example-builders.com' WHERE id = 1")
    ws.send([("owner_invoice", 5001)], by=1)
    ws.reject([("owner_invoice", 5001)], by=1, reason="wrong billing period")
    assert ws.queue(item_type="owner_invoice").set_index("procore_id").loc[5001, "status"] == "rejected"
    mail = ws.frame("outbox").set_index("item_type").loc["owner_invoice"]
    assert mail["body"].startswith('Your owner invoice "OI-0001"') and "wrong billing period" in mail["body"]
    company.close()
    ws.close()


@pytest.mark.slow
def test_synced_owner_invoice_is_linked_read_back_and_reconciles(synced):
    ws, company = synced
    item = ws.queue(item_type="owner_invoice").set_index("procore_id").loc[5001]
    (txn_id,) = company.records("invoice")["id"].tolist()
    assert item["status"] == "synced" and item["quickbooks_id"] == txn_id
    assert ws.frame("owner_invoices").set_index("id").loc[5001, "origin_id"] == txn_id
    links = ws.store.con.execute(
        "SELECT line_table, line_id, quickbooks_id, txn_line_id FROM qb_links WHERE item_type = 'owner_invoice' "
        "ORDER BY line_id"
    ).fetchall()
    qb_lines = company.lines("invoice")
    assert [r[:3] for r in links] == [
        ("", 0, txn_id),
        ("owner_invoice_lines", 60011, txn_id),
        ("owner_invoice_lines", 60012, txn_id),
    ]
    assert {r[3] for r in links[1:]} <= set(qb_lines["TxnLineID"])
    stored = ws.frame("qb_invoices").set_index("TxnID").loc[txn_id]
    assert stored["Subtotal"] == Decimal("28500.00")
    assert len(ws.frame("qb_invoice_lines")) == 3
    rec = ws.reconcile(pair="owner_invoice")
    assert rec.differences.empty, rec.differences
    summary = rec.summary.set_index("pair").loc["owner_invoice"]
    assert summary["matched_equal"] == 1


@pytest.mark.slow
def test_differences_come_with_reasons(synced):
    ws, _ = synced
    con = ws.store.con
    con.execute("UPDATE owner_invoices SET billing_date = DATE '2025-04-02' WHERE id = 5001")
    con.execute("UPDATE owner_invoice_lines SET work_completed_this_period = 20100 WHERE id = 60011")
    diff = ws.reconcile(pair="owner_invoice").differences
    reasons = {(r.level, r.field, r.reason) for r in diff.itertuples()}
    assert ("header", "date", "date_differs") in reasons
    line = diff[diff["level"] != "header"]
    assert len(line) == 1 and line["reason"].iloc[0] == "amount_differs" and line["cost_code"].iloc[0] == "03"
    assert line["delta"].iloc[0] == Decimal("100.00")


# -- updates after sync ----------------------------------------------------------------------------------------------
def _raise_line(apps):
    """Owner invoice 5001 corrected in Procore after its sync: line 03 bills 1,000.00 more (retainage 50.00)."""
    app = apps[0]
    line = app["line_items"][0]
    line["work_completed_this_period"] = "21000.00"
    line["work_completed_retainage_retained_this_period"] = "1050.00"
    app["g702"] = {"total_retainage": "1550.00", "current_payment_due": "29450.00"}


@pytest.mark.slow
def test_a_changed_owner_invoice_goes_out_as_invoice_mod_on_its_lines(synced, tmp_path):
    ws, company = synced
    (txn_id,) = company.records("invoice")["id"].tolist()
    before = {
        ln.findtext("Desc"): ln.findtext("TxnLineID") for ln in company.ret(txn_id).iterfind("InvoiceLineRet")
    }
    ws.load_procore(_export(tmp_path, _raise_line))
    item = ws.queue("ready_to_export", item_type="owner_invoice").set_index("procore_id").loc[5001]
    assert item["status"] == "ready_to_export"
    ws.accept([("owner_invoice", 5001)], by=1)
    sent: list[bytes] = []

    def process(request: bytes) -> bytes:
        sent.append(request)
        return company.process(request)

    summary = ws.export(process)
    assert summary.synced == 1, summary
    (request,) = [r for r in sent if b"InvoiceModRq" in r]
    mod = etree.fromstring(request).find(".//InvoiceMod")
    assert mod.findtext("TxnID") == txn_id and mod.findtext("EditSequence")
    lines = {ln.findtext("Desc"): ln.findtext("TxnLineID") for ln in mod.iterfind("InvoiceLineMod")}
    assert lines["03"] == before["03"] and lines["09"] == before["09"]  # matched by TxnLineID
    ret = company.ret(txn_id)
    assert ret.findtext("Subtotal") == "29450.00" and company.counts()["invoice"] == 1
    assert ws.queue(item_type="owner_invoice").set_index("procore_id").loc[5001, "status"] == "synced"


@pytest.mark.slow
def test_a_paid_owner_invoice_is_refused_at_send_with_the_reason(synced, tmp_path):
    from qbrecon.errors import BatchRejected

    ws, company = synced
    (txn_id,) = company.records("invoice")["id"].tolist()
    # a payment received in QuickBooks, as the next InvoiceQuery reads it
    ws.store.execute('UPDATE qb_invoices SET "BalanceRemaining" = 10000 WHERE "TxnID" = ?', [txn_id])
    ws.load_procore(_export(tmp_path, _raise_line))
    assert 5001 in set(ws.queue("ready_to_export", item_type="owner_invoice")["procore_id"])
    with pytest.raises(BatchRejected, match="paid"):
        ws.accept([("owner_invoice", 5001)], by=1)
    assert company.ret(txn_id).findtext("Subtotal") == "28500.00"


# -- fixtures ----------------------------------------------------------------------------------------------------
SAMPLE = Path(__file__).parent.parent / "fixtures" / "small"


def test_generated_owner_invoices_reconcile_to_the_answer_key(ws):
    """The generated sample's owner invoices load from both sides; reconciliation reports exactly the planted
    one, with its reason, and the unsynced one waits as pending."""
    assert ws.load_procore(SAMPLE / "procore").ok and ws.load_quickbooks(SAMPLE / "quickbooks").ok
    heads = ws.frame("owner_invoices")
    assert len(heads) == 6 and heads["origin_id"].notna().sum() == 4 and len(ws.frame("qb_invoices")) == 4
    key = json.loads((SAMPLE / "answer_key.json").read_text())["discrepancies"]
    planted = {(d["procore_id"], d["reason"]) for d in key if d["pair"] == "owner_invoice"}
    diff = ws.reconcile(pair="owner_invoice").differences
    assert planted and {(int(r.procore_id), r.reason) for r in diff.itertuples()} == planted
    assert set(diff["field"]) == {"amount", "retainage"}


# -- dashboard ---------------------------------------------------------------------------------------------------
@pytest.mark.slow  # Panel
def test_the_dashboard_has_an_owner_invoices_tab_with_its_columns(ws):
    from qbrecon.dashboard import queries
    from qbrecon.dashboard.auth import sign_in
    from qbrecon.dashboard.queue_view import QueueView
    from qbrecon.dashboard.refresh_view import KIND_LABELS
    from qbrecon.erp.refresh import KINDS

    assert "owner_invoice" in queries.TAB_ORDER
    assert KIND_LABELS["InvoiceQuery"] == "Invoices" and set(KINDS) <= set(KIND_LABELS)
    for m in pairs.registered():  # every pair module's columns are queue columns the page may sort by
        assert {c.key for c in m.columns} <= set(queries.QUEUE_COLUMNS), m.item_type

    ws.load_procore(DATA)
    ws.set_user_password("ada@example-builders.com", "correct horse battery")
    # the job and cost codes are already linked to QuickBooks (their ListIDs in origin_id)
    ws.store.execute("UPDATE projects SET origin_id = '80000005-1700000000'")
    ws.store.execute("UPDATE cost_codes SET origin_id = '8000000' || id::VARCHAR || '-1700000000'")
    ws.refresh_queue()
    ws.send([("owner_invoice", 5001)], by=1)
    view = QueueView(ws, sign_in(ws, "ada@example-builders.com", "correct horse battery"))
    assert "Owner Invoices (1)" in view.item_tabs.options  # one waits in Ready to Export
    view.item_tabs.value = "owner_invoice"
    shown = view.table.value
    titles = {c.key: c.title for c in view.columns}
    assert list(titles.values())[:5] == ["Procore ID", "Invoice #", "Owner invoice", "Project", "Amount"]
    (row,) = shown.to_dict("records")
    assert row["number"] == "OI-0001" and row["project"] == "Harbor Clinic Expansion"
    assert row["amount"] == "28,500.00" and row["sent_by_name"] == "Ada Controller"
    detail = queries.item_detail(ws, "owner_invoice", 5001)
    assert detail.lines["payment_application_id"].tolist() == [5001, 5001]


@pytest.mark.slow
def test_an_owner_invoice_whose_answer_was_lost_is_found_and_linked_never_sent_twice(tmp_path):
    """QuickBooks stored the InvoiceAdd but the answer never came back: the next export asks QuickBooks (an
    InvoiceQuery by its number, with lines), finds the invoice and links it, and a changed invoice then reads its
    current EditSequence by TxnID: one QuickBooks invoice, ever."""
    ws, company = _job_and_cost_codes_synced(tmp_path)
    ws.send([("owner_invoice", 5001)], by=1)
    ws.accept([("owner_invoice", 5001)], by=1)

    def lost(xml: bytes) -> bytes:
        company.process(xml)
        raise ConnectionError("connection reset after QuickBooks processed the message")

    with pytest.raises(ConnectionError):
        ws.export(lost)
    assert company.counts()["invoice"] == 1
    summary = ws.export(company.process)
    assert summary.linked_after_check == 1
    item = ws.queue(item_type="owner_invoice").set_index("procore_id").loc[5001]
    assert item["status"] == "synced"
    assert item["quickbooks_id"] == company.records("invoice")["id"].iloc[0]
    assert company.counts()["invoice"] == 1
    ws.close()
    company.close()
