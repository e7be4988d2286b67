"""Cost codes and budgets on QuickBooks-integrated projects (seeds 001/003): settings that act and workflows."""

from __future__ import annotations

import shutil
from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner

from qbrecon import Workspace
from qbrecon.errors import BatchRejected, InputError, PermissionDenied
from qbrecon.qbwc.simulator import QuickBooksCompany

SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "small"
ADMIN = "maria.alvarez@example-builders.com"  # ERP 'Admin' + Can Push
APPROVER = "james.bennett@example-builders.com"  # 'Standard' + Can Push
PM = "carlos.delgado@example-builders.com"  # 'Standard', no Can Push
NEW_ITEM = (
    '<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
    '<ItemServiceAddRq requestID="1"><ItemServiceAdd><Name>03-500</Name><ParentRef><FullName>03</FullName>'
    "</ParentRef><SalesOrPurchase><Desc>Precast Concrete</Desc><AccountRef><FullName>Job Expenses</FullName>"
    "</AccountRef></SalesOrPurchase></ItemServiceAdd></ItemServiceAddRq></QBXMLMsgsRq></QBXML>"
)


@pytest.fixture(scope="module")
def world_file(tmp_path_factory) -> Path:
    """The Procore export loaded and the QuickBooks side read through a full refresh, once per module."""
    path = tmp_path_factory.mktemp("budgets") / "ws.duckdb"
    ws = Workspace(path)
    ws.load_procore(SMALL / "procore")
    company = QuickBooksCompany(validate=False)
    company.seed_from(SMALL / "quickbooks")
    ws.request_refresh(full=True, by=ADMIN)
    ws.refresh_now(company.process)  # queries only: the company file stays as seeded
    ws.update_settings(by=ADMIN, invoice_retainage_item="Retainage")  # a Service item, but not a cost code
    company.close()
    ws.close()
    return path


@pytest.fixture()
def world(tmp_path, world_file):
    """A copy of that workspace and a new company file seeded as the one it was read from."""
    path = tmp_path / "ws.duckdb"
    shutil.copyfile(world_file, path)
    ws = Workspace(path)
    company = QuickBooksCompany(validate=False)
    company.seed_from(SMALL / "quickbooks")
    yield ws, company
    company.close()
    ws.close()


def integrated(ws) -> list[int]:
    return [
        int(i)
        for i in ws.store.frame("SELECT id FROM projects WHERE origin_id IS NOT NULL ORDER BY id")["id"]
    ]


def lines(ws, project_id: int | None = None) -> int:
    where = f"WHERE project_id = {int(project_id)}" if project_id is not None else ""
    return int(ws.store.scalar(f"SELECT count(*) FROM budget_line_items {where}"))


def add_item_and_refresh(ws, company) -> None:
    assert b'statusCode="0"' in company.process(NEW_ITEM)
    ws.request_refresh("items", by=ADMIN)
    ws.refresh_now(company.process)


def test_new_quickbooks_cost_code_is_not_added_while_the_setting_is_off(world):
    ws, company = world
    before = lines(ws)
    add_item_and_refresh(ws, company)
    assert lines(ws) == before == 126
    assert ws.store.scalar("SELECT count(*) FROM cost_codes WHERE full_code = '03-500'") == 0


def test_new_quickbooks_cost_code_is_added_to_every_integrated_budget(world):
    ws, company = world
    ws.update_settings(by=ADMIN, auto_add_cost_codes_to_budgets=True)
    ws.assign_default_cost_types({"03": "Material"}, by=APPROVER)  # the division's default is not inherited
    before = {p: lines(ws, p) for p in integrated(ws)}
    add_item_and_refresh(ws, company)
    assert len(before) == 2 and {p: lines(ws, p) for p in before} == {p: n + 1 for p, n in before.items()}
    std = ws.store.frame(
        "SELECT * FROM cost_codes WHERE cost_code_level = 'standard' AND full_code = '03-500'"
    )
    assert std[["code", "name"]].values.tolist() == [["500", "Precast Concrete"]] and std["id"].iloc[0] < 0
    new = ws.store.frame(
        """SELECT b.project_id, b.original_budget_amount, c.full_code FROM budget_line_items b
           JOIN cost_codes c ON c.id = b.cost_code_id WHERE c.standard_cost_code_id = ?""",
        [int(std["id"].iloc[0])],
    )
    assert sorted(new["project_id"]) == sorted(before) and set(new["original_budget_amount"]) == {D("0.00")}
    assert ws.store.scalar("SELECT count(*) FROM erp_audit WHERE action = 'auto_add_cost_codes'") == 2
    ws.request_refresh("items", full=True, by=ADMIN)  # read again: nothing more (the item is a cost code now)
    ws.refresh_now(company.process)
    assert {p: lines(ws, p) for p in before} == {p: n + 1 for p, n in before.items()}


def test_refresh_the_cost_codes_on_an_integrated_project(world):
    ws, _ = world
    project = integrated(ws)[0]
    ws.store.put_rows(
        "cost_codes",
        [
            dict(
                id=990001,
                cost_code_level="standard",
                code="900",
                full_code="03-900",
                name="Shotcrete",
                origin_id="8000ABCD-1",
            )
        ],
    )
    missing = ws.store.scalar(
        """SELECT count(*) FROM cost_codes s WHERE s.cost_code_level = 'standard' AND s.origin_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM cost_codes c WHERE c.project_id = ? AND c.standard_cost_code_id = s.id)""",
        [project],
    )
    assert missing == 1
    with pytest.raises(PermissionDenied, match="refresh the Cost Codes"):
        ws.refresh_project_cost_codes(project, by=APPROVER)  # ERP 'Admin' only
    assert ws.refresh_project_cost_codes(project, by=ADMIN) == missing
    assert ws.refresh_project_cost_codes(project, by=ADMIN) == 0
    unlinked = ws.store.scalar("SELECT min(id) FROM projects WHERE origin_id IS NULL")
    with pytest.raises(InputError, match="not integrated"):
        ws.refresh_project_cost_codes(unlinked, by=ADMIN)


def test_import_a_budget_from_erp(world):
    ws, _ = world
    project = integrated(ws)[0]
    job = ws.store.scalar("SELECT origin_id FROM projects WHERE id = ?", [project])
    ws.store.execute("UPDATE projects SET budget_locked = false WHERE id = ?", [project])
    ws.store.execute("DELETE FROM budget_line_items WHERE project_id = ?", [project])
    ws.assign_default_cost_types({"03-300": "Material"}, by=APPROVER)
    with pytest.raises(PermissionDenied, match="Can Push to Accounting"):
        ws.import_budget(project, by=PM)
    added = ws.import_budget(project, by=APPROVER)
    items = ws.store.scalar(
        """SELECT count(DISTINCT l."ItemRef_ListID") FROM estimates e JOIN estimate_lines l USING ("TxnID")
           WHERE e."CustomerRef_ListID" = ?""",
        [job],
    )
    assert added == items == lines(ws, project) > 0
    total = ws.store.scalar(
        "SELECT sum(original_budget_amount) FROM budget_line_items WHERE project_id = ?", [project]
    )
    estimate = ws.store.scalar(
        """SELECT sum(l."Amount") FROM estimates e JOIN estimate_lines l USING ("TxnID")
           WHERE e."CustomerRef_ListID" = ?""",
        [job],
    )
    assert total == estimate
    typed = ws.store.frame(
        "SELECT cost_code_full_code, line_item_type_name FROM budget_line_items WHERE project_id = ? "
        "AND line_item_type_name IS NOT NULL",
        [project],
    )
    assert typed.values.tolist() == [["03-300", "Material"]]
    assert ws.import_budget(project, by=APPROVER) == 0  # nothing twice


def test_assign_default_cost_types_refuses_unknown_and_unsynced_codes(world):
    ws, _ = world
    with pytest.raises(BatchRejected) as exc:
        ws.assign_default_cost_types({"99-999": "Labor", "03-300": ""}, by=APPROVER)
    text = str(exc.value)
    assert "no such standard cost code" in text and "empty cost type" in text
    with pytest.raises(PermissionDenied):
        ws.assign_default_cost_types({"03-300": "Labor"}, by=PM)
    assert ws.assign_default_cost_types({"03-300": "47:Other"}, by=APPROVER) == 1
    row = ws.store.frame("SELECT line_item_type_id, line_item_type_name FROM cost_code_default_cost_types")
    assert row.values.tolist() == [[47, "Other"]]


def test_job_cost_sync_is_per_project(world):
    ws, _ = world
    first, second = integrated(ws)
    ws.store.execute(
        "UPDATE budget_line_items SET job_to_date_costs = 0"
    )  # Procore has not heard of any cost
    assert ws.import_job_costs(by=ADMIN) == 0  # enabled nowhere yet
    with pytest.raises(PermissionDenied):
        ws.enable_job_cost_sync(first, by=APPROVER)
    ws.enable_job_cost_sync(first, by=ADMIN)
    changed = ws.import_job_costs(by=ADMIN)
    assert changed > 0
    touched = set(
        ws.store.frame("SELECT DISTINCT procore_id FROM erp_audit WHERE action = 'import_job_costs'")[
            "procore_id"
        ]
    )
    assert touched == {first}
    assert ws.job_cost_sync_projects().set_index("project_id")["job_cost_sync"].to_dict() == {
        first: True,
        second: False,
    }


def test_cli(world, tmp_path):
    from qbrecon.cli import main

    ws, _ = world
    first = integrated(ws)[0]
    path = str(ws.path)
    ws.close()
    run = CliRunner().invoke
    r = run(main, ["budget", "job-cost-sync", "-w", path, "--project", str(first), "--enable", "--by", ADMIN])
    assert r.exit_code == 0, r.output
    r = run(main, ["budget", "sync-job-costs", "-w", path, "--by", ADMIN])
    assert r.exit_code == 0 and "budget line(s) updated" in r.output, r.output
    r = run(main, ["budget", "refresh-cost-codes", "-w", path, "--project", str(first), "--by", PM])
    assert r.exit_code == 77, r.output
    r = run(main, ["budget", "default-cost-type", "-w", path, "--set", "03-300=Labor", "--by", APPROVER])
    assert r.exit_code == 0, r.output


def test_budget_settings_act_on_the_budget_shown(world):
    ws, _ = world
    first, second = integrated(ws)
    shown = ws.budget(first, by=ADMIN)
    assert "job_to_date_costs" in shown and set(shown["direct_costs_from"]) == {"QuickBooks"}
    assert not shown["direct_costs_editable"].any()
    ws.update_settings(
        by=ADMIN, hide_job_to_date_costs=True, budget_direct_cost_source="editable_from_procore"
    )
    shown = ws.budget(first, by=ADMIN)
    assert "job_to_date_costs" not in shown and set(shown["direct_costs_from"]) == {"Direct Costs tool"}
    assert shown["direct_costs_editable"].all()
    with pytest.raises(PermissionDenied):
        ws.budget(
            first, by="aisha.okafor@example-builders.com"
        )  # Reports 'Read Only' but Budget only 'Read Only'


def test_direct_costs_tool_keeps_the_direct_cost_column_from_quickbooks(world):
    ws, _ = world
    first, second = integrated(ws)
    ws.store.execute("UPDATE budget_line_items SET job_to_date_costs = 0, direct_costs = 1")
    for p in (first, second):
        ws.enable_job_cost_sync(p, by=ADMIN)
    ws.set_direct_costs_tool(second, by=ADMIN)
    assert ws.import_job_costs(by=ADMIN) > 0
    direct = ws.store.frame(
        "SELECT project_id, min(direct_costs) AS lo, max(direct_costs) AS hi "
        "FROM budget_line_items GROUP BY 1"
    ).set_index("project_id")
    assert direct.loc[second, "lo"] == direct.loc[second, "hi"] == D("1.00")  # the Direct Costs tool's, kept
    assert direct.loc[first, "hi"] > D("1.00")  # read only, from QuickBooks
    shown = ws.budget(second, by=ADMIN)
    assert set(shown["direct_costs_from"]) == {"Direct Costs tool"} and shown["direct_costs_editable"].all()
