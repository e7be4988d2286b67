"""The vectorised reader (``qbxml.vectorised.read_simple``) gives exactly what the walk (``read_query_response``)
gives -- every batch column, the typed tables, source rows, groups, statuses and the order of the tables -- on
every fixture and sample response and on the parts of a cut file; documents it is not sure of are left to the
walk (it returns None), and ``read_response_bytes`` then gives the walk's result or error."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from qbrecon.errors import InputError
from qbrecon.qbxml import parse as qbxml_parse
from qbrecon.qbxml.parse import read_query_response, read_response_bytes, split_response
from qbrecon.qbxml.vectorised import read_simple
from qbrecon.schemas.values import convert_batch

REPO = Path(__file__).resolve().parents[1]
FIXTURES = sorted((REPO / "fixtures" / "small" / "quickbooks").glob("*.xml"))


def _values(column) -> list:
    return column.to_pylist() if isinstance(column, pa.Array) else list(column)


def assert_same(fast: qbxml_parse.QueryResult, walk: qbxml_parse.QueryResult) -> None:
    """Everything a caller can see of the two results is equal."""
    assert list(fast.batches) == list(walk.batches)
    for table, b in walk.batches.items():
        a = fast.batches[table]
        assert list(a.columns) == list(b.columns), table
        for name in b.columns:
            assert _values(a.columns[name]) == _values(b.columns[name]), f"{table}.{name}"
        assert (a.source_file, a.source_row, a.group) == (b.source_file, b.source_row, b.group), table
        typed_a, errors_a = convert_batch(a)
        typed_b, errors_b = convert_batch(b)
        assert typed_a.equals(typed_b), table
        assert errors_a == errors_b, table
        assert [a.record(i) for i in range(len(a))] == [b.record(i) for i in range(len(b))], table
    assert [vars(s) for s in fast.statuses] == [vars(s) for s in walk.statuses]
    assert fast.groups == walk.groups


def _both(data: bytes, name: str = "r.xml") -> tuple[qbxml_parse.QueryResult | None, qbxml_parse.QueryResult]:
    return read_simple(data, name=name), read_query_response(data, name=name)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_every_fixture_reads_the_same_both_ways(path):
    fast, walk = _both(path.read_bytes(), path.name)
    assert fast is not None, "the fixtures have the simple shape: the vectorised reader must take them"
    assert_same(fast, walk)


def test_every_sample_reads_the_same_both_ways(shared_dir):
    paths = sorted((shared_dir / "qbxml" / "samples").glob("*.xml")) + [
        shared_dir / "qbxml" / "intuit-sample-data-130.xml"
    ]
    taken = 0
    for path in paths:
        fast, walk = _both(path.read_bytes(), path.name)
        assert_same(read_response_bytes(path.read_bytes(), name=path.name), walk)
        if fast is not None:
            assert_same(fast, walk)
            taken += 1
    # the Intuit sample data has comments and CRLF line ends: walked; the public samples are all read fast
    assert taken == len(paths) - 1


def test_the_comparison_sees_one_wrong_column():
    data = (FIXTURES[0].parent / "BillQueryRs_0001.xml").read_bytes()
    fast, walk = _both(data)
    assert fast is not None
    batch = fast.batches["bill_lines"]
    batch.columns["Desc"] = pa.array(list(reversed(_values(batch.columns["Desc"]))), pa.string())
    with pytest.raises(AssertionError, match=r"bill_lines\.Desc"):
        assert_same(fast, walk)


def _bill(n: int, memo: str = "", extra: str = "") -> str:
    lines = "".join(
        f"<ItemLineRet><TxnLineID>{n}-{i}</TxnLineID><ItemRef><FullName>01-{i}00</FullName></ItemRef>"
        f"<Desc>Work {i} &amp; more &lt;b&gt; &quot;x&quot; &apos;y&apos; &amp;amp;</Desc>"
        f"<Quantity>2</Quantity><Cost>5.00</Cost><Amount>10.00</Amount>"
        f"<CustomerRef><ListID>C-{n % 3}</ListID><FullName>Owner:Job {n % 3}</FullName></CustomerRef>"
        f"</ItemLineRet>\n"
        for i in range(3)
    )
    group = (
        "<ItemGroupLineRet><TxnLineID>G-1</TxnLineID><ItemGroupRef><FullName>Kit</FullName></ItemGroupRef>"
        f"<ItemLineRet><TxnLineID>{n}-g1</TxnLineID><Amount>1.00</Amount></ItemLineRet>"
        f"<ItemLineRet><TxnLineID>{n}-g2</TxnLineID><Amount>2.00</Amount><Desc/></ItemLineRet>"
        "</ItemGroupLineRet>"
    )
    expense = (
        f"<ExpenseLineRet><TxnLineID>{n}-e</TxnLineID><AccountRef><FullName>Job Costs</FullName></AccountRef>"
        "<Amount>4.00</Amount><Memo></Memo></ExpenseLineRet>"
    )
    return (
        f"<BillRet><TxnID>T-{n}</TxnID><EditSequence>1</EditSequence><TxnDate>2026-03-01</TxnDate>"
        f"<VendorRef><ListID>V-1</ListID><FullName>Vendor &amp; Sons</FullName></VendorRef>"
        f"<RefNumber>INV-{n}</RefNumber><Memo>{memo}</Memo>\n{expense}{lines}{group}"
        f"<LinkedTxn><TxnID>L-{n}</TxnID><TxnType>BillPaymentCheck</TxnType></LinkedTxn>{extra}"
        f"<OpenAmount>50.00</OpenAmount></BillRet>\n"
    )


def _doc(
    *responses: str, prolog: str = '<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n'
) -> bytes:
    return (
        prolog
        + '<QBXML>\n<QBXMLMsgsRs onError="continueOnError">\n'
        + "".join(responses)
        + "</QBXMLMsgsRs>\n</QBXML>\n"
    ).encode()


def _rs(name: str, body: str, code: int = 0) -> str:
    return (
        f'<{name} requestID="r-{name}" statusCode="{code}" statusSeverity="Info" '
        f'statusMessage="Status: &quot;OK&quot; &amp; more">\n{body}</{name}>\n'
    )


ITEMS = (
    "<ItemServiceRet><ListID>I-1</ListID><Name>Labor</Name><FullName>Trade:Labor</FullName></ItemServiceRet>"
    "<ItemNonInventoryRet><ListID>I-2</ListID><Name>Lumber</Name></ItemNonInventoryRet>"
    "<ItemGroupRet><ListID>I-3</ListID><Name>Kit</Name><IsActive>true</IsActive></ItemGroupRet>"
)
PAYMENTS = (
    "<BillPaymentCheckRet><TxnID>P-1</TxnID><TxnDate>2026-03-05</TxnDate><Amount>5.00</Amount>"
    "<AppliedToTxnRet><TxnID>T-1</TxnID><Amount>5.00</Amount></AppliedToTxnRet></BillPaymentCheckRet>"
    "<BillPaymentCreditCardRet><TxnID>P-2</TxnID><Amount>7.00</Amount></BillPaymentCreditCardRet>"
)
JOURNAL = (
    "<JournalEntryRet><TxnID>J-1</TxnID><TxnDate>2026-03-05</TxnDate>"
    "<JournalDebitLine><TxnLineID>D1</TxnLineID><Amount>3.00</Amount></JournalDebitLine>"
    "<JournalCreditLine><TxnLineID>C1</TxnLineID><Amount>3.00</Amount></JournalCreditLine></JournalEntryRet>"
)


def test_a_mixed_document_reads_the_same_both_ways():
    # several responses (one without Rets, one empty element), entities, <X/> and <X></X>, groups' lines, item
    # kinds (ItemType, FullName from Name), payment kinds, journal lines, unknown elements, statuses
    data = _doc(
        _rs("BillQueryRs", "".join(_bill(n, memo="m > n" if n % 2 else "") for n in range(1, 6))),
        '<VendorQueryRs requestID="v" statusCode="1" statusSeverity="Info" statusMessage="no match"/>\n',
        _rs("ItemQueryRs", ITEMS),
        '<CustomerQueryRs requestID="c" statusCode="500" statusSeverity="Warn" statusMessage="x"></CustomerQueryRs>',
        _rs("BillPaymentCheckQueryRs", PAYMENTS),
        _rs("JournalEntryQueryRs", JOURNAL),
        _rs("BillQueryRs", _bill(9), code=0),
    )
    fast, walk = _both(data)
    assert fast is not None
    assert_same(fast, walk)
    assert walk.counts()["bill_lines"] == 6 * 6
    assert walk.batches["bill_lines"].columns["Desc"][1] == "Work 0 & more <b> \"x\" 'y' &amp;"
    assert walk.batches["bills"].columns["Memo"][0] == "m > n"  # '>' may stand in text unescaped


def test_the_parts_of_a_cut_file_read_the_same_both_ways(tmp_path):
    path = tmp_path / "BillQueryRs.xml"
    path.write_bytes(
        _doc(
            _rs("BillQueryRs", "".join(_bill(n) for n in range(1, 40))),
            '<VendorQueryRs requestID="v" statusCode="1" statusSeverity="Info" statusMessage="no match"/>\n',
            _rs("BillQueryRs", "".join(_bill(n) for n in range(40, 80))),
        )
    )
    parts = list(split_response(path, 8192))
    assert len(parts) > 5
    for part in parts:
        with open(path, "rb") as f:
            f.seek(part.start)
            data = part.opening + f.read(part.end - part.start) + part.closing
        fast, walk = _both(data, path.name)
        assert fast is not None
        assert_same(fast, walk)
        assert_same(qbxml_parse.read_part(path, part), walk)


# Each of these is a document the vectorised reader is not sure of: it must say so (None), and
# read_response_bytes must then give the walk's result.
FALLBACKS = {
    "element twice in a Ret (the walk keeps the last)": _doc(
        _rs("BillQueryRs", _bill(1, extra="<Memo>2nd</Memo>"))
    ),
    "element twice in a line": _doc(
        _rs(
            "BillQueryRs",
            _bill(1).replace("<Quantity>2</Quantity>", "<Quantity>2</Quantity><Quantity>3</Quantity>"),
        )
    ),
    "a value of blanks only": _doc(_rs("BillQueryRs", _bill(1, memo="   "))),
    "a character reference": _doc(_rs("BillQueryRs", _bill(1, memo="caf&#233;"))),
    "CRLF line ends": _doc(_rs("BillQueryRs", _bill(1))).replace(b"\n", b"\r\n"),
    "a comment": _doc(_rs("BillQueryRs", _bill(1, memo="a<!-- c -->b"))),
    "CDATA": _doc(_rs("BillQueryRs", _bill(1, memo="<![CDATA[<x>]]>"))),
    "a default namespace": _doc(_rs("BillQueryRs", _bill(1))).replace(b"<QBXML>", b'<QBXML xmlns="urn:x">'),
    "a prefixed element": _doc(_rs("BillQueryRs", _bill(1, extra='<q:X xmlns:q="urn:q">1</q:X>'))),
    "the key after the lines": _doc(
        _rs(
            "BillQueryRs",
            _bill(1)
            .replace("<TxnID>T-1</TxnID>", "")
            .replace("<OpenAmount>", "<TxnID>T-1</TxnID><OpenAmount>"),
        )
    ),
    "a Ret outside a response": _doc("<Wrapper>" + _bill(1) + "</Wrapper>"),
    "a Ret inside a Ret": _doc(_rs("BillQueryRs", _bill(1, extra=_bill(2)))),
    "'>' in an attribute value": _doc(_rs("BillQueryRs", _bill(1))).replace(b"Status: ", b"a > b "),
    "Latin-1": _doc(_rs("BillQueryRs", _bill(1)), prolog='<?xml version="1.0" encoding="ISO-8859-1"?>'),
    "no QBXML root": b"<QBXMLMsgsRs>" + _rs("BillQueryRs", _bill(1)).encode() + b"</QBXMLMsgsRs>",
}


def test_a_document_larger_than_the_limit_is_walked(monkeypatch):
    data = _doc(_rs("BillQueryRs", _bill(1)))
    assert read_simple(data) is not None
    monkeypatch.setattr("qbrecon.qbxml.vectorised.MAX_BYTES", len(data) - 1)
    assert read_simple(data) is None
    assert_same(read_response_bytes(data, name="r.xml"), read_query_response(data, name="r.xml"))


@pytest.mark.parametrize("case", list(FALLBACKS))
def test_documents_it_is_not_sure_of_are_walked(case):
    data = FALLBACKS[case]
    assert read_simple(data, name="r.xml") is None
    try:
        walk = read_query_response(data, name="r.xml")
    except InputError as exc:  # a namespace or another root: the walk refuses it, and so does the reading
        with pytest.raises(InputError, match=re.escape(str(exc))):
            read_response_bytes(data, name="r.xml")
        return
    assert_same(read_response_bytes(data, name="r.xml"), walk)


@pytest.mark.parametrize(
    "data",
    [
        _doc(_rs("BillQueryRs", _bill(1)))[:-20],  # cut short
        _doc(_rs("BillQueryRs", _bill(1).replace("</Memo>", "</Mem>"))),
        b'<?xml version="1.0"?><!DOCTYPE QBXML [<!ENTITY a "b">]>'
        + _doc(_rs("BillQueryRs", _bill(1)), prolog=""),
        _doc(_rs("BillQueryRs", _bill(1, memo="&nbsp;"))),
    ],
    ids=["cut short", "wrong end tag", "doctype", "undefined entity"],
)
def test_a_bad_document_raises_the_walks_error(data):
    with pytest.raises(InputError) as walked:
        read_query_response(data, name="r.xml")
    assert read_simple(data, name="r.xml") is None
    with pytest.raises(InputError) as read:
        read_response_bytes(data, name="r.xml")
    assert str(read.value) == str(walked.value)
