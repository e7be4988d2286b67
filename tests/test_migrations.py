"""A workspace written by qbrecon 0.1 opens with today's code and is upgraded: numbered migrations applied once,
in order, all or nothing; a field a model gains reaches old workspaces; every table is declared by a migration."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from qbrecon import Workspace, migrations, store
from qbrecon.schemas import TABLES
from qbrecon.schemas.base import ColumnSpec
from qbrecon.store import Store

OLD_WORKSPACE_SQL = Path(__file__).parent / "data" / "workspace_qbrecon_0_1.sql"


def _old_workspace(tmp_path: Path) -> Path:
    path = tmp_path / "written-by-0.1.duckdb"
    con = duckdb.connect(str(path))
    con.execute(OLD_WORKSPACE_SQL.read_text())
    con.close()
    return path


def _columns(con) -> set[tuple[str, str, str]]:
    rows = con.execute(
        """SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
           JOIN duckdb_tables() t ON t.table_name = c.table_name"""
    ).fetchall()
    return set(rows)


def _add_migration(monkeypatch, *statements: str) -> int:
    number = migrations.LATEST + 1
    extra = migrations.Migration(number, "test_change", statements)
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, extra))
    monkeypatch.setattr(store, "SCHEMA_VERSION", number)
    return number


def test_a_workspace_written_by_0_1_opens_with_the_schema_of_a_new_one_and_its_rows(tmp_path):
    path = _old_workspace(tmp_path)
    with Workspace(tmp_path / "new.duckdb") as new:
        expected = _columns(new.store.con)
    ws = Workspace(path)
    try:
        assert ws.store.schema_version == migrations.LATEST
        assert _columns(ws.store.con) == expected
        assert ws.frame("SELECT status, quickbooks_id FROM erp_items").values.tolist() == [
            ["synced", "80000001-1700000000"]
        ]
        assert ws.frame("SELECT Name FROM vendors")["Name"].tolist() == ["Acme Concrete"]
    finally:
        ws.close()


def test_every_table_is_declared_by_a_model_or_a_migration_not_by_an_import():
    Workspace(":memory:").close()  # every module that registers DDL is imported now
    declared = duckdb.connect()
    for spec in TABLES.values():
        declared.execute(spec.ddl())
    for migration in migrations.MIGRATIONS:
        for statement in migration.statements:
            declared.execute(statement)
    fresh = Store()
    assert _columns(fresh.con) == _columns(declared), (
        "a table or column is created outside qbrecon/migrations"
    )


def test_a_new_migration_is_applied_once_to_an_old_workspace(tmp_path, monkeypatch):
    path = _old_workspace(tmp_path)
    number = _add_migration(monkeypatch, "ALTER TABLE erp_items ADD COLUMN approver_note VARCHAR")
    for _ in range(2):  # the second open must not apply it again (ADD COLUMN twice would fail)
        s = Store(path)
        assert s.schema_version == number
        assert s.execute("SELECT procore_id, approver_note FROM erp_items").fetchall() == [(5001, None)]
        s.close()


def test_a_failing_migration_changes_nothing(tmp_path, monkeypatch):
    path = _old_workspace(tmp_path)
    _add_migration(
        monkeypatch, "ALTER TABLE erp_items ADD COLUMN half_done VARCHAR", "SELECT * FROM no_such_table"
    )
    with pytest.raises(duckdb.CatalogException):
        Store(path)
    monkeypatch.undo()
    con = duckdb.connect(str(path))
    assert con.execute("SELECT value FROM qbrecon_meta WHERE key = 'schema_version'").fetchall() == [("1",)]
    assert "half_done" not in {r[0] for r in con.execute("DESCRIBE erp_items").fetchall()}
    con.close()


def test_a_field_a_model_gains_reaches_an_old_workspace(tmp_path, monkeypatch):
    path = _old_workspace(tmp_path)
    key = next(k for k, spec in TABLES.items() if spec.table == "vendors")
    spec = TABLES[key]
    added = ColumnSpec("ExternalGUID", pa.string(), True, "ExternalGUID", None)
    monkeypatch.setitem(TABLES, key, dataclasses.replace(spec, columns=(*spec.columns, added)))
    s = Store(path)
    assert s.execute('SELECT "Name", "ExternalGUID" FROM vendors').fetchall() == [("Acme Concrete", None)]
    s.close()


def test_a_workspace_from_a_newer_qbrecon_is_refused(tmp_path):
    path = _old_workspace(tmp_path)
    con = duckdb.connect(str(path))
    con.execute(
        "UPDATE qbrecon_meta SET value = ? WHERE key = 'schema_version'", [str(migrations.LATEST + 1)]
    )
    con.close()
    with pytest.raises(RuntimeError, match="newer than this qbrecon"):
        Store(path)


def test_migrations_are_numbered_without_gaps_and_start_with_the_baseline():
    assert [m.number for m in migrations.MIGRATIONS] == list(range(1, migrations.LATEST + 1))
    assert migrations.MIGRATIONS[0].name == "baseline"
    assert store.SCHEMA_VERSION == migrations.LATEST
