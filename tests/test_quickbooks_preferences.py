"""'Inventory and Purchase Orders are Active' (seed 001), read from the Web Connector's host response: purchase
orders are refused before sending while it is off, with the reason; the edition's country is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import copy_workspace

from qbrecon.qbwc.service import QBWCService, ServiceConfig
from qbrecon.qbwc.simulator import QuickBooksCompany

SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "small"
PASSWORD = "preferences password"
PO = 786006  # an approved purchase order commitment whose vendor and project are synced


def host_response(inventory: bool, country: str = "US") -> str:
    flag = "true" if inventory else "false"
    return (
        '<?xml version="1.0"?><QBXML><QBXMLMsgsRs>'
        f'<HostQueryRs statusCode="0"><HostRet><ProductName>QuickBooks Enterprise</ProductName><Country>{country}'
        "</Country></HostRet></HostQueryRs>"
        '<PreferencesQueryRs statusCode="0"><PreferencesRet><PurchasesAndVendorsPreferences>'
        f"<IsUsingInventory>{flag}</IsUsingInventory><DaysBillsAreDue>10</DaysBillsAreDue>"
        "<IsAutomaticallyUsingDiscounts>false</IsAutomaticallyUsingDiscounts></PurchasesAndVendorsPreferences>"
        "</PreferencesRet></PreferencesQueryRs></QBXMLMsgsRs></QBXML>"
    )


@pytest.fixture()
def world(tmp_path, small_loaded_file):
    ws = copy_workspace(small_loaded_file, tmp_path)  # fixtures/small loaded on both sides
    company = QuickBooksCompany(validate=False)
    company.seed_from(SMALL / "quickbooks")
    ws.set_service_credentials("qbwc", PASSWORD)
    ws.update_settings(
        by="maria.alvarez@example-builders.com",
        invoice_retainage_item="Retainage",
        use_procore_contract_number=False,
    )  # its contract number is too long for a PO number
    ws.send([PO], item_type="commitment", by="carlos.delgado@example-builders.com")
    ws.accept(
        [PO], item_type="commitment", by="james.bennett@example-builders.com", quickbooks_number="PO-002"
    )
    yield ws, company
    company.close()
    ws.close()


def session(ws, company, hcp: str) -> list[str]:
    svc = QBWCService(ws, ServiceConfig.from_workspace(ws))
    ticket = svc.authenticate("qbwc", PASSWORD, "10.0.0.9")[0]
    sent, first = [], True
    for _ in range(50):
        request = svc.send_request_xml(ticket, hcp if first else "", "", "US", 13, 0)
        first = False
        if not request:
            break
        sent.append(request)
        if svc.receive_response_xml(ticket, company.process(request).decode(), "", "") >= 100:
            break
    svc.close_connection(ticket)
    return sent


def status(ws) -> tuple[str, str | None]:
    row = ws.queue(item_type="commitment").set_index("procore_id").loc[PO]
    return row["status"], row["last_error_message"]


def test_purchase_orders_refused_while_inventory_is_off(world):
    ws, company = world
    sent = session(ws, company, host_response(inventory=False))
    assert not any("PurchaseOrderAdd" in r for r in sent)  # never sent to QuickBooks
    state, message = status(ws)
    assert state == "failed_to_export" and "Inventory and Purchase Orders are Active" in message
    assert ws.quickbooks_preferences() == {"inventory_and_purchase_orders_active": False, "country": "US"}

    ws.retry([PO], item_type="commitment", by="james.bennett@example-builders.com")
    sent = session(ws, company, host_response(inventory=True))  # turned on in QuickBooks
    assert any("PurchaseOrderAdd" in r for r in sent) and status(ws)[0] == "synced"


def test_unknown_preferences_do_not_block(world):
    ws, company = world
    sent = session(ws, company, "")  # no host response (not the session's first call, or an older connector)
    assert any("PurchaseOrderAdd" in r for r in sent) and status(ws)[0] == "synced"
