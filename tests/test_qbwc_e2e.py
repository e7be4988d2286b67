"""The whole loop over HTTP on loopback: the real ERP queue and export ledger, the service in a server thread,
the Web Connector simulator (zeep through the WSDL) and the simulated QuickBooks company file.

Fault scenarios end the same way: after more sessions every item is Synced (or Failed to Export with a reason),
none is duplicated in QuickBooks, none is lost from the queue.
"""

from __future__ import annotations

import pytest
from qbwc_doubles import queue_companies

from qbrecon import Workspace
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
    ws.set_service_credentials("qbwc", PASSWORD)
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


def test_missing_setting_is_explained_to_the_web_connector_and_nothing_is_half_written(world):
    """Accepted cost codes become new service items, which need the expense account setting. Without it the
    session sends nothing: sendRequestXML answers "" (not a SOAP fault) and getLastError explains the setting;
    the connection status records it; nothing of the refused batch is written. Once set, the next run exports."""

    ws, company, _ = world
    rows = [
        dict(id=700 + i, cost_code_level="standard", code=f"{i}00", full_code=f"0{i}-{i}00", name=f"Code {i}")
        for i in range(1, 4)
    ]
    ws.store.put_rows("cost_codes", rows)
    ws.refresh_queue()
    codes = [("cost_code", r["id"]) for r in rows]
    ws.send(codes, by=1)
    ws.accept(codes, by=1)

    def snapshot() -> tuple:
        return (
            ws.store.count("export_messages"),
            ws.store.count("export_ledger"),
            ws.store.count("qbxml_messages"),
            ws.store.scalar("SELECT count(*) FROM erp_items WHERE status = 'exporting'"),
        )

    before = snapshot()
    with start_server(ws, port=0, config=config(ws)) as srv:
        refused = WebConnectorClient(srv.url, "qbwc", PASSWORD, company).run_once()
        assert refused.auth_status == "" and refused.messages == 0 and refused.percents == []
        assert not refused.last_error.startswith("SOAP fault"), refused.last_error
        assert refused.last_error.startswith(
            "Nothing was sent to QuickBooks: setting 'service_item_expense_account'"
        )
        assert "3 accepted cost code(s)" in refused.last_error
        assert snapshot() == before == (0, 0, 0, N + 3)
        status = ws.settings
        assert status["connection_status"] == "connected"
        assert "service_item_expense_account" in status["last_error"]
        assert company.counts()["vendor"] == company.counts()["item"] == 0

        ws.update_settings(by=1, service_item_expense_account="Job Expenses")
        done = sessions_until_idle(srv.url, company)
    assert done[0].ok and done[0].requests == N + 3, done[0]
    assert (
        company.counts()["item"] == 3
        and ws.store.scalar("SELECT count(*) FROM erp_items WHERE status = 'synced'") == N + 3
    )
    assert_settled(ws, company)


def test_an_error_while_building_rolls_back_what_the_step_wrote(world, monkeypatch):
    """The service catches a QbreconError outside the transaction that built the batch: whatever the failed step
    wrote before raising is rolled back, and the error is recorded in a fresh transaction."""
    from qbrecon.errors import SettingMissing

    ws, company, _ = world
    real = ws.export_service.next_export_batch  # the export job calls the service

    def half_written(*args, **kwargs):
        ws.store.execute("INSERT INTO qbrecon_meta VALUES ('half written', 'by the failed step')")
        real(*args, **kwargs)  # a real batch is built and archived too, then the step fails
        raise SettingMissing("setting 'x' is not set")

    monkeypatch.setattr(ws.export_service, "next_export_batch", half_written)
    with start_server(ws, port=0, config=config(ws)) as srv:
        report = WebConnectorClient(srv.url, "qbwc", PASSWORD, company).run_once()
    assert report.messages == 0
    assert report.last_error == "Nothing was sent to QuickBooks: setting 'x' is not set"
    assert ws.store.scalar("SELECT count(*) FROM qbrecon_meta WHERE key = 'half written'") == 0
    assert ws.store.count("export_messages") == ws.store.count("qbxml_messages") == 0
    session = ws.store.execute("SELECT last_error FROM qbwc_sessions").fetchall()
    assert session == [("Nothing was sent to QuickBooks: setting 'x' is not set",)]
