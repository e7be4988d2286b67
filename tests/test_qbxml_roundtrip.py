"""Round trip: frames -> requests -> the responses QuickBooks would give -> frames with the same values."""

from __future__ import annotations

import itertools
from decimal import Decimal as D

from lxml import etree
from test_qbxml_build import scenario

from qbrecon.qbxml.build import build_requests, message_sets
from qbrecon.qbxml.parse import parse_bytes
from qbrecon.qbxml.responses import read_response

_LIST_KINDS = {"Customer", "Vendor", "ItemService"}
_LINE_RET = {
    "PurchaseOrderLineAdd": "PurchaseOrderLineRet",
    "PurchaseOrderLineMod": "PurchaseOrderLineRet",
    "ItemLineAdd": "ItemLineRet",
    "EstimateLineAdd": "EstimateLineRet",
    "EstimateLineMod": "EstimateLineRet",
}
_RENAME = {"SalesOrPurchaseMod": "SalesOrPurchase"}
_ids = itertools.count(1)


def respond(request_xml: bytes) -> bytes:
    """The response QuickBooks gives to a message set when every request succeeds: each Add/Mod becomes a
    ``*Ret`` echoing what was sent, with new ids (ListID/TxnID, TxnLineIDs) and EditSequence."""
    root = parse_bytes(request_xml)
    out = etree.Element("QBXML")
    msgs = etree.SubElement(out, "QBXMLMsgsRs", statusCode="0", statusSeverity="Info")
    for rq in root.find("QBXMLMsgsRq"):
        body = rq[0]
        name = body.tag
        kind = name[:-3]
        rs = etree.SubElement(
            msgs,
            name + "Rs",
            requestID=rq.get("requestID"),
            statusCode="0",
            statusSeverity="Info",
            statusMessage="Status OK",
        )
        ret = etree.SubElement(rs, kind + "Ret")
        id_tag = "ListID" if kind in _LIST_KINDS else "TxnID"
        existing = body.findtext(id_tag)
        etree.SubElement(ret, id_tag).text = existing or f"{next(_ids):X}-1700000000"
        etree.SubElement(ret, "EditSequence").text = str(1700000000 + next(_ids))
        total = D("0")
        for child in body:
            if child.tag in ("ListID", "TxnID", "EditSequence"):
                continue
            if child.tag in _LINE_RET:
                line = etree.SubElement(ret, _LINE_RET[child.tag])
                line_id = child.findtext("TxnLineID")
                etree.SubElement(line, "TxnLineID").text = (
                    line_id if line_id and line_id != "-1" else f"{next(_ids):X}-1700000000"
                )
                for part in child:
                    if part.tag not in ("TxnLineID", "LinkToTxn"):
                        line.append(_copy(part))
                total += D(child.findtext("Amount") or "0")
                continue
            ret.append(_copy(child))
        if kind in ("Customer", "ItemService"):
            parent = body.findtext("ParentRef/FullName")
            etree.SubElement(ret, "FullName").text = (
                f"{parent}:{body.findtext('Name')}" if parent else body.findtext("Name")
            )
        if kind == "Bill":
            etree.SubElement(ret, "AmountDue").text = f"{total:.2f}"
        if kind in ("PurchaseOrder", "Estimate"):
            etree.SubElement(ret, "TotalAmount").text = f"{total:.2f}"
    return etree.tostring(out, xml_declaration=True, encoding="utf-8")


def _copy(el: etree._Element) -> etree._Element:
    new = etree.Element(_RENAME.get(el.tag, el.tag))
    new.text = el.text
    for child in el:
        new.append(_copy(child))
    return new


def _round_trip(item_type: str):
    context, inputs = scenario()
    rows, lines = inputs[item_type]
    built = build_requests(item_type, rows, lines, context)
    assert built.errors.empty
    (ms,) = message_sets(built.requests, max_requests=1000)
    result = read_response(respond(ms.xml), built.frame)
    assert (result.outcomes["outcome"] == "synced").all()
    assert result.outcomes["quickbooks_id"].notna().all()
    assert sorted(result.outcomes["procore_id"].tolist()) == sorted(r.procore_id for r in built.requests)
    return rows, lines, result


def test_companies_come_back_as_vendors():
    rows, _, result = _round_trip("company")
    vendors = result.rets["vendors"].sort_values("Name").reset_index(drop=True)
    src = rows.sort_values("name").reset_index(drop=True)
    assert vendors["Name"].tolist() == src["name"].tolist()
    assert vendors["VendorAddress_City"].tolist() == src["city"].tolist()
    assert vendors["Phone"].tolist()[1] == "555-1234"
    assert vendors["VendorTypeRef_FullName"].tolist() == ["Plumbing", "Subcontractor"]
    assert vendors.loc[1, "ListID"] == "80000010-1446676743"  # the mod kept its ListID


def test_projects_come_back_as_jobs():
    rows, _, result = _round_trip("project")
    jobs = result.rets["customers"].set_index("Name")
    assert set(jobs.index) == set(rows["name"])
    assert jobs.loc["Depot Renovation", "FullName"] == "Acme Dev:Depot Renovation"
    assert jobs.loc["Depot Renovation", "BillAddress_City"] == "Shelbyville"
    assert str(jobs.loc["Main St Tower", "JobStartDate"]) == "2024-01-02"


def test_cost_codes_come_back_as_service_items():
    rows, _, result = _round_trip("cost_code")
    items = result.rets["items"]
    assert items["Name"].tolist() == rows["full_code"].tolist()
    assert items["Desc"].tolist() == rows["name"].tolist()
    assert set(items["ItemType"]) == {"Service"}


def test_commitments_come_back_as_purchase_orders():
    rows, lines, result = _round_trip("commitment")
    pos = result.rets["purchase_orders"].set_index("RefNumber")
    assert pos.loc["SC-001", "VendorMsg"] == "Footings & slab <phase 1>"
    assert str(pos.loc["SC-001", "TxnDate"]) == "2024-02-01"
    po_lines = result.rets["purchase_order_lines"]
    assert sorted(po_lines["Amount"].tolist()) == sorted(lines["amount"].tolist())
    assert set(po_lines["CustomerRef_ListID"]) == {"80000001-1111111111"}


def test_invoices_come_back_as_bills_totalling_the_payment_due():
    rows, _, result = _round_trip("invoice")
    bill = result.rets["bills"].iloc[0]
    assert (bill["RefNumber"], str(bill["TxnDate"]), str(bill["DueDate"])) == (
        "INV-1",
        "2024-03-01",
        "2024-03-31",
    )
    assert bill["AmountDue"] == rows["current_payment_due"].iloc[0] == D("855.00")
    bill_lines = result.rets["bill_lines"]
    assert sum(bill_lines["Amount"].tolist()) == D("855.00")
    assert min(bill_lines["Amount"].tolist()) == D("-95.00")  # retainage held


def test_budget_comes_back_as_an_estimate():
    _, _, result = _round_trip("budget")
    assert sorted(result.rets["estimate_lines"]["Amount"].tolist()) == [D("30.00"), D("200.10"), D("6000.00")]


def test_change_order_lines_come_back_on_the_purchase_order():
    _, _, result = _round_trip("change_order")
    po_lines = result.rets["purchase_order_lines"]
    assert po_lines["TxnLineID"].tolist()[:2] == ["1A01-1700000000", "1A02-1700000000"]
    assert po_lines["Amount"].dropna().tolist() == [D("125.50"), D("10.00")]


def test_timecards_come_back_as_time_tracking():
    rows, _, result = _round_trip("timecard_entry")
    tt = result.rets["time_tracking"].iloc[0]
    assert (str(tt["TxnDate"]), tt["EntityRef_FullName"], tt["BillableStatus"]) == (
        "2024-03-04",
        "Pat Lee",
        "Billable",
    )
    assert tt["Duration"] == "PT7H30M"
