"""A small synced world for the sync tests: generated fixtures loaded into a workspace, the matching simulated
QuickBooks company, and an approver driving everything that can go through send -> accept -> export."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from qbrecon import Workspace
from qbrecon.entities import EXPORTABLE, PAIRS
from qbrecon.errors import BatchRejected
from qbrecon.qbwc.simulator import QuickBooksCompany

_FIXTURES: dict[tuple, Path] = {}


def fixture_dir(base: Path, projects: int = 1, seed: int = 3, **sizes: int) -> Path:
    """Generated fixtures (Procore export + QuickBooks responses), made once per arguments per process;
    ``sizes`` are ``fixtures.generate``'s (commitments_per_project, invoices_per_commitment, ...)."""
    from qbrecon import fixtures

    key = (projects, seed, *sorted(sizes.items()))
    if key not in _FIXTURES or not _FIXTURES[key].exists():
        out = base / (
            "fx-"
            + "-".join(str(k) for k in key)
            .replace("(", "")
            .replace(")", "")
            .replace("'", "")
            .replace(", ", "_")
        )
        if out.exists():
            shutil.rmtree(out)
        fixtures.generate(out, projects=projects, seed=seed, **sizes)
        _FIXTURES[key] = out
    return _FIXTURES[key]


ADMIN_TOOLS = ("directory", "admin", "projects", "budget", "commitments", "timesheets")


def put_admin(ws, tools: tuple[str, ...] = ADMIN_TOOLS) -> None:
    """User 1, "ada": an ERP admin who can push to accounting (may send, accept and export), admin on ``tools``
    (the items she may send)."""
    ws.store.put_rows(
        "users",
        [
            dict(
                id=1,
                name="Ada",
                login="ada",
                is_active=True,
                erp_integrations_permission="admin",
                can_push_to_accounting=True,
            )
        ],
    )
    ws.store.put_rows(
        "user_tool_permissions",
        [dict(user_id=1, tool=t, level="admin") for t in tools],
    )


def synced_but_invoices(base: Path, fx: Path) -> tuple[Workspace, QuickBooksCompany, pd.DataFrame]:
    """The fixture world with everything but subcontractor invoices synced, and the invoices that can be sent."""
    ws = open_world(base / "ws.duckdb", fx)
    company = company_for(base / "company.duckdb", fx)
    sync_all(ws, company, item_types=[t for t in EXPORTABLE if t != "invoice"])
    queue = ws.queue(item_type="invoice")
    return ws, company, queue[(queue["status"] == "not_sent") & queue["can_send"].fillna(False)]


def admin_id(ws) -> int:
    users = ws.frame("users")
    return int(users[users["erp_integrations_permission"] == "admin"]["id"].iloc[0])


def open_world(path: Path, fx: Path) -> Workspace:
    """A workspace with both sides loaded and the settings an export needs."""
    ws = Workspace(path)
    ws.load_procore(fx / "procore")
    ws.load_quickbooks(fx / "quickbooks")
    items = ws.frame("items")
    retainage = [n for n in items["FullName"] if "retain" in str(n).lower()][0]
    ws.update_settings(
        by=admin_id(ws), invoice_retainage_item=retainage, service_item_expense_account="Job Expenses"
    )
    ws.refresh_queue()
    return ws


def company_for(path: Path, fx: Path) -> QuickBooksCompany:
    company = QuickBooksCompany(path, validate=False)
    company.seed_from(fx / "quickbooks")
    return company


def top_customer(ws) -> str:
    customers = ws.frame("customers")
    return str(customers[customers["Sublevel"].fillna(0) == 0]["FullName"].iloc[0])


def tolerant(fn, frame: pd.DataFrame, **kw) -> int:
    """Apply a batch decision to the rows that allow it (the fixtures carry deliberate problems)."""
    frame = frame[["item_type", "procore_id"]]
    while len(frame):
        try:
            return fn(frame, **kw).count
        except BatchRejected as exc:
            bad = {(p["item_type"], p["procore_id"]) for p in exc.problems}
            keep = [(t, p) not in bad for t, p in zip(frame["item_type"], frame["procore_id"], strict=True)]
            frame = frame[pd.Series(keep, index=frame.index, dtype=bool)]
    return 0


def approve(
    ws, item_types: list[str] | None = None, admin: int | None = None, customer: str | None = None
) -> int:
    """Send what can be sent and accept what is Ready to Export (of ``item_types``, default all), as ``admin``
    naming ``customer`` for jobs (read from the workspace when not given)."""
    admin = admin_id(ws) if admin is None else admin
    types = list(item_types or EXPORTABLE)
    # The queue view (every pair's details and blockers) costs tens of milliseconds even for a small company: it
    # is read only for the items in a status send takes; what accept takes is read from the items' status alone.
    n = 0
    if _count(ws, ["not_sent", "unlinked"], types):
        q = ws.queue(["not_sent", "unlinked"], item_type=types)
        n = tolerant(ws.send, q[q["can_send"].fillna(False)], by=admin)
    if not _count(ws, ["ready_to_export"], types):
        return n
    ready = ws.store.frame(
        "SELECT item_type, procore_id FROM erp_items WHERE status = 'ready_to_export' AND list_contains(?, item_type) "
        "ORDER BY item_type, procore_id",
        [types],
    )
    customer = top_customer(ws) if customer is None else customer
    return n + tolerant(ws.accept, ready, by=admin, customer=customer)


def _count(ws, statuses: list[str], item_types: list[str]) -> int:
    return int(
        ws.store.scalar(
            "SELECT count(*) FROM erp_items WHERE list_contains(?, status) AND list_contains(?, item_type)",
            [statuses, item_types],
        )
    )


def sync_all(ws, company, rounds: int = 8, item_types: list[str] | None = None) -> None:
    """Approve and export level by level until nothing more moves."""
    for _ in range(rounds):
        moved = approve(ws, item_types)
        summary = ws.export(company.process)
        if not moved and not summary.requests:
            return


def linked_count(ws, table: str) -> int:
    return int(ws.store.scalar(f'SELECT count(*) FROM "{table}" WHERE origin_id IS NOT NULL'))


def order_of(item_type: str) -> int:
    return PAIRS[item_type].export_order
