"""Procore's documented shapes load as they are: g702, project from the request, ERP request payloads."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd

from qbrecon import Workspace

DOCUMENTED = Path(__file__).parent / "data" / "procore_documented"


def _write(root: Path, name: str, value: object) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value), encoding="utf-8")


def test_documented_payloads_load_without_quarantine(tmp_path):
    with Workspace(tmp_path / "w.duckdb") as ws:
        report = ws.load_procore(DOCUMENTED)
        assert ws.quarantine().empty, ws.quarantine()[["table_name", "field", "failure_case"]]
        assert report.ok
        # POST /requisitions: summary under g702, project only in the request body
        inv = ws.store.frame("SELECT * FROM invoices WHERE id = 1280646").iloc[0]
        assert inv["project_id"] == 786001
        assert inv["total_retainage"] == Decimal("5300.00")
        assert inv["current_payment_due"] == Decimal("0.00")
        line = ws.store.frame("SELECT * FROM invoice_lines WHERE id = 17918097").iloc[0]
        assert line["requisition_id"] == 1280646 and line["scheduled_value"] == Decimal("50000.00")
        # create_requisitions: the export batch, the project from the request's folder
        erp_inv = ws.store.frame("SELECT * FROM invoices WHERE id = 1").iloc[0]
        assert (erp_inv["project_id"], erp_inv["commitment_id"], erp_inv["status"]) == (786001, 1, "approved")
        lines = ws.store.frame(
            "SELECT work_completed_this_period FROM invoice_lines WHERE requisition_id = 1"
        )
        assert sorted(lines["work_completed_this_period"]) == [Decimal("500.00"), Decimal("500.00")]
        # create_commitment: Title Case status, the QuickBooks-synced vendor and project, its SOV line
        c = ws.store.frame("SELECT * FROM commitments WHERE id = 41").iloc[0]
        assert (c["status"], c["status_original"], c["project_id"], c["vendor_id"]) == (
            "approved",
            "Approved",
            86,
            47,
        )
        assert ws.store.frame("SELECT commitment_id FROM commitment_lines WHERE id = 177").iloc[0, 0] == 41
        # create_commitment_change_order: the CCO takes its project from the commitment in the payload
        co = ws.store.frame("SELECT * FROM change_orders WHERE id = 3").iloc[0]
        assert (co["project_id"], co["number"], co["origin_code"]) == (86, "45", "cco-1")
        # create_or_update_job with its cost codes; sync_single_job names the QuickBooks job of project 7
        p = ws.store.frame("SELECT * FROM projects WHERE id = 7").iloc[0]
        assert (p["origin_code"], p["origin_id"]) == ("JOB-EXP", "project_origin_id")
        codes = ws.store.frame("SELECT full_code FROM cost_codes WHERE project_id = 7 ORDER BY 1")
        assert list(codes["full_code"]) == ["1", "1-001"]
        # create_standard_cost_codes: company level, flat parent_id
        scc = ws.store.frame("SELECT * FROM cost_codes WHERE cost_code_level = 'standard'").iloc[0]
        assert (scc["full_code"], scc["parent_id"]) == ("01-100", 1)
        # link_all_vendors linked the vendor create_vendor brought in
        assert ws.store.frame("SELECT origin_id FROM companies WHERE id = 35").iloc[0, 0] == "origin_id1"
        # reset_requisition unlinked requisition 1; sub jobs are kept out with the reason
        assert any("sub jobs are not supported" in n for n in report.notes)
        assert any("reset_requisition" in n and "unlink invoices 1" in n for n in report.notes)


def test_ids_as_text_statuses_in_any_case_and_project_from_request(tmp_path):
    root = tmp_path / "export"
    _write(
        root,
        "requisitions/project_12/page_0001.json",
        [
            {
                "id": "900",
                "commitment_id": "77",
                "status": "APPROVED",
                "g702": {"current_payment_due": "10.00"},
            }
        ],
    )
    _write(
        root,
        "commitments/page_0001.json",
        {
            "request": {
                "method": "GET",
                "url": "https://api.procore.com/rest/v1.0/work_order_contracts",
                "params": {"project_id": 12, "page": 1},
            },
            "data": [{"id": "77", "number": "SC-1", "status": "out for signature", "vendor": {"id": "5"}}],
        },
    )
    _write(
        root,
        "timecard_entries.json",
        [{"id": 3, "project_id": 12, "date": "2025-01-02", "hours": "8", "approval_status": "Approved"}],
    )
    with Workspace(tmp_path / "w.duckdb") as ws:
        ws.load_procore(root)
        assert ws.quarantine().empty, ws.quarantine()[["table_name", "field", "failure_case"]]
        inv = ws.store.frame(
            "SELECT id, project_id, commitment_id, status, current_payment_due FROM invoices"
        )
        assert inv.iloc[0].tolist() == [900, 12, 77, "approved", Decimal("10.00")]
        c = ws.store.frame("SELECT project_id, type, status FROM commitments").iloc[0].tolist()
        assert c == [12, "WorkOrderContract", "out_for_signature"]
        assert ws.store.frame("SELECT approval_status FROM timecard_entries").iloc[0, 0] == "approved"


def test_line_pages_replace_the_lines_of_their_parent(tmp_path):
    root = tmp_path / "export"
    _write(
        root,
        "requisitions/page_0001.json",
        [{"id": 50, "project_id": 1, "commitment_id": 10, "status": "draft"}],
    )
    page = {
        "request": {"url": "/rest/v1.0/requisitions/50/contract_items"},
        "data": [
            {"id": 500, "work_completed_this_period": "1.00"},
            {"id": 501, "work_completed_this_period": "2.00"},
        ],
    }
    _write(root, "requisition_contract_items/page_0001.json", page)
    with Workspace(tmp_path / "w.duckdb") as ws:
        ws.load_procore(root)
        assert list(ws.store.frame("SELECT id FROM invoice_lines ORDER BY id")["id"]) == [500, 501]
        page["data"] = page["data"][:1]
        _write(root, "requisition_contract_items/page_0001.json", page)
        report = ws.load_procore(root)
        assert list(ws.store.frame("SELECT requisition_id FROM invoice_lines")["requisition_id"]) == [50]
        assert report.tables["invoice_lines"].removed == 1


def test_unlink_request_clears_the_link_of_a_stored_record(tmp_path):
    root = tmp_path / "export"
    _write(root, "vendors.json", [{"id": 32, "name": "Acme", "origin_id": "8000001-1", "origin_data": "{}"}])
    with Workspace(tmp_path / "w.duckdb") as ws:
        ws.load_procore(root)
        erp = tmp_path / "erp"
        _write(
            erp,
            "erp_requests/unlink.json",
            {
                "request_name": "unlink_vendor",
                "request_data": {"vendor": {"id": 32, "origin_id": "8000001-1"}},
            },
        )
        ws.load_procore(erp)
        row = (
            ws.store.frame("SELECT name, origin_id, origin_data FROM companies WHERE id = 32")
            .iloc[0]
            .tolist()
        )
        assert row[0] == "Acme" and pd.isna(row[1]) and pd.isna(row[2])
        # qbrecon follows: its link is gone (a reload does not bring it back) and the queue shows Unlinked
        assert (
            ws.store.scalar("SELECT status FROM erp_items WHERE item_type = 'company' AND procore_id = 32")
            == "unlinked"
        )
        assert (
            ws.store.scalar("SELECT count(*) FROM qb_links WHERE item_type = 'company' AND procore_id = 32")
            == 0
        )
        audit = ws.store.frame("SELECT actor_name, action, to_status FROM erp_audit WHERE procore_id = 32")
        assert ["Procore", "unlink", "unlinked"] in audit.values.tolist()


def test_line_pages_without_their_parent_are_reported(tmp_path):
    root = tmp_path / "export"
    _write(
        root,
        "requisitions/page_0001.json",
        [{"id": 50, "project_id": 1, "commitment_id": 10, "status": "draft"}],
    )
    _write(
        root,
        "requisition_contract_items/page_0001.json",
        {
            "request": {"url": "/rest/v1.0/requisitions/51/contract_items"},
            "data": [{"id": 510, "work_completed_this_period": "1.00"}],
        },
    )
    with Workspace(tmp_path / "w.duckdb") as ws:
        report = ws.load_procore(root)
        assert any("1 line(s) of 1 requisitions record(s) not in this export (51)" in n for n in report.notes)
        assert ws.store.count("invoice_lines") == 0
