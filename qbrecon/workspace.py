"""``Workspace``: the one object analysts, the CLI, the dashboard and the Web Connector service share.

It owns the DuckDB store. Capabilities live in their own modules and join the class as mixins, so each
stays in one place: loading (``loaders``), the ERP queue (``erp``), qbXML export (``export``),
reconciliation (``reconcile``).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from .store import Store


class WorkspaceBase:
    """Store access shared by every mixin."""

    def __init__(self, path: str | Path | None = None, *, busy_timeout: float = 10.0):
        self.path = None if path is None or str(path) == ":memory:" else Path(path)
        self.store = Store(self.path, busy_timeout=busy_timeout)

    # -- reading -----------------------------------------------------------------------------------------
    def frame(self, name: str, where: str | None = None) -> pd.DataFrame:
        """A stored table (or any SELECT) as a pandas frame with exact (Arrow decimal) money columns."""
        if where:
            from .erp.filters import check_filter  # a filter is only a condition on the table's columns

            return self.store.frame(f'SELECT * FROM "{name}" WHERE {check_filter(where, self.store, name)}')
        return self.store.frame(name)

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        """A DuckDB relation over the workspace: ``ws.sql("select ...").df()`` / ``.arrow()`` / ``.show()``."""
        return self.store.sql(query)

    @property
    def tables(self) -> list[str]:
        return sorted(self.store.table_names())

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> WorkspaceBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.path) if self.path else ':memory:'})"
