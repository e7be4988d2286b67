"""Sync Job Cost Transactions (seed 001): QuickBooks job costs come from every transaction line that names a
customer:job -- bills, checks, credit card charges and journal entries -- not only bill item lines; syncing is
enabled, disabled and run per project, from the API, the CLI and the dashboard."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from click.testing import CliRunner
from test_erp_queue import build_world, put

from qbrecon import Workspace
from qbrecon.errors import InputError, PermissionDenied
from qbrecon.qbwc.simulator import QuickBooksCompany

JOB = "80000100-1600000000"  # project 100's QuickBooks job (build_world)
JOB2 = "80000103-1600000000"
ITEM = "80000300-1"  # standard cost code 03-300's service item

RESPONSES = f"""<?xml version="1.0" ?>
<QBXML><QBXMLMsgsRs>
<CheckQueryRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
 <CheckRet><TxnID>C-1</TxnID><TimeCreated>2024-03-01T10:00:00-08:00</TimeCreated>
  <TimeModified>2024-03-01T10:00:00-08:00</TimeModified><EditSequence>1709316000</EditSequence><TxnNumber>11</TxnNumber>
  <AccountRef><FullName>Checking</FullName></AccountRef><PayeeEntityRef><FullName>Acme Concrete</FullName></PayeeEntityRef>
  <RefNumber>1001</RefNumber><TxnDate>2024-03-01</TxnDate><Amount>175.00</Amount>
  <ExpenseLineRet><TxnLineID>C-1-1</TxnLineID><AccountRef><FullName>Job Expenses:Permits</FullName></AccountRef>
   <Amount>75.00</Amount><Memo>permit</Memo><CustomerRef><ListID>{JOB}</ListID><FullName>Owner:Main Street Office</FullName></CustomerRef></ExpenseLineRet>
  <ItemLineRet><TxnLineID>C-1-2</TxnLineID><ItemRef><ListID>{ITEM}</ListID><FullName>03-300</FullName></ItemRef>
   <Amount>100.00</Amount><CustomerRef><ListID>{JOB}</ListID><FullName>Owner:Main Street Office</FullName></CustomerRef></ItemLineRet>
 </CheckRet>
</CheckQueryRs>
<CreditCardChargeQueryRs requestID="2" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
 <CreditCardChargeRet><TxnID>CC-1</TxnID><TimeCreated>2024-03-02T10:00:00-08:00</TimeCreated>
  <TimeModified>2024-03-02T10:00:00-08:00</TimeModified><EditSequence>1709402400</EditSequence><TxnNumber>12</TxnNumber>
  <AccountRef><FullName>Company Visa</FullName></AccountRef><TxnDate>2024-03-02</TxnDate><Amount>60.00</Amount>
  <ItemLineRet><TxnLineID>CC-1-1</TxnLineID><ItemRef><ListID>{ITEM}</ListID><FullName>03-300</FullName></ItemRef>
   <Amount>50.00</Amount><CustomerRef><ListID>{JOB}</ListID><FullName>Owner:Main Street Office</FullName></CustomerRef></ItemLineRet>
  <ItemLineRet><TxnLineID>CC-1-2</TxnLineID><ItemRef><ListID>{ITEM}</ListID><FullName>03-300</FullName></ItemRef>
   <Amount>10.00</Amount></ItemLineRet>
 </CreditCardChargeRet>
</CreditCardChargeQueryRs>
<JournalEntryQueryRs requestID="3" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
 <JournalEntryRet><TxnID>JE-1</TxnID><TimeCreated>2024-03-03T10:00:00-08:00</TimeCreated>
  <TimeModified>2024-03-03T10:00:00-08:00</TimeModified><EditSequence>1709488800</EditSequence><TxnNumber>13</TxnNumber>
  <TxnDate>2024-03-03</TxnDate><RefNumber>JE-7</RefNumber><IsAdjustment>false</IsAdjustment>
  <JournalDebitLine><TxnLineID>JE-1-1</TxnLineID><AccountRef><FullName>Job Expenses:Equipment</FullName></AccountRef>
   <Amount>300.00</Amount><EntityRef><ListID>{JOB}</ListID><FullName>Owner:Main Street Office</FullName></EntityRef></JournalDebitLine>
  <JournalDebitLine><TxnLineID>JE-1-2</TxnLineID><AccountRef><FullName>Job Expenses:Equipment</FullName></AccountRef>
   <Amount>40.00</Amount><EntityRef><ListID>80000200-1</ListID><FullName>Acme Concrete</FullName></EntityRef></JournalDebitLine>
  <JournalCreditLine><TxnLineID>JE-1-3</TxnLineID><AccountRef><FullName>Job Expenses:Equipment</FullName></AccountRef>
   <Amount>120.00</Amount><EntityRef><ListID>{JOB}</ListID><FullName>Owner:Main Street Office</FullName></EntityRef></JournalCreditLine>
  <JournalCreditLine><TxnLineID>JE-1-4</TxnLineID><AccountRef><FullName>Accrued Liabilities</FullName></AccountRef>
   <Amount>220.00</Amount></JournalCreditLine>
 </JournalEntryRet>
</JournalEntryQueryRs>
</QBXMLMsgsRs></QBXML>
"""

ADMIN, APPROVER = "adam", "ann"  # ERP 'Admin' / ERP 'Standard' + Can Push (build_world)


@pytest.fixture()
def world(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    build_world(ws)
    put(
        ws,
        "customers",
        [
            dict(ListID="80000001-1", Name="Owner", FullName="Owner", Sublevel=0),
            dict(ListID=JOB, Name="Main Street Office", FullName="Owner:Main Street Office", Sublevel=1),
            dict(ListID=JOB2, Name="Depot", FullName="Owner:Depot", Sublevel=1),
        ],
    )
    put(ws, "projects", [dict(id=103, name="Depot", budget_locked=True, created_by_id=5, origin_id=JOB2)])
    put(
        ws,
        "cost_codes",
        [
            dict(
                id=312,
                cost_code_level="project",
                project_id=103,
                code="03-300",
                full_code="03-300",
                standard_cost_code_id=300,
            )
        ],
    )
    put(
        ws,
        "budget_line_items",
        [dict(id=402, project_id=103, cost_code_id=312, original_budget_amount=D("9000.00"))],
    )
    # one bill item line on each job: what the sync counted before checks and the rest were read
    put(ws, "bills", [dict(TxnID="B-1", TxnDate=dt.date(2024, 2, 1), RefNumber="INV-1")])
    put(
        ws,
        "bill_lines",
        [
            dict(TxnID="B-1", TxnLineID="B-1-1", LineKind="item", ItemRef_ListID=ITEM, Amount=D("10.00"),
                 CustomerRef_ListID=JOB),
            dict(TxnID="B-1", TxnLineID="B-1-2", LineKind="item", ItemRef_ListID=ITEM, Amount=D("7.00"),
                 CustomerRef_ListID=JOB2),
        ],
    )  # fmt: skip
    ws.store.execute("UPDATE budget_line_items SET job_to_date_costs = 0, direct_costs = 0")
    yield ws
    ws.close()


def load_responses(ws, tmp_path) -> None:
    path = tmp_path / "job_costs.xml"
    path.write_text(RESPONSES)
    ws.load_quickbooks(path)


def jtd(ws, line_id: int) -> D:
    return ws.store.scalar("SELECT job_to_date_costs FROM budget_line_items WHERE id = ?", [line_id])


def test_checks_credit_card_charges_and_journal_entries_load_with_their_lines(world, tmp_path):
    load_responses(world, tmp_path)
    assert world.store.count("checks") == world.store.count("credit_card_charges") == 1
    assert world.store.count("journal_entries") == 1
    lines = world.store.frame(
        'SELECT "TxnLineID", "LineKind", "AccountRef_FullName", "ItemRef_ListID", "CustomerRef_ListID", "Amount" '
        'FROM check_lines ORDER BY "TxnLineID"'
    )
    assert lines.astype(object).where(lines.notna(), None).values.tolist() == [
        ["C-1-1", "expense", "Job Expenses:Permits", None, JOB, D("75.00")],
        ["C-1-2", "item", None, ITEM, JOB, D("100.00")],
    ]
    je = world.store.frame(
        'SELECT "TxnLineID", "LineKind", "EntityRef_ListID", "Amount" FROM journal_entry_lines ORDER BY 1'
    )
    assert je["LineKind"].tolist() == ["debit", "debit", "credit", "credit"]
    assert je["Amount"].tolist() == [D("300.00"), D("40.00"), D("120.00"), D("220.00")]
    assert world.store.scalar('SELECT "TxnDate" FROM checks').isoformat() == "2024-03-01"


def test_job_cost_sync_counts_check_and_credit_card_item_lines(world, tmp_path):
    load_responses(world, tmp_path)
    world.enable_job_cost_sync(100, by=ADMIN)
    assert world.import_job_costs(100, by=ADMIN) == 1
    # bill 10 + check item line 100 + credit card item line 50; the line with no customer:job is not a job cost
    assert jtd(world, 400) == D("160.00")
    assert world.import_job_costs(100, by=ADMIN) == 0  # nothing twice


def test_journal_entry_lines_count_only_with_a_customer_job_debit_positive(world, tmp_path):
    load_responses(world, tmp_path)
    lines = world.job_cost_transactions(100, by=ADMIN)
    je = lines[lines["source"] == "journal_entry"]
    # the debit on the job counts +300, the credit on the job -120; the vendor's line and the unnamed one do not
    assert sorted(zip(je["txn_line_id"], je["amount"], strict=True)) == [
        ("JE-1-1", D("300.00")),
        ("JE-1-3", D("-120.00")),
    ]
    assert set(je["not_on_budget_because"]) == {"no item on the line: no cost code, so on no budget line"}
    assert set(lines["source"]) == {"bill", "check", "credit_card_charge", "journal_entry"}
    on_budget = lines[lines["budget_line_item_id"].notna()]
    assert on_budget["amount"].sum() == D("160.00") and set(on_budget["budget_line_item_id"]) == {400}
    report = world.erp_job_costs(100, by=ADMIN).set_index("cost_code", drop=False)
    coded = report[report["item_list_id"] == ITEM].iloc[0]
    assert coded["quickbooks_costs"] == D("160.00")
    uncoded = report[report["item_list_id"].isna() & report["quickbooks_costs"].ne(0)].iloc[0]
    # check expense line 75 + journal entry 300 - 120: the job's costs that land on no budget line
    assert uncoded["quickbooks_costs"] == D("255.00") and uncoded["project_id"] == 100
    assert "no item" in uncoded["note"] and uncoded["quickbooks_sources"] == "check, journal_entry"


def test_job_cost_sync_is_enabled_and_run_per_project(world, tmp_path):
    load_responses(world, tmp_path)
    with pytest.raises(InputError, match="not enabled on project Depot"):
        world.import_job_costs(103, by=ADMIN)
    with pytest.raises(PermissionDenied):
        world.enable_job_cost_sync(103, by=APPROVER)
    world.enable_job_cost_sync(100, by=ADMIN)
    world.enable_job_cost_sync(103, by=ADMIN)
    assert world.import_job_costs(103, by=ADMIN) == 1  # this project only
    assert (jtd(world, 400), jtd(world, 402)) == (D("0.00"), D("7.00"))
    world.enable_job_cost_sync(103, False, by=ADMIN)
    assert world.import_job_costs(by=ADMIN) == 1  # every enabled project: only Main Street now
    assert jtd(world, 400) == D("160.00")


def test_a_web_connector_refresh_reads_them_and_syncs_enabled_projects(world, tmp_path):
    path = tmp_path / "qb.xml"
    path.write_text(RESPONSES)
    company = QuickBooksCompany()
    assert company.seed_from(path) == {"check": 1, "credit_card_charge": 1, "journal_entry": 1}
    world.enable_job_cost_sync(100, by=ADMIN)
    world.request_refresh(["checks", "credit_card_charges", "journal_entries"], since="2024-01-01", by=ADMIN)
    jobs = world.refresh_now(company.process).set_index("query")
    assert (
        jobs.loc[["CheckQuery", "CreditCardChargeQuery", "JournalEntryQuery"], "state"].tolist()
        == ["done"] * 3
    )
    assert (
        world.store.count("journal_entry_lines") == 4 and world.store.count("credit_card_charge_lines") == 2
    )
    sent = world.store.frame(
        "SELECT xml FROM qbxml_messages WHERE direction = 'request' AND xml LIKE '%CheckQueryRq%'"
    )["xml"].iloc[0]
    assert 'iterator="Start"' in sent and "<IncludeLineItems>true</IncludeLineItems>" in sent
    assert "<ModifiedDateRangeFilter><FromModifiedDate>" in sent and "<MaxReturned>" in sent
    assert jtd(world, 400) == D("160.00")  # synced when the refresh finished, as the admin who enabled it
    assert jtd(world, 402) == D("0.00")  # not enabled there


def test_each_web_connector_session_reads_the_job_costs_while_syncing_is_enabled(world, tmp_path):
    """Nobody asks for a refresh: with syncing enabled on a project, the session itself reads bills, checks,
    credit card charges and journal entries (incrementally) and the project's budget takes them."""
    path = tmp_path / "qb.xml"
    path.write_text(RESPONSES)
    company = QuickBooksCompany()
    company.seed_from(path)
    assert world.refresh_pending()["requests"] == 0  # nothing enabled: the Web Connector has nothing to do
    world.refresh_now(company.process)
    assert world.refresh_jobs().empty and jtd(world, 400) == D("0.00")
    world.enable_job_cost_sync(100, by=ADMIN)
    assert world.refresh_pending()["requests"] == 4
    jobs = world.refresh_now(company.process).set_index("query")
    assert set(jobs.index) == {"BillQuery", "CheckQuery", "CreditCardChargeQuery", "JournalEntryQuery"}
    assert set(jobs["state"]) == {"done"} and set(jobs["requested_by"]) == {"adam"}
    assert jtd(world, 400) == D("160.00")


def test_cli_job_costs_enable_sync_transactions_disable(world, tmp_path):
    from qbrecon.cli import main

    load_responses(world, tmp_path)
    path = str(world.store.path)
    world.close()
    run = CliRunner().invoke
    r = run(main, ["job-costs", "sync", "-w", path, "--project", "100", "--by", ADMIN])
    assert r.exit_code != 0 and "not enabled on project Main Street Office" in r.output, r.output
    r = run(main, ["job-costs", "enable", "-w", path, "--project", "100", "--by", APPROVER])
    assert r.exit_code == 77, r.output  # permission denied
    r = run(main, ["job-costs", "enable", "-w", path, "--project", "100", "--by", ADMIN])
    assert r.exit_code == 0 and "enabled on project 100" in r.output, r.output
    r = run(main, ["job-costs", "sync", "-w", path, "--project", "100", "--by", ADMIN])
    assert r.exit_code == 0 and "1 budget line(s) updated" in r.output, r.output
    r = run(
        main, ["job-costs", "transactions", "-w", path, "--project", "100", "--by", ADMIN, "--format", "csv"]
    )
    assert r.exit_code == 0 and "JE-1-3" in r.output and "-120.00" in r.output, r.output
    r = run(main, ["job-costs", "disable", "-w", path, "--project", "100", "--by", ADMIN])
    assert r.exit_code == 0, r.output
    r = run(main, ["job-costs", "list", "-w", path, "--format", "csv"])
    assert r.exit_code == 0 and "Main Street Office" in r.output, r.output
    ws = Workspace(path)
    assert ws.job_cost_sync_projects().set_index("project_id")["job_cost_sync"].to_dict() == {
        103: False,
        100: False,
    }
    assert jtd(ws, 400) == D("160.00")
    ws.close()


def test_the_fixtures_carry_checks_card_charges_and_journal_entries_and_their_budgets_agree(tmp_path):
    """The checked-in sample: each synced project has a check, a card charge and a journal entry on its job, and
    the Procore budget's job to date costs already are QuickBooks' job costs per cost code (nothing to sync)."""
    from pathlib import Path

    small = Path(__file__).resolve().parents[1] / "fixtures" / "small"
    ws = Workspace(tmp_path / "small.duckdb")
    ws.load_procore(small / "procore")
    ws.load_quickbooks(small / "quickbooks")
    users = ws.frame("users")
    admin = users[users["erp_integrations_permission"] == "admin"]["login"].iloc[0]
    projects = ws.job_cost_sync_projects()["project_id"].tolist()
    for p in projects:
        ws.enable_job_cost_sync(int(p), by=admin)
    lines = ws.job_cost_transactions(by=admin)
    outside_bills = lines[lines["source"] != "bill"]
    assert outside_bills.groupby("source").size().to_dict() == {
        "check": 2 * len(projects),
        "credit_card_charge": len(projects),
        "journal_entry": len(projects),
    }
    assert outside_bills["budget_line_item_id"].notna().sum() == 2 * len(projects)  # the item lines
    assert ws.import_job_costs(by=admin) == 0
    ws.close()


def test_dashboard_settings_page_enables_and_syncs_a_project(world, tmp_path):
    """The Settings page's "Sync Job Cost Transactions" section: pick a project, enable, sync now; a user
    without ERP 'Admin' is refused by the library with the reason shown."""
    import html

    from qbrecon.dashboard.auth import DashboardUser
    from qbrecon.dashboard.settings_view import SettingsView

    load_responses(world, tmp_path)

    def user(login):
        return DashboardUser.from_row(world.store.frame("SELECT * FROM users WHERE login = ?", [login]))

    settings = SettingsView(world, user(ADMIN))
    view = settings.job_costs_view
    assert view.panel in settings.panel.objects
    assert set(view.table.value["syncing"]) == {"Disabled"}
    assert sorted(view.project.options.values()) == [100, 103]
    view.project.value = 100
    assert not view.sync()  # not enabled yet: the library says so
    assert "not enabled on project Main Street Office" in html.unescape(view.messages.objects[0].object)
    assert view.switch(True)
    assert view.table.value.set_index("project")["syncing"].to_dict() == {
        "Main Street Office": "Enabled",
        "Depot": "Disabled",
    }
    assert view.sync() and "1 budget line(s)" in view.messages.objects[0].object
    assert jtd(world, 400) == D("160.00")
    refused = SettingsView(world, user(APPROVER)).job_costs_view
    refused.project.value = 103
    assert not refused.switch(True)
    alert = html.unescape(refused.messages.objects[0].object)
    assert refused.messages.objects[0].alert_type == "danger" and "Not allowed" in alert
    assert world.job_cost_sync_projects().set_index("project_id")["job_cost_sync"].to_dict()[103] is False


def test_the_queries_follow_the_schema(qbxml_schema):
    """CheckQueryRq, CreditCardChargeQueryRq, JournalEntryQueryRq as a refresh sends them (iterator, MaxReturned,
    ModifiedDateRangeFilter, IncludeLineItems) validate against Intuit's XSD (skipped without it)."""
    from lxml import etree

    from qbrecon.qbxml.build import message_sets, query_request

    names = ["CheckQuery", "CreditCardChargeQuery", "JournalEntryQuery"]
    reqs = [query_request(n, from_modified="2024-01-01T08:00:00-05:00", request_id=f"q:{n}") for n in names]
    reqs += [
        query_request(n, iterator="Continue", iterator_id="{0b1d-77}", request_id=f"c:{n}") for n in names
    ]
    (ms,) = message_sets(reqs)
    doc = etree.fromstring(ms.xml)
    assert qbxml_schema.validate(doc), qbxml_schema.error_log
    for n in names:
        rq = doc.find(f".//{n}Rq")
        assert rq.get("iterator") == "Start" and rq.findtext("IncludeLineItems") == "true"
        assert rq.findtext("ModifiedDateRangeFilter/FromModifiedDate") == "2024-01-01T08:00:00-05:00"
