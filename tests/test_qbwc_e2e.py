"""The whole loop over HTTP on loopback: the real ERP queue and export ledger, the service in a server thread,
the Web Connector simulator (zeep through the WSDL) and the simulated QuickBooks company file.

Fault scenarios end the same way: after more sessions every item is Synced (or Failed to Export with a reason),
none is duplicated in QuickBooks, none is lost from the queue.
"""

from __future__ import annotations

import pytest
from qbwc_doubles import queue_companies

from qbrecon import Workspace
from qbrecon.erp.settings import SettingsMixin
from qbrecon.qbwc.connector import BINDING, ConnectorFaults, WebConnectorClient, wsdl_path
from qbrecon.qbwc.service import ServiceConfig
from qbrecon.server import start_server

export = pytest.importorskip(
    "qbrecon.erp.export", reason="the export ledger's orchestration is not there yet"
)
simulator = pytest.importorskip("qbrecon.qbwc.simulator")

PASSWORD = "e2e password"
N = 12


@pytest.fixture()
def world(tmp_path):
    path = tmp_path / "ws.duckdb"
    ws = Workspace(path)
    SettingsMixin.set_service_credentials(ws, "qbwc", PASSWORD)
    queue_companies(ws, N)
    company = simulator.QuickBooksCompany(tmp_path / "qb.duckdb")
    yield ws, company, path
    company.close()
    ws.close()


def config(ws, **kw) -> ServiceConfig:
    return ServiceConfig.from_workspace(ws, max_requests=3, **kw)


def sessions_until_idle(url: str, company, limit: int = 30) -> list:
    client = WebConnectorClient(url, "qbwc", PASSWORD, company)
    reports = []
    for _ in range(limit):
        reports.append(client.run_once())
        if reports[-1].auth_status == "none":
            return reports
    raise AssertionError(f"still work to do after {limit} sessions: {reports[-3:]}")


def assert_settled(ws, company) -> None:
    items = ws.store.execute(
        "SELECT procore_id, status, quickbooks_id, last_error_message FROM erp_items WHERE item_type = 'company'"
    ).fetchall()
    assert len(items) == N, "an item was lost from the queue"
    statuses = {status for _, status, _, _ in items}
    assert statuses <= {"synced", "failed_to_export"}, statuses
    for pid, status, _qb_id, error in items:
        if status == "failed_to_export":
            assert error, f"company {pid} failed without a reason"
    vendors = company.records("vendor")
    names = list(vendors["name"])
    assert len(names) == len(set(names)), "a vendor was added twice to QuickBooks"
    synced = {qb_id for _, status, qb_id, _ in items if status == "synced"}
    assert synced <= set(vendors["id"])
    assert len(vendors) == len(synced)


def test_end_to_end_all_synced_once(world):
    ws, company, _ = world
    with start_server(ws, port=0, config=config(ws)) as srv:
        reports = sessions_until_idle(srv.url, company)
    first = reports[0]
    assert first.ok and first.messages == 4 and first.requests == N and first.percents[-1] == 100
    assert ws.store.execute("SELECT count(*) FROM erp_items WHERE status = 'synced'").fetchone()[0] == N
    assert_settled(ws, company)
    assert company.counts()["vendor"] == N


@pytest.mark.parametrize(
    "faults",
    [
        ConnectorFaults(stop_after_send=2, process_before_stop=True),
        ConnectorFaults(stop_after_send=1, process_before_stop=False),
        ConnectorFaults(drop_responses={1}),
        ConnectorFaults(duplicate_responses={1, 2}),
        ConnectorFaults(reorder={1}),
    ],
    ids=["killed-after-quickbooks", "killed-before-quickbooks", "dropped", "duplicated", "reordered"],
)
def test_connector_faults_never_duplicate_or_lose(world, faults):
    ws, company, _ = world
    with start_server(ws, port=0, config=config(ws)) as srv:
        faulty = WebConnectorClient(srv.url, "qbwc", PASSWORD, company, faults=faults)
        faulty.run_once()
        sessions_until_idle(srv.url, company)
    assert_settled(ws, company)


def test_service_restart_between_send_and_receive(world):
    ws, company, path = world
    ws.close()  # the server process owns the workspace
    first = start_server(path, port=0, config=ServiceConfig(max_requests=3))
    client = WebConnectorClient(first.url, "qbwc", PASSWORD, company)
    svc = client.service
    ticket = svc.authenticate(strUserName="qbwc", strPassword=PASSWORD)[0]
    request = svc.sendRequestXML(
        ticket=ticket,
        strHCPResponse="",
        strCompanyFileName=str(company.path),
        qbXMLCountry="US",
        qbXMLMajorVers=13,
        qbXMLMinorVers=0,
    )
    response = company.process(request).decode()
    first.stop()
    second = start_server(path, port=0, config=ServiceConfig(max_requests=3))
    try:
        import zeep

        svc2 = zeep.Client(wsdl_path()).create_service(BINDING, second.url)
        assert 0 <= svc2.receiveResponseXML(ticket=ticket, response=response, hresult="", message="") < 100
        svc2.closeConnection(ticket=ticket)
        sessions_until_idle(second.url, company)
        assert_settled(second.workspace, company)
    finally:
        second.stop()


def test_whole_message_failure_keeps_the_items(world):
    ws, company, _ = world
    real = company.process
    calls = {"n": 0}

    def process_failing_first(request):
        calls["n"] += 1
        if calls["n"] == 1:
            raise simulator.RequestProcessorError(
                "0x80040400", "QuickBooks found an error when parsing the provided XML text stream."
            )
        return real(request)

    company.process = process_failing_first
    with start_server(ws, port=0, config=config(ws)) as srv:
        report = WebConnectorClient(srv.url, "qbwc", PASSWORD, company).run_once()
        assert report.percents == [-1] and "0x80040400" in report.last_error
        sessions_until_idle(srv.url, company)
    assert_settled(ws, company)


def test_quickbooks_3180_faults_are_retried(world, tmp_path):
    ws, _, _ = world
    with simulator.QuickBooksCompany(tmp_path / "busy.duckdb", seed=3, fault_rate_3180=0.3) as company:
        with start_server(ws, port=0, config=config(ws)) as srv:
            sessions_until_idle(srv.url, company)
        assert_settled(ws, company)
