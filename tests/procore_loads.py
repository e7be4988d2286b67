"""What the Procore load tests share: the tables a load writes, a small generated export and a load's rows in
an order to compare, a copy of the export to spoil and the check that a refused load stored nothing
(tests/test_load_chunks.py, tests/test_load_sql.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from qbrecon.fixtures.generator import generate
from qbrecon.workspace_full import Workspace

TABLES = [
    "projects",
    "companies",
    "cost_codes",
    "budget_line_items",
    "budget_changes",
    "commitments",
    "commitment_lines",
    "change_orders",
    "change_order_lines",
    "invoices",
    "invoice_lines",
    "payments_issued",
    "timecard_entries",
    "users",
]


def small_export(out: Path, seed: int) -> Path:
    """A 3-project export in pages of 5 records (4 requisitions a page): many files for a few hundred rows."""
    generate(
        out,
        projects=3,
        seed=seed,
        commitments_per_project=4,
        invoices_per_commitment=3,
        requisitions_per_page=4,
        page_size=5,
    )
    return out / "procore"


def frames(ws: Workspace) -> dict[str, pd.DataFrame]:
    """Every loaded table without its load bookkeeping, rows sorted: two loads of the same data compare equal."""
    out = {}
    for t in TABLES:
        f = ws.frame(t).drop(columns=["_load_id", "_loaded_at"])
        out[t] = f.sort_values(list(f.columns)).reset_index(drop=True) if len(f) else f
    return out


def copy_of(export: Path, tmp_path: Path) -> Path:
    """A copy of the export (``tmp_path / "bad"``) for a test to spoil."""
    bad = tmp_path / "bad"
    shutil.copytree(export, bad)
    return bad


def assert_nothing_stored(ws: Workspace) -> None:
    """A refused load wrote no row and no load run."""
    assert all(ws.store.count(t) == 0 for t in TABLES)
    assert ws.store.count("load_runs") == 0
