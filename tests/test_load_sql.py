"""Procore pages read by DuckDB (``loaders.procore_sql``): the same rows, counts, files, notes and quarantine as the
Python reading; anything the fast path cannot take exactly (a bad value, a failed check, a repeated key, malformed
or leniently accepted JSON) is declined and read by the Python path, which names file, row and field."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from procore_loads import TABLES, assert_nothing_stored, copy_of, frames, small_export

from qbrecon.errors import InputError
from qbrecon.loaders import procore as procore_reader
from qbrecon.loaders import procore_sql
from qbrecon.workspace_full import Workspace

# every case loads a generated export twice (Python's reading, then DuckDB's) in parts of a page or two: 4-9 s each
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return small_export(tmp_path_factory.mktemp("fixtures") / "gen", seed=5)


def _quarantine(ws: Workspace) -> pd.DataFrame:
    q = ws.quarantine().drop(columns=["load_id", "quarantined_at"])
    return q.sort_values(list(q.columns)).reset_index(drop=True)


def _both_ways(path: Path, tmp_path: Path, monkeypatch, name: str = "") -> tuple[list, list]:
    """Load ``path`` read by Python only, then with DuckDB's reading; assert the same outcome. Returns which
    parts DuckDB took and which it declined (table, first file)."""
    monkeypatch.setattr(procore_reader, "PART_BYTES", 3_000)  # a page or two per part
    with monkeypatch.context() as m:
        m.setattr(procore_sql, "SQL_RESOURCES", ())
        one = Workspace(tmp_path / f"py{name}.duckdb")
        r_one = one.load_procore(path)
    taken, declined = [], []
    read_part = procore_sql.read_part

    def spied(table, files):
        out = read_part(table, files)
        (taken if out is not None else declined).append((table, files[0][1]))
        return out

    monkeypatch.setattr(procore_sql, "read_part", spied)
    two = Workspace(tmp_path / f"sql{name}.duckdb")
    r_two = two.load_procore(path)
    assert r_one.tables == r_two.tables
    assert r_one.files == r_two.files and r_one.notes == r_two.notes
    a, b = frames(one), frames(two)
    for t in TABLES:
        pd.testing.assert_frame_equal(a[t], b[t], obj=t)
    pd.testing.assert_frame_equal(_quarantine(one), _quarantine(two))
    return taken, declined


def test_pages_read_by_duckdb_load_what_the_python_reading_loads(export, tmp_path, monkeypatch):
    taken, declined = _both_ways(export, tmp_path, monkeypatch)
    assert not declined
    assert {t for t, _ in taken} >= {"invoices", "commitments", "change_orders", "payments_issued"}
    assert len(taken) > 5


def _edit(export: Path, tmp_path: Path, change) -> Path:  # noqa: ANN001
    bad = copy_of(export, tmp_path)
    page = bad / "requisitions" / "page_0002.json"
    records = json.loads(page.read_text(encoding="utf-8"))
    change(records)
    page.write_text(json.dumps(records), encoding="utf-8")
    return bad


def _set_line(field: str, value) -> object:  # noqa: ANN001
    def change(records: list) -> None:
        records[0]["contract_items"][0][field] = value

    return change


def _set_record(field: str, value) -> object:  # noqa: ANN001
    def change(records: list) -> None:
        records[1][field] = value

    return change


def _repeat_first(records: list) -> None:
    records.append(json.loads(json.dumps(records[0])))  # an identical copy: merged once


def _conflicting_copy(records: list) -> None:
    copy = json.loads(json.dumps(records[0]))
    copy["invoice_number"] = "another"
    records.append(copy)


@pytest.mark.parametrize(
    "change",
    [
        _set_line("scheduled_value", "12,5x"),  # not an amount: quarantined with its invoice
        _set_line("scheduled_value", "1,250.00"),  # read cell by cell (the separator is dropped)
        _set_line("scheduled_value", 1250.5),  # a JSON number: read through its repr
        _set_line("scheduled_value", 0.1000000000000000055),  # more digits than a float keeps
        _set_line("position", 2.0),  # a whole float in a whole-number column
        _set_line("position", True),
        _set_line("description_of_work", 42),  # a number in a text column
        _set_line("description_of_work", True),
        _set_line("description_of_work", {"text": "x"}),
        _set_line("item_type", "other"),  # not one of the model's values
        _set_line("requisition_id", 1),  # a line naming another invoice
        _set_line("wbs_code", "31-600"),  # not an object where an object is read
        _set_line("id", None),  # a key missing
        _set_record("billing_date", 20240505),
        _set_record("billing_date", "2024-02-30"),
        _set_record("created_at", "2024-05-05 10:08"),
        _set_record("status", "Approved As Noted"),  # normalised, as the Python reading does
        _set_record("status", "   "),
        _set_record("summary", "none"),
        _set_record("contract_items", {"id": 1}),
        _set_record("g702", {"current_payment_due": "1.00"}),
        _set_record("vendor_name", "x" * 10_001),
        _repeat_first,
        _conflicting_copy,
    ],
)
def test_what_the_fast_path_cannot_take_is_read_as_before(export, tmp_path, monkeypatch, change):
    bad = _edit(export, tmp_path, change)
    taken, declined = _both_ways(bad, tmp_path, monkeypatch)
    assert ("invoices", "requisitions/page_0002.json") in declined or any(
        f == "requisitions/page_0002.json" for _, f in taken
    )
    assert taken, "the other parts are read by DuckDB"


def test_values_the_fast_path_takes_from_json_numbers_are_the_python_readings(export, tmp_path, monkeypatch):
    """Whole numbers sent as text, amounts sent as JSON numbers, text with escapes: taken by DuckDB, stored as
    Python stores them."""

    def change(records: list) -> None:
        for rec in records:
            rec["vendor_id"] = str(rec["vendor_id"])
            rec["vendor_name"] = 'Tile "A" \\ Stone\tcaf\u00e9 \u2014 \U0001f9f1'
            for line in rec["contract_items"]:
                line["scheduled_value"] = float(line["scheduled_value"])
                line["position"] = str(line["position"])
                line["description_of_work"] = 'Ceramic "tile" \\ 2\u00bd in'

    bad = _edit(export, tmp_path, change)
    taken, declined = _both_ways(bad, tmp_path, monkeypatch)
    assert not declined and any(f == "requisitions/page_0002.json" for _, f in taken)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"id": 1}, ]', ": not valid JSON"),  # a trailing comma: DuckDB reads it
        ('[{"id": 1, "note": NaN}]', ": not valid JSON"),  # NaN in a field no column reads
        ('[{"id": 1, "note": 1e400}]', ": not valid JSON"),
        ('\ufeff[{"id": 1}]', ": not valid JSON"),  # a byte-order mark
        ("", ": not valid JSON"),  # an empty file
        ('[{"id": 1},', ": not valid JSON"),  # a truncated array: DuckDB reads up to its last whole record
        ('[{"id": 1}][{"id": 2}]', ": not valid JSON"),
        ('{"data": [1]}', ", row 1: expected a record"),
        ("[1, 2]", ", row 1: expected a record"),
        # DuckDB's message quotes the refused text cut inside its last character: not decodable as UTF-8
        (json.dumps(['0000"' + "\x1f" * 6 + "\x07\x80"]), ", row 1: expected a record"),
    ],
)
def test_a_malformed_page_writes_nothing_and_names_its_file(export, tmp_path, monkeypatch, text, message):
    bad = copy_of(export, tmp_path)
    page = bad / "requisitions" / "page_0003.json"
    page.write_bytes(text.encode("utf-8"))
    monkeypatch.setattr(procore_reader, "PART_BYTES", 3_000)
    assert procore_sql.read_part("invoices", [(str(page), "requisitions/page_0003.json")]) is None
    ws = Workspace(tmp_path / "ws.duckdb")
    with pytest.raises(InputError, match=rf"file requisitions/page_0003\.json{message}"):
        ws.load_procore(bad)
    assert_nothing_stored(ws)


def test_pages_in_a_project_folder_are_read_as_before(export, tmp_path, monkeypatch):
    """A ``project_<id>`` folder gives its pages' project (``procore_shapes.unwrap_page``): the Python reading's."""
    bad = copy_of(export, tmp_path)
    pages = bad / "requisitions"
    records = json.loads((pages / "page_0001.json").read_text(encoding="utf-8"))
    project = records[0]["project_id"]
    for rec in records:
        rec.pop("project_id")
        rec["project_id"] = None if rec is records[0] else project
    folder = pages / f"project_{project}"
    folder.mkdir()
    (folder / "page_0001.json").write_text(json.dumps(records), encoding="utf-8")
    (pages / "page_0001.json").unlink()
    taken, declined = _both_ways(bad, tmp_path, monkeypatch)
    assert any(f.startswith(f"requisitions/project_{project}") for _, f in declined)
