"""Reading a Procore export folder into raw table batches.

Layout: one JSON file per API resource, named by ``Config.metadata["resource"]`` (``commitments.json``), each
a JSON array of records as the Procore REST API returns them, or a folder of that name holding pages
(``requisitions/page_0001.json``). Each column's ``source`` is the dotted path in the record (``vendor.id``).
Nested line tables come from an array inside the parent record (``commitments[].line_items[]``).
"""

from __future__ import annotations

import gc
import json
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from ..errors import InputError
from ..schemas import TABLES, TableSpec
from ..schemas.types import normalise_status
from ..schemas.values import Batch, CellError, NotAnObject
from . import procore_shapes as shapes
from . import procore_sql
from .forking import ForkPool
from .forking import worker_count as _workers  # for a large page folder
from .validate import LoadChunk, Packed, check_chunk, pack_chunk, unpack_chunk

try:  # orjson reads large exports several times faster; the standard library is the fallback
    import orjson

    def _loads(data: bytes) -> Any:
        return orjson.loads(data)

    _DecodeError: tuple[type[Exception], ...] = (orjson.JSONDecodeError, ValueError)
except ImportError:  # pragma: no cover - depends on the environment

    def _loads(data: bytes) -> Any:
        return json.loads(data)

    _DecodeError = (json.JSONDecodeError, ValueError)

# The foreign key of each nested line table to its parent (its model's ``Config.metadata["parent_key"]``),
# filled from the parent's id when the line lacks it.
LINE_PARENT_KEY = {s.table: s.meta["parent_key"] for s in TABLES.values() if "parent_key" in s.meta}
BUDGET_CHANGE_LINES = "adjustment_line_items"


@dataclass
class ProcoreExport:
    """What was read from an export folder."""

    batches: dict[str, Batch]
    files: list[str]
    notes: list[str] = field(default_factory=list)
    has_lines: dict[str, list[bool]] = field(
        default_factory=dict
    )  # parent table -> row carried its line array
    actions: list[shapes.ErpAction] = field(default_factory=list)  # links/unlinks/deletes from ERP requests


def resource_files(root: Path) -> tuple[dict[str, list[Path]], list[str]]:
    """Files of each resource in an export folder (single file and/or pages), and names of ignored entries."""
    resources: dict = {spec.meta["resource"]: spec for spec in TABLES.values() if "resource" in spec.meta}
    resources.update(
        dict.fromkeys(
            [
                *shapes.LINE_RESOURCES,
                shapes.ERP_REQUESTS,
                shapes.BUDGET_MODIFICATIONS,
                shapes.PERMISSION_TEMPLATES,
            ]
        )
    )
    found: dict[str, list[Path]] = {}
    ignored: list[str] = []
    if root.is_file():
        if root.suffix == ".json" and root.stem in resources:
            return {root.stem: [root]}, []
        raise InputError(
            f"not a Procore export file: expected one of {sorted(r + '.json' for r in resources)}",
            file=str(root),
        )
    if not root.is_dir():
        raise InputError("no such file or folder", file=str(root))
    for entry in sorted(root.iterdir()):
        stem = entry.stem if entry.is_file() else entry.name
        if stem in resources and entry.is_file() and entry.suffix == ".json":
            found.setdefault(stem, []).append(entry)
        elif stem in resources and entry.is_dir():
            pages = sorted(p for p in entry.rglob("*.json") if p.is_file())  # pulls keep pages per project
            found.setdefault(stem, []).extend(pages)
        elif not entry.name.startswith("."):
            ignored.append(entry.name)
    if not found:
        raise InputError(
            f"no Procore export files found: expected files named {sorted(r + '.json' for r in resources)} "
            "(or folders of that name holding pages)",
            file=str(root),
        )
    return found, ignored


def read_json_records(path: Path, label: str) -> list[dict]:
    """A file's records: a JSON array of objects (or ``{"data": [...]}``); anything else is an ``InputError``."""
    return read_page(path, label)[0]


def read_json_value(path: Path, label: str) -> Any:
    """A file's JSON value; unreadable or malformed files are an ``InputError`` naming the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=label) from None
    try:
        value = _loads(data)
    except _DecodeError as exc:
        line = getattr(exc, "lineno", None)
        col = getattr(exc, "colno", None)
        where = f" at line {line} column {col}" if line else ""
        msg = getattr(exc, "msg", None) or str(exc)
        raise InputError(f"not valid JSON{where}: {msg}", file=label) from None
    except RecursionError:
        raise InputError("not valid JSON: nested too deeply", file=label) from None
    return value


def read_page(path: Path, label: str) -> tuple[list[dict], dict]:
    """A page's records and the context its request gives (``procore_shapes.unwrap_page``)."""
    value, context = shapes.unwrap_page(read_json_value(path, label), path)
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        value = value["data"]
    if not isinstance(value, list):
        raise InputError(f"expected a JSON array of records, got {_kind(value)}", file=label)
    for i, rec in enumerate(value):
        if not isinstance(rec, dict):
            raise InputError(f"expected a record (JSON object), got {_kind(rec)}", file=label, row=i + 1)
    return value, context


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "text",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def column_values(records: list[dict], path: str, levels: dict[str, list] | None = None) -> list:
    """The values at a dotted path in each record (a new list), one level at a time over all records
    (``NotAnObject`` marks a bad hop). ``levels`` keeps the levels above for the other columns of the same records
    (``vendor`` read once for ``vendor.id`` and ``vendor.company``)."""
    parts = path.split(".")
    if len(parts) == 1:  # one C loop (records are dicts: ``read_page`` checks it)
        return list(map(dict.get, records, repeat(parts[0])))
    levels = {} if levels is None else levels
    values = levels.get(parts[0])
    if values is None:
        values = levels[parts[0]] = list(map(dict.get, records, repeat(parts[0])))
    for i in range(1, len(parts)):
        prefix = ".".join(parts[: i + 1])
        last = i == len(parts) - 1
        if not last and prefix in levels:
            values = levels[prefix]
            continue
        above, part = ".".join(parts[:i]), parts[i]
        values = [
            v.get(part)
            if type(v) is dict
            else v
            if v is None or type(v) is NotAnObject
            else NotAnObject(above, v)
            for v in values
        ]
        if not last:
            levels[prefix] = values
    return values


def _table_columns(spec: TableSpec, records: list[dict]) -> dict[str, list]:
    levels: dict[str, list] = {}
    cols = {c.name: column_values(records, c.source or c.name, levels) for c in spec.columns}
    names = spec.column_names
    if "status_original" in names and "status" in names:
        raw = cols["status"]
        cols["status_original"] = raw
        cols["status"] = [normalise_status(v) if type(v) is str else v for v in raw]
    if spec.table == "cost_codes":
        cols["cost_code_level"] = [
            lvl if lvl is not None else ("project" if pid is not None else "standard")
            for lvl, pid in zip(cols["cost_code_level"], cols["project_id"], strict=True)
        ]
    return cols


class _Reader:
    def __init__(self) -> None:
        self.batches: dict[str, Batch] = {}
        self.has_lines: dict[str, list[bool]] = {}
        self.group = 0
        self.notes: list[str] = []

    def _batch(self, spec: TableSpec) -> Batch:
        b = self.batches.get(spec.table)
        if b is None:
            b = self.batches[spec.table] = Batch.empty(spec)
        return b

    def _append(
        self,
        spec: TableSpec,
        records: list[dict],
        label: str,
        rows: list[int],
        groups: list[int],
        errors: list[CellError],
    ) -> Batch:
        batch = Batch(
            spec, _table_columns(spec, records), [label] * len(records), rows, groups, records, errors
        )
        target = self._batch(spec)
        target.extend(batch)
        return batch

    def read_resource(self, spec: TableSpec, records: list[dict], label: str, first_row: int = 1) -> None:
        """Rows of ``records`` (the file's records from its ``first_row``-th on, 1-based)."""
        if spec.table == "budget_changes":
            self._read_budget_changes(spec, records, label, first_row)
            return
        first = self.group
        n = len(records)
        groups = list(range(first, first + n))
        self.group += n
        rows = list(range(first_row, first_row + n))
        nested = [s for s in TABLES.values() if s.meta.get("parent") == spec.table and "nested" in s.meta]
        errors: list[CellError] = []
        has_lines = [False] * n
        line_parts: list[tuple[TableSpec, list[dict], list[int], list[int], list]] = []
        for line_spec in nested:
            key = line_spec.meta["nested"]
            lines: list[dict] = []
            l_rows: list[int] = []
            l_groups: list[int] = []
            parent_ids: list = []
            for i, rec in enumerate(records):
                arr = rec.get(key)
                if arr is None:
                    continue
                if type(arr) is not list:
                    errors.append(CellError(i, key, "array", f"expected an array of lines, got {_kind(arr)}"))
                    continue
                has_lines[i] = True
                pid = rec.get("id")
                for j, line in enumerate(arr):
                    if type(line) is not dict:
                        errors.append(
                            CellError(
                                i,
                                f"{key}[{j}]",
                                "object",
                                f"expected a line (JSON object), got {_kind(line)}",
                            )
                        )
                        continue
                    lines.append(line)
                    l_rows.append(first_row + i)
                    l_groups.append(first + i)
                    parent_ids.append(pid)
            line_parts.append((line_spec, lines, l_rows, l_groups, parent_ids))
        self._append(spec, records, label, rows, groups, errors)
        if nested:
            self.has_lines.setdefault(spec.table, []).extend(has_lines)
        for line_spec, lines, l_rows, l_groups, parent_ids in line_parts:
            self._read_lines(line_spec, lines, label, l_rows, l_groups, parent_ids)

    def _read_lines(
        self,
        spec: TableSpec,
        lines: list[dict],
        label: str,
        rows: list[int],
        groups: list[int],
        parent_ids: list,
    ) -> None:
        cols = _table_columns(spec, lines)
        fk = LINE_PARENT_KEY.get(spec.table)
        errors: list[CellError] = []
        if fk:
            values = cols[fk]
            for i, (v, pid) in enumerate(zip(values, parent_ids, strict=True)):
                if v is None:
                    values[i] = pid
                elif (
                    pid is not None and not isinstance(v, NotAnObject) and str(v).strip() != str(pid).strip()
                ):
                    errors.append(
                        CellError(i, fk, "parent", f"line names parent {v!r} but sits in record {pid!r}")
                    )
        batch = Batch(spec, cols, [label] * len(lines), rows, groups, lines, errors)
        self._batch(spec).extend(batch)

    def _read_budget_changes(
        self, spec: TableSpec, records: list[dict], label: str, first_row: int = 1
    ) -> None:
        """One stored row per adjustment line: line fields over the budget change's header fields."""
        merged: list[dict] = []
        rows: list[int] = []
        groups: list[int] = []
        errors: list[CellError] = []
        empty = 0
        for i, rec in enumerate(records):
            g = self.group
            self.group += 1
            lines = rec.get(BUDGET_CHANGE_LINES)
            header = {k: v for k, v in rec.items() if k != BUDGET_CHANGE_LINES}
            if lines is None or lines == []:
                empty += 1
                continue
            if type(lines) is not list:
                errors.append(
                    CellError(
                        len(merged),
                        BUDGET_CHANGE_LINES,
                        "array",
                        f"expected an array of adjustment lines, got {_kind(lines)}",
                    )
                )
                merged.append(dict(header, budget_change_id=rec.get("id")))
                rows.append(first_row + i)
                groups.append(g)
                continue
            for j, line in enumerate(lines):
                if type(line) is not dict:
                    errors.append(
                        CellError(
                            len(merged),
                            f"{BUDGET_CHANGE_LINES}[{j}]",
                            "object",
                            f"expected a line (JSON object), got {_kind(line)}",
                        )
                    )
                    merged.append(dict(header, budget_change_id=rec.get("id")))
                else:
                    merged.append({**header, **line, "budget_change_id": rec.get("id")})
                rows.append(first_row + i)
                groups.append(g)
        if empty:
            self.notes.append(
                f"{label}: {empty} budget change(s) without adjustment lines; nothing to store for them"
            )
        self._append(spec, merged, label, rows, groups, errors)


CHUNK_ROWS = 20_000  # rows (records and their lines) gathered before a chunk is checked and written
PART_BYTES = (
    16 * 2**20
)  # page files handed to one worker process at a time (about one chunk of CHUNK_ROWS rows)
# rows of DuckDB's parts written in one statement: about one DuckDB row group (122,880 rows); a chunk of 20,000
# rows costs the insert about twice as much per row, and its typed columns are all these chunks hold
SQL_CHUNK_ROWS = 100_000
# resources whose pages need what other files say (users: permission templates; budget changes: legacy budget
# modifications), always read by the writing process
_SERIAL_RESOURCES = {"users", "user_tool_permissions", "budget_changes"}


class ExportReader:
    """Streams an export folder as checked chunks, file by file (a page folder page by page, a large file slice
    by slice): whole files are gathered until ``chunk_rows`` rows, so memory grows with the largest file and the
    chunk, not the export. The same reading as ``read_export``; ``files``, ``notes`` and ``actions`` are complete
    once ``chunks()`` is exhausted.

    A resource's page folder larger than two parts (``part_bytes``) is read, converted and validated in worker
    processes (one per core), at most ``workers + 1`` parts ahead of the writer, and taken in order."""

    def __init__(
        self,
        path: str | Path,
        *,
        chunk_rows: int | None = None,
        part_bytes: int | None = None,
        workers: int | None = None,
    ):
        self.root = Path(path)
        self.chunk_rows = chunk_rows or CHUNK_ROWS
        self.part_bytes = part_bytes or PART_BYTES
        self.workers = _workers() if workers is None else workers
        self.files: list[str] = []
        self.notes: list[str] = []
        self.statuses: list = []
        self.actions: list[shapes.ErpAction] = []

    def chunks(self) -> Iterator[LoadChunk]:
        root = self.root
        found, ignored = resource_files(root)
        by_resource = {spec.meta["resource"]: spec for spec in TABLES.values() if "resource" in spec.meta}
        reader = _Reader()
        base = root if root.is_dir() else root.parent
        erp = shapes.ErpPayloads()
        for file in found.get(shapes.ERP_REQUESTS, []):
            label = str(file.relative_to(base))
            value, context = shapes.unwrap_page(read_json_value(file, label), file)
            shapes.read_erp_requests(value if isinstance(value, list) else [value], label, erp, context)
            self.files.append(label)
        lines: dict[str, dict] = {}
        for line_resource in shapes.LINE_RESOURCES:
            for file in found.get(line_resource, []):
                label = str(file.relative_to(base))
                records, context = read_page(file, label)
                groups, problems = shapes.group_lines(line_resource, records, context, label)
                for pid, recs in groups.items():
                    lines.setdefault(line_resource, {}).setdefault(pid, []).extend(recs)
                reader.notes.extend(problems)
                self.files.append(label)
        templates = _read_templates(found, base)
        self.files += templates.files
        order = list(by_resource)
        resources = sorted(_resources(found, by_resource, erp), key=order.index)
        in_sql = [r for r in resources if self._in_sql(r, by_resource[r], found.get(r, []), lines)]
        # No worker processes while DuckDB reads in this process's threads: a fork taken while a reading thread
        # holds a lock (the allocator's, DuckDB's) gives a child that crashes at start. The resources DuckDB does
        # not take are read here then; the large ones are DuckDB's.
        in_workers = [] if in_sql else [r for r in resources if self._in_workers(r, found.get(r, []), lines)]
        # DuckDB reads ahead through every resource it takes, in the writer's order, while this process reads and
        # writes the others; the first page folder for the workers starts at once too
        sql_parts = (
            _SqlParts(
                [(by_resource[r], part) for r in in_sql for part in self._split(found[r], base)], self.workers
            )
            if in_sql
            else None
        )
        first = in_workers[0] if in_workers else None
        ahead = self._parts(by_resource[first], found[first], base) if first is not None else None
        try:
            yield from self._read_resources(
                resources,
                in_sql,
                in_workers,
                sql_parts,
                ahead,
                by_resource,
                found,
                base,
                reader,
                erp,
                templates,
                lines,
            )
        finally:
            if ahead is not None:
                ahead.close()
            if sql_parts is not None:
                sql_parts.close()
        self.notes = (
            [f"ignored {name}: not a Procore resource file" for name in ignored]
            + reader.notes
            + erp.notes
            + templates.notes
        )
        self.notes += shapes.orphan_notes(lines)
        self.actions = erp.actions

    def _read_resources(
        self,
        resources: list[str],
        in_sql: list[str],
        in_workers: list[str],
        sql_parts: _SqlParts | None,
        ahead: _Parts | None,
        by_resource: dict[str, TableSpec],
        found: dict[str, list[Path]],
        base: Path,
        reader: _Reader,
        erp: shapes.ErpPayloads,
        templates: _Templates,
        lines: dict,
    ) -> Iterator[LoadChunk]:
        for resource in resources:
            spec = by_resource[resource]
            if resource in in_sql or resource in in_workers:
                if reader.batches:
                    yield check_chunk(reader.batches, reader.has_lines)
                    reader.batches, reader.has_lines = {}, {}
            if resource in in_sql and sql_parts is not None:
                yield from self._pages_in_sql(sql_parts, reader, spec)
            elif resource in in_workers:
                parts = ahead if ahead is not None and ahead.spec is spec else None
                if parts is None:
                    parts = self._parts(spec, found[resource], base)
                try:
                    yield from self._pages_in_workers(parts, base, reader)
                finally:
                    parts.close()
            else:
                for file, label, records, context in _resource_pages(
                    resource, found, base, erp.actions, templates
                ):
                    yield from self._file_rows(reader, spec, records, context, label, lines)
                    del records
                    if file is not None:
                        self.files.append(label)
            if resource in erp.records:
                records = shapes.normalise_records(spec, erp.records[resource], {})
                reader.read_resource(spec, records, f"{shapes.ERP_REQUESTS} ({resource})")
        if reader.batches:
            yield check_chunk(reader.batches, reader.has_lines)

    def _file_rows(
        self, reader: _Reader, spec: TableSpec, records: list, context: dict, label: str, lines: dict
    ) -> Iterator[LoadChunk]:
        """One file's records into ``reader``, yielding a checked chunk whenever ``chunk_rows`` rows are in."""
        resource = spec.meta["resource"]
        # JSON records hold no reference cycles: the cyclic collector would only walk them again and
        # again while a file is turned into columns (as for qbXML in ``read_query_response``)
        with _no_gc():
            records = shapes.nest_lines(resource, shapes.normalise_records(spec, records, context), lines)
        # a large file goes in slices of records, each slice's dicts dropped once read
        step = max(1, self.chunk_rows // 25)
        for start in range(0, len(records), step):
            with _no_gc():
                part = records[start : start + step]
                reader.read_resource(spec, part, label, first_row=start + 1)
                records[start : start + step] = [None] * len(part)
                del part
            if sum(len(b) for b in reader.batches.values()) >= self.chunk_rows:
                yield check_chunk(reader.batches, reader.has_lines)
                reader.batches, reader.has_lines = {}, {}

    def _in_workers(self, resource: str, files: list[Path], lines: dict) -> bool:
        """Whether a resource's pages go to worker processes: pages that need nothing from other files, more
        than two parts of them, and more than one core."""
        if not self.workers or len(files) < 2 or resource in _SERIAL_RESOURCES:
            return False
        if any(parent == resource and lr in lines for lr, (parent, *_) in shapes.LINE_RESOURCES.items()):
            return False  # line pages to nest into these records
        return sum(f.stat().st_size for f in files) > 2 * self.part_bytes

    def _in_sql(self, resource: str, spec: TableSpec, files: list[Path], lines: dict) -> bool:
        """Whether a resource's files are read by DuckDB (``procore_sql``): declared there and fitting, and
        pages that need nothing from other files."""
        if not files or resource in _SERIAL_RESOURCES or not procore_sql.fits(spec):
            return False
        return not any(
            parent == resource and lr in lines for lr, (parent, *_) in shapes.LINE_RESOURCES.items()
        )

    def _split(self, files: list[Path], base: Path) -> list[list[tuple[str, str]]]:
        """A resource's files in parts of about ``part_bytes``: (path, label) of each."""
        parts: list[list[tuple[str, str]]] = [[]]
        size = 0
        for f in files:
            if size >= self.part_bytes:
                parts.append([])
                size = 0
            parts[-1].append((str(f), str(f.relative_to(base))))
            size += f.stat().st_size
        return parts

    def _parts(self, spec: TableSpec, files: list[Path], base: Path) -> _Parts:
        """A resource's pages in parts of about ``part_bytes``, the first ``workers + 1`` submitted at once."""
        return _Parts(spec, self._split(files, base), self.workers, self.chunk_rows)

    def _pages_in_sql(self, parts: _SqlParts, reader: _Reader, spec: TableSpec) -> Iterator[LoadChunk]:
        """A resource's pages read by DuckDB part by part, in order (``procore_sql.read_part``); a part the path
        declines is read here by the Python path, which stores, quarantines or refuses it as always. DuckDB's
        parts are written ``SQL_CHUNK_ROWS`` rows at a time (only typed columns: small)."""
        taken: list[LoadChunk] = []
        while parts.queue and parts.queue[0][0] is spec:
            _, part, future = parts.queue.popleft()
            result = future.result()
            if result is None:
                if taken:
                    yield procore_sql.merge(taken)
                    taken = []
                for path, label in part:
                    records, context = read_page(Path(path), label)
                    yield from self._file_rows(reader, spec, records, context, label, {})
                    self.files.append(label)
                    del records
            else:
                if reader.batches:  # the rows of a declined part before this part's, in order
                    yield check_chunk(reader.batches, reader.has_lines)
                    reader.batches, reader.has_lines = {}, {}
                chunk, groups = result
                if reader.group:
                    for c in chunk.checked.values():
                        c.batch.group = pc.add(c.batch.group, reader.group)
                reader.group += groups
                self.files.extend(label for _, label in part)
                taken.append(chunk)
                if sum(c.rows for c in taken) >= SQL_CHUNK_ROWS:
                    yield procore_sql.merge(taken)
                    taken = []
            del result
            parts.submit_next()
        if taken:
            yield procore_sql.merge(taken)

    def _pages_in_workers(self, parts: _Parts, base: Path, reader: _Reader) -> Iterator[LoadChunk]:
        """A resource's pages read, converted and validated in worker processes, part by part, in order."""
        spec = parts.spec
        while parts.queue:
            part, future = parts.queue.popleft()
            try:
                packed, groups, notes = future.result()
            except (InputError, BrokenProcessPool):
                # read the rest here: the file's own error (with its row), as the serial reading gives it; or a
                # worker process died (killed, out of memory, crashed): nothing is lost, the rest is read here
                rest = [part, *(p for p, _ in parts.queue), *parts.todo]
                parts.close()
                for path, label in (f for p in rest for f in p):
                    records, context = read_page(Path(path), label)
                    yield from self._file_rows(reader, spec, records, context, label, {})
                    self.files.append(label)
                return
            first_group = reader.group
            for tables, has_lines in packed:
                yield unpack_chunk(tables, has_lines, first_group)
            reader.group += groups
            reader.notes.extend(notes)
            self.files.extend(label for _, label in part)
            parts.submit_next()


class _ReadAhead:
    """Parts read in a pool ahead of the writer and taken in order: ``ahead`` submitted at once, then one more for
    each part the writer takes (``submit_next``). ``queue`` holds ``_submit``'s entries, oldest first."""

    def __init__(self, pool: Executor, items: list, ahead: int):
        self.pool: Executor | None = pool
        self.todo = iter(items)
        self.queue: deque = deque()
        for _ in range(ahead):
            if not self.submit_next():
                break

    def _submit(self, item: Any) -> tuple:
        raise NotImplementedError

    def submit_next(self) -> bool:
        item = next(self.todo, None)
        if item is None or self.pool is None:
            return False
        self.queue.append(self._submit(item))
        return True

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None
        self.queue.clear()


class _Parts(_ReadAhead):
    """A resource's page parts in worker processes, at most ``workers + 1`` ahead of the writer: ``(part,
    future)``, in a ``ForkPool``."""

    def __init__(self, spec: TableSpec, parts: list[list[tuple[str, str]]], workers: int, chunk_rows: int):
        self.spec, self.parts, self.chunk_rows = spec, parts, chunk_rows
        super().__init__(ForkPool(workers), parts, workers + 1)

    def _submit(self, part: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], Future]:
        assert self.pool is not None
        try:
            future = self.pool.submit(_check_pages, self.spec.table, part, self.chunk_rows)
        except BrokenProcessPool as e:  # a worker died: the part stays in order, read by the writer
            future = Future()
            future.set_exception(e)
        return part, future


class _SqlParts(_ReadAhead):
    """The parts of every resource DuckDB reads, in the order the writer takes them, read in threads of this
    process (DuckDB holds no GIL while it parses) a few parts ahead of the writer, across resources: while the
    writer reads a resource in Python, the next parts are read. ``(spec, part, future)``. One thread per core but
    the writer's: on two cores a second reading thread only contends with the writer (measured: as fast or slower,
    ~1 CPU-second more)."""

    def __init__(self, parts: list[tuple[TableSpec, list[tuple[str, str]]]], workers: int):
        threads = max(1, workers - 1)
        super().__init__(ThreadPoolExecutor(threads), parts, threads + 2)

    def _submit(self, item: tuple[TableSpec, list[tuple[str, str]]]) -> tuple:
        assert self.pool is not None
        spec, part = item
        return spec, part, self.pool.submit(procore_sql.read_part, spec.table, part)


def _check_pages(
    table: str, files: list[tuple[str, str]], chunk_rows: int
) -> tuple[list[tuple[Packed, dict | None]], int, list[str]]:
    """Read, convert and validate some page files of one resource (in a worker process), as the writing process
    would: the packed chunks, the groups they used (numbered from 0) and the reading notes."""
    spec = TABLES[table]
    reader = _Reader()
    rows = ExportReader(".", chunk_rows=chunk_rows, workers=0)
    packed = []
    for path, label in files:
        with _no_gc():
            records, context = read_page(Path(path), label)
        for chunk in rows._file_rows(reader, spec, records, context, label, {}):
            packed.append(pack_chunk(chunk))
        del records
    if reader.batches:
        packed.append(pack_chunk(check_chunk(reader.batches, reader.has_lines)))
    return packed, reader.group, reader.notes


def _resources(found: dict, by_resource: dict, erp: shapes.ErpPayloads) -> set[str]:
    """The table resources an export holds (budget modifications are budget changes; permission templates give
    users' tool levels)."""
    names = set(found) & set(by_resource) | set(erp.records)
    if shapes.BUDGET_MODIFICATIONS in found:
        names.add("budget_changes")
    if shapes.PERMISSION_TEMPLATES in found and "users" in found:
        names.add("user_tool_permissions")
    return names


@dataclass
class _Templates:
    """Permission templates of the export, and the tool levels read from them while users were read."""

    by_id: dict[str, dict] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def _read_templates(found: dict[str, list[Path]], base: Path) -> _Templates:
    t = _Templates()
    for file in found.get(shapes.PERMISSION_TEMPLATES, []):
        label = str(file.relative_to(base))
        t.by_id.update(shapes.templates_by_id(read_page(file, label)[0]))
        t.files.append(label)
    return t


def _resource_pages(
    resource: str,
    found: dict[str, list[Path]],
    base: Path,
    actions: list[shapes.ErpAction],
    templates: _Templates,
) -> Iterator[tuple[Path | None, str, list, dict]]:
    """Each file of a resource as (file, label, records, context); budget changes also from Procore's legacy
    budget modifications, turned into budget change records (their cost-code actions go to ``actions``); users
    with what their permission templates say, and those tool levels after the export's own."""
    for file in found.get(resource, []):
        label = str(file.relative_to(base))
        with _no_gc():  # JSON records hold no reference cycles (see ``ExportReader.chunks``)
            records, context = read_page(file, label)
        if resource == "users" and templates.files:
            records, rows, notes = shapes.users_with_templates(records, templates.by_id)
            templates.rows += rows
            templates.notes += [n for n in notes if n not in templates.notes]
        yield file, label, records, context
    if resource == "user_tool_permissions" and templates.rows:
        yield None, f"{shapes.PERMISSION_TEMPLATES} (levels of the users' templates)", templates.rows, {}
        templates.rows = []
    if resource == "budget_changes":
        for file in found.get(shapes.BUDGET_MODIFICATIONS, []):
            label = str(file.relative_to(base))
            records, context = read_page(file, label)
            records, more = shapes.budget_modifications_as_changes(records, label)
            actions.extend(more)
            yield file, label, records, context


class _no_gc:  # noqa: N801 - used as a statement
    """Pause the cyclic garbage collector for a block (restored as it was)."""

    def __enter__(self) -> None:
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was:
            gc.enable()


def read_export(path: str | Path) -> ProcoreExport:
    """Read every resource file of an export folder (or one resource file); malformed files raise InputError.

    API pages kept with their request, line pages and ERP request payloads are first brought to the records
    the columns are read from (``procore_shapes``).
    """
    root = Path(path)
    found, ignored = resource_files(root)
    by_resource = {spec.meta["resource"]: spec for spec in TABLES.values() if "resource" in spec.meta}
    reader = _Reader()
    files: list[str] = []
    base = root if root.is_dir() else root.parent
    erp = shapes.ErpPayloads()
    for file in found.get(shapes.ERP_REQUESTS, []):
        label = str(file.relative_to(base))
        value, context = shapes.unwrap_page(read_json_value(file, label), file)
        shapes.read_erp_requests(value if isinstance(value, list) else [value], label, erp, context)
        files.append(label)
    lines: dict[str, dict] = {}
    for line_resource in shapes.LINE_RESOURCES:
        for file in found.get(line_resource, []):
            label = str(file.relative_to(base))
            records, context = read_page(file, label)
            groups, problems = shapes.group_lines(line_resource, records, context, label)
            for pid, recs in groups.items():
                lines.setdefault(line_resource, {}).setdefault(pid, []).extend(recs)
            reader.notes.extend(problems)
            files.append(label)
    templates = _read_templates(found, base)
    files += templates.files
    order = list(by_resource)
    for resource in sorted(_resources(found, by_resource, erp), key=order.index):
        spec = by_resource[resource]
        for file, label, records, context in _resource_pages(resource, found, base, erp.actions, templates):
            records = shapes.nest_lines(resource, shapes.normalise_records(spec, records, context), lines)
            reader.read_resource(spec, records, label)
            if file is not None:
                files.append(label)
        if resource in erp.records:
            records = shapes.normalise_records(spec, erp.records[resource], {})
            reader.read_resource(spec, records, f"{shapes.ERP_REQUESTS} ({resource})")
    notes = [f"ignored {name}: not a Procore resource file" for name in ignored] + reader.notes + erp.notes
    notes += templates.notes
    notes += shapes.orphan_notes(lines)
    return ProcoreExport(reader.batches, files, notes, reader.has_lines, erp.actions)
