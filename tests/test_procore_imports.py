"""Import from QuickBooks into Procore: Ready to Import, accepting (API or payload files), linking a project to
an existing job; sub jobs kept out with the reason. The API side runs against the local fake Procore."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from qbrecon import Workspace
from qbrecon.cli import main
from qbrecon.dashboard.queries import count_of, status_counts
from qbrecon.erp.imports import import_candidates, link_project_to_job
from qbrecon.errors import BatchRejected
from qbrecon.procore.client import ProcoreClient
from qbrecon.procore.fake_server import FakeProcore
from qbrecon.procore.imports import accept_imports
from qbrecon.procore.pull import pull_into
from qbrecon.procore.push import pending_links

FIXTURES = Path(__file__).parents[1] / "fixtures" / "small"
APPROVER = "maria.alvarez@example-builders.com"


def workspace(path: Path) -> Workspace:
    ws = Workspace(path)
    ws.load_procore(FIXTURES / "procore")
    ws.load_quickbooks(FIXTURES / "quickbooks")
    ws.store.put_rows(
        "vendors",
        [
            {
                "ListID": "80000A01-1730000001",
                "Name": "Cascade Rebar Supply",
                "IsActive": True,
                "EditSequence": "1730000001",
                "VendorAddress_Addr1": "12 Mill Rd",
                "VendorAddress_City": "Tacoma",
                "Phone": "253-555-0101",
            },
            {"ListID": "80000A02-1730000002", "Name": "Old Vendor", "IsActive": False, "EditSequence": "1"},
        ],
    )
    parent = ws.store.frame('SELECT "ListID", "FullName" FROM customers WHERE "Sublevel" = 0 LIMIT 1').iloc[0]
    ws.store.put_rows(
        "customers",
        [
            {
                "ListID": "80000B01-1730000003",
                "Name": "Harbor Annex",
                "FullName": f"{parent.FullName}:Harbor Annex",
                "ParentRef_ListID": parent.ListID,
                "ParentRef_FullName": parent.FullName,
                "Sublevel": 1,
                "IsActive": True,
                "EditSequence": "1730000003",
                "BillAddress_City": "Everett",
            },
            {
                "ListID": "80000B02-1730000004",
                "Name": "Phase 2",
                "FullName": f"{parent.FullName}:Harbor Annex:Phase 2",
                "ParentRef_ListID": "80000B01-1730000003",
                "Sublevel": 2,
                "IsActive": True,
                "EditSequence": "1730000004",
            },
        ],
    )
    return ws


def test_ready_to_import_lists_what_procore_lacks_and_keeps_sub_jobs_out(tmp_path):
    with workspace(tmp_path / "w.duckdb") as ws:
        ready = ws.ready_to_import()
        assert sorted(ready["list_id"]) == ["80000A01-1730000001", "80000B01-1730000003"]
        kept = import_candidates(ws).dropna(subset=["reason"])
        assert list(kept["list_id"]) == ["80000B02-1730000004"]
        assert "sub jobs are not supported for QuickBooks-integrated projects" in kept["reason"].iloc[0]
        counts = status_counts(ws)  # the dashboard's Ready to Import filter counts
        assert count_of(counts, "company", "ready_to_import") == 1
        assert count_of(counts, "project", "ready_to_import") == 1
        with pytest.raises(BatchRejected, match="sub jobs are not supported"):
            accept_imports(ws, ["80000B02-1730000004"], by=APPROVER, company_id=9, out_dir=tmp_path / "out")


def test_accepting_through_the_api_creates_linked_procore_records(tmp_path):
    with FakeProcore(FIXTURES / "procore") as fake, workspace(tmp_path / "w.duckdb") as ws:
        client = ProcoreClient(
            fake.company_id,
            client_id=fake.client_id,
            client_secret=fake.client_secret,
            base_url=fake.url,
            login_url=fake.url,
        )
        result = accept_imports(
            ws,
            ["80000A01-1730000001", "80000B01-1730000003"],
            by=APPROVER,
            company_id=fake.company_id,
            client=client,
            out_dir=tmp_path / "import",
        )
        assert len(result.created) == 2 and result.files == []
        assert ws.ready_to_import().empty
        vendor = ws.store.frame("SELECT * FROM companies WHERE origin_id = '80000A01-1730000001'").iloc[0]
        assert vendor["name"] == "Cascade Rebar Supply" and vendor["city"] == "Tacoma"
        assert json.loads(vendor["origin_data"]) == {"edit_sequence": "1730000001"}
        project = ws.store.frame("SELECT * FROM projects WHERE origin_id = '80000B01-1730000003'").iloc[0]
        assert project["name"] == "Harbor Annex" and bool(project["is_erp_integrated"])
        items = ws.store.frame(
            "SELECT item_type, status, quickbooks_id FROM erp_items WHERE status = 'imported' ORDER BY 1"
        )
        assert items.values.tolist() == [
            ["company", "imported", "80000A01-1730000001"],
            ["project", "imported", "80000B01-1730000003"],
        ]
        audit = ws.store.frame("SELECT action, from_status FROM erp_audit WHERE action = 'import'")
        assert len(audit) == 2 and set(audit["from_status"]) == {"ready_to_import"}
        # Procore has them, linked: a pull shows the links and a push has nothing to add
        pull_into(ws, client, tmp_path / "pull")
        pending = pending_links(ws)
        created = {(c["kind"], c["procore_id"]) for c in result.created}
        assert not any(
            (("vendor" if t == "companies" else "job"), i) in created
            for t, i in zip(pending["table_name"], pending["id"], strict=True)
        )
        assert ws.store.scalar("SELECT count(*) FROM companies WHERE origin_id = '80000A01-1730000001'") == 1


def test_accepting_without_a_connection_writes_payload_files(tmp_path):
    with workspace(tmp_path / "w.duckdb") as ws:
        result = accept_imports(
            ws, ["80000A01-1730000001"], by=APPROVER, company_id=9, out_dir=tmp_path / "out"
        )
        body = json.loads(Path(result.files[0]).read_text())
        assert body["method"] == "POST" and body["url"] == "/rest/v1.0/vendors"
        assert body["json"]["vendor"]["origin_id"] == "80000A01-1730000001"
        assert list(ws.ready_to_import()["list_id"]) == ["80000B01-1730000003"]  # not offered twice
        with pytest.raises(BatchRejected, match="not a QuickBooks vendor or job Procore lacks"):
            accept_imports(ws, ["80000A01-1730000001"], by=APPROVER, company_id=9, out_dir=tmp_path / "again")


def test_linking_a_project_to_an_existing_job(tmp_path):
    with workspace(tmp_path / "w.duckdb") as ws:
        unlinked = int(ws.store.scalar("SELECT id FROM projects WHERE origin_id IS NULL LIMIT 1"))
        with pytest.raises(BatchRejected) as refused:
            link_project_to_job(
                ws, [(unlinked, "80000B02-1730000004"), (1, "80000B01-1730000003")], by=APPROVER
            )
        problems = {p["problem"] for p in refused.value.problems}
        assert any("sub jobs are not supported" in p for p in problems) and "no Procore project 1" in problems
        link_project_to_job(ws, [(unlinked, "80000B01-1730000003")], by=APPROVER)
        row = ws.store.frame(f"SELECT origin_id, origin_data FROM projects WHERE id = {unlinked}").iloc[0]
        assert row["origin_id"] == "80000B01-1730000003"
        assert json.loads(row["origin_data"]) == {"edit_sequence": "1730000003"}
        assert "80000B01-1730000003" not in set(ws.ready_to_import()["list_id"])
        status = ws.store.scalar(
            f"SELECT status FROM erp_items WHERE item_type = 'project' AND procore_id = {unlinked}"
        )
        assert status == "synced"
        pending = pending_links(ws)
        assert not pending[(pending["table_name"] == "projects") & (pending["id"] == unlinked)].empty
        with pytest.raises(BatchRejected, match="already linked"):
            link_project_to_job(ws, [(unlinked, "80000B01-1730000003")], by=APPROVER)


def test_cli_import_list_and_accept_as_payloads(tmp_path, monkeypatch):
    monkeypatch.delenv("PROCORE_CLIENT_ID", raising=False)
    workspace(tmp_path / "w.duckdb").close()
    w = str(tmp_path / "w.duckdb")
    res = CliRunner().invoke(main, ["import", "list", "-w", w, "--all"])
    assert res.exit_code == 0, res.output
    assert "Cascade Rebar Supply" in res.output and "sub jobs are not supported" in res.output
    res = CliRunner().invoke(
        main,
        [
            "import",
            "accept",
            "-w",
            w,
            "--company-id",
            "9",
            "--by",
            APPROVER,
            "80000B01-1730000003",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "payload file(s) written" in res.output
    assert (tmp_path / "out" / "projects" / "import_80000B01-1730000003.json").exists()
    res = CliRunner().invoke(main, ["import", "list", "-w", w, "--format", "json"])
    assert [r["list_id"] for r in json.loads(res.output)] == ["80000A01-1730000001"]
    assert pd.notna(res.output)
