"""Procore pages read by DuckDB (``read_json``) instead of Python: the fast path of the large resources.

A part of a resource's page files is one ``read_json`` with the declared columns in a DuckDB thread of the loading
process: records come as Arrow columns and their nested line arrays as Arrow lists, flattened in Arrow, without
Python objects per row. The values are then converted by the same rule as the Python reading
(``schemas.values.from_strings``, whole columns) and checked by the same declarations (the tables' pandera checks,
read off the models: not null, ``isin``, ``str_length``; ``validate.MAX_TEXT``; one record per key).

The path is only ever *faster*, never different: a part it cannot take exactly as the Python reading would --
any value the whole-column rule does not read, any failed check, a repeated key, a page kept with its request or
in a ``project_<id>`` folder, anything DuckDB refuses (malformed JSON, a record that is not an object, a line array
that is not an array) or accepts where the Python reading refuses (trailing commas, NaN / Infinity, an exponent
that overflows, a byte-order mark, an empty file, a truncated array, two arrays in one file) -- is declined
(``read_part`` returns None) and read by the Python path, which stores, quarantines or refuses it and names file,
row and field as always.

Which resources take this path is declared once, ``SQL_RESOURCES``; a resource whose columns or checks the path
cannot express (``fits``) keeps the Python path whatever the declaration says.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..schemas import TABLES, TableSpec
from ..schemas.types import normalise_status
from ..schemas.values import Batch, from_strings, kind_of
from . import procore_shapes as shapes
from .validate import Checked, LoadChunk, SourceRecords, _checked_columns, _overlong_text

# The resources read by DuckDB when their pages need nothing from other files: every one whose columns and checks
# the path expresses (invoices with their lines are ~90 % of a company's export; commitments.json is one large file)
SQL_RESOURCES = (
    "projects",
    "vendors",
    "budget_line_items",
    "commitments",
    "commitment_change_orders",
    "requisitions",
    "contract_payments",
)

# A text column's value is read as JSON, to tell text from other values (a string starts with a quote). Other
# columns are read as DuckDB gives a JSON value as VARCHAR (text unquoted, numbers and booleans as written), which
# the whole-column rule reads as it reads text, refusing what it cannot read.

# What DuckDB's JSON reader accepts and the Python reading (orjson) refuses, outside and (rarely) inside strings:
# NaN / Infinity, exponents that overflow a double, trailing commas. A part with any of them is declined. (Each
# pattern starts with the character before a value, which RE2 finds with memchr: ~4x faster than one pattern.)
_ODD_VALUE = r"\s*(?:[-+]?(?:[nN][aA][nN]|[iI][nN][fF])|-?[0-9.]+[eE]\+?0*[1-9][0-9]{2})"
_LENIENT = (r":" + _ODD_VALUE, r",\s*[\]}]|," + _ODD_VALUE, r"\[" + _ODD_VALUE)
# An amount sent as a JSON number is read by the Python reading through its float's shortest ``repr``: the same
# decimal as its text while the text holds at most 15 significant digits (any double keeps those exactly)
_AMOUNT_DIGITS = 15
_DATED = r"^[0-9]{4}-"  # dates and date-times are text; a JSON number is never read as one


def fits(spec: TableSpec) -> bool:
    """Whether a table (and its nested line tables) is read by DuckDB: declared in ``SQL_RESOURCES``, and every
    column and check one the path expresses."""
    return spec.meta.get("resource") in SQL_RESOURCES and _plan(spec.table) is not None


@dataclass(frozen=True)
class _Plan:
    spec: TableSpec
    # line tables: (table, the array's key in the record, the column naming the parent)
    lines: tuple[tuple[TableSpec, str, str], ...]
    columns: dict[str, str]  # the record's top-level keys read, each with its DuckDB type
    json_paths: dict[str, frozenset[str]]  # per table, the leaves read as JSON (text columns')


@functools.cache
def _plan(table: str) -> _Plan | None:
    spec = TABLES[table]
    if (
        not _columns_fit(spec)
        or spec.table in ("cost_codes", "budget_changes")
        or "approval_status" in spec.column_names
    ):
        # cost codes' level, budget changes' adjustment lines and approval statuses are Python's (``_Reader``)
        return None
    tree: dict = {
        "g702": False,
        "parent_id": False,
    }  # read to decline what ``normalise_records`` would change
    lines = []
    for s in TABLES.values():
        if s.meta.get("parent") == table and "nested" in s.meta:
            if not _columns_fit(s) or "parent_key" not in s.meta:
                return None
            sub: dict = {}
            for c in s.columns:
                if not _add_path(sub, c.source or c.name, kind_of(s, c) == "text"):
                    return None
            if s.meta["nested"] in tree or any(
                (c.source or c.name).split(".")[0] == s.meta["nested"] for c in spec.columns
            ):
                return None
            tree[s.meta["nested"]] = ("lines", sub)
            lines.append((s, s.meta["nested"], s.meta["parent_key"]))
    for c in spec.columns:
        if c.name == "status_original":
            continue  # the raw status (``_table_columns``)
        if not _add_path(tree, c.source or c.name, kind_of(spec, c) == "text"):
            return None
    columns = {name: _type(sub) for name, sub in tree.items()}
    json_paths = {
        t.table: frozenset(c.source or c.name for c in t.columns if kind_of(t, c) == "text")
        for t in (spec, *(s for s, _, _ in lines))
    }
    return _Plan(spec, tuple(lines), columns, json_paths)


def _columns_fit(spec: TableSpec) -> bool:
    if any((c.source or c.name).split(".")[0] == "parent" for c in spec.columns):
        return False  # ``normalise_records`` turns a flat ``parent_id`` into ``parent``
    if any(kind_of(spec, c) == "hours" for c in spec.columns):
        return False
    schema = _checked_columns(spec.model)
    if schema.checks or schema.unique:
        return False
    return all(ch.name in ("isin", "str_length") for col in schema.columns.values() for ch in col.checks)


def _add_path(tree: dict, path: str, as_json: bool) -> bool:
    """A dotted path into the tree of what is read (a leaf: True when read as JSON)."""
    node = tree
    parts = path.split(".")
    for p in parts[:-1]:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            return False
        node = nxt
    leaf = node.get(parts[-1], False)
    if not isinstance(leaf, bool):
        return False
    node[parts[-1]] = leaf or as_json
    return True


def _type(sub: bool | dict | tuple | None) -> str:
    if sub is None or sub is False:
        return "VARCHAR"
    if sub is True:
        return "JSON"
    if isinstance(sub, tuple):
        return _type(sub[1]) + "[]"
    return "STRUCT(" + ", ".join(f'"{_q(name)}" {_type(t)}' for name, t in sub.items()) + ")"


def _q(name: str) -> str:
    return name.replace('"', '""')


def _leaf(var: str, path: str) -> str:
    return var + "".join(f'."{_q(p)}"' for p in path.split("."))


def _parent_columns(plan: _Plan) -> list[str]:
    """The record's columns as selected: VARCHAR leaves as ``t:<column>``, JSON leaves' text as ``j:<column>``."""
    out = []
    for c in plan.spec.columns:
        if c.name == "status_original":
            continue
        path = c.source or c.name
        e = _leaf("r", path)
        out.append(
            f'{e}::VARCHAR AS "{"j" if path in plan.json_paths[plan.spec.table] else "t"}:{_q(c.name)}"'
        )
    return out


def declines(files: list[tuple[str, str]]) -> bool:
    """Pages the path never takes: kept in a ``project_<id>`` folder (the folder gives their project)."""
    return any(shapes._FOLDER_PROJECT.fullmatch(Path(p).parent.name) for p, _ in files)


def read_part(table: str, files: list[tuple[str, str]]) -> tuple[LoadChunk, int] | None:
    """Some page files of one resource read by DuckDB as one checked chunk (groups numbered from 0) and the
    number of groups it used, or None when the part must be read by the Python path (see the module)."""
    plan = _plan(table)
    if plan is None or not files or declines(files) or not all(_one_array(p) for p, _ in files):
        return None
    con = _connection()
    try:
        return _read(con, plan, files)
    except (duckdb.Error, UnicodeDecodeError):
        # malformed JSON, a record or line that is not an object, ...: the Python path says which. (DuckDB quotes
        # the value it refused in its message, cut at a byte count: a cut inside a character makes the message
        # itself undecodable, and Python raises UnicodeDecodeError instead of DuckDB's error.)
        return None


_local = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB. One thread: records come in file order, each file's in its order (their
    row numbers); the parts are read in parallel by the threads."""
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect(config={"threads": 1})
    return con


def _one_array(path: str) -> bool:
    """A page that starts as a JSON array and ends as one (DuckDB reads a truncated array up to its last whole
    record, and an empty file as no records); no byte-order mark (the Python reading refuses it)."""
    with open(path, "rb") as f:
        head = f.read(64)
        f.seek(max(0, f.seek(0, 2) - 64))
        tail = f.read()
    return head.lstrip()[:1] == b"[" and tail.rstrip()[-1:] == b"]"


def _read(
    con: duckdb.DuckDBPyConnection, plan: _Plan, files: list[tuple[str, str]]
) -> tuple[LoadChunk, int] | None:
    paths = [p for p, _ in files]
    suspect = con.execute(
        "SELECT count(*) FILTER (WHERE regexp_matches(content, $a) OR regexp_matches(content, $b) "
        "OR regexp_matches(content, $c)) FROM read_text($paths)",
        {"a": _LENIENT[0], "b": _LENIENT[1], "c": _LENIENT[2], "paths": paths},
    ).fetchall()[0][0]
    if suspect:
        return None
    columns = ", ".join(f"'{_q(k).replace(chr(39), chr(39) * 2)}': '{t}'" for k, t in plan.columns.items())
    nested = "".join(f', r."{_q(key)}" AS "l:{_q(key)}"' for _, key, _ in plan.lines)
    # one pass, one thread: records in file order, each file's in its order; line arrays come as Arrow lists
    parents = con.sql(
        f"""SELECT filename,
        r.g702 IS NOT NULL OR r.parent_id IS NOT NULL AS reshaped, {", ".join(_parent_columns(plan))}{nested}
        FROM read_json($paths, format='array', filename=true, columns={{{columns}}}) r""",
        params={"paths": paths},
    ).to_arrow_table()
    n = parents.num_rows
    if n and pc.any(parents.column("reshaped")).as_py():
        return None
    file_no = pc.index_in(parents.column("filename"), value_set=pa.array(paths, pa.string()))
    file_no = np.asarray(pc.fill_null(file_no, -1).to_numpy(), dtype=np.int64)
    if n and (np.any(np.diff(file_no) < 0) or file_no[0] < 0):
        return None  # not in file order
    starts = np.searchsorted(file_no, file_no, side="left")
    row_no = pa.array(np.arange(n, dtype=np.int64) - starts + 1)
    spec = plan.spec

    def column(name: str) -> tuple[pa.Array | None, pa.Array | None]:
        for prefix in ("t", "j"):
            if f"{prefix}:{name}" in parents.column_names:
                values = parents.column(f"{prefix}:{name}").combine_chunks()
                return (values, None) if prefix == "t" else (None, values)
        raise KeyError(name)

    table = _typed(plan, spec, column, n)
    if table is None:
        return None
    labels = pa.array([label for _, label in files], pa.string())
    source_file = labels.take(pa.array(file_no))
    out: dict[str, tuple[pa.Table, pa.Array, pa.Array, pa.Array]] = {}
    out[spec.table] = (table, source_file, row_no, pa.array(range(n), pa.int64()))
    has_lines = {}
    for line_spec, key, fk in plan.lines:
        items = parents.column(f"l:{key}").combine_chunks()
        has_lines[spec.table] = items.is_valid().to_pylist()
        lines = pc.list_flatten(items)
        g = pc.list_parent_indices(items).cast(pa.int64())
        paths = {c.name: c.source or c.name for c in line_spec.columns}
        as_json = plan.json_paths[line_spec.table]

        def line_column(name: str, lines: pa.Array = lines, paths: dict = paths, as_json=as_json) -> tuple:  # noqa: ANN001
            values = pc.struct_field(lines, paths[name].split("."))
            return (None, values) if paths[name] in as_json else (values, None)

        # a line without its parent's key takes the record's; one naming another parent is the Python path's
        named = line_column(fk)[0]
        pid = column("id")[0].take(g)
        if pc.any(pc.and_(pc.is_valid(named), pc.not_equal(named, pid))).as_py():
            return None
        filled = pc.coalesce(named, pid)

        def with_parent(name: str, line_column=line_column, fk: str = fk, filled: pa.Array = filled) -> tuple:
            return (filled, None) if name == fk else line_column(name)

        typed = _typed(plan, line_spec, with_parent, len(lines))
        if typed is None:
            return None
        out[line_spec.table] = (typed, source_file.take(g), row_no.take(g), g)
    return _chunk(out, has_lines), n


def _typed(plan: _Plan, spec: TableSpec, column, n: int) -> pa.Table | None:  # noqa: ANN001
    """The declared columns converted (the whole-column rule) and checked, or None when any value or check needs
    the Python path. ``column(name)`` gives a column's (VARCHAR values, None) or (None, JSON texts)."""
    arrays = []
    for c in spec.columns:
        texts, json = column("status" if c.name == "status_original" else c.name)
        kind = kind_of(spec, c)
        if json is not None:  # read as JSON: text or null only
            texts = _json_texts(json)
            if texts is None:
                return None
        elif n and kind in ("money", "quantity"):
            longest = pc.max(pc.utf8_length(texts)).as_py() or 0
            if longest > _AMOUNT_DIGITS + 1:  # more than 15 characters with a point: count the digits
                digits = pc.utf8_length(pc.replace_substring_regex(texts, "[^0-9]", ""))
                if (pc.max(digits).as_py() or 0) > _AMOUNT_DIGITS:
                    return None
        elif n and kind in ("date", "timestamp"):
            if pc.all(pc.match_substring_regex(texts, _DATED)).as_py() is False:
                return None
        if c.name == "status" and "status_original" in spec.column_names:
            texts = _normalised(texts)
        arr = from_strings(texts, kind)
        if arr is None:
            return None
        arrays.append(arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr)
    table = pa.Table.from_arrays(arrays, schema=spec.arrow_schema)
    if _overlong_text(table) or not _passes_checks(spec, table):
        return None
    key = list(spec.key)
    distinct = (
        pc.count_distinct(table.column(key[0])).as_py()
        if len(key) == 1
        else table.select(key).group_by(key).aggregate([]).num_rows
    )
    if n and distinct != n:
        return None  # a key twice: merged or held back by the Python path
    return table


def _json_texts(raw: pa.Array) -> pa.Array | None:
    """JSON texts of a text column as its values: strings unquoted (unescaped), nulls null; None when some value is
    not a string (the Python reading turns numbers into text and refuses the rest, cell by cell)."""
    raw = pc.if_else(pc.equal(raw, "null"), pa.scalar(None, pa.string()), raw)
    if pc.all(pc.starts_with(raw, '"')).as_py() is False:
        return None
    texts = pc.utf8_slice_codeunits(raw, 1, -1)
    escaped = pc.fill_null(pc.match_substring(raw, "\\"), False)
    if pc.any(escaped).as_py():
        decoded = [json.loads(v) for v in raw.filter(escaped).to_pylist()]
        texts = pc.replace_with_mask(texts, escaped, pa.array(decoded, pa.string()))
    return texts


def _normalised(texts: pa.Array) -> pa.Array:
    """Statuses normalised as the Python reading does (``normalise_status``), once per distinct text."""
    distinct = pc.unique(texts.drop_null())
    mapped = pa.array([normalise_status(v) for v in distinct.to_pylist()], pa.string())
    return mapped.take(pc.index_in(texts, value_set=distinct))


def _passes_checks(spec: TableSpec, table: pa.Table) -> bool:
    """The table's pandera checks (``validate._checked_columns``) over typed Arrow columns: not null, ``isin``,
    ``str_length`` -- the only ones ``fits`` lets through."""
    schema = _checked_columns(spec.model)
    for name, col in schema.columns.items():
        values = table.column(name)
        if not col.nullable and values.null_count:
            return False
        present = values.drop_null()
        for check in col.checks:
            stats = check.statistics or {}
            if check.name == "isin":
                allowed = pa.array(list(stats["allowed_values"]), values.type)
                if pc.all(pc.is_in(present, value_set=allowed)).as_py() is False:
                    return False
            elif check.name == "str_length":
                lengths = pc.utf8_length(present)
                lo, hi, exact = stats.get("min_value"), stats.get("max_value"), stats.get("exact_value")
                if exact is not None:
                    lo = hi = exact
                if lo is not None and pc.any(pc.less(lengths, lo)).as_py():
                    return False
                if hi is not None and pc.any(pc.greater(lengths, hi)).as_py():
                    return False
            else:  # pragma: no cover - ``fits`` keeps such tables on the Python path
                return False
    return True


def merge(chunks: list[LoadChunk]) -> LoadChunk:
    """Consecutive chunks of one resource read here as one chunk (their groups already numbered apart)."""
    if len(chunks) == 1:
        return chunks[0]
    checked = {}
    for name in chunks[0].checked:
        parts = [c.checked[name] for c in chunks]
        table = pa.concat_tables([p.table for p in parts])  # no copy: DuckDB reads the chunks as they are
        batch = Batch(
            TABLES[name],
            {},
            pa.concat_arrays([p.batch.source_file for p in parts]),
            pa.concat_arrays([p.batch.source_row for p in parts]),
            pa.concat_arrays([p.batch.group for p in parts]),
            SourceRecords({}, table),
        )
        checked[name] = Checked(batch, table)
    has_lines = {
        k: [h for c in chunks for h in (c.has_lines or {}).get(k, [])] for k in chunks[0].has_lines or {}
    }
    return LoadChunk(checked, has_lines or None)


def _chunk(out: dict, has_lines: dict) -> LoadChunk:
    checked = {}
    for name, (table, source_file, source_row, groups) in out.items():
        spec = TABLES[name]
        # the rows' file, row and group stay Arrow arrays (``validate.settle`` reads them as such)
        batch = Batch(spec, {}, source_file, source_row, groups, SourceRecords({}, table))
        checked[name] = Checked(batch, table)
    return LoadChunk(checked, has_lines or None)


__all__ = ["SQL_RESOURCES", "fits", "merge", "read_part"]
