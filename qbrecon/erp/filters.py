"""Guard for user-written filter conditions (``--where``, ``ws.frame(name, where=...)``).

A filter is spliced into SQL, so without a guard it could call any DuckDB function: ``read_text('/etc/passwd')``,
``read_csv(...)``, ``glob(...)``, ``getenv(...)``, a subquery over another table. ``check_filter`` parses the
condition with DuckDB's own parser (``json_serialize_sql``) and accepts only comparisons, AND/OR/NOT, IN,
BETWEEN, IS NULL, LIKE, CASE, CAST, constants, the table's own columns and a list of plain scalar functions
(text, numbers, dates). Anything else is refused with an ``InputError`` naming what was refused.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import duckdb

from ..errors import InputError
from ..store import Store

# Plain scalar functions (and the operators DuckDB's parser writes as functions: LIKE is ~~, + is +, ...).
ALLOWED_FUNCTIONS = frozenset(
    """~~ !~~ ~~* !~~* ~~~ !~~~ like_escape not_like_escape ilike_escape not_ilike_escape
    regexp_matches regexp_full_match + - * / // % || ^ ** lower upper lcase ucase trim ltrim rtrim length strlen
    len abs round floor ceil ceiling trunc sign contains starts_with ends_with prefix suffix left right substring substr
    replace concat concat_ws nullif greatest least date_trunc datetrunc date_part datepart year month day
    quarter week dayofweek dayofyear hour minute second epoch now current_date today current_timestamp
    get_current_timestamp strftime age date_diff datediff date_sub datesub date_add isnan isfinite
    list_contains array_contains list_has to_years to_months to_weeks to_days to_hours to_minutes to_seconds
    to_milliseconds to_microseconds""".split()
)
# Expression kinds of DuckDB's parse tree a condition may hold (subqueries, windows, lambdas, * and parameters
# may not). TYPE is the target of a CAST or a typed literal (DATE '2026-01-31').
ALLOWED_CLASSES = frozenset(
    {
        "CONJUNCTION",
        "COMPARISON",
        "COLUMN_REF",
        "CONSTANT",
        "OPERATOR",
        "BETWEEN",
        "CAST",
        "CASE",
        "FUNCTION",
        "TYPE",
    }
)

_parser_lock = threading.Lock()
_parser: duckdb.DuckDBPyConnection | None = None


def _parse(sql: str) -> dict:
    """DuckDB's parse tree of ``sql`` (parsed only: nothing is bound or run, on a connection of its own)."""
    global _parser
    with _parser_lock:
        if _parser is None:
            _parser = duckdb.connect(":memory:")
        text = _parser.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchall()[0][0]
    return json.loads(text)


def columns_of(store: Store, table: str) -> list[str]:
    rows = store.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [r[0] for r in rows]


def check_filter(expression: str, store: Store, table: str, field: str = "where") -> str:
    """``expression`` unchanged when it is a condition on ``table``'s columns made only of comparisons and plain
    functions; otherwise ``InputError`` (field ``field``) saying what is not allowed."""
    allowed_columns = {c.lower() for c in columns_of(store, table)}
    return check_condition(expression, allowed_columns, field=field, table=table)


def check_condition(
    expression: str, columns: set[str], *, field: str = "where", table: str = "the table"
) -> str:
    text = str(expression or "").strip()
    if not text:
        raise InputError("the filter is empty", field=field)
    tree = _parse(f"SELECT 1 FROM _filtered WHERE ({text})")
    if tree.get("error"):
        message = str(tree.get("error_message") or "syntax error")
        if "Only SELECT" in message:  # ';' and a second statement
            raise InputError(f"the filter {text!r} must be one SQL condition (no ';')", field=field)
        raise InputError(f"cannot read the filter {text!r}: {message}", field=field)
    statements = tree.get("statements") or []
    node = statements[0].get("node", {}) if len(statements) == 1 else {}
    # The condition must stay a WHERE clause: a ")" in it cannot close the clause and add UNIONs, ORDER/LIMIT...
    if (
        len(statements) != 1
        or node.get("type") != "SELECT_NODE"
        or node.get("modifiers")
        or (node.get("cte_map") or {}).get("map")
        or node.get("group_expressions")
        or node.get("having")
        or node.get("qualify")
        or (node.get("from_table") or {}).get("table_name") != "_filtered"
        or len(node.get("select_list") or []) != 1
        or node.get("where_clause") is None
    ):
        raise InputError(
            f"the filter {text!r} must be one SQL condition (no subqueries, ';' or clauses)", field=field
        )
    _walk(node["where_clause"], text, columns, field, table)
    return text


def _walk(node: Any, text: str, columns: set[str], field: str, table: str) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, text, columns, field, table)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("class")
    if kind is not None:
        if kind not in ALLOWED_CLASSES:
            what = {"SUBQUERY": "a subquery", "WINDOW": "a window function", "STAR": "*"}.get(
                kind, kind.lower()
            )
            raise InputError(
                f"the filter {text!r} may not use {what}; only conditions on columns", field=field
            )
        if kind == "COLUMN_REF":
            names = node.get("column_names") or []
            if len(names) != 1 or str(names[0]).lower() not in columns:
                name = ".".join(map(str, names))
                raise InputError(
                    f"the filter {text!r} names {name!r}, which is not a column of {table} "
                    f"(columns: {', '.join(sorted(columns))})",
                    field=field,
                )
        if kind == "FUNCTION":
            name = str(node.get("function_name") or "").lower()
            if name not in ALLOWED_FUNCTIONS or node.get("schema") or node.get("catalog"):
                raise InputError(
                    f"the filter {text!r} may not call {name}(): only comparisons and plain text, number and date "
                    "functions are allowed (no file, table or system functions)",
                    field=field,
                )
            if node.get("filter") or node.get("distinct") or (node.get("order_bys") or {}).get("orders"):
                raise InputError(f"the filter {text!r} may not use an aggregate", field=field)
    for key, value in node.items():
        if key not in ("class", "type"):
            _walk(value, text, columns, field, table)
