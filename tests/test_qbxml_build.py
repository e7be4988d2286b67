"""qbXML request builders: schema-valid requests from frames, per-row refusals, message sets, queries, IIF."""

from __future__ import annotations

import datetime as dt
import re
import time
from decimal import Decimal as D

import pandas as pd
import pyarrow as pa
import pytest
from lxml import etree

from qbrecon.erp.settings import read_settings
from qbrecon.errors import InputError, SettingMissing
from qbrecon.qbxml import spec
from qbrecon.qbxml.build import (
    BuildContext,
    build_requests,
    message_sets,
    parse_request_id,
    query_request,
    request_id,
)
from qbrecon.qbxml.iif import TIMEACT_COLUMNS, timeact_iif
from qbrecon.schemas import TABLES

JOB = "80000001-1111111111"
VENDOR = "80000010-1446676743"
PO = "1A00-1700000000"


def frame(table: str, rows: list[dict]) -> pd.DataFrame:
    """A frame with the stored table's exact dtypes (plus any extra columns given, as objects)."""
    empty = TABLES[table].empty_frame()
    out = {c: pd.Series([r.get(c) for r in rows], dtype=empty[c].dtype) for c in empty.columns}
    for extra in sorted({k for r in rows for k in r} - set(empty.columns)):
        out[extra] = pd.Series([r.get(extra) for r in rows], dtype=object)
    return pd.DataFrame(out)


def scenario() -> tuple[BuildContext, dict[str, tuple[pd.DataFrame, object]]]:
    """A small company: one synced job, a synced vendor, cost codes, a commitment with SOV lines, a CCO, an
    invoice, a budget, a timecard entry -- and the inputs for every item type."""
    projects = frame(
        "projects",
        [
            dict(
                id=1,
                name="Main St Tower",
                origin_id=JOB,
                origin_data='{"edit_sequence": "1111111111"}',
                address="1 Main St",
                city="Springfield",
                state_code="IL",
                zip="62701",
                country_code="US",
                active=True,
                start_date=dt.date(2024, 1, 2),
                completion_date=dt.date(2025, 6, 30),
            ),
            dict(
                id=2,
                name="Depot Renovation",
                address="9 Rail Rd",
                city="Shelbyville",
                parent_customer_full_name="Acme Dev",
            ),
            dict(id=3, name="Harbor Bridge", customer="80000099-1400000000"),
        ],
    )
    companies = frame(
        "companies",
        [
            dict(
                id=10,
                name="Smith & Sons <Concrete>",
                legal_name="Smith and Sons Concrete LLC",
                origin_id=VENDOR,
                origin_data='{"edit_sequence": "1446676743"}',
                address="5 Elm",
                city="Springfield",
                state_code="IL",
                zip="62701",
                business_phone="555-1234",
                email_address="ap@smith.example",
                is_active=True,
            ),
            dict(
                id=11,
                name="Jos\u00e9 Pl\u00fambing",
                address="7 Oak",
                city="Capital City",
                vendor_type="Plumbing",
            ),
        ],
    )
    cost_codes = frame(
        "cost_codes",
        [
            dict(
                id=100,
                cost_code_level="standard",
                code="03",
                full_code="03-300",
                name="Cast-in-place Concrete",
                origin_id="80000100-1500000000",
            ),
            dict(
                id=101,
                cost_code_level="standard",
                code="05",
                full_code="05-100",
                name="Structural Steel",
                origin_id="80000101-1500000000",
            ),
            dict(id=102, cost_code_level="standard", code="09", full_code="09-900", name="Painting"),
            dict(
                id=500,
                cost_code_level="project",
                project_id=1,
                standard_cost_code_id=100,
                code="03",
                full_code="03-300",
                origin_id=f"{JOB}|80000100-1500000000",
            ),
            dict(
                id=501,
                cost_code_level="project",
                project_id=1,
                standard_cost_code_id=101,
                code="05",
                full_code="05-100",
            ),
        ],
    )
    commitments = frame(
        "commitments",
        [
            dict(
                id=20,
                project_id=1,
                type="WorkOrderContract",
                number="SC-001",
                title="Concrete",
                status="approved",
                vendor_id=10,
                contract_date=dt.date(2024, 2, 1),
                description="Footings & slab <phase 1>",
            ),
            dict(
                id=22,
                project_id=1,
                type="PurchaseOrderContract",
                number="PO-7",
                status="approved",
                vendor_id=10,
                origin_id=PO,
                origin_data='{"edit_sequence": "1700000001"}',
            ),
        ],
    )
    commitment_lines = frame(
        "commitment_lines",
        [
            dict(
                id=200,
                commitment_id=20,
                position=1,
                description="Footings",
                cost_code_id=500,
                amount=D("10000.00"),
            ),
            dict(
                id=201,
                commitment_id=20,
                position=2,
                description="Slab",
                cost_code_id=501,
                amount=D("2500.50"),
            ),
            dict(
                id=203,
                commitment_id=22,
                position=1,
                description="Rebar",
                cost_code_id=501,
                amount=D("700.00"),
                origin_id="1A01-1700000000",
            ),
            dict(
                id=204,
                commitment_id=22,
                position=2,
                description="Mesh",
                cost_code_id=501,
                amount=D("300.00"),
                origin_id="1A02-1700000000",
            ),
        ],
    )
    change_orders = frame(
        "change_orders",
        [dict(id=30, project_id=1, contract_id=22, number="CO-1", title="Extra rebar", status="approved")],
    )
    change_order_lines = frame(
        "change_order_lines",
        [
            dict(
                id=300,
                change_order_id=30,
                commitment_line_item_id=203,
                cost_code_id=501,
                description="More rebar",
                amount=D("100.00"),
            ),
            dict(
                id=301, change_order_id=30, commitment_line_item_id=203, cost_code_id=501, amount=D("25.50")
            ),
            dict(
                id=302, change_order_id=30, commitment_line_item_id=204, cost_code_id=501, amount=D("10.00")
            ),
        ],
    )
    invoices = frame(
        "invoices",
        [
            dict(
                id=40,
                project_id=1,
                commitment_id=22,
                vendor_id=10,
                invoice_number="INV-1",
                status="approved",
                billing_date=dt.date(2024, 3, 1),
                payment_due_date=dt.date(2024, 3, 31),
                contract_name="Rebar PO",
                current_payment_due=D("855.00"),
            ),
        ],
    )
    invoice_lines = frame(
        "invoice_lines",
        [
            dict(
                id=400,
                requisition_id=40,
                line_item_id=203,
                cost_code_id=501,
                cost_code_full_code="05-100",
                work_completed_this_period=D("600.00"),
                materials_presently_stored=D("50.00"),
                work_completed_retainage_retained_this_period=D("60.00"),
                materials_stored_retainage_currently_retained=D("5.00"),
            ),
            dict(
                id=401,
                requisition_id=40,
                line_item_id=204,
                cost_code_id=500,
                cost_code_full_code="03-300",
                work_completed_this_period=D("300.00"),
                work_completed_retainage_retained_this_period=D("30.00"),
            ),
        ],
    )
    owner_invoices = frame(
        "owner_invoices",
        [
            dict(
                id=70,
                project_id=1,
                number=1,
                invoice_number="OI-1",
                billing_date=dt.date(2024, 3, 31),
                status="approved",
                contract_title="Main St Tower prime contract",
                current_payment_due=D("855.00"),
            )
        ],
    )
    owner_invoice_lines = frame(
        "owner_invoice_lines",
        [
            {**line, "id": line["id"] + 300, "payment_application_id": 70}
            for line in invoice_lines.drop(columns=["requisition_id", "line_item_id"]).to_dict("records")
        ],
    )
    budget_line_items = frame(
        "budget_line_items",
        [
            dict(
                id=1,
                project_id=1,
                cost_code_id=500,
                cost_code_full_code="03-300",
                original_budget_amount=D("5000"),
            ),
            dict(
                id=2,
                project_id=1,
                cost_code_id=500,
                cost_code_full_code="03-300",
                original_budget_amount=D("1000"),
            ),
            dict(
                id=3,
                project_id=1,
                cost_code_id=501,
                cost_code_full_code="05-100",
                original_budget_amount=D("200.10"),
            ),
        ],
    )
    budget_changes = frame(
        "budget_changes",
        [
            dict(
                id=1,
                budget_change_id=9,
                project_id=1,
                number=1,
                title="Add scope",
                status="approved",
                cost_code_id=501,
                amount=D("50"),
            ),
            dict(
                id=2,
                budget_change_id=9,
                project_id=1,
                number=1,
                title="Add scope",
                status="approved",
                cost_code_id=501,
                amount=D("-20"),
            ),
            dict(
                id=3,
                budget_change_id=10,
                project_id=1,
                number=2,
                status="draft",
                cost_code_id=501,
                amount=D("999"),
            ),
        ],
    )
    timecards = frame(
        "timecard_entries",
        [
            dict(
                id=60,
                project_id=1,
                date=dt.date(2024, 3, 4),
                hours=D("7.5"),
                billable=True,
                cost_code_id=500,
                party_name="Pat Lee",
                description="Poured\x07 slab",
            ),
        ],
    )
    context = BuildContext(
        retainage_item="Retainage",
        service_item_account="Job Expenses:Subcontractors",
        vendor_type="Subcontractor",
        frames=dict(
            projects=projects,
            companies=companies,
            cost_codes=cost_codes,
            commitments=commitments,
            commitment_lines=commitment_lines,
            customers=frame(
                "customers", [dict(ListID=JOB, Name="Main St Tower", FullName="Acme Dev:Main St Tower")]
            ),
            purchase_orders=frame("purchase_orders", [dict(TxnID=PO, EditSequence="1700000005")]),
            purchase_order_lines=frame(
                "purchase_order_lines",
                [dict(TxnID=PO, TxnLineID="1A01-1700000000"), dict(TxnID=PO, TxnLineID="1A02-1700000000")],
            ),
        ),
    )
    inputs = {
        "project": (projects, None),
        "company": (companies, None),
        "cost_code": (cost_codes[cost_codes["cost_code_level"] == "standard"].iloc[2:], None),
        "budget": (
            projects.iloc[:1],
            {"budget_line_items": budget_line_items, "budget_changes": budget_changes},
        ),
        "commitment": (commitments, commitment_lines),
        "change_order": (change_orders, change_order_lines),
        "invoice": (invoices, invoice_lines),
        "timecard_entry": (timecards, None),
        "owner_invoice": (owner_invoices, owner_invoice_lines),
    }
    return context, inputs


def _xml(result) -> etree._Element:
    (ms,) = message_sets(result.requests, max_requests=1000)
    return etree.fromstring(ms.xml)


@pytest.mark.parametrize(
    "item_type",
    [
        "project",
        "company",
        "cost_code",
        "budget",
        "commitment",
        "change_order",
        "invoice",
        "timecard_entry",
        "owner_invoice",
    ],
)
def test_every_builder_emits_schema_valid_requests(qbxml_schema, item_type):
    context, inputs = scenario()
    rows, lines = inputs[item_type]
    result = build_requests(item_type, rows, lines, context)
    assert result.errors.empty, result.errors.to_dict("records")
    assert result.requests, "the scenario makes at least one request of every type"
    doc = _xml(result)
    assert qbxml_schema.validate(doc), qbxml_schema.error_log
    for req in result.requests:  # every request maps back to its row
        assert parse_request_id(req.request_id)[:2] == (item_type, req.procore_id)
        assert req.element.get("requestID") == req.request_id


def test_message_set_is_ascii_with_declarations_escaped_and_clean():
    context, inputs = scenario()
    result = build_requests("company", *inputs["company"], context)
    (ms,) = message_sets(result.requests, version="12.0")
    text = ms.xml.decode("ascii")  # raises if anything is not ASCII
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="12.0"?>\n<QBXML>')
    assert "Smith &amp; Sons &lt;Concrete&gt;" in text
    assert "Jos&#233; Pl&#250;mbing" in text
    assert '<QBXMLMsgsRq onError="continueOnError">' in text
    assert sorted(ms.request_ids) == ["company:10:a1", "company:11:a1"]
    tc = build_requests("timecard_entry", *inputs["timecard_entry"], context)
    (notes,) = _xml(tc).iter("Notes")
    assert notes.text == "Poured slab"  # control character stripped


def test_children_follow_schema_order_not_column_order():
    context, inputs = scenario()
    rows = inputs["project"][0].iloc[[1]]
    reordered = rows[list(reversed(rows.columns))]  # parent columns first, name last
    (req,) = build_requests("project", reordered, None, context).requests
    add = req.element[0]
    children = [c.tag for c in add]
    assert children == sorted(children, key=lambda t: spec.ORDER["CustomerAdd"].index(t))
    assert children[:2] == ["Name", "ParentRef"]
    assert [c.tag for c in add.find("BillAddress")] == ["Addr1", "City"]


def test_linked_rows_become_mods_with_edit_sequence(qbxml_schema):
    context, inputs = scenario()
    result = build_requests("company", *inputs["company"], context)
    by_id = {r.procore_id: r for r in result.requests}
    assert by_id[10].request_name == "VendorMod" and by_id[10].action == "mod"
    mod = by_id[10].element[0]
    assert [mod[0].tag, mod[0].text, mod[1].tag, mod[1].text] == [
        "ListID",
        VENDOR,
        "EditSequence",
        "1446676743",
    ]
    assert by_id[11].request_name == "VendorAdd"
    assert by_id[11].element.find("VendorAdd/VendorTypeRef/FullName").text == "Plumbing"
    # linked without a known EditSequence: refused, not sent blind
    rows = inputs["company"][0].assign(origin_data=None)
    refused = build_requests("company", rows, None, context)
    assert refused.errors[["procore_id", "field"]].values.tolist() == [[10, "edit_sequence"]]


def test_over_long_values_are_refused_per_row_never_truncated():
    context, inputs = scenario()
    projects = inputs["project"][0].copy()
    projects.loc[1, "name"] = "Depot Renovation and Expansion of the North Yard"  # 48 > 41
    result = build_requests("project", projects, None, context)
    (err,) = result.errors.to_dict("records")
    assert err["procore_id"] == 2 and err["field"] == "name"
    assert "41" in err["message"] and "48" in err["message"]
    assert {r.procore_id for r in result.requests} == {1, 3}
    assert not any("Depot" in (e.text or "") for r in result.requests for e in r.element.iter())

    commitments = inputs["commitment"][0].copy()
    commitments.loc[0, "number"] = "SC-000000001"  # 12 > 11
    commitments.loc[1, "description"] = "x" * 100  # VendorMsg 99
    result = build_requests("commitment", commitments, inputs["commitment"][1], context)
    assert sorted(result.errors[["procore_id", "field"]].values.tolist()) == [
        [20, "number"],
        [22, "description"],
    ]
    assert result.requests == []

    codes = inputs["cost_code"][0].copy()
    codes.loc[codes.index[0], "full_code"] = "09-900-" + "9" * 30
    result = build_requests("cost_code", codes, None, context)
    assert result.errors["message"].str.contains("ItemServiceAdd/Name allows 31").all()


def test_commas_in_job_address_are_refused():
    context, inputs = scenario()
    projects = inputs["project"][0].copy()
    projects.loc[1, "address"] = "9 Rail Rd, Unit 4"
    result = build_requests("project", projects, None, context)
    assert result.errors[["procore_id", "field"]].values.tolist() == [[2, "address"]]
    assert "comma" in result.errors["message"].iloc[0]


def test_new_job_needs_its_parent_customer():
    context, inputs = scenario()
    projects = inputs["project"][0].copy()
    projects["parent_customer_full_name"] = None
    result = build_requests("project", projects, None, context)
    assert result.errors[["procore_id", "field"]].values.tolist() == [[2, "customer"]]
    by_id = {r.procore_id: r.element for r in result.requests}
    assert by_id[3].find("CustomerAdd/ParentRef/ListID").text == "80000099-1400000000"


def test_bill_lines_retainage_and_total():
    context, inputs = scenario()
    result = build_requests("invoice", *inputs["invoice"], context)
    (req,) = result.requests
    bill = req.element.find("BillAdd")
    assert [bill.findtext(t) for t in ("VendorRef/ListID", "TxnDate", "DueDate", "RefNumber")] == [
        VENDOR,
        "2024-03-01",
        "2024-03-31",
        "INV-1",
    ]
    lines = bill.findall("ItemLineAdd")
    amounts = [D(x.findtext("Amount")) for x in lines]
    assert amounts == [D("650.00"), D("300.00"), D("-95.00")]  # per cost code, then retainage (negative)
    assert sum(amounts) == D("855.00")  # = current_payment_due
    assert lines[-1].findtext("ItemRef/FullName") == "Retainage"
    assert all(x.findtext("CustomerRef/ListID") == JOB for x in lines)
    # the cost code whose amount comes from one SOV line links to that PO line
    assert (
        lines[0].findtext("LinkToTxn/TxnID") == PO
        and lines[0].findtext("LinkToTxn/TxnLineID") == "1A01-1700000000"
    )


def test_negative_and_mismatched_invoices_are_refused():
    context, inputs = scenario()
    invoices, lines = inputs["invoice"]
    negative = lines.copy()
    negative["work_completed_this_period"] = pd.Series(
        [D("-600.00"), D("-300.00")], dtype=lines["work_completed_this_period"].dtype
    )
    result = build_requests("invoice", invoices.assign(current_payment_due=None), negative, context)
    (err,) = result.errors.to_dict("records")
    assert err["field"] == "current_payment_due" and "negative" in err["message"]
    assert result.requests == []
    wrong = invoices.copy()
    wrong["current_payment_due"] = pd.Series([D("900.00")], dtype=invoices["current_payment_due"].dtype)
    result = build_requests("invoice", wrong, lines, context)
    assert "855.00" in result.errors["message"].iloc[0] and "900.00" in result.errors["message"].iloc[0]
    with pytest.raises(SettingMissing):
        build_requests("invoice", invoices, lines, BuildContext(frames=context.frames))


def test_change_order_keeps_po_lines_and_sums_edits_of_one_line():
    context, inputs = scenario()
    result = build_requests("change_order", *inputs["change_order"], context)
    (req,) = result.requests
    mod = req.element.find("PurchaseOrderMod")
    assert mod.findtext("TxnID") == PO and mod.findtext("EditSequence") == "1700000005"
    lines = mod.findall("PurchaseOrderLineMod")
    assert [x.findtext("TxnLineID") for x in lines] == ["1A01-1700000000", "1A02-1700000000", "-1", "-1"]
    assert [len(x) for x in lines[:2]] == [1, 1]  # kept lines: TxnLineID alone
    assert [x.findtext("Amount") for x in lines[2:]] == ["125.50", "10.00"]  # two edits of line 203 summed
    # two CCOs of one commitment in one export: the second waits
    cos, col = inputs["change_order"]
    two = pd.concat([cos, cos.assign(id=31)], ignore_index=True)
    result = build_requests(
        "change_order", two, pd.concat([col, col.assign(id=col["id"] + 10, change_order_id=31)]), context
    )
    assert result.errors[["procore_id", "field"]].values.tolist() == [[31, "contract_id"]]


def test_budget_becomes_estimate_lines():
    context, inputs = scenario()
    (req,) = build_requests("budget", *inputs["budget"], context).requests
    est = req.element.find("EstimateAdd")
    assert est.findtext("CustomerRef/ListID") == JOB
    lines = [(x.findtext("ItemRef/ListID"), x.findtext("Amount")) for x in est.findall("EstimateLineAdd")]
    assert lines == [
        ("80000100-1500000000", "6000.00"),
        ("80000101-1500000000", "200.10"),
        ("80000101-1500000000", "30.00"),
    ]  # approved change summed; the draft one left out


def test_purchase_order_number_setting():
    context, inputs = scenario()
    rows, lines = inputs["commitment"]
    context.use_procore_contract_number = False
    result = build_requests("commitment", rows.iloc[:1], lines, context)
    assert result.errors["field"].tolist() == ["quickbooks_number"]
    result = build_requests("commitment", rows.iloc[:1].assign(quickbooks_number="4711"), lines, context)
    assert result.requests[0].element.findtext("PurchaseOrderAdd/RefNumber") == "4711"


def test_unsynced_references_are_refused_with_the_reason():
    context, inputs = scenario()
    rows, lines = inputs["commitment"]
    result = build_requests("commitment", rows.assign(vendor_id=11), lines, context)
    assert set(result.errors["field"]) == {"vendor_id"}
    bad_lines = lines.assign(cost_code_id=102)
    result = build_requests("commitment", rows.iloc[:1], bad_lines, context)
    assert result.errors["message"].str.contains("cost code").all()


def test_message_sets_batch_in_dependency_order(qbxml_schema):
    context, inputs = scenario()
    reqs = []
    for item_type in ("invoice", "commitment", "company", "project"):
        reqs += build_requests(item_type, *inputs[item_type], context).requests
    sets = message_sets(reqs, max_requests=3)
    assert [len(s.request_ids) for s in sets] == [3, 3, 2]
    order = [rid.split(":")[0] for s in sets for rid in s.request_ids]
    assert order == [
        "company",
        "company",
        "project",
        "project",
        "project",
        "commitment",
        "commitment",
        "invoice",
    ]
    for s in sets:
        assert qbxml_schema.validate(etree.fromstring(s.xml)), qbxml_schema.error_log
    with pytest.raises(InputError, match="twice"):
        message_sets(reqs + reqs[:1])
    with pytest.raises(InputError, match="rollbackOnError"):
        message_sets(reqs, on_error="rollbackOnError")


def test_request_ids():
    assert request_id("invoice", 12345, 2) == "invoice:12345:a2"
    assert parse_request_id("invoice:12345:a2") == ("invoice", 12345, 2)
    assert parse_request_id("Q3VzdG9tZXJRdWVyeXwyODk2") == (None, None, None)
    with pytest.raises(InputError):
        request_id("x" * 50, 1)
    context, inputs = scenario()
    rows = inputs["company"][0].assign(attempt=[3, 1])
    assert sorted(r.request_id for r in build_requests("company", rows, None, context).requests) == [
        "company:10:a3",
        "company:11:a1",
    ]


def test_queries_follow_the_schema(qbxml_schema):
    since = dt.datetime(2024, 1, 1, 8, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    names = [
        "CustomerQuery",
        "VendorQuery",
        "ItemQuery",
        "EstimateQuery",
        "PurchaseOrderQuery",
        "BillQuery",
        "BillPaymentCheckQuery",
        "BillPaymentCreditCardQuery",
        "TimeTrackingQuery",
    ]
    reqs = [query_request(n, from_modified=since, request_id=f"q:{n}") for n in names]
    reqs.append(query_request("BillQuery", iterator="Continue", iterator_id="{0b1d-77}", request_id="q:next"))
    (ms,) = message_sets(reqs)
    doc = etree.fromstring(ms.xml)
    assert qbxml_schema.validate(doc), qbxml_schema.error_log
    assert (
        doc.find(".//CustomerQueryRq/FromModifiedDate").text == "2024-01-01T08:30:15-05:00"
    )  # no fraction, no Z
    assert doc.find(".//BillQueryRq/ModifiedDateRangeFilter/FromModifiedDate") is not None
    assert doc.find(".//BillQueryRq/IncludeLineItems").text == "true"
    nxt = doc.find(".//BillQueryRq[@iterator='Continue']")
    assert nxt.get("iteratorID") == "{0b1d-77}" and nxt.findtext("MaxReturned") == "100"
    with pytest.raises(InputError):
        query_request("BillQuery", iterator="Continue")
    assert all(not re.search(r"T[\d:]+(\.\d+|Z)", e.text or "") for e in doc.iter())


def test_spec_order_matches_the_shared_element_order(shared_dir):
    path = shared_dir / "qbxml" / "element_order_130.txt"
    if not path.exists():
        pytest.skip(f"{path} not found")
    for line in path.read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in spec.ORDER:
            listed = [x.strip().rstrip("*?") for x in rest.split(",")]
            ours = [x for x in spec.ORDER[name] if x in listed]
            assert ours == listed, name


def test_timeact_iif():
    context, inputs = scenario()
    rows = pd.concat(
        [
            inputs["timecard_entry"][0],
            frame(
                "timecard_entries",
                [
                    dict(id=61, project_id=2, date=dt.date(2024, 3, 4), hours=D("2"), party_name="Pat Lee"),
                    dict(
                        id=62, project_id=1, date=dt.date(2024, 3, 5), hours=D("24.5"), party_name="Sam Roe"
                    ),
                ],
            ),
        ],
        ignore_index=True,
    )
    result = timeact_iif(rows, context, company_name="Acme Construction")
    lines = result.text.split("\r\n")
    assert lines[0].split("\t")[0] == "!TIMERHDR"
    assert lines[2] == "!TIMEACT\t" + "\t".join(TIMEACT_COLUMNS)
    assert lines[3].split("\t") == [
        "TIMEACT",
        "03/04/24",
        "Acme Dev:Main St Tower",
        "Pat Lee",
        "03-300",
        "",
        "7:30",
        "",
        "Poured slab",
        "1",
    ]
    assert result.rows == 1
    assert sorted(result.errors[["procore_id", "field"]].values.tolist()) == [
        [61, "project_id"],
        [62, "hours"],
    ]


def test_builds_from_generated_fixtures(tmp_path, ws, qbxml_schema):
    generate = pytest.importorskip("qbrecon.fixtures").generate
    generate(
        tmp_path / "fx",
        projects=1,
        seed=3,
        commitments_per_project=2,
        invoices_per_commitment=2,
        lines_per_invoice=3,
    )
    ws.load_procore(tmp_path / "fx" / "procore")
    ws.load_quickbooks(tmp_path / "fx" / "quickbooks")
    context = BuildContext.from_store(
        ws.store,
        settings=read_settings(ws.store, mask=False),
        retainage_item="Retainage",
        service_item_account="Job Expenses:Subcontractors",
    )
    total = 0
    for item_type, table, lines in [
        ("company", "companies", None),
        ("project", "projects", None),
        ("commitment", "commitments", "commitment_lines"),
        ("invoice", "invoices", "invoice_lines"),
    ]:
        rows = ws.frame(table)
        if item_type == "project":
            rows = rows.assign(parent_customer_full_name="Generated Customer")
        result = build_requests(item_type, rows, ws.frame(lines) if lines else None, context)
        total += len(result.requests)
        if result.requests:
            for ms in message_sets(result.requests, max_requests=50):
                assert qbxml_schema.validate(etree.fromstring(ms.xml)), qbxml_schema.error_log
    assert total > 0


@pytest.mark.slow
def test_serialising_is_close_to_plain_lxml():
    """10,000 BillAdd requests: message_sets costs at most twice what lxml's own tostring of the same trees does."""
    context, inputs = scenario()
    invoices, lines = inputs["invoice"]
    n = 10_000
    many = pd.concat([invoices] * n, ignore_index=True)
    many["id"] = pd.Series(pa.array(range(1, n + 1), pa.int64()), dtype=invoices["id"].dtype)
    many_lines = pd.concat([lines] * n, ignore_index=True)
    many_lines["requisition_id"] = pd.Series(
        pa.array([i for i in range(1, n + 1) for _ in range(len(lines))], pa.int64()),
        dtype=lines["requisition_id"].dtype,
    )
    result = build_requests("invoice", many, many_lines, context)
    assert len(result.requests) == n and result.errors.empty
    elements = [r.element for r in result.requests]
    plain = ours = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for e in elements:
            etree.tostring(e, encoding="us-ascii")
        plain = min(plain, time.perf_counter() - t)
        t = time.perf_counter()
        sets = message_sets(result.requests, max_requests=100)
        ours = min(ours, time.perf_counter() - t)
    assert len(sets) == n // 100
    assert ours <= 2 * plain + 0.05, (ours, plain)
