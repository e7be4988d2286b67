"""Dashboard benchmark in browser CPU, not wall time: what Chromium's main thread spends on each step.

``python benchmarks/bench_dashboard_cpu.py 100000 [rounds]`` prints JSON: per step, the medians over ``rounds``
fresh pages of Chromium's own counters (Chrome DevTools Protocol ``Performance.getMetrics`` with thread ticks:
TaskDuration, ScriptDuration, LayoutDuration, RecalcStyleDuration in ms of the renderer's main-thread CPU, and
how many layouts and style recalculations ran), read before the step and after it has settled. Thread CPU does
not grow when other processes take the cores, so code before and after a change can be compared on a loaded
machine, where the wall-clock timings of ``bench_dashboard.py`` mostly measure the wait for a core. The steps are
those of ``bench_dashboard.py`` on the same workspace: sign-in, the first visit of another item type's tab, back
to Subcontractor Invoices, a filter, a search, and the confirmation of a 1,000-item accept (``wall_ms``: its
wall time, for comparison).
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_dashboard import PASSWORD, VENDORS, build
from qbrecon.server import start_server

COUNTERS = [
    "TaskDuration",
    "ScriptDuration",
    "LayoutDuration",
    "RecalcStyleDuration",
    "LayoutCount",
    "RecalcStyleCount",
]
SETTLE = 1.5  # s after a step's answer is shown: the layout tasks Panel and Tabulator defer run within it


def _counters(cdp: Any) -> dict[str, float]:
    got = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {k: got[k] for k in COUNTERS}


def _spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round((after[k] - before[k]) * (1000 if "Duration" in k else 1), 1) for k in COUNTERS}


def measure(n: int, rounds: int = 3) -> dict:
    from playwright.sync_api import sync_playwright

    per_vendor = n // VENDORS
    runs: list[dict[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = build(Path(tmp) / "bench.duckdb", n)
        server = start_server(ws, port=0, dashboard=True)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                for r in range(rounds):
                    page = browser.new_page(viewport={"width": 1440, "height": 900})
                    page.set_default_timeout(60_000)
                    cdp = page.context.new_cdp_session(page)
                    cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
                    page.goto(server.base_url + "/")
                    page.locator("input[type=text]").first.fill("ann@example.com")
                    page.locator("input[type=password]").fill(PASSWORD)
                    time.sleep(SETTLE)
                    run: dict[str, dict[str, float]] = {}

                    def step(name: str, act: Any, shown: Any, _run: dict = run, _cdp: Any = cdp) -> None:
                        before = _counters(_cdp)
                        start = time.perf_counter()
                        act()
                        shown.wait_for()
                        wall = (time.perf_counter() - start) * 1000
                        time.sleep(SETTLE)
                        _run[name] = _spent(before, _counters(_cdp)) | {"wall_ms": round(wall)}

                    pager = page.get_by_text(re.compile(r"rows 1–25 of [\d,]+$"))
                    step("sign_in", page.get_by_role("button", name="Sign in", exact=True).click, pager)
                    step(
                        "tab_first_visit",
                        page.get_by_role("button", name=re.compile(r"^Jobs \(")).click,
                        page.locator(".tabulator-col-title", has_text=re.compile("^Project #$")).first,
                    )
                    step(
                        "tab_back",
                        page.get_by_role("button", name=re.compile(r"^Subcontractor Invoices \(")).click,
                        page.locator(".tabulator-col-title", has_text=re.compile("^Invoice #$")).first,
                    )
                    step(
                        "filter",
                        page.get_by_role("button", name=re.compile(r"^Synced \(")).click,
                        page.get_by_text(re.compile(r"rows 0–0 of 0$")),
                    )
                    page.get_by_role("button", name=re.compile(r"^Ready to Export \(")).click()
                    pager.wait_for()
                    box = page.get_by_placeholder("Search name, number, vendor, project or Procore ID")
                    box.fill(f"V{r:03d}X")
                    step(
                        "search",
                        lambda b=box: b.press("Enter"),
                        page.get_by_text(re.compile(rf"of {per_vendor:,}$")),
                    )
                    page.get_by_role("button", name=f"Select all {per_vendor:,} that match").click()
                    page.get_by_text(re.compile(rf"All {per_vendor:,} that match selected")).wait_for()
                    page.get_by_role("button", name="Accept", exact=True).click()
                    confirm = page.get_by_role("dialog").get_by_role("button", name=f"Accept {per_vendor:,}")
                    confirm.wait_for()
                    time.sleep(SETTLE)
                    step(
                        "accept_confirm",
                        confirm.click,
                        page.get_by_text(re.compile(rf"^Accepted {per_vendor:,} subcontractor")),
                    )
                    runs.append(run)
                    page.close()
                browser.close()
        finally:
            server.stop()
            ws.close()
    medians = {
        name: {k: round(statistics.median(r[name][k] for r in runs), 1) for k in runs[0][name]}
        for name in runs[0]
    }
    return {"benchmark": "dashboard_cpu", "items": n, "rounds": rounds, "median": medians, "runs": runs}


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(json.dumps(measure(n, int(sys.argv[2]) if len(sys.argv) > 2 else 3), indent=2))
