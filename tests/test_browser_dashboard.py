"""The approver's dashboard in a real browser: Debian's Chromium driven by Playwright, against the one-process
server (dashboard + Web Connector endpoint) started on a free loopback port.

Two workspaces: the demo's (``qbrecon demo``: it lands on an empty view, has a commitment whose PO number is
too long, and carries injected script in a Procore name, a rejection reason and the connection's last error),
and a small seeded company for the decisions (reject in a dialog, batch accept, select all that match, accept
options). Screenshots of each view go to tests/artifacts/ (git-ignored). Panel renders inside shadow roots, so
the tests use Playwright locators (which pierce open shadow roots), never ``inner_text("body")``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

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
IMG = "<img src=x onerror=window.__xss=1>"
SCRIPT = "<script>window.__xss=1</script>"
BAD_WORDS = re.compile(r"^(NaN|nan|<NA>|None|NaT|null|undefined)$|\d,\d{3}\.0$")
APPROVER, VIEWER = "james.bennett@example-builders.com", "aisha.okafor@example-builders.com"
DEMO_PASSWORDS = {APPROVER: "demo-approver", VIEWER: "demo-readonly"}


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
    seed(ws, invoices=60)
    seed_users(ws, PASSWORD)
    ws.store.execute(
        "INSERT INTO erp_items (item_type, procore_id, status) VALUES ('company', 11, 'ready_to_export')"
    )
    ws.store.execute(
        """INSERT INTO vendors ("ListID", "Name", "VendorTypeRef_FullName") VALUES ('80000099-1', 'Old Vendor',
           'Subcontractor')"""
    )
    running = start_server(ws, port=0, dashboard=True)
    yield running
    running.stop()
    ws.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's workspace with script injected where Procore users, a remote caller and an approver write
    text: a commitment's title, a rejection reason, the connection's last error (written directly)."""
    from qbrecon import Workspace
    from qbrecon.server import start_server

    folder = tmp_path_factory.mktemp("demo")
    cli = [sys.executable, "-c", "import sys; from qbrecon.cli import main; sys.exit(main())"]
    subprocess.run(
        [*cli, "demo", "--workspace", "demo.duckdb"],
        cwd=folder,
        check=True,
        capture_output=True,
        timeout=240,
    )
    ws = Workspace(folder / "demo.duckdb")
    ws.store.execute(f"UPDATE commitments SET title = title || ' {IMG}' WHERE id = 786023")
    ws.store.execute(
        f"UPDATE companies SET name = name || ' {SCRIPT}' WHERE id = (SELECT min(procore_id) FROM erp_items "
        "WHERE item_type = 'company' AND status = 'synced')"
    )
    ws.store.execute(
        "UPDATE erp_items SET reason = ? WHERE procore_id = 1280030", [f"Fix retainage {SCRIPT}"]
    )
    ws.store.execute(
        "UPDATE erp_settings SET value = ? WHERE key = 'last_error'", [json.dumps(f"boom {IMG}")]
    )
    running = start_server(ws, port=0, dashboard=True)
    yield running
    running.stop()
    ws.close()


def _sign_in(browser, server, login: str, password: str = PASSWORD, width: int = 1500, enter: bool = False):
    page = browser.new_page(viewport={"width": width, "height": 1000})
    page.set_default_timeout(15_000)
    page.goto(server.base_url + "/")
    page.locator("input[type=text]").first.fill(login)
    page.locator("input[type=password]").fill(password)
    if enter:
        page.locator("input[type=password]").press("Enter")
    else:
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


def _cell(page, field: str, text: str):
    return page.locator(
        f'.tabulator-cell[tabulator-field="{field}"]', has_text=re.compile(rf"^{re.escape(text)}$")
    )


def _row_checkbox(page, procore_id: int):
    row = page.locator(".tabulator-row").filter(has=_cell(page, "procore_id", str(procore_id)))
    return row.locator("input[type=checkbox]")


def _header(page, title: str):
    """A column title of a table on screen (hidden tabs hold tables too)."""
    return (
        page.locator(".tabulator-col-title", has_text=re.compile(rf"^{re.escape(title)}$"))
        .locator("visible=true")
        .first
    )


def _button(page, label: str):
    """A tab or filter button by its label, whatever its count: "Rejected (2)"."""
    return page.get_by_role("button", name=re.compile(rf"^{re.escape(label)} \([\d,]+\)$"))


def _count(label: str) -> int:
    return int(re.search(r"\(([\d,]+)\)$", label).group(1).replace(",", ""))


def _no_script_ran(page) -> None:
    assert page.evaluate("() => window.__xss") is None, "injected script ran in the page"


# -- the demo: empty view first, every tab and filter, the refusal fixed in the page, no script runs ----------
def test_every_tab_and_filter_after_an_empty_first_view(browser, demo):
    from qbrecon.dashboard.queries import FILTERS, TAB_ORDER, status_label
    from qbrecon.dashboard.queue_view import queue_columns
    from qbrecon.entities import PAIRS

    page = _sign_in(browser, demo, APPROVER, DEMO_PASSWORDS[APPROVER], width=1280, enter=True)
    # the demo lands on Subcontractor Invoices / Ready to Export with nothing in it
    page.get_by_role("button", name="Ready to Export (0)").wait_for()
    page.get_by_text("No subcontractor invoices under Ready to Export").wait_for()
    _shot(page, "10-demo-empty-first-view")
    seen = expected = 0
    for item_type in TAB_ORDER:
        shot = False
        _button(page, PAIRS[item_type].label).click()
        for status in FILTERS:
            button = _button(page, status_label(status))
            button.click()
            columns = queue_columns(item_type, status)
            try:
                _header(page, columns[1].title).wait_for()
                _header(page, columns[-2].title).wait_for()
                count = _count(button.inner_text())  # the labels of this tab's filters are on screen now
                page.get_by_text(re.compile(rf"rows .* of {count:,}$")).wait_for()
            except Exception:
                _shot(page, f"failed-{item_type}-{status}")
                raise
            cells = page.locator(".tabulator-cell").all_inner_texts()
            bad = [c for c in cells if BAD_WORDS.search(c.strip())]
            assert not bad, f"{item_type}/{status}: {bad[:5]}"
            ids = page.locator('.tabulator-cell[tabulator-field="procore_id"]').all_inner_texts()
            assert all(re.fullmatch(r"\d+", i) for i in ids), ids[:5]
            seen += len(ids)
            expected += min(count, 25)  # the first page of every view shows its rows, also on a second visit
            if count and not shot:  # one screenshot per tab, of its first view with rows
                _shot(page, f"11-demo-{item_type}-{status}")
                shot = True
    assert seen == expected and seen > 100  # the demo's items on the first pages: the walk read them all
    _no_script_ran(page)
    page.close()


def test_approver_fixes_the_demo_refusal_with_a_quickbooks_po_number(browser, demo):
    page = _sign_in(browser, demo, APPROVER, DEMO_PASSWORDS[APPROVER], width=1280)
    page.get_by_role("button", name="Commitments (1)").click()
    _row_checkbox(page, 786023).check()
    # the title with the injected markup shows as text in the table and the details, and never runs
    page.get_by_text(IMG).first.wait_for()
    page.get_by_text("Commitment 786023").wait_for()
    _no_script_ran(page)
    page.get_by_role("button", name="Accept", exact=True).click()
    page.get_by_text("QuickBooks PO number PO-005-REV-VALFIR is longer than 11 characters").wait_for()
    _shot(page, "12-demo-po-number-refused")
    page.get_by_placeholder("empty: Procore's number").fill("PO-005-R")
    page.get_by_role("button", name="Accept", exact=True).click()
    page.get_by_text("Accepted 1 commitment: PO-005-REV-VALFIR.").wait_for()
    page.get_by_role("button", name="Commitments (0)").wait_for()
    _shot(page, "13-demo-po-number-accepted")
    page.close()
    row = demo.workspace.store.frame(
        "SELECT status, export_options FROM erp_items WHERE item_type = 'commitment' AND procore_id = 786023"
    ).iloc[0]
    assert row["status"] == "exporting" and "PO-005-R" in row["export_options"]


@pytest.mark.parametrize("login", [APPROVER, VIEWER])
def test_injected_script_never_runs_and_shows_as_text(browser, demo, login):
    page = _sign_in(browser, demo, login, DEMO_PASSWORDS[login], width=1280)
    page.get_by_text(f"last error: boom {IMG}").wait_for()  # the header, literally
    _button(page, "Subcontractor Invoices").click()
    _button(page, "Rejected").click()
    if login == APPROVER:
        _row_checkbox(page, 1280030).check()
    else:
        _cell(page, "reason", f"Fix retainage {SCRIPT}").click()  # viewers: a click shows the details
    page.get_by_text(f"Reason: Fix retainage {SCRIPT}").wait_for()
    _button(page, "Companies").click()
    _button(page, "Synced").click()
    page.get_by_text(SCRIPT).first.wait_for()
    _tab(page, "Audit log").click()
    page.get_by_text(re.compile(r"rows 1–50 of [\d,]+$")).wait_for()
    audit = (
        page.locator('.tabulator-cell[tabulator-field="action"]').locator("visible=true").all_inner_texts()
    )
    assert audit and not [a for a in audit if "_" in a or BAD_WORDS.search(a)], audit[:5]
    _shot(page, f"14-xss-{login.split('.')[0]}")
    _no_script_ran(page)
    if login == VIEWER:
        _tab(page, "ERP Integrations").click()
        page.get_by_text("Read-only: accepting, rejecting").wait_for()
        for name in ("Accept", "Reject…", "Retry", "Retrieve", "Unlink", "Clear selection"):
            assert page.get_by_role("button", name=name, exact=True).count() == 0
        assert page.get_by_role("button", name=re.compile(r"^Select all")).count() == 0
        assert page.locator("input[type=checkbox]").count() == 0
        assert _tab(page, "Settings").count() == 0
        _shot(page, "15-read-only-no-actions")
    page.close()


def test_no_request_leaves_the_server(browser, demo):
    """Closed networks: every resource of the dashboard (Panel, Bokeh, Tabulator, the dialog, the charts) comes
    from our own server, and the HTML report loads nothing either."""
    requests: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.on("request", lambda r: requests.append(r.url))
    page.set_default_timeout(30_000)
    page.goto(demo.base_url + "/")
    page.locator("input[type=text]").first.fill(APPROVER)
    page.locator("input[type=password]").fill(DEMO_PASSWORDS[APPROVER])
    page.get_by_role("button", name="Sign in", exact=True).click()
    _button(page, "Subcontractor Invoices").click()  # the tab the approver last used may be another
    page.get_by_role("button", name=re.compile(r"^Failed to Export")).click()
    _row_checkbox(page, 1280042).check()
    page.get_by_role("button", name="Reject…").click()
    page.get_by_role("button", name="Cancel").click()
    _tab(page, "Audit log").click()
    _tab(page, "Reconciliation").click()
    page.get_by_text(re.compile(r"finding\(s\); absolute money difference")).wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    assert page.locator("canvas").count() >= 2
    _shot(page, "16-demo-reconciliation-1280")
    html = demo.workspace.reconcile().to_html()
    report = browser.new_page()
    report.on("request", lambda r: requests.append(r.url))
    report.set_content(html)
    report.wait_for_timeout(500)
    report.close()
    page.close()
    outside = [u for u in requests if not u.startswith((demo.base_url, "blob:", "data:", "about:"))]
    assert not outside, outside


def test_demo_failed_invoice_shows_quickbooks_own_error(browser, demo):
    """The invoice Procore marked Failed to Export was sent again by the demo and refused by QuickBooks: the
    queue shows QuickBooks' status code and message and the attempts, not a bare Procore flag."""
    page = _sign_in(browser, demo, APPROVER, DEMO_PASSWORDS[APPROVER])
    _button(page, "Subcontractor Invoices").click()
    page.get_by_role("button", name=re.compile(r"^Failed to Export \(1\)")).click()
    error = re.compile(r"^3180: Purchase order SC-005 is closed\.")
    page.locator('.tabulator-cell[tabulator-field="error"]', has_text=error).wait_for()
    attempts = page.locator('.tabulator-cell[tabulator-field="attempts"]').locator("visible=true").first
    assert int(attempts.inner_text()) >= 1
    _row_checkbox(page, 1280042).check()
    page.get_by_text(re.compile(r"QuickBooks error: 3180: Purchase order SC-005 is closed\.")).wait_for()
    _shot(page, "18-demo-failed-invoice-quickbooks-error")
    page.close()


def test_reconciliation_money_fits_1280_px_with_labels(browser, demo):
    page = _sign_in(browser, demo, APPROVER, DEMO_PASSWORDS[APPROVER], width=1280)
    _tab(page, "Reconciliation").click()
    page.get_by_text(re.compile(r"finding\(s\); absolute money difference")).wait_for(timeout=60_000)
    for title in ("Procore total", "QuickBooks total", "Difference"):
        box = _header(page, title).bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1280, (title, box)
    _cell(page, "label", "Subcontractor invoices ↔ Bills").first.wait_for()
    _cell(page, "pair", "Commitments").first.wait_for()
    cells = page.locator(".tabulator-cell").all_inner_texts()
    assert not [c for c in cells if BAD_WORDS.search(c.strip())]
    assert "failed_to_export" not in cells and "matched_with_differences" not in cells
    _shot(page, "17-reconciliation-labels")
    page.close()


# -- the seeded company: decisions --------------------------------------------------------------------------
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


# The queue table's cells (Panel renders in shadow roots, so the search walks them), and the first cell's
# element kept from the frame it first shows in: a table drawn again after that has other cell elements.
_CELLS_JS = """() => {
    const found = [];
    const walk = (root) => {
        for (const el of root.querySelectorAll('.tabulator-cell[tabulator-field="procore_id"]')) found.push(el);
        for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
    };
    walk(document);
    return found.filter((el) => el.getClientRects().length > 0);
}"""
_WATCH_FIRST_CELL_JS = (
    "() => { const cells = " + _CELLS_JS + "; window.__firstCell = new Promise((resolve) => {"
    " const tick = () => { const el = cells()[0]; if (el) resolve(el); else requestAnimationFrame(tick); };"
    " tick(); }); }"
)


def test_the_queue_table_is_drawn_once_at_sign_in_and_again_when_its_size_changes(browser, server):
    """Panel redrew every new table in full twice after Tabulator built it (~2/3 of the browser's table work at
    sign-in) though nothing had changed; the dashboard's tabulator_first_draw.js skips those redraws only. The
    cells first shown stay the cells shown; a window resized then redraws the table, with the same rows."""
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.set_default_timeout(15_000)
    page.goto(server.base_url + "/")
    page.locator("input[type=text]").first.fill("ann@example.com")
    page.locator("input[type=password]").fill(PASSWORD)
    page.evaluate(_WATCH_FIRST_CELL_JS)
    page.get_by_role("button", name="Sign in", exact=True).click()
    first_id = page.evaluate("async () => (await window.__firstCell).textContent")
    page.wait_for_timeout(1500)  # Panel's redraws ran at the next frame and when the page's root was ready
    shown = page.evaluate(
        "async () => { const first = await window.__firstCell; const cells = " + _CELLS_JS + ";"
        " return {same: cells()[0] === first, connected: first.isConnected,"
        " heights: cells().map((c) => c.parentElement.offsetHeight), ids: cells().map((c) => c.textContent)}; }"
    )
    assert shown["connected"] and shown["same"], "the table was drawn again after it first showed"
    assert shown["ids"][0] == first_id and len(shown["ids"]) == 25
    assert min(shown["heights"]) > 0
    page.set_viewport_size({"width": 1200, "height": 1000})
    page.wait_for_timeout(1500)
    resized = page.evaluate(
        "async () => { const first = await window.__firstCell; const cells = " + _CELLS_JS + ";"
        " return {connected: first.isConnected, heights: cells().map((c) => c.parentElement.offsetHeight),"
        " ids: cells().map((c) => c.textContent)}; }"
    )
    assert not resized["connected"], "a resized table must be redrawn"
    assert resized["ids"] == shown["ids"] and resized["heights"] == shown["heights"]
    page.close()


def test_approver_rejects_in_a_dialog_and_accepts_a_batch(browser, server):
    page = _sign_in(browser, server, "ann@example.com")
    page.get_by_role("button", name="Subcontractor Invoices (59)").wait_for()
    page.get_by_text("Total of the 59 item(s) in this view").wait_for()
    _shot(page, "02-queue-ready-to-export")

    _row_checkbox(page, 1000).check()
    page.get_by_text("1 selected").wait_for()
    page.get_by_text("Subcontractor invoice 1000: INV-000").wait_for()  # the details panel
    page.get_by_role("button", name="Reject…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Reject 1 subcontractor invoice").wait_for()
    dialog.get_by_role("button", name="Reject", exact=True).click()
    dialog.get_by_text("A reason is required to reject").wait_for()
    _shot(page, "03-reject-dialog")
    dialog.locator("textarea").fill("Retainage is wrong on line 1")
    dialog.get_by_role("button", name="Reject", exact=True).click()
    page.get_by_text("Rejected 1 subcontractor invoice: INV-000").wait_for()
    page.get_by_role("button", name="Ready to Export (58)").wait_for()

    # a batch across pages: rows on page 1 and 2, then a confirmation
    _row_checkbox(page, 1002).check()
    page.get_by_role("button", name="Next ▶").click()
    page.get_by_text("Page 2 of 3").wait_for()
    _row_checkbox(page, 1040).check()
    page.get_by_text("2 selected").wait_for()
    page.get_by_role("button", name="Accept", exact=True).click()
    page.get_by_role("dialog").get_by_text("Accept 2 subcontractor invoices (total 6,210.50)?").wait_for()
    _shot(page, "04-batch-confirmation")
    page.get_by_role("dialog").get_by_role("button", name="Accept 2").click()
    page.get_by_text("Accepted 2 subcontractor invoices: INV-002, INV-040.").wait_for()
    page.get_by_role("button", name="Exporting (2)").click()
    _header(page, "Accepted by").wait_for()
    _cell(page, "decided_by_name", "Ann Approver").first.wait_for()
    _shot(page, "05-accepted-exporting")

    _tab(page, "Audit log").click()
    page.get_by_text("Retainage is wrong on line 1").wait_for()
    _cell(page, "action", "Accepted for export").first.wait_for()
    page.get_by_placeholder("Procore ID, name or number").fill("1000")
    page.get_by_placeholder("Procore ID, name or number").press("Enter")
    page.get_by_text(re.compile(r"rows 1–1 of 1$")).wait_for()
    _shot(page, "06-audit-log-search")
    page.close()

    states = dict(
        server.workspace.store.execute(
            "SELECT procore_id, status FROM erp_items WHERE procore_id IN (1000, 1002, 1040)"
        ).fetchall()
    )
    assert states == {1000: "rejected", 1002: "exporting", 1040: "exporting"}


def test_select_all_that_match_then_accept_options(browser, server):
    page = _sign_in(browser, server, "ann@example.com")
    page.get_by_placeholder("Search name, number, vendor, project or Procore ID").fill("bolt")
    page.get_by_placeholder("Search name, number, vendor, project or Procore ID").press("Enter")
    page.get_by_text(re.compile(r"rows 1–25 of 29$")).wait_for()
    page.get_by_role("button", name="Select all 29 that match").click()
    page.get_by_text(re.compile(r"All 29 that match selected")).wait_for()
    page.get_by_role("button", name="Accept", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Accept 29").click()
    page.get_by_text(re.compile(r"^Accepted 29 subcontractor invoices")).wait_for()
    page.get_by_text(re.compile(r"rows 0–0 of 0$")).wait_for()
    page.get_by_text("matching “bolt”").wait_for()  # the empty-state message
    _shot(page, "07-select-all-matching-accepted")

    # a job goes under the QuickBooks customer chosen in the page
    page.get_by_role("button", name="Jobs (1)").click()
    _row_checkbox(page, 1).check()
    page.locator("select").filter(has=page.locator("option", has_text="Harbor Holdings")).select_option(
        "Harbor Holdings"
    )
    page.get_by_role("button", name="Accept", exact=True).click()
    page.get_by_text("Accepted 1 job").wait_for()

    # a company with a vendor type typed in the page
    page.get_by_role("button", name="Companies (1)").click()
    _row_checkbox(page, 11).check()
    page.get_by_placeholder("e.g. Subcontractor").fill("Electrical")
    page.get_by_role("button", name="Accept", exact=True).click()
    page.get_by_text("Accepted 1 compan").wait_for()
    _shot(page, "08-accept-options")
    page.close()

    store = server.workspace.store
    assert (
        store.scalar(
            "SELECT count(*) FROM erp_items e JOIN invoices i ON i.id = e.procore_id WHERE e.item_type = 'invoice' "
            "AND e.status = 'exporting' AND i.vendor_name = 'Bolt Electric'"
        )
        == 29
    )
    options = dict(
        store.execute(
            "SELECT item_type, export_options FROM erp_items WHERE item_type IN ('project', 'company') "
            "AND status = 'exporting'"
        ).fetchall()
    )
    assert "Harbor Holdings" in options["project"] and "Electrical" in options["company"]


def test_failed_export_shows_the_quickbooks_error(browser, server):
    page = _sign_in(browser, server, "vic@example.com")
    page.get_by_text("Read-only: accepting, rejecting").wait_for()
    page.get_by_role("button", name=re.compile(r"^Failed to Export \(1\)")).click()
    _cell(page, "error", '3140: There is an invalid reference to QuickBooks Vendor "Bolt Electric"').click()
    page.get_by_text(
        'QuickBooks error: 3140: There is an invalid reference to QuickBooks Vendor "Bolt Electric"'
    ).wait_for()
    _shot(page, "09-failed-export-error")
    page.close()


def test_admin_sees_settings_with_connection_status(browser, server):
    page = _sign_in(browser, server, "ada@example.com")
    _tab(page, "Settings").click()
    page.get_by_text("Configure Advanced Settings").wait_for()
    page.get_by_text("Not Connected").first.wait_for()
    page.get_by_text("Use Procore Contract #").wait_for()
    _shot(page, "18-settings")
    page.close()


def test_admin_queues_a_refresh_from_quickbooks(browser, server):
    from qbrecon.erp.refresh import KINDS  # every query kind, pair modules' too

    page = _sign_in(browser, server, "ada@example.com")
    _tab(page, "Settings").click()
    page.get_by_role("button", name="Refresh from QuickBooks").click()
    page.get_by_text(re.compile(rf"Refresh of {len(KINDS)} kind\(s\) queued")).wait_for()
    page.get_by_text(f"Refresh jobs: {len(KINDS)} waiting for the Web Connector.").wait_for()
    # the jobs table, one row per kind in words (not NaN: every cell is text from the empty table on)
    page.get_by_text("Customers and jobs").wait_for()
    assert page.get_by_text("Waiting for the Web Connector", exact=True).count() == len(KINDS)
    assert page.get_by_text("NaN", exact=True).count() == 0
    _shot(page, "19-refresh-queued")
    page.close()


def test_admin_archives_and_restores_an_erp_company_in_settings(browser, server):
    """The Settings tab's "ERP companies, cost codes, budgets and payroll export": the admin archives a QuickBooks
    vendor, reads it in the archived companies table, and restores it (the workspace is left as it was)."""
    page = _sign_in(browser, server, "ada@example.com")
    _tab(page, "Settings").click()
    page.get_by_text("ERP companies, cost codes, budgets and payroll export").wait_for()
    option = "Old Vendor (80000099-1)"
    page.locator("select", has=page.locator("option", has_text=option)).first.select_option(label=option)
    page.get_by_role("button", name="Archive", exact=True).click()
    page.get_by_text(f"1 company archived: {option}.").wait_for()
    _cell(page, "name", "Old Vendor").wait_for()
    _cell(page, "archived_by", "Ada Admin").wait_for()
    _shot(page, "20-erp-companies-archived")
    page.locator("select", has=page.locator("option", has_text=option)).last.select_option(label=option)
    page.get_by_role("button", name="Restore", exact=True).click()
    page.get_by_text(f"1 company restored to Ready to Import: {option}.").wait_for()
    from playwright.sync_api import expect

    expect(_cell(page, "name", "Old Vendor")).to_have_count(0)  # the table is empty again
    page.close()
