"""Throughput of the whole Web Connector loop: accepted items -> qbXML message sets -> SOAP over loopback HTTP
(zeep through the WSDL) -> simulated QuickBooks -> responses applied -> Synced.

    python benchmarks/bench_qbwc.py 10000        # prints the dict run() returns
    from benchmarks.bench_qbwc import run; run(10_000)

Items are Procore companies (VendorAdd), accepted in one batch; the clock runs from the first authenticate to
the last closeConnection, so it measures the service, the ledger, HTTP/SOAP and the simulator together.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

PASSWORD = "benchmark password"


def _put(ws, table: str, rows: list[dict]) -> None:
    from qbrecon.schemas import TABLES

    spec = TABLES[table]
    schema = pa.schema([(c.name, c.arrow_type) for c in spec.columns])
    ws.store.upsert(table, pa.Table.from_pylist(rows, schema=schema), spec.key)


def queue_companies(ws, n: int) -> None:
    """``n`` Procore companies sent and accepted for export (an admin who may push to accounting decides)."""
    _put(
        ws,
        "users",
        [
            dict(
                id=1,
                name="Bench Admin",
                login="bench",
                email_address="bench@example.com",
                is_active=True,
                erp_integrations_permission="admin",
                can_push_to_accounting=True,
            )
        ],
    )
    _put(
        ws,
        "companies",
        [
            dict(id=10_000 + i, name=f"Bench Vendor {i:06d}", is_active=True, created_by_id=1)
            for i in range(n)
        ],
    )
    ws.refresh_queue()
    ids = [("company", 10_000 + i) for i in range(n)]
    ws.send(ids, by=1)
    ws.accept(ids, by=1)


def run(n: int = 10_000, max_requests: int = 100) -> dict:
    """Export ``n`` items through the full loop; returns counts, seconds and rates."""
    from qbrecon import Workspace
    from qbrecon.erp.settings import SettingsMixin
    from qbrecon.qbwc.connector import WebConnectorClient
    from qbrecon.qbwc.service import ServiceConfig
    from qbrecon.qbwc.simulator import QuickBooksCompany
    from qbrecon.server import start_server

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "bench.duckdb")
        SettingsMixin.set_service_credentials(ws, "qbwc", PASSWORD)
        t0 = time.perf_counter()
        queue_companies(ws, n)
        setup = time.perf_counter() - t0
        cfg = ServiceConfig.from_workspace(ws, max_requests=max_requests, max_messages_per_session=10**6)
        with (
            start_server(ws, port=0, config=cfg) as srv,
            QuickBooksCompany(Path(tmp) / "qb.duckdb") as company,
        ):
            client = WebConnectorClient(srv.url, "qbwc", PASSWORD, company)
            messages = requests = sessions = 0
            t1 = time.perf_counter()
            while sessions < 1000:
                report = client.run_once()
                sessions += 1
                messages += report.messages
                requests += report.requests
                if report.auth_status == "none" or report.last_error and not report.messages:
                    break
            seconds = time.perf_counter() - t1
            in_quickbooks = company.counts().get("vendor", 0)
        synced = ws.store.execute(
            "SELECT count(*) FROM erp_items WHERE item_type = 'company' AND status = 'synced'"
        ).fetchone()[0]
        ws.close()
    return {
        "items": n,
        "synced": int(synced),
        "in_quickbooks": int(in_quickbooks),
        "sessions": sessions,
        "message_sets": messages,
        "requests": requests,
        "requests_per_message": max_requests,
        "setup_seconds": round(setup, 2),
        "seconds": round(seconds, 2),
        "message_sets_per_second": round(messages / seconds, 2) if seconds else None,
        "items_per_second": round(requests / seconds, 1) if seconds else None,
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000), indent=2))
