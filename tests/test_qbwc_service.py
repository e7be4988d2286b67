"""The Web Connector conversation without HTTP: tickets, busy, company-file binding, response matching.

The export ledger is replaced here by a small recording double so that each protocol rule is checked on its own;
``test_qbwc_e2e.py`` runs the same conversation against the real ledger and simulator over HTTP.
"""

from __future__ import annotations

import json
import time

import pytest
from qbwc_doubles import LedgerDouble, response_for

from qbrecon.erp import settings as erp_settings
from qbrecon.erp.export import ExportJob
from qbrecon.qbwc.service import QBWCService, ServiceConfig, response_request_ids
from qbrecon.store import Store


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "svc.duckdb")
    s.execute(
        "INSERT INTO erp_settings VALUES ('service_user', ?, NULL, now()), ('service_password', ?, NULL, now())",
        [json.dumps("qbwc"), json.dumps(erp_settings.hash_password("correct horse"))],
    )
    yield s
    s.close()


def make(store: Store, items: int = 5, **config) -> tuple[QBWCService, LedgerDouble]:
    ledger = LedgerDouble(store, items)
    cfg = ServiceConfig(**{"max_requests": 2, **config})
    return QBWCService(ledger, cfg, jobs=[ExportJob(ledger, cfg.max_requests)]), ledger


def login(svc: QBWCService, addr: str = "10.0.0.1") -> list[str]:
    return svc.authenticate("qbwc", "correct horse", addr)


def test_full_conversation_and_percent(store):
    svc, ledger = make(store, items=5)
    assert svc.server_version()
    assert svc.client_version("2.3.0.215") == ""
    ticket, company = login(svc)
    assert company == "" and len(ticket) >= 40
    percents = []
    while True:
        req = svc.send_request_xml(ticket, "", r"C:\Co.qbw", "US", 13, 0)
        assert req.startswith("<?xml")
        percents.append(svc.receive_response_xml(ticket, response_for(req), "", ""))
        if percents[-1] == 100:
            break
    assert percents == [40, 80, 100]
    assert [c[0] for c in ledger.calls] == ["next", "sent", "apply"] * 3
    assert ledger.calls[0][2] == r"C:\Co.qbw"  # the session is bound to the file QuickBooks reported
    assert svc.close_connection(ticket).startswith("OK: 5 item(s)")
    assert svc.sessions.get(ticket).status == "closed"
    assert svc.send_request_xml(ticket, "", r"C:\Co.qbw", "US", 13, 0) == ""  # closed ticket: nothing
    assert svc.receive_response_xml(ticket, "<QBXML/>", "", "") == -1
    status = erp_settings.read_settings(store)
    assert status["connection_status"] == "connected" and status["last_contact"]


def test_bad_login_nothing_to_do_and_unknown_tickets(store):
    svc, _ = make(store, items=0)
    assert svc.authenticate("qbwc", "wrong", "1.2.3.4") == ["", "nvu"]
    assert svc.authenticate("nobody", "correct horse", "1.2.3.4") == ["", "nvu"]
    assert "refused" in erp_settings.read_settings(store)["last_error"]
    ticket, status = login(svc)
    assert status == "none" and svc.sessions.get(ticket) is None  # nothing queued: no session opened
    assert svc.send_request_xml("forged", "", "", "US", 13, 0) == ""
    assert svc.receive_response_xml("forged", "", "", "") == -1
    assert "Unknown session ticket" in svc.get_last_error("forged")
    assert svc.connection_error("forged", "0x80040401", "no QB") == "done"
    assert svc.close_connection("forged").startswith("Session unknown")


def test_second_connection_is_busy_same_machine_supersedes(store):
    svc, ledger = make(store, items=4)
    t1, _ = login(svc, "10.0.0.1")
    req = svc.send_request_xml(t1, "", "C:\\Co.qbw", "US", 13, 0)
    assert req
    ticket, status, wait = login(svc, "10.0.0.2")  # another machine, same company file
    assert status == "busy" and 0 < int(wait) <= svc.config.ticket_ttl
    assert svc.sessions.get(ticket) is None
    # The same Web Connector logging in again means the first session died: it is superseded.
    t2, status = login(svc, "10.0.0.1")
    assert status == ""
    assert svc.sessions.get(t1).status == "superseded"
    assert svc.sessions.abandoned_messages() == [1]  # its message's outcome is unknown
    assert svc.receive_response_xml(t1, response_for(req), "", "") == -1  # late answer on a dead ticket
    assert ("apply", 1) not in ledger.calls


def test_tickets_expire(store):
    svc, _ = make(store, items=2, ticket_ttl=0.2)
    t1, _ = login(svc)
    time.sleep(0.3)
    assert svc.send_request_xml(t1, "", "", "US", 13, 0) == ""
    assert "expired" in svc.get_last_error(t1)
    t2, status = login(svc, "10.9.9.9")  # the expired session no longer blocks anyone
    assert status == ""


def test_company_file_is_bound(store):
    svc, ledger = make(store, items=4)
    t1, _ = login(svc)
    svc.receive_response_xml(t1, response_for(svc.send_request_xml(t1, "", r"C:\A.qbw", "US", 13, 0)), "", "")
    svc.close_connection(t1)
    t2, _ = login(svc)
    assert svc.send_request_xml(t2, "", r"C:\Other.qbw", "US", 13, 0) == ""
    assert "exports to" in svc.get_last_error(t2)
    assert svc.send_request_xml(t2, "", r"c:\a.QBW", "US", 13, 0)  # Windows paths compare case-insensitively


def test_configured_company_file_is_returned_and_enforced(store):
    svc, _ = make(store, items=2, company_file=r"C:\Books\Co.qbw")
    ticket, company = login(svc)
    assert company == r"C:\Books\Co.qbw"
    assert svc.send_request_xml(ticket, "", r"C:\Else.qbw", "US", 13, 0) == ""


def test_old_qbxml_version_refused(store):
    svc, ledger = make(store, items=2)
    ticket, _ = login(svc)
    assert svc.send_request_xml(ticket, "", "", "US", 12, 0) == ""
    assert "13.0" in svc.get_last_error(ticket)
    assert ledger.calls == []


def test_hresult_fails_the_batch_and_returns_minus_one(store):
    svc, ledger = make(store, items=3)
    ticket, _ = login(svc)
    svc.send_request_xml(ticket, "", "", "US", 13, 0)
    msg = "QuickBooks found an error when parsing the provided XML text stream."
    assert svc.receive_response_xml(ticket, "", "0x80040400", msg) == -1
    assert ledger.calls[-1] == ("fail", 1, "0x80040400", msg)
    assert "0x80040400" in svc.get_last_error(ticket)
    assert ledger.export_pending()["exporting"] == 3  # nothing lost: the ledger still holds the items


def test_responses_are_matched_by_request_ids(store):
    svc, ledger = make(store, items=6)
    ticket, _ = login(svc)
    r1 = svc.send_request_xml(ticket, "", "", "US", 13, 0)
    r2 = svc.send_request_xml(ticket, "", "", "US", 13, 0)  # r1's response was dropped / is late
    assert svc.receive_response_xml(ticket, response_for(r2), "", "") == 33
    assert svc.receive_response_xml(ticket, response_for(r1), "", "") == 66  # late, reordered: still applied
    assert svc.receive_response_xml(ticket, response_for(r1), "", "") == -1  # duplicate: refused
    assert "already answered" in svc.get_last_error(ticket)
    assert [c for c in ledger.calls if c[0] == "apply"] == [("apply", 2), ("apply", 1)]
    assert svc.receive_response_xml(ticket, "<not xml", "", "") == -1
    assert svc.receive_response_xml(ticket, response_for('requestID="zzz"'), "", "") == -1


def test_response_for_another_sessions_message_is_refused(store):
    svc, ledger = make(store, items=4)
    t1, _ = login(svc, "10.0.0.1")
    r1 = svc.send_request_xml(t1, "", "", "US", 13, 0)
    svc.close_connection(t1)  # ended with r1 unanswered
    t2, _ = login(svc, "10.0.0.1")
    svc.send_request_xml(t2, "", "", "US", 13, 0)
    assert svc.receive_response_xml(t2, response_for(r1), "", "") == -1
    assert "another Web Connector session" in svc.get_last_error(t2)
    assert ("apply", 1) not in ledger.calls


def test_connection_error_ends_session(store):
    svc, _ = make(store, items=2)
    ticket, _ = login(svc)
    assert svc.connection_error(ticket, "0x80040401", "Could not access QuickBooks.") == "done"
    assert svc.sessions.get(ticket).status == "failed"
    assert "0x80040401" in erp_settings.read_settings(store)["last_error"]


def test_client_version_minimum(store):
    svc, _ = make(store, items=0, min_client_version="2.1.0.30")
    assert svc.client_version("2.3.0.215") == ""
    assert svc.client_version("2.0.1.5").startswith("E:")


def test_request_ids_reader_refuses_hostile_xml():
    assert response_request_ids('<QBXML><QBXMLMsgsRs><XRs requestID="1"/></QBXMLMsgsRs></QBXML>') == ["1"]
    assert response_request_ids('<!DOCTYPE x [<!ENTITY a "b">]><QBXML/>') is None
    assert response_request_ids("<QBXML>") is None
    assert response_request_ids("<Other/>") is None


def test_settings_configure_the_service(store):
    erp_settings.write_settings(
        store, {"qbwc_ticket_ttl_seconds": "60", "qbwc_company_file": r"C:\X.qbw"}, None
    )
    cfg = ServiceConfig.from_workspace(type("W", (), {"store": store})(), max_requests=7)
    assert (cfg.ticket_ttl, cfg.company_file, cfg.max_requests) == (60.0, r"C:\X.qbw", 7)


def test_reads_leave_no_half_read_result_on_the_shared_connection(store):
    """``qbrecon serve`` shares one DuckDB connection between the Web Connector service and the dashboard. A read
    that stops after the first row (``fetchone``) leaves the result pending, and DuckDB 2.0 then refuses the next
    ``con.sql`` on that connection ("connection has an unfinished result") -- the dashboard's next query."""
    from qbrecon.qbwc.qwc import workspace_guids

    svc, _ = make(store)
    ticket = login(svc)[0]
    assert svc.send_request_xml(ticket, "", r"C:\Co.qbw", "US", 13, 0)
    reads = {
        "session by ticket": lambda: svc.sessions.get(ticket),
        "live session": svc.sessions.live,
        "message by requestID": lambda: svc.sessions.message_with_request("a0"),
        "getLastError": lambda: svc.get_last_error(ticket),
        "bound company file": lambda: svc._bind_company_file(svc.sessions.get(ticket), r"C:\Co.qbw"),
        ".qwc OwnerID/FileID": lambda: workspace_guids(store),
    }
    for name, read in reads.items():
        assert read() is not None, name
        assert store.con.sql("SELECT 42").fetchall() == [(42,)], name
