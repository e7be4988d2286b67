"""A Procore export is loaded chunk by chunk (page files gathered up to ``CHUNK_ROWS`` rows): the outcome must be
the same as one chunk, and the load stays atomic when a late page is bad."""

from __future__ import annotations

import pandas as pd
import pytest

from qbrecon.errors import InputError
from qbrecon.fixtures.generator import generate
from qbrecon.loaders import procore as procore_reader
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


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    out = tmp_path_factory.mktemp("fixtures") / "gen"
    generate(
        out,
        projects=3,
        seed=3,
        commitments_per_project=4,
        invoices_per_commitment=3,
        requisitions_per_page=4,
        page_size=5,
    )
    return out / "procore"


def _frames(ws: Workspace) -> dict[str, pd.DataFrame]:
    out = {}
    for t in TABLES:
        f = ws.frame(t).drop(columns=["_load_id", "_loaded_at"])
        out[t] = f.sort_values(list(f.columns)).reset_index(drop=True) if len(f) else f
    return out


def test_small_chunks_load_what_one_chunk_loads(export, tmp_path, monkeypatch):
    one = Workspace(tmp_path / "one.duckdb")
    r_one = one.load_procore(export)
    monkeypatch.setattr(procore_reader, "CHUNK_ROWS", 40)
    many = Workspace(tmp_path / "many.duckdb")
    r_many = many.load_procore(export)
    assert len(list(procore_reader.ExportReader(export).chunks())) > 5
    assert r_one.tables == r_many.tables and r_one.files == r_many.files and r_one.notes == r_many.notes
    assert r_many.tables["invoice_lines"].loaded > 100
    a, b = _frames(one), _frames(many)
    for t in TABLES:
        pd.testing.assert_frame_equal(a[t], b[t], obj=t)


def test_a_bad_last_page_writes_nothing(export, tmp_path, monkeypatch):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(export, bad)
    (bad / "requisitions" / "page_9999.json").write_text('[{"id": 1, ', encoding="utf-8")
    monkeypatch.setattr(procore_reader, "CHUNK_ROWS", 40)
    ws = Workspace(tmp_path / "ws.duckdb")
    with pytest.raises(InputError, match="page_9999"):
        ws.load_procore(bad)
    assert all(ws.store.count(t) == 0 for t in TABLES)
    assert ws.store.count("load_runs") == 0


def test_written_chunks_are_not_held_until_the_load_commits(export, tmp_path, monkeypatch):
    """Memory grows with the chunk, not the load: once a chunk is written, nothing of it stays in memory while the
    load's transaction is still open (a view ``register``-ed inside a transaction kept each chunk's Arrow rows in
    DuckDB's catalog until the commit)."""
    import pyarrow as pa

    monkeypatch.setattr(procore_reader, "CHUNK_ROWS", 40)
    ws = Workspace(tmp_path / "w.duckdb")
    held = []
    chunks = procore_reader.ExportReader.chunks

    def watched(self):
        for chunk in chunks(self):
            yield chunk
            held.append(pa.total_allocated_bytes())  # the chunk has been written

    monkeypatch.setattr(procore_reader.ExportReader, "chunks", watched)
    ws.load_procore(export)
    assert len(held) > 10
    # a written chunk's rows are a few KB here; with every chunk kept, the last count is many times the first
    assert held[-1] < 2 * max(held[:3]) + 64 * 1024, held
