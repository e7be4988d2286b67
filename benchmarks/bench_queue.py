"""ERP queue benchmark: accepting N queued items as one batch vs the same decisions one by one.

``python benchmarks/bench_queue.py 100000`` prints a JSON result. One-by-one (one transaction per item) is
timed on ``sample`` items and extrapolated to N, since 100,000 separate transactions take tens of minutes;
``sample=n`` times all of them.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from qbrecon import Workspace
from qbrecon.schemas import TABLES


def _workspace(path: Path, n: int) -> Workspace:
    """A workspace with one approver, one sender and ``n`` companies sent to ERP (Ready to Export)."""
    ws = Workspace(path)
    ws.store.put_rows(
        "users",
        [
            dict(
                id=1,
                name="Ann Approver",
                login="ann",
                is_active=True,
                erp_integrations_permission="admin",
                can_push_to_accounting=True,
            ),
            dict(
                id=2,
                name="Pat Sender",
                login="pat",
                is_active=True,
                erp_integrations_permission="none",
                can_push_to_accounting=False,
            ),
        ],
    )
    ws.store.put_rows("user_tool_permissions", [dict(user_id=2, tool="directory", level="admin")])  # may send
    companies = TABLES["companies"]
    ws.store.upsert(
        "companies",
        pa.table(
            {
                "id": pa.array(range(1, n + 1), pa.int64()),
                "name": pa.array([f"Vendor {i:06d}" for i in range(1, n + 1)], pa.string()),
                "is_active": pa.array([True] * n, pa.bool_()),
            }
        ),
        companies.key,
    )
    ws.refresh_queue()
    ws.send("item_type = 'company'", by="pat")
    return ws


def run(n: int = 100_000, sample: int | None = None) -> dict:
    """Time one batch accept of ``n`` items and one-by-one accepts (measured on ``sample`` items)."""
    sample = min(n, 300) if sample is None else min(sample, n)
    with tempfile.TemporaryDirectory() as tmp:
        ws = _workspace(Path(tmp) / "batch.duckdb", n)
        t0 = time.perf_counter()
        result = ws.accept("item_type = 'company' AND status = 'ready_to_export'", by="ann")
        batch_s = time.perf_counter() - t0
        assert result.count == n, result
        audited = ws.store.execute("SELECT count(*) FROM erp_audit WHERE action = 'accept'").fetchall()[0][0]
        assert audited == n
        ws.close()

        ws = _workspace(Path(tmp) / "single.duckdb", sample)
        t0 = time.perf_counter()
        for pid in range(1, sample + 1):
            ws.accept([pid], item_type="company", by="ann")  # one transaction per item
        single_s = time.perf_counter() - t0
        ws.close()
    per_item = single_s / sample
    one_by_one_n = per_item * n
    return {
        "n": n,
        "batch_seconds": round(batch_s, 3),
        "batch_items_per_second": round(n / batch_s),
        "one_by_one_sample": sample,
        "one_by_one_sample_seconds": round(single_s, 3),
        "one_by_one_seconds_per_item": round(per_item, 5),
        "one_by_one_seconds_for_n": round(one_by_one_n, 1),
        "one_by_one_measured_fully": sample == n,
        "speedup": round(one_by_one_n / batch_s, 1),
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    sample = int(sys.argv[2]) if len(sys.argv) > 2 else None
    print(json.dumps(run(n, sample), indent=2))
