"""Refreshing the QuickBooks side through the Web Connector: iterators, modified-date filters, the loader's
validation path, restarts across sessions, idempotency.

The world: the generated fixtures (3 projects, seed 1); a workspace with only the Procore side loaded; the
simulated QuickBooks company seeded from the fixtures' QuickBooks responses. A refresh must load exactly what
``ws.load_quickbooks(OUT/quickbooks)`` loads, bill payments by check and by credit card included.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pandas as pd
import pytest
from click.testing import CliRunner

from qbrecon.erp.refresh import KINDS, filter_text, resolve_kinds
from qbrecon.errors import InputError, PermissionDenied
from qbrecon.qbwc.connector import ConnectorFaults, WebConnectorClient
from qbrecon.qbwc.service import QBWCService, ServiceConfig
from qbrecon.qbwc.simulator import QuickBooksCompany
from qbrecon.server import start_server
from qbrecon.workspace_full import Workspace

PASSWORD = "refresh password"
PAGE = 7  # small MaxReturned so every kind with more than 7 records pages through an iterator
QB_TABLES = [
    "customers",
    "vendors",
    "items",
    "estimates",
    "estimate_lines",
    "purchase_orders",
    "purchase_order_lines",
    "bills",
    "bill_lines",
    "bill_payments",
    "bill_payment_lines",
    "time_tracking",
]
BOOKKEEPING = "_source_file, _source_row, _load_id, _loaded_at"


@pytest.fixture(scope="module")
def fixtures_dir(tmp_path_factory):
    from qbrecon.fixtures import generate

    out = tmp_path_factory.mktemp("fixtures") / "out"
    generate(out, projects=3, seed=1)
    return out


@pytest.fixture(scope="module")
def reference(fixtures_dir):
    """What a file load of the fixtures' QuickBooks side stores."""
    ref = Workspace()
    report = ref.load_quickbooks(fixtures_dir / "quickbooks")
    assert report.quarantined == 0
    yield ref
    ref.close()


# No XSD needed: the simulator checks every message set against the spec tables (and the XSD when present).
@pytest.fixture()
def world(tmp_path, fixtures_dir):
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.load_procore(fixtures_dir / "procore")
    company = QuickBooksCompany(validate=True)
    company.seed_from(fixtures_dir / "quickbooks")
    ws.set_service_credentials("qbwc", PASSWORD)
    yield ws, company
    company.close()
    ws.close()


def table_frame(ws: Workspace, table: str) -> pd.DataFrame:
    from qbrecon.schemas import TABLES

    key = ", ".join(f'"{k}"' for k in TABLES[table].key)
    return ws.store.frame(f'SELECT * EXCLUDE ({BOOKKEEPING}) FROM "{table}" ORDER BY {key}')


def assert_same_rows(ws: Workspace, reference: Workspace) -> None:
    for table in QB_TABLES:
        got, want = table_frame(ws, table), table_frame(reference, table)
        assert len(got) == len(want) > 0, table
        pd.testing.assert_frame_equal(got, want, check_dtype=True, obj=table)


def run_session(ws: Workspace, company: QuickBooksCompany, faults: ConnectorFaults | None = None, **config):
    cfg = ServiceConfig.from_workspace(ws, refresh_max_returned=PAGE, **config)
    with start_server(ws, port=0, config=cfg) as srv:
        client = WebConnectorClient(srv.url, "qbwc", PASSWORD, company, faults=faults)
        return client.run_once()


def jobs(ws: Workspace) -> pd.DataFrame:
    return ws.refresh_jobs().set_index("query")


# -- through the Web Connector over HTTP ----------------------------------------------------------------------
def test_refresh_through_the_web_connector_loads_what_a_file_load_loads(world, reference):
    ws, company = world
    assert ws.store.count("vendors") == 0  # only the Procore side so far
    queued = ws.request_refresh()
    assert queued["query"].tolist() == list(KINDS) and set(queued["state"]) == {"queued"}
    assert queued["from_modified"].isna().all()  # nothing stored yet: everything is read

    report = run_session(ws, company)
    assert report.auth_status == "" and not report.stopped, report
    assert report.percents[-1] == 100 and all(0 <= p <= 100 for p in report.percents)

    done = jobs(ws)
    assert set(done["state"]) == {"done"}, done[["state", "status_code", "status_message"]]
    counts = company.counts()
    assert done.loc["BillQuery", "rows_read"] == counts["bill"] == 47
    assert done.loc["BillQuery", "pages"] == math.ceil(counts["bill"] / PAGE)  # the iterator paged through
    assert done.loc["ItemQuery", "pages"] == math.ceil(counts["item"] / PAGE)
    # credit-card bill payments come back with the bills they pay (AppliedToTxnRet, IncludeLineItems)
    cards = reference.store.scalar("SELECT count(*) FROM bill_payments WHERE \"PaymentKind\" = 'credit_card'")
    card_rows = done.loc["BillPaymentCreditCardQuery", "rows_read"]
    assert card_rows == counts["bill_payment_credit_card"] == cards > 0
    assert int(done["rows_quarantined"].sum()) == 0
    assert_same_rows(ws, reference)

    # every Continue repeats the iterator's filters and carries the iteratorID QuickBooks returned
    pages = ws.store.frame(
        "SELECT m.query, m.iterator, m.iterator_id, x.xml FROM refresh_messages m "
        "JOIN qbxml_messages x USING (message_id) WHERE m.query = 'BillQuery' ORDER BY message_id"
    )
    assert pages["iterator"].tolist() == ["Start"] + ["Continue"] * (len(pages) - 1)
    assert pages["iterator_id"].iloc[1:].nunique() == 1
    for xml in pages["xml"]:
        assert (
            f"<MaxReturned>{PAGE}</MaxReturned>" in xml and "<IncludeLineItems>true</IncludeLineItems>" in xml
        )
    # a page is one load through the loader (validation, quarantine, load_runs), not a side door
    assert ws.store.count("load_runs") >= int(done["pages"].sum()) - 1

    # nothing left: the next Web Connector run is told there is nothing to do
    assert run_session(ws, company).auth_status == "none"


def test_incremental_refresh_picks_up_only_what_changed(world, reference):
    ws, company = world
    ws.request_refresh()
    ws.refresh_now(company.process, max_returned=PAGE)
    assert_same_rows(ws, reference)

    vendor = company.records("vendor").sort_values("time_modified").iloc[0]  # the oldest: outside the overlap
    response = company.process(
        '<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
        f'<VendorModRq requestID="m1"><VendorMod><ListID>{vendor["id"]}</ListID>'
        f"<EditSequence>{vendor['edit_sequence']}</EditSequence><CompanyName>Changed In QuickBooks LLC</CompanyName>"
        "</VendorMod></VendorModRq></QBXMLMsgsRq></QBXML>"
    )
    assert b'statusCode="0"' in response

    queued = ws.request_refresh(overlap=timedelta(minutes=1)).set_index("query")
    # the filter starts a minute before the newest stored record, written in QuickBooks' own UTC offset
    assert queued.loc["VendorQuery", "from_modified_text"].endswith("-08:00")
    overlap_rows = {
        q: ws.store.execute(
            f'SELECT count(*) FROM "{t}" WHERE "TimeModified" >= ?::TIMESTAMPTZ' + (f" AND {c}" if c else ""),
            [queued.loc[q, "from_modified_text"]],
        ).fetchall()[0][0]
        for q, (t, c) in KINDS.items()
    }
    before = table_frame(ws, "vendors").set_index("ListID")

    report = run_session(ws, company)
    assert report.auth_status == "" and report.percents[-1] == 100
    after = jobs(ws)
    # each kind read only the records in the overlap window, plus the changed vendor
    for q, n in overlap_rows.items():
        assert after.loc[q, "rows_read"] == n + (1 if q == "VendorQuery" else 0), q
    assert sum(overlap_rows.values()) < 20  # a handful, not the 200-odd records of a full read
    vendors = table_frame(ws, "vendors").set_index("ListID")
    assert vendors.loc[vendor["id"], "CompanyName"] == "Changed In QuickBooks LLC"
    assert vendors.loc[vendor["id"], "EditSequence"] != before.loc[vendor["id"], "EditSequence"]
    unchanged = vendors.drop(index=vendor["id"])
    pd.testing.assert_frame_equal(unchanged, before.drop(index=vendor["id"]))


def test_session_ending_mid_iteration_restarts_the_kind_from_start(world, reference):
    ws, company = world
    ws.request_refresh(["bills", "vendors"], since="2020-01-01")
    # crash after the 3rd page (VendorQuery Start, Continue, Continue): QuickBooks processed it, nobody applied it
    first = run_session(ws, company, ConnectorFaults(stop_after_send=3))
    assert first.stopped
    mid = jobs(ws)
    assert mid.loc["VendorQuery", "state"] == "iterating" and mid.loc["VendorQuery", "rows_read"] == 2 * PAGE
    since = mid.loc["VendorQuery", "from_modified_text"]

    second = run_session(ws, company)  # same user and machine: the dead session is superseded
    assert second.auth_status == "" and second.percents[-1] == 100
    done = jobs(ws)
    assert set(done["state"]) == {"done"}
    assert done.loc["VendorQuery", "from_modified_text"] == since  # restarted with the same filters
    vendor_pages = ws.store.frame(
        "SELECT m.iterator, m.state, m.ticket, x.xml FROM refresh_messages m JOIN qbxml_messages x USING (message_id) "
        "WHERE m.query = 'VendorQuery' ORDER BY message_id"
    )
    assert vendor_pages["state"].tolist()[:3] == ["answered", "answered", "abandoned"]
    restart = vendor_pages.iloc[3]
    assert restart["iterator"] == "Start" and restart["ticket"] != vendor_pages.iloc[0]["ticket"]
    assert all(f"<FromModifiedDate>{since}</FromModifiedDate>" in x for x in vendor_pages["xml"])
    for table in ("vendors", "bills", "bill_lines"):
        pd.testing.assert_frame_equal(table_frame(ws, table), table_frame(reference, table), obj=table)


# -- the library API, in-process ---------------------------------------------------------------------------------
def test_same_response_twice_changes_nothing_and_late_pages_are_ignored(world):
    ws, company = world
    ws.request_refresh("vendors", full=True)
    batch = ws.next_refresh_batch(PAGE, ticket="t1")
    response = company.process(batch.xml)
    outcome = ws.apply_refresh_response(batch.message_id, response)
    assert outcome.applied and outcome.rows_read == outcome.loaded == PAGE and outcome.state == "iterating"
    snapshot = (table_frame(ws, "vendors"), ws.store.count("load_runs"), ws.refresh_jobs())
    again = ws.apply_refresh_response(batch.message_id, response)
    assert not again.applied
    pd.testing.assert_frame_equal(table_frame(ws, "vendors"), snapshot[0])
    assert ws.store.count("load_runs") == snapshot[1]
    pd.testing.assert_frame_equal(ws.refresh_jobs(), snapshot[2])

    # a page sent and never answered: the next page request restarts the kind; its late answer is ignored
    lost = ws.next_refresh_batch(PAGE, ticket="t1")
    assert lost.iterator == "Continue"
    late = company.process(lost.xml)
    restart = ws.next_refresh_batch(PAGE, ticket="t1")
    assert restart.iterator == "Start" and restart.query == "VendorQuery"
    runs = ws.store.count("load_runs")
    ignored = ws.apply_refresh_response(lost.message_id, late)
    assert not ignored.applied and ws.store.count("load_runs") == runs
    assert ws.store.execute(
        "SELECT state FROM refresh_messages WHERE message_id = ?", [lost.message_id]
    ).fetchall() == [("stale",)]
    ws.apply_refresh_response(restart.message_id, company.process(restart.xml))
    ws.refresh_now(company.process, max_returned=PAGE)
    assert ws.store.count("vendors") == company.counts()["vendor"]


def test_expired_iterator_restarts_and_empty_answers_are_benign(world, reference):
    ws, company = world
    ws.request_refresh("items", full=True)
    first = ws.next_refresh_batch(PAGE, ticket="t")
    ws.apply_refresh_response(first.message_id, company.process(first.xml))
    company._iterators.clear()  # QuickBooks forgot the iterator (3391 on the next Continue)
    cont = ws.next_refresh_batch(PAGE, ticket="t")
    out = ws.apply_refresh_response(cont.message_id, company.process(cont.xml))
    assert out.status_code == 3391 and out.state == "queued"
    final = ws.refresh_now(company.process, max_returned=PAGE).set_index("query")
    assert final.loc["ItemQuery", "state"] == "done" and final.loc["ItemQuery", "restarts"] == 1
    pd.testing.assert_frame_equal(table_frame(ws, "items"), table_frame(reference, "items"))

    # nothing modified since: statusCode 1, no rows, no load, the kind is done
    runs = ws.store.count("load_runs")
    ws.request_refresh("time_tracking", since="2099-01-01T00:00:00+00:00")
    batch = ws.next_refresh_batch(PAGE, ticket="t")
    # the same instant, written in the UTC offset QuickBooks uses (learnt from the items it returned)
    assert "<FromModifiedDate>2098-12-31T16:00:00-08:00</FromModifiedDate>" in batch.xml_text
    out = ws.apply_refresh_response(batch.message_id, company.process(batch.xml))
    assert out.applied and out.status_code == 1 and out.rows_read == 0 and out.state == "done"
    assert ws.store.count("load_runs") == runs and ws.store.count("time_tracking") == 0


def test_invalid_rows_are_quarantined_never_dropped(ws):
    ws.request_refresh("vendors", full=True)
    batch = ws.next_refresh_batch(10, ticket="t")
    rid = batch.request_ids[0]
    response = (
        '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs>'
        f'<VendorQueryRs requestID="{rid}" statusCode="0" statusSeverity="Info" statusMessage="Status OK" '
        'retCount="2" iteratorRemainingCount="0" iteratorID="{abc}">'
        "<VendorRet><ListID>80000001-1</ListID><TimeModified>2024-01-02T03:04:05-08:00</TimeModified>"
        "<EditSequence>1</EditSequence><Name>Good Vendor</Name><IsActive>true</IsActive></VendorRet>"
        "<VendorRet><ListID>80000002-1</ListID><TimeModified>not a time</TimeModified>"
        "<EditSequence>1</EditSequence><Name>Bad Vendor</Name></VendorRet>"
        "</VendorQueryRs></QBXMLMsgsRs></QBXML>"
    )
    out = ws.apply_refresh_response(batch.message_id, response)
    assert out.applied and out.state == "done" and (out.rows_read, out.loaded, out.quarantined) == (2, 1, 1)
    held = ws.quarantine(out.load_id)
    assert held["field"].tolist() == ["TimeModified"] and "Bad Vendor" in held["source_record"].iloc[0]
    assert ws.store.count("vendors") == 1
    # the offset QuickBooks writes its times in is remembered for the next filters
    assert (
        filter_text(pd.Timestamp("2024-01-02T11:04:05Z").to_pydatetime(), "-08:00")
        == "2024-01-02T03:04:05-08:00"
    )
    again = ws.request_refresh("vendors").set_index("query")
    assert (
        again.loc["VendorQuery", "from_modified_text"] == "2024-01-02T02:04:05-08:00"
    )  # minus the 1 h overlap


def test_watermark_ignores_export_echoes_and_unknown_offset_is_conservative(ws):
    from qbrecon.schemas import TABLES

    spec = TABLES["vendors"]
    rows = pd.DataFrame(
        {
            "ListID": ["1-1", "2-2"],
            "Name": ["A", "B"],
            "TimeModified": pd.to_datetime(["2024-05-01T12:00:00Z", "2025-01-01T00:00:00Z"]),
            "_load_id": pd.array([7, None], dtype="Int64"),
        }
    )
    ws.store.upsert("vendors", rows, spec.key)  # the second row is an export's echo (no load id)
    job = ws.request_refresh("vendors", overlap=timedelta(0)).iloc[0]
    # newest *loaded* record, moved back 14 h because QuickBooks' UTC offset is not known yet
    assert job["from_modified_text"] == "2024-04-30T22:00:00+00:00"


def test_service_routes_refresh_answers_and_whole_message_failures(world):
    ws, company = world
    ws.request_refresh("customers", full=True)
    svc = QBWCService(ws, ServiceConfig.from_workspace(ws, refresh_max_returned=PAGE))
    ticket, _ = svc.authenticate("qbwc", PASSWORD, "10.0.0.9")[:2]
    assert ticket and svc._pending() == 1
    request = svc.send_request_xml(ticket, "", "", "US", 13, 0)
    assert "<CustomerQueryRq" in request and 'iterator="Start"' in request
    # QuickBooks could not process the message: the kind goes back to the queue, the service answers -1
    assert svc.receive_response_xml(ticket, "", "0x80040408", "QuickBooks is busy") == -1
    assert jobs(ws).loc["CustomerQuery", "state"] == "queued"
    request = svc.send_request_xml(ticket, "", "", "US", 13, 0)
    assert svc.receive_response_xml(ticket, company.process(request).decode(), "", "") == 100
    assert jobs(ws).loc["CustomerQuery", ["state", "rows_read", "restarts"]].tolist() == ["done", 4, 1]
    assert svc.send_request_xml(ticket, "", "", "US", 13, 0) == ""
    assert svc.close_connection(ticket).startswith("OK")


def test_kinds_users_and_cli(world, tmp_path):
    ws, _ = world
    assert resolve_kinds(["bill_payments"]) == ["BillPaymentCheckQuery", "BillPaymentCreditCardQuery"]
    # returned in refresh order: the pairs' export order (vendors, items, then customer:jobs)
    assert resolve_kinds(["Vendor", "CustomerQueryRq"]) == ["VendorQuery", "CustomerQuery"]
    with pytest.raises(InputError, match="unknown refresh kind 'nope'"):
        ws.request_refresh(["nope"])
    with pytest.raises(PermissionDenied):
        ws.request_refresh(import_payments=True)
    with pytest.raises(PermissionDenied, match="unknown user"):
        ws.request_refresh(by="nobody-here")
    path = ws.path
    ws.close()

    from qbrecon.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["refresh", "-w", str(path), "--kind", "vendors", "--full"])
    assert result.exit_code == 2 and "--by is required" in result.output  # refreshing needs ERP 'Admin'
    by = ["--by", "maria.alvarez@example-builders.com"]
    result = runner.invoke(main, ["refresh", "-w", str(path), "--kind", "vendors", "--full", *by])
    assert result.exit_code == 0, result.output
    assert "VendorQuery" in result.output and "queued" in result.output
    status = runner.invoke(main, ["refresh", "-w", str(path), "--status", "--format", "json"])
    assert status.exit_code == 0, status.output
    assert [(j["query"], j["state"]) for j in json.loads(status.output)] == [("VendorQuery", "queued")]
    with Workspace(path) as again:
        assert again.cancel_refresh("vendors") == 1
    failed = runner.invoke(main, ["refresh", "-w", str(path), "--status"])
    assert failed.exit_code == 1 and "cancelled" in failed.output
    bad = runner.invoke(main, ["refresh", "-w", str(path), "--since", "yesterday", *by])
    assert bad.exit_code == 2 and "--since" in bad.output


def test_bill_payments_imported_as_payments_issued_when_asked(world):
    ws, company = world
    with pytest.raises(PermissionDenied, match="may not refresh"):  # read-only on the ERP tool
        ws.request_refresh(by="aisha.okafor@example-builders.com", import_payments=True)
    ws.store.execute("DELETE FROM payments_issued")  # as if Procore had not heard of any payment yet
    ws.request_refresh(
        ["bills", "bill_payments"], by="maria.alvarez@example-builders.com", import_payments=True
    )
    ws.refresh_now(company.process, max_returned=PAGE)
    imported = ws.store.frame("SELECT origin_id, requisition_id, amount, payment_method FROM payments_issued")
    paid = ws.store.frame('SELECT "TxnID", "PaymentKind" FROM bill_payments')
    assert len(imported) == len(paid) == 27 and set(imported["origin_id"]) == set(paid["TxnID"])
    assert imported["payment_method"].value_counts().to_dict() == {"check": 25, "credit_card": 2}
    audit = ws.store.frame("SELECT actor_name FROM erp_audit WHERE action = 'import'")
    assert len(audit) == 27 and set(audit["actor_name"]) == {"Maria Alvarez"}
    assert not ws.refresh_jobs()["import_payments"].any()  # done once, not again on the next refresh


# -- "Vendors will be Automatically Updated" ------------------------------------------------------------------
def _admin(ws: Workspace) -> str:
    return ws.store.scalar(
        "SELECT login FROM users WHERE erp_integrations_permission = 'admin' ORDER BY id LIMIT 1"
    )


def _companies(ws: Workspace) -> pd.DataFrame:
    return ws.store.frame("SELECT * FROM companies ORDER BY id").set_index("id")


def _mod_vendor(company: QuickBooksCompany, list_id: str, name: str, phone: str, street: str) -> None:
    ret = company.ret(list_id)
    response = company.process(
        '<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
        f'<VendorModRq requestID="m"><VendorMod><ListID>{list_id}</ListID>'
        f"<EditSequence>{ret.findtext('EditSequence')}</EditSequence><Name>{name}</Name>"
        f"<VendorAddress><Addr1>{street}</Addr1></VendorAddress><Phone>{phone}</Phone></VendorMod></VendorModRq>"
        "</QBXMLMsgsRq></QBXML>"
    )
    assert b'statusCode="0"' in response


def test_vendor_auto_update_off_leaves_procore_companies_alone(world):
    ws, company = world
    ws.update_settings(by=_admin(ws), vendor_auto_update=False)
    before = _companies(ws)
    linked = before[before["origin_id"].notna()]
    list_id = linked["origin_id"].iloc[0]
    _mod_vendor(company, list_id, "Renamed In QuickBooks LLC", "555-0100", "1 New Street")
    ws.request_refresh(full=True)
    ws.refresh_now(company.process, max_returned=PAGE)
    assert set(ws.refresh_jobs()["state"]) == {"done"}
    assert ws.store.scalar("""SELECT "Name" FROM vendors WHERE "ListID" = ?""", [list_id]) == (
        "Renamed In QuickBooks LLC"
    )
    pd.testing.assert_frame_equal(_companies(ws), before)
    assert ws.store.scalar("SELECT count(*) FROM erp_audit WHERE action = 'vendor_auto_update'") == 0

    # turning the setting on later does not replay what an earlier refresh read
    ws.update_settings(by=_admin(ws), vendor_auto_update=True)
    ws.request_refresh("customers", full=True)
    ws.refresh_now(company.process, max_returned=PAGE)
    pd.testing.assert_frame_equal(_companies(ws), before)


def test_vendor_auto_update_on_updates_the_linked_companies_the_refresh_read(world):
    ws, company = world
    ws.update_settings(by=_admin(ws), vendor_auto_update=False)
    ws.request_refresh(full=True)
    ws.refresh_now(company.process, max_returned=PAGE)  # the QuickBooks side is loaded; Procore untouched
    ws.update_settings(by=_admin(ws), vendor_auto_update=True)
    linked = _companies(ws)
    linked = linked[linked["origin_id"].notna()]
    target_id, list_id = int(linked.index[0]), linked["origin_id"].iloc[0]
    other_id = int(linked.index[-1])  # edited in Procore; its vendor is not read again: it keeps the edit
    ws.store.execute("UPDATE companies SET business_phone = '555-0199' WHERE id = ?", [other_id])
    before = _companies(ws)
    _mod_vendor(company, list_id, "Renamed In QuickBooks LLC", "555-0100", "1 New Street")
    new_sequence = company.ret(list_id).findtext("EditSequence")

    last_page = ws.store.scalar("SELECT max(message_id) FROM refresh_messages")
    ws.request_refresh()  # incremental: reads the changed vendor (and the few in the overlap)
    ws.refresh_now(company.process, max_returned=PAGE)
    read = set(
        ws.store.frame(
            'SELECT v."ListID" FROM vendors v JOIN refresh_messages m ON m.load_id = v._load_id '
            f"WHERE m.query = 'VendorQuery' AND m.message_id > {last_page}"
        )["ListID"]
    )
    assert list_id in read and before.loc[other_id, "origin_id"] not in read
    after = _companies(ws)
    row = after.loc[target_id]
    assert (row["name"], row["business_phone"], row["address"]) == (
        "Renamed In QuickBooks LLC",
        "555-0100",
        "1 New Street",
    )
    assert (row["city"], row["zip"]) == (before.loc[target_id, "city"], before.loc[target_id, "zip"])
    assert json.loads(row["origin_data"])["edit_sequence"] == new_sequence
    queued = ws.store.scalar(
        "SELECT edit_sequence FROM erp_items WHERE item_type = 'company' AND procore_id = ?", [target_id]
    )
    assert queued == new_sequence
    changed = [int(i) for i in after.index if not after.loc[[i]].equals(before.loc[[i]])]
    # only companies linked to the vendors this refresh read
    assert target_id in changed and set(after.loc[changed, "origin_id"]) <= read
    assert after.loc[other_id, "business_phone"] == "555-0199"
    audit = ws.store.frame(
        "SELECT procore_id, actor_name, detail FROM erp_audit WHERE action = 'vendor_auto_update' "
        "ORDER BY procore_id"
    )
    assert audit["procore_id"].tolist() == changed and set(audit["actor_name"]) == {"qbrecon"}
    detail = audit.set_index("procore_id").loc[target_id, "detail"]
    assert detail == (
        f"from QuickBooks vendor {list_id}: name: {before.loc[target_id, 'name']} -> Renamed In "
        f"QuickBooks LLC; address: {before.loc[target_id, 'address']} -> 1 New Street; business_phone: "
        f"{before.loc[target_id, 'business_phone']} -> 555-0100"
    )

    # the Procore edit came back to the approver as an update (issue 12): over every linked vendor (no load ids)
    # auto-update leaves a company that carries a Procore change alone; a second run changes nothing either
    assert ws.queue(item_type="company").set_index("procore_id").loc[other_id, "status"] == "ready_to_export"
    assert ws.auto_update_vendors() == 0 and _companies(ws).loc[other_id, "business_phone"] == "555-0199"
    assert ws.auto_update_vendors() == 0
    # and what auto-update took from QuickBooks is not sent back as an update
    assert ws.queue(item_type="company").set_index("procore_id").loc[target_id, "status"] == "synced"
    ws.refresh_queue()
    assert ws.queue(item_type="company").set_index("procore_id").loc[target_id, "status"] == "synced"
