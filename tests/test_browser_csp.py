"""The dashboard under the server's Content-Security-Policy in a real browser (Debian's Chromium): it renders,
signs in and shows its views, and the browser reports no blocked resource of the page itself."""

from __future__ import annotations

import shutil

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from test_dashboard import seed, seed_users

    from qbrecon import Workspace
    from qbrecon.server import start_server

    ws = Workspace(tmp_path_factory.mktemp("csp") / "company.duckdb")
    seed(ws, invoices=3)
    seed_users(ws, PASSWORD)
    running = start_server(ws, port=0, dashboard=True)
    yield running
    running.stop()
    ws.close()


def test_dashboard_renders_and_works_under_the_policy(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if not executable:
        pytest.skip("Debian's chromium is not installed")
    blocked: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(20_000)
            page.on(
                "console",
                lambda m: (
                    blocked.append(f"{m.text} @ {m.location.get('url')}")
                    if "Content Security Policy" in m.text
                    else None
                ),
            )
            response = page.goto(server.base_url + "/")
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            page.locator("input[type=text]").first.fill("ada@example.com")
            page.locator("input[type=password]").fill(PASSWORD)
            page.get_by_role("button", name="Sign in", exact=True).click()
            page.get_by_role("button", name="Sign out", exact=True).wait_for()
            page.get_by_text("Settings", exact=True).first.click()
            page.get_by_text("Reconciliation", exact=True).first.click()
            page.wait_for_timeout(1500)
        finally:
            browser.close()
    # es-module-shims probes for native module support with an inline script in an iframe; that probe being
    # refused is expected (Panel runs it in shim mode). Anything else blocked is a resource the page needed.
    needed = [b for b in blocked if "es-module-shims" not in b and "about:srcdoc" not in b]
    assert not needed, needed
