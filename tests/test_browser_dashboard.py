"""The approver's dashboard in a real browser: Debian's Chromium driven by Playwright, against the one-process
server (dashboard + Web Connector endpoint) started on a free loopback port.

Screenshots of each view go to tests/artifacts/. Panel renders inside shadow roots, so the tests use
Playwright locators (which pierce open shadow roots), never ``inner_text("body")``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

ARTIFACTS = Path(__file__).parent / "artifacts"
PASSWORD = "correct horse battery"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    return path


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright Python package is not installed"
    )
    executable = _chromium()
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A seeded workspace served the way production serves it: ``qbrecon.server`` hosts the dashboard and
    ``/qbwc`` in one process."""
    from test_dashboard import seed, seed_users

    from qbrecon import Workspace
    from qbrecon.server import start_server

    ws = Workspace(tmp_path_factory.mktemp("browser") / "company.duckdb")
    seed(ws, invoices=6)
    seed_users(ws, PASSWORD)
    running = start_server(ws, port=0, dashboard=True)
    yield running
    running.stop()
    ws.close()


def _sign_in(browser, server, login: str):
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.set_default_timeout(15_000)
    page.goto(server.base_url + "/")
    page.locator("input[type=text]").first.fill(login)
    page.locator("input[type=password]").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("button", name="Sign out", exact=True).wait_for()
    return page


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(300)  # let the last websocket patch paint
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _tab(page, name: str):
    """A Panel tab header (Panel's tabs carry no ARIA role)."""
    return page.locator(".bk-tab").filter(has_text=re.compile(rf"^{re.escape(name)}$"))


def _row_checkbox(page, procore_id: int):
    row = page.locator(".tabulator-row").filter(
        has=page.locator(
            '.tabulator-cell[tabulator-field="procore_id"]', has_text=re.compile(rf"^{procore_id}$")
        )
    )
    return row.locator("input[type=checkbox]")


def test_sign_in_page_refuses_a_wrong_password(browser, server):
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.goto(server.base_url + "/")
    page.locator("input[type=text]").first.fill("ann@example.com")
    page.locator("input[type=password]").fill("wrong password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text("Sign-in failed").wait_for(timeout=15_000)
    _shot(page, "01-sign-in-refused")
    page.close()


def test_approver_rejects_one_invoice_and_accepts_another(browser, server):
    page = _sign_in(browser, server, "ann@example.com")
    page.get_by_role("button", name="Subcontractor Invoices (5)").wait_for()
    page.get_by_role("button", name="Ready to Export (5)").wait_for()
    _shot(page, "02-queue-ready-to-export")

    _row_checkbox(page, 1000).check()
    _row_checkbox(page, 1002).check()
    page.get_by_text("2 selected").wait_for()
    _shot(page, "03-two-invoices-selected")

    # Reject 1000 with a reason: first without one (refused in the page), then with one.
    _row_checkbox(page, 1002).uncheck()
    page.get_by_text("1 selected").wait_for()
    page.get_by_text("INV-000").first.wait_for()  # the details panel of the one selected invoice
    page.get_by_role("button", name="Reject", exact=True).click()
    page.get_by_text("A reason is required to reject").wait_for()
    page.get_by_placeholder("Why is it rejected?").fill("Retainage is wrong on line 1")
    page.get_by_role("button", name="Reject", exact=True).click()
    page.get_by_text("Rejected 1 subcontractor invoice: INV-000").wait_for()
    page.get_by_role("button", name="Ready to Export (4)").wait_for()
    page.get_by_role("button", name="Rejected (1)").wait_for()
    _shot(page, "04-one-rejected")

    _row_checkbox(page, 1002).check()
    page.get_by_role("button", name="Accept", exact=True).click()
    page.get_by_text("Accepted 1 subcontractor invoice: INV-002").wait_for()
    page.get_by_role("button", name="Ready to Export (3)").wait_for()
    page.get_by_role("button", name="Exporting (1)").click()
    page.locator('.tabulator-cell[tabulator-field="procore_id"]', has_text=re.compile(r"^1002$")).wait_for()
    _shot(page, "05-accepted-exporting")

    _tab(page, "Audit log").click()
    page.get_by_text("Retainage is wrong on line 1").wait_for()
    page.locator(
        '.tabulator-cell[tabulator-field="action"]', has_text=re.compile(r"^accept$")
    ).first.wait_for()
    _shot(page, "06-audit-log")
    page.close()

    # The library agrees with what the page showed.
    ws = server.workspace
    states = dict(
        ws.store.execute(
            "SELECT procore_id, status FROM erp_items WHERE procore_id IN (1000, 1002)"
        ).fetchall()
    )
    assert states == {1000: "rejected", 1002: "exporting"}


def test_read_only_user_cannot_act(browser, server):
    page = _sign_in(browser, server, "vic@example.com")
    page.get_by_text("Read-only: accepting, rejecting").wait_for()
    assert page.get_by_role("button", name="Accept", exact=True).is_disabled()
    assert page.get_by_role("button", name="Reject", exact=True).is_disabled()
    assert _tab(page, "Settings").count() == 0
    _shot(page, "07-read-only")
    page.close()


def test_admin_sees_settings_with_connection_status(browser, server):
    page = _sign_in(browser, server, "ada@example.com")
    _tab(page, "Settings").click()
    page.get_by_text("Configure Advanced Settings").wait_for()
    page.get_by_text("Not Connected").first.wait_for()
    page.get_by_text("Use Procore Contract #").wait_for()
    _shot(page, "08-settings")
    page.close()


def test_admin_queues_a_refresh_from_quickbooks(browser, server):
    page = _sign_in(browser, server, "ada@example.com")
    _tab(page, "Settings").click()
    page.get_by_role("button", name="Refresh from QuickBooks").click()
    page.get_by_text(re.compile(r"Refresh of 9 kind\(s\) queued")).wait_for()
    page.get_by_text("Refresh jobs: 9 waiting for the Web Connector.").wait_for()
    # the jobs table, one row per kind in words (not NaN: its columns keep their types from the empty table)
    page.get_by_text("Customers and jobs").wait_for()
    assert page.get_by_text("Waiting for the Web Connector", exact=True).count() == 9
    assert page.get_by_text("NaN", exact=True).count() == 0
    _shot(page, "08b-refresh-queued")
    page.close()


def test_reconciliation_view_renders_its_charts(browser, server):
    page = _sign_in(browser, server, "ann@example.com")
    _tab(page, "Reconciliation").click()
    page.get_by_text(re.compile(r"finding\(s\); absolute money difference")).wait_for(timeout=60_000)
    page.get_by_text("Download Excel report").wait_for()
    canvases = page.locator("canvas")
    page.wait_for_function("() => true")  # one round-trip so Bokeh has laid the figures out
    for _ in range(50):
        if canvases.count() >= 2:
            break
        page.wait_for_timeout(200)
    assert canvases.count() >= 2, "the two variance charts (by project, by vendor) did not render"
    _shot(page, "09-reconciliation")
    page.close()
