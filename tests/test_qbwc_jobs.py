"""The Web Connector's work as jobs (``qbrecon.erp.jobs``): the service runs the export job, then the refresh
job, in one session over HTTP, and a job whose message QuickBooks cannot process reaches the user through
getLastError without undoing what the other job did."""

from __future__ import annotations

import pytest
from qbwc_doubles import queue_companies

from qbrecon import Workspace
from qbrecon.erp.export import ExportJob
from qbrecon.erp.jobs import WebConnectorJob, web_connector_jobs
from qbrecon.erp.refresh import RefreshJob
from qbrecon.qbwc.connector import WebConnectorClient
from qbrecon.qbwc.service import QBWCService, ServiceConfig
from qbrecon.qbwc.simulator import QuickBooksCompany, RequestProcessorError
from qbrecon.server import start_server

pytestmark = pytest.mark.slow  # a server on loopback and the Web Connector client through the WSDL

PASSWORD = "jobs password"
N = 7


@pytest.fixture()
def world(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.set_service_credentials("qbwc", PASSWORD)
    queue_companies(ws, N)
    company = QuickBooksCompany(tmp_path / "qb.duckdb")
    yield ws, company
    company.close()
    ws.close()


class BusyForQueries:
    """The company file, except that QuickBooks refuses every query message as a whole (as when it is busy):
    the Web Connector then reports the HRESULT instead of a response."""

    def __init__(self, company: QuickBooksCompany):
        self.company = company

    def process(self, request):  # noqa: ANN001, ANN201
        text = request.decode() if isinstance(request, bytes) else request
        if "QueryRq" in text:
            raise RequestProcessorError("0x80040408", "QuickBooks is busy (a modal dialog is open)")
        return self.company.process(request)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.company, name)


def session_messages(ws: Workspace) -> list[tuple[str, str | None]]:
    """(job, outcome) of every message the Web Connector sessions sent, in the order they were sent."""
    return [
        (job, outcome)
        for job, outcome in ws.store.execute(
            """SELECT CASE WHEN r.message_id IS NOT NULL THEN 'refresh'
                           WHEN e.message_id IS NOT NULL THEN 'export' END, s.outcome
               FROM qbwc_session_messages s LEFT JOIN refresh_messages r USING (message_id)
               LEFT JOIN export_messages e USING (message_id) ORDER BY s.sent_at, s.message_id"""
        ).fetchall()
    ]


def run_once(ws: Workspace, company) -> object:  # noqa: ANN001
    cfg = ServiceConfig.from_workspace(ws, max_requests=3, refresh_max_returned=50)
    with start_server(ws, port=0, config=cfg) as srv:
        return WebConnectorClient(srv.url, "qbwc", PASSWORD, company).run_once()


def test_the_service_runs_the_export_job_then_the_refresh_job(world):
    ws, company = world
    service = QBWCService(ws, ServiceConfig.from_workspace(ws, max_requests=3))
    assert [job.name for job in service.jobs] == ["export", "refresh"]
    assert all(isinstance(job, WebConnectorJob) for job in service.jobs)
    ws.request_refresh("vendors", full=True)
    report = run_once(ws, company)
    assert report.ok, report.last_error
    # three export message sets (7 vendors, 3 a set), then the refresh page, all in the one session
    assert session_messages(ws) == [("export", "applied")] * 3 + [("refresh", "applied")]
    assert report.percents[-1] == 100
    synced = ws.store.execute("SELECT count(*) FROM erp_items WHERE status = 'synced'").fetchone()[0]
    assert synced == N
    # the refresh ran after the exports: it read back the vendors they added
    job = ws.refresh_jobs().set_index("query").loc["VendorQuery"]
    assert (job["state"], int(job["rows_read"])) == ("done", N)


def test_a_failing_job_reaches_get_last_error_and_the_other_job_keeps_its_work(world):
    ws, company = world
    ws.request_refresh("vendors", full=True)
    report = run_once(ws, BusyForQueries(company))
    # the export job's work is done and kept; the refresh job's page failed as a whole
    assert session_messages(ws) == [("export", "applied")] * 3 + [("refresh", "failed")]
    assert ws.store.execute("SELECT count(*) FROM erp_items WHERE status = 'synced'").fetchone()[0] == N
    assert "could not process message" in report.last_error
    assert "0x80040408" in report.last_error and "QuickBooks is busy" in report.last_error
    assert (
        ws.refresh_jobs().set_index("query").loc["VendorQuery", "state"] == "queued"
    )  # tried again next time
    # the next session (QuickBooks free again) finishes the refresh and has nothing to export
    report = run_once(ws, company)
    assert report.ok, report.last_error
    assert session_messages(ws)[-1] == ("refresh", "applied")
    assert ws.refresh_jobs().set_index("query").loc["VendorQuery", "state"] == "done"


def test_jobs_of_a_workspace_without_a_refresh(world):
    """Without a refresh (the protocol tests' stand-in ledger has none) a session runs the export job alone; a
    workspace's services give both, export first."""
    ws, _ = world

    jobs = web_connector_jobs(ws.export_service, max_requests=5, refresh_max_returned=10)
    assert [type(j) for j in jobs] == [ExportJob]
    both = web_connector_jobs(ws.export_service, ws.refresh_service, max_requests=5, refresh_max_returned=10)
    assert [type(j) for j in both] == [ExportJob, RefreshJob]
    assert both[0].pending() == N and both[1].pending() == 0
