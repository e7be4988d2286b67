"""The generated fixtures (3 projects, seed 1) exported through the Web Connector service over HTTP to the
simulated QuickBooks company: every accepted item settles, QuickBooks holds exactly one record per item.

The fixture world (fixtures loaded, everything acceptable accepted, the company seeded from the fixtures'
QuickBooks side) and the exactly-once check are the export ledger's own (``test_export_ledger.py``), so the
in-process export and the Web Connector path are held to the same standard.
"""

from __future__ import annotations

import pytest

pytest.importorskip("qbrecon.fixtures")
from test_export_ledger import assert_exactly_once, world  # noqa: E402,F401  (fixture)

from qbrecon.qbwc.connector import WebConnectorClient  # noqa: E402
from qbrecon.qbwc.service import ServiceConfig  # noqa: E402
from qbrecon.server import start_server  # noqa: E402

PASSWORD = "fixtures password"


@pytest.mark.slow
def test_fixtures_through_the_web_connector(world):  # noqa: F811
    ws, company, _, before = world
    ws.set_service_credentials("qbwc", PASSWORD)
    exporting = ws.store.execute("SELECT count(*) FROM erp_items WHERE status = 'exporting'").fetchone()[0]
    with start_server(ws, port=0, config=ServiceConfig.from_workspace(ws, max_requests=5)) as srv:
        client = WebConnectorClient(srv.url, "qbwc", PASSWORD, company)
        reports = [client.run_once()]
        while reports[-1].auth_status != "none" and len(reports) < 20:
            reports.append(client.run_once())
    assert reports[-1].auth_status == "none", reports[-3:]
    assert sum(r.requests for r in reports) >= exporting
    assert_exactly_once(ws, company, before)
    statuses = dict(ws.store.execute("SELECT status, count(*) FROM erp_items GROUP BY ALL").fetchall())
    assert statuses.get("synced", 0) >= exporting - statuses.get("failed_to_export", 0)
