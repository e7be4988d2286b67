"""A sync you can trust with the books (issue 12): the four ways the life of a synced record broke, each as the
user meets it -- generated fixtures, Procore exports loaded (again, edited), decisions, export to the simulated
QuickBooks company."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sync_world import admin_id, company_for, fixture_dir, open_world, put_admin, sync_all, top_customer

from qbrecon.entities import PAIRS
from qbrecon.errors import BatchRejected

ALL_BUT_INVOICES = [
    "company",
    "project",
    "cost_code",
    "budget",
    "commitment",
    "change_order",
    "timecard_entry",
]


@pytest.fixture()
def world(tmp_path):
    fx = fixture_dir(tmp_path, projects=1, seed=3)
    ws = open_world(tmp_path / "ws.duckdb", fx)
    company = company_for(tmp_path / "qb.duckdb", fx)
    yield ws, company, fx, tmp_path
    company.close()
    ws.close()


def edited_export(fx: Path, out: Path, resource: str, edit) -> Path:
    """A copy of the Procore export with ``edit(records)`` applied to ``<resource>.json`` (a Procore user's
    change, as the next nightly export brings it)."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(fx / "procore", out)
    path = out / f"{resource}.json"
    records = json.loads(path.read_text())
    edit(records)
    path.write_text(json.dumps(records))
    return out


def origins(ws) -> dict:
    out = {}
    for table in (
        "projects",
        "companies",
        "cost_codes",
        "commitments",
        "commitment_lines",
        "change_orders",
        "change_order_lines",
        "invoices",
    ):
        rows = ws.store.execute(f'SELECT id, origin_id FROM "{table}" WHERE origin_id IS NOT NULL').fetchall()
        out[table] = dict(rows)
    return out


def _po_lines(company, txn_id: str):
    lines = company.lines("purchase_order")
    return lines[lines["TxnID"] == txn_id]


def exported_by_us(ws, item_type: str) -> list[int]:
    return [
        int(r[0])
        for r in ws.store.execute(
            "SELECT procore_id FROM qb_links WHERE item_type = ? AND line_table = '' AND source = 'export' "
            "ORDER BY procore_id",
            [item_type],
        ).fetchall()
    ]


# -- 1. links survive every re-load ---------------------------------------------------------------------------
def test_reloading_the_export_keeps_every_link_and_the_next_invoice_exports(world):
    ws, company, fx, tmp = world
    sync_all(ws, company, item_types=ALL_BUT_INVOICES)
    ours = exported_by_us(ws, "commitment")
    assert ours, "the world must have commitments qbrecon exported"
    before = origins(ws)
    assert all(
        before["commitment_lines"].get(i)
        for i in ws.frame("commitment_lines").query("commitment_id in @ours")["id"]
    ), "PO TxnLineIDs are written back to the commitment lines"
    for _ in range(2):  # the README's nightly script: the same export, again and again
        ws.load_procore(fx / "procore")
        assert origins(ws) == before
    assert (ws.queue("synced", item_type="commitment")["origin_id"].notna()).all()
    # the invoices on commitments qbrecon exported now go out as bills against those POs
    sync_all(ws, company, item_types=["invoice"])
    on_ours = ws.frame(
        "SELECT e.procore_id, e.status, e.last_error_message FROM erp_items e JOIN invoices i ON i.id = e.procore_id "
        f"WHERE e.item_type = 'invoice' AND i.commitment_id IN ({', '.join(map(str, ours))})"
    )
    assert len(on_ours) and (on_ours["status"] != "failed_to_export").all(), on_ours
    assert (on_ours["status"] == "synced").any()


def test_an_export_that_brings_another_origin_id_is_a_conflict_not_applied(world):
    ws, company, fx, tmp = world
    sync_all(ws, company, item_types=["company"])
    linked = ws.links("company")
    pid, qb_id = int(linked["procore_id"].iloc[0]), str(linked["quickbooks_id"].iloc[0])

    def other_id(records):
        for r in records:
            if r["id"] == pid:
                r["origin_id"] = "80009999-1700000000"

    ws.load_procore(edited_export(fx, tmp / "edited", "vendors", other_id))
    assert ws.store.scalar("SELECT origin_id FROM companies WHERE id = ?", [pid]) == qb_id
    conflicts = ws.link_conflicts()
    assert list(conflicts["procore_id"]) == [pid]
    assert conflicts["procore_id_value"].iloc[0] == "80009999-1700000000"
    assert "link_conflict" in set(ws.audit("company", pid)["action"])


# -- 2. a change order cannot post twice ------------------------------------------------------------------------
def test_an_exported_change_order_keeps_its_po_lines_and_cannot_be_unlinked_while_they_exist(world):
    ws, company, fx, tmp = world
    sync_all(ws, company)
    ccos = exported_by_us(ws, "change_order")
    assert ccos
    cco = ccos[0]
    lines = ws.frame(f"SELECT id, origin_id FROM change_order_lines WHERE change_order_id = {cco}")
    assert lines["origin_id"].notna().all()
    po_id = ws.store.scalar(
        "SELECT quickbooks_id FROM erp_items WHERE item_type = 'change_order' AND procore_id = ?", [cco]
    )
    on_po = set(_po_lines(company, po_id)["TxnLineID"])
    assert set(lines["origin_id"]) <= on_po
    before = len(on_po)
    with pytest.raises(BatchRejected) as refused:
        ws.unlink([cco], item_type="change_order", by=admin_id(ws))
    assert str(lines["origin_id"].iloc[0]) in str(refused.value)
    assert "still in QuickBooks Desktop" in str(refused.value)
    sync_all(ws, company)  # nothing goes out again
    assert len(_po_lines(company, po_id)) == before


# -- 3. changes after the first sync reach QuickBooks --------------------------------------------------------------
def _accept_updates(ws, item_type: str) -> None:
    ready = ws.queue("ready_to_export", item_type=item_type)
    assert len(ready) and ready["is_update"].all(), ready
    ws.accept(ready, by=admin_id(ws))


def test_a_vendor_address_change_goes_out_as_vendormod(world):
    ws, company, fx, tmp = world
    sync_all(ws, company)
    pid = (
        exported_by_us(ws, "company")[0]
        if exported_by_us(ws, "company")
        else int(ws.links("company")["procore_id"].iloc[0])
    )

    def move(records):
        for r in records:
            if r["id"] == pid:
                r["address"], r["business_id"] = "77 New Road", "91-7777777"

    ws.load_procore(edited_export(fx, tmp / "edited", "vendors", move))
    assert ws.queue(item_type="company").set_index("procore_id").loc[pid, "status"] == "ready_to_export"
    assert "procore_update" in set(ws.audit("company", pid)["action"])
    _accept_updates(ws, "company")
    summary = ws.export(company.process)
    assert summary.synced == 1 and summary.failed == 0, summary
    qb_id = ws.links("company", pid)["quickbooks_id"].iloc[0]
    ret = company.ret(qb_id)
    assert ret.findtext("VendorAddress/Addr1") == "77 New Road"
    link = ws.links("company", pid).iloc[0]
    assert link["edit_sequence"] == ret.findtext("EditSequence")
    # the same export again is no change: nothing comes back
    ws.load_procore(tmp / "edited")
    assert ws.queue(item_type="company").set_index("procore_id").loc[pid, "status"] == "synced"


def test_a_project_rename_goes_out_as_customermod_after_a_refresh_when_quickbooks_moved_on(world):
    ws, company, fx, tmp = world
    sync_all(ws, company)
    pid = int(ws.links("project")["procore_id"].iloc[0])
    qb_id = ws.links("project", pid)["quickbooks_id"].iloc[0]

    def rename(records):
        for r in records:
            if r["id"] == pid:
                r["name"], r["city"] = r["name"] + " II", "Kirkland"

    ws.load_procore(edited_export(fx, tmp / "edited", "projects", rename))
    _accept_updates(ws, "project")
    # meanwhile someone edits the job in QuickBooks: our EditSequence is stale (3200 -> re-read -> Mod again)
    current = company.ret(qb_id)
    company.process(_customer_mod(qb_id, current.findtext("EditSequence"), "Phone", "425-555-0100"))
    summary = ws.export(company.process)
    assert summary.synced == 1, summary
    ret = company.ret(qb_id)
    assert ret.findtext("Name").endswith(" II") and ret.findtext("BillAddress/City") == "Kirkland"
    assert ret.findtext("Phone") == "425-555-0100"
    assert ws.links("project", pid)["edit_sequence"].iloc[0] == ret.findtext("EditSequence")


def _customer_mod(list_id: str, edit_sequence: str, field: str, value: str) -> bytes:
    return (
        f'<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
        f'<CustomerModRq requestID="u1"><CustomerMod><ListID>{list_id}</ListID><EditSequence>{edit_sequence}'
        f"</EditSequence><{field}>{value}</{field}></CustomerMod></CustomerModRq></QBXMLMsgsRq></QBXML>"
    ).encode()


def test_commitment_line_changes_go_out_as_purchaseordermod_keeping_line_ids_and_cco_lines(world):
    ws, company, fx, tmp = world
    sync_all(ws, company)
    cco_commitments = ws.store.execute(
        "SELECT DISTINCT o.contract_id FROM change_orders o JOIN qb_links l ON l.item_type = 'change_order' "
        "AND l.procore_id = o.id AND l.line_table = ''"
    ).fetchall()
    pid = int(cco_commitments[0][0]) if cco_commitments else exported_by_us(ws, "commitment")[0]
    po_id = ws.links("commitment", pid)["quickbooks_id"].iloc[0]
    before = _po_lines(company, po_id)
    first_line = int(
        ws.frame(f"SELECT min(id) AS id FROM commitment_lines WHERE commitment_id = {pid}")["id"].iloc[0]
    )
    old_txn_line = ws.store.scalar("SELECT origin_id FROM commitment_lines WHERE id = ?", [first_line])

    def raise_line(records):
        for r in records:
            if r["id"] == pid:
                items = r.get("line_items") or r.get("lines")
                for li in items:
                    if li["id"] == first_line:
                        li["amount"] = str(Decimal(str(li["amount"])) + Decimal("1000.00"))

    ws.load_procore(edited_export(fx, tmp / "edited", "commitments", raise_line))
    _accept_updates(ws, "commitment")
    summary = ws.export(company.process)
    assert summary.synced == 1 and summary.failed == 0, summary
    after = _po_lines(company, po_id)
    assert len(after) == len(before), "no line added or lost (CCO lines kept)"
    assert set(after["TxnLineID"]) == set(before["TxnLineID"]), "lines modified by TxnLineID"
    changed = after.set_index("TxnLineID").loc[old_txn_line, "Amount"]
    was = before.set_index("TxnLineID").loc[old_txn_line, "Amount"]
    assert Decimal(str(changed)) - Decimal(str(was)) == Decimal("1000.00")


def test_a_budget_change_goes_out_as_estimatemod(world):
    ws, company, fx, tmp = world
    sync_all(ws, company)
    budget = ws.queue("synced", item_type="budget")
    assert len(budget)
    pid = int(budget["procore_id"].iloc[0])
    txn = ws.links("budget", pid)["quickbooks_id"].iloc[0]

    def bump(records):
        for r in records:
            if r["project_id"] == pid:
                r["original_budget_amount"] = float(r["original_budget_amount"]) + 500.0
                break

    before = Decimal(company.ret(txn).findtext("TotalAmount"))
    ws.load_procore(edited_export(fx, tmp / "edited", "budget_line_items", bump))
    _accept_updates(ws, "budget")
    summary = ws.export(company.process)
    assert summary.synced == 1, summary
    assert Decimal(company.ret(txn).findtext("TotalAmount")) - before == Decimal("500.00")


def test_a_procore_change_made_while_a_mod_was_unanswered_still_goes_out(world):
    """QuickBooks stores an EstimateMod and its answer is lost (the process dies); Procore changes the budget
    again. The check before resending finds the first change in QuickBooks, so the item is Synced with what was
    sent -- and comes straight back as an update for the newer change, which then goes out (found by the model
    test's long run with the crash rule)."""
    ws, company, fx, tmp = world
    sync_all(ws, company)
    pid = int(ws.queue("synced", item_type="budget")["procore_id"].iloc[0])
    txn = ws.links("budget", pid)["quickbooks_id"].iloc[0]
    before = Decimal(company.ret(txn).findtext("TotalAmount"))

    def bump(by: float):
        def edit(records):
            for r in records:
                if r["project_id"] == pid:
                    r["original_budget_amount"] = float(r["original_budget_amount"]) + by
                    break

        return edit

    ws.load_procore(edited_export(fx, tmp / "edit1", "budget_line_items", bump(500.0)))
    _accept_updates(ws, "budget")
    batch = ws.next_export_batch(max_requests=50)
    ws.mark_batch_sent(batch.message_id)
    company.process(batch.xml)  # QuickBooks stores the EstimateMod; its answer never arrives
    assert Decimal(company.ret(txn).findtext("TotalAmount")) - before == Decimal("500.00")
    ws.load_procore(edited_export(fx, tmp / "edit2", "budget_line_items", bump(700.0)))
    sync_all(ws, company)
    assert ws.queue(item_type="budget").set_index("procore_id").loc[pid, "status"] == "synced"
    assert Decimal(company.ret(txn).findtext("TotalAmount")) - before == Decimal("700.00")


def test_an_unpaid_invoice_change_is_a_billmod_and_a_paid_bill_is_refused_with_the_reason(world):
    ws, company, fx, tmp = world
    sync_all(ws, company)
    ours = exported_by_us(ws, "invoice")
    assert len(ours) >= 2
    unpaid, paid = ours[0], ours[1]
    paid_txn = ws.links("invoice", paid)["quickbooks_id"].iloc[0]
    ws.store.execute(
        'UPDATE bills SET "IsPaid" = true WHERE "TxnID" = ?', [paid_txn]
    )  # as a refresh reads it

    def retitle(records):
        for r in records:
            if r["id"] in (unpaid, paid):
                r["payment_due_date"] = "2030-01-31"

    src = tmp / "edited"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(fx / "procore", src)
    for page in sorted((src / "requisitions").glob("*.json")):
        records = json.loads(page.read_text())
        retitle(records if isinstance(records, list) else records.get("data", []))
        page.write_text(json.dumps(records))
    ws.load_procore(src)
    ready = ws.queue("ready_to_export", item_type="invoice")
    assert {unpaid, paid} <= set(ready["procore_id"])
    with pytest.raises(BatchRejected, match="paid"):
        ws.accept([paid], item_type="invoice", by=admin_id(ws))
    ws.accept([unpaid], item_type="invoice", by=admin_id(ws))
    summary = ws.export(company.process)
    assert summary.synced == 1, summary
    txn = ws.links("invoice", unpaid)["quickbooks_id"].iloc[0]
    assert company.ret(txn).findtext("DueDate") == "2030-01-31"
    assert company.counts()["bill"] == len(company.records("bill"))


# -- 4. bills receive the POs qbrecon exported ----------------------------------------------------------------------
def test_bills_for_an_exported_commitment_link_to_its_po_lines_and_the_open_balance_drops(world):
    ws, company, fx, tmp = world
    sync_all(ws, company, item_types=ALL_BUT_INVOICES)
    ours = exported_by_us(ws, "commitment")
    po_ids = {pid: ws.links("commitment", pid)["quickbooks_id"].iloc[0] for pid in ours}
    open_before = {pid: company.open_balance(txn) for pid, txn in po_ids.items()}
    sync_all(ws, company, item_types=["invoice"])
    billed = ws.frame(
        "SELECT i.commitment_id, i.id, i.current_payment_due, e.quickbooks_id FROM invoices i JOIN erp_items e "
        f"ON e.item_type = 'invoice' AND e.procore_id = i.id WHERE e.status = 'synced' AND i.commitment_id IN "
        f"({', '.join(map(str, ours))}) AND e.quickbooks_id IN (SELECT quickbooks_id FROM qb_links "
        "WHERE item_type = 'invoice' AND source = 'export')"
    )
    assert len(billed)
    for pid, txn in po_ids.items():
        mine = billed[billed["commitment_id"] == pid]
        if mine.empty:
            continue
        bill = company.ret(mine["quickbooks_id"].iloc[0])
        assert bill.find("LinkedTxn") is not None and bill.findtext("LinkedTxn/TxnID") == txn
        assert company.open_balance(txn) < open_before[pid]


def test_a_commitment_whose_lines_were_never_linked_is_not_modded_into_double_lines(world):
    """A workspace from before line links: the PO's lines cannot be told apart, so the update is refused."""
    ws, company, fx, tmp = world
    sync_all(ws, company, item_types=ALL_BUT_INVOICES)
    pid = exported_by_us(ws, "commitment")[0]
    po_id = ws.links("commitment", pid)["quickbooks_id"].iloc[0]
    before = len(_po_lines(company, po_id))
    ws.store.execute(
        "DELETE FROM qb_links WHERE item_type = 'commitment' AND procore_id = ? AND line_table <> ''", [pid]
    )
    ws.store.execute("UPDATE commitment_lines SET origin_id = NULL WHERE commitment_id = ?", [pid])

    def retitle(records):
        for r in records:
            if r["id"] == pid:
                r["title"] = (r["title"] or "")[:20] + " rev"

    ws.load_procore(edited_export(fx, tmp / "edited", "commitments", retitle))
    _accept_updates(ws, "commitment")
    ws.export(company.process)
    item = ws.queue(item_type="commitment").set_index("procore_id").loc[pid]
    assert item["status"] == "failed_to_export" and "add them all again" in item["last_error_message"]
    assert len(_po_lines(company, po_id)) == before


# -- the texts users read ------------------------------------------------------------------------------------------
def test_texts_say_what_is_true(ws):
    from qbrecon.qbwc.simulator import QuickBooksCompany

    put_admin(ws, tools=("projects",))  # sends projects only
    ws.store.put_rows(
        "projects", [dict(id=10, name="Harbor Clinic", address="5 Harbor Road", created_by_id=1)]
    )
    ws.store.put_rows(
        "invoices",
        [
            dict(
                id=20,
                project_id=10,
                invoice_number="INV-1",
                number=1,
                status="approved",
                current_payment_due=Decimal("10.00"),
                erp_status="Failed to Export",
            )
        ],
    )
    # a customer the workspace read from QuickBooks once, since deleted there
    ws.store.put_rows(
        "customers",
        [dict(ListID="80000001-1", Name="Ghost Owner", FullName="Ghost Owner", Sublevel=0, IsActive=True)],
    )
    ws.refresh_queue()
    invoice = ws.queue(item_type="invoice").iloc[0]
    assert invoice["status"] == "failed_to_export"
    assert (
        invoice["last_error_message"]
        == "marked failed in Procore; no QuickBooks error recorded: retry or reject"
    )
    ws.send([10], item_type="project", by="ada")
    ws.accept([10], item_type="project", by="ada", customer="Ghost Owner")
    with QuickBooksCompany(None, validate=False) as company:
        ws.export(company.process)
    message = ws.queue(item_type="project").iloc[0]["last_error_message"]
    assert "created in QuickBooks, not from Procore" in message and "send and accept" not in message


def test_a_workspace_from_before_links_upgrades_on_open(tmp_path):
    from qbrecon import Workspace

    ws = Workspace(tmp_path / "old.duckdb")
    ws.store.put_rows(
        "companies",
        [
            dict(
                id=1, name="Acme", is_active=True, origin_id="80000001-1", origin_data='{"edit_sequence":"7"}'
            )
        ],
    )
    ws.refresh_queue()
    # as a qbrecon from before links leaves it: no links, no links version (and so another schema fingerprint)
    ws.store.execute("DELETE FROM qb_links")
    ws.store.execute("DELETE FROM qbrecon_meta WHERE key IN ('qb_links_version', 'schema_fingerprint')")
    ws.close()
    ws = Workspace(tmp_path / "old.duckdb")
    try:
        link = ws.links("company", 1)
        assert list(link["quickbooks_id"]) == ["80000001-1"] and list(link["source"]) == ["migration"]
        assert ws.store.scalar("SELECT value FROM qbrecon_meta WHERE key = 'qb_links_version'") == "1"
    finally:
        ws.close()


# -- changes after sync, for every pair that can be updated -----------------------------------------------------------
def test_a_change_order_changed_after_sync_modifies_its_po_lines_by_txnlineid(world):
    """A CCO edited in Procore after its lines went onto the PO comes back as an update; accepting it sends a
    PurchaseOrderMod that changes those lines by TxnLineID (no line added), with the PO's current EditSequence
    even when QuickBooks moved the PO on meanwhile."""
    ws, company, fx, tmp = world
    sync_all(ws, company, item_types=ALL_BUT_INVOICES)
    cco = exported_by_us(ws, "change_order")[0]
    po_id = ws.links("change_order", cco)["quickbooks_id"].iloc[0]
    line = ws.frame(
        f"SELECT id, origin_id, amount FROM change_order_lines WHERE change_order_id = {cco}"
    ).iloc[0]
    before = _po_lines(company, po_id)
    total_before = Decimal(company.ret(po_id).findtext("TotalAmount"))

    def raise_line(records):
        for r in records:
            if r["id"] == cco:
                for li in r["line_items"]:
                    if li["id"] == int(line["id"]):
                        li["amount"] = str(Decimal(str(li["amount"])) + Decimal("250.00"))

    ws.load_procore(edited_export(fx, tmp / "edited", "commitment_change_orders", raise_line))
    _accept_updates(ws, "change_order")
    # another QuickBooks user edits the PO meanwhile: the Mod is refused (3200), re-read and sent again
    current = company.ret(po_id)
    company.process(
        f'<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
        f'<PurchaseOrderModRq requestID="u1"><PurchaseOrderMod><TxnID>{po_id}</TxnID><EditSequence>'
        f"{current.findtext('EditSequence')}</EditSequence><Memo>edited in QuickBooks</Memo></PurchaseOrderMod>"
        f"</PurchaseOrderModRq></QBXMLMsgsRq></QBXML>".encode()
    )
    summary = ws.export(company.process)
    assert summary.synced == 1 and summary.failed == 0, summary
    assert ws.queue(item_type="change_order").set_index("procore_id").loc[cco, "status"] == "synced"
    after = _po_lines(company, po_id)
    assert set(after["TxnLineID"]) == set(before["TxnLineID"]), "modified in place, nothing added or lost"
    assert Decimal(company.ret(po_id).findtext("TotalAmount")) - total_before == Decimal("250.00")
    assert company.ret(po_id).findtext("Memo") == "edited in QuickBooks"
    mod = ws.export_ledger("change_order", cco).iloc[-1]
    assert mod["request_name"] == "PurchaseOrderMod" and mod["outcome"] == "synced"
    assert ws.links("change_order", cco).query("line_table != ''")["txn_line_id"].tolist() == [
        line["origin_id"]
    ]


def test_a_timecard_entry_changed_after_sync_goes_out_as_timetrackingmod_and_billed_time_is_refused(world):
    ws, company, fx, tmp = world
    sync_all(ws, company, item_types=ALL_BUT_INVOICES)
    ours = sorted(int(p) for p in ws.links("timecard_entry").query("line_table == ''")["procore_id"])
    assert len(ours) >= 2
    entry, billed = ours[0], ours[1]
    billed_txn = ws.links("timecard_entry", billed)["quickbooks_id"].iloc[0]
    ws.store.execute(
        """UPDATE time_tracking SET "BillableStatus" = 'HasBeenBilled' WHERE "TxnID" = ?""", [billed_txn]
    )
    before = company.counts()["time_tracking"]

    def more_hours(records):
        for r in records:
            if r["id"] in (entry, billed):
                r["hours"], r["description"] = "3.5", "Rework after inspection"

    ws.load_procore(edited_export(fx, tmp / "edited", "timecard_entries", more_hours))
    ready = ws.queue("ready_to_export", item_type="timecard_entry")
    assert {entry, billed} <= set(ready["procore_id"]) and ready["is_update"].all()
    with pytest.raises(BatchRejected, match="billed"):
        ws.accept([billed], item_type="timecard_entry", by=admin_id(ws))
    ws.accept([entry], item_type="timecard_entry", by=admin_id(ws))
    summary = ws.export(company.process)
    assert summary.synced == 1 and summary.failed == 0, summary
    txn = ws.links("timecard_entry", entry)["quickbooks_id"].iloc[0]
    ret = company.ret(txn)
    assert ret.findtext("Duration") == "PT3H30M" and ret.findtext("Notes") == "Rework after inspection"
    assert company.counts()["time_tracking"] == before, "modified, not added again"
    assert ws.links("timecard_entry", entry)["edit_sequence"].iloc[0] == ret.findtext("EditSequence")


# -- every pair: a change after sync has an update path (generated from entities.PAIRS) -------------------------------
# Every pair that exports has an update path: a pair declaring no Mod fails here by name.
SYNCABLE = [t for t, p in PAIRS.items() if p.exportable]


@pytest.fixture(scope="module")
def synced_template(tmp_path_factory):
    """One world synced as far as it goes, copied by each test (syncing it again per pair would cost minutes)."""
    base = tmp_path_factory.mktemp("synced")
    fx = fixture_dir(base, projects=1, seed=3)
    ws = open_world(base / "ws.duckdb", fx)
    company = company_for(base / "qb.duckdb", fx)
    sync_all(ws, company)
    ws.close()
    company.close()
    return base


def _change(ws, table: str, column: str, row_id: int) -> str:
    """A Procore user's change of one declared field: a date moves a day, a number grows by one, a text gains a
    suffix. Returns what was done (for the assertion message)."""
    kind = ws.store.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
        [table, column],
    ).fetchall()[0][0]
    if kind == "DATE":
        expr = f"coalesce({column}, DATE '2024-01-01') + 1"
    elif kind.startswith("DECIMAL") or kind in ("DOUBLE", "INTEGER", "BIGINT"):
        expr = f"coalesce({column}, 0) + 1"
    else:
        expr = f"coalesce({column}, '') || ' 2'"
    ws.store.execute(f'UPDATE "{table}" SET {column} = {expr} WHERE id = ?', [row_id])
    return f"{table}.{column} of {row_id} ({kind})"


def _what_to_change(ws, pair, pid: int) -> tuple[str, str, int]:
    """(table, column, row id) of a declared field of the item: the record's own fields first (a date, else a text
    that is not an id), else a number on one of its lines (so totals that must tie -- a bill's -- stay whole)."""
    kinds = dict(
        ws.store.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
            [pair.procore_table],
        ).fetchall()
    )
    own = [f for f in pair.changed_fields if not f.endswith("_id") and not f.startswith("is_")]
    own.sort(key=lambda f: (kinds.get(f) != "DATE", kinds.get(f) == "BOOLEAN"))
    if own and kinds.get(own[0]) != "BOOLEAN":
        return pair.procore_table, own[0], pid
    for rel in pair.lines:
        where = f" AND {rel.where}" if rel.where else ""
        row = ws.store.execute(
            f'SELECT min(id) FROM "{rel.table}" WHERE {rel.parent_key} = ?{where}', [pid]
        ).fetchall()[0][0]
        if row is None:
            continue
        numbers = [
            f
            for f in rel.fields
            if not f.endswith("_id")
            and ws.store.execute(
                "SELECT data_type FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
                [rel.table, f],
            )
            .fetchall()[0][0]
            .startswith("DECIMAL")
        ]
        if numbers:
            return rel.table, numbers[0], int(row)
    raise AssertionError(f"{pair.item_type}: no declared field to change")


@pytest.mark.parametrize("item_type", SYNCABLE)
def test_every_pair_sends_a_change_after_sync_as_its_mod(item_type, synced_template, tmp_path):
    pair = PAIRS[item_type]
    assert pair.updatable, (
        f"{item_type}: a change after sync has no way to QuickBooks (declare mod_request and fields)"
    )
    for name in ("ws.duckdb", "qb.duckdb"):
        shutil.copy(synced_template / name, tmp_path / name)
    from qbrecon import Workspace
    from qbrecon.qbwc.simulator import QuickBooksCompany

    ws = Workspace(tmp_path / "ws.duckdb")
    company = QuickBooksCompany(tmp_path / "qb.duckdb", validate=False)
    try:
        linked = ws.frame(
            f"""SELECT l.procore_id, l.quickbooks_id FROM qb_links l JOIN erp_items e ON e.item_type = l.item_type
                AND e.procore_id = l.procore_id WHERE l.item_type = '{item_type}' AND l.line_table = ''
                AND e.status = 'synced' ORDER BY l.procore_id"""
        )
        linked = linked[[q in company._recs for q in linked["quickbooks_id"]]]
        assert len(linked), f"the synced world has no {item_type} linked to a QuickBooks record"
        pid, qb_id = int(linked["procore_id"].iloc[0]), str(linked["quickbooks_id"].iloc[0])
        if pair.cannot_modify is not None:  # the item QuickBooks can modify
            cond, _ = pair.cannot_modify
            ok = ws.frame(
                f"""SELECT l.procore_id, l.quickbooks_id FROM qb_links l JOIN "{pair.quickbooks_table}" q
                    ON q."{pair.quickbooks_id}" = l.quickbooks_id JOIN erp_items e ON e.item_type = l.item_type
                    AND e.procore_id = l.procore_id WHERE l.item_type = '{item_type}' AND l.line_table = ''
                    AND e.status = 'synced' AND NOT coalesce({cond}, false) ORDER BY 1"""
            )
            pid, qb_id = int(ok["procore_id"].iloc[0]), str(ok["quickbooks_id"].iloc[0])
        counts = company.counts()
        what = _change(ws, *_what_to_change(ws, pair, pid))
        ws.refresh_queue()
        row = ws.queue(item_type=item_type).set_index("procore_id").loc[pid]
        assert row["status"] == "ready_to_export" and row["is_update"], (what, row.to_dict())
        ws.accept([pid], item_type=item_type, by=admin_id(ws), customer=top_customer(ws))
        summary = ws.export(company.process)
        sent = ws.export_ledger(item_type, pid).iloc[-1]
        assert (sent["request_name"], sent["outcome"]) == (pair.mod_request, "synced"), (what, sent.to_dict())
        assert summary.failed == 0, summary
        assert company.counts() == counts, f"{what}: the update added a QuickBooks record"
        assert ws.links(item_type, pid).query("line_table == ''")["quickbooks_id"].iloc[0] == qb_id
        ws.refresh_queue()
        assert ws.queue(item_type=item_type).set_index("procore_id").loc[pid, "status"] == "synced"
    finally:
        company.close()
        ws.close()


# -- link conflicts are findings of the reconciliation ------------------------------------------------------------------
def test_a_link_conflict_is_a_reconciliation_finding_in_every_report_until_procore_is_corrected(world):
    ws, company, fx, tmp = world
    sync_all(ws, company, item_types=["company"])
    linked = ws.links("company")
    pid, qb_id = int(linked["procore_id"].iloc[0]), str(linked["quickbooks_id"].iloc[0])
    other = "80009999-1700000000"

    def other_id(records):
        for r in records:
            if r["id"] == pid:
                r["origin_id"] = other

    ws.load_procore(edited_export(fx, tmp / "edited", "vendors", other_id))
    rec = ws.reconcile("company")
    found = rec.differences[rec.differences["reason"] == "link_conflict"]
    assert len(found) == 1, rec.differences
    row = found.iloc[0]
    assert (row["procore_id"], row["procore_value"], row["quickbooks_value"]) == (str(pid), other, qb_id)
    assert "different QuickBooks record than qbrecon's link" in row["reason_text"]
    summary = rec.summary.set_index("pair").loc["company"]
    assert summary["differences"] == len(rec.differences)
    assert summary["matched_with_differences"] >= 1
    html = rec.to_html()
    assert other in html and "different QuickBooks record than qbrecon&#x27;s link" in html.replace(
        "&#39;", "&#x27;"
    )
    import openpyxl

    book = openpyxl.load_workbook(rec.to_excel(tmp / "rec.xlsx"))
    cells = {str(c.value) for sheet in book for r in sheet.iter_rows() for c in r if c.value is not None}
    assert other in cells and any("qbrecon's link" in c for c in cells)
    # Procore is corrected: the next export brings qbrecon's id again and the finding is gone
    ws.load_procore(fx / "procore")
    assert ws.link_conflicts()["resolved_at"].notna().all()
    rec = ws.reconcile("company")
    assert "link_conflict" not in set(rec.differences["reason"])


# -- records deleted in QuickBooks -------------------------------------------------------------------------------------
def _delete_in_quickbooks(company, txn_id: str, kind: str = "Bill") -> None:
    from lxml import etree

    rs = etree.fromstring(
        company.process(
            '<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
            f'<TxnDelRq requestID="del"><TxnDelType>{kind}</TxnDelType><TxnID>{txn_id}</TxnID></TxnDelRq>'
            "</QBXMLMsgsRq></QBXML>".encode()
        )
    ).find("QBXMLMsgsRs")[0]
    assert rs.get("statusCode") == "0", etree.tostring(rs)


def test_a_full_refresh_learns_a_bill_deleted_in_quickbooks_and_only_an_explicit_unlink_adds_it_again(world):
    ws, company, fx, tmp = world
    sync_all(ws, company)
    pid = exported_by_us(ws, "invoice")[0]
    txn = ws.links("invoice", pid)["quickbooks_id"].iloc[0]
    _delete_in_quickbooks(company, txn)
    ws.request_refresh(full=True)
    ws.refresh_now(company.process)
    # the link is kept and marked; the approver sees the item with a plain reason
    link = ws.links("invoice", pid).query("line_table == ''").iloc[0]
    assert link["quickbooks_id"] == txn and pd.notna(link["deleted_in_quickbooks_at"])
    item = ws.queue(item_type="invoice").set_index("procore_id").loc[pid]
    assert item["status"] == "failed_to_export"
    assert item["last_error_message"].startswith(f"deleted in QuickBooks Desktop: the bill {txn}")
    assert "unlink" in item["last_error_message"]
    assert "deleted_in_quickbooks" in set(ws.audit("invoice", pid)["action"])
    # reconciliation: missing in QuickBooks, not silently fine
    rec = ws.reconcile("invoice")
    mine = rec.differences[rec.differences["procore_id"] == str(pid)]
    assert list(mine["reason"]) == ["missing_in_quickbooks"], mine
    # a retry would modify nothing and a resend must not add a second bill on its own: refused with the reason
    with pytest.raises(BatchRejected, match="deleted in QuickBooks Desktop"):
        ws.retry([pid], item_type="invoice", by=admin_id(ws))
    bills = company.counts()["bill"]
    sync_all(ws, company, item_types=["invoice"])
    assert company.counts()["bill"] == bills
    # the admin unlinks explicitly: then, and only then, it goes out again as a new bill
    ws.unlink([pid], item_type="invoice", by=admin_id(ws))
    assert ws.links("invoice", pid).empty
    sync_all(ws, company, item_types=["invoice"])
    assert company.counts()["bill"] == bills + 1
    new_txn = ws.links("invoice", pid)["quickbooks_id"].iloc[0]
    assert (
        new_txn != txn
        and ws.queue(item_type="invoice").set_index("procore_id").loc[pid, "status"] == "synced"
    )


def test_an_update_of_a_record_deleted_in_quickbooks_is_learned_from_quickbooks_answer(world):
    """No refresh in between: the Mod comes back 'cannot be found' (3120); the link is marked, not dropped."""
    ws, company, fx, tmp = world
    sync_all(ws, company)
    pid = exported_by_us(ws, "invoice")[0]
    txn = ws.links("invoice", pid)["quickbooks_id"].iloc[0]
    _delete_in_quickbooks(company, txn)
    ws.store.execute("UPDATE invoices SET payment_due_date = DATE '2030-01-31' WHERE id = ?", [pid])
    ws.refresh_queue()
    ws.accept([pid], item_type="invoice", by=admin_id(ws))
    bills = company.counts()["bill"]
    summary = ws.export(company.process)
    assert summary.failed == 1 and company.counts()["bill"] == bills
    item = ws.queue(item_type="invoice").set_index("procore_id").loc[pid]
    assert item["status"] == "failed_to_export" and item["error_class"] == "deleted_in_quickbooks"
    assert "deleted in QuickBooks Desktop" in item["last_error_message"]
    assert ws.links("invoice", pid).query("line_table == ''")["deleted_in_quickbooks_at"].notna().all()
    with pytest.raises(BatchRejected, match="deleted in QuickBooks Desktop"):
        ws.retry([pid], item_type="invoice", by=admin_id(ws))


# -- a single line deleted in QuickBooks (its record stays) ---------------------------------------------------------
def _delete_first_line_in_quickbooks(company, txn_id: str) -> str:
    """Another QuickBooks user removes the bill's first line (a BillMod that lists every other line)."""
    from lxml import etree

    ret = company.ret(txn_id)
    lines = ret.findall("ItemLineRet")
    keep = "".join(
        f"<ItemLineMod><TxnLineID>{x.findtext('TxnLineID')}</TxnLineID></ItemLineMod>" for x in lines[1:]
    )
    rs = etree.fromstring(
        company.process(
            '<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
            f'<BillModRq requestID="m"><BillMod><TxnID>{txn_id}</TxnID><EditSequence>{ret.findtext("EditSequence")}'
            f"</EditSequence>{keep}</BillMod></BillModRq></QBXMLMsgsRq></QBXML>".encode()
        )
    ).find("QBXMLMsgsRs")[0]
    assert rs.get("statusCode") == "0", etree.tostring(rs)
    return lines[0].findtext("TxnLineID")


def _bill_lines(company, txn_id: str) -> list[tuple[str, Decimal]]:
    return [
        (x.findtext("TxnLineID"), Decimal(x.findtext("Amount")))
        for x in company.ret(txn_id).findall("ItemLineRet")
    ]


@pytest.mark.parametrize("learned_by", ["refresh", "re-read", "quickbooks-answer"])
def test_a_line_deleted_in_quickbooks_is_marked_shown_plainly_and_retry_adds_it_back_once(world, learned_by):
    ws, company, fx, tmp = world
    sync_all(ws, company)
    pid = exported_by_us(ws, "invoice")[0]
    txn = ws.links("invoice", pid).query("line_table == ''")["quickbooks_id"].iloc[0]
    before = _bill_lines(company, txn)
    gone = _delete_first_line_in_quickbooks(company, txn)
    lk = ws.links("invoice", pid)
    line_id = int(lk[lk["txn_line_id"] == gone]["line_id"].iloc[0])
    if learned_by == "refresh":  # the next refresh reads the bill with its lines: the line is not among them
        ws.request_refresh()
        ws.refresh_now(company.process)
    else:  # no refresh: a Procore change goes out as a BillMod; QuickBooks moved on, so qbrecon reads the bill again
        if (
            learned_by == "quickbooks-answer"
        ):  # ... unless qbrecon already knew the current EditSequence: 3120
            es = company.ret(txn).findtext("EditSequence")
            for table in ("erp_items", "qb_links"):
                ws.store.execute(
                    f"UPDATE {table} SET edit_sequence = ? WHERE item_type = 'invoice' AND procore_id = ?",
                    [es, pid],
                )
        ws.store.execute("UPDATE invoices SET payment_due_date = DATE '2030-01-31' WHERE id = ?", [pid])
        ws.refresh_queue()
        ws.accept([pid], item_type="invoice", by=admin_id(ws))
        ws.export(company.process)
        assert [t for t, _ in _bill_lines(company, txn)] == [t for t, _ in before[1:]], "nothing was sent"
    item = ws.queue(item_type="invoice").set_index("procore_id").loc[pid]
    assert item["status"] == "failed_to_export" and item["error_class"] == "line_deleted_in_quickbooks"
    assert item["last_error_message"].startswith(
        f"a line was deleted in QuickBooks Desktop: line {gone} was removed from the bill {txn}"
    ), item["last_error_message"]
    if learned_by != "quickbooks-answer":  # QuickBooks' own 3120 text only where it is how qbrecon learned it
        assert "Object" not in item["last_error_message"]
    lk = ws.links("invoice", pid)
    line_link = lk[lk["line_id"] == line_id].iloc[0]
    assert line_link["txn_line_id"] == gone and pd.notna(line_link["deleted_in_quickbooks_at"])
    assert "line_deleted_in_quickbooks" in set(ws.audit("invoice", pid)["action"])
    # the approver retries: the BillMod adds the line again, once, and the bill is whole
    ws.retry([pid], item_type="invoice", by=admin_id(ws))
    ws.export(company.process)
    assert ws.queue(item_type="invoice").set_index("procore_id").loc[pid, "status"] == "synced"
    after = _bill_lines(company, txn)
    assert len(after) == len(before) and gone not in {t for t, _ in after}
    assert sum(a for _, a in after) == sum(a for _, a in before)
    lk = ws.links("invoice", pid)
    new = lk[lk["line_id"] == line_id].iloc[0]
    assert new["txn_line_id"] in {t for t, _ in after} and pd.isna(new["deleted_in_quickbooks_at"])
