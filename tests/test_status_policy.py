"""The export's answer to each QuickBooks status code, pinned as users meet it: how many times a record in use
is sent before it fails, and the advice a 3140 (a referenced list element is missing) gives in each case. A
changed retry bound or a replaced hint fails here."""

from __future__ import annotations

import pytest
from lxml import etree
from sync_world import put_admin

from qbrecon import Workspace
from qbrecon.erp.ledger import MAX_ATTEMPTS
from qbrecon.qbwc.simulator import QuickBooksCompany


@pytest.fixture()
def ws():
    ws = Workspace()
    put_admin(ws)
    yield ws
    ws.close()


def _accept(ws: Workspace, ids: list[tuple[str, int]], **options) -> None:
    ws.refresh_queue()
    ws.send(ids, by=1)
    ws.accept(ids, by=1, **options)


def test_a_record_in_use_is_sent_five_times_then_fails_with_quickbooks_reason(ws):
    """3180 ("modified by another user") every time: five sends, then Failed to Export with the reason."""
    assert MAX_ATTEMPTS == 5  # the bound users are told (docs/adr/0006); changing it must change this test
    ws.store.put_rows("companies", [dict(id=1, name="Acme Concrete", is_active=True)])
    _accept(ws, [("company", 1)])
    busy = QuickBooksCompany(seed=1, fault_rate_3180=1.0)
    for _ in range(10):  # each export run sends what is due; a retry waits for the next run
        ws.export(busy.process)
    sends = ws.export_ledger("company", 1)
    assert len(sends) == 5
    assert sends["status_code"].astype(int).tolist() == [3180] * 5
    item = ws.frame("erp_items").iloc[0]
    assert item["status"] == "failed_to_export"
    assert int(item["attempts"]) == 5
    assert int(item["last_error_code"]) == 3180
    assert busy.counts()["vendor"] == 0
    busy.close()


def _failed_message(ws: Workspace, item_type: str, procore_id: int) -> str:
    items = ws.frame("erp_items")
    row = items[(items["item_type"] == item_type) & (items["procore_id"] == procore_id)].iloc[0]
    assert row["status"] == "failed_to_export", row.to_dict()
    assert int(row["last_error_code"]) == 3140
    return str(row["last_error_message"])


def test_3140_for_a_job_s_parent_customer_says_it_is_created_in_quickbooks(ws):
    """The customer is in the loaded QuickBooks data but gone from the company file: Procore cannot create it."""
    ws.store.put_rows(
        "customers",
        [
            dict(
                ListID="80000001-1",
                FullName="Ghost Customer",
                Name="Ghost Customer",
                Sublevel=0,
                IsActive=True,
            )
        ],
    )
    ws.store.put_rows("projects", [dict(id=5, name="Tower", project_number="T-1", active=True)])
    _accept(ws, [("project", 5)], customer="Ghost Customer")
    qb = QuickBooksCompany()
    ws.export(qb.process)
    assert _failed_message(ws, "project", 5).endswith(
        "-- QuickBooks has no Customer '80000001-1', and a job's parent customer is created in QuickBooks, not "
        "from Procore: create it in QuickBooks Desktop, reload the QuickBooks data, then retry (or reject and "
        "accept again naming an existing one)"
    )
    qb.close()


@pytest.mark.slow
def test_3140_names_what_is_missing_and_what_to_do(tmp_path_factory):
    """In a synced fixture world, QuickBooks answers two BillAdds with 3140: one whose vendor qbrecon synced is
    gone from the company file, one naming an item no Procore parent of the bill is linked to (e.g. the retainage
    item an ERP setting names): the advice must not blame the bill's synced cost codes."""
    from sync_world import admin_id, fixture_dir, synced_but_invoices

    base = tmp_path_factory.mktemp("s3140")
    fx = fixture_dir(tmp_path_factory.getbasetemp(), projects=1, seed=3)
    ws, company, ready = synced_but_invoices(base, fx)
    vendor_gone, item_gone = int(ready["procore_id"].iloc[0]), int(ready["procore_id"].iloc[1])
    refs = dict(
        ws.store.execute(
            "SELECT id, invoice_number FROM invoices WHERE id IN (?, ?)", [vendor_gone, item_gone]
        ).fetchall()
    )
    admin = admin_id(ws)
    selection = [("invoice", vendor_gone), ("invoice", item_gone)]
    ws.send(selection, by=admin)
    ws.accept(selection, by=admin)
    vendor_link = ws.store.scalar(
        """SELECT e.quickbooks_id FROM erp_items e JOIN invoices i ON i.id = ?
             JOIN commitments c ON c.id = i.commitment_id
           WHERE e.item_type = 'company' AND e.procore_id = c.vendor_id""",
        [vendor_gone],
    )
    assert vendor_link

    def deliver(xml: bytes) -> bytes:
        root = etree.fromstring(xml)
        for bill in root.iter("BillAdd"):
            if bill.findtext("RefNumber") == refs[vendor_gone]:
                bill.find("VendorRef/ListID").text = "80000999-1111111111"
            if bill.findtext("RefNumber") == refs[item_gone]:
                for ref in bill.iter("ItemRef"):  # every line's item: QuickBooks names the first it meets
                    ref.find("ListID").text = "80000998-1111111111"
        answer = company.process(etree.tostring(root.getroottree(), xml_declaration=True, encoding="utf-8"))
        # as QuickBooks words it when the linked vendor itself was merged away: it names the id qbrecon sent
        return answer.replace(b"80000999-1111111111", vendor_link.encode())

    ws.export(deliver)
    assert _failed_message(ws, "invoice", vendor_gone).endswith(
        f"-- qbrecon has the company linked to QuickBooks id {vendor_link}, but QuickBooks does not have it "
        "(deleted or merged there?): reload the QuickBooks data, unlink and export it again, then retry"
    )
    assert _failed_message(ws, "invoice", item_gone).endswith(
        "-- QuickBooks has no Item '80000998-1111111111': create it in QuickBooks (or correct the ERP setting "
        "that names it), then retry"
    )
    ws.close()
    company.close()
