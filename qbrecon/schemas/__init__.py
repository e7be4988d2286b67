"""Table declarations for both sides. ``TABLES`` maps a stored table name to its ``TableSpec``."""

from .base import LOAD_COLUMNS, ColumnSpec, TableModel, TableSpec, table_spec
from .procore import PROCORE_MODELS
from .quickbooks import QUICKBOOKS_MODELS

TABLES: dict[str, TableSpec] = {
    s.table: s for s in (table_spec(m) for m in PROCORE_MODELS + QUICKBOOKS_MODELS)
}
PROCORE_TABLES = [t for t, s in TABLES.items() if s.side == "procore"]
QUICKBOOKS_TABLES = [t for t, s in TABLES.items() if s.side == "quickbooks"]

__all__ = [
    "TABLES",
    "PROCORE_TABLES",
    "QUICKBOOKS_TABLES",
    "LOAD_COLUMNS",
    "ColumnSpec",
    "TableModel",
    "TableSpec",
    "table_spec",
]
