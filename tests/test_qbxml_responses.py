"""qbXML responses -> per-request outcomes (real public samples, classification, matching) and the archive."""

from __future__ import annotations

import pytest

from qbrecon.errors import InputError
from qbrecon.qbxml.archive import archive_request, archive_response, mark_sent, message_xml, messages
from qbrecon.qbxml.build import message_sets, query_request
from qbrecon.qbxml.responses import classify, classify_hresult, read_response


def _sample(shared_dir, name: str) -> bytes:
    path = shared_dir / "qbxml" / "samples" / name
    if not path.exists():
        pytest.skip(f"sample {path} not found")
    return path.read_bytes()


def _one(result) -> dict:
    assert len(result.outcomes) == 1
    return result.outcomes.iloc[0].to_dict()


def test_sample_07_customer_add_ok(shared_dir):
    result = read_response(_sample(shared_dir, "07_qbwc-qbxml_customer_add_rs.xml"))
    row = _one(result)
    assert (row["request_name"], row["status_code"], row["status_severity"]) == ("CustomerAdd", 0, "Info")
    assert (row["outcome"], row["item_type"], row["action"]) == ("synced", "project", "add")
    assert row["list_id"] == row["quickbooks_id"] == "F540000-1197683154"
    assert row["edit_sequence"] == "1197683154" and row["ret_count"] == 1
    customers = result.rets["customers"]
    assert customers["Name"].tolist() == ["20706 - Eastern XYZ University"]
    assert customers["BillAddress_City"].tolist() == ["Storrs-Mansfield"]


def test_sample_08_500_warning_on_a_query_is_benign(shared_dir):
    row = _one(read_response(_sample(shared_dir, "08_qbwc_CustomerQueryRs_500_warn.xml")))
    assert (row["status_code"], row["status_severity"], row["outcome"], row["error_class"]) == (
        500,
        "Warn",
        "benign",
        "benign",
    )
    assert "could not be found" in row["status_message"]


def test_sample_09_3120_error(shared_dir):
    row = _one(read_response(_sample(shared_dir, "09_qbwc_CustomerQueryRs_3120_error.xml")))
    assert (row["status_code"], row["status_severity"], row["outcome"]) == (3120, "Error", "failed")
    assert row["error_class"] == "fatal"


def test_sample_13_3180_is_retryable(shared_dir):
    row = _one(read_response(_sample(shared_dir, "13_consolibyte_CustomerAddRs_3180_error.xml")))
    assert (row["status_code"], row["outcome"], row["error_class"]) == (3180, "failed", "retryable")
    assert row["request_id"] == "1" and row["request_name"] == "CustomerAdd"


@pytest.mark.parametrize(
    "name,table,rows",
    [
        ("01_intuit_BillQueryRs.xml", "bills", 3),
        ("03_qbwc-qbxml_customer_query_rs.xml", "customers", 1),
        ("05_qbwc-qbxml_purchase_order_query_rs.xml", "purchase_orders", 1),
    ],
)
def test_query_samples(shared_dir, name, table, rows):
    result = read_response(_sample(shared_dir, name))
    row = _one(result)
    assert (row["status_code"], row["outcome"], row["action"], row["ret_count"]) == (
        0,
        "synced",
        "query",
        rows,
    )
    assert len(result.rets[table]) == rows


def test_classification():
    assert classify(0, "Info", "add", True) == ("synced", None)
    assert classify(1, "Info", "query", False) == ("benign", "benign")
    assert classify(500, "Warn", "query", False) == ("benign", "benign")
    for code in (3170, 3175, 3176, 3180):
        assert classify(code, "Error", "add", False) == ("failed", "retryable")
    assert classify(3200, "Error", "mod", False) == ("failed", "reread_then_retry")
    assert classify(3140, "Error", "add", False) == ("failed", "create_parent_then_retry")
    for code in (3070, 3100, 3150, 3210):
        assert classify(code, "Error", "add", False) == ("failed", "fix_data")
    assert classify(3120, "Error", "mod", False) == ("failed", "fatal")
    assert classify(530, "Warn", "add", True) == ("synced", None)
    assert classify_hresult("0x80040400") == "fatal"
    assert classify_hresult("0x80040401") == "retryable"


SENT = message_sets(
    [
        query_request("VendorQuery", request_id="company:10:a1"),
        query_request("CustomerQuery", request_id="project:7:a2"),
        query_request("ItemQuery", request_id="cost_code:3:a1"),
    ]
)[0]


def _sent_frame():
    import pandas as pd

    return pd.DataFrame(
        {
            "request_id": ["company:10:a1", "project:7:a2", "cost_code:3:a1"],
            "item_type": ["company", "project", "cost_code"],
            "procore_id": [10, 7, 3],
            "action": ["add", "add", "add"],
            "request_name": ["VendorAdd", "CustomerAdd", "ItemServiceAdd"],
        }
    )


def test_matching_is_by_request_id_and_unanswered_requests_are_reported():
    # answered out of order, one request never answered (stopOnError stopped before it)
    xml = """<?xml version="1.0"?><QBXML><QBXMLMsgsRs>
      <CustomerAddRs requestID="project:7:a2" statusCode="3100" statusSeverity="Error" statusMessage="The name &quot;X&quot; of the list element is already in use."/>
      <VendorAddRs requestID="company:10:a1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
        <VendorRet><ListID>80000001-1</ListID><EditSequence>17</EditSequence><Name>V</Name>
          <VendorTypeRef><FullName>Brand-new type</FullName></VendorTypeRef></VendorRet></VendorAddRs>
    </QBXMLMsgsRs></QBXML>"""
    result = read_response(xml, _sent_frame())
    by = result.outcomes.set_index("request_id")
    assert by.loc["company:10:a1", "outcome"] == "synced" and by.loc["company:10:a1", "procore_id"] == 10
    assert by.loc["company:10:a1", "quickbooks_id"] == "80000001-1"
    assert (by.loc["project:7:a2", "procore_id"], by.loc["project:7:a2", "error_class"]) == (7, "fix_data")
    assert (
        by.loc["cost_code:3:a1", "outcome"] == "failed"
        and by.loc["cost_code:3:a1", "error_class"] == "retryable"
    )
    assert result.rets["vendors"]["VendorTypeRef_FullName"].tolist() == ["Brand-new type"]


def test_whole_message_failure():
    result = read_response(
        "",
        _sent_frame(),
        hresult="0x80040400",
        message="QuickBooks found an error when parsing the provided XML text stream.",
    )
    assert len(result.outcomes) == 3
    assert set(result.outcomes["outcome"]) == {"failed"} and set(result.outcomes["error_class"]) == {"fatal"}
    assert result.outcomes["status_message"].str.contains("0x80040400").all()
    retry = read_response(None, _sent_frame(), hresult="0x80040401", message="could not access QuickBooks")
    assert set(retry.outcomes["error_class"]) == {"retryable"}
    with pytest.raises(InputError):
        read_response("", _sent_frame())


def test_hostile_xml_is_refused():
    evil = """<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><QBXML><QBXMLMsgsRs/></QBXML>"""
    with pytest.raises(InputError):
        read_response(evil)


def test_archive_keeps_what_was_sent_and_answered(ws):
    store = ws.store
    mid = archive_request(store, SENT, company_file="C:\\co.qbw")
    mark_sent(store, mid, ticket="T-1")
    xml = (
        '<?xml version="1.0"?><QBXML><QBXMLMsgsRs><VendorQueryRs requestID="company:10:a1" statusCode="1" '
        'statusSeverity="Info" statusMessage="A query request did not find a matching object"/></QBXMLMsgsRs>'
        "</QBXML>"
    )
    rid = archive_response(store, xml, mid)
    frame = messages(store)
    assert frame["message_id"].tolist() == [rid, mid]
    assert frame.set_index("message_id").loc[mid, "status"] == "received"
    assert frame.set_index("message_id").loc[rid, "related_message_id"] == mid
    assert list(frame.set_index("message_id").loc[mid, "request_ids"]) == list(SENT.request_ids)
    assert message_xml(store, mid) == SENT.xml.decode("ascii")
    assert message_xml(store, rid) == xml
    assert messages(store, request_id="project:7:a2")["message_id"].tolist() == [rid, mid]
    failed = archive_request(store, SENT)
    fid = archive_response(store, None, failed, hresult="0x80040400", message="parse error")
    assert messages(store).set_index("message_id").loc[[failed, fid], "status"].tolist() == [
        "failed",
        "failed",
    ]
    with pytest.raises(InputError):
        archive_response(store, "", failed)
    with pytest.raises(InputError):
        archive_response(store, xml, 999)


def test_one_status_policy_table_drives_classification_and_the_export():
    """Changing a code's policy in ``STATUS_POLICY`` changes both readers (no second copy of the rule)."""
    from qbrecon.erp import export
    from qbrecon.qbxml import responses

    assert responses.classify(3175, "Error", "add", False) == ("failed", "retryable")
    assert responses.classify(3200, "Error", "mod", False) == ("failed", "reread_then_retry")
    assert responses.classify(9999, "Error", "add", False) == ("failed", "fatal")
    decide = export.ExportService._decide_export
    base = {
        "status_message": "x",
        "error_class": None,
        "quickbooks_id": None,
        "edit_sequence": None,
        "outcome": "failed",
        "txn_id": None,
    }
    assert decide(None, "company", 1, 1, "VendorAdd", {**base, "status_code": 3175})["decision"] == "retry"
    assert (
        decide(None, "company", 1, 1, "VendorMod", {**base, "status_code": 3200})["check_reason"] == "refresh"
    )
    original = responses.STATUS_POLICY[3175]
    try:
        responses.STATUS_POLICY[3175] = responses.StatusPolicy("fatal", "fail", "test")
        assert responses.classify(3175, "Error", "add", False) == ("failed", "fatal")
        assert (
            decide(None, "company", 1, 1, "VendorAdd", {**base, "status_code": 3175})["decision"] == "failed"
        )
    finally:
        responses.STATUS_POLICY[3175] = original
