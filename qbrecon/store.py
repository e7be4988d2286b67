"""The workspace store: one DuckDB file (or memory) holding both sides, the queue and every log.

DuckDB lets one process hold a database file at a time, so a second process gets ``WorkspaceLocked`` with the
holder's PID and what to do, after waiting ``busy_timeout`` seconds for the holder to finish.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from . import migrations
from .errors import WorkspaceLocked
from .schemas import TABLES
from .schemas.base import LOAD_COLUMNS

SCHEMA_VERSION = migrations.LATEST  # the number of the last migration (qbrecon/migrations/NNNN_*.sql)

# Modules register their views (and, until their tables move into a numbered migration, idempotent DDL) here
# at import (see ``register_tables``); the tables themselves are declared in ``qbrecon/migrations``.
_EXTRA_DDL: list[str] = [
    """CREATE TABLE IF NOT EXISTS qbrecon_meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    """CREATE SEQUENCE IF NOT EXISTS load_id_seq START 1""",
    """CREATE TABLE IF NOT EXISTS load_runs (
        load_id BIGINT PRIMARY KEY, side VARCHAR, source VARCHAR, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ,
        status VARCHAR, report_json VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        load_id BIGINT, table_name VARCHAR, source_file VARCHAR, source_row BIGINT, field VARCHAR,
        "check" VARCHAR, failure_case VARCHAR, source_record VARCHAR, quarantined_at TIMESTAMPTZ)""",
]


def register_tables(*ddl: str) -> None:
    """Modules that own workspace tables call this at import; DDL must be idempotent (IF NOT EXISTS)."""
    for statement in ddl:
        if statement not in _EXTRA_DDL:
            _EXTRA_DDL.append(statement)


def redeclare(prefix: str, statement: str) -> None:
    """Replace the registered statement that starts with ``prefix`` by ``statement``, in its place (a view declared
    again with more in it, e.g. ``erp_fingerprints`` as each pair module registers); register it if none does."""
    for i, ddl in enumerate(_EXTRA_DDL):
        if ddl.startswith(prefix):
            _EXTRA_DDL[i] = statement
            return
    _EXTRA_DDL.append(statement)


_LOCK_PID = re.compile(r"PID (\d+)")


def connect(
    path: str | Path | None, busy_timeout: float = 10.0, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open the workspace file, waiting up to ``busy_timeout`` seconds while another process holds it."""
    if path is None or str(path) == ":memory:":
        return duckdb.connect(":memory:")
    deadline = time.monotonic() + busy_timeout
    delay = 0.02
    while True:
        try:
            with (
                private_files()
            ):  # a new workspace file is the owner's only: it holds the books (and secrets)
                con = duckdb.connect(str(path), read_only=read_only)
            restrict(Path(path))
            return con
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" not in text.lower():
                raise
            if time.monotonic() >= deadline:
                pid = _LOCK_PID.search(text)
                holder = f"process {pid.group(1)}" if pid else "another process"
                raise WorkspaceLocked(
                    f"workspace {path} is busy: {holder} has it open (DuckDB allows one process per file). "
                    "Retry when it finishes, close the notebook or server that holds it, or run this through "
                    "the running server (qbrecon serve hosts the dashboard and Web Connector together)."
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


_umask_lock = threading.Lock()
_READ_ONLY = re.compile(r"\s*(SELECT|FROM)\b", re.I)  # plain queries (a WITH may end in a write: locked)


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Files created inside are readable and writable by the owner only (umask 077 for the duration)."""
    if os.name != "posix":
        yield
        return
    with _umask_lock:
        old = os.umask(0o077)
        try:
            yield
        finally:
            os.umask(old)


def restrict(path: Path) -> None:
    """The workspace file and its write-ahead log: owner only (0600), whoever created them and how."""
    if os.name != "posix":
        return
    for p in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if p.stat().st_mode & 0o077:
                p.chmod(0o600)


class _Connection:
    """A DuckDB connection that finishes a half-read result before ``register``.

    DuckDB 2.0 refuses ``register`` and ``sql`` while an earlier ``execute(...).fetchone()`` (or an unfetched
    SELECT) left rows unread ("connection has an unfinished result"); ``execute`` itself is fine. Finishing the
    pending result here, once, keeps every module's ``con.execute(...).fetchone()`` safe.
    """

    __slots__ = ("_con",)

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con

    def _finish_pending(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self._con.complete()

    def register(self, name: str, data: object) -> duckdb.DuckDBPyConnection:
        self._finish_pending()
        return self._con.register(name, data)

    def sql(self, query: str, *args: object, **kwargs: object) -> duckdb.DuckDBPyRelation:
        self._finish_pending()
        return self._con.sql(query, *args, **kwargs)

    def from_arrow(self, data: object) -> duckdb.DuckDBPyRelation:
        self._finish_pending()
        return self._con.from_arrow(data)

    def __getattr__(self, name: str):
        return getattr(self._con, name)


def _schema_fingerprint() -> str:
    """A digest of everything ``ensure_schema`` would declare: the models' tables and columns, the migrations and
    the tables and views modules registered (what is registered depends on what has been imported)."""
    h = hashlib.sha256(str(SCHEMA_VERSION).encode())
    for spec in TABLES.values():
        h.update(spec.ddl().encode())  # every column with its type
    for migration in migrations.MIGRATIONS:
        h.update(repr(migration.statements).encode())
    for ddl in _EXTRA_DDL:
        h.update(ddl.encode())
    return h.hexdigest()


class Store:
    """A DuckDB database with the workspace schema, transactions and Arrow-exact frames.

    Threads of one process (the server: dashboard sessions and Web Connector calls) share the database but never a
    connection: ``con`` is this thread's own cursor, so a result always belongs to the thread that asked for it.
    The lock still serialises statements and transactions between threads (one writer at a time, as before),
    but a reader no longer needs it held while fetching.
    """

    def __init__(self, path: str | Path | None = None, busy_timeout: float = 10.0):
        self.path = None if path is None or str(path) == ":memory:" else Path(path)
        self._root = connect(self.path, busy_timeout=busy_timeout)
        self._lock = threading.RLock()
        self._local = threading.local()
        self._cursors: dict[int, tuple[threading.Thread, _Connection]] = {}
        self._closed = False
        self._depth = 0
        self.ensure_schema()

    @property
    def con(self) -> _Connection:
        """This thread's connection to the workspace (a DuckDB cursor of the store's database)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            return con
        with self._lock:
            if self._closed:
                raise duckdb.ConnectionException("the workspace store is closed")
            # Cursors of threads that have ended are closed here, so a long-running server does not collect them.
            for ident, (thread, cursor) in list(self._cursors.items()):
                if not thread.is_alive():
                    with contextlib.suppress(duckdb.Error):
                        cursor._con.close()
                    del self._cursors[ident]
            con = _Connection(self._root.cursor())
            self._cursors[threading.get_ident()] = (threading.current_thread(), con)
        self._local.con = con
        return con

    # -- schema --------------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create or upgrade the workspace schema in one transaction (see ``qbrecon.migrations``): the model
        tables from their models (adding columns a model gained), then the numbered migrations this file lacks,
        then the views modules register."""
        fingerprint = _schema_fingerprint()
        if self._schema_current(fingerprint):
            return  # opened as this qbrecon left it: no DDL, so opening writes nothing (and costs a read)
        with self.transaction():
            self.con.execute(_EXTRA_DDL[0])  # qbrecon_meta: where the schema version is kept
            rows = self.con.execute("SELECT value FROM qbrecon_meta WHERE key = 'schema_version'").fetchall()
            version = int(rows[0][0]) if rows else None
            if version is not None and version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"workspace schema version {version} is newer than this qbrecon ({SCHEMA_VERSION}); upgrade qbrecon"
                )
            have = set(self.con.execute("SELECT table_name, column_name FROM duckdb_columns()").fetchall())
            existing = {table for table, _ in have}
            for spec in TABLES.values():
                if spec.table not in existing:
                    self.con.execute(spec.ddl())
                    continue
                columns = [(c.name, c.duckdb_type) for c in spec.columns] + list(LOAD_COLUMNS.items())
                for statement in migrations.model_columns_to_add(have, spec.table, columns):
                    self.con.execute(statement)
            for migration in migrations.pending(version):
                for statement in migration.statements:
                    self.con.execute(statement)
                self.con.execute(
                    "INSERT OR REPLACE INTO qbrecon_meta VALUES ('schema_version', ?)",
                    [str(migration.number)],
                )
            for ddl in _EXTRA_DDL:
                self.con.execute(ddl)
            self.con.execute(
                "INSERT OR REPLACE INTO qbrecon_meta VALUES ('schema_fingerprint', ?)", [fingerprint]
            )

    def _schema_current(self, fingerprint: str) -> bool:
        """The file is at this qbrecon's schema version and was last brought up to date by this same schema
        declaration (models, migrations, registered tables and views): every idempotent step would be a no-op."""
        try:
            meta = dict(
                self.con.execute(
                    "SELECT key, value FROM qbrecon_meta WHERE key IN ('schema_version', 'schema_fingerprint')"
                ).fetchall()
            )
        except duckdb.CatalogException:
            return False  # a new file
        return (
            meta.get("schema_version") == str(SCHEMA_VERSION)
            and meta.get("schema_fingerprint") == fingerprint
        )

    @property
    def schema_version(self) -> int:
        return int(
            self.con.execute("SELECT value FROM qbrecon_meta WHERE key='schema_version'").fetchall()[0][0]
        )

    # -- transactions --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All-or-nothing: nested uses join the outer transaction."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.con
                finally:
                    self._depth -= 1
                return
            self.con.execute("BEGIN TRANSACTION")
            self._depth = 1
            try:
                yield self.con
            except BaseException:
                self._depth = 0
                self.con.execute("ROLLBACK")
                raise
            else:
                self._depth = 0
                with private_files():  # DuckDB writes (and may create) the .wal at commit
                    self.con.execute("COMMIT")
                if self.path is not None:
                    restrict(self.path)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Several reads that see one state of the workspace: one DuckDB transaction on this thread's cursor,
        without the store's lock, so writers on other threads go on (a dashboard page's keys and rows then agree
        even while the Web Connector changes statuses between the two reads)."""
        con = self.con
        try:
            con.execute("BEGIN TRANSACTION")
        except (
            duckdb.TransactionException
        ):  # already inside this thread's transaction: its state is one state
            yield con
            return
        try:
            yield con
        finally:
            con.execute("ROLLBACK")  # reads only: nothing to keep

    # -- reading ---------------------------------------------------------------------------------------
    def frame(self, sql_or_table: str, params: list | None = None) -> pd.DataFrame:
        """A pandas frame with Arrow dtypes: DECIMAL stays decimal (``.df()`` would turn it into float)."""
        # only a bare name can be a table (looking names up is itself a catalog query: not for every SELECT)
        is_table = sql_or_table.isidentifier() and sql_or_table in self.table_names()
        sql = f'SELECT * FROM "{sql_or_table}"' if is_table else sql_or_table
        # A read on this thread's own cursor needs no lock: DuckDB gives it a consistent snapshot while other
        # threads write, so dashboard reads never queue behind a Web Connector transaction (nor it behind them).
        table = _arrow(self.con.execute(sql, params or []))
        return arrow_to_frame(table)

    def sql(self, query: str, params: list | None = None) -> duckdb.DuckDBPyRelation:
        """A DuckDB relation (lazy; parameters bound by DuckDB). Its ``.df()`` turns decimals into floats."""
        with self._lock:
            return self.con.sql(query, params=params or None)

    def scalar(self, query: str, params: list | tuple | None = None) -> Any:
        """The first column of the first row (read fully: DuckDB 2.0 keeps a half-read result pending)."""
        rows = self.execute(query, params).fetchall()
        return rows[0][0] if rows else None

    def execute(self, query: str, params: list | tuple | None = None) -> duckdb.DuckDBPyConnection:
        """Run a statement on this thread's connection; the pending result is this thread's alone to fetch."""
        if _READ_ONLY.match(query):
            # A query on this thread's own cursor needs no lock (DuckDB's snapshot isolation): reads never wait
            # for another thread's whole transaction, e.g. a login's settings lookup behind an export batch.
            return self.con.execute(query, params or [])
        with self._lock:
            if self._depth or self.path is None:
                return self.con.execute(query, params or [])
            with private_files():  # an autocommitted write may create the .wal
                result = self.con.execute(query, params or [])
            restrict(self.path)
            return result

    def table_names(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}

    def count(self, table: str) -> int:
        return int(self.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0])

    # -- writing ---------------------------------------------------------------------------------------
    def upsert(
        self,
        table: str,
        data: pd.DataFrame | pa.Table,
        key: tuple[str, ...] | list[str],
        *,
        unique: bool = False,
        new: bool = False,
    ) -> tuple[int, int]:
        """Insert new rows and replace existing ones by ``key``. Returns (inserted, updated).

        ``unique``: the caller has checked that the rows hold each key once (a load's own duplicate check), so
        they are not grouped again here. ``new``: the caller knows that no stored row has any of their keys (a
        load into a table that was empty when it began, whose earlier chunks it checked): a plain INSERT without
        counting. A repeated key is still refused by the table's primary key. Each check skipped is a statement
        over the rows saved per chunk of a load.

        Call inside ``transaction()`` to make it part of a larger atomic change.
        """
        arrow = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
        if arrow.num_rows == 0:
            return 0, 0
        cols = ", ".join(f'"{c}"' for c in arrow.column_names)
        on = " AND ".join(f't."{k}" = s."{k}"' for k in key)
        name = ARROW_ROWS
        with self.transaction() as con:
            if not unique:
                dupes = execute_on_rows(
                    con,
                    f"SELECT count(*) FROM (SELECT {', '.join(chr(34) + k + chr(34) for k in key)} FROM {name} "
                    f"GROUP BY ALL HAVING count(*) > 1)",
                    arrow,
                ).fetchall()[0][0]
                if dupes:
                    raise ValueError(f"{dupes} key(s) appear more than once in the rows for {table}")
            updated = (
                0
                if new
                else execute_on_rows(
                    con, f'SELECT count(*) FROM "{table}" t JOIN {name} s ON {on}', arrow
                ).fetchall()[0][0]
            )
            # no key stored yet: a plain INSERT (INSERT OR REPLACE costs about twice as much per row)
            verb = "INSERT OR REPLACE" if updated else "INSERT"
            execute_on_rows(con, f'{verb} INTO "{table}" ({cols}) SELECT {cols} FROM {name}', arrow)
        return arrow.num_rows - updated, updated

    def put_rows(self, table: str, rows: list[dict]) -> tuple[int, int]:
        """Upsert plain dict rows into a declared source table, typed by its ``TableSpec`` (missing keys are
        NULL). For setting up data by hand: tests, benchmarks, notebooks. Returns (inserted, updated)."""
        spec = TABLES[table]
        return self.upsert(table, pa.Table.from_pylist(rows, schema=spec.arrow_schema), spec.key)

    def next_load_id(self) -> int:
        """A new load's id (``load_runs``, ``quarantine``, ``_load_id``); a sequence, so never reused."""
        return int(self.execute("SELECT nextval('load_id_seq')").fetchall()[0][0])

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for _thread, cursor in self._cursors.values():
                with contextlib.suppress(duckdb.Error):
                    cursor._con.close()
            self._cursors.clear()
            self._root.close()


ARROW_ROWS = "_qbrecon_rows"  # the name ``execute_on_rows`` gives its Arrow table in the query


def execute_on_rows(
    con: duckdb.DuckDBPyConnection | _Connection, query: str, rows: pa.Table
) -> duckdb.DuckDBPyRelation:
    """Run ``query`` with ``_qbrecon_rows`` (``ARROW_ROWS``) naming the Arrow table ``rows``; a statement that
    is not a ``SELECT`` runs at once, a ``SELECT`` when its result is fetched.

    The table is bound to the statement's relation, not to the connection: ``con.register`` would not do inside
    a transaction, because the view it makes (and ``unregister`` drops) stays in DuckDB's catalog, holding its
    Arrow table, until the transaction ends -- a load of 1M Procore lines kept every chunk's rows that way
    (320 MB by the end)."""
    return con.from_arrow(rows).query(ARROW_ROWS, query)


def _arrow(result: duckdb.DuckDBPyConnection) -> pa.Table:
    """The pending result as an Arrow table (DuckDB 2.0 renamed ``fetch_arrow_table`` to ``to_arrow_table``)."""
    fetch = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
    with warnings.catch_warnings():  # "extra copy" notice: parameterised queries have to go this way
        warnings.simplefilter("ignore", UserWarning)
        return fetch()


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """A query result as a frame of Arrow-backed columns (``pd.ArrowDtype``), each column wrapped as it is: what
    ``table.to_pandas(types_mapper=pd.ArrowDtype)`` makes of a table without pandas metadata (DuckDB's results,
    ``from_pylist``), for less (a message set's rows are built from one per set). Columns are set by position,
    so a result's repeated column names stay."""
    frame = pd.DataFrame(
        {i: pd.arrays.ArrowExtensionArray(c) for i, c in enumerate(table.columns)},
        index=pd.RangeIndex(table.num_rows),
    )
    frame.columns = table.column_names
    return frame
