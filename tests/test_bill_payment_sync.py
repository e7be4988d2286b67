"""Sync QuickBooks Desktop bill payments with Payments Issued in each Web Connector session; U.S. editions only."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import copy_workspace

from qbrecon.errors import InputError
from qbrecon.qbwc.service import QBWCService, ServiceConfig
from qbrecon.qbwc.simulator import QuickBooksCompany

SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "small"
ADMIN = "maria.alvarez@example-builders.com"
PASSWORD = "bill payments password"


@pytest.fixture()
def world(tmp_path, small_loaded_file):
    ws = copy_workspace(small_loaded_file, tmp_path)  # fixtures/small loaded on both sides
    company = QuickBooksCompany(validate=False)
    company.seed_from(SMALL / "quickbooks")
    ws.set_service_credentials("qbwc", PASSWORD)
    yield ws, company
    company.close()
    ws.close()


def web_connector_session(ws, company, country: str = "US") -> list[str]:
    """One scheduled Web Connector run: authenticate, then send/receive until the service has nothing."""
    svc = QBWCService(ws, ServiceConfig.from_workspace(ws))
    answer = svc.authenticate("qbwc", PASSWORD, "10.0.0.9")
    ticket, what = answer[0], answer[1]
    sent = []
    if what == "none":
        svc.close_connection(ticket)
        return sent
    for _ in range(200):
        request = svc.send_request_xml(ticket, "", "", country, 13, 0)
        if not request:
            break
        sent.append(request)
        if svc.receive_response_xml(ticket, company.process(request).decode(), "", "") >= 100:
            break
    svc.close_connection(ticket)
    return sent


def payments(ws) -> int:
    return int(ws.store.scalar("SELECT count(*) FROM payments_issued WHERE origin_id IS NOT NULL"))


def test_each_session_syncs_bill_payments_when_enabled(world):
    ws, company = world
    ws.store.execute("DELETE FROM payments_issued")  # Procore has heard of no payment yet
    assert web_connector_session(ws, company) == []  # off: the Web Connector finds nothing to do
    assert payments(ws) == 0
    ws.update_settings(by=ADMIN, sync_bill_payments=True)
    sent = web_connector_session(ws, company)
    assert any("<BillPaymentCheckQueryRq" in r for r in sent)
    paid = int(
        ws.store.scalar(
            "SELECT count(*) FROM bill_payment_lines l JOIN erp_items e ON e.item_type = "
            "'invoice' AND e.status = 'synced' AND e.quickbooks_id = l.\"AppliedTxnID\""
        )
    )
    assert payments(ws) == paid > 0
    assert set(ws.store.frame("SELECT actor_name FROM erp_audit WHERE action = 'import'")["actor_name"]) == {
        "Maria Alvarez"
    }
    sent = web_connector_session(ws, company)  # the next run syncs again (incrementally); nothing twice
    assert any("<BillQueryRq" in r for r in sent) and payments(ws) == paid


def test_canadian_edition_is_refused(world):
    ws, company = world
    ws.update_settings(by=ADMIN, sync_bill_payments=True)
    ws.store.execute("DELETE FROM payments_issued")
    sent = web_connector_session(ws, company, country="CA")
    assert not any("BillPayment" in r for r in sent) and payments(ws) == 0  # not for the Canada edition
    ws.update_settings(by=ADMIN, sync_bill_payments=False)
    with pytest.raises(InputError, match="U.S. edition only"):
        ws.update_settings(by=ADMIN, sync_bill_payments=True)
