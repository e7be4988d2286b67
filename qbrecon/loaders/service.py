"""``LoadingService`` (``ws.loading``): ``load_procore(path)``, ``load_quickbooks(path)`` and
``load_query_result(result, source=...)`` (qbXML already read, e.g. a Web Connector refresh page).

A load reads and checks its rows chunk by chunk (``validate.LoadChunk``: a folder of small files is one chunk,
a large file one chunk per part) and writes them in one transaction: upserts by each table's key, the quarantine
rows, and its ``load_runs`` row. Any unexpected error, in any chunk, rolls the whole load back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import links
from ..schemas import TABLES, TableSpec
from ..schemas.values import Batch, CellError
from ..store import ARROW_ROWS, execute_on_rows
from . import procore as procore_reader
from . import procore_shapes
from . import quickbooks as quickbooks_reader
from .report import LoadReport, TableCounts
from .validate import Checked, LoadChunk, check_chunk, settle

if TYPE_CHECKING:
    from ..store import Store

_ORDER = list(TABLES)  # parents are declared before their lines
# DuckDB's memory during a Procore load and its queue refresh: with Python's own (~250 MB at the refresh of 1M lines)
# the load stays under 1 GB (``benchmarks/bench_load.py``)
LOAD_MEMORY_LIMIT = 600 * 2**20
_UNITS = {"": 1, "B": 1, "BYTES": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
_UNITS.update({"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40})


def _bytes(setting: str) -> float:
    """``'18.8 GiB'`` (DuckDB's way of showing a memory setting) in bytes."""
    number, _, unit = setting.strip().partition(" ")
    try:
        return float(number) * _UNITS[unit.strip().upper()]
    except (ValueError, KeyError):
        return float("inf")


class QueryRows(Protocol):
    """QuickBooks rows read from qbXML: ``qbxml.parse.QueryResult`` or ``loaders.quickbooks.QuickBooksResponses``."""

    batches: dict[str, Batch]
    statuses: list


class LoadingService:
    """Loading both sides into the workspace's store (see ``qbrecon/loaders``): the first stage of the pipeline,
    it needs nothing but the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def load_procore(self, path: str | Path) -> LoadReport:
        """Load a Procore export folder (one JSON file or page folder per API resource). Upserts by key.

        Malformed files raise ``InputError`` and nothing is written; invalid rows go to ``quarantine``.
        """
        started = datetime.now(UTC)
        reader = procore_reader.ExportReader(path)
        return self._write_load("procore", str(path), reader.chunks(), started, reader)

    @contextlib.contextmanager
    def bounded_memory(self) -> Iterator[None]:
        """DuckDB's memory capped at ``LOAD_MEMORY_LIMIT`` (or the lower limit already set) for a load and what runs
        in its transaction, then restored: the ERP-queue refresh after a large Procore load joins 1M lines and took
        +350 MB over the load's own rows; capped, DuckDB spills its working memory to the workspace's temp files
        instead."""
        store = self.store
        if store.path is None:  # an in-memory workspace's rows are DuckDB's memory: never capped
            yield
            return
        before = store.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        if _bytes(before) <= LOAD_MEMORY_LIMIT:
            yield
            return
        store.execute(f"SET memory_limit = '{LOAD_MEMORY_LIMIT // 2**20}MiB'")
        try:
            yield
        finally:  # the default back exactly (it is shown rounded), else the limit that was set
            store.execute("RESET memory_limit")
            if store.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] != before:
                store.execute(f"SET memory_limit = '{before}'")

    def load_quickbooks(self, path: str | Path) -> LoadReport:
        """Load qbXML responses (a folder of ``*.xml`` files or one file). Upserts by ListID / TxnID.

        Statuses 1 and 500 (nothing matched) are benign; other error statuses are listed in the report.
        """
        started = datetime.now(UTC)
        reader = quickbooks_reader.ResponseReader(path)
        return self._write_load("quickbooks", str(path), reader.chunks(), started, reader)

    def load_query_result(
        self,
        result: QueryRows,
        *,
        source: str,
        files: Sequence[str] | None = None,
        started: datetime | None = None,
    ) -> LoadReport:
        """Load QuickBooks rows that were already read from qbXML, through the same write path as
        ``load_quickbooks``: conversion, pandera validation, quarantine (never dropped), upsert by ListID / TxnID,
        removal of stale lines of records that came with lines, and one ``load_runs`` row. One transaction.

        ``result`` is what ``qbxml.parse.read_query_response`` returns for one response (the refresh applies
        each Web Connector page this way) or ``loaders.quickbooks.read_responses`` for several files: anything
        with ``batches`` (raw rows per table) and ``statuses`` (one per ``*Rs``). ``source`` names where the
        rows came from in ``load_runs`` and the report; ``files`` defaults to the result's own ``files``, else
        ``[source]``. Statuses 1 and 500 are benign; other error statuses are listed in the report.
        """
        listed = files if files is not None else getattr(result, "files", None) or [source]
        return self._apply_load(
            "quickbooks",
            source,
            result.batches,
            list(listed),
            started or datetime.now(UTC),
            notes=list(getattr(result, "notes", None) or []),
            statuses=list(result.statuses),
        )

    def quarantine(self, load_id: int | None = None) -> pd.DataFrame:
        """Rows held back by loads (one row per failing field), newest load first."""
        where = f"WHERE load_id = {int(load_id)}" if load_id is not None else ""
        return self.store.frame(
            f"SELECT * FROM quarantine {where} ORDER BY load_id DESC, table_name, source_row"
        )

    def load_runs(self) -> pd.DataFrame:
        return self.store.frame(
            "SELECT load_id, side, source, started_at, finished_at, status FROM load_runs ORDER BY load_id"
        )

    # -- the write phase ------------------------------------------------------------------------------------------
    def _apply_load(
        self,
        side: str,
        source: str,
        batches: dict[str, Batch],
        files: list[str],
        started: datetime,
        *,
        notes: list[str] | None = None,
        has_lines: dict[str, list[bool]] | None = None,
        statuses: list | None = None,
        erp_actions: list | None = None,
    ) -> LoadReport:
        """A load whose rows are all in memory: one chunk."""
        info = _LoadInfo(list(files), list(notes or []), list(statuses or []), list(erp_actions or []))
        return self._write_load(side, source, [check_chunk(batches, has_lines)], started, info)

    def _write_load(
        self, side: str, source: str, chunks: Iterable[LoadChunk], started: datetime, info: _Info
    ) -> LoadReport:
        """Write the chunks in one transaction; ``info`` (files, notes, statuses) is read once they are done."""
        store = self.store
        with store.transaction() as con:
            load_id = store.next_load_id()
            report = LoadReport(load_id, side, source, started)
            loaded_at = datetime.now(UTC)
            stored = _StoredKeys(con)
            for chunk in chunks:
                ordered = sorted(chunk.checked, key=_ORDER.index)
                checked = {name: chunk.checked[name] for name in ordered}
                for c in checked.values():
                    if stored.met_again(c):
                        _check_earlier_copies(con, load_id, c)
                outcome = settle(checked, load_id)
                for name in ordered:
                    spec = TABLES[name]
                    good = outcome.good[name]
                    counts = report.tables.get(name) or TableCounts(name)
                    report.tables[name] = counts
                    counts.read += len(checked[name].batch)
                    counts.quarantined += outcome.quarantined[name]
                    counts.merged += outcome.merged_duplicates[name]
                    n = good.num_rows
                    good = good.append_column(
                        "_load_id", pa.repeat(pa.scalar(load_id, pa.int64()), n)
                    ).append_column(
                        "_loaded_at", pa.repeat(pa.scalar(loaded_at, pa.timestamp("us", tz="UTC")), n)
                    )
                    # the chunk's rows hold each key once (``check_batch``) and none an earlier chunk stored
                    # (held back or merged above): into a table empty when the load began, all are new
                    fresh = stored.was_empty(name)
                    loaded, updated = store.upsert(name, good, spec.key, unique=True, new=fresh)
                    stored.add(name, good)
                    counts.loaded += loaded
                    counts.updated += updated
                    if not fresh:  # no line stored before this load, none to remove
                        counts.removed += self._remove_stale_lines(
                            con, spec, checked, outcome.good, chunk.has_lines, load_id
                        )
                if outcome.quarantine.num_rows:
                    execute_on_rows(
                        con, f"INSERT INTO quarantine SELECT * FROM {ARROW_ROWS}", outcome.quarantine
                    ).fetchall()
                    if len(report.quarantine_sample) < 10:
                        sample = outcome.quarantine.slice(0, 10 - len(report.quarantine_sample))
                        report.quarantine_sample += sample.drop_columns(["source_record"]).to_pylist()
                # nothing of a written chunk is held while the next one is read (the loop would keep it)
                chunk = checked = outcome = good = None
            report.tables = {name: report.tables[name] for name in sorted(report.tables, key=_ORDER.index)}
            report.files = list(info.files)
            report.notes = list(info.notes)
            erp_actions = getattr(info, "actions", None)
            if (
                erp_actions
            ):  # links, unlinks and deletes Procore's ERP requests ask for, after the rows they name
                report.notes.extend(procore_shapes.apply_erp_actions(con, erp_actions))
            if side == "procore":  # the export's origin_id never overrides a link qbrecon made
                conflicts = links.apply_to_procore(con, load_id)
                if conflicts:
                    report.notes.append(
                        f"{conflicts} record(s) or line(s) came with a different QuickBooks id than qbrecon's link; "
                        "the links were kept (see ws.link_conflicts() and the audit log)"
                    )
            if info.statuses:
                report.responses = [_status_dict(s) for s in info.statuses]
                report.response_errors = [_status_dict(s) for s in info.statuses if s.is_error]
            report.finished_at = datetime.now(UTC)
            con.execute(
                "INSERT INTO load_runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    load_id,
                    side,
                    source,
                    report.started_at,
                    report.finished_at,
                    report.status,
                    report.to_json(),
                ],
            )
        return report

    @staticmethod
    def _remove_stale_lines(
        con,
        spec: TableSpec,
        checked: dict,
        good: dict[str, pa.Table],
        has_lines: dict[str, list[bool]] | None,
        load_id: int,
    ) -> int:
        """Delete stored lines of reloaded parents that the new load no longer lists (called after the lines were
        upserted, so a listed line carries this load's ``_load_id`` and a stale one an older one).

        Procore: parents whose record carried its line array. QuickBooks: parents that came with lines (a query
        without ``IncludeLineItems`` returns none, which must not wipe the stored lines).
        """
        parent = spec.meta.get("parent")
        if parent is None or parent not in good:
            return 0
        lines = good[spec.table]
        if spec.side == "procore":
            fk = procore_reader.LINE_PARENT_KEY.get(spec.table)
            flags = (has_lines or {}).get(parent)
            if fk is None or flags is None:
                return 0
            parent_ids = checked[parent].table.column("id").filter(pa.array(flags, pa.bool_()))
            parent_ids = pc.filter(parent_ids, pc.is_in(parent_ids, value_set=good[parent].column("id")))
        else:
            fk = TABLES[parent].key[0]
            parent_ids = pc.unique(lines.column(fk))
        if len(parent_ids) == 0:
            return 0
        # one pass: DELETE reports how many rows it removed
        removed = execute_on_rows(
            con,
            f'DELETE FROM "{spec.table}" WHERE "{fk}" IN (SELECT pid FROM {ARROW_ROWS}) '
            f"AND _load_id IS DISTINCT FROM {int(load_id)}",
            pa.table({"pid": parent_ids}),
        ).fetchall()[0][0]
        return int(removed)


class _Info(Protocol):
    """What a load lists besides its rows, complete once its chunks are read."""

    files: list[str]
    notes: list[str]
    statuses: list


@dataclass
class _LoadInfo:
    files: list[str]
    notes: list[str]
    statuses: list
    actions: list  # Procore ERP-request actions, applied after the rows


class _StoredKeys:
    """What a load has stored so far, per table: the keys of its rows (for one-column keys), to tell without a
    query whether a chunk meets a record an earlier chunk stored, and whether the table was empty when the load
    began (asked before its first rows are written). A statement per table and chunk saved each way."""

    def __init__(self, con) -> None:  # noqa: ANN001
        self.con = con
        self.empty: dict[str, bool] = {}
        self.keys: dict[str, list[pa.Array]] = {}
        self.ranges: dict[str, tuple] = {}

    def was_empty(self, table: str) -> bool:
        if table not in self.empty:
            self.empty[table] = bool(
                self.con.execute(f'SELECT NOT EXISTS (SELECT 1 FROM "{table}")').fetchall()[0][0]
            )
        return self.empty[table]

    def add(self, table: str, rows: pa.Table) -> None:
        if not rows.num_rows:
            return
        column = _key_values(rows, TABLES[table].key)
        self.keys.setdefault(table, []).append(column)
        lo, hi = _range(column)
        old = self.ranges.get(table)
        self.ranges[table] = (lo, hi) if old is None else (_least(old[0], lo), _greatest(old[1], hi))

    def met_again(self, c: Checked) -> bool:
        """Whether some row of ``c`` may have a key an earlier chunk stored: its keys' range first, then the keys
        themselves (a wider key as its values joined into one text: two keys that differ may join alike -- the
        query then decides --, two equal ones always do)."""
        spec = c.batch.spec
        earlier = self.keys.get(spec.table)
        if not earlier or not c.table.num_rows:
            return False
        keys = _key_values(c.table, spec.key)
        lo, hi = _range(keys)
        first, last = self.ranges[spec.table]
        if lo is None:
            return False  # only null keys: none is stored
        if first is not None and (hi < first or lo > last):
            return False
        if len(earlier) > 1:  # one array to look the chunk's keys up in
            earlier[:] = [pa.concat_arrays(earlier)]
        return bool(pc.any(pc.is_in(keys, value_set=earlier[0], skip_nulls=True)).as_py())


def _key_values(rows: pa.Table, key: tuple[str, ...]) -> pa.Array:
    """One value per row for its key: the column itself, or a wider key's values as text joined by a unit
    separator (null when any part is null: such a key never matches a stored one, as in the query's join)."""
    if len(key) == 1:
        return rows.column(key[0]).combine_chunks()
    parts = [pc.cast(rows.column(k), pa.string()) for k in key]
    return pc.binary_join_element_wise(*parts, "\x1f", null_handling="emit_null").combine_chunks()


def _range(keys: pa.Array | pa.ChunkedArray) -> tuple:
    r = pc.min_max(keys)
    return r["min"].as_py(), r["max"].as_py()


def _least(a, b):  # noqa: ANN001, ANN202
    return b if a is None else a if b is None else min(a, b)


def _greatest(a, b):  # noqa: ANN001, ANN202
    return b if a is None else a if b is None else max(a, b)


def _check_earlier_copies(con, load_id: int, c: Checked) -> bool:  # noqa: ANN001
    """Rows whose key an earlier chunk of this load already stored: an identical copy (overlapping pages) is
    merged; a different record under the same key is held back (the copy stored first stays). True when any
    row was met again."""
    spec = c.batch.spec
    if not c.table.num_rows:
        return False
    key = list(spec.key)
    on = " AND ".join(f's."{k}" = t."{k}"' for k in key)
    differs = " OR ".join(f's."{n}" IS DISTINCT FROM t."{n}"' for n in spec.column_names)
    rows = execute_on_rows(
        con,
        f'SELECT s._row, {differs} FROM {ARROW_ROWS} s JOIN "{spec.table}" t ON {on} '
        f"WHERE t._load_id = {int(load_id)}",
        c.table.append_column("_row", pa.array(range(c.table.num_rows), pa.int64())),
    ).fetchall()
    for row, different in rows:
        if row in c.problems or row in c.drop:
            continue
        if different:
            keys = ", ".join(f"{k}={c.table.column(k)[row].as_py()}" for k in key)
            c.problems[row] = [
                CellError(row, ",".join(key), "duplicate_key", f"{keys} appears in more than one record")
            ]
        else:
            c.drop.add(row)
            c.merged_duplicates += 1
    return bool(rows)


def _status_dict(s) -> dict:
    d = asdict(s)
    d["ok"] = s.ok
    return d
