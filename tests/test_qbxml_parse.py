"""qbXML query responses -> rows: the real public samples, lines, computed columns, statuses, the safe parser."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from qbrecon.errors import InputError
from qbrecon.qbxml.parse import (
    MAX_DEPTH,
    parse_bytes,
    read_query_response,
    ret_to_row,
    ret_to_rows,
    safe_iterparse,
)
from qbrecon.schemas import TABLES


@pytest.fixture(scope="module")
def samples(shared_dir):
    return shared_dir / "qbxml" / "samples"


def _one(samples, prefix):
    (path,) = samples.glob(f"{prefix}_*.xml")
    return read_query_response(path)


def test_intuit_bill_query_has_three_bills_and_no_lines(samples):
    r = _one(samples, "01")
    assert r.counts() == {"bills": 3}
    bills = r.frame("bills")
    assert list(bills["TxnID"]) == ["7-1646382259", "16-1646632498", "19-1646632525"]
    assert bills["AmountDue"].iloc[0] == Decimal("2000.00")
    assert bills["VendorRef_FullName"].iloc[0] == "v1"
    # 2022-03-04T00:24:19-08:00 is 08:24:19 UTC
    assert bills["TimeCreated"].iloc[0] == datetime(2022, 3, 4, 8, 24, 19, tzinfo=UTC)
    assert not bills["IsPaid"].iloc[0]
    assert r.errors("bills") == []
    assert [(s.response, s.statusCode, s.rets) for s in r.statuses] == [("BillQueryRs", 0, 3)]


def test_customer_query_one_customer(samples):
    r = _one(samples, "03")
    assert r.counts() == {"customers": 1}
    c = r.frame("customers").iloc[0]
    assert c["ListID"] == "10006-1211236622" and c["Name"] == "Keith Palmer" and c["Sublevel"] == 0
    assert c["BillAddress_City"] == "Storrs" and c["Balance"] == Decimal("250.00")
    assert r.statuses[0].requestID == "Q3VzdG9tZXJRdWVyeXwyODk2"


def test_purchase_order_with_its_line_and_iterator(samples):
    r = _one(samples, "05")
    assert r.counts() == {"purchase_orders": 1, "purchase_order_lines": 1}
    line = r.frame("purchase_order_lines").iloc[0]
    assert line["TxnID"] == "30-1285640333"  # filled from the parent Ret
    assert line["TxnLineID"] == "32-1285640333" and line["LineNumber"] == 1
    assert (
        line["Quantity"] == Decimal("5")
        and line["Rate"] == Decimal("25")
        and line["Amount"] == Decimal("125.00")
    )
    s = r.statuses[0]
    assert s.iteratorRemainingCount == 0 and s.iteratorID == "{ee76b904-7ef8-4b83-9841-63d4715a273b}"


def test_add_response_echo_is_a_customer_row(samples):
    r = _one(samples, "07")
    assert r.counts() == {"customers": 1}
    assert r.frame("customers")["ListID"].iloc[0] == "F540000-1197683154"
    assert r.statuses[0].response == "CustomerAddRs"


@pytest.mark.parametrize(
    ("prefix", "code", "ok"), [("08", 500, True), ("09", 3120, False), ("13", 3180, False)]
)
def test_status_only_responses(samples, prefix, code, ok):
    r = _one(samples, prefix)
    assert r.counts() == {}
    (s,) = r.statuses
    assert s.statusCode == code and s.ok is ok and s.rets == 0 and s.statusMessage


BILL = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<?qbxml version="13.0"?>
<QBXML><QBXMLMsgsRs>
<BillQueryRs requestID="7" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
<BillRet><TxnID>T1</TxnID><TimeCreated>2003-12-15T16:13:01-0500</TimeCreated>
<TimeModified>2003-12-15T16:13:01+01:00</TimeModified><VendorRef><ListID>V1</ListID><FullName>Acme</FullName></VendorRef>
<SomethingNew><Deep>ignored</Deep></SomethingNew><Memo>Caf\xe9</Memo>
<ExpenseLineRet><TxnLineID>E1</TxnLineID><AccountRef><FullName>Job Costs</FullName></AccountRef><Amount>10.00</Amount></ExpenseLineRet>
<ItemGroupLineRet><TxnLineID>G</TxnLineID><ItemLineRet><TxnLineID>I1</TxnLineID><Amount>1.50</Amount></ItemLineRet></ItemGroupLineRet>
<ItemLineRet><TxnLineID>I2</TxnLineID><ItemRef><FullName>01-100</FullName></ItemRef><Amount>2</Amount><Cost>0.12345</Cost></ItemLineRet>
</BillRet></BillQueryRs>
<CustomerQueryRs requestID="8" statusCode="1" statusSeverity="Info" statusMessage="No match"/>
<TimeTrackingQueryRs statusCode="0"><TimeTrackingRet><TxnID>TT</TxnID><Duration>PT8H30M</Duration></TimeTrackingRet></TimeTrackingQueryRs>
<ItemQueryRs statusCode="0"><ItemServiceRet><ListID>L1</ListID><Name>100</Name><FullName>01:100</FullName></ItemServiceRet>
<ItemNonInventoryRet><ListID>L2</ListID><Name>Lumber</Name><FullName>Lumber</FullName></ItemNonInventoryRet></ItemQueryRs>
<BillPaymentCheckQueryRs statusCode="0"><BillPaymentCheckRet><TxnID>P1</TxnID><Amount>5.00</Amount>
<AppliedToTxnRet><TxnID>T1</TxnID><Amount>5.00</Amount></AppliedToTxnRet></BillPaymentCheckRet></BillPaymentCheckQueryRs>
<BillPaymentCreditCardQueryRs statusCode="0"><BillPaymentCreditCardRet><TxnID>P2</TxnID></BillPaymentCreditCardRet></BillPaymentCreditCardQueryRs>
<AccountQueryRs statusCode="0"><AccountRet><ListID>A</ListID></AccountRet></AccountQueryRs>
</QBXMLMsgsRs></QBXML>"""


def test_lines_kinds_numbers_and_computed_columns():
    r = read_query_response(BILL)
    lines = r.frame("bill_lines")
    assert list(lines["TxnLineID"]) == ["E1", "I1", "I2"]
    assert list(lines["LineKind"]) == ["expense", "item", "item"]
    assert list(lines["LineNumber"]) == [1, 2, 3]
    assert set(lines["TxnID"]) == {"T1"}
    assert lines["Cost"].iloc[2] == Decimal("0.12345")
    bill = r.frame("bills").iloc[0]
    assert bill["TimeCreated"] == datetime(2003, 12, 15, 21, 13, 1, tzinfo=UTC)  # -0500 without a colon
    assert bill["TimeModified"] == datetime(2003, 12, 15, 15, 13, 1, tzinfo=UTC)
    assert bill["Memo"] == "Café"  # ISO-8859-1 declared
    assert r.frame("time_tracking")["DurationHours"].iloc[0] == Decimal("8.5")
    assert list(r.frame("items")["ItemType"]) == ["Service", "NonInventory"]
    assert list(r.frame("bill_payments")["PaymentKind"]) == ["check", "credit_card"]
    app = r.frame("bill_payment_lines").iloc[0]
    assert app["TxnID"] == "P1" and app["AppliedTxnID"] == "T1"
    statuses = {s.response: s for s in r.statuses}
    assert statuses["CustomerQueryRs"].statusCode == 1 and statuses["CustomerQueryRs"].ok
    assert statuses["AccountQueryRs"].rets == 0  # a response no table reads: reported, rows ignored
    assert "accounts" not in r.counts()


def test_unreadable_values_are_reported_per_cell():
    xml = BILL.replace(b"<Amount>10.00</Amount>", b"<Amount>ten</Amount>").replace(
        b"2003-12-15T16:13:01-0500", b"yesterday"
    )
    r = read_query_response(xml)
    errs = {(e.field, e.check) for e in r.errors("bill_lines")}
    assert ("Amount", "amount") in errs
    assert {(e.field, e.row) for e in r.errors("bills")} == {("TimeCreated", 0)}


def test_ret_to_row_and_rows():
    root = parse_bytes(BILL)
    bill = root.find(".//BillRet")
    row = ret_to_row(bill, TABLES["bills"])
    assert row["TxnID"] == "T1" and row["VendorRef_FullName"] == "Acme"
    rows = ret_to_rows(bill)
    assert len(rows["bill_lines"]) == 3
    with pytest.raises(InputError):
        ret_to_row(bill, TABLES["customers"])
    bad = parse_bytes(b"<CustomerRet><ListID>X</ListID><Name>N</Name><Balance>lots</Balance></CustomerRet>")
    with pytest.raises(InputError, match="Balance"):
        ret_to_row(bad)


def test_safe_iterparse_streams_and_clears():
    seen = []
    for el in safe_iterparse(BILL, ["TxnLineID"]):
        seen.append(el.text)
    assert seen == ["E1", "G", "I1", "I2"]


def test_parse_bytes_depth_bound_and_text_input():
    ok = "<a>" * (MAX_DEPTH - 1) + "</a>" * (MAX_DEPTH - 1)
    parse_bytes(ok)
    deep = "<a>" * (MAX_DEPTH + 1) + "</a>" * (MAX_DEPTH + 1)
    with pytest.raises(InputError, match="deeper"):
        parse_bytes(deep)
    root = parse_bytes('<?xml version="1.0" encoding="ISO-8859-1"?><x>é</x>')
    assert root.text == "é"


def test_malformed_xml_names_file_and_line(tmp_path):
    p = tmp_path / "BillQueryRs.xml"
    p.write_bytes(BILL[:300])
    with pytest.raises(InputError) as exc:
        read_query_response(p)
    assert "BillQueryRs.xml" in str(exc.value) and "line" in str(exc.value)
    with pytest.raises(InputError, match="not a qbXML response"):
        read_query_response(b"<hello/>")
