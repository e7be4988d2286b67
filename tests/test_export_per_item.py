"""Batch export, seed 002: the approver accepts a selection of subcontractor invoices in one decision (all or
nothing), and the export then goes item by item: the good invoices become bills in QuickBooks, a bad one fails
alone, Failed to Export with its reason -- whether the builder refuses it before sending or QuickBooks refuses
it in its answer."""

from __future__ import annotations

import pytest
from lxml import etree
from sync_world import admin_id, fixture_dir, synced_but_invoices

pytestmark = pytest.mark.slow  # a synced fixture world: vendors, jobs, items, commitments exported first


def test_one_bad_invoice_fails_alone_and_the_rest_of_the_selection_is_exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("per-item")
    fx = fixture_dir(tmp_path_factory.getbasetemp(), projects=1, seed=3)
    ws, company, ready = synced_but_invoices(base, fx)
    good, too_long, refused_by_quickbooks = (
        [int(i) for i in ready["procore_id"][:2]],
        int(ready["procore_id"].iloc[2]),
        int(ready["procore_id"].iloc[5]),
    )
    # caught by the builder: QuickBooks' bill Ref No allows 20 characters
    ws.store.execute(
        "UPDATE invoices SET invoice_number = 'INV-' || repeat('9', 30) WHERE id = ?", [too_long]
    )
    ws.refresh_queue()
    selection = [("invoice", i) for i in [*good, too_long, refused_by_quickbooks]]
    admin = admin_id(ws)
    assert ws.send(selection, by=admin).count == 4
    assert ws.accept(selection, by=admin).count == 4  # one decision for the whole selection
    bad_ref = ws.store.scalar("SELECT invoice_number FROM invoices WHERE id = ?", [refused_by_quickbooks])
    bills_before = company.counts()["bill"]

    def deliver(xml: bytes) -> bytes:
        """QuickBooks no longer has that invoice's vendor (merged away): it answers that BillAdd with 3140."""
        root = etree.fromstring(xml)
        for bill in root.iter("BillAdd"):
            if bill.findtext("RefNumber") == bad_ref:
                bill.find("VendorRef/ListID").text = "80000999-1111111111"
        return company.process(etree.tostring(root.getroottree(), xml_declaration=True, encoding="utf-8"))

    summary = ws.export(deliver)
    assert summary.synced == 2 and summary.failed == 1 and summary.refused == 1 and summary.stopped is None
    items = ws.queue(item_type="invoice").set_index("procore_id")
    assert items.loc[good, "status"].tolist() == ["synced", "synced"]
    assert items.loc[good, "quickbooks_id"].notna().all()
    assert company.counts()["bill"] == bills_before + 2
    failed = items.loc[[too_long, refused_by_quickbooks]]
    assert failed["status"].tolist() == ["failed_to_export", "failed_to_export"]
    assert "BillAdd/RefNumber allows 20 characters" in failed.loc[too_long, "last_error_message"]
    assert "invalid reference to QuickBooks Vendor" in failed.loc[refused_by_quickbooks, "last_error_message"]
    ws.close()
    company.close()
