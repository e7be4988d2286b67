"""What the dashboard reads, as SQL over the workspace: counts, one page of a queue, one item's details.

The queue rows are the ERP queue's view ``erp_queue``. Pages come from DuckDB with ``LIMIT``/``OFFSET``, so a queue of 100,000 items costs one page of rows per
request in the server and in the browser; nothing here loads a whole queue into pandas. Every function takes
the workspace and returns frames read through ``Store.frame`` (money stays ``decimal128(18,2)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .. import pairs as _pairs
from ..entities import PAIRS
from ..erp import queue as _queue  # the queue's SQL (and the erp_queue view it registers)
from ..erp.states import STATUSES, TRANSITIONS, item_where

# The item types the ERP Integrations tool has a tab for, in Procore's tab order.
TAB_ORDER: list[str] = [m.item_type for m in sorted(_pairs.registered(), key=lambda m: m.tab_order)]
# the tab an approver lands on after sign-in (declared by one pair module)
LANDING_TAB: str = next(m.item_type for m in _pairs.registered() if m.landing_tab)

# The filters each tab offers (Procore's "Filter ... By" links), plus "Exporting" so an accepted item stays
# visible while the Web Connector delivers it, and "Unlinked" after an unlink.
FILTERS: list[str] = [
    "ready_to_export",
    "exporting",
    "ready_to_import",
    "synced",
    "failed_to_export",
    "rejected",
    "unlinked",
]

# Dashboard buttons -> the ERP queue transition they apply (``qbrecon.erp.states.TRANSITIONS``).
ACTIONS: list[str] = ["accept", "reject", "retry", "retrieve", "unlink"]

# Columns of a queue page; sorting is allowed on these names only.
QUEUE_COLUMNS: list[str] = [
    "procore_id",
    "number",
    "name",
    "vendor",
    "project",
    "amount",
    "status",
    "reason",
    "last_error_code",
    "last_error_message",
    "attempts",
    "quickbooks_id",
    "updated_at",
    "sent_by_name",
    "sent_at",
    "decided_by_name",
    "decided_at",
    "blockers",
    "hours",
]

# Line tables and the column that points at the item (the item id for a budget is the project id).
_LINE_KEY: dict[str, str] = {}
_LINE_KEY.update({table: key for m in _pairs.registered() for table, key in m.line_keys})


def item_sql(item_type: str, procore_ids: list[int] | None = None) -> str:
    """One row per queued item of ``item_type``: the ERP queue's own rows (``queue_sql``, the ``erp_queue`` view's
    SELECT for one item type, defined with the queue in ``qbrecon.erp.queue``), so the dashboard shows exactly what
    ``ws.queue()`` returns, plus the columns only the pair fills (``PairModule.queue_columns``: a time entry's hours). ``procore_ids``: only those items (a page's rows)."""
    if item_type not in PAIRS:
        raise KeyError(f"unknown item type {item_type!r}; known: {', '.join(PAIRS)}")
    declared = _pairs.module(item_type)
    special = {
        "amount": 'CAST(e."amount" AS DECIMAL(18,2)) AS "amount"',  # the view's UNION widens it to (38,2)
        "hours": "CAST(NULL AS DECIMAL(18,2)) AS hours",
    }
    special |= {c: f'{sql} AS "{c}"' for c, sql in (declared.queue_columns if declared else ())}
    columns = ", ".join(
        ["e.item_type"] + [special.get(c, f'e."{c}"') for c in QUEUE_COLUMNS] + ["e.status_label"]
    )
    join = f" {declared.queue_join}" if declared and declared.queue_join else ""
    # the tab's own pair only: reading the whole view costs ~45 ms of binding per read before any row
    return f"SELECT {columns} FROM ({_queue.queue_sql(item_type, procore_ids)}) e{join}"


@dataclass
class QueueQuery:
    """One request for a page of a queue tab: which tab and filter, search text, sort, page (1-based)."""

    item_type: str = LANDING_TAB
    status: str | None = "ready_to_export"
    search: str = ""
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    page: int = 1
    page_size: int = 25
    total_amount: Any = None  # the sum of ``amount`` over every matching item, set by ``queue_page``

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if self.status:
            clauses.append("status = ?")
            params.append(self.status)
        text = self.search.strip().lower()
        if text:
            clauses.append(
                "(lower(coalesce(name, '')) LIKE ? OR lower(coalesce(number, '')) LIKE ? "
                "OR lower(coalesce(vendor, '')) LIKE ? OR lower(coalesce(project, '')) LIKE ? "
                "OR CAST(procore_id AS VARCHAR) = ?)"
            )
            like = f"%{text}%"
            params += [like, like, like, like, text]
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def order_by(self) -> str:
        parts = []
        for column, descending in self.sort:
            if column not in QUEUE_COLUMNS:
                raise ValueError(
                    f"cannot sort the queue by {column!r}; sortable columns: {', '.join(QUEUE_COLUMNS)}"
                )
            parts.append(f'"{column}" {"DESC" if descending else "ASC"} NULLS LAST')
        parts.append("procore_id")  # a stable order, so pages never overlap
        return " ORDER BY " + ", ".join(parts)


def queue_page(ws: Any, query: QueueQuery) -> tuple[pd.DataFrame, int]:
    """The rows of one page and the number of rows across all pages (for "rows 26-50 of 100,000").

    The queue view joins every Procore table and builds each item's blockers, so a page is read in two steps:
    the page's keys with the view's total and amount (window functions run before ``LIMIT``: keys and "of N" come
    from one snapshot even while the Web Connector changes statuses), reading only the columns the filter, search
    and sort need; then every column of those rows alone. Only a page past the end (the view shrank) costs a count
    and a re-read."""
    where, params = query.where()
    sql = item_sql(query.item_type)
    size = max(int(query.page_size), 1)
    query.page = max(int(query.page), 1)
    with ws.store.snapshot():  # keys, total and rows from one state of the queue
        keys = _page_keys(ws, f"FROM ({sql}) q{where}", params, query, size)
        if keys.empty and query.page > 1:
            total = int(ws.store.scalar(f"SELECT count(*) FROM ({sql}) q{where}", params))
            query.page = max((total + size - 1) // size, 1)
            keys = _page_keys(ws, f"FROM ({sql}) q{where}", params, query, size)
        total, amount = 0, None
        if len(keys):
            total = int(keys["_view_total"].iloc[0])
            amount = keys["_view_amount"].iloc[0]
        query.total_amount = None if amount is None or amount is pd.NA else amount
        ids = [int(i) for i in keys["procore_id"].tolist()]
        if not ids and query.item_type in _EMPTY_PAGES:  # an empty view: no second read of the queue view
            return _EMPTY_PAGES[query.item_type].copy(), total
        id_list = ", ".join(str(i) for i in ids) or "NULL"  # integers from the store, never user text
        frame = ws.store.frame(
            f"SELECT * FROM ({item_sql(query.item_type, ids)}) q "
            f"ORDER BY list_position([{id_list}]::BIGINT[], procore_id::BIGINT)"
        )
    _EMPTY_PAGES.setdefault(query.item_type, frame.iloc[0:0].copy())
    return frame, total


# item type -> a page with no rows (its columns and dtypes are the queue view's, fixed by the code, not the data)
_EMPTY_PAGES: dict[str, pd.DataFrame] = {}


def _page_keys(ws: Any, base: str, params: list[Any], query: QueueQuery, size: int) -> pd.DataFrame:
    offset = (query.page - 1) * size
    return ws.store.frame(
        f"SELECT procore_id, count(*) OVER () AS _view_total, sum(amount) OVER () AS _view_amount {base}"
        f"{query.order_by()} LIMIT {size} OFFSET {offset}",
        params,
    )


def matching_items(ws: Any, query: QueueQuery) -> pd.DataFrame:
    """Every item the tab, filter and search match (all pages): ``item_type, procore_id, amount``, for
    "select all that match"."""
    where, params = query.where()
    return ws.store.frame(
        f"SELECT item_type, procore_id, number, name, amount FROM ({item_sql(query.item_type)}) q{where}"
        " ORDER BY procore_id",
        params,
    )


def status_label(status: object) -> str:
    if status is None or status is pd.NA or (isinstance(status, float) and status != status):
        return ""
    return STATUSES.get(str(status), str(status))


def status_counts(ws: Any) -> pd.DataFrame:
    """Items per (item_type, status): one small GROUP BY over ``erp_items`` feeds every tab and filter count;
    Ready to Import counts QuickBooks records Procore lacks (they have no ``erp_items`` row yet)."""
    from ..erp.imports import ready_counts_sql

    return ws.store.frame(
        "SELECT item_type, status, count(*) AS items FROM erp_items WHERE status <> 'ready_to_import' GROUP BY ALL "
        f"UNION ALL {ready_counts_sql()} ORDER BY item_type, status"
    )


def count_of(counts: pd.DataFrame, item_type: str, status: str | None = None) -> int:
    """Items of ``item_type`` (under ``status``) in a ``status_counts`` frame; the frame keeps a dict of its rows,
    so the 15 labels of a refresh cost no pandas filtering."""
    index = counts.attrs.get("_by_key")
    if index is None:
        index = {}
        for t, s, n in zip(counts["item_type"], counts["status"], counts["items"], strict=True):
            index[(t, s)] = index.get((t, s), 0) + int(n)
            index[(t, None)] = index.get((t, None), 0) + int(n)
        counts.attrs["_by_key"] = index
    return index.get((item_type, status), 0)


def allowed_actions(status: str | None, item_type: str) -> list[str]:
    """Actions that make sense on items showing under the ``status`` filter (the library checks again)."""
    out = []
    for action in ACTIONS:
        sources, _ = TRANSITIONS[action]
        if status not in sources:
            continue
        if action == "unlink" and not PAIRS[item_type].can_unlink:
            continue
        out.append(action)
    return out


@dataclass
class ItemDetail:
    """What the details panel shows for one selected item."""

    item_type: str
    procore_id: int
    header: dict[str, Any]
    lines: pd.DataFrame | None
    queue: dict[str, Any]
    audit: pd.DataFrame

    @property
    def quickbooks_error(self) -> str | None:
        code, message = self.queue.get("last_error_code"), self.queue.get("last_error_message")
        if message is None and code is None:
            return None
        return f"{code}: {message}" if code is not None else str(message)


_HIDDEN_DETAIL_COLUMNS = {"_source_file", "_source_row", "_load_id", "_loaded_at"}


def item_detail(ws: Any, item_type: str, procore_id: int) -> ItemDetail:
    """The Procore record, its lines, its queue row (status, QuickBooks error) and its audit rows."""
    pair = PAIRS[item_type]
    procore_id = int(procore_id)
    extra = " AND cost_code_level = 'standard'" if pair.procore_table == "cost_codes" else ""
    header = ws.store.frame(f'SELECT * FROM "{pair.procore_table}" WHERE id = ?{extra} LIMIT 1', [procore_id])
    header_row = {k: v for k, v in _first_row(header).items() if k not in _HIDDEN_DETAIL_COLUMNS}
    lines = None
    if pair.procore_lines and pair.procore_lines in _LINE_KEY:
        key = _LINE_KEY[pair.procore_lines]
        lines = ws.store.frame(
            f'SELECT * FROM "{pair.procore_lines}" WHERE "{key}" = ? ORDER BY id', [procore_id]
        )
        lines = lines[[c for c in lines.columns if c not in _HIDDEN_DETAIL_COLUMNS]]
    queue = ws.store.frame(
        "SELECT * FROM erp_items WHERE item_type = ? AND procore_id = ?", [item_type, procore_id]
    )
    queue_row = _first_row(queue)
    audit = audit_rows(ws, item_type=item_type, procore_id=procore_id, limit=50)
    return ItemDetail(item_type, procore_id, header_row, lines, queue_row, audit)


def _first_row(frame: pd.DataFrame) -> dict[str, Any]:
    """The first row as plain values, missing ones as None (not pd.NA, which has no truth value)."""
    if frame.empty:
        return {}
    return {k: (None if v is pd.NA or v is pd.NaT or v is None else v) for k, v in frame.iloc[0].items()}


@dataclass
class AuditQuery:
    """The audit log's search: item type, who, which action, which item (Procore ID or name), which days."""

    item_type: str | None = None
    user: str = ""
    action: str | None = None
    item: str = ""
    date_from: Any = None
    date_to: Any = None

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if self.item_type:
            clauses.append("a.item_type = ?")
            params.append(self.item_type)
        if self.user.strip():
            clauses.append("lower(coalesce(a.actor_name, '')) LIKE ?")
            params.append(f"%{self.user.strip().lower()}%")
        if self.action:
            clauses.append("a.action = ?")
            params.append(self.action)
        item = self.item.strip()
        if item:
            clauses.append(
                "(CAST(a.procore_id AS VARCHAR) = ? OR EXISTS (SELECT 1 FROM erp_queue q WHERE q.item_type = "
                "a.item_type AND q.procore_id = a.procore_id AND (lower(coalesce(q.name, '')) LIKE ? "
                "OR lower(coalesce(q.number, '')) LIKE ?)))"
            )
            params += [item, f"%{item.lower()}%", f"%{item.lower()}%"]
        if self.date_from:
            clauses.append('CAST(a."at" AS DATE) >= ?')
            params.append(self.date_from)
        if self.date_to:
            clauses.append('CAST(a."at" AS DATE) <= ?')
            params.append(self.date_to)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def audit_rows(
    ws: Any,
    item_type: str | None = None,
    procore_id: int | None = None,
    limit: int = 200,
    offset: int = 0,
    search: AuditQuery | None = None,
) -> pd.DataFrame:
    """The newest audit rows first (who, when, action, from -> to, reason), optionally for one item or a
    search."""
    if search is not None:
        where, params = search.where()
    else:
        where, params = item_where(item_type or None, procore_id)  # "" = the "all item types" choice
        where = where.replace("item_type", "a.item_type").replace("procore_id", "a.procore_id")
    return ws.store.frame(
        'SELECT a.audit_id, a."at", a.actor_name, a.action, a.item_type, a.procore_id, a.from_status, '
        "a.to_status, a.reason, a.detail "
        f"FROM erp_audit a {where} ORDER BY a.audit_id DESC LIMIT {int(limit)} OFFSET {int(offset)}",
        params,
    )


def audit_count(ws: Any, item_type: str | None = None, search: AuditQuery | None = None) -> int:
    """How many audit rows ``audit_rows`` pages through (for the pager)."""
    where, params = (search or AuditQuery(item_type=item_type or None)).where()
    return int(ws.store.scalar(f"SELECT count(*) FROM erp_audit a {where}", params))


def audit_actions(ws: Any) -> list[str]:
    """The actions the audit log holds (for the action filter)."""
    return [str(x) for x in ws.store.frame("SELECT DISTINCT action FROM erp_audit ORDER BY 1")["action"]]


def option_values(ws: Any, sql: str) -> list[str]:
    """The values an accept option offers (a pair's ``choices_sql`` / ``examples_sql``: one column)."""
    frame = ws.store.frame(sql)
    return [str(x) for x in frame.iloc[:, 0]]
