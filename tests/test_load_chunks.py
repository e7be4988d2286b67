"""A Procore export is loaded chunk by chunk (page files gathered up to ``CHUNK_ROWS`` rows): the outcome must be
the same as one chunk, and the load stays atomic when a late page is bad."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from procore_loads import TABLES, assert_nothing_stored, copy_of, frames, small_export

from qbrecon.errors import InputError
from qbrecon.loaders import procore as procore_reader
from qbrecon.loaders import procore_sql
from qbrecon.workspace_full import Workspace


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return small_export(tmp_path_factory.mktemp("fixtures") / "gen", seed=3)


def test_small_chunks_load_what_one_chunk_loads(export, tmp_path, monkeypatch):
    one = Workspace(tmp_path / "one.duckdb")
    r_one = one.load_procore(export)
    monkeypatch.setattr(procore_reader, "CHUNK_ROWS", 40)
    many = Workspace(tmp_path / "many.duckdb")
    r_many = many.load_procore(export)
    assert len(list(procore_reader.ExportReader(export).chunks())) > 5
    assert r_one.tables == r_many.tables and r_one.files == r_many.files and r_one.notes == r_many.notes
    assert r_many.tables["invoice_lines"].loaded > 100
    a, b = frames(one), frames(many)
    for t in TABLES:
        pd.testing.assert_frame_equal(a[t], b[t], obj=t)


def test_a_bad_last_page_writes_nothing(export, tmp_path, monkeypatch):
    bad = copy_of(export, tmp_path)
    (bad / "requisitions" / "page_9999.json").write_text('[{"id": 1, ', encoding="utf-8")
    monkeypatch.setattr(procore_reader, "CHUNK_ROWS", 40)
    ws = Workspace(tmp_path / "ws.duckdb")
    with pytest.raises(InputError, match="page_9999"):
        ws.load_procore(bad)
    assert_nothing_stored(ws)


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


def _quarantine(ws: Workspace) -> pd.DataFrame:
    q = ws.quarantine().drop(columns=["load_id", "quarantined_at"])
    return q.sort_values(list(q.columns)).reset_index(drop=True)


def test_pages_read_in_worker_processes_load_what_one_process_loads(export, tmp_path, monkeypatch):
    """A large page folder is read, converted and validated in worker processes: the same rows, counts, files,
    notes and quarantine (a bad line's whole invoice, with its source record) as reading every page here."""
    bad = copy_of(export, tmp_path)
    page = bad / "requisitions" / "page_0002.json"
    records = json.loads(page.read_text(encoding="utf-8"))
    records[0]["contract_items"][0]["scheduled_value"] = "12,5x"
    page.write_text(json.dumps(records), encoding="utf-8")
    monkeypatch.setattr(procore_sql, "SQL_RESOURCES", ())  # invoices' pages in the workers
    monkeypatch.setattr(procore_reader, "CHUNK_ROWS", 40)
    monkeypatch.setattr(procore_reader, "PART_BYTES", 3_000)  # a page or two per part

    monkeypatch.setattr(procore_reader, "_workers", lambda: 0)
    one = Workspace(tmp_path / "one.duckdb")
    r_one = one.load_procore(bad)

    monkeypatch.setattr(procore_reader, "_workers", lambda: 2)
    used = []
    in_workers = procore_reader.ExportReader._pages_in_workers

    def spied(self, parts, base, reader):
        used.append((parts.spec.table, sum(map(len, parts.parts))))
        yield from in_workers(self, parts, base, reader)

    monkeypatch.setattr(procore_reader.ExportReader, "_pages_in_workers", spied)
    many = Workspace(tmp_path / "many.duckdb")
    r_many = many.load_procore(bad)
    assert dict(used).get("invoices", 0) > 3
    assert r_one.tables == r_many.tables and r_one.files == r_many.files and r_one.notes == r_many.notes
    assert r_many.tables["invoices"].quarantined == 1 and r_many.tables["invoice_lines"].loaded > 100
    a, b = frames(one), frames(many)
    for t in TABLES:
        pd.testing.assert_frame_equal(a[t], b[t], obj=t)
    qa, qb = _quarantine(one), _quarantine(many)
    assert (qb["source_file"] == "requisitions/page_0002.json").all() and "12,5x" in " ".join(
        qb["source_record"]
    )
    pd.testing.assert_frame_equal(qa, qb)


_CHECK_PAGES = procore_reader._check_pages
_PARENT: list[int] = []


def _dies_in_a_worker(*args: object) -> object:
    """Reads pages in the loading process; ends a worker process abruptly, as a killed one ends."""
    if os.getpid() not in _PARENT:
        os._exit(9)
    return _CHECK_PAGES(*args)


def test_a_worker_process_that_dies_loses_nothing(export, tmp_path, monkeypatch):
    """A worker killed mid-load (out of memory, a crash): the pages it had and every page after them are read in
    the loading process, and the load stores what a load without workers stores."""
    monkeypatch.setattr(procore_sql, "SQL_RESOURCES", ())  # invoices' pages in the workers
    monkeypatch.setattr(procore_reader, "CHUNK_ROWS", 40)
    monkeypatch.setattr(procore_reader, "PART_BYTES", 3_000)
    monkeypatch.setattr(procore_reader, "_workers", lambda: 0)
    one = Workspace(tmp_path / "one.duckdb")
    r_one = one.load_procore(export)
    monkeypatch.setattr(procore_reader, "_workers", lambda: 2)
    monkeypatch.setattr(procore_reader, "_check_pages", _dies_in_a_worker)
    _PARENT[:] = [os.getpid()]
    many = Workspace(tmp_path / "many.duckdb")
    r_many = many.load_procore(export)
    assert r_one.tables == r_many.tables and r_one.files == r_many.files
    a, b = frames(one), frames(many)
    for t in TABLES:
        pd.testing.assert_frame_equal(a[t], b[t], obj=t)


def test_a_bad_page_read_in_a_worker_writes_nothing_and_names_its_file(export, tmp_path, monkeypatch):
    bad = copy_of(export, tmp_path)
    (bad / "requisitions" / "page_0003.json").write_text('[{"id": 1, ', encoding="utf-8")
    monkeypatch.setattr(procore_sql, "SQL_RESOURCES", ())  # invoices' pages in the workers
    monkeypatch.setattr(procore_reader, "CHUNK_ROWS", 40)
    monkeypatch.setattr(procore_reader, "PART_BYTES", 3_000)
    monkeypatch.setattr(procore_reader, "_workers", lambda: 2)
    ws = Workspace(tmp_path / "ws.duckdb")
    with pytest.raises(InputError, match=r"file requisitions/page_0003\.json: not valid JSON at line 1"):
        ws.load_procore(bad)
    assert_nothing_stored(ws)


def test_a_line_id_an_earlier_chunk_stored_under_another_invoice_is_held_back(export, tmp_path, monkeypatch):
    """A later chunk's line under the id of a line stored earlier in the same load (another invoice's) is held
    back with its invoice, as a second record under one key is, and the line stored first stays as it was."""
    bad = copy_of(export, tmp_path)
    pages = sorted((bad / "requisitions").glob("*.json"))
    first = json.loads(pages[0].read_text(encoding="utf-8"))
    taken = first[0]["contract_items"][0]
    last = json.loads(pages[-1].read_text(encoding="utf-8"))
    extra = json.loads(json.dumps(last[-1]))
    extra["id"] = 999_999_001
    extra["contract_items"] = [dict(extra["contract_items"][0], id=taken["id"], requisition_id=extra["id"])]
    pages[-1].write_text(json.dumps([*last, extra]), encoding="utf-8")
    monkeypatch.setattr(procore_reader, "CHUNK_ROWS", 40)
    ws = Workspace(tmp_path / "ws.duckdb")
    report = ws.load_procore(bad)
    line = ws.frame("invoice_lines").set_index("id").loc[taken["id"]]
    assert int(line["requisition_id"]) == first[0]["id"]
    assert 999_999_001 not in set(ws.frame("invoices")["id"])
    q = ws.loading.quarantine()
    held = q[(q.table_name == "invoice_lines") & (q.check == "duplicate_key")]
    assert len(held) == 1 and f"id={taken['id']}" in held.failure_case.iloc[0]
    assert report.tables["invoices"].quarantined == 1


def test_duckdb_memory_is_capped_during_a_procore_load_and_restored_after(export, tmp_path, monkeypatch):
    """The queue refresh after a large load joins every line in the load's transaction: DuckDB's memory is capped
    (it spills to the workspace's temp files) from the load's start to its commit, and restored after -- also
    after a load that fails."""
    from qbrecon.loaders.service import LOAD_MEMORY_LIMIT, _bytes

    ws = Workspace(tmp_path / "w.duckdb")

    def limit() -> float:
        return _bytes(ws.store.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])

    before = limit()
    assert before > LOAD_MEMORY_LIMIT
    seen = []
    refresh = ws.erp_queue.refresh_queue

    def spied() -> int:
        seen.append(limit())
        return refresh()

    monkeypatch.setattr(ws.erp_queue, "refresh_queue", spied)
    ws.load_procore(export)
    assert seen and seen[0] <= LOAD_MEMORY_LIMIT
    assert limit() == before
    with pytest.raises(InputError):
        ws.load_procore(tmp_path / "missing")
    assert limit() == before
