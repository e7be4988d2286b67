"""The benchmark harness at small scale: every step runs in its own process and produces numbers.

This keeps ``benchmarks/run.py`` from rotting; the figures themselves are only meaningful at ``--scale full``
(BENCHMARKS.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


@pytest.mark.slow
@pytest.mark.timeout(1800)  # every contender starts a process of its own; minutes on a loaded 2-core machine
def test_small_scale_run_produces_every_figure(tmp_path):
    from benchmarks.run import TARGETS, main

    out = tmp_path / "latest.json"
    rc = main(["--scale", "small", "--out", str(out), "--data", str(tmp_path / "data")])
    results = json.loads(out.read_text())
    steps = results["steps"]
    errors = {
        k: v.get("traceback") or v.get("stderr") or v["error"] for k, v in steps.items() if "error" in v
    }
    assert not errors, errors
    assert rc == 0
    assert set(steps) == set(TARGETS)
    for name, step in steps.items():
        assert step["step_seconds"] > 0 and step["process_peak_rss_mb"] > 0, name

    parse = steps["qbxml_parse"]
    assert parse["rows"]["bill_lines"] == 5 * parse["rows"]["bills"] > 0  # load, parse and xmltodict agree
    for who in ("iterparse_floor", "qbrecon_load", "qbrecon_parse", "xmltodict_pandas"):
        assert parse[who]["mb_per_s"] > 0 and parse[who]["peak_rss_mb"] > 0
    assert parse["load_vs_floor"] > 0 and parse["load_vs_xmltodict"] > 0

    load = steps["procore_load"]
    assert load["rows"]["invoice_lines"] > 1_000  # streaming and in-memory loads stored the same rows
    assert load["stream"]["peak_rss_mb"] > 0 and load["in_memory"]["peak_rss_mb"] > 0 and load["speedup"] > 0

    build = steps["qbxml_build"]
    assert build["requests"] == 2_000 and build["message_sets"] == 20
    assert build["generation_vs_lxml"] > 0 and build["serialisation_vs_lxml"] > 0

    rec = steps["reconcile"]
    assert rec["same_differences"] is True  # qbrecon, datacompy and the floor found the same lines
    assert rec["line_differences"] > 0
    assert rec["speedup_vs_datacompy"] > 0 and rec["slowdown_vs_floor"] > 0

    whole = steps["reconcile_whole"]
    assert whole["same_findings"] is True  # qbrecon, the bare DuckDB query and datacompy agree
    assert whole["findings"]["header"] > 0 and whole["findings"]["line"] > 0
    assert whole["vs_bare"] > 0 and whole["speedup_vs_datacompy"] > 0

    growth = steps["growth"]
    assert set(growth["points"]) == {"load", "decide", "build", "reconcile_lines", "reconcile_invoices"}
    assert all(len(v) == 2 for v in growth["points"].values())
    assert all(e is not None for e in growth["exponents"].values())

    queue = steps["queue"]
    assert queue["n"] == 2_000 and queue["speedup"] > 1

    qbwc = steps["qbwc"]
    assert qbwc["synced"] == qbwc["items"] == 200
    assert qbwc["items_per_second"] > 0
    assert 0 < sum(qbwc["shares"].values()) <= 1.01
    # the same split in CPU seconds (steadier than wall time on a shared machine): the ledger calls' thread
    assert 0 < qbwc["cpu_seconds"]["export_ledger"] < qbwc["cpu_seconds"]["process"]
    assert 0 < qbwc["cpu_shares"]["export_ledger"] < 1
    assert qbwc["profile"]["ledger_top"]
    assert qbwc["response_parses"]["message_sets"] > 0
    assert qbwc["response_parses"]["per_response"] == 1  # each response parsed once on the apply path
    # the ledger's DuckDB statements are counted per message set (its cost is statements, not rows)
    # 50.5 before issue 17's third pass, 28.5 before the fourth (perf17): an answer that only adds records runs no
    # UPDATE / INSERT OR REPLACE, and the settle / check reads run only when something waits; 23.5 before ledger17:
    # the batch is built as sent (no mark_batch_sent statements), the links' fingerprints come with the answer's check;
    # 19.5 before ledger18: the settings come with the per-set flags, the rows to build with the ready items;
    # 16.5 before ledger19: an answer's archive copy is one row written (the request's status is read from it)
    assert 0 < qbwc["ledger_statements"]["per_message_set"] <= 16

    md = out.with_suffix(".md").read_text()
    assert "| reconcile |" in md and "ERROR" not in md


def test_growth_exponent():
    from benchmarks.run import growth_exponent

    assert growth_exponent([(10, 1.0), (100, 10.0), (1000, 100.0)]) == 1.0
    assert growth_exponent([(10, 1.0), (100, 100.0)]) == 2.0
    assert growth_exponent([(10, 1.0)]) is None
