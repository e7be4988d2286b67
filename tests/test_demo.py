"""The README's main job: `qbrecon demo` runs the whole flow and ends with only the planted differences."""

from __future__ import annotations

import json
import re

import pytest

from qbrecon import Workspace
from qbrecon.demo import run_demo


@pytest.mark.slow
def test_demo_runs_the_whole_flow(tmp_path):
    lines: list[str] = []
    result = run_demo(tmp_path / "demo.duckdb", tmp_path / "out", projects=4, seed=7, echo=lines.append)
    text = "\n".join(lines)
    assert "Traceback" not in text
    assert result.report_html.exists() and result.report_xlsx.exists()
    assert set(result.sign_in) == {"admin", "approver", "read_only"}

    key = json.loads((tmp_path / "out" / "fixtures" / "answer_key.json").read_text())
    with Workspace(result.workspace) as ws:
        # items the demo itself exported (e.g. the approved CCO the fixtures left unexported) are fixed by it
        exported = set(
            ws.sql(
                "SELECT item_type, procore_id FROM erp_items WHERE status = 'synced' AND attempts > 0"
            ).fetchall()
        )
        # "Automatically Update Vendors when Refreshing" (on by default) takes QuickBooks' new vendor name
        auto_update = bool(ws.settings["vendor_auto_update"])
        # companies whose QuickBooks vendor was renamed take the new name on refresh (vendor_auto_update)
        renamed = "SELECT item_type, procore_id FROM erp_audit WHERE action = 'vendor_auto_update'"
        exported |= set(ws.sql(renamed).fetchall())
    planted = [d for d in key["discrepancies"] if d.get("expect_difference", True)]
    resolved = {(d["pair"], d["reason"]) for d in planted if (d["pair"], d["procore_id"]) in exported}
    if auto_update:
        resolved.add(("company", "vendor_renamed"))
    assert ("change_order", "cco_not_exported") in resolved
    assert ("company", "vendor_renamed") in resolved
    assert "Procore company record(s) updated from their QuickBooks vendor" in text
    expected = {(d["pair"], d["reason"]) for d in planted} - resolved
    found = set(
        map(tuple, result.reconciliation.differences[["pair", "reason"]].drop_duplicates().to_numpy())
    )
    # Line-level findings share their invoice's reason; nothing beyond the planted kinds is reported.
    assert found == expected
    # the demo's figures tie out: queue in its own column, summary = findings = headline = HTML = Excel
    from test_reconcile import assert_reports_tie_out, assert_ties_out

    rec = result.reconciliation
    assert_ties_out(rec)
    assert_reports_tie_out(rec, tmp_path)
    s = rec.summary.set_index("pair")
    assert s.loc["job_cost", "in_queue_total"] > 0 and s.loc["job_cost", "delta"] == 0
    assert s.loc["invoice", "in_queue_total"] > 0

    with Workspace(result.workspace) as ws:
        statuses = dict(ws.sql("SELECT status, count(*) FROM erp_items GROUP BY 1").fetchall())
        assert statuses.get("exporting", 0) == 0, "every accepted item ended Synced or Failed"
        assert int(result.queue_counts["Synced"].sum()) == statuses["synced"]  # the closing counts, labelled
        failed = ws.frame("erp_items", where="status = 'failed_to_export'")
        # our exports always carry QuickBooks' message
        ours = failed[failed["attempts"] > 0]
        assert ours["last_error_message"].notna().all()
        # the invoice Procore marked failed went to QuickBooks again: its failure is QuickBooks' own answer
        assert len(failed) >= 1 and len(ours) == len(failed)
        assert ours["last_error_code"].notna().all()
    assert re.search(r"failed: invoice \d+ after \d+ attempt\(s\): \d+: \S", text)
    with Workspace(result.workspace) as ws:
        sent = ws.sql("SELECT count(*) FROM qbxml_messages WHERE direction = 'request'").fetchall()[0][0]
        assert sent > 0
        assert ws.store.count("outbox") >= 1  # the rejection e-mail is queued

    # Rerunning the demo replaces its own workspace; a non-demo file is never overwritten.
    run_demo(tmp_path / "demo.duckdb", tmp_path / "out", projects=3, seed=7, echo=lambda _s: None)
    other = tmp_path / "real.duckdb"
    Workspace(other).close()
    from qbrecon.errors import QbreconError

    with pytest.raises(QbreconError, match="not a demo workspace"):
        run_demo(other, tmp_path / "out2", projects=3, seed=7, echo=lambda _s: None)


@pytest.mark.slow
def test_demo_against_the_procore_api_narrates_pull_and_push(tmp_path):
    from click.testing import CliRunner

    from qbrecon.cli import main

    args = ["demo", "--workspace", str(tmp_path / "demo.duckdb"), "--out", str(tmp_path / "out")]
    run = CliRunner().invoke(main, [*args, "--projects", "3", "--seed", "7", "--procore-api"])
    text = run.output
    assert run.exit_code == 0 and "Traceback" not in text, text[-3000:]
    assert "Pull the Procore company through Procore's REST API" in text
    assert "rate limited (429)" in text and "HTTP 500; retrying" in text and "access token expired" in text
    assert "Push the links back to Procore" in text
    assert "again: push to Procore: every link is already in Procore; nothing to send" in text
    assert "every link is in Procore" in text
    pages = list((tmp_path / "out" / "procore-pull").rglob("page_*.json"))
    assert pages and all("request" in json.loads(p.read_text()) for p in pages[:5])
    with Workspace(tmp_path / "demo.duckdb") as ws:
        accepted = ws.store.scalar("SELECT count(*) FROM procore_push_log WHERE outcome = 'synced'")
        assert accepted > 0
        assert "client_secret" not in text and "access_token" not in text and "local-secret" not in text
