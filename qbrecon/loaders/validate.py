"""Validation and quarantine: which rows of a load are stored, which are held back and why.

A row is held back (quarantined) when one of its values cannot be read, when it fails a check of its table's
pandera model, or when its key appears twice in one load with different contents. Rows read from one source
record (a commitment and its ``line_items``, the adjustment lines of one budget change, a bill and its lines)
share a *group*: if any row of the group fails, the whole group is quarantined, so a parent is never stored
without some of its lines (or lines without their parent).
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pandera.errors as pandera_errors
import pandera.pandas as pandera
import pyarrow as pa
import pyarrow.compute as pc

from ..schemas import TABLES
from ..schemas.base import TableSpec
from ..schemas.values import Batch, CellError, convert_batch

QUARANTINE_SCHEMA = pa.schema(
    [
        ("load_id", pa.int64()),
        ("table_name", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
        ("field", pa.string()),
        ("check", pa.string()),
        ("failure_case", pa.string()),
        ("source_record", pa.string()),
        ("quarantined_at", pa.timestamp("us", tz="UTC")),
    ]
)

_RECORD_LIMIT = 20_000  # characters of a source record kept in the quarantine
MAX_TEXT = 10_000  # characters in one text field; longer values are quarantined with row and field


@dataclass
class Checked:
    """One table of a load after reading and checking: every row typed, and the problems of each bad row."""

    batch: Batch
    table: pa.Table  # typed declared columns, all rows (unreadable cells null)
    problems: dict[int, list[CellError]] = field(default_factory=dict)
    merged_duplicates: int = 0  # identical copies of a record (overlapping pages) stored once
    drop: set[int] = field(default_factory=set)  # rows that are exact duplicates of an earlier row


def check_batch(batch: Batch) -> Checked:
    """Read every value (cell errors), then run the table's pandera model lazily over the typed frame."""
    table, cell_errors = convert_batch(batch)
    cell_errors = cell_errors + _overlong_text(table)
    problems: dict[int, list[CellError]] = defaultdict(list)
    for err in cell_errors:
        problems[err.row].append(err)
    if table.num_rows:
        frame = table.to_pandas(types_mapper=pd.ArrowDtype)
        try:
            _data_schema(batch.spec, table.schema).validate(frame, lazy=True)
        except pandera_errors.SchemaErrors as exc:
            seen = {(e.row, e.field) for e in cell_errors}
            fc = exc.failure_cases
            for rec in fc.itertuples(index=False):
                idx = rec.index
                if idx is None or (isinstance(idx, float) and idx != idx):
                    # A schema-level failure (missing column, wrong dtype) is a bug in reading, not bad data.
                    raise RuntimeError(f"{batch.spec.table}: schema check failed: {rec.check}") from exc
                row = int(idx)
                column = str(rec.column)
                if (row, column) in seen:
                    continue  # already recorded as unreadable; its null would only repeat that
                check = str(rec.check)
                problems[row].append(CellError(row, column, check, _failure_text(rec.failure_case, check)))
    checked = Checked(batch, table, dict(problems))
    _check_duplicate_keys(checked)
    return checked


def _data_schema(spec: TableSpec, typed: pa.Schema) -> pandera.DataFrameSchema:
    """The table's pandera schema for a frame typed exactly as declared: only the columns with something to check
    in their values (checks, not nullable, unique). A column's presence and dtype are what ``convert_batch``
    made, proven here by one comparison of Arrow schemas; pandera's own per-column dtype check costs about as
    much as the real checks of all columns together. Any other frame gets the whole schema."""
    declared = spec.arrow_schema
    if typed.names != declared.names or typed.types != declared.types:
        return spec.model.to_schema()
    return _checked_columns(spec.model)


@functools.cache
def _checked_columns(model: type) -> pandera.DataFrameSchema:
    schema = model.to_schema()
    if schema.strict:
        return schema  # other columns would be refused as unexpected
    plain = [n for n, c in schema.columns.items() if not (c.checks or not c.nullable or c.unique)]
    return schema.remove_columns(plain)


def _overlong_text(table: pa.Table) -> list[CellError]:
    """Text longer than ``MAX_TEXT`` in any column: no Procore or QuickBooks field needs it, and a 10 MB name
    would be carried into every report and screen (QuickBooks' own, shorter limits are checked at export)."""
    errors = []
    for name in table.column_names:
        column = table.column(name)
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            continue
        lengths = pc.utf8_length(column)
        if not pc.any(pc.greater(lengths, MAX_TEXT)).as_py():
            continue
        for row in pc.indices_nonzero(pc.fill_null(pc.greater(lengths, MAX_TEXT), False)).to_pylist():
            n = lengths[row].as_py()
            errors.append(
                CellError(row, name, "text_length", f"{n:,} characters; at most {MAX_TEXT:,} are accepted")
            )
    return errors


def _failure_text(value: Any, check: str) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return "missing value" if check == "not_nullable" else "null"
    text = str(value)
    return text if len(text) <= 200 else text[:200] + f"... ({len(text)} chars)"


def _check_duplicate_keys(checked: Checked) -> None:
    """Identical copies of one record load once; different records under one key are both quarantined."""
    spec = checked.batch.spec
    n = checked.table.num_rows
    if n < 2:
        return
    frame = checked.table.select(list(spec.key)).to_pandas(types_mapper=pd.ArrowDtype)
    dup = frame.duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    bad = checked.problems
    rows = [i for i in range(n) if dup[i] and i not in bad]
    if not rows:
        return
    sub = checked.table.take(pa.array(rows)).to_pandas(types_mapper=pd.ArrowDtype)
    sub.index = rows
    exact_copy = sub.astype(str).duplicated(keep="first")
    for i in sub.index[exact_copy.to_numpy()]:
        checked.drop.add(int(i))
    remaining = sub[~exact_copy.to_numpy()]
    conflict = remaining.duplicated(subset=list(spec.key), keep=False)
    for i in remaining.index[conflict.to_numpy()]:
        key = ", ".join(f"{k}={remaining.at[i, k]}" for k in spec.key)
        checked.problems.setdefault(int(i), []).append(
            CellError(int(i), ",".join(spec.key), "duplicate_key", f"{key} appears in more than one record")
        )
    checked.merged_duplicates = len(checked.drop)


@dataclass
class LoadChunk:
    """One part of a load, read and checked: what the writer stores or holds back in one step.

    A load is a sequence of chunks written in one transaction, so that memory grows with the chunk, not the
    files. Rows of one source record (a group) are always in the same chunk.
    """

    checked: dict[str, Checked]
    has_lines: dict[str, list[bool]] | None = None  # Procore: parent table -> row carried its line array

    @property
    def rows(self) -> int:
        return sum(len(c.batch) for c in self.checked.values())


def check_chunk(batches: dict[str, Batch], has_lines: dict[str, list[bool]] | None = None) -> LoadChunk:
    """``check_batch`` for every table of a chunk."""
    return LoadChunk({name: check_batch(b) for name, b in batches.items()}, has_lines)


def failing_groups(checked: dict[str, Checked]) -> dict[int, str]:
    """Groups with a problem in any table of a chunk, with the first problem (for the rest of the group)."""
    bad_groups: dict[int, str] = {}
    for name, c in checked.items():
        groups = c.batch.group
        for row, errs in c.problems.items():
            g = _value(groups[row])
            if g not in bad_groups:
                e = errs[0]
                bad_groups[g] = f"{name}.{e.field} ({e.check}) in the same source record"
    return bad_groups


@dataclass
class Outcome:
    """What a load stores and what it holds back, per table."""

    good: dict[str, pa.Table]  # declared columns + _source_file, _source_row; rows to upsert
    quarantine: pa.Table  # rows for the quarantine table (load_id filled by the writer)
    quarantined: dict[str, int]  # rows held back per table
    merged_duplicates: dict[str, int]


def settle(checked: dict[str, Checked], load_id: int) -> Outcome:
    """Decide, group by group, what is stored; describe everything held back for the quarantine table."""
    bad_groups = failing_groups(checked)
    now = datetime.now(UTC)
    good: dict[str, pa.Table] = {}
    quarantined: dict[str, int] = {}
    q_cols: dict[str, list] = {f.name: [] for f in QUARANTINE_SCHEMA}

    bad_set = pa.array(list(bad_groups), pa.int64())
    for name, c in checked.items():
        b = c.batch
        n = len(b)
        groups = pa.array(b.group, pa.int64())
        held = pc.is_in(groups, value_set=bad_set).to_numpy(zero_copy_only=False) if n else []
        keep = [i for i in range(n) if not held[i] and i not in c.drop] if len(bad_groups) or c.drop else None
        table = c.table.append_column("_source_file", pa.array(b.source_file, pa.string())).append_column(
            "_source_row", pa.array(b.source_row, pa.int64())
        )
        good[name] = table if keep is None else table.take(pa.array(keep, pa.int64()))
        held_rows = [i for i in range(n) if held[i]] if len(bad_groups) else []
        quarantined[name] = len(held_rows)
        if held_rows:
            group, source_file, source_row = (_values(v) for v in (b.group, b.source_file, b.source_row))
        for i in held_rows:
            errs = c.problems.get(i) or [
                CellError(i, None, "record_quarantined", "held back with its record: " + bad_groups[group[i]])
            ]
            record = _record_json(b.record(i))
            for e in errs:
                q_cols["load_id"].append(load_id)
                q_cols["table_name"].append(name)
                q_cols["source_file"].append(source_file[i])
                q_cols["source_row"].append(source_row[i])
                q_cols["field"].append(e.field)
                q_cols["check"].append(e.check)
                q_cols["failure_case"].append(e.failure_case)
                q_cols["source_record"].append(record)
                q_cols["quarantined_at"].append(now)
    quarantine = pa.table(q_cols, schema=QUARANTINE_SCHEMA)
    return Outcome(good, quarantine, quarantined, {k: c.merged_duplicates for k, c in checked.items()})


def _value(v: Any) -> Any:
    return v.as_py() if isinstance(v, pa.Scalar) else v


def _values(values: Any) -> list:
    """A batch's bookkeeping column as a list (DuckDB's reading keeps them as Arrow arrays)."""
    return values.to_pylist() if isinstance(values, pa.Array | pa.ChunkedArray) else values


def _record_json(record: Any) -> str:
    if isinstance(record, dict):
        # Nested line arrays are shown by count: each line has its own quarantine row.
        record = {
            k: (f"[{len(v)} items]" if isinstance(v, list) and v and isinstance(v[0], dict) else v)
            for k, v in record.items()
        }
    try:
        text = json.dumps(record, default=str, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(record)
    return text if len(text) <= _RECORD_LIMIT else text[:_RECORD_LIMIT] + f"... ({len(text)} chars)"


# -- chunks checked in worker processes ---------------------------------------------------------------------------
Packed = dict[str, tuple]  # table -> what the writer needs of its ``Checked`` (see ``pack_chunk``)


def pack_chunk(chunk: LoadChunk) -> tuple[Packed, dict[str, list[bool]] | None]:
    """What a worker process sends back of a checked chunk: typed tables, problems, and the source records of the
    rows that will be held back (the others' raw values and records stay in the worker)."""
    bad = failing_groups(chunk.checked)
    tables: Packed = {}
    for name, c in chunk.checked.items():
        b = c.batch
        records = {i: b.record(i) for i, g in enumerate(b.group) if g in bad} if bad else {}
        tables[name] = (
            c.table,
            c.problems,
            c.merged_duplicates,
            c.drop,
            b.source_file,
            b.source_row,
            b.group,
            records,
        )
    return tables, chunk.has_lines


def unpack_chunk(packed: Packed, has_lines: dict[str, list[bool]] | None, first_group: int) -> LoadChunk:
    """A packed chunk back as a ``LoadChunk``, its groups numbered from ``first_group`` on."""
    checked: dict[str, Checked] = {}
    for name, (table, problems, merged, drop, source_file, source_row, group, records) in packed.items():
        if first_group:
            group = [g + first_group for g in group]
        batch = Batch(TABLES[name], {}, source_file, source_row, group, SourceRecords(records, table))
        checked[name] = Checked(batch, table, problems, merged, drop)
    return LoadChunk(checked, has_lines)


class SourceRecords(dict):
    """Source records of the rows a worker saw failing; any other row (held back later, as a conflicting copy of
    a record an earlier chunk stored) is shown by its typed values."""

    def __init__(self, records: dict, table: Any):
        super().__init__(records)
        self.table = table

    def __missing__(self, i: int) -> dict:
        row = self.table.slice(i, 1).to_pylist()[0]
        return {k: v for k, v in row.items() if v is not None}
