"""The bounded load test, short: dashboard sessions and Web Connector clients at once against the one-process
server on loopback (``benchmarks/bench_server_load.py``; the 60-second run's figures are in BENCHMARKS.md).

Before the store gave each thread its own cursor, this traffic produced HTTP 500s and reads of another thread's
rows within seconds."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_dashboard_and_web_connector_load_without_errors():
    from benchmarks.bench_server_load import run

    result = run(seconds=8, dashboard_sessions=4, qbwc_clients=8, items=600)
    assert result["errors"] == 0, result["first_errors"]
    assert result["counts"].get("message sets", 0) >= 1 and result["items_synced"] >= 1
    assert result["counts"].get("dashboard rounds", 0) >= 4
    assert result["soap_calls"] > 8 * 3
