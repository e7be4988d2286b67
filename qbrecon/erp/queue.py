"""The ERP queue: every exportable Procore record's ERP state, and the batch decisions that move it.

State is one ``erp_items`` row per (item_type, procore_id); the view ``erp_queue`` joins it to the Procore
record (display name, number, vendor, project, amount, the prerequisites that block sending). Every decision
is set-based: the selection becomes an Arrow table, problems for every row are found in one query, and, only
if there are none, one ``UPDATE erp_items ... FROM`` plus one ``INSERT INTO erp_audit ... SELECT`` (plus the
outbox rows a rejection sends) run in one ``store.transaction()``. A batch of 100,000 items is one operation.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import links
from .. import pairs as _pairs  # registers the pair modules (before PAIRS is read below)
from ..entities import EXPORTABLE, PAIRS
from ..errors import BatchRejected, InputError
from ..pairs import budget as _budget_pair
from ..pairs import company as _company_pair
from ..pairs import cost_code as _cost_code_pair
from ..pairs import payment
from ..pairs.base import case_sql
from ..schemas import TABLES
from ..schemas.types import normalise_name, normalise_names
from ..store import Store, _arrow, register_tables
from . import imports as _imports  # Ready to Import (and its procore_imports table)
from . import ledger as _ledger  # noqa: F401 - its tables first: the links migration below reads them
from . import permissions
from .filters import check_filter
from .notify import enqueue_rejections
from .reports import JOB_COST_LINES
from .settings import read_settings, require_setting
from .states import STATUSES, TRANSITIONS, item_where

# the pairs whose own services live here: linking vendors (companies), the cost code state, job costs (budgets)
_COMPANY, _COST_CODE, _BUDGET = _company_pair.ITEM_TYPE, _cost_code_pair.ITEM_TYPE, _budget_pair.ITEM_TYPE

# Additive: direct export (send straight to exporting) and linking a vendor to an existing company.
TRANSITIONS.setdefault("send_direct_export", (TRANSITIONS["send"][0], "exporting"))
TRANSITIONS.setdefault("resend_direct_export", (TRANSITIONS["resend"][0], "exporting"))
TRANSITIONS.setdefault("link_vendor", (("not_sent", "retrieved", "unlinked", "rejected"), "synced"))

# Procore company column <- QuickBooks vendor column, for "Vendors will be Automatically Updated" (the reverse of
# what a VendorAdd/Mod sends: Name, VendorAddress, Phone)
_VENDOR_FIELDS = {
    "name": '"Name"',
    "address": '"VendorAddress_Addr1"',
    "city": '"VendorAddress_City"',
    "state_code": '"VendorAddress_State"',
    "zip": '"VendorAddress_PostalCode"',
    "business_phone": '"Phone"',
}

# what is true of an item Procore reports as Failed to Export when no QuickBooks answer of ours says why
_MARKED_FAILED = "marked failed in Procore; no QuickBooks error recorded: retry or reject"

_ITEM_LABEL = case_sql("e.item_type", {t: PAIRS[t].label for t in EXPORTABLE})
_STATUS_LABEL = case_sql("e.status", STATUSES)


# The queue as users see it: ``erp_queue`` over every item type, or ``queue_sql(t)`` for one.
_QUEUE_SQL = f"""
       SELECT e.item_type, {_ITEM_LABEL} AS item_label, e.procore_id, d.name, d.number, d.vendor, d.vendor_id,
              d.project, d.project_id, d.amount::DECIMAL(18,2) AS amount, d.item_status, e.status, {_STATUS_LABEL} AS status_label,
              e.sent_by, su.name AS sent_by_name, e.sent_at, e.decided_by, du.name AS decided_by_name, e.decided_at,
              e.reason, e.last_error_code, e.last_error_message, e.error_class, e.attempts, e.quickbooks_id,
              e.edit_sequence, e.export_options, d.origin_id, d.created_by_id,
              coalesce(d.vendor_synced, false) AS vendor_synced, coalesce(d.project_synced, false) AS project_synced,
              d.commitment_id, coalesce(d.commitment_synced, false) AS commitment_synced,
              CASE WHEN d.procore_id IS NULL THEN 'no longer in the Procore data' ELSE d.blockers END AS blockers,
              d.procore_id IS NOT NULL AND d.blockers IS NULL AS can_send, e.updated_at,
              e.quickbooks_id IS NOT NULL AND e.status NOT IN ('synced', 'unlinked') AS is_update
       FROM {{items}} e
       LEFT JOIN {{details}} ON d.item_type = e.item_type AND d.procore_id = e.procore_id
       LEFT JOIN users su ON su.id = e.sent_by
       LEFT JOIN users du ON du.id = e.decided_by"""
# erp_item_details' columns and types (its first SELECT): one pair's details read alone get the same types
_DETAIL_COLUMNS = [
    ("item_type", "VARCHAR"),
    ("procore_id", "BIGINT"),
    ("name", "VARCHAR"),
    ("number", "VARCHAR"),
    ("vendor", "VARCHAR"),
    ("vendor_id", "BIGINT"),
    ("project", "VARCHAR"),
    ("project_id", "BIGINT"),
    ("amount", "DECIMAL(18,2)"),
    ("item_status", "VARCHAR"),
    ("origin_id", "VARCHAR"),
    ("procore_erp_status", "VARCHAR"),
    ("created_by_id", "BIGINT"),
    ("vendor_synced", "BOOLEAN"),
    ("project_synced", "BOOLEAN"),
    ("commitment_id", "BIGINT"),
    ("commitment_synced", "BOOLEAN"),
    ("blockers", "VARCHAR"),
]


def queue_sql(item_type: str, procore_ids: Iterable[int] | None = None) -> str:
    """The rows of ``erp_queue`` of one item type as a SELECT that reads only that pair's details: the same
    columns, types and values, but DuckDB binds and runs one pair module's SQL instead of every pair's (about
    45 ms of binding per read of the view at any size; the dashboard reads its pages, and a batch decision of one
    item type its items, this way). ``procore_ids``: only these items, filtered inside the pair's SQL too (DuckDB
    would otherwise build every item's details to join a page of 25)."""
    module = next((m for m in _pairs.registered() if m.item_type == item_type), None)
    if module is None:  # not an exportable pair (payments are never queue items)
        raise KeyError(f"no ERP queue for item type {item_type!r}; queued: {', '.join(EXPORTABLE)}")
    names = ", ".join(c for c, _ in _DETAIL_COLUMNS)
    typed = ", ".join(f"{c}::{t} AS {c}" for c, t in _DETAIL_COLUMNS)
    only = ""
    if procore_ids is not None:
        only = f" AND procore_id IN ({', '.join(str(int(i)) for i in procore_ids) or 'NULL'})"
    return _QUEUE_SQL.format(
        items=f"(SELECT * FROM erp_items WHERE item_type = '{item_type}'{only})",
        details=f"(SELECT {typed} FROM ({module.details_sql}) AS x({names}) WHERE true{only}) d",
    )


# the item types other pairs name as parents, whose link state their blockers read (``erp_link_state``)
_LINK_STATE_TYPES = sorted({parent for p in PAIRS.values() for parent, _ in p.parents} - {_COST_CODE})

_VIEWS = [
    # Each cost code id (standard or project level) -> its standard cost code's QuickBooks item state.
    f"""CREATE OR REPLACE VIEW erp_cost_code_state AS
       SELECT cc.id AS cost_code_id,
              any_value(coalesce(std.full_code, cc.full_code)) AS full_code,
              max(coalesce(std.origin_id, e.quickbooks_id,
                           CASE WHEN cc.origin_id LIKE '%|%' THEN split_part(cc.origin_id, '|', 2) END)) AS item_list_id,
              bool_or(cc.origin_id IS NOT NULL OR std.origin_id IS NOT NULL OR e.status = 'synced') AS synced,
              bool_or(cc.origin_id IS NOT NULL OR std.origin_id IS NOT NULL
                      OR e.status IN ('synced', 'exporting')) AS accepted
       FROM cost_codes cc
       LEFT JOIN cost_codes std ON std.cost_code_level = 'standard'
            AND std.id = CASE WHEN cc.cost_code_level = 'standard' THEN cc.id ELSE cc.standard_cost_code_id END
       LEFT JOIN erp_items e ON e.item_type = '{_COST_CODE}' AND e.procore_id = std.id
       GROUP BY cc.id""",
    # Is a parent (a company, project, commitment: whatever the pairs name as a parent) synced (linked), or at
    # least accepted (on its way)? Cost codes have their own view above (a project code goes by its standard code).
    "CREATE OR REPLACE VIEW erp_link_state AS\n"
    + "\nUNION ALL\n".join(
        f"""SELECT '{t}' AS item_type, r.id AS procore_id,
              r.origin_id IS NOT NULL OR coalesce(e.status = 'synced', false) AS synced,
              r.origin_id IS NOT NULL OR coalesce(e.status IN ('synced', 'exporting'), false) AS accepted
           FROM {PAIRS[t].procore_table} r LEFT JOIN erp_items e ON e.item_type = '{t}' AND e.procore_id = r.id"""
        for t in _LINK_STATE_TYPES
    ),
    # Every exportable Procore record: what users see, and what blocks sending it (NULL = nothing).
    """CREATE OR REPLACE VIEW erp_item_details AS
       SELECT NULL::VARCHAR AS item_type, NULL::BIGINT AS procore_id, NULL::VARCHAR AS name,
              NULL::VARCHAR AS number, NULL::VARCHAR AS vendor, NULL::BIGINT AS vendor_id, NULL::VARCHAR AS project,
              NULL::BIGINT AS project_id, NULL::DECIMAL(18,2) AS amount, NULL::VARCHAR AS item_status,
              NULL::VARCHAR AS origin_id, NULL::VARCHAR AS procore_erp_status, NULL::BIGINT AS created_by_id,
              NULL::BOOLEAN AS vendor_synced, NULL::BOOLEAN AS project_synced, NULL::BIGINT AS commitment_id,
              NULL::BOOLEAN AS commitment_synced, NULL::VARCHAR AS blockers
       WHERE false  -- the columns; every row comes from a pair module"""
    + "".join(f"\n       UNION ALL{m.details_sql}" for m in _pairs.registered()),  # pair modules' items
    # The queue as users see it (only items that have an erp_items row).
    "CREATE OR REPLACE VIEW erp_queue AS "
    + _QUEUE_SQL.format(items="erp_items", details="erp_item_details d"),
]
register_tables(*_VIEWS)

# Migration 1 of the links (``qbrecon_meta`` 'qb_links_version'): a workspace written before qbrecon kept links gets
# one for every Synced item from its queue row, when it is first opened (lines follow at the next refresh_queue).
register_tables(
    """INSERT INTO qb_links (item_type, procore_id, line_table, line_id, quickbooks_id, edit_sequence, fingerprint,
                              source, linked_at, updated_at)
        SELECT e.item_type, e.procore_id, '', 0, e.quickbooks_id, e.edit_sequence, f.fingerprint, 'migration', now(),
               now()
        FROM erp_items e LEFT JOIN erp_fingerprints f ON f.item_type = e.item_type AND f.procore_id = e.procore_id
        WHERE e.status = 'synced' AND e.quickbooks_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM qbrecon_meta WHERE key = 'qb_links_version')
          AND NOT EXISTS (SELECT 1 FROM qb_links l WHERE l.item_type = e.item_type AND l.procore_id = e.procore_id
                          AND l.line_table = '')""",
    f"""INSERT OR IGNORE INTO qbrecon_meta VALUES ('qb_links_version', '{links.LINKS_VERSION}')""",
)

# a selection: the items, and per row the accept options the pairs declare and a rejection's reason
_ACCEPT_OPTIONS = list(_pairs.accept_options())
_OPTION_COLUMNS = (*_ACCEPT_OPTIONS, "reason")
_SEL_SCHEMA = pa.schema(
    [("item_type", pa.string()), ("procore_id", pa.int64()), *((c, pa.string()) for c in _OPTION_COLUMNS)]
)
_UNLINK_TYPES = [t for t in EXPORTABLE if PAIRS[t].can_unlink]
_DIRECT_TYPES = [t for t in EXPORTABLE if PAIRS[t].direct_export]
_ACTION_PERMISSION = {
    "send": "send",
    "resend": "resend",
    "retrieve": "retrieve",
    "accept": "accept",
    "reject": "reject",
    "retry": "retry",
    "unlink": "unlink",
}


def _still_in_quickbooks() -> str:
    """SQL (over ``s`` the selection, ``e`` its queue row, ``q`` the queue view) naming what QuickBooks still
    holds of a linked item, NULL when nothing: its own record (a vendor only while active), or -- for an item that
    adds lines to another record (a CCO) -- its linked lines. Unlinking while QuickBooks holds them would let a
    resend post them twice."""
    parts = []
    for t in _UNLINK_TYPES:
        p = PAIRS[t]
        qid = p.quickbooks_id
        what = p.quickbooks_table.replace("_", " ").rstrip("s") + " " if p.quickbooks_table else ""
        if p.add_request and p.quickbooks_table:
            active = (
                ' AND coalesce(x."IsActive", true)'
                if "IsActive" in TABLES[p.quickbooks_table].column_names
                else ""
            )
            parts.append(
                f"""CASE WHEN s.item_type = '{t}' THEN (
                      SELECT 'the {t.replace("_", " ")} is still in QuickBooks Desktop ({what}'
                             || any_value(x."{qid}") || ')'
                      FROM "{p.quickbooks_table}" x
                      WHERE x."{qid}" = coalesce((SELECT l.quickbooks_id FROM qb_links l WHERE l.item_type = s.item_type
                                                  AND l.procore_id = s.procore_id AND l.line_table = ''),
                                                 e.quickbooks_id, q.origin_id){active}
                      HAVING count(*) > 0) END"""
            )
        if p.quickbooks_lines:
            parts.append(
                f"""CASE WHEN s.item_type = '{t}' THEN (
                      SELECT 'its line(s) are still in QuickBooks Desktop on {what}' || any_value(x."TxnID")
                             || ' (TxnLineID ' || string_agg(DISTINCT x."TxnLineID", ', ') || ')'
                      FROM qb_links l JOIN "{p.quickbooks_lines}" x ON x."TxnID" = l.quickbooks_id
                           AND x."TxnLineID" = l.txn_line_id
                      WHERE l.item_type = s.item_type AND l.procore_id = s.procore_id AND l.line_table <> ''
                      HAVING count(*) > 0) END"""
            )
    return ", ".join(parts)


def _cannot_modify_checks() -> list[str]:
    """Per pair that declares it: a linked item whose QuickBooks record QuickBooks cannot modify (a paid bill) is
    refused with the pair's reason, before anything is sent."""
    out = []
    for t in EXPORTABLE:
        p = PAIRS[t]
        if p.cannot_modify is None or not p.quickbooks_table:
            continue
        cond, why = p.cannot_modify
        out.append(
            f"""CASE WHEN s.item_type = '{t}' AND EXISTS (
                    SELECT 1 FROM qb_links l JOIN "{p.quickbooks_table}" q ON q."{p.quickbooks_id}" = l.quickbooks_id
                    WHERE l.item_type = s.item_type AND l.procore_id = s.procore_id AND l.line_table = ''
                      AND ({cond}))
                 THEN '{why.replace("'", "''")}' END"""
        )
    return out


def _sql_list(values: list[str] | tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _labels(statuses: tuple[str, ...]) -> str:
    return " or ".join(STATUSES[s] for s in statuses)


@dataclass
class BatchResult:
    """What a batch decision did: how many items moved, to which status, and the audit rows written."""

    action: str
    count: int
    by: str
    to_status: dict[str, int] = field(default_factory=dict)
    mails_queued: int = 0

    def __repr__(self) -> str:
        moved = ", ".join(f"{n} -> {STATUSES.get(s, s)}" for s, n in self.to_status.items()) or "nothing"
        return f"<{self.action} by {self.by}: {self.count} item(s): {moved}>"


def _shared_record_sql(child: str, batch: str) -> list[str]:
    """A synced item of a pair that modifies its parent's QuickBooks record (``shares_parent_record``: a CCO's
    PurchaseOrderMod moves its PO's EditSequence): the parent and its other children take the new EditSequence."""
    parent = _pairs.module(child).shares_parent_record
    synced = f"b.item_type = '{child}' AND b.outcome = 'synced'"
    return [
        *(
            f"""UPDATE "{p.procore_table}" t SET origin_data = json_object('edit_sequence', b.edit_sequence)::VARCHAR
                FROM {batch} b WHERE {synced} AND t.{p.link_column} = b.quickbooks_id"""
            for p in (PAIRS[parent], PAIRS[child])
            if p.link_column
        ),
        f"""UPDATE erp_items e SET edit_sequence = b.edit_sequence
            FROM {batch} b WHERE {synced}
              AND e.item_type IN ('{parent}', '{child}') AND e.quickbooks_id = b.quickbooks_id""",
    ]


def _accept_options_sql(sel: str, exporting_now: str, cfg: dict) -> tuple[list[str], str, str]:
    """The accept options the pairs declare (``pairs.AcceptOption``), for the selected items about to be exported
    (``exporting_now``): their checks, the joins those read, and the ``export_options`` JSON stored for the build
    (``{}`` for an item of a pair without options)."""
    checks, joins, stored = [], [], []
    for m in _pairs.registered():
        members = []
        for option in m.accept_options:
            on = bool(option.fallback and cfg[option.fallback[0]])

            def fill(template: str, option=option, on=on, item_type=m.item_type) -> str:
                return option.sql(template, sel=sel, item_type=item_type, fallback_on=on)

            if option.join:
                o = fill("{o}")
                joins.append(
                    f"LEFT JOIN ({fill(option.join)}) {o} ON {o}.item_type = s.item_type AND {o}.procore_id = s.procore_id"
                )
            if option.check:
                checks.append(
                    f"CASE WHEN s.item_type = '{m.item_type}' AND e.status IS NOT NULL AND {exporting_now} "
                    f"THEN {fill(option.check)} END"
                )
            members += [f"'{key}', {fill(sql)}" for key, sql in option.stored_members]
        if members:
            stored.append(
                f"WHEN s.item_type = '{m.item_type}' THEN json_object({', '.join(members)})::VARCHAR"
            )
    json_sql = f"CASE WHEN NOT ({exporting_now}) THEN NULL {' '.join(stored)} ELSE '{{}}' END"
    return checks, "\n".join(joins), json_sql


def pc_counts(column: pa.ChunkedArray) -> list[tuple[str, int]]:
    """(value, count) pairs of an Arrow column, without a round trip to DuckDB."""
    return [(r["values"], r["counts"]) for r in pc.value_counts(column).to_pylist()]


class QueueService:
    """The ERP Integrations tool over the workspace's store (``ws.erp_queue``): queue, decisions, export outcomes,
    imports. The decide stage of the pipeline: it needs nothing but the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- the queue ------------------------------------------------------------------------------------
    def refresh_queue(self) -> int:
        """Give every exportable Procore record a queue row; returns how many were added, newly linked or
        returned as updates.

        New rows start as Synced when the record carries an ``origin_id``, else take the ERP status Procore
        reports (invoice / budget change ``erp_status``), else Not Sent. Existing rows keep their decisions;
        only a Not Sent row whose Procore record has meanwhile been linked becomes Synced (audited). Synced items
        get their link in ``qb_links`` if they have none; a Synced item whose declared fields (or lines) changed
        in Procore since it was sent comes back to the approver as an update: Ready to Export (audited
        ``procore_update``), accepted as the pair's Mod request.
        """
        with self.store.transaction() as con:
            n = self._refresh_new_rows(con)
            links.link_from_procore(con)
            n += self._return_updates(con)
            links.apply_to_procore(con)
        return n

    def _return_updates(self, con) -> int:
        """Synced items changed in Procore since their link's fingerprint -> Ready to Export (an update)."""
        return links.return_updates(con)

    def _refresh_new_rows(self, con) -> int:
        """Queue rows for new Procore records; a Not Sent row whose record is now linked becomes Synced."""
        # a pair whose Procore row holds no QuickBooks id (a budget: its lines' origin_data name the estimate)
        # declares where a loaded item's id and EditSequence are read
        own = [m for m in _pairs.registered() if m.loaded_link_sql]
        loaded = (
            " UNION ALL ".join(
                f"SELECT '{m.item_type}' AS item_type, * FROM ({m.loaded_link_sql}) AS o(procore_id, txn_id, edit_sequence)"
                for m in own
            )
            or "SELECT NULL::VARCHAR, NULL::BIGINT, NULL::VARCHAR, NULL::VARCHAR WHERE false"
        )
        own_types = _sql_list([m.item_type for m in own]) or "NULL"
        new = con.sql(
            f"""SELECT d.item_type, d.procore_id,
                      CASE WHEN d.origin_id IS NOT NULL THEN 'synced'
                           ELSE coalesce(d.procore_erp_status, 'not_sent') END AS status,
                      CASE WHEN d.item_type NOT IN ({own_types}) THEN d.origin_id ELSE bo.txn_id END AS quickbooks_id,
                      CASE WHEN d.item_type IN ({own_types}) THEN bo.edit_sequence END AS edit_sequence,
                      e.status AS from_status
               FROM erp_item_details d
               LEFT JOIN erp_items e ON e.item_type = d.item_type AND e.procore_id = d.procore_id
               LEFT JOIN ({loaded}) AS bo(item_type, procore_id, txn_id, edit_sequence)
                      ON bo.item_type = d.item_type AND bo.procore_id = d.procore_id
               WHERE e.status IS NULL OR (e.status = 'not_sent' AND d.origin_id IS NOT NULL)"""
        ).to_arrow_table()
        if new.num_rows == 0:
            return 0
        name = _temp_name("refresh")
        con.register(name, new)
        try:
            con.execute(
                f"""INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id,
                                           from_status, to_status, detail)
                    SELECT nextval('erp_audit_seq'), now(), NULL, 'qbrecon', 'refresh', item_type, procore_id,
                           from_status, status, 'state taken from the loaded Procore data' FROM {name}"""
            )
            con.execute(
                f"""UPDATE erp_items e SET status = n.status, quickbooks_id = n.quickbooks_id,
                           edit_sequence = coalesce(n.edit_sequence, e.edit_sequence), updated_at = now()
                    FROM {name} n WHERE n.from_status IS NOT NULL
                      AND e.item_type = n.item_type AND e.procore_id = n.procore_id"""
            )
            con.execute(
                f"""INSERT INTO erp_items (item_type, procore_id, status, quickbooks_id, edit_sequence, attempts,
                                           updated_at, last_error_message)
                    SELECT item_type, procore_id, status, quickbooks_id, edit_sequence, 0, now(),
                           CASE WHEN status = 'failed_to_export' THEN '{_MARKED_FAILED}' END FROM {name}
                    WHERE from_status IS NULL"""
            )
        finally:
            con.unregister(name)
        return new.num_rows

    def queue(
        self, status: str | list[str] | None = None, item_type: str | list[str] | None = None
    ) -> pd.DataFrame:
        """The ERP queue view (optionally one or more statuses / item types), in export order."""
        where, params = [], []
        for col, value, names in (("status", status, STATUSES), ("item_type", item_type, PAIRS)):
            if value is None:
                continue
            values = [value] if isinstance(value, str) else list(value)
            keys = []
            for v in values:
                key = _status_key(v) if col == "status" else v
                if key not in names:
                    raise InputError(f"unknown {col} {v!r}; known: {', '.join(names)}", field=col)
                keys.append(key)
            where.append(f"{col} IN ({', '.join('?' for _ in keys)})")
            params += keys
        order = case_sql("item_type", {t: str(PAIRS[t].export_order) for t in EXPORTABLE}, "99")
        frame = self.store.frame(
            f"SELECT * FROM erp_queue {'WHERE ' + ' AND '.join(where) if where else ''} "
            f"ORDER BY {order}::INTEGER, item_type, procore_id",
            params,
        )
        # A mask built from this frame (pandas carries ``attrs`` through comparisons) finds its frame again,
        # even when other sessions of the same workspace asked for other queue frames meanwhile.
        token = uuid.uuid4().hex
        frame.attrs["erp_queue_token"] = token
        with _counter_lock:
            frames = self.__dict__.setdefault("_queue_frames", OrderedDict())
            frames[token] = frame
            while len(frames) > 32:
                frames.popitem(last=False)
        return frame

    def audit(self, item_type: str | None = None, procore_id: int | None = None) -> pd.DataFrame:
        """The append-only audit log (optionally for one item type / one item), oldest first."""
        where, params = item_where(item_type, procore_id)
        return self.store.frame(f"SELECT * FROM erp_audit {where} ORDER BY audit_id", params)

    # -- decisions ------------------------------------------------------------------------------------
    def send(self, selection: Any, *, by: int | str, item_type: str | None = None) -> BatchResult:
        """Send to ERP: Not Sent / Retrieved / Unlinked -> Ready to Export (or straight to Exporting for
        commitments, CCOs and invoices when the "direct export" setting is on). Prerequisites must hold."""
        return self._decide("send", selection, by, item_type)

    def resend(self, selection: Any, *, by: int | str, item_type: str | None = None) -> BatchResult:
        """Re-send a corrected, rejected item: Rejected -> Ready to Export (prerequisites re-checked)."""
        return self._decide("resend", selection, by, item_type)

    def retrieve(self, selection: Any, *, by: int | str, item_type: str | None = None) -> BatchResult:
        """Retrieve from ERP before a decision: Ready to Export -> Retrieved (editable again)."""
        return self._decide("retrieve", selection, by, item_type)

    def accept(
        self, selection: Any, *, by: int | str, item_type: str | None = None, **options: str | None
    ) -> BatchResult:
        """Accept for export: Ready to Export -> Exporting, with the accept options the pairs declare
        (``pairs.accept_options()``): projects need ``customer`` (the top-level QuickBooks customer that becomes
        the job's parent, ListID or FullName); companies may take ``vendor_type``; commitments a
        ``quickbooks_number`` when "Use Procore Contract #" is off. A selection frame may carry these per row in
        columns of the same names."""
        unknown = sorted(set(options) - set(_ACCEPT_OPTIONS))
        if unknown:
            raise TypeError(
                f"accept() got unexpected option(s) {', '.join(unknown)}; known: {', '.join(_ACCEPT_OPTIONS)}"
            )
        return self._decide("accept", selection, by, item_type, **options)

    def reject(
        self, selection: Any, *, by: int | str, reason: str | None = None, item_type: str | None = None
    ) -> BatchResult:
        """Reject with a reason: Ready to Export / Failed to Export -> Rejected (editable again); the creator and
        the sender get an e-mail with the reason."""
        return self._decide("reject", selection, by, item_type, reason=reason)

    def retry(self, selection: Any, *, by: int | str, item_type: str | None = None) -> BatchResult:
        """Retry a failed export: Failed to Export -> Exporting."""
        return self._decide("retry", selection, by, item_type)

    def unlink(self, selection: Any, *, by: int | str, item_type: str | None = None) -> BatchResult:
        """Unlink a synced company, commitment, CCO or invoice (delete it in QuickBooks Desktop first)."""
        return self._decide("unlink", selection, by, item_type)

    def _decide(
        self, action: str, selection: Any, by: int | str, item_type: str | None, **options: Any
    ) -> BatchResult:
        user = permissions.require(self.store, by, _ACTION_PERMISSION[action])
        cfg = read_settings(self.store, mask=False)
        with self.store.transaction() as con:
            sel = self._selection(selection, item_type, options)
            permissions.require_items(user, action, sel.column("item_type").to_pylist())
            sel_name = _temp_name("sel")
            con.register(sel_name, sel)
            try:
                return self._decide_registered(con, action, sel_name, user, cfg)
            finally:
                con.unregister(sel_name)

    def _decide_registered(self, con, action: str, sel: str, user: dict, cfg: dict) -> BatchResult:
        allowed, to_status = TRANSITIONS[action]
        direct = bool(cfg["direct_export"]) and action in ("send", "resend")
        direct_types = _sql_list(_DIRECT_TYPES)
        is_direct = f"s.item_type IN ({direct_types})" if direct else "false"
        to_sql = f"CASE WHEN {is_direct} THEN 'exporting' ELSE '{to_status}' END"
        action_sql = f"CASE WHEN {is_direct} THEN '{action}_direct_export' ELSE '{action}' END"
        exporting_now = "true" if action == "accept" else is_direct
        checks = [
            "CASE WHEN e.status IS NULL THEN 'not in the ERP queue (unknown item, or run refresh_queue after loading)' END",
            f"CASE WHEN e.status NOT IN ({_sql_list(allowed)}) THEN 'is ' || q.status_label || '; {action} needs "
            f"{_labels(allowed)}' END",
        ]
        if action in ("send", "resend", "accept"):
            checks.append(
                "CASE WHEN e.status IS NOT NULL AND q.blockers IS NOT NULL "
                "THEN 'prerequisites not met: ' || q.blockers END"
            )
        # the accept options of the items about to be exported (accepted, or directly exported on send)
        option_checks, option_joins, options_sql = (
            _accept_options_sql(sel, exporting_now, cfg)
            if action == "accept" or direct
            else ([], "", "NULL::VARCHAR")
        )
        checks += option_checks
        deleted = (
            "(SELECT any_value(l.deleted_detail) FROM qb_links l WHERE l.item_type = s.item_type "
            "AND l.procore_id = s.procore_id AND l.line_table = '' AND l.deleted_in_quickbooks_at IS NOT NULL)"
        )
        if action in ("send", "resend", "accept", "retry"):
            checks += _cannot_modify_checks()
            # a linked item goes out as a Mod: with its record deleted in QuickBooks only an explicit unlink (then
            # an Add) can send it again, never a Mod of nothing nor a silent second Add
            checks.append(f"CASE WHEN {deleted} IS NOT NULL THEN {deleted} END")
        if action == "reject":
            checks.append("CASE WHEN s.reason IS NULL THEN 'a reason is required to reject' END")
        if action == "unlink":
            # an item whose QuickBooks record was deleted there may always be unlinked (nothing of it is left to
            # post twice); otherwise only the types Procore unlinks, and only once Synced
            checks.append(
                f"CASE WHEN {deleted} IS NULL AND s.item_type NOT IN ({_sql_list(_UNLINK_TYPES)}) THEN "
                f"'a ' || q.item_label || ' item cannot be unlinked (only {', '.join(_UNLINK_TYPES)})' END"
            )
            checks.append(
                f"""CASE WHEN e.status IN ('failed_to_export', 'rejected') AND {deleted} IS NULL
                         THEN 'is ' || q.status_label || '; unlink needs Synced (or its QuickBooks record deleted there)'
                    END"""
            )
            checks.append(
                f"""CASE WHEN e.status = 'synced' THEN coalesce({_still_in_quickbooks()})
                         || ': delete it there first and reload the QuickBooks data, then unlink' END"""
            )

        # The queue view is evaluated once, for the selected items only; both queries below read that copy. A
        # batch of one item type reads that pair's rows alone (binding every pair's SQL costs more than the batch).
        types = [t for (t,) in con.execute(f"SELECT DISTINCT item_type FROM {sel}").fetchall()]
        one = types[0] if len(types) == 1 and types[0] in EXPORTABLE else None
        view = con.sql(
            f"""SELECT q.* FROM {f"({queue_sql(one)})" if one else "erp_queue"} q
                SEMI JOIN {sel} s ON q.item_type = s.item_type AND q.procore_id = s.procore_id"""
        ).to_arrow_table()
        view_name = _temp_name("view")
        con.register(view_name, view)
        try:
            return self._decide_with_view(
                con,
                action,
                sel,
                view_name,
                user,
                cfg,
                checks,
                option_joins,
                options_sql,
                direct,
                is_direct,
                to_sql,
                action_sql,
            )
        finally:
            con.unregister(view_name)

    def _decide_with_view(
        self,
        con,
        action: str,
        sel: str,
        view_name: str,
        user: dict,
        cfg: dict,
        checks: list[str],
        option_joins: str,
        options_sql: str,
        direct: bool,
        is_direct: str,
        to_sql: str,
        action_sql: str,
    ) -> BatchResult:
        base = f"""FROM {sel} s
                   LEFT JOIN erp_items e ON e.item_type = s.item_type AND e.procore_id = s.procore_id
                   LEFT JOIN {view_name} q ON q.item_type = s.item_type AND q.procore_id = s.procore_id
                   {option_joins}"""
        problems = con.sql(
            f"""SELECT item_type, procore_id, name, problem FROM (
                    SELECT s.item_type, s.procore_id, q.name, unnest([{", ".join(checks)}]) AS problem {base})
                WHERE problem IS NOT NULL ORDER BY item_type, procore_id"""
        ).to_arrow_table()
        if problems.num_rows:
            raise BatchRejected(
                action, [{k: v for k, v in row.items() if v is not None} for row in problems.to_pylist()]
            )

        # Rows are fine; accepting, directly exporting or retrying an item may need a setting (a subcontractor
        # invoice needs the retainage item): the pair modules say which.
        if action in ("accept", "retry") or direct:
            for m in _pairs.registered():
                for key, why in m.accept_requires:
                    n = con.execute(
                        f"SELECT count(*) FROM {sel} s WHERE s.item_type = '{m.item_type}' "
                        f"AND ({'true' if not direct else is_direct})"
                    ).fetchall()[0][0]
                    if n:
                        require_setting(self.store, key, f"{n} {why}")

        # The batch: one row per item with from/to status and what to store.
        batch_arrow = con.sql(
            f"""SELECT DISTINCT s.item_type, s.procore_id, e.status AS from_status, {to_sql} AS to_status,
                       {action_sql} AS action, s.reason, {options_sql} AS export_options,
                       e.quickbooks_id AS old_quickbooks_id {base}"""
        ).to_arrow_table()
        batch = _temp_name("batch")
        con.register(batch, batch_arrow)
        try:
            con.execute(
                f"""INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id, from_status,
                                           to_status, reason, detail)
                    SELECT nextval('erp_audit_seq'), now(), ?, ?, b.action, b.item_type, b.procore_id, b.from_status,
                           b.to_status, CASE WHEN b.action = 'reject' THEN b.reason END,
                           CASE WHEN b.action LIKE '%direct_export' THEN 'direct export: approval skipped by setting'
                                WHEN b.action = 'unlink' THEN 'was linked to QuickBooks ' || b.old_quickbooks_id
                                WHEN b.export_options IS NOT NULL AND b.export_options <> '{{}}' THEN b.export_options END
                    FROM {batch} b""",
                [user["id"], user["name"]],
            )
            decided = (
                "decided_by = CASE WHEN b.to_status = 'exporting' THEN $user END, "
                "decided_at = CASE WHEN b.to_status = 'exporting' THEN now() END, "
                "export_options = b.export_options"
            )  # direct export: the sender stands in for the approver
            sets = {
                "send": f"sent_by = $user, sent_at = now(), reason = NULL, {decided}",
                "resend": f"sent_by = $user, sent_at = now(), reason = NULL, {decided}",
                "retrieve": "decided_by = NULL, decided_at = NULL, reason = NULL",
                "accept": "decided_by = $user, decided_at = now(), export_options = b.export_options, reason = NULL",
                "reject": "decided_by = $user, decided_at = now(), reason = b.reason",
                "retry": "decided_by = $user, decided_at = now(), reason = NULL",
                "unlink": "decided_by = $user, decided_at = now(), quickbooks_id = NULL, edit_sequence = NULL",
            }[action].replace("$user", str(int(user["id"])))
            con.execute(
                f"""UPDATE erp_items e SET status = b.to_status, updated_at = now(), {sets}
                    FROM {batch} b WHERE e.item_type = b.item_type AND e.procore_id = b.procore_id"""
            )
            if action == "unlink":
                links.remove(con, batch)
                for t in EXPORTABLE:
                    pair = PAIRS[t]
                    if pair.link_column is None:
                        continue
                    flags = "".join(
                        f", {f.split('=')[0].strip()} = false" for f in pair.link_flags.split(",") if "=" in f
                    )
                    con.execute(
                        f"""UPDATE "{pair.procore_table}" t SET {pair.link_column} = NULL, origin_data = NULL{flags}
                            FROM {batch} b WHERE b.item_type = ? AND t.id = b.procore_id""",
                        [t],
                    )
            mails = enqueue_rejections(con, batch, user) if action == "reject" else 0
            counts = con.execute(f"SELECT to_status, count(*) FROM {batch} GROUP BY 1 ORDER BY 1").fetchall()
        finally:
            con.unregister(batch)
        return BatchResult(
            action, batch_arrow.num_rows, user["login"], {s: int(n) for s, n in counts}, int(mails)
        )

    # -- export outcomes (called by the export ledger) ---------------------------------------------------
    def apply_export_outcomes(
        self,
        outcomes: pd.DataFrame | pa.Table,
        request_message_id: int | None = None,
        response_message_id: int | None = None,
        *,
        line_links: list[dict] | None = None,
    ) -> BatchResult:
        """Apply QuickBooks' answers: Exporting -> Synced (writing the link to ``qb_links`` and origin_id /
        origin_data back to the Procore row, and ``line_links`` -- item_type, procore_id, line_table, line_id,
        quickbooks_id, txn_line_id -- to its lines) or -> Failed to Export (with QuickBooks' status code and
        message). One transaction, audited with the qbXML message ids. Replaying an outcome already applied is a
        no-op."""
        needed = ["item_type", "procore_id", "outcome"]
        cols = needed + [
            "quickbooks_id",
            "edit_sequence",
            "status_code",
            "status_message",
            "error_class",
            "attempt",  # the export ledger's send number; without it an answer counts as one more attempt
        ]
        have = outcomes.column_names if isinstance(outcomes, pa.Table) else outcomes.columns
        missing_cols = [c for c in needed if c not in have]
        if missing_cols:
            raise InputError(
                f"export outcomes lack column(s) {', '.join(missing_cols)}", field=missing_cols[0]
            )
        arrow = _typed_outcomes(outcomes) if isinstance(outcomes, pa.Table) else None  # the ledger's own
        frame = (
            None if arrow is not None else pd.DataFrame({c: outcomes[c] if c in have else None for c in cols})
        )
        arrow = (
            arrow
            if arrow is not None
            else pa.table(
                {
                    "item_type": pa.array(frame["item_type"].astype("string").tolist(), pa.string()),
                    "procore_id": pa.array([int(x) for x in frame["procore_id"]], pa.int64()),
                    "outcome": pa.array(frame["outcome"].astype("string").str.lower().tolist(), pa.string()),
                    "quickbooks_id": _nullable(frame["quickbooks_id"], str, pa.string()),
                    "edit_sequence": _nullable(frame["edit_sequence"], str, pa.string()),
                    "status_code": _nullable(frame["status_code"], int, pa.int64()),
                    "status_message": _nullable(frame["status_message"], str, pa.string()),
                    "error_class": _nullable(frame["error_class"], str, pa.string()),
                    "attempt": _nullable(frame["attempt"], int, pa.int64()),
                }
            )
        )
        name = _temp_name("outcomes")
        # the item types synced: their links' fingerprints are read with the check below (one statement less)
        linking = set(pc.unique(arrow.filter(pc.equal(arrow["outcome"], "synced"))["item_type"]).to_pylist())
        # the export ledger passes the fingerprint of what it built (read with the answer's ledger rows)
        built = "built_fingerprint" in arrow.column_names
        with self.store.transaction() as con:
            con.register(name, arrow)
            try:
                # what is wrong with each row and the rows to apply, in one read (a round trip per answer), with
                # what the links of the synced ones need (_record_links)
                checked = _arrow(  # execute: a relation (``sql``) would bind the query twice
                    con.execute(
                        f"""SELECT o.*, e.status AS from_status,{_link_columns(linking, built)}
                               CASE o.outcome WHEN 'synced' THEN 'synced' ELSE 'failed_to_export' END AS to_status,
                               CASE o.outcome WHEN 'synced' THEN 'export_succeeded' ELSE 'export_failed' END AS action,
                               list_filter([
                                 CASE WHEN o.outcome NOT IN ('synced', 'failed') THEN 'outcome must be synced or failed, got ' || coalesce(o.outcome, 'nothing') END,
                                 CASE WHEN o.outcome = 'synced' AND o.quickbooks_id IS NULL THEN 'a synced outcome needs the QuickBooks id' END,
                                 CASE WHEN e.status IS NULL THEN 'not in the ERP queue' END,
                                 CASE WHEN e.status IS NOT NULL AND e.status <> 'exporting'
                                       AND NOT (o.outcome = 'synced' AND e.status = 'synced' AND e.quickbooks_id = o.quickbooks_id)
                                       AND NOT (o.outcome = 'failed' AND e.status = 'failed_to_export')
                                      THEN 'is ' || e.status || ', not exporting' END], lambda p: p IS NOT NULL) AS problems
                        FROM {name} o LEFT JOIN erp_items e ON e.item_type = o.item_type AND e.procore_id = o.procore_id
                        {_link_joins(name, linking, built)}""",
                        [request_message_id, response_message_id] if linking else [],
                    )
                )
                problems = [
                    {"item_type": it, "procore_id": pid, "problem": problem}
                    for it, pid, listed in zip(
                        checked["item_type"].to_pylist(),
                        checked["procore_id"].to_pylist(),
                        checked["problems"].to_pylist(),
                        strict=True,
                    )
                    for problem in listed or ()
                ]
                if problems:
                    raise BatchRejected("apply_export_outcomes", problems)
                batch_arrow = checked.filter(pc.equal(checked["from_status"], "exporting")).drop_columns(
                    ["problems"]
                )
                batch = _temp_name("applied")
                con.register(batch, batch_arrow)
                try:
                    con.execute(
                        f"""INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id,
                                from_status, to_status, request_message_id, response_message_id, detail)
                            SELECT nextval('erp_audit_seq'), now(), NULL, 'QuickBooks Desktop', b.action, b.item_type,
                                   b.procore_id, b.from_status, b.to_status, ?, ?,
                                   CASE WHEN b.outcome = 'synced' THEN 'QuickBooks id ' || b.quickbooks_id
                                        ELSE concat_ws(': ', b.status_code::VARCHAR, b.status_message) END
                            FROM {batch} b""",
                        [request_message_id, response_message_id],
                    )
                    con.execute(
                        f"""UPDATE erp_items e SET status = b.to_status, updated_at = now(),
                                attempts = CASE WHEN b.attempt IS NULL THEN e.attempts + 1
                                                ELSE greatest(e.attempts, b.attempt) END,
                                quickbooks_id = CASE WHEN b.outcome = 'synced' THEN b.quickbooks_id ELSE e.quickbooks_id END,
                                edit_sequence = CASE WHEN b.outcome = 'synced' THEN b.edit_sequence ELSE e.edit_sequence END,
                                last_error_code = CASE WHEN b.outcome = 'synced' THEN NULL ELSE b.status_code END,
                                last_error_message = CASE WHEN b.outcome = 'synced' THEN NULL ELSE b.status_message END,
                                error_class = CASE WHEN b.outcome = 'synced' THEN NULL ELSE b.error_class END
                            FROM {batch} b WHERE e.item_type = b.item_type AND e.procore_id = b.procore_id"""
                    )
                    # only the item types this answer synced: each UPDATE is a DuckDB round trip per message set
                    synced_types = {
                        t
                        for t, o in zip(
                            batch_arrow["item_type"].to_pylist(),
                            batch_arrow["outcome"].to_pylist(),
                            strict=True,
                        )
                        if o == "synced"
                    }
                    for t in EXPORTABLE:
                        pair = PAIRS[t]
                        # a pair whose Procore row shows no QuickBooks id (a budget) keeps it in erp_items only
                        if pair.link_column is None or t not in synced_types:
                            continue
                        flags = f", {pair.link_flags}" if pair.link_flags else ""
                        level = f" AND t.{pair.row_filter}" if pair.row_filter else ""
                        con.execute(
                            f"""UPDATE "{pair.procore_table}" t SET {pair.link_column} = b.quickbooks_id,
                                    origin_data = json_object('edit_sequence', b.edit_sequence)::VARCHAR
                                    {flags}
                                FROM {batch} b WHERE b.item_type = ? AND b.outcome = 'synced'
                                  AND t.id = b.procore_id{level}""",
                            [t],
                        )
                    self._record_links(
                        con,
                        batch,
                        batch_arrow,
                        request_message_id,
                        response_message_id,
                        line_links,
                        synced_types,
                    )
                    gone = (
                        con.sql(
                            f"""SELECT item_type, procore_id, status_message AS detail FROM {batch}
                                WHERE outcome = 'failed' AND error_class = 'deleted_in_quickbooks'"""
                        ).to_arrow_table()
                        if "deleted_in_quickbooks" in batch_arrow["error_class"].to_pylist()
                        else None
                    )
                    if (
                        gone is not None and gone.num_rows
                    ):  # the linked record is gone: the link is marked, kept
                        gone_name = _temp_name("gone")
                        con.register(gone_name, gone)
                        try:
                            links.mark_deleted(con, gone_name, "QuickBooks Desktop")
                        finally:
                            con.unregister(gone_name)
                    # A CCO's PurchaseOrderMod gives the whole PO a new EditSequence: the commitment and the PO's
                    # other CCOs now hold that one, or reconciliation would call our own export "stale".
                    for m in _pairs.registered():
                        if m.shares_parent_record and m.item_type in synced_types:
                            for sql in _shared_record_sql(m.item_type, batch):
                                con.execute(sql)
                    counts = pc_counts(batch_arrow["to_status"])
                finally:
                    con.unregister(batch)
            finally:
                con.unregister(name)
        return BatchResult(
            "apply_export_outcomes",
            batch_arrow.num_rows,
            "QuickBooks Desktop",
            {s: int(n) for s, n in counts},
        )

    @staticmethod
    def _record_links(
        con,
        batch: str,
        batch_arrow: pa.Table,
        request_message_id: int | None,
        response_message_id: int | None,
        line_links: list[dict] | None,
        synced_types: set[str] | None = None,
    ) -> None:
        """The links of the items just Synced (``batch``), in the transaction that applies the answer: the record
        (with the fingerprint of what was built), its lines, and what the Procore rows show of them. Everything is
        read for the answer's items only (not the whole ledger, links or Procore tables)."""
        if synced_types is not None and not synced_types:
            return
        # the synced rows with their fingerprints (read with the check: _link_columns)
        synced = batch_arrow.filter(pc.equal(batch_arrow["outcome"], "synced"))
        if synced.num_rows == 0:
            return
        name = f"(SELECT * FROM {batch} WHERE outcome = 'synced')"  # no Arrow registered again
        types = set(synced["item_type"].to_pylist())
        links.record_links(con, name, "export", item_types=types, rows=synced.num_rows)
        QueueService._record_line_links(con, batch, request_message_id, response_message_id, line_links)
        # The records' Procore rows already show the new links (the UPDATE above); only line links, links
        # sharing a QuickBooks record (a CCO moves its PO) and open conflicts need apply_to_procore, and then
        # only for these items' links and the links to the same QuickBooks records.
        if (
            line_links
            or any(links.shares_records(t) for t in types)
            or synced["open_conflicts"][0].as_py()  # read with the rows (record_links opens none)
        ):
            links.apply_to_procore(con, items=name, item_types=types)
        # Synced with the fingerprint of what was sent: a Procore change made meanwhile is an update now
        if any(synced["moved"].to_pylist()):
            links.return_updates(con, moved=f"(SELECT item_type, procore_id FROM {name} WHERE moved)")

    @staticmethod
    def _record_line_links(
        con,
        batch: str,
        request_message_id: int | None,
        response_message_id: int | None,
        line_links: list[dict] | None,
    ) -> None:
        """The line links an answer made (of the items it synced), replacing those items' earlier ones."""
        if line_links:
            lines = pa.Table.from_pylist(
                [
                    {
                        **ln,
                        "request_message_id": request_message_id,
                        "response_message_id": response_message_id,
                    }
                    for ln in line_links
                ],
                schema=pa.schema(
                    [
                        ("item_type", pa.string()),
                        ("procore_id", pa.int64()),
                        ("line_table", pa.string()),
                        ("line_id", pa.int64()),
                        ("quickbooks_id", pa.string()),
                        ("txn_line_id", pa.string()),
                        ("request_message_id", pa.int64()),
                        ("response_message_id", pa.int64()),
                    ]
                ),
            )
            name = _temp_name("line_links")
            con.register(name, lines)
            try:
                applied = f"""(SELECT n.* FROM {name} n SEMI JOIN {batch} b ON b.item_type = n.item_type
                                AND b.procore_id = n.procore_id AND b.outcome = 'synced')"""
                links.record_line_links(con, applied, "export")
            finally:
                con.unregister(name)

    def link_conflicts(self) -> pd.DataFrame:
        """Loads that brought a different origin_id than qbrecon's link (the link was kept), newest first."""
        return self.store.frame("SELECT * FROM qb_link_conflicts ORDER BY conflict_id DESC")

    def links(self, item_type: str | None = None, procore_id: int | None = None) -> pd.DataFrame:
        """qbrecon's links (records and lines) to QuickBooks, optionally of one item type / one item."""
        where, params = item_where(item_type, procore_id)
        return self.store.frame(
            f"SELECT * FROM qb_links {where} ORDER BY item_type, procore_id, line_table, line_id", params
        )

    # -- imports (QuickBooks -> Procore) -------------------------------------------------------------------
    def ready_to_import(self, kind: str | None = None) -> pd.DataFrame:
        """QuickBooks vendors and jobs linked to nothing in Procore ("Ready to Import"; ``erp.imports``)."""
        return _imports.ready_to_import(self, kind)

    def vendor_link_suggestions(self, min_score: float = 85.0) -> pd.DataFrame:
        """Unlinked QuickBooks vendors with the unlinked Procore companies that may be the same firm.

        Normalised name equality ('exact') first; otherwise the best rapidfuzz token-sort score at or above
        ``min_score`` ('suggested'). Suggestions are never linked automatically: pass the ones you confirm
        to ``link_vendors``.
        """
        from rapidfuzz import fuzz, process, utils

        vendors = self.ready_to_import("vendor")
        companies = self.store.frame(
            f"""SELECT c.id AS company_id, c.name AS company_name FROM companies c
               LEFT JOIN erp_items e ON e.item_type = '{_COMPANY}' AND e.procore_id = c.id
               WHERE c.origin_id IS NULL AND coalesce(e.status, 'not_sent') NOT IN ('synced', 'exporting')"""
        )
        cols = ["list_id", "vendor_name", "company_id", "company_name", "match", "score"]
        if vendors.empty or companies.empty:
            return pd.DataFrame({c: [] for c in cols})
        norm = normalise_names(companies["company_name"])
        by_norm: dict[str, list[int]] = {}
        for pos, key in enumerate(norm):
            by_norm.setdefault(key, []).append(pos)
        rows = []
        choices = [utils.default_process(n) for n in companies["company_name"]]
        for list_id, name in zip(vendors["list_id"], vendors["name"], strict=True):
            exact = by_norm.get(normalise_name(name), [])
            if exact:
                rows += [
                    (
                        list_id,
                        name,
                        int(companies["company_id"].iloc[p]),
                        companies["company_name"].iloc[p],
                        "exact",
                        100.0,
                    )
                    for p in exact
                ]
                continue
            best = process.extractOne(
                utils.default_process(name), choices, scorer=fuzz.token_sort_ratio, score_cutoff=min_score
            )
            if best:
                p = best[2]
                rows.append(
                    (
                        list_id,
                        name,
                        int(companies["company_id"].iloc[p]),
                        companies["company_name"].iloc[p],
                        "suggested",
                        float(best[1]),
                    )
                )
        return pd.DataFrame(rows, columns=cols)

    def link_vendors(self, pairs: pd.DataFrame | list[tuple[str, int]], *, by: int | str) -> BatchResult:
        """Link QuickBooks vendors to Procore companies: ``pairs`` of (vendor ListID, company id), or a frame
        with ``list_id`` and ``company_id``. The company becomes Synced with the vendor's ListID as origin_id."""
        user = permissions.require(self.store, by, "link_vendor")
        frame = (
            pairs
            if isinstance(pairs, pd.DataFrame)
            else pd.DataFrame(list(pairs), columns=["list_id", "company_id"])
        )
        arrow = pa.table(
            {
                "list_id": pa.array([str(x) for x in frame["list_id"]], pa.string()),
                "company_id": pa.array([int(x) for x in frame["company_id"]], pa.int64()),
            }
        )
        if arrow.num_rows == 0:
            raise InputError("nothing to link", field="pairs")
        allowed = _sql_list(TRANSITIONS["link_vendor"][0])
        name = _temp_name("link")
        with self.store.transaction() as con:
            con.register(name, arrow)
            try:
                problems = con.sql(
                    f"""SELECT list_id, company_id, problem FROM (
                          SELECT k.list_id, k.company_id, unnest([
                            CASE WHEN v."ListID" IS NULL THEN 'no QuickBooks vendor ' || k.list_id END,
                            CASE WHEN c.id IS NULL THEN 'no Procore company ' || k.company_id END,
                            CASE WHEN c.origin_id IS NOT NULL THEN 'company is already linked to ' || c.origin_id END,
                            CASE WHEN e.status NOT IN ({allowed}) THEN 'company is ' || e.status END,
                            CASE WHEN EXISTS (SELECT 1 FROM companies o WHERE o.origin_id = k.list_id)
                                   OR EXISTS (SELECT 1 FROM erp_items o WHERE o.item_type = '{_COMPANY}' AND o.quickbooks_id = k.list_id)
                                 THEN 'vendor ' || k.list_id || ' is already linked to a company' END,
                            CASE WHEN count(*) OVER (PARTITION BY k.list_id) > 1 THEN 'vendor listed twice' END,
                            CASE WHEN count(*) OVER (PARTITION BY k.company_id) > 1 THEN 'company listed twice' END
                          ]) AS problem
                          FROM {name} k LEFT JOIN vendors v ON v."ListID" = k.list_id
                          LEFT JOIN companies c ON c.id = k.company_id
                          LEFT JOIN erp_items e ON e.item_type = '{_COMPANY}' AND e.procore_id = k.company_id)
                        WHERE problem IS NOT NULL"""
                ).to_arrow_table()
                if problems.num_rows:
                    raise BatchRejected("link_vendors", problems.to_pylist())
                con.execute(
                    f"""INSERT INTO erp_items (item_type, procore_id, status, attempts, updated_at)
                        SELECT '{_COMPANY}', k.company_id, 'not_sent', 0, now() FROM {name} k
                        WHERE NOT EXISTS (SELECT 1 FROM erp_items e WHERE e.item_type = '{_COMPANY}' AND e.procore_id = k.company_id)"""
                )
                con.execute(
                    f"""INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id,
                                               from_status, to_status, detail)
                        SELECT nextval('erp_audit_seq'), now(), ?, ?, 'link_vendor', '{_COMPANY}', k.company_id,
                               e.status, 'synced', 'linked to QuickBooks vendor ' || v."Name" || ' (' || k.list_id || ')'
                        FROM {name} k JOIN erp_items e ON e.item_type = '{_COMPANY}' AND e.procore_id = k.company_id
                        JOIN vendors v ON v."ListID" = k.list_id""",
                    [user["id"], user["name"]],
                )
                con.execute(
                    f"""UPDATE erp_items e SET status = 'synced', quickbooks_id = k.list_id, edit_sequence = v."EditSequence",
                               decided_by = {int(user["id"])}, decided_at = now(), updated_at = now()
                        FROM {name} k JOIN vendors v ON v."ListID" = k.list_id
                        WHERE e.item_type = '{_COMPANY}' AND e.procore_id = k.company_id"""
                )
                con.execute(
                    f"""UPDATE companies c SET origin_id = k.list_id, synced_to_erp = true,
                               origin_data = json_object('edit_sequence', v."EditSequence")::VARCHAR
                        FROM {name} k JOIN vendors v ON v."ListID" = k.list_id WHERE c.id = k.company_id"""
                )
                links.link_from_procore(con)  # the link, in the same transaction
            finally:
                con.unregister(name)
        return BatchResult("link_vendors", arrow.num_rows, user["login"], {"synced": arrow.num_rows})

    def import_bill_payments(self, *, by: int | str) -> int:
        """QuickBooks bill payments on synced bills become Procore payments issued (origin_id = the payment's
        TxnID), one per bill paid. Payments already imported are skipped. Returns how many were added."""
        user = permissions.require(self.store, by, "sync_paid_invoices")
        with self.store.transaction() as con:
            return payment.import_payments(con, user, _temp_name("payments"))

    def auto_update_vendors(self, load_ids: Iterable[int] | None = None) -> int:
        """Procore's "Vendors will be Automatically Updated" (setting ``vendor_auto_update``): linked Procore companies take
        the name, address (street, city, state, zip) and phone of their QuickBooks vendor. Returns how many
        companies changed; with the setting off, nothing changes and 0 is returned.

        ``load_ids``: only vendors written by these loads (a refresh's VendorQuery pages: "when a vendor is
        updated in QuickBooks"); None compares every linked vendor. A company counts as linked when it is Synced
        to that vendor (``erp_items.quickbooks_id`` or its ``origin_id``); one Ready to Export or Exporting is
        carrying a Procore change to QuickBooks and is left alone. An empty QuickBooks field never clears the
        Procore value: a Ret omits empty fields, so "cleared" cannot be told from "never filled in". The
        company's ``origin_data`` / queue EditSequence become the vendor's (Procore now matches that version).
        One transaction: the updates and one ``erp_audit`` row per company (action ``vendor_auto_update``,
        each changed field old -> new).
        """
        if not read_settings(self.store)["vendor_auto_update"]:
            return 0
        ids = None if load_ids is None else sorted({int(i) for i in load_ids})
        if ids is not None and not ids:
            return 0
        new = ", ".join(f"coalesce(v.{qb}, c.{col}) AS new_{col}" for col, qb in _VENDOR_FIELDS.items())
        changed = " OR ".join(f"c.{col} IS DISTINCT FROM new_{col}" for col in _VENDOR_FIELDS)
        detail = ", ".join(
            f"CASE WHEN c.{col} IS DISTINCT FROM new_{col} THEN "
            f"'{col}: ' || coalesce(c.{col}, '(empty)') || ' -> ' || new_{col} END"
            for col in _VENDOR_FIELDS
        )
        loads = f'AND v."_load_id" IN ({", ".join(str(i) for i in ids)})' if ids is not None else ""
        with self.store.transaction() as con:
            updates = con.sql(
                f"""WITH linked AS (
                        SELECT c.*, v."ListID" AS list_id, v."EditSequence" AS edit_sequence, {new}
                        FROM companies c
                        LEFT JOIN erp_items e ON e.item_type = '{_COMPANY}' AND e.procore_id = c.id
                        JOIN vendors v ON v."ListID" = coalesce(e.quickbooks_id, c.origin_id) {loads}
                        WHERE coalesce(e.status, 'synced') = 'synced')
                    SELECT c.id AS company_id, c.list_id, c.edit_sequence,
                           {", ".join(f"new_{col}" for col in _VENDOR_FIELDS)},
                           'from QuickBooks vendor ' || c.list_id || ': ' || concat_ws('; ', {detail}) AS detail
                    FROM linked c WHERE {changed}
                    ORDER BY c.id"""
            ).to_arrow_table()
            if updates.num_rows == 0:
                return 0
            name = _temp_name("vendor_update")
            con.register(name, updates)
            try:
                assign = ", ".join(f"{col} = u.new_{col}" for col in _VENDOR_FIELDS)
                con.execute(
                    f"""UPDATE companies c SET {assign}, updated_at = now(),
                               origin_data = CASE WHEN u.edit_sequence IS NULL THEN c.origin_data ELSE
                                   json_merge_patch(coalesce(c.origin_data, '{{}}'),
                                                    json_object('edit_sequence', u.edit_sequence))::VARCHAR END
                        FROM {name} u WHERE c.id = u.company_id"""
                )
                con.execute(
                    f"""UPDATE erp_items e SET edit_sequence = coalesce(u.edit_sequence, e.edit_sequence),
                               updated_at = now()
                        FROM {name} u WHERE e.item_type = '{_COMPANY}' AND e.procore_id = u.company_id"""
                )
                # Procore now matches the vendor: the link takes its EditSequence and the new fingerprint, so the
                # change is not sent back to QuickBooks as an update
                con.execute(
                    f"""UPDATE qb_links l SET edit_sequence = coalesce(u.edit_sequence, l.edit_sequence),
                               fingerprint = f.fingerprint, updated_at = now()
                        FROM {name} u JOIN erp_fingerprints f ON f.item_type = '{_COMPANY}' AND f.procore_id = u.company_id
                        WHERE l.item_type = '{_COMPANY}' AND l.procore_id = u.company_id AND l.line_table = ''"""
                )
                con.execute(
                    f"""INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id,
                                               from_status, to_status, detail)
                        SELECT nextval('erp_audit_seq'), now(), NULL, 'qbrecon', 'vendor_auto_update', '{_COMPANY}',
                               u.company_id, 'synced', 'synced', u.detail
                        FROM {name} u ORDER BY u.company_id"""
                )
            finally:
                con.unregister(name)
        return updates.num_rows

    def import_job_costs(self, project_id: int | None = None, *, by: int | str) -> int:
        """QuickBooks job costs per job and item (item lines of bills, checks and credit card charges:
        ``reports.JOB_COST_LINES``) into the Procore budget's ``job_to_date_costs`` of linked projects with Job
        Cost Transaction Syncing enabled, or of the one ``project_id`` (which must have it enabled); and
        ``direct_costs`` when the budget direct cost columns are
        'read_only_from_quickbooks' and the project's Direct Costs tool is not active: then the Direct Costs tool
        fills them). Returns how many budget lines changed."""
        user = permissions.require(self.store, by, "sync_job_costs")
        direct = read_settings(self.store)["budget_direct_cost_source"] == "read_only_from_quickbooks"
        only = ""
        if project_id is not None:
            on = self.store.execute(
                "SELECT p.name, coalesce(s.job_cost_sync, false) FROM projects p "
                "LEFT JOIN erp_project_settings s ON s.project_id = p.id WHERE p.id = ?",
                [int(project_id)],
            ).fetchall()
            if not on:
                raise InputError(f"no Procore project {project_id}", field="project")
            if not on[0][1]:
                raise InputError(
                    f"Job Cost Transaction Syncing is not enabled on project {on[0][0]}; an ERP admin enables "
                    "it first (qbrecon job-costs enable --project ...)",
                    field="project",
                )
            only = f"AND p.id = {int(project_id)}"
        with self.store.transaction() as con:
            changed = con.sql(
                f"""WITH qb AS (  -- lines without an item (expense, journal entry) have no cost code to land on
                       SELECT job_list_id AS job, item_list_id AS item, sum(amount) AS cost
                       FROM ({JOB_COST_LINES}) WHERE item_list_id IS NOT NULL GROUP BY 1, 2),
                   target AS (
                       SELECT b.id, b.project_id, b.job_to_date_costs AS old, ps.direct_costs_tool,
                              -- one budget line per job + item takes the cost (the first, if a code has several)
                              CASE WHEN row_number() OVER (PARTITION BY b.project_id, s.item_list_id ORDER BY b.id) = 1
                                   THEN coalesce(qb.cost, 0) ELSE 0 END::DECIMAL(18,2) AS new
                       FROM budget_line_items b JOIN projects p ON p.id = b.project_id AND p.origin_id IS NOT NULL {only}
                       JOIN erp_project_settings ps ON ps.project_id = p.id AND ps.job_cost_sync  -- per project
                       LEFT JOIN erp_cost_code_state s ON s.cost_code_id = b.cost_code_id
                       LEFT JOIN qb ON qb.job = p.origin_id AND qb.item = s.item_list_id)
                   SELECT * FROM target WHERE old IS DISTINCT FROM new"""
            ).to_arrow_table()
            if changed.num_rows == 0:
                return 0
            name = _temp_name("jobcosts")
            con.register(name, changed)
            try:
                con.execute(
                    f"""UPDATE budget_line_items b SET job_to_date_costs = t.new, updated_at = now()
                        {", direct_costs = CASE WHEN t.direct_costs_tool THEN b.direct_costs ELSE t.new END" if direct else ""}
                        FROM {name} t WHERE b.id = t.id"""
                )
                con.execute(
                    f"""INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id, detail)
                        SELECT nextval('erp_audit_seq'), now(), ?, ?, 'import_job_costs', '{_BUDGET}', project_id,
                               count(*) || ' budget line(s) updated from QuickBooks job costs'
                        FROM {name} GROUP BY project_id""",
                    [user["id"], user["name"]],
                )
            finally:
                con.unregister(name)
        return changed.num_rows

    # -- selection -----------------------------------------------------------------------------------------
    def _selection(self, selection: Any, item_type: str | None, options: dict | None = None) -> pa.Table:
        """Any accepted selection form -> Arrow (item_type, procore_id, per-row options)."""
        if item_type is not None and item_type not in PAIRS:
            raise InputError(
                f"unknown item type {item_type!r}; known: {', '.join(EXPORTABLE)}", field="item_type"
            )
        if isinstance(selection, str):
            frame = self._filter(selection, item_type)
        elif isinstance(selection, pd.Series) and pd.api.types.is_bool_dtype(selection.dtype):
            token = selection.attrs.get("erp_queue_token")
            last = self.__dict__.get("_queue_frames", {}).get(token) if token else None
            if last is None or not selection.index.equals(last.index):
                raise InputError(
                    "a boolean mask must be built from a recent ws.queue() frame (e.g. q.amount < 1000); "
                    "otherwise pass the rows themselves: frame[mask]",
                    field="selection",
                )
            frame = last[selection.fillna(False).astype(bool).to_numpy()]
        elif isinstance(selection, pd.DataFrame):
            frame = selection
            if "procore_id" not in frame.columns and "id" in frame.columns:
                frame = frame.rename(columns={"id": "procore_id"})
            if "procore_id" not in frame.columns:
                raise InputError("a selection frame needs a procore_id column", field="procore_id")
        else:
            items = list(selection) if not isinstance(selection, int) else [selection]
            if items and all(isinstance(x, tuple) and len(x) == 2 for x in items):
                frame = pd.DataFrame(
                    {"item_type": [x[0] for x in items], "procore_id": [x[1] for x in items]}
                )
            else:
                if item_type is None:
                    raise InputError("give item_type with a list of Procore ids", field="item_type")
                frame = pd.DataFrame({"procore_id": items})
        if "item_type" not in frame.columns:
            if item_type is None:
                raise InputError(
                    "the selection has no item_type column; give item_type=...", field="item_type"
                )
            frame = frame.assign(item_type=item_type)
        elif item_type is not None:
            other = frame["item_type"].astype("string") != item_type
            if bool(other.fillna(True).any()):
                raise InputError(
                    f"the selection holds item types other than {item_type!r}", field="item_type"
                )
        try:
            ids = [int(x) for x in frame["procore_id"]]
        except (TypeError, ValueError):
            raise InputError("procore ids must be whole numbers", field="procore_id") from None
        data = {
            "item_type": pa.array([None if pd.isna(x) else str(x) for x in frame["item_type"]], pa.string()),
            "procore_id": pa.array(ids, pa.int64()),
        }
        options = options or {}
        for col in _OPTION_COLUMNS:  # a row's own value, else the keyword argument; blank counts as missing
            values = frame[col] if col in frame.columns else [None] * len(ids)
            default = options.get(col)
            cleaned = []
            for v in values:
                v = None if v is None or pd.isna(v) else str(v).strip()
                if not v and default is not None:
                    v = str(default).strip()
                cleaned.append(v or None)
            data[col] = pa.array(cleaned, pa.string())
        table = pa.table(data, schema=_SEL_SCHEMA)
        if table.num_rows == 0:
            raise InputError("the selection is empty: nothing to do", field="selection")
        return table

    def _filter(self, expression: str, item_type: str | None) -> pd.DataFrame:
        expression = check_filter(
            expression, self.store, "erp_queue"
        )  # only conditions on the queue's columns
        sql = f"SELECT item_type, procore_id FROM erp_queue WHERE ({expression})"
        if item_type is not None:
            sql += f" AND item_type = '{item_type}'"
        try:
            statements = self.store.con.extract_statements(sql)
        except Exception as exc:
            raise InputError(f"cannot read the filter {expression!r}: {exc}", field="where") from None
        if len(statements) != 1 or "SELECT" not in str(statements[0].type):
            raise InputError(f"the filter {expression!r} must be one SQL condition", field="where")
        try:
            return self.store.frame(sql)
        except Exception as exc:  # duckdb binder/parser errors name the unknown column
            raise InputError(f"cannot apply the filter {expression!r}: {exc}", field="where") from None


def _status_key(value: str) -> str:
    if value in STATUSES:
        return value
    for key, label in STATUSES.items():
        if label.lower() == str(value).strip().lower():
            return key
    return str(value).strip().lower().replace(" ", "_")


_counter = iter(range(1, 1 << 62))
_counter_lock = threading.Lock()


def _typed_outcomes(outcomes: pa.Table) -> pa.Table:
    """The export ledger's own (already typed) outcomes as ``apply_export_outcomes`` reads them: cast, no pandas
    round trip per answer."""
    n = outcomes.num_rows

    def typed(c: str, t: pa.DataType) -> Any:
        return pc.cast(outcomes[c], t) if c in outcomes.column_names else pa.nulls(n, t)

    return pa.table(
        {
            "item_type": typed("item_type", pa.string()),
            "procore_id": typed("procore_id", pa.int64()),
            "outcome": pc.utf8_lower(typed("outcome", pa.string())),
            "quickbooks_id": typed("quickbooks_id", pa.string()),
            "edit_sequence": typed("edit_sequence", pa.string()),
            "status_code": typed("status_code", pa.int64()),
            "status_message": typed("status_message", pa.string()),
            "error_class": typed("error_class", pa.string()),
            "attempt": typed("attempt", pa.int64()),  # the ledger's send number (erp_items.attempts)
            # the fingerprint of what was built, when the ledger read it with the answer (else the links read it)
            **(
                {"built_fingerprint": typed("built_fingerprint", pa.string())}
                if "built_fingerprint" in outcomes.column_names
                else {}
            ),
        }
    )


def _link_columns(types: set[str], built: bool = False) -> str:
    """The columns ``_record_links`` needs, read with ``apply_export_outcomes``' check (none when nothing was synced):
    the fingerprint of what was built (the export ledger's, else the Procore record's now), the message ids (the
    check's two parameters), whether the record moved while the request was out, and whether any link conflict is
    open. ``built``: the outcomes carry the fingerprint of what was built (``built_fingerprint``)."""
    if not types:
        return ""
    sent = "o.built_fingerprint" if built else "lf.fingerprint"
    return f"""
               coalesce({sent}, f.fingerprint) AS fingerprint,
               ?::BIGINT AS request_message_id, ?::BIGINT AS response_message_id,
               coalesce({sent} IS NOT NULL AND f.fingerprint <> {sent}, false) AS moved,
               EXISTS (SELECT 1 FROM qb_link_conflicts WHERE resolved_at IS NULL) AS open_conflicts,"""


def _link_joins(outcomes: str, types: set[str], built: bool = False) -> str:
    """The joins ``_link_columns`` reads: the ledger's last fingerprint (unless the outcomes carry it) and the
    Procore records' current one, for the items in ``outcomes`` only."""
    if not types:
        return ""
    current = f"""LEFT JOIN {links.fingerprints_of(outcomes, types)} f ON f.item_type = o.item_type AND f.procore_id = o.procore_id"""
    if built:
        return current
    return f"""LEFT JOIN (SELECT l.item_type, l.procore_id, arg_max(l.fingerprint, l.attempt) AS fingerprint
                   FROM export_ledger l SEMI JOIN {outcomes} s
                        ON s.item_type = l.item_type AND s.procore_id = l.procore_id
                   WHERE l.fingerprint IS NOT NULL GROUP BY 1, 2) lf
               ON lf.item_type = o.item_type AND lf.procore_id = o.procore_id
        {current}"""


def _temp_name(kind: str) -> str:
    with _counter_lock:
        return f"_erp_{kind}_{threading.get_ident()}_{next(_counter)}"


def to_json(value: Any) -> str:
    return json.dumps(value, default=str)


def _nullable(values: pd.Series, cast: type, kind: pa.DataType) -> pa.Array:
    """A column of outcomes given as pandas (any missing marker) as an Arrow array with real NULLs."""
    return pa.array([None if pd.isna(x) else cast(x) for x in values], kind)
