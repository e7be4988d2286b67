"""The store: schema version, atomic transactions, exact money, and DuckDB 2.0's pending results."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest

from qbrecon.store import Store


def test_half_read_results_do_not_block_register_or_sql():
    store = Store()
    store.con.execute("SELECT * FROM range(10)").fetchone()  # leaves nine rows unread
    store.con.register("t", pa.table({"a": [1, 2]}))
    store.con.execute("SELECT * FROM range(10)").fetchone()
    assert store.con.sql("SELECT sum(a) FROM t").fetchall() == [(3,)]


def test_transaction_is_all_or_nothing_and_nests():
    store = Store()
    with pytest.raises(RuntimeError), store.transaction() as con:
        con.execute("INSERT INTO qbrecon_meta VALUES ('x', '1')")
        with store.transaction() as inner:
            inner.execute("INSERT INTO qbrecon_meta VALUES ('y', '2')")
        raise RuntimeError("boom")
    assert store.scalar("SELECT count(*) FROM qbrecon_meta WHERE key IN ('x', 'y')") == 0


def test_money_comes_back_as_exact_decimal(tmp_path):
    store = Store(tmp_path / "w.duckdb")
    frame = store.frame("SELECT 0.1::DECIMAL(18,2) + 0.2::DECIMAL(18,2) AS total")
    assert frame["total"].iloc[0] == Decimal("0.30")
    assert str(frame["total"].dtype).startswith("decimal128")
    assert store.schema_version >= 1


def test_upsert_counts_inserted_and_updated():
    store = Store()
    row = {"key": ["a"], "value": ["1"]}
    store.execute("CREATE TABLE kv (key VARCHAR PRIMARY KEY, value VARCHAR)")
    assert store.upsert("kv", pa.table(row), ["key"]) == (1, 0)
    assert store.upsert("kv", pa.table({"key": ["a", "b"], "value": ["2", "3"]}), ["key"]) == (1, 1)
    assert store.frame("SELECT value FROM kv ORDER BY key")["value"].tolist() == ["2", "3"]


def test_sql_is_a_relation_with_or_without_parameters():
    store = Store()
    assert store.sql("SELECT 41 + 1").fetchall() == [(42,)]
    rel = store.sql("SELECT ?::DECIMAL(18,2) + 0.10::DECIMAL(18,2) AS total", [Decimal("0.20")])
    assert rel.columns == ["total"]
    assert rel.fetchall() == [(Decimal("0.30"),)]


def test_threads_sharing_a_store_each_get_their_own_results(tmp_path):
    """The server shares one store between dashboard sessions and Web Connector calls. ``execute`` used to hand
    every thread the same connection, so a thread fetching its rows could read another thread's result."""
    import threading

    store = Store(tmp_path / "threads.duckdb")
    store.execute("CREATE TABLE kv (key VARCHAR PRIMARY KEY, value BIGINT)")
    errors: list[str] = []
    start = threading.Barrier(12)

    def worker(n: int) -> None:
        start.wait()
        try:
            for i in range(150):
                key = f"t{n}"
                store.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", [key, i])
                rows = store.execute("SELECT key, value FROM kv WHERE key = ?", [key]).fetchall()
                if rows != [(key, i)]:
                    errors.append(f"thread {n} step {i}: read {rows}")
                size = 10 + n
                got = store.execute("SELECT count(*), max(range) FROM range(?)", [size]).fetchone()
                if got != (size, size - 1):
                    errors.append(f"thread {n} step {i}: range({size}) gave {got}")
                with store.transaction() as con:
                    con.execute("UPDATE kv SET value = value + 1000 WHERE key = ?", [key])
                    after = con.execute("SELECT value FROM kv WHERE key = ?", [key]).fetchall()
                if after != [(i + 1000,)]:
                    errors.append(f"thread {n} step {i}: after update {after}")
                if store.scalar("SELECT value FROM kv WHERE key = ?", [key]) != i + 1000:
                    errors.append(f"thread {n} step {i}: scalar disagrees")
        except Exception as exc:  # noqa: BLE001 - every failure of a thread is a finding
            errors.append(f"thread {n}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:5]
    assert store.scalar("SELECT count(*) FROM kv") == 12
    store.close()


def test_close_releases_the_file_with_cursors_of_other_threads(tmp_path):
    import threading

    path = tmp_path / "closing.duckdb"
    store = Store(path)
    t = threading.Thread(target=lambda: store.execute("SELECT 1").fetchall())
    t.start()
    t.join()
    store.close()
    reopened = Store(path, busy_timeout=1)  # the same process can open it again: nothing kept it open
    assert reopened.scalar("SELECT 1") == 1
    reopened.close()


def test_workspace_file_and_its_log_are_private(tmp_path):
    """Workspace files hold the books and the service's secrets: they used to be created world-readable."""
    import os
    import stat

    if os.name != "posix":
        pytest.skip("file modes are POSIX")
    old = os.umask(0o022)  # a typical default: new files 0644
    try:
        path = tmp_path / "private.duckdb"
        store = Store(path)
        store.execute("CREATE TABLE t (a INTEGER)")
        with store.transaction() as con:
            con.execute("INSERT INTO t VALUES (1)")
        store.execute("INSERT INTO t VALUES (2)")
        wal = path.with_name(path.name + ".wal")
        for p in (path, wal):
            if p.exists():
                assert stat.S_IMODE(p.stat().st_mode) == 0o600, (p, oct(p.stat().st_mode))
        assert path.exists()
        store.close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_opening_an_up_to_date_workspace_writes_nothing_and_a_new_declaration_still_applies(
    tmp_path, monkeypatch
):
    import qbrecon  # noqa: F401  (every module registers its tables and views, as in real use)
    from qbrecon import store as store_module

    path = tmp_path / "w.duckdb"
    Store(path).close()
    before = path.read_bytes()
    Store(path).close()  # the schema is as this qbrecon declares it: no DDL, no log, the file unchanged
    assert path.read_bytes() == before
    assert not path.with_name("w.duckdb.wal").exists()
    # a module that declares one more view (a new qbrecon) gets it on the next open
    monkeypatch.setattr(
        store_module,
        "_EXTRA_DDL",
        [*store_module._EXTRA_DDL, "CREATE OR REPLACE VIEW v_new AS SELECT 1 AS a"],
    )
    store = Store(path)
    assert store.scalar("SELECT a FROM v_new") == 1
