"""What every stored table declares: its name, its key, where each column comes from.

A ``DataFrameModel`` here is the single declaration of a table. The DuckDB DDL, the loaders (JSON paths for
Procore, XML paths for qbXML) and the upsert keys are all read off it, so adding a column is one line.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow

from .types import ARROW_TO_DUCKDB

# Columns every stored source table carries besides its declared fields.
LOAD_COLUMNS = {
    "_source_file": "VARCHAR",
    "_source_row": "BIGINT",
    "_load_id": "BIGINT",
    "_loaded_at": "TIMESTAMPTZ",
}


class TableModel(pa.DataFrameModel):
    """Base for stored tables. Subclasses set ``Config.metadata = {"table": ..., "key": [...], ...}``."""

    class Config:
        strict = False
        coerce = False
        metadata: dict = {}


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    arrow_type: pa_arrow.DataType
    nullable: bool
    source: str | None  # dotted JSON path (Procore) or slash XML path (qbXML), relative to the record
    max_length: int | None

    @property
    def duckdb_type(self) -> str:
        return ARROW_TO_DUCKDB[self.arrow_type]


@dataclass(frozen=True)
class TableSpec:
    model: type[TableModel]
    table: str
    key: tuple[str, ...]
    side: str  # "procore" | "quickbooks"
    columns: tuple[ColumnSpec, ...]
    meta: dict

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def arrow_schema(self) -> pa_arrow.Schema:
        """The declared columns as an Arrow schema (what a stored row of this table looks like)."""
        return pa_arrow.schema([(c.name, c.arrow_type) for c in self.columns])

    def empty_frame(self) -> pd.DataFrame:
        return pd.DataFrame({c.name: pd.Series([], dtype=pd.ArrowDtype(c.arrow_type)) for c in self.columns})

    def ddl(self) -> str:
        cols = [f'"{c.name}" {c.duckdb_type}' for c in self.columns]
        cols += [f'"{n}" {t}' for n, t in LOAD_COLUMNS.items()]
        key = ", ".join(f'"{k}"' for k in self.key)
        return f'CREATE TABLE IF NOT EXISTS "{self.table}" ({", ".join(cols)}, PRIMARY KEY ({key}))'


def table_spec(model: type[TableModel]) -> TableSpec:
    schema = model.to_schema()
    meta = dict(model.__config__.metadata or {})
    columns = []
    for name, col in schema.columns.items():
        dtype = col.dtype.type  # pd.ArrowDtype
        arrow_type = dtype.pyarrow_dtype
        md = col.metadata or {}
        max_length = None
        for check in col.checks:
            stats = getattr(check, "statistics", {}) or {}
            if check.name == "str_length" and stats.get("max_value") is not None:
                max_length = int(stats["max_value"])
        columns.append(ColumnSpec(name, arrow_type, bool(col.nullable), md.get("source", name), max_length))
    return TableSpec(model, meta["table"], tuple(meta["key"]), meta["side"], tuple(columns), meta)
