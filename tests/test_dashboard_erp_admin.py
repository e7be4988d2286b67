"""The Settings page's "ERP companies, cost codes, budgets and payroll export" section (seeds 001/003): each
button changes the store as its library call does, the library's refusals show as text, a read-only user gets
no buttons, and markup in data shows as text."""

from __future__ import annotations

import html
from decimal import Decimal as D

import pytest
from test_erp_queue import build_world, put

from qbrecon.dashboard.auth import DashboardUser
from qbrecon.dashboard.erp_admin_view import ErpAdminView
from qbrecon.dashboard.settings_view import SettingsView

JOB = "80000100-1600000000"  # project 100's QuickBooks job (build_world)
ITEM = "80000300-1"  # standard cost code 03-300's service item


@pytest.fixture()
def world(ws):
    build_world(ws)
    put(
        ws,
        "vendors",
        [
            dict(ListID="V-1", Name="Old Supplier"),
            dict(ListID="V-2", Name="<b>Bold</b> *Supplier*"),
            dict(ListID="80000200-1", Name="Acme Concrete"),
        ],
    )
    put(
        ws,
        "cost_codes",
        [
            dict(id=302, cost_code_level="standard", code="05-100", full_code="05-100", name="Steel",
                 origin_id="80000302-1"),
        ],
    )  # fmt: skip
    put(
        ws,
        "customers",
        [dict(ListID=JOB, Name="Main Street Office", FullName="Owner:Main Street Office", Sublevel=1)],
    )
    put(ws, "estimates", [dict(TxnID="E-1", CustomerRef_ListID=JOB)])
    put(
        ws,
        "estimate_lines",
        [
            dict(TxnID="E-1", TxnLineID="E-1-1", ItemRef_ListID="80000302-1", ItemRef_FullName="05-100",
                 Amount=D("1200.00")),
        ],
    )  # fmt: skip
    return ws


def user(ws, login: str) -> DashboardUser:
    return DashboardUser.from_row(ws.store.frame("SELECT * FROM users WHERE login = ?", [login]))


def said(view: ErpAdminView) -> str:
    return " ".join(html.unescape(str(o.object)) for o in view.messages.objects)


def test_the_section_is_on_the_settings_page_with_its_buttons(world):
    settings = SettingsView(world, user(world, "adam"))
    view = settings.erp_admin_view
    assert view.panel in settings.panel.objects
    assert {b.name for b in view.buttons if b.visible} == {
        "Archive",
        "Restore",
        "Refresh cost codes",
        "Import budget from ERP",
        "Assign cost type",
        "Map payroll item",
        "Prepare IIF time export",
    }


def test_archive_and_restore_a_company(world):
    view = ErpAdminView(world, user(world, "ann"))  # accounting approver
    assert set(view.vendor.options.values()) >= {"V-1", "V-2"}
    view.vendor.value = "V-1"
    assert view.archive()
    assert world.store.scalar("SELECT list(list_id) FROM erp_archived_companies") == ["V-1"]
    assert "V-1" not in set(view.vendor.options.values())
    assert view.archived_table.value[["name", "archived_by"]].values.tolist() == [
        ["Old Supplier", "Ann Approver"]
    ]
    view.archived_pick.value = "V-1"
    assert view.restore() and "restored to Ready to Import" in said(view)
    assert world.store.scalar("SELECT count(*) FROM erp_archived_companies") == 0
    assert view.archived_table.value.empty


def test_refusals_show_as_text_and_change_nothing(world):
    view = ErpAdminView(world, user(world, "sam"))  # 'Standard' without Can Push
    view.vendor.value = "V-1"
    assert not view.archive()
    assert "Not allowed" in said(view) and "Can Push to Accounting" in said(view)
    assert world.store.scalar("SELECT count(*) FROM erp_archived_companies") == 0
    approver = ErpAdminView(world, user(world, "ann"))
    approver.project.value = 100
    assert not approver.refresh_cost_codes()  # ERP 'Admin' only
    assert "Not allowed" in said(approver)
    assert not approver.import_budget()  # project 100's budget is locked
    assert "is locked" in said(approver)
    approver.cost_code.value = "03-300"
    approver.cost_type.value = ""
    assert not approver.assign_cost_type() and "empty cost type" in said(approver)
    approver.classification.value = "Regular Time"
    approver.payroll_item.value = "Hourly"
    assert not approver.map_payroll_item() and "Not allowed" in said(approver)  # payroll setup: ERP 'Admin'
    assert world.store.scalar("SELECT count(*) FROM payroll_item_map") == 0
    assert world.store.scalar("SELECT count(*) FROM cost_code_default_cost_types") == 0
    nobody = ErpAdminView(world, user(world, "carl"))
    nobody.iif_project.value = None
    assert not nobody.export_iif() and not nobody.download.visible  # no Timesheets 'Admin'


def test_cost_codes_budget_and_cost_types(world):
    admin = ErpAdminView(world, user(world, "adam"))
    admin.project.value = 100
    assert admin.refresh_cost_codes() and "1 cost code(s) added" in said(admin)
    assert (
        world.store.scalar(
            "SELECT count(*) FROM cost_codes WHERE project_id = 100 AND standard_cost_code_id = 302"
        )
        == 1
    )
    admin.cost_code.value = "05-100"
    admin.cost_type.value = "Material"
    assert admin.assign_cost_type()
    assert world.store.scalar("SELECT line_item_type_name FROM cost_code_default_cost_types") == "Material"
    assert "05-100 Steel (default: Material)" in admin.cost_code.options
    world.store.execute("UPDATE projects SET budget_locked = false WHERE id = 100")
    before = world.store.scalar("SELECT count(*) FROM budget_line_items WHERE project_id = 100")
    assert admin.import_budget() and "1 budget line(s)" in said(admin)
    assert world.store.scalar("SELECT count(*) FROM budget_line_items WHERE project_id = 100") == before + 1
    assert world.store.scalar(
        """SELECT b.original_budget_amount FROM budget_line_items b JOIN cost_codes c ON c.id = b.cost_code_id
           WHERE b.project_id = 100 AND c.standard_cost_code_id = 302"""
    ) == D("1200.00")


def test_payroll_mapping_and_iif_download(world):
    admin = ErpAdminView(world, user(world, "adam"))
    admin.worker.value = "Joe Worker"
    admin.classification.value = "*"
    admin.payroll_item.value = "Hourly Regular"
    assert admin.map_payroll_item()
    assert admin.payroll_table.value.values.tolist() == [["Joe Worker", "*", "Hourly Regular"]]
    exporter = ErpAdminView(world, user(world, "pat"))  # 'Admin' on Timesheets (build_world)
    exporter.iif_project.value = 100
    assert exporter.export_iif() and "1 time activity row(s)" in said(exporter)
    assert exporter.download.visible
    # 'None' on ERP Integrations: the archived companies list says why it is empty
    assert exporter.archived_note.visible and "Archived Companies List" in html.unescape(
        exporter.archived_note.object
    )
    text = exporter.download.file.getvalue().decode("cp1252")
    assert "Joe Worker" in text and "Hourly Regular" in text


def test_a_read_only_user_sees_the_lists_and_no_buttons(world):
    world.archive_erp_companies(["V-2"], by="ann")
    view = ErpAdminView(world, user(world, "carl"))  # ERP 'Read Only'
    assert view.buttons and not any(b.visible for b in view.buttons)
    assert view.archived_table.value["name"].tolist() == ["<b>Bold</b> *Supplier*"]


def test_markup_in_a_company_name_shows_as_text(world):
    view = ErpAdminView(world, user(world, "ann"))
    view.vendor.value = "V-2"
    assert view.archive()
    shown = view.messages.objects[0].object
    assert "<b>" not in shown and "&lt;b&gt;Bold&lt;/b&gt;" in shown and "\\*Supplier\\*" in shown
    # the table is plain text cells (Tabulator's plaintext formatter), the picker's label plain text too
    assert view.archived_table.value["name"].tolist() == ["<b>Bold</b> *Supplier*"]
    assert "<b>Bold</b> *Supplier* (V-2)" in view.archived_pick.options
