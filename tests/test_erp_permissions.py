"""Who may do what: the ERP Integrations permissions matrix (seed 001), enforced in the library on every path."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from test_erp_queue import build_world, put, status

from qbrecon import pairs
from qbrecon.erp import permissions
from qbrecon.errors import PermissionDenied

# Seed 001's matrix as transcribed by hand from the page (label -> levels of the ERP Integrations tool that may,
# and whether "Can Push to Accounting" is needed: the page's note on accounting approvers and seeds 000/002).
# The module's MATRIX must say the same; this list is the independent copy the tests hold it to.
STD_ADMIN, ADMIN_ONLY = ("standard", "admin"), ("admin",)
SEED_001 = {
    "Accept or Reject Cost Codes for Export to ERP": (STD_ADMIN, True),
    "Accept or Reject Owner Invoices for Export to ERP": (STD_ADMIN, True),
    "Accept or Reject Subcontractor Invoices for Export to ERP": (STD_ADMIN, True),
    "Accept or Reject a Budget for Export to ERP": (STD_ADMIN, True),
    "Accept or Reject a CCO for Export to ERP": (STD_ADMIN, True),
    "Accept or Reject a Commitment for Export to ERP": (STD_ADMIN, True),
    "Accept or Reject a Company for Export to ERP": (STD_ADMIN, True),
    "Accept or Reject a PCCO for Export to ERP": (STD_ADMIN, True),
    "Accept or Reject a Project for Export to ERP": (STD_ADMIN, True),
    "Accept or Reject a Sub Job for Export to ERP": (STD_ADMIN, True),
    "Add a Procore Project to your ERP System": (STD_ADMIN, True),
    "Add an ERP Company to the Procore Company Directory": (STD_ADMIN, True),
    "Add an ERP Job to Procore": (ADMIN_ONLY, False),
    "Archive an ERP Company in Procore": (STD_ADMIN, True),
    "Assign Default Cost Types To ERP Standard Cost Codes": (STD_ADMIN, True),
    "Configure Advanced Settings: ERP Integrations": (ADMIN_ONLY, False),
    "Configure the Sync Schedule for your ERP Integration": (ADMIN_ONLY, False),
    "Enable or Disable ERP Direct Exports": (ADMIN_ONLY, False),
    "Import a Budget from ERP": (STD_ADMIN, True),
    "Import a Prime Contract from an Integrated ERP System into Procore": (STD_ADMIN, True),
    "Import an ERP Sub Job to a Procore Project": (STD_ADMIN, True),
    "Link ERP Companies to Procore Companies": (ADMIN_ONLY, False),
    "Refresh the Companies List for ERP": (ADMIN_ONLY, False),
    "Refresh the Cost Codes on an ERP Integrated Project": (ADMIN_ONLY, False),
    "Sync Job Cost Transactions from an Integrated ERP into Procore": (ADMIN_ONLY, False),
    "Sync Paid Invoice Notifications from ERP into Procore": (ADMIN_ONLY, False),
    "Unlink CCOs Synced with ERP": (STD_ADMIN, True),
    "Unlink Commitments Synced with ERP": (STD_ADMIN, True),
    "Unlink Owner Invoices Synced with ERP": (STD_ADMIN, True),
    "Unlink PCCOs Synced with ERP": (STD_ADMIN, True),
    "Unlink Subcontractor Invoices Synced with ERP": (STD_ADMIN, True),
    "Unlink a Company Synced with ERP": (STD_ADMIN, True),
    "View a List of Synced Sub Jobs": (STD_ADMIN, False),
    "View an Accountant Report for ERP": (ADMIN_ONLY, False),
    "View the Archived Companies List for ERP": (("read_only", "standard", "admin"), False),
}
# "Sending items to ERP for accounting acceptance requires 'Admin' level permissions on the tool where the item
# is located."
ITEM_HOME = {
    "company": "directory",
    "project": "projects",
    "cost_code": "admin",
    "budget": "budget",
    "commitment": "commitments",
    "change_order": "commitments",
    "invoice": "commitments",
    "timecard_entry": "timesheets",
}
SEED_LABELS = set(SEED_001) | {
    "Send, Retrieve, or Resend Items to ERP Integrations for Accounting Acceptance",
    "View an ERP Job Costs Report",
    "View an ERP Unsyncable Direct Costs Report",
}


def person(erp: str = "none", push: bool = False, active: bool = True, **tools: str) -> dict:
    return {
        "id": 9,
        "name": "Test Person",
        "login": "tp",
        "is_active": active,
        "erp_integrations_permission": erp,
        "can_push_to_accounting": push,
        "tools": tools,
    }


def test_the_module_matrix_is_the_seed_page():
    assert {r.label for r in permissions.MATRIX.values()} == SEED_LABELS
    for rule in permissions.MATRIX.values():
        if rule.label in SEED_001:
            assert (rule.tool, rule.levels, rule.can_push) == ("erp_integrations", *SEED_001[rule.label]), (
                rule.label
            )
    # pair modules declare their item's tool (``qbrecon.pairs``)
    assert permissions.ITEM_TOOL == ITEM_HOME | {m.item_type: m.procore_tool for m in pairs.registered()}


ERP_ROWS = [(key, r.label) for key, r in permissions.MATRIX.items() if r.label in SEED_001]


@pytest.mark.parametrize("key, label", ERP_ROWS, ids=[k for k, _ in ERP_ROWS])
@pytest.mark.parametrize("erp", permissions.LEVELS)
@pytest.mark.parametrize("push", [False, True])
def test_every_erp_row(key, label, erp, push):
    levels, needs_push = SEED_001[label]
    expected = erp in levels and (push or not needs_push)
    assert (not permissions.missing(person(erp, push), key)) is expected
    assert permissions.missing(person(erp, push, active=False), key)  # an inactive user may do nothing


@pytest.mark.parametrize("item_type", sorted(ITEM_HOME))
@pytest.mark.parametrize("verb", ["send", "retrieve", "resend"])
@pytest.mark.parametrize("level", permissions.LEVELS)
def test_send_retrieve_resend_need_admin_on_the_items_own_tool(item_type, verb, level):
    # the ERP Integrations permission does not matter: an ERP admin with 'None' on the tool may not send
    allowed = not permissions.missing(person("admin", True, **{ITEM_HOME[item_type]: level}), verb, item_type)
    assert allowed is (level == "admin")
    other = "reports" if ITEM_HOME[item_type] != "reports" else "budget"
    assert permissions.missing(person("admin", True, **{other: "admin"}), verb, item_type)


@pytest.mark.parametrize(
    "erp, reports, budget, prime, company_level, project_level, unsyncable",
    [
        ("admin", "none", "none", "none", True, True, False),
        ("standard", "read_only", "admin", "none", False, True, True),
        ("none", "standard", "none", "admin", False, True, True),
        ("none", "none", "admin", "admin", False, False, False),
        ("none", "read_only", "standard", "standard", False, False, False),
        ("read_only", "admin", "read_only", "none", False, False, False),
    ],
)
def test_report_rows(erp, reports, budget, prime, company_level, project_level, unsyncable):
    u = person(erp, reports=reports, budget=budget, prime_contract=prime)
    assert (not permissions.missing(u, "view_job_costs")) is company_level
    assert (not permissions.missing(u, "view_job_costs_project")) is project_level
    assert (not permissions.missing(u, "view_unsyncable")) is unsyncable


# -- through the paths users take ----------------------------------------------------------------------------
@pytest.fixture()
def world(ws):
    build_world(ws)
    put(
        ws,
        "users",
        [
            dict(
                id=7,
                name="Nora Nopush",
                login="nora",
                email_address="nora@example.com",
                is_active=True,
                erp_integrations_permission="admin",
                can_push_to_accounting=False,
            ),
            dict(
                id=8,
                name="Nina None",
                login="nina",
                email_address="nina@example.com",
                is_active=True,
                erp_integrations_permission="none",
                can_push_to_accounting=False,
            ),
        ],
    )
    return ws


def test_api_send_needs_admin_on_the_items_tool(world):
    with pytest.raises(PermissionDenied, match=r"Commitments tool \(has 'None'\)"):
        world.send([500], item_type="commitment", by="nina")
    world.set_tool_permissions("nina", {"commitments": "standard"}, by="adam")
    with pytest.raises(PermissionDenied, match=r"'Admin' on the Commitments tool \(has 'Standard'\)"):
        world.send([500], item_type="commitment", by="nina")
    world.set_tool_permissions("nina", {"commitments": "admin"}, by="adam")
    world.send([500], item_type="commitment", by="nina")
    with pytest.raises(
        PermissionDenied, match="Projects tool"
    ):  # Commitments 'Admin' is not Projects 'Admin'
        world.send([101], item_type="project", by="nina")
    with pytest.raises(PermissionDenied, match="Admin tool"):  # a mixed selection fails as a whole
        world.send([("commitment", 501), ("cost_code", 301)], by="nina")
    assert status(world, "commitment", 501) == "not_sent"
    world.retrieve([500], item_type="commitment", by="nina")
    world.set_tool_permissions("nina", {"commitments": "none"}, by="adam")
    with pytest.raises(PermissionDenied, match="may not send"):
        world.send([500], item_type="commitment", by="nina")
    with pytest.raises(PermissionDenied, match="ERP Integrations"):  # granting needs ERP 'Admin'
        world.set_tool_permissions("nina", {"commitments": "admin"}, by="ann")


def test_erp_admin_rows_need_admin_and_not_can_push(world):
    # link companies, sync job costs, sync paid invoices, refresh: 'Admin' on ERP Integrations, no privilege
    put(world, "vendors", [dict(ListID="V-9", Name="Best Electric", EditSequence="77")])
    with pytest.raises(PermissionDenied, match="'Admin' on the ERP Integrations tool"):
        world.link_vendors([("V-9", 201)], by="ann")  # an approver with 'Standard'
    world.link_vendors([("V-9", 201)], by="nora")  # 'Admin' without Can Push
    assert world.import_job_costs(by="nora") >= 0
    assert world.import_bill_payments(by="nora") >= 0
    for who in ("ann", "carl", "pat"):
        with pytest.raises(PermissionDenied):
            world.import_job_costs(by=who)
        with pytest.raises(PermissionDenied):
            world.import_bill_payments(by=who)
        with pytest.raises(PermissionDenied, match="may not refresh the Companies List"):
            world.request_refresh("vendors", by=who)
    world.request_refresh("vendors", by="nora", import_payments=True)


def test_reports_check_the_viewer(world):
    with pytest.raises(TypeError):
        world.accountant_report()  # no way around the check
    with pytest.raises(PermissionDenied):
        world.erp_job_costs(by="ann")
    with pytest.raises(PermissionDenied):
        world.erp_job_costs(100, by="sam")
    world.set_tool_permissions("sam", {"reports": "read_only", "budget": "admin"}, by="adam")
    assert not world.erp_job_costs(100, by="sam").empty
    with pytest.raises(PermissionDenied):  # company level still needs ERP 'Admin'
        world.erp_job_costs(by="sam")
    assert world.erp_job_costs(by="adam").shape[0] > 0
    with pytest.raises(PermissionDenied, match="Reports tool"):
        world.unsyncable_direct_costs(by="adam")


def test_cli_paths(world):
    from qbrecon.cli import main

    path = str(world.path)
    world.close()
    runner = CliRunner()
    r = runner.invoke(main, ["send", "-w", path, "--by", "nina", "--ids", "201", "--type", "company"])
    assert r.exit_code == 77 and "Directory tool" in r.output
    r = runner.invoke(main, ["erp-report", "accountant", "-w", path])
    assert r.exit_code == 2 and "--by" in r.output
    r = runner.invoke(main, ["erp-report", "job-costs", "-w", path, "--by", "carl"])
    assert r.exit_code == 77, r.output
    r = runner.invoke(main, ["erp-report", "job-costs", "-w", path, "--by", "adam", "--format", "csv"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        main, ["user", "tools", "-w", path, "--user", "nina", "--set", "directory=admin", "--by", "adam"]
    )
    assert r.exit_code == 0 and "Directory: Admin" in r.output, r.output
    r = runner.invoke(main, ["send", "-w", path, "--by", "nina", "--ids", "201", "--type", "company"])
    assert r.exit_code == 0, r.output


def test_dashboard_action_is_checked_by_the_library(world):
    import pandas as pd

    from qbrecon.dashboard.auth import DashboardUser
    from qbrecon.dashboard.queue_view import apply_action

    nina = DashboardUser.from_row(permissions.find_user(world.store, "nina"))
    rows = pd.DataFrame({"item_type": ["company"], "procore_id": [201]})
    with pytest.raises(PermissionDenied, match="Directory tool"):
        apply_action(world, "send", rows, nina)
    assert status(world, "company", 201) == "not_sent"


def test_denial_names_user_and_what_is_missing(world):
    with pytest.raises(PermissionDenied) as exc:
        world.accept([201], item_type="company", by="sam")
    text = str(exc.value)
    assert "sam" in text and "Sam Standard" in text and "Can Push to Accounting" in text
    assert exc.value.exit_code == 77


def test_user_lookup_by_id_login_and_case(world):
    assert permissions.find_user(world.store, 1)["login"] == "ann"
    assert permissions.find_user(world.store, "ANN")["id"] == 1
    assert permissions.find_user(world.store, "2")["login"] == "adam"
    with pytest.raises(PermissionDenied, match="unknown user"):
        permissions.find_user(world.store, "nobody")
    with pytest.raises(PermissionDenied, match="no user"):
        permissions.find_user(world.store, None)


def test_settings_need_admin(world):
    with pytest.raises(PermissionDenied, match="Admin"):
        world.update_settings(by="ann", direct_export=True)
    world.update_settings(by="adam", direct_export=True)
    assert world.settings["direct_export"] is True
