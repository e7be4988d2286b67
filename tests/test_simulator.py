"""The QuickBooks Desktop simulator answers like QuickBooks: ids, EditSequence, 3100/3140/3120/3200/3180/3070/
3210, statusCode 1 and 500 on queries, iterators, stopOnError, whole-message parse failures (0x80040400), and
responses that validate against the official XSD."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from lxml import etree

from qbrecon.qbwc.simulator import RET_ORDER, QuickBooksCompany, RequestProcessorError

HEAD = '<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n'


def msg(*rqs: str, on_error: str = "continueOnError") -> bytes:
    return (
        HEAD + f'<QBXML><QBXMLMsgsRq onError="{on_error}">' + "".join(rqs) + "</QBXMLMsgsRq></QBXML>"
    ).encode()


def vendor(name: str, rid: str = "v") -> str:
    return f'<VendorAddRq requestID="{rid}"><VendorAdd><Name>{name}</Name></VendorAdd></VendorAddRq>'


def rs_list(response: bytes) -> list[etree._Element]:
    return list(etree.fromstring(response).find("QBXMLMsgsRs"))


@pytest.fixture()
def qb():
    company = QuickBooksCompany(clock=1_700_000_000)
    company.process(
        msg(
            vendor("Acme Concrete", "1"),
            '<CustomerAddRq requestID="2"><CustomerAdd><Name>Owner</Name></CustomerAdd></CustomerAddRq>',
            '<CustomerAddRq requestID="3"><CustomerAdd><Name>Main St</Name><ParentRef><FullName>Owner</FullName>'
            "</ParentRef></CustomerAdd></CustomerAddRq>",
            '<ItemServiceAddRq requestID="4"><ItemServiceAdd><Name>03-300</Name><SalesOrPurchase><Desc>Concrete</Desc>'
            "<AccountRef><FullName>Job Expenses</FullName></AccountRef></SalesOrPurchase></ItemServiceAdd>"
            "</ItemServiceAddRq>",
        )
    )
    yield company
    company.close()


def test_adds_echo_full_ret_with_ids_valid_against_the_xsd(qb, qbxml_schema):
    r = qb.process(
        msg(
            '<PurchaseOrderAddRq requestID="po"><PurchaseOrderAdd><VendorRef><FullName>Acme Concrete</FullName>'
            "</VendorRef><RefNumber>SC-1</RefNumber><PurchaseOrderLineAdd><ItemRef><FullName>03-300</FullName></ItemRef>"
            "<Desc>Footings</Desc><Quantity>2</Quantity><Rate>150.50</Rate><CustomerRef><FullName>Owner:Main St"
            "</FullName></CustomerRef></PurchaseOrderLineAdd></PurchaseOrderAdd></PurchaseOrderAddRq>",
            '<BillAddRq requestID="bill"><BillAdd><VendorRef><FullName>Acme Concrete</FullName></VendorRef>'
            "<RefNumber>INV-1</RefNumber><ExpenseLineAdd><AccountRef><FullName>Job Expenses</FullName></AccountRef>"
            "<Amount>5.00</Amount></ExpenseLineAdd><ItemLineAdd><ItemRef><FullName>03-300</FullName></ItemRef>"
            "<Amount>100.00</Amount></ItemLineAdd></BillAdd></BillAddRq>",
        )
    )
    assert qbxml_schema.validate(etree.fromstring(r)), qbxml_schema.error_log
    po, bill = rs_list(r)
    assert po.get("statusCode") == "0" and po.get("requestID") == "po"
    ret = po.find("PurchaseOrderRet")
    assert re.fullmatch(r"8[0-9A-F]{7}-1700000000", ret.findtext("TxnID"))
    assert ret.findtext("VendorRef/ListID") == qb.records("vendor")["id"].iloc[0]
    assert ret.findtext("TotalAmount") == "301.00"
    assert ret.findtext("PurchaseOrderLineRet/CustomerRef/FullName") == "Owner:Main St"
    assert bill.find("BillRet/AmountDue").text == "105.00"
    assert [c.tag for c in ret] == sorted((c.tag for c in ret), key=RET_ORDER["PurchaseOrderRet"].index)
    jobs = qb.records("customer")
    assert list(jobs["full_name"]) == ["Owner", "Owner:Main St"]


def test_ret_orders_match_the_official_schema(qbxml_schema, shared_dir):
    """Every Ret the simulator writes, with all its known children, validates (schema order)."""
    from lxml import etree as et

    xsd = shared_dir / "qbxml" / "xsd" / "13.0" / "qbxml130.xsd"
    root = et.parse(str(xsd)).getroot()
    ns = "{http://www.w3.org/2001/XMLSchema}"
    names = {e.get("name") for e in root.iter(ns + "element") if e.get("name")}
    for ret, children in RET_ORDER.items():
        assert ret in names or ret in ("SalesOrPurchase", "SalesAndPurchase"), ret
        assert len(children) == len(set(children)), ret


def test_3100_duplicate_names(qb):
    r = rs_list(
        qb.process(
            msg(
                vendor("ACME concrete", "a"),  # vendor names are case-insensitive
                vendor("Owner", "b"),  # vendors and top-level customers share one name space
                '<CustomerAddRq requestID="c"><CustomerAdd><Name>Acme Concrete</Name></CustomerAdd></CustomerAddRq>',
                '<CustomerAddRq requestID="d"><CustomerAdd><Name>Main St</Name><ParentRef><FullName>Owner</FullName>'
                "</ParentRef></CustomerAdd></CustomerAddRq>",  # jobs are unique within their customer
                '<CustomerAddRq requestID="e"><CustomerAdd><Name>Main St</Name></CustomerAdd></CustomerAddRq>',  # fine
                '<ItemServiceAddRq requestID="f"><ItemServiceAdd><Name>03-300</Name><SalesOrPurchase><Desc>x</Desc>'
                "</SalesOrPurchase></ItemServiceAdd></ItemServiceAddRq>",
            )
        )
    )
    assert [x.get("statusCode") for x in r] == ["3100", "3100", "3100", "3100", "0", "3100"]
    assert "already in use" in r[0].get("statusMessage")
    assert qb.counts()["vendor"] == 1


def test_3140_invalid_references(qb):
    r = rs_list(
        qb.process(
            msg(
                '<BillAddRq requestID="a"><BillAdd><VendorRef><FullName>Nobody</FullName></VendorRef><ItemLineAdd>'
                "<ItemRef><FullName>03-300</FullName></ItemRef><Amount>1.00</Amount></ItemLineAdd></BillAdd></BillAddRq>",
                '<BillAddRq requestID="b"><BillAdd><VendorRef><FullName>Acme Concrete</FullName></VendorRef><ItemLineAdd>'
                "<ItemRef><ListID>80000999-1</ListID></ItemRef><Amount>1.00</Amount></ItemLineAdd></BillAdd></BillAddRq>",
                '<CustomerAddRq requestID="c"><CustomerAdd><Name>Job</Name><ParentRef><FullName>Nobody</FullName>'
                "</ParentRef></CustomerAdd></CustomerAddRq>",
            )
        )
    )
    assert [x.get("statusCode") for x in r] == ["3140"] * 3
    assert 'Vendor "Nobody"' in r[0].get("statusMessage") and "Item" in r[1].get("statusMessage")
    assert qb.counts()["bill"] == 0


def test_mod_edit_sequence_3200_and_3120(qb):
    v = qb.records("vendor").iloc[0]
    stale = v["edit_sequence"]
    ok = rs_list(
        qb.process(
            msg(
                f'<VendorModRq requestID="m"><VendorMod><ListID>{v["id"]}</ListID><EditSequence>'
                f"{stale}</EditSequence><Phone>555-0100</Phone></VendorMod></VendorModRq>"
            )
        )
    )[0]
    assert ok.get("statusCode") == "0"
    fresh = ok.findtext("VendorRet/EditSequence")
    assert fresh != stale and ok.findtext("VendorRet/Phone") == "555-0100"
    again = rs_list(
        qb.process(
            msg(
                f'<VendorModRq requestID="m2"><VendorMod><ListID>{v["id"]}</ListID>'
                f"<EditSequence>{stale}</EditSequence><Phone>1</Phone></VendorMod></VendorModRq>"
            )
        )
    )
    assert again[0].get("statusCode") == "3200" and "out-of-date" in again[0].get("statusMessage")
    missing = rs_list(
        qb.process(
            msg(
                '<VendorModRq requestID="m3"><VendorMod><ListID>80000999-1</ListID>'
                "<EditSequence>1</EditSequence></VendorMod></VendorModRq>"
            )
        )
    )
    assert missing[0].get("statusCode") == "3120"


def test_purchase_order_mod_keeps_listed_lines_and_adds_new(qb):
    add = rs_list(
        qb.process(
            msg(
                '<PurchaseOrderAddRq requestID="po"><PurchaseOrderAdd><VendorRef><FullName>Acme Concrete</FullName>'
                "</VendorRef><RefNumber>SC-1</RefNumber><PurchaseOrderLineAdd><ItemRef><FullName>03-300</FullName>"
                "</ItemRef><Amount>100.00</Amount></PurchaseOrderLineAdd></PurchaseOrderAdd></PurchaseOrderAddRq>"
            )
        )
    )[0]
    ret = add.find("PurchaseOrderRet")
    txn, es, line = (
        ret.findtext("TxnID"),
        ret.findtext("EditSequence"),
        ret.findtext("PurchaseOrderLineRet/TxnLineID"),
    )
    mod = rs_list(
        qb.process(
            msg(
                f'<PurchaseOrderModRq requestID="cco"><PurchaseOrderMod><TxnID>{txn}</TxnID><EditSequence>{es}'
                f"</EditSequence><PurchaseOrderLineMod><TxnLineID>{line}</TxnLineID></PurchaseOrderLineMod>"
                "<PurchaseOrderLineMod><TxnLineID>-1</TxnLineID><ItemRef><FullName>03-300</FullName></ItemRef>"
                "<Desc>CCO #1 extra</Desc><Amount>25.00</Amount></PurchaseOrderLineMod></PurchaseOrderMod>"
                "</PurchaseOrderModRq>"
            )
        )
    )[0]
    assert mod.get("statusCode") == "0"
    lines = mod.findall("PurchaseOrderRet/PurchaseOrderLineRet")
    assert [ln.findtext("TxnLineID") == line for ln in lines] == [True, False]
    assert mod.findtext("PurchaseOrderRet/TotalAmount") == "125.00"


def test_3180_injected_at_a_seeded_rate():
    a = QuickBooksCompany(seed=3, fault_rate_3180=0.5)
    b = QuickBooksCompany(seed=3, fault_rate_3180=0.5)
    body = msg(*(vendor(f"V{i}", str(i)) for i in range(40)))
    codes_a = [x.get("statusCode") for x in rs_list(a.process(body))]
    codes_b = [x.get("statusCode") for x in rs_list(b.process(body))]
    assert codes_a == codes_b and 5 < codes_a.count("3180") < 35
    assert a.counts()["vendor"] == codes_a.count("0")


def test_queries_status_1_and_500_and_filters(qb):
    r = rs_list(
        qb.process(
            msg(
                '<BillQueryRq requestID="a"><RefNumber>none</RefNumber></BillQueryRq>',
                '<CustomerQueryRq requestID="b"><FullName>Owner</FullName><FullName>Ghost</FullName></CustomerQueryRq>',
                '<VendorQueryRq requestID="c"><ListID>80000999-1</ListID></VendorQueryRq>',
                '<CustomerQueryRq requestID="d"><NameFilter><MatchCriterion>EndsWith</MatchCriterion><Name>:Main St</Name>'
                "</NameFilter></CustomerQueryRq>",
                '<ItemQueryRq requestID="e"><FullName>03-300</FullName><IncludeRetElement>ListID</IncludeRetElement>'
                "</ItemQueryRq>",
            )
        )
    )
    assert (r[0].get("statusCode"), r[0].get("statusSeverity")) == ("1", "Info")
    assert (r[1].get("statusCode"), r[1].get("statusSeverity")) == ("500", "Warn") and len(r[1]) == 1
    assert r[2].get("statusCode") == "500" and len(r[2]) == 0
    assert [x.findtext("FullName") for x in r[3]] == ["Owner:Main St"]
    assert [c.tag for c in r[4][0]] == ["ListID"]


def test_iterators_page_and_expire(qb, qbxml_schema):
    qb.process(msg(*(vendor(f"Vendor {i:02d}", str(i)) for i in range(7))))
    first = rs_list(
        qb.process(
            msg('<VendorQueryRq requestID="p" iterator="Start"><MaxReturned>3</MaxReturned></VendorQueryRq>')
        )
    )[0]
    it = first.get("iteratorID")
    seen = [x.findtext("Name") for x in first]
    assert first.get("iteratorRemainingCount") == "5" and len(seen) == 3
    while True:
        page = qb.process(
            msg(
                f'<VendorQueryRq requestID="p" iterator="Continue" iteratorID="{it}">'
                "<MaxReturned>3</MaxReturned></VendorQueryRq>"
            )
        )
        assert qbxml_schema.validate(etree.fromstring(page))
        rs = rs_list(page)[0]
        seen += [x.findtext("Name") for x in rs]
        if rs.get("iteratorRemainingCount") == "0":
            break
    assert len(seen) == 8 == len(set(seen))
    gone = rs_list(
        qb.process(
            msg(
                f'<VendorQueryRq requestID="p" iterator="Continue" iteratorID="{it}">'
                "<MaxReturned>3</MaxReturned></VendorQueryRq>"
            )
        )
    )[0]
    assert gone.get("statusCode") == "3391"


def test_whole_message_failures(qb):
    with pytest.raises(RequestProcessorError) as bad_order:
        qb.process(
            msg(
                "<VendorAddRq><VendorAdd><CompanyName>x</CompanyName><Name>y</Name></VendorAdd></VendorAddRq>"
            )
        )
    assert bad_order.value.hresult == "0x80040400" and "not expected" in bad_order.value.detail
    with pytest.raises(RequestProcessorError, match="processing instruction"):
        qb.process(b'<?xml version="1.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"/></QBXML>')
    with pytest.raises(RequestProcessorError):
        qb.process(b"<QBXML><unclosed>")
    with pytest.raises(RequestProcessorError, match="version"):
        qb.process(msg(vendor("X")).replace(b'version="13.0"?>\n<QBXML', b'version="16.0"?>\n<QBXML'))
    assert qb.counts()["vendor"] == 1  # nothing of a refused message set was processed


def test_too_long_is_3070_and_negative_bill_3210_and_stop_on_error(qb):
    r = rs_list(
        qb.process(
            msg(
                vendor("x" * 45, "long"),
                '<BillAddRq requestID="neg"><BillAdd><VendorRef><FullName>Acme Concrete</FullName></VendorRef><ItemLineAdd>'
                "<ItemRef><FullName>03-300</FullName></ItemRef><Amount>-5.00</Amount></ItemLineAdd></BillAdd></BillAddRq>",
                vendor("After", "after"),
                on_error="stopOnError",
            )
        )
    )
    assert [x.get("statusCode") for x in r] == ["3070"]  # stopOnError: nothing after the first error
    r = rs_list(
        qb.process(
            msg(
                *[
                    '<BillAddRq requestID="neg"><BillAdd><VendorRef><FullName>Acme Concrete</FullName></VendorRef><ItemLineAdd>'
                    "<ItemRef><FullName>03-300</FullName></ItemRef><Amount>-5.00</Amount></ItemLineAdd></BillAdd></BillAddRq>",
                    vendor("After", "after"),
                ]
            )
        )
    )
    assert [x.get("statusCode") for x in r] == ["3210", "0"]


def test_company_file_persists_and_seeds_from_fixture_responses(tmp_path, shared_dir):
    path = tmp_path / "qb.duckdb"
    with QuickBooksCompany(path) as qb:
        added = qb.seed_from(shared_dir / "qbxml" / "samples" / "05_qbwc-qbxml_purchase_order_query_rs.xml")
        assert added == {"purchase_order": 1}
        qb.process(msg(vendor("Persisted")))
    with QuickBooksCompany(path) as qb:
        assert qb.counts()["vendor"] == 1 and qb.counts()["purchase_order"] == 1
        new = rs_list(qb.process(msg(vendor("Another"))))[0].findtext("VendorRet/ListID")
        assert new not in set(qb.records("vendor")["id"][:1])


# A credit-card bill payment as QuickBooks returns it, children deliberately out of schema order (Memo before
# RefNumber, Amount before TxnID in the application): the company must answer in schema order.
_CARD_PAYMENTS = """<?xml version="1.0" ?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRs>
<BillPaymentCreditCardQueryRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
<BillPaymentCreditCardRet><TxnID>1A2-1730000000</TxnID><TimeCreated>2024-11-01T09:00:00-08:00</TimeCreated>
<TimeModified>2024-11-01T09:00:00-08:00</TimeModified><EditSequence>1730480400</EditSequence>
<TxnNumber>41</TxnNumber><PayeeEntityRef><ListID>80000001-1700000000</ListID><FullName>Acme Concrete</FullName>
</PayeeEntityRef><TxnDate>2024-11-01</TxnDate><CreditCardAccountRef><FullName>Company Visa</FullName>
</CreditCardAccountRef><Amount>1500.00</Amount><Memo>SC-001 invoice INV-1</Memo><RefNumber>CC7</RefNumber>
<AppliedToTxnRet><Amount>1500.00</Amount><TxnID>1A0-1729000000</TxnID><TxnType>Bill</TxnType>
<RefNumber>INV-1</RefNumber><BalanceRemaining>0.00</BalanceRemaining></AppliedToTxnRet>
</BillPaymentCreditCardRet></BillPaymentCreditCardQueryRs></QBXMLMsgsRs></QBXML>"""


def _xsd_sequence(shared_dir, element: str) -> list[str]:
    root = etree.parse(str(shared_dir / "qbxml" / "xsd" / "13.0" / "qbxml130.xsd")).getroot()
    ns = "{http://www.w3.org/2001/XMLSchema}"
    (decl,) = [e for e in root.iter(ns + "element") if e.get("name") == element]
    return [e.get("ref") or e.get("name") for e in decl.find(ns + "complexType").iter(ns + "element")]


def test_credit_card_bill_payments_are_seeded_and_queried_in_schema_order(
    tmp_path, qb, qbxml_schema, shared_dir
):
    for ret in ("BillPaymentCreditCardRet", "BillPaymentCheckRet", "AppliedToTxnRet"):
        assert RET_ORDER[ret] == _xsd_sequence(shared_dir, ret), ret
    source = tmp_path / "BillPaymentCreditCardQueryRs.xml"
    source.write_text(_CARD_PAYMENTS)
    assert qb.seed_from(source) == {"bill_payment_credit_card": 1}
    assert qb.counts()["bill_payment_credit_card"] == 1

    def query(include_lines: bool) -> etree._Element:
        lines = "<IncludeLineItems>true</IncludeLineItems>" if include_lines else ""
        r = qb.process(
            msg(f'<BillPaymentCreditCardQueryRq requestID="q">{lines}</BillPaymentCreditCardQueryRq>')
        )
        assert qbxml_schema.validate(etree.fromstring(r)), qbxml_schema.error_log
        (rs,) = rs_list(r)
        assert rs.get("statusCode") == "0"
        return rs.find("BillPaymentCreditCardRet")

    full = query(include_lines=True)
    expected = [t for t in RET_ORDER["BillPaymentCreditCardRet"] if full.find(t) is not None]
    assert [c.tag for c in full] == expected
    applied = full.find("AppliedToTxnRet")
    assert [c.tag for c in applied] == ["TxnID", "TxnType", "RefNumber", "BalanceRemaining", "Amount"]
    assert (applied.findtext("TxnID"), full.findtext("CreditCardAccountRef/FullName")) == (
        "1A0-1729000000",
        "Company Visa",
    )
    assert query(include_lines=False).find("AppliedToTxnRet") is None  # the applications are its line items
    by_payee = rs_list(
        qb.process(
            msg(
                '<BillPaymentCreditCardQueryRq requestID="e"><EntityFilter><FullName>Acme Concrete</FullName></EntityFilter>'
                "</BillPaymentCreditCardQueryRq>"
            )
        )
    )[0]
    assert by_payee.findtext("BillPaymentCreditCardRet/RefNumber") == "CC7"
    assert qb.records("bill_payment_credit_card")["amount"].tolist() == [Decimal("1500.00")]
