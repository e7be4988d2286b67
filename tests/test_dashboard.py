"""The dashboard's view logic without a browser: queue pages from DuckDB, counts, details, sign-in, actions."""

from __future__ import annotations

import html
import time
from decimal import Decimal

import pandas as pd
import panel as pn
import pytest

from qbrecon.dashboard import queries
from qbrecon.dashboard.auth import DashboardUser
from qbrecon.dashboard.format import for_display, money_text
from qbrecon.dashboard.queue_view import queue_display
from qbrecon.entities import PAIRS


def seed(ws, invoices: int = 6) -> None:
    """A small company: two projects, two vendors, one commitment each, ``invoices`` queued invoices with lines."""
    ex = ws.store.execute
    ex(
        "INSERT INTO projects (id, name, project_number, total_value) VALUES (1, 'Harbor Tower', 'P-001', 1500000.00),"
        " (2, 'Elm Street School', 'P-002', 250000.00)"
    )
    ex(
        "INSERT INTO companies (id, name, origin_id) VALUES (10, 'Acme Concrete', '80000010-1'),"
        " (11, 'Bolt Electric', '80000011-1')"
    )
    ex(
        "INSERT INTO commitments (id, project_id, type, number, title, status, vendor_id, vendor_company, grand_total, "
        "origin_id) VALUES (100, 1, 'WorkOrderContract', 'SC-001', 'Concrete', 'approved', 10, 'Acme Concrete', "
        "90000.00, 'A1-1'), (101, 2, 'WorkOrderContract', 'SC-002', 'Electrical', 'approved', 11, 'Bolt Electric', "
        "40000.00, 'A2-1')"
    )
    ex(f"""INSERT INTO invoices (id, project_id, commitment_id, contract_name, vendor_id, vendor_name, invoice_number,
           status, current_payment_due)
           SELECT 1000 + i, 1 + i % 2, 100 + i % 2, CASE WHEN i % 2 = 0 THEN 'Concrete' ELSE 'Electrical' END,
                  10 + i % 2, CASE WHEN i % 2 = 0 THEN 'Acme Concrete' ELSE 'Bolt Electric' END,
                  'INV-' || lpad(CAST(i AS VARCHAR), 3, '0'), 'approved', CAST(1000 + i * 100.25 AS DECIMAL(18,2))
           FROM range({invoices}) t(i)""")
    ex(
        """INSERT INTO invoice_lines (id, requisition_id, description_of_work, work_completed_this_period)
          SELECT 5000 + i, 1000 + i, 'Work this period', CAST(1000 + i * 100.25 AS DECIMAL(18,2))
          FROM range(?) t(i)""",
        [invoices],
    )
    ex(
        """INSERT INTO erp_items (item_type, procore_id, status, attempts, updated_at)
          SELECT 'invoice', 1000 + i, 'ready_to_export', 0, now() FROM range(?) t(i)""",
        [invoices],
    )
    ex("""UPDATE erp_items SET status = 'failed_to_export', last_error_code = 3140,
          last_error_message = 'There is an invalid reference to QuickBooks Vendor "Bolt Electric"'
          WHERE procore_id = 1001""")
    ex(
        "INSERT INTO erp_items (item_type, procore_id, status) VALUES ('project', 1, 'ready_to_export'), "
        "('project', 2, 'synced')"
    )
    ex("""INSERT INTO customers ("ListID", "Name", "FullName", "Sublevel", "IsActive") VALUES
          ('80000001-1', 'Harbor Holdings', 'Harbor Holdings', 0, true),
          ('80000002-1', 'Job A', 'Harbor Holdings:Job A', 1, true),
          ('80000003-1', 'City Schools', 'City Schools', 0, true)""")
    ex("""INSERT INTO items ("ListID", "Name", "FullName", "ItemType") VALUES ('8000000A-1', 'Retainage', 'Retainage',
          'ItemService')""")


def seed_users(ws, password: str) -> None:
    """An approver, a read-only viewer and an ERP admin, with dashboard passwords; the retainage item set."""
    ws.store.execute(
        """INSERT INTO users (id, name, login, email_address, is_active, erp_integrations_permission,
                              can_push_to_accounting) VALUES
           (1, 'Ann Approver', 'ann@example.com', 'ann@example.com', true, 'standard', true),
           (2, 'Vic Viewer', 'vic@example.com', 'vic@example.com', true, 'standard', false),
           (3, 'Ada Admin', 'ada@example.com', 'ada@example.com', true, 'admin', true)"""
    )
    for login in ("ann@example.com", "vic@example.com", "ada@example.com"):
        ws.set_user_password(login, password)
    ws.update_settings(by="ada@example.com", invoice_retainage_item="Retainage")
    # retrieving / re-sending needs 'Admin' on the item's own tool (permissions matrix)
    ws.set_tool_permissions(
        "ann@example.com", {"commitments": "admin", "projects": "admin"}, by="ada@example.com"
    )


def test_queue_page_reads_one_page_with_names_and_exact_amounts(ws):
    seed(ws, invoices=60)
    q = queries.QueueQuery(item_type="invoice", status="ready_to_export", page_size=25)
    frame, total = queries.queue_page(ws, q)
    assert total == 59  # one of 60 failed
    assert len(frame) == 25
    assert frame["procore_id"].tolist()[:2] == [1000, 1002]
    first = frame.iloc[0]
    assert (first["number"], first["vendor"], first["project"]) == (
        "INV-000",
        "Acme Concrete",
        "Harbor Tower",
    )
    assert str(frame["amount"].dtype) == "decimal128(18, 2)[pyarrow]"
    assert frame["amount"].iloc[1] == Decimal("1200.50")
    assert set(frame["status_label"]) == {"Ready to Export"}
    q.page = 3
    frame, _ = queries.queue_page(ws, q)
    assert len(frame) == 9
    q.page = 99  # past the end: clamps to the last page
    frame, _ = queries.queue_page(ws, q)
    assert q.page == 3


def test_a_page_s_rows_agree_with_its_filter_while_another_thread_changes_statuses(ws, monkeypatch):
    """The keys and the rows of a page are two reads; a Web Connector thread that moves items between them must
    not put rows of another status on the page (found by the load test: 'queue page for exporting')."""
    import threading

    seed(ws, invoices=30)
    read_keys = queries._page_keys

    def keys_then_export(*args, **kwargs):
        keys = read_keys(*args, **kwargs)
        # another thread (its own cursor) moves every Ready to Export invoice on, committed before the rows read
        mover = threading.Thread(
            target=lambda: ws.store.execute(
                "UPDATE erp_items SET status = 'exporting' WHERE status = 'ready_to_export'"
            )
        )
        mover.start()
        mover.join()
        return keys

    monkeypatch.setattr(queries, "_page_keys", keys_then_export)
    q = queries.QueueQuery(item_type="invoice", status="ready_to_export", page_size=25)
    frame, total = queries.queue_page(ws, q)
    assert len(frame) == 25 and total == 29
    assert set(frame["status_label"]) == {"Ready to Export"}  # the rows as they were when the keys were read


def test_queue_search_sort_and_filters(ws):
    seed(ws, invoices=10)
    q = queries.QueueQuery(item_type="invoice", status=None, search="bolt", sort=[("amount", True)])
    frame, total = queries.queue_page(ws, q)
    assert total == 5 and set(frame["vendor"]) == {"Bolt Electric"}
    assert frame["amount"].tolist() == sorted(frame["amount"].tolist(), reverse=True)
    q = queries.QueueQuery(item_type="invoice", status="failed_to_export")
    frame, total = queries.queue_page(ws, q)
    assert total == 1 and frame["last_error_code"].iloc[0] == 3140
    with pytest.raises(ValueError, match="cannot sort"):
        queries.QueueQuery(sort=[("amount; DROP TABLE erp_items", False)]).order_by()


def test_counts_per_tab_and_filter(ws):
    seed(ws, invoices=6)
    counts = queries.status_counts(ws)
    assert queries.count_of(counts, "invoice", "ready_to_export") == 5
    assert queries.count_of(counts, "invoice", "failed_to_export") == 1
    assert queries.count_of(counts, "project", "synced") == 1
    assert queries.count_of(counts, "budget") == 0


def test_allowed_actions_follow_the_state_machine():
    assert queries.allowed_actions("ready_to_export", "invoice") == ["accept", "reject", "retrieve"]
    # unlink from Failed to Export / Rejected is for an item whose QuickBooks record was deleted there: offered,
    # and the library refuses it with the reason for any other item
    assert queries.allowed_actions("failed_to_export", "invoice") == ["reject", "retry", "unlink"]
    assert queries.allowed_actions("synced", "invoice") == ["unlink"]
    assert queries.allowed_actions("synced", "project") == []  # jobs cannot be unlinked
    assert queries.allowed_actions("rejected", "invoice") == ["unlink"]
    assert queries.allowed_actions("rejected", "project") == []


def test_item_detail_has_lines_and_quickbooks_error(ws):
    seed(ws, invoices=3)
    detail = queries.item_detail(ws, "invoice", 1001)
    assert detail.header["invoice_number"] == "INV-001"
    assert "_source_file" not in detail.header
    assert detail.lines is not None and detail.lines["requisition_id"].tolist() == [1001]
    assert detail.quickbooks_error.startswith("3140: There is an invalid reference")
    assert queries.item_detail(ws, "invoice", 1000).quickbooks_error is None


def test_customers_offered_for_jobs_are_top_level_only(ws):
    seed(ws, invoices=1)
    from qbrecon.pairs.project import PARENT_CUSTOMER

    assert queries.option_values(ws, PARENT_CUSTOMER.choices_sql) == ["City Schools", "Harbor Holdings"]


def test_display_keeps_money_exact_and_merges_errors(ws):
    seed(ws, invoices=3)
    frame, _ = queries.queue_page(ws, queries.QueueQuery(item_type="invoice", status=None))
    shown = queue_display(frame)
    assert shown["amount"].tolist() == ["1,000.00", "1,100.25", "1,200.50"]
    assert shown["error"].tolist()[1].startswith("3140: ")
    assert shown["error"].tolist()[0] == ""
    assert money_text(Decimal("-1234567.5")) == "-1,234,567.50"
    assert for_display(pd.DataFrame({"x": pd.Series([None], dtype="object")}))["x"].tolist() == [""]


def test_user_roles():
    approver = DashboardUser(1, "Ann", "ann", "standard", True)
    viewer = DashboardUser(2, "Vic", "vic", "standard", False)
    admin = DashboardUser(3, "Ada", "ada", "admin", False)
    assert approver.can_decide and not viewer.can_decide and not admin.can_decide
    assert admin.is_admin and not approver.is_admin
    assert DashboardUser.from_row(
        {
            "id": 4,
            "name": "Bo",
            "login": "bo",
            "erp_integrations_permission": "admin",
            "can_push_to_accounting": True,
        }
    ).can_decide


@pytest.mark.slow
def test_a_page_of_100k_queued_items_is_fast(ws):
    seed(ws, invoices=100_000)
    q = queries.QueueQuery(
        item_type="invoice",
        status="ready_to_export",
        page_size=50,
        page=1500,
        sort=[("vendor", False), ("amount", True)],
    )
    start = time.perf_counter()
    frame, total = queries.queue_page(ws, q)
    counts = queries.status_counts(ws)
    elapsed = time.perf_counter() - start
    assert total == 99_999 and len(frame) == 50
    assert queries.count_of(counts, "invoice") == 100_000
    assert elapsed < 1.5, f"one page + counts took {elapsed:.2f}s"


# -- the views' logic, driven without a browser -------------------------------------------------------------
@pytest.fixture()
def company(ws):
    seed(ws, invoices=4)
    seed_users(ws, "correct horse battery")
    return ws


def _view(ws, login):
    from qbrecon.dashboard.auth import sign_in
    from qbrecon.dashboard.queue_view import QueueView

    user = sign_in(ws, login, "correct horse battery")
    assert user is not None
    return QueueView(ws, user)


def _alerts(view):
    return [(a.alert_type, a.object) for a in view.messages.objects]


def test_sign_in_checks_the_password(company):
    from qbrecon.dashboard.auth import sign_in

    assert sign_in(company, "ann@example.com", "wrong") is None
    assert sign_in(company, "nobody@example.com", "correct horse battery") is None
    assert sign_in(company, "ANN@example.com", "correct horse battery").can_decide


def test_reject_needs_a_reason_then_moves_the_item(company):
    view = _view(company, "ann@example.com")
    assert view.filters.value == "ready_to_export" and len(view.page_frame) == 3
    assert "Ready to Export (3)" in view.filters.options
    view.table.selection = [0]
    assert view.details.objects  # one selected: its details are shown
    assert view.ask("reject") and view.dialog.open  # reject asks for the reason in a dialog
    assert not view.confirm_pending()
    assert "reason is required" in view.dialog_note.objects[0].object
    view.reason.value = "Wrong retainage"
    assert view.confirm_pending() and not view.dialog.open
    assert _alerts(view)[0][0] == "success" and "INV-000" in _alerts(view)[0][1]
    assert "Rejected (1)" in view.filters.options and "Ready to Export (2)" in view.filters.options
    assert company.audit(procore_id=1000)["reason"].iloc[-1] == "Wrong retainage"


def test_refused_batch_names_the_rows(company):
    view = _view(company, "ann@example.com")
    view.filters.value = "failed_to_export"
    view.table.selection = [0]
    company.store.execute(
        "UPDATE erp_items SET status = 'synced' WHERE procore_id = 1001"
    )  # changed meanwhile
    assert not view.run_action("retry")
    kind, text = _alerts(view)[0]
    assert kind == "danger" and "Retry refused for 1 row(s)" in text and "1001" in text


def test_read_only_user_gets_disabled_actions_and_the_library_refuses(company):
    view = _view(company, "vic@example.com")
    assert not any(b.visible for b in view.buttons.values())
    assert view.buttons["accept"] not in view.panel.select(pn.widgets.Button)
    view.picked = {1000: view.page_frame.iloc[0].to_dict()}
    assert not view.run_action("reject", reason="no")
    kind, text = _alerts(view)[0]
    assert kind == "danger" and "Can Push to Accounting" in text


def test_accepting_a_job_needs_a_quickbooks_customer(company):
    view = _view(company, "ann@example.com")
    view.item_tabs.value = "project"
    customer = view.accept_inputs["project", "customer"]
    assert customer.visible and customer.options == ["City Schools", "Harbor Holdings"]
    view.table.selection = [0]
    customer.value = None
    assert not view.ask("accept")
    assert "Choose the QuickBooks customer" in _alerts(view)[0][1]
    customer.value = "Harbor Holdings"
    assert view.ask("accept")
    assert company.queue(item_type="project", status="exporting")["procore_id"].tolist() == [1]


def test_audit_and_settings_views(company):
    from qbrecon.dashboard.audit_view import AuditView
    from qbrecon.dashboard.auth import sign_in
    from qbrecon.dashboard.settings_view import SettingsView

    company.retrieve([1000], item_type="invoice", by="ann@example.com")
    audit = AuditView(company)
    assert "Dashboard password set" in audit.table.value["action"].tolist()
    assert audit.pager.total == len(company.audit())
    audit.item_type.value = "invoice"  # the filter re-queries the page and the count
    assert audit.pager.total == len(company.audit("invoice")) < len(company.audit())
    assert audit.table.value["item_type"].tolist() == [PAIRS["invoice"].label] * audit.pager.total
    admin = sign_in(company, "ada@example.com", "correct horse battery")
    settings = SettingsView(company, admin)
    assert settings.widgets["invoice_retainage_item"].value == "Retainage"
    assert not settings.save()  # nothing changed
    settings.widgets["sync_schedule"].value = "daily"
    assert settings.save()
    assert company.settings["sync_schedule"] == "daily"
    settings.widgets["smtp_port"].value = None
    settings.widgets["service_url"].value = "https://qb.example.com/qbwc"
    assert settings.save() and company.settings["service_url"] == "https://qb.example.com/qbwc"


def test_reconciliation_view_summary_charts_drill_down_and_reports(company):
    from qbrecon.dashboard.reconcile_view import ReconciliationView

    view = ReconciliationView(company)
    assert view.run(), [a.object for a in view.messages.objects]
    assert len(view.summary.value) >= 1 and len(view.charts.objects) == 2
    diffs = view.result.differences
    commitment = diffs.index[(diffs["pair"] == "commitment") & (diffs["procore_id"] == "100")][0]
    view.differences.selection = [int(diffs.index.get_loc(commitment))]
    assert view.drill.objects, "selecting a difference shows both records"
    html = view._html().getvalue().decode("utf-8")
    assert "<html" in html.lower() and "SC-001" in html
    assert view._excel().getvalue()[:2] == b"PK"  # an xlsx is a zip


def test_refresh_from_quickbooks_on_the_settings_page(company):
    """``qbrecon serve`` holds the workspace, so the admin queues a QuickBooks refresh from the Settings page; the
    table shows each kind's state as the Web Connector reads it."""
    from qbrecon.dashboard.auth import sign_in
    from qbrecon.dashboard.refresh_view import RefreshView
    from qbrecon.dashboard.settings_view import SettingsView
    from qbrecon.erp.refresh import KINDS
    from qbrecon.qbwc.simulator import QuickBooksCompany

    admin = sign_in(company, "ada@example.com", "correct horse battery")
    settings = SettingsView(company, admin)
    view = settings.refresh_view
    assert view.panel in settings.panel.objects
    assert view.summary.object == "No refresh has been requested yet." and view.table.value.empty
    # the browser table takes its column formats from this first (empty) value: text must not start as float
    assert {str(t) for t in view.table.value.dtypes} == {"str"}
    assert view.cancel_button.disabled

    view.full.value = True
    assert view.request()
    assert _alerts(view)[0][0] == "success" and "queued (everything)" in _alerts(view)[0][1]
    jobs = company.refresh_jobs()
    assert set(jobs["state"]) == {"queued"} and jobs["full_refresh"].all()
    assert set(jobs["requested_by"]) == {"ada@example.com"}
    shown = view.table.value
    assert shown["kind"].tolist()[:3] == ["Vendors", "Items", "Customers and jobs"]  # the pairs' export order
    assert set(shown["state_label"]) == {"Waiting for the Web Connector"} and set(shown["changed_since"]) == {
        "everything"
    }
    assert view.summary.object == f"Refresh jobs: {len(KINDS)} waiting for the Web Connector."
    assert not view.cancel_button.disabled

    with QuickBooksCompany(validate=False) as quickbooks:  # what the Web Connector would do on its next run
        company.refresh_now(quickbooks.process)
    view.refresh()
    assert set(view.table.value["state_label"]) == {"Done"}
    assert view.summary.object == f"Refresh jobs: {len(KINDS)} done."
    assert view.cancel_button.disabled

    # refreshing and importing payments need ERP 'Admin' (matrix): the library refuses, the page says why
    viewer = RefreshView(company, sign_in(company, "vic@example.com", "correct horse battery"))
    assert viewer.import_payments.disabled
    viewer.import_payments.value = True
    assert not viewer.request()
    kind, text = _alerts(viewer)[0]
    text = html.unescape(text)  # the alert is escaped markdown; compare what a person reads
    assert kind == "danger" and "Not allowed" in text and "'Admin' on the ERP Integrations tool" in text
    assert set(company.refresh_jobs()["state"]) == {"done"}  # nothing queued by the refused request

    view.full.value = False
    assert view.request() and "queued (what changed since the last refresh)" in _alerts(view)[0][1]
    assert view.cancel() == len(KINDS) and view.cancel_button.disabled
    assert set(view.table.value["state_label"]) == {"Failed"}
    assert set(view.table.value["status_message"]) == {"cancelled"}


def test_an_empty_first_view_leaves_every_later_view_in_text(company):
    """The table's formats once came from the first page: an empty one made every later cell NaN and ids
    1,280,001.0. Every view is text now, whatever came first."""
    company.store.execute(
        "UPDATE erp_items SET status = 'synced' WHERE item_type = 'invoice' AND status = 'ready_to_export'"
    )
    view = _view(company, "ann@example.com")
    assert view.total == 0 and view.empty_note.visible
    assert "No subcontractor invoices under" in view.empty_note.object
    assert {str(t) for t in view.table.value.dtypes} == {"str"}
    for status in ("synced", "failed_to_export"):
        view.filters.value = status
        cells = view.table.value.to_numpy().ravel().tolist()
        assert cells and not [c for c in cells if c in ("nan", "NaN", "<NA>", "None") or c.endswith(".0")]
        assert all(c.isdigit() for c in view.table.value["procore_id"])
    assert "3140: There is an invalid reference" in view.table.value["error"].iloc[0]
    assert view.table.value["attempts"].iloc[0] == "0"


def test_header_status_is_escaped_and_connected_only_with_a_live_session(company):
    from qbrecon.dashboard.app import connection_text
    from qbrecon.dashboard.settings_view import connection_rows

    company.store.execute(
        "INSERT OR REPLACE INTO erp_settings (key, value) VALUES ('last_error', ?)",
        ['"<img src=x onerror=alert(1)>"'],
    )
    company.store.execute(
        "INSERT OR REPLACE INTO erp_settings (key, value) VALUES ('connection_status', '\"connected\"'), "
        "('last_contact', '\"2026-11-28T08:52:51-08:00\"')"
    )
    text = connection_text(company)
    assert "Not Connected" in text and "<img" not in text and "&lt;img" in text
    assert "2026-11-28 16:52 UTC" in text  # one time zone, no ISO offsets
    rows = connection_rows({**company.settings, **company.connection_status()})
    assert "Not Connected" in rows and "&lt;img" in rows and "2026-11-28 16:52 UTC" in rows


def test_panes_get_only_escaped_text(company):
    from qbrecon.dashboard.format import esc
    from qbrecon.dashboard.queue_view import error_alert
    from qbrecon.errors import BatchRejected

    assert esc("<script>x</script> *a* [l](u)") == "&lt;script&gt;x&lt;/script&gt; \\*a\\* \\[l\\](u)"
    exc = BatchRejected(
        "accept", [{"item_type": "company", "procore_id": 10, "name": "<b>x</b>", "problem": "<i>"}]
    )
    assert "<b>" not in error_alert(exc).object and "<i>" not in error_alert(exc).object
    company.store.execute("UPDATE invoices SET invoice_number = '<img src=x onerror=1>' WHERE id = 1000")
    view = _view(company, "ann@example.com")
    view.table.selection = [0]
    shown = " ".join(str(p.object) for p in view.details.objects if isinstance(p, pn.pane.Markdown))
    assert "<img" not in shown and "&lt;img" in shown


def test_selection_survives_paging_and_select_all_takes_every_page(company):
    seed_more = "UPDATE erp_items SET status = 'ready_to_export' WHERE item_type = 'invoice'"
    company.store.execute(seed_more)
    view = _view(company, "ann@example.com")
    view.page_size.value = 2
    assert view.pager.text.object.endswith("of 4")
    view.table.selection = [1]
    view._go_to_page(2)
    view.table.selection = [0]
    assert sorted(view.picked) == [1001, 1002] and "2 selected" in view.selection_note.object
    view._go_to_page(1)
    assert view.table.selection == [1]  # what was ticked on this page is still ticked
    view.select_all_matching()
    assert len(view.selected()) == 4 and "All 4 that match selected" in view.selection_note.object
    view._go_to_page(2)
    assert view.table.selection == [0, 1]
    assert (
        view.ask("accept")
        and view.dialog.open
        and "Accept 4 subcontractor invoices" in view.dialog_text.object
    )
    view.cancel_pending()
    view.filters.value = "synced"  # a new view: selection, banners and details are gone
    assert not view.picked and not view.all_matching and not view.messages.objects


def test_settings_tab_is_the_whole_page_for_an_admin_and_the_erp_tools_for_an_approver(company):
    """Archiving companies, importing budgets or assigning cost types is 'Standard' + Can Push in Procore's matrix:
    an approver reaches them in the dashboard too; a read-only user has no Settings tab."""
    from qbrecon.dashboard.app import Session
    from qbrecon.dashboard.auth import sign_in
    from qbrecon.dashboard.erp_admin_view import ErpAdminView
    from qbrecon.dashboard.settings_view import SettingsView

    built = {}
    for login in ("ada@example.com", "ann@example.com", "vic@example.com"):
        session = Session(company)
        session.user = sign_in(company, login, "correct horse battery")
        session.show_dashboard()
        if "Settings" in session._slots:
            session._build("Settings")
        built[login] = type(session.settings)
    assert built == {
        "ada@example.com": SettingsView,
        "ann@example.com": ErpAdminView,
        "vic@example.com": type(None),
    }


def test_the_server_s_warm_up_builds_the_page_for_no_one_and_changes_nothing(company):
    """``create_app(..., warm=True)`` (what ``qbrecon.server`` does at start) builds the signed-in page once so the
    first sign-in does not pay for it; it reads only, leaves no session behind, and sessions still start at the
    sign-in form."""
    import panel as pn

    from qbrecon.dashboard.app import create_app

    audit, items = len(company.audit()), company.queue()
    views = set(pn.state._views)
    app = create_app(company, warm=True)
    assert set(pn.state._views) == views
    assert len(company.audit()) == audit
    pd.testing.assert_frame_equal(company.queue(), items)
    root = app()
    assert "Sign in" in [w.name for w in root.select(pn.widgets.Button)]


def test_the_server_keeps_its_start_up_objects_out_of_full_garbage_collections(company):
    """A full garbage-collector pass over everything a dashboard server holds at start took 0.2-0.7 s and landed in
    sign-ins; the server freezes them once started (the pass then walks only what sessions made) and gives them
    back to the collector when it stops."""
    import gc

    from qbrecon.server import start_server

    before = gc.get_freeze_count()
    server = start_server(company, port=0, dashboard=True)
    try:
        assert gc.get_freeze_count() > before
    finally:
        server.stop()
    assert gc.get_freeze_count() == 0


def _served_session(company):
    """A session as the server makes one for a browser: the app in a Bokeh document of its own, then what runs
    once the browser has the sign-in form (the page's on-load callbacks, or the document's next-tick callbacks
    when the document counts as loaded already, as one outside a server does)."""
    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from qbrecon.dashboard.app import Session

    doc = Document()
    with set_curdoc(doc):
        session = Session(company)
        session.root.server_doc(doc)
        for callback, _threaded in pn.state._onload.pop(doc, []):
            callback()
        for callback in list(doc.session_callbacks):
            doc.remove_next_tick_callback(callback)
            callback.callback()
    return doc, session


def _sign_in_to(doc, session, login: str) -> None:
    from panel.io.state import set_curdoc

    with set_curdoc(doc):
        form = session.root.objects[1]
        form.objects[1].value = login
        form.objects[2].value_input = "correct horse battery"
        form.objects[3].clicks += 1


def test_an_approver_s_page_is_made_while_the_sign_in_form_shows_and_only_filled_at_sign_in(company):
    """Once the browser has the sign-in form, the session makes an approver's signed-in page (widgets and Bokeh
    models, outside the document: nothing reaches the browser, nothing is read); signing in then fills and shows
    those very models (~90 ms less server CPU at the click), their stylesheets from this server, not Panel's CDN."""
    from bokeh.models import ImportedStyleSheet

    doc, session = _served_session(company)
    ahead = session._ahead
    assert ahead is not None and ahead.queue.page_frame.empty and ahead.queue.counts.empty
    ref = next(iter(session.root._models))
    made = {id(part._models[ref][0]) for part in ahead.parts}
    assert not made & {id(m) for m in doc.models}  # made, not in the page

    _sign_in_to(doc, session, "ann@example.com")
    assert {id(part._models[ref][0]) for part in session.root.objects} == made  # the same models, now shown
    view = session.queue
    waiting = len(company.queue(status="ready_to_export", item_type="invoice"))
    assert (
        view is ahead.queue and view.user.login == "ann@example.com" and len(view.table.value) == waiting > 0
    )
    assert f"rows 1–{waiting} of {waiting}" in view.pager.text.object
    urls = [m.url for m in doc.models if isinstance(m, ImportedStyleSheet)]
    assert urls and not [u for u in urls if u.startswith("http")]


def test_a_read_only_user_gets_a_page_of_their_own_not_the_one_made_ahead(company):
    """The page made ahead is an approver's (action controls); a read-only user signing in gets a page made for
    them, with no action controls, and the approver's models are dropped."""
    import panel as pn

    doc, session = _served_session(company)
    ahead = session._ahead
    _sign_in_to(doc, session, "vic@example.com")
    view = session.queue
    assert ahead is not None and view is not ahead.queue and not view.user.can_decide
    buttons = session.root.select(pn.widgets.Button)
    assert not [b for b in buttons if b.name in ("Accept", "Reject…") and b.visible]
    assert not any(part._models for part in ahead.parts)
