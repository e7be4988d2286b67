"""Export orchestration: accepted items -> qbXML message sets -> QuickBooks -> Synced / Failed, never twice.

The API the Web Connector service calls (one message in flight at a time, as the Web Connector works)::

    batch = ws.next_export_batch(max_requests=50)     # checks of in-doubt items first, else new requests
    ws.mark_batch_sent(batch.message_id)              # BEFORE handing the XML over: it may now reach QuickBooks
    outcomes = ws.apply_export_response(batch.message_id, response_xml)
    ws.fail_export_batch(batch.message_id, hresult, message)   # instead, when the whole message failed

and ``ws.export(deliver)`` runs that loop in-process (``deliver`` = the simulator's ``process``, or any callable
from request bytes to response bytes). Every step is one workspace transaction, so a crash between steps leaves
the ledger (``qbrecon.erp.ledger``) saying exactly what may have reached QuickBooks; the next run asks
QuickBooks before sending anything for those items again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from .. import links
from .. import pairs as _pairs  # registers the pair modules (before PAIRS is read below)
from ..entities import EXPORTABLE, PAIRS, dependencies_sql, has_dependencies
from ..errors import InputError, QbreconError, SettingMissing
from ..qbxml import archive
from ..qbxml.build import BuildContext, OutgoingXml, Request, build_requests, message_sets
from ..qbxml.parse import parse_bytes, read_response_tree
from ..qbxml.responses import (
    OUTCOME_COLUMNS,
    PARSE_ERROR_HRESULT,
    ResponseDocument,
    deliver_in_process,
    outcome_rows,
    read_response,
    status_policy,
)
from ..schemas import TABLES
from ..store import Store, _arrow, arrow_to_frame
from . import ledger
from .ledger import IN_FLIGHT_SQL, MAX_ATTEMPTS
from .queue import QueueService
from .settings import SETTINGS, read_settings, settings_from_rows
from .states import item_where

_ORDER_SQL = (
    "CASE e.item_type "
    + " ".join(f"WHEN '{t}' THEN {PAIRS[t].export_order}" for t in EXPORTABLE)
    + " ELSE 99 END"
)

# (item_type, procore_id) -> (parent item type, parent procore id): a child waits while a parent is Exporting.
_DEPS_SQL = dependencies_sql()

# line tables each item type's builder needs, keyed by the column that points at the item
_LINES = {m.item_type: m.line_keys for m in _pairs.registered()}
# pairs whose items modify their parent's QuickBooks record (a CCO: lines on its commitment's PO)
_SHARES_PARENT = {m.item_type for m in _pairs.registered() if m.shares_parent_record}
_SHARES_PARENT_SQL = ", ".join(f"'{t}'" for t in sorted(_SHARES_PARENT)) or "NULL"
# (item_type, procore_id, parent_id) of the pairs whose items go out one at a time per parent (a CCO per PO)
_SERIAL = [m for m in _pairs.registered() if m.serial_per_parent]
_SERIAL_SQL = (
    " UNION ALL ".join(
        f"SELECT '{m.item_type}' AS item_type, d.procore_id, d.parent_id "
        f"FROM ({m.serial_parent_sql()}) AS d(procore_id, parent_id)"
        for m in _SERIAL
    )
    or "SELECT NULL::VARCHAR AS item_type, NULL::BIGINT AS procore_id, NULL::BIGINT AS parent_id WHERE false"
)
_SERIAL_TYPES_SQL = ", ".join(f"'{m.item_type}'" for m in _SERIAL) or "NULL"
_SERIAL_TYPES = {m.item_type for m in _SERIAL}
# what the accept options store for the build (erp_items.export_options), read back as columns of the rows
_OPTION_FIELDS = tuple(
    dict.fromkeys(key for m in _pairs.registered() for o in m.accept_options for key, _ in o.stored_members)
)
_LIST_ADDS = {"VendorAdd", "CustomerAdd", "ItemServiceAdd", "ItemNonInventoryAdd", "ItemOtherChargeAdd"}
_NOT_ANSWERED = "no response to this request"

# Settings a builder cannot do without, and the accepted (Exporting) items that need them: without the setting
# the builder raises SettingMissing half-way through a batch, so ``next_export_batch`` checks them first.
# (setting, SQL counting the items that need it, why), in the order of the settings' names (the message names them
# in that order)
_REQUIRED_SETTINGS: list[tuple[str, str, str, str]] = sorted(
    (
        (
            key,
            sql[0]
            if sql
            else f"SELECT count(*) FROM erp_items WHERE item_type = '{m.item_type}' AND status = 'exporting'",
            why,
            m.item_type,  # the pair whose Exporting items need it (its count is of those items)
        )
        for m in _pairs.registered()
        for key, why, *sql in m.required_settings
    ),
    key=lambda r: r[0],
)


@dataclass
class ExportBatch(OutgoingXml):
    """One message set ready to go: ``xml`` is what sendRequestXML returns."""

    message_id: int
    purpose: str  # export | check
    xml: bytes
    request_ids: tuple[str, ...]
    item_rows: pa.Table | pd.DataFrame  # item_type, procore_id, attempt, request_id, request_name

    @property
    def items(self) -> pd.DataFrame:
        """The batch's items as a frame, made when asked for (the Web Connector never reads them: a pandas frame
        per message set cost more than some of the ledger's statements)."""
        rows = self.item_rows
        return arrow_to_frame(rows) if isinstance(rows, pa.Table) else rows


@dataclass
class ExportSummary:
    """What one ``ws.export(...)`` run did."""

    messages: int = 0
    check_messages: int = 0
    requests: int = 0
    synced: int = 0
    failed: int = 0
    retried: int = 0
    linked_after_check: int = 0
    refused: int = 0
    seconds: float = 0.0
    stopped: str | None = None  # why the loop ended early (nothing left = None)
    outcomes: list[pd.DataFrame] = field(default_factory=list, repr=False)

    @property
    def items_per_second(self) -> float:
        done = self.synced + self.failed
        return done / self.seconds if self.seconds else 0.0

    def __repr__(self) -> str:
        return (
            f"<ExportSummary {self.messages} message(s) ({self.check_messages} check), {self.requests} "
            f"request(s): {self.synced} synced, {self.failed} failed, {self.retried} to retry, "
            f"{self.linked_after_check} linked after a check; {self.seconds:.2f}s"
            + (f"; stopped: {self.stopped}" if self.stopped else "")
            + ">"
        )


class ExportError(QbreconError):
    """An export step that cannot be done (e.g. sending a message the ledger discarded)."""


class ExportJob:
    """The export as a Web Connector job (``qbrecon.erp.jobs.WebConnectorJob``) over the ledger's methods:
    accepted items and the checks of in-doubt ones, ``max_requests`` requests per message set."""

    name = "export"

    def __init__(self, ws: Any, max_requests: int):
        self.ws, self.max_requests = ws, int(max_requests)

    def pending(self) -> int:
        counts = self.ws.export_pending()
        return int(counts["exporting"]) + int(counts["checks"])

    def next_request(self, *, ticket: str, company_file: str | None) -> ExportBatch | None:
        # recorded as sent before it leaves (in the step that builds it): it may reach QuickBooks from now on
        return self.ws.next_export_batch(self.max_requests, company_file, sent=True, ticket=ticket)

    def owns(self, message_id: int) -> bool:
        return bool(self.ws.is_export_message(message_id))

    def apply_response(self, message_id: int, response: ResponseDocument) -> pd.DataFrame | pa.Table:
        # the service does not read the outcomes: an export answer's stay the Arrow table they are made as
        return self.ws.apply_export_response(message_id, response, frame=False)

    def fail(self, message_id: int, hresult: str, message: str) -> pd.DataFrame:
        return self.ws.fail_export_batch(message_id, hresult, message)


# a final decision's columns as ``apply_export_outcomes`` reads them (the decision is the outcome)
_FINAL_COLUMNS = {
    c: ("outcome" if c == "decision" else c)
    for c in (
        "item_type",
        "procore_id",
        "decision",
        "quickbooks_id",
        "edit_sequence",
        "status_code",
        "status_message",
        "error_class",
        "attempt",
    )
}


# an export message's requests as ``apply_export_response`` reads them from the ledger
_SENT_COLUMNS = (
    "request_id",
    "item_type",
    "procore_id",
    "action",
    "request_name",
    "attempt",
    "state",
    "line_sources",
    "fingerprint",  # of the Procore record as built: a change made while the request was out is an update
)


class ExportService:
    """Export ledger and orchestration over the workspace's store (``ws.export_service``). The export stage: it
    hands every outcome to the ERP queue (``queue.apply_export_outcomes``), the stage before it."""

    def __init__(self, store: Store, *, queue: QueueService) -> None:
        self.store = store
        self.queue = queue

    # -- reading ------------------------------------------------------------------------------------------
    def export_ledger(self, item_type: str | None = None, procore_id: int | None = None) -> pd.DataFrame:
        """The export ledger (optionally of one item type / one item), oldest first, without the request XML."""
        where, params = item_where(item_type, procore_id)
        return self._frame(
            f"SELECT * EXCLUDE (request_xml) FROM export_ledger {where} "
            "ORDER BY built_at, item_type, procore_id, attempt",
            params,
        )

    def is_export_message(self, message_id: int) -> bool:
        """True when the export ledger built the message (the Web Connector service routes its answer here)."""
        return bool(
            self.store.execute(
                "SELECT 1 FROM export_messages WHERE message_id = ?", [int(message_id)]
            ).fetchall()
        )

    def export_pending(self) -> dict[str, int]:
        """Counts for progress: items Exporting, of which in flight, and checks waiting (no side effects)."""
        row = self.store.execute(
            f"""SELECT (SELECT count(*) FROM erp_items WHERE status = 'exporting'),
                       (SELECT count(DISTINCT (item_type, procore_id)) FROM export_ledger l WHERE {IN_FLIGHT_SQL}),
                       (SELECT count(*) FROM export_ledger WHERE check_state IN ('pending', 'sent')),
                       (SELECT count(*) FROM export_messages WHERE state = 'sent')"""
        ).fetchall()[0]
        return {
            "exporting": int(row[0]),
            "in_flight": int(row[1]),
            "checks": int(row[2]),
            "awaiting": int(row[3]),
        }

    # -- building -----------------------------------------------------------------------------------------
    def next_export_batch(
        self,
        max_requests: int = 50,
        company_file: str | None = None,
        transport: str = "web_connector",
        *,
        sent: bool = False,
        ticket: str | None = None,
    ) -> ExportBatch | None:
        """The next message set to send, or None when nothing is left.

        ``sent=True`` when the caller hands the XML over right after, as the Web Connector's sendRequestXML does:
        the message comes back already recorded as sent (to ``ticket``), in the transaction that built it --
        what ``mark_batch_sent`` would write next, without its three more statements per message set. A crash
        after the commit leaves it sent without an answer, as a crash after ``mark_batch_sent`` does: in doubt.

        First settles the past: messages built but never sent are discarded (nothing left the building);
        messages sent but never answered become *in doubt* and their items get a check query. Checks go out
        before anything new. Then accepted items (Exporting, not in flight, parents synced) in dependency order
        are built; rows the builder refuses are marked Failed to Export at once with its message.
        """
        if max_requests < 1:
            raise InputError("max_requests must be at least 1", field="max_requests")
        with self.store.transaction():
            settings, exporting, waiting = self._require_settings()  # before anything is written
            if waiting:  # messages left unanswered or checks pending (read with the settings' counts)
                self._settle_unanswered()
                batch = self._check_batch(max_requests, company_file, transport, sent, ticket)
                if batch is not None:
                    return batch
            for _ in range(len(EXPORTABLE) * 4 + 10):  # each pass either builds or fails what it picked
                picked, prefetched = self._ready_batch(max_requests, exporting)
                if picked.empty:
                    return None
                batch = self._build_batch(
                    picked, max_requests, company_file, transport, settings, sent, ticket, prefetched
                )
                if batch is not None:
                    return batch
        return None

    def _require_settings(self) -> tuple[dict, set[str], bool]:
        """``SettingMissing`` (nothing written) when accepted items need a setting that is not set, naming the
        setting, how many items wait on it and how to set it; the Web Connector shows it to the user. Returns
        the settings (unmasked), which the builders use, the item types that have items Exporting, and whether
        anything is left to settle or check first (messages built or sent without an answer, pending checks)."""
        problems: dict[str, str] = {}
        unset = []
        # the settings, the item types Exporting and whether anything waits to be settled or checked, in one
        # statement (a DuckDB round trip per message set each)
        setting_rows, exporting_list, unsettled = self.store.execute(
            "SELECT (SELECT list([key, value]) FROM erp_settings), "
            "(SELECT list(DISTINCT item_type) FROM erp_items WHERE status = 'exporting'), "
            "EXISTS (SELECT 1 FROM export_messages WHERE state = 'built' OR (state = 'sent' AND transport <> 'file'))"
            " OR EXISTS (SELECT 1 FROM export_ledger WHERE check_state = 'pending')"
        ).fetchall()[0]
        values = settings_from_rows(setting_rows or (), mask=False)
        exporting, unsettled = set(exporting_list or ()), bool(unsettled)
        for name, count_sql, why, item_type in _REQUIRED_SETTINGS:
            if item_type not in exporting:  # a setting a pair needs only while it has items Exporting
                continue
            value = values.get(name)
            if isinstance(value, dict):  # an item setting stores {ListID, FullName}
                value = value.get("ListID") or value.get("FullName")
            if value in (None, ""):
                unset.append((name, count_sql, why))
        # every unset setting's waiting items counted in one statement (none in the usual case: all are set)
        counts = (
            self.store.execute("SELECT " + ", ".join(f"({sql})" for _, sql, _ in unset)).fetchall()[0]
            if unset
            else ()
        )
        for (name, _, why), waiting in zip(unset, counts, strict=True):
            if waiting:
                problems[name] = f"setting {name!r} ({SETTINGS[name].label}) is not set: {waiting} {why}"
        if problems:
            raise SettingMissing(
                "; ".join(problems.values())
                + ". Nothing was exported. An ERP admin sets it on the dashboard's Settings page or with: "
                + "qbrecon settings set "
                + " ".join(f"{n}=..." for n in problems)
            )
        return values, exporting, unsettled

    def _settle_unanswered(self) -> None:
        con = self.store.con
        unsettled = con.execute(  # both kinds in one read (usually none)
            "SELECT message_id, state FROM export_messages WHERE state = 'built' "
            "OR (state = 'sent' AND transport <> 'file') ORDER BY message_id"
        ).fetchall()
        if not unsettled:
            return
        discarded = [(m,) for m, state in unsettled if state == "built"]
        lost = [(m,) for m, state in unsettled if state == "sent"]
        if discarded:
            con.execute("UPDATE export_messages SET state = 'discarded' WHERE state = 'built'")
            con.execute(
                "UPDATE export_ledger SET state = 'discarded', outcome = 'discarded' WHERE state = 'built'"
            )
            con.execute(
                "UPDATE export_ledger SET check_state = 'pending', check_message_id = NULL "
                "WHERE check_state = 'built'"
            )
            self._log(
                [m[0] for m in discarded],
                "info",
                "discarded",
                "built but never handed to QuickBooks; the items will be built again",
            )
        if not lost:
            return
        ids = [m[0] for m in lost]
        marks = ", ".join("?" for _ in ids)
        con.execute(f"UPDATE export_messages SET state = 'in_doubt' WHERE message_id IN ({marks})", ids)
        con.execute(
            f"""UPDATE export_ledger SET state = 'in_doubt', check_reason = 'in_doubt', check_state = 'pending'
                WHERE state = 'sent' AND message_id IN ({marks})""",
            ids,
        )
        con.execute(
            f"""UPDATE export_ledger SET check_state = 'pending', check_message_id = NULL
                WHERE check_state = 'sent' AND check_message_id IN ({marks})""",
            ids,
        )
        self._log(
            ids,
            "warning",
            "in_doubt",
            "sent without an answer: QuickBooks may have stored the requests; asking it before sending again",
        )

    def _check_batch(
        self,
        max_requests: int,
        company_file: str | None,
        transport: str,
        sent: bool = False,
        ticket: str | None = None,
    ) -> ExportBatch | None:
        rows = self.store.con.execute(
            f"""SELECT l.item_type, l.procore_id, l.attempt, l.request_xml, l.check_reason, e.quickbooks_id,
                       json_extract_string(e.export_options, '$.parent_customer_full_name')
                FROM export_ledger l LEFT JOIN erp_items e ON e.item_type = l.item_type AND e.procore_id = l.procore_id
                WHERE l.check_state = 'pending' ORDER BY l.built_at, l.item_type, l.procore_id LIMIT {int(max_requests)}"""
        ).fetchall()
        if not rows:
            return None
        requests, items = [], []
        for item_type, pid, attempt, request_xml, reason, qb_id, parent_name in rows:
            rid = ledger.check_request_id(item_type, pid, attempt)
            sent_request = etree.fromstring(request_xml.encode())
            target = qb_id if reason == "refresh" and item_type not in _SHARES_PARENT else None
            el = ledger.check_query(
                sent_request, rid, reason, quickbooks_id=target, parent_full_name=parent_name
            )
            requests.append(Request(rid, "query", None, "query", el.tag[:-2], el))
            items.append((item_type, pid, attempt, rid, el.tag[:-2]))
        (mset,) = message_sets(requests, max_requests=len(requests))
        state = "sent" if sent else "built"
        message_id = archive.archive_request(
            self.store, mset, status=state, company_file=company_file, ticket=ticket
        )
        self._insert_message(message_id, "check", transport, company_file, len(requests), state)
        frame = _items_frame(items)
        self._register(frame, "_exp_check_items")
        try:
            self.store.con.execute(
                """UPDATE export_ledger l SET check_state = ?, check_message_id = ?, check_request_id = i.request_id
                   FROM _exp_check_items i WHERE l.item_type = i.item_type AND l.procore_id = i.procore_id
                     AND l.attempt = i.attempt""",
                [state, message_id],
            )
        finally:
            self.store.con.unregister("_exp_check_items")
        return ExportBatch(message_id, "check", mset.xml, mset.request_ids, frame)

    def _ready_items(self, max_requests: int, exporting: set[str] | None = None) -> pd.DataFrame:
        """The items the next message set takes (``_ready_batch`` without the rows to build)."""
        return self._ready_batch(max_requests, exporting)[0]

    def _ready_batch(
        self, max_requests: int, exporting: set[str] | None = None
    ) -> tuple[pd.DataFrame, pa.Table | None]:
        """Exporting items not in flight whose parents are not Exporting, in export order; one CCO per
        commitment (its PurchaseOrderMod needs the EditSequence the previous one returns); an item whose last
        message failed as a whole goes alone, to isolate it. ``exporting``: the item types with items Exporting,
        when known: only dependencies among them can hold an item back, and planning the query over every
        declared dependency costs DuckDB more than running it (tens of ms per message set).

        Returns the picked items and, when one item type alone is Exporting (the usual message set), the rows to
        build them from (``_build_frames``), read by the same statement: a DuckDB round trip less per set."""
        deps = dependencies_sql(exporting) if exporting is not None else _DEPS_SQL
        single = next(iter(exporting)) if exporting is not None and len(exporting) == 1 else None
        # only what can hold an item back among the types now Exporting is planned: a parent Exporting (when a
        # dependency between them is declared), a CCO of the same PO in flight (when a serial type is Exporting).
        # The usual message set (vendors alone) needs neither: planning and running their joins and the window
        # cost DuckDB about a fifth of the statement.
        waits = has_dependencies(exporting)
        serial = exporting is None or bool(_SERIAL_TYPES & set(exporting))
        # each item's last attempt, how it ended and whether any attempt is in flight: one pass over the ledger
        ctes = [
            f"""last AS (SELECT item_type, procore_id, max(attempt) AS attempt,
                               arg_max(outcome, attempt) AS last_outcome, bool_or({IN_FLIGHT_SQL}) AS in_flight
                        FROM export_ledger l GROUP BY 1, 2)"""
        ]
        where = ["e.status = 'exporting'", "NOT coalesce(last.in_flight, false)"]
        if waits:
            ctes += [
                f"deps AS ({deps})",
                """waiting AS (SELECT DISTINCT d.item_type, d.procore_id FROM deps d
                               JOIN erp_items p ON p.item_type = d.parent_type AND p.procore_id = d.parent_id
                               WHERE p.status = 'exporting')""",
            ]
            where.append(
                "NOT EXISTS (SELECT 1 FROM waiting w WHERE w.item_type = e.item_type AND w.procore_id = e.procore_id)"
            )
        if serial:
            ctes += [
                f"serial AS ({_SERIAL_SQL})",
                "flight AS (SELECT item_type, procore_id FROM last WHERE in_flight)",
                """busy_po AS (SELECT DISTINCT o.item_type, o.parent_id FROM serial o
                               JOIN flight f ON f.item_type = o.item_type AND f.procore_id = o.procore_id)""",
            ]
            where.append(
                "NOT EXISTS (SELECT 1 FROM busy_po b WHERE b.item_type = o.item_type AND b.parent_id = o.parent_id)"
            )
        ctes.append(
            f"""cand AS (
                SELECT e.item_type, e.procore_id, coalesce(last.attempt, 0) + 1 AS attempt,
                       coalesce(last.last_outcome = 'batch_failed', false) AS solo, {_ORDER_SQL} AS export_order,
                       {"o.parent_id" if serial else "NULL::BIGINT AS parent_id"}, e.quickbooks_id, e.edit_sequence,
                       e.export_options
                FROM erp_items e
                LEFT JOIN last ON last.item_type = e.item_type AND last.procore_id = e.procore_id
                {"LEFT JOIN serial o ON o.item_type = e.item_type AND o.procore_id = e.procore_id" if serial else ""}
                WHERE {" AND ".join(where)})"""
        )
        if serial:  # one CCO per commitment
            ctes.append(
                """one_cco AS (
                    SELECT *, row_number() OVER (PARTITION BY item_type, parent_id ORDER BY procore_id) AS n
                    FROM cand)"""
            )
        picked = f"one_cco WHERE item_type NOT IN ({_SERIAL_TYPES_SQL}) OR n = 1" if serial else "cand"
        ctes.append(
            f"""ready AS (
                SELECT item_type, procore_id, attempt, solo, export_order, quickbooks_id, edit_sequence, export_options
                FROM {picked}
                ORDER BY solo DESC, export_order, item_type, procore_id
                LIMIT {int(max_requests)})"""
        )
        ready = "WITH " + ",\n".join(ctes)
        order = "ORDER BY r.solo DESC, r.export_order, r.item_type, r.procore_id"
        columns = ["item_type", "procore_id", "attempt", "solo"]
        if single is None:
            # at most max_requests rows, read as Python rows: an Arrow result and a pandas frame of it cost more
            rows = self.store.con.execute(
                f"{ready} SELECT r.item_type, r.procore_id, r.attempt, r.solo FROM ready r {order}"
            ).fetchall()
            return pd.DataFrame(rows, columns=columns), None
        select, joins = _rows_sql(single, "r", queue="r")  # the queue fields come with the ready items
        # the fingerprint of the row as built, where it reads the row alone (else the ledger's INSERT takes it)
        expr = links.fingerprint_expr(PAIRS[single], "t")
        fingerprint = f"CASE WHEN t.id IS NOT NULL THEN {expr} END AS _ready_fingerprint, " if expr else ""
        with self.store._lock:
            table = _arrow(
                self.store.con.execute(
                    f"""{ready} SELECT r.item_type AS _ready_item_type, r.procore_id AS _ready_procore_id,
                               r.solo AS _ready_solo, t.id IS NOT NULL AS _ready_found, {fingerprint}{select}
                        FROM ready r {joins} {order}""",
                )
            )
        picked = pd.DataFrame(
            {
                "item_type": table["_ready_item_type"].to_pylist(),
                "procore_id": table["_ready_procore_id"].to_pylist(),
                "attempt": table["attempt"].to_pylist(),
                "solo": table["_ready_solo"].to_pylist(),
            },
            columns=columns,
        )
        return picked, table

    def _build_batch(
        self,
        picked: pd.DataFrame,
        max_requests: int,
        company_file: str | None,
        transport: str,
        settings: dict | None = None,
        sent: bool = False,
        ticket: str | None = None,
        prefetched: pa.Table | None = None,
    ) -> ExportBatch | None:
        if bool(picked["solo"].iloc[0]):
            picked = picked.iloc[:1]
        else:
            picked = picked[~picked["solo"].astype(bool)]
        context = self._build_context(settings)
        requests: list[Request] = []
        errors: list[pd.DataFrame] = []
        types = dict.fromkeys(picked["item_type"].tolist())
        # the item types in order of first appearance, each with its rows (a pandas groupby costs a message set
        # more than its one usual group)
        for item_type in types:
            group = picked if len(types) == 1 else picked[(picked["item_type"] == item_type).to_numpy()]
            rows, lines = self._build_frames(str(item_type), group, prefetched)
            hook = _pairs.module(str(item_type)).before_build  # time: each entry's payroll item
            if hook is not None:
                rows = hook(self.store, rows)
            result = build_requests(str(item_type), rows, lines, context)
            after = _pairs.module(str(item_type)).after_build
            built_now, refused_now = (
                after(self.store, rows, result.requests) if after else (result.requests, result.errors[:0])
            )
            requests += built_now  # purchase orders QuickBooks cannot take are refused before sending
            for frame in (result.errors, refused_now):
                if len(frame):
                    errors.append(frame)
        built = {(r.item_type, int(r.procore_id)) for r in requests}
        refused = self._refusals(picked, errors, built)
        if len(refused):
            self._refuse(refused, picked)
        if not requests:
            return None
        (mset,) = message_sets(requests, max_requests=max(max_requests, len(requests)))
        state = "sent" if sent else "built"
        message_id = archive.archive_request(
            self.store, mset, status=state, company_file=company_file, ticket=ticket
        )
        self._insert_message(message_id, "export", transport, company_file, len(requests), state)
        attempt = {
            (str(t), int(p)): int(a)
            for t, p, a in zip(picked["item_type"], picked["procore_id"], picked["attempt"], strict=True)
        }
        # fingerprints read with the rows to build (``_ready_batch``), else taken by the INSERT below
        fingerprints = (
            dict(
                zip(
                    prefetched["_ready_procore_id"].to_pylist(),
                    prefetched["_ready_fingerprint"].to_pylist(),
                    strict=True,
                )
            )
            if prefetched is not None and "_ready_fingerprint" in prefetched.column_names
            else None
        )
        item_types = [r.item_type for r in requests]
        ids = [int(r.procore_id) for r in requests]
        attempts = [attempt[(t, p)] for t, p in zip(item_types, ids, strict=True)]
        request_ids = [r.request_id for r in requests]
        names = [r.request_name for r in requests]
        built, params = _bound_rows(
            {
                "item_type": ("VARCHAR", item_types),
                "procore_id": ("BIGINT", ids),
                "attempt": ("INTEGER", attempts),
                "request_id": ("VARCHAR", request_ids),
                "action": ("VARCHAR", [r.action for r in requests]),
                "request_name": ("VARCHAR", names),
                "request_xml": ("VARCHAR", [etree.tostring(r.element, encoding="unicode") for r in requests]),
                "line_sources": (
                    "VARCHAR",
                    [json.dumps(list(r.line_sources)) if r.line_sources else None for r in requests],
                ),
                "fingerprint": (
                    "VARCHAR",
                    [fingerprints.get(p) for p in ids] if fingerprints else [None] * len(ids),
                ),
            }
        )
        # the fingerprint is taken as built: a Procore change arriving before the answer is still an update
        fingerprint, join = (
            ("b.fingerprint", "")
            if fingerprints is not None
            else (
                "f.fingerprint",
                f"""LEFT JOIN {links.fingerprints_of("b", set(item_types))} f
                        ON f.item_type = b.item_type AND f.procore_id = b.procore_id""",
            )
        )
        self.store.con.execute(
            f"""INSERT INTO export_ledger (item_type, procore_id, attempt, request_id, message_id, action,
                   request_name, state, built_at, sent_at, request_xml, line_sources, fingerprint)
               WITH b AS {built}
               SELECT b.item_type, b.procore_id, b.attempt, b.request_id, ?, b.action, b.request_name, ?,
                      now(), CASE WHEN ? = 'sent' THEN now() END, b.request_xml, b.line_sources, {fingerprint}
               FROM b {join}""",
            [*params, message_id, state, state],
        )
        table = pa.table(
            {
                "item_type": pa.array(item_types, pa.string()),
                "procore_id": pa.array(ids, pa.int64()),
                "attempt": pa.array(attempts, pa.int32()),
                "request_id": pa.array(request_ids, pa.string()),
                "request_name": pa.array(names, pa.string()),
            }
        )
        return ExportBatch(message_id, "export", mset.xml, mset.request_ids, table)

    def _build_context(self, settings: dict | None = None) -> BuildContext:
        """``BuildContext.from_store`` with its reference frames read only when a builder asks for them
        (a batch of vendors needs none of the purchase-order tables); ``settings`` as already read."""
        settings = settings if settings is not None else read_settings(self.store, mask=False)
        return BuildContext.from_store(self.store, frames=_LazyFrames(self), settings=settings)

    def _build_frames(
        self, item_type: str, group: pd.DataFrame, prefetched: pa.Table | None = None
    ) -> tuple[pd.DataFrame, Any]:
        """The accepted rows (Procore columns + queue fields + accept options + attempt) and their lines;
        ``prefetched``: the rows as ``_ready_batch`` read them with the picked items (of this item type)."""
        ids = [int(x) for x in group["procore_id"]]
        if prefetched is not None:
            # the picked ones (a solo item goes alone) whose Procore record is still loaded, in id order
            mine = pc.and_(
                prefetched["_ready_found"], pc.is_in(prefetched["_ready_procore_id"], pa.array(ids))
            )
            kept = prefetched.filter(mine)
            kept = kept.drop_columns([c for c in kept.column_names if c.startswith("_ready_")])
            rows = arrow_to_frame(kept.sort_by("id"))
        else:
            # the picked items as list parameters (two short columns: registering an Arrow table and dropping it
            # again costs DuckDB more than binding the lists)
            sel = "(SELECT unnest(?::BIGINT[]) AS procore_id, unnest(?::BIGINT[]) AS attempt) s"
            select, joins = _rows_sql(item_type, "s", inner=True)
            rows = self._frame(
                f"SELECT {select} FROM {sel} {joins} ORDER BY t.id",
                [ids, [int(x) for x in group["attempt"]], item_type],
            )
        lines: Any = None
        specs = _LINES.get(item_type, [])
        frames = {
            table: self._frame(
                f'SELECT l.* FROM "{table}" l WHERE l."{col}" IN (SELECT unnest(?::BIGINT[]))', [ids]
            )
            for table, col in specs
        }
        if (
            len(frames) > 1
        ):  # several line tables (a budget's lines and changes): the builder takes them by name
            lines = frames
        elif frames:
            lines = next(iter(frames.values()))
        return rows, lines

    @staticmethod
    def _refusals(
        picked: pd.DataFrame, errors: list[pd.DataFrame], built: set[tuple[str, int]]
    ) -> pd.DataFrame:
        """One row per picked item that got no request: the builder's messages, or a clear reason."""
        msgs: dict[tuple[str, int], list[str]] = {}
        for frame in errors:
            for it, pid, fld, msg in zip(
                frame["item_type"], frame["procore_id"], frame["field"], frame["message"], strict=True
            ):
                if pd.isna(pid):
                    continue
                msgs.setdefault((str(it), int(pid)), []).append(f"{msg} (field {fld})" if fld else str(msg))
        rows = []
        for it, pid in zip(picked["item_type"].tolist(), picked["procore_id"].tolist(), strict=True):
            key = (str(it), int(pid))
            if key in built:
                continue
            text = "; ".join(dict.fromkeys(msgs.get(key, []))) or (
                "no qbXML request could be built: the Procore record is no longer in the loaded data"
            )
            rows.append({"item_type": key[0], "procore_id": key[1], "message": text})
        return pd.DataFrame(rows, columns=["item_type", "procore_id", "message"])

    def _refuse(self, refused: pd.DataFrame, picked: pd.DataFrame) -> None:
        """Builder refusals: a ledger row (never sent) and Failed to Export with the builder's message."""
        attempt = {
            (str(t), int(p)): int(a)
            for t, p, a in zip(picked["item_type"], picked["procore_id"], picked["attempt"], strict=True)
        }
        table = pa.table(
            {
                "item_type": refused["item_type"].astype(str).tolist(),
                "procore_id": pa.array(refused["procore_id"].astype("int64").tolist(), pa.int64()),
                "attempt": pa.array(
                    [
                        attempt[(str(t), int(p))]
                        for t, p in zip(refused["item_type"], refused["procore_id"], strict=True)
                    ],
                    pa.int32(),
                ),
                "message": refused["message"].astype(str).tolist(),
            }
        )
        self._register(table, "_exp_refused")
        try:
            self.store.con.execute(
                """INSERT INTO export_ledger (item_type, procore_id, attempt, state, built_at, answered_at, outcome,
                       status_message, error_class)
                   SELECT item_type, procore_id, attempt, 'refused', now(), now(), 'failed', message, 'validation'
                   FROM _exp_refused"""
            )
        finally:
            self.store.con.unregister("_exp_refused")
        outcomes = pd.DataFrame(
            {
                "item_type": table["item_type"].to_pylist(),
                "procore_id": table["procore_id"].to_pylist(),
                "outcome": "failed",
                "status_message": table["message"].to_pylist(),
                "error_class": "validation",
            }
        )
        self.queue.apply_export_outcomes(outcomes)

    # -- sending ------------------------------------------------------------------------------------------
    def mark_batch_sent(self, message_id: int, *, ticket: str | None = None) -> None:
        """The message is about to be handed to the transport: from now on it may reach QuickBooks, so its
        items are never built again until QuickBooks' answer (or a check) says what happened."""
        with self.store.transaction() as con:
            # the usual case in one statement: a message just built becomes sent
            if not con.execute(
                "UPDATE export_messages SET state = 'sent', sent_at = now() WHERE message_id = ? "
                "AND state = 'built' RETURNING 1",
                [message_id],
            ).fetchall():
                row = con.execute(
                    "SELECT state FROM export_messages WHERE message_id = ?", [message_id]
                ).fetchall()
                if not row:
                    raise ExportError(f"message {message_id} is not in the export ledger")
                if row[0][0] == "sent":
                    return
                raise ExportError(
                    f"message {message_id} is {row[0][0]}; only a message just built may be sent (a discarded "
                    "one may have been rebuilt in another message, and sending both could post twice)"
                )
            # its requests (an export message) or its checks (a check message), in one statement
            con.execute(
                """UPDATE export_ledger SET
                       state = CASE WHEN message_id = $1 AND state = 'built' THEN 'sent' ELSE state END,
                       sent_at = CASE WHEN message_id = $1 AND state = 'built' THEN now() ELSE sent_at END,
                       check_state = CASE WHEN check_message_id = $1 AND check_state = 'built' THEN 'sent'
                                          ELSE check_state END
                   WHERE (message_id = $1 AND state = 'built') OR (check_message_id = $1 AND check_state = 'built')""",
                [message_id],
            )
            archive.mark_sent(self.store, message_id, ticket=ticket)

    # -- answers ------------------------------------------------------------------------------------------
    def apply_export_response(
        self, message_id: int, response_xml: bytes | str | ResponseDocument, *, frame: bool = True
    ) -> pd.DataFrame | pa.Table:
        """Apply QuickBooks' answer to a message: Synced (with ListID/TxnID), Failed (QuickBooks' message), or
        back for another try (3170-3180, bounded), a re-read (3200), a parent first (3140), a name check (3100).
        Idempotent: a response for a message already answered, or an unknown one, changes nothing (logged).
        Returns the outcomes frame (one row per request, with the ledger's ``decision``); ``frame=False``: an
        answer to an export message as the Arrow table it is made as (the Web Connector's job does not read it,
        and a pandas frame per message set costs the loop more than some of the ledger's statements)."""
        with self.store.transaction() as con:
            # the message and, for an export message, its requests as the ledger holds them, in one read
            rows = con.execute(
                f"""SELECT m.state, m.purpose, m.company_file, {", ".join(f"l.{c}" for c in _SENT_COLUMNS)}
                    FROM export_messages m LEFT JOIN export_ledger l ON m.purpose = 'export'
                         AND l.message_id = m.message_id AND l.request_id IS NOT NULL
                    WHERE m.message_id = ?""",
                [message_id],
            ).fetchall()
            row = rows[0][:3] if rows else None
            if row is None:
                self._log(
                    [message_id], "warning", "ignored", "response for a message the ledger does not know"
                )
                return _empty_outcomes()
            state, purpose, company_file = row
            if state in ("answered", "failed", "discarded"):
                self._log(
                    [message_id],
                    "info",
                    "ignored",
                    f"response for a message already {state}; nothing changed",
                )
                return _empty_outcomes()
            # Parsed once (or already by the Web Connector service): outcomes, echoed Rets and request ids
            # all come from this one tree.
            doc = ResponseDocument.read(response_xml, name=f"response to message {message_id}")
            name = f"response to message {message_id}"
            if purpose == "check":
                result = read_response(
                    doc, self._sent_requests(message_id, purpose), name=name, read_rets=False
                )
                response_id = archive.archive_response(
                    self.store, doc.text, message_id, company_file=company_file
                )
                self._mirror(_echoed_tables(doc, any(result.outcomes["ret_count"]), name), response_id)
                outcomes = self._apply_checks(
                    message_id, result.outcomes, _rets_by_request(doc.root), response_id
                )
            else:
                if doc.root is None:  # an empty answer without the Web Connector's HRESULT: nothing to read
                    read_response(doc, None, name=name)  # raises, naming it
                # the ledger rows as read above, as Python rows (no frame per answer)
                sent = [r[3:] for r in rows if r[3] is not None]
                records = outcome_rows(doc.root, (r[:5] for r in sent), name=name)
                response_id = archive.archive_response(
                    self.store, doc.text, message_id, company_file=company_file
                )
                self._mirror(_echoed_tables(doc, any(r["ret_count"] for r in records), name), response_id)
                outcomes = self._apply_exports(message_id, records, response_id, doc.root, sent, frame=frame)
            con.execute(
                "UPDATE export_messages SET state = 'answered', answered_at = now(), "
                "response_message_id = ? WHERE message_id = ?",
                [response_id, message_id],
            )
            # (a Procore change made while the request was out comes back as an update: apply_export_outcomes)
            return outcomes

    def _sent_requests(self, message_id: int, purpose: str = "check") -> pd.DataFrame:
        """A check message's queries as ``read_response`` matches them (an export message's requests are read
        with the message itself: ``apply_export_response``)."""
        return self._frame(
            """SELECT check_request_id AS request_id, 'query' AS item_type, NULL::BIGINT AS procore_id,
                      'query' AS action, NULL AS request_name
               FROM export_ledger WHERE check_message_id = ? AND check_state = 'sent'""",
            [message_id],
        )

    def _apply_exports(
        self,
        message_id: int,
        records: list[dict],
        response_id: int,
        root: etree._Element,
        sent: list[tuple],
        *,
        frame: bool = True,
    ) -> pd.DataFrame | pa.Table:
        """Decide each answered request (``records``: ``outcome_rows``; ``sent``: the message's ledger rows, in
        ``_SENT_COLUMNS`` order), record the decisions, and return the outcomes with them."""
        by_rid = {r["request_id"]: r for r in records}
        decided: dict[str, dict] = {}
        rets = None  # the Rets by request, read from the tree only when a synced request made lines to link
        for rid, it, pid, _action, rname, attempt, state, sources, fingerprint in sent:
            o = by_rid.get(rid)
            if state not in ("sent", "in_doubt", "built") or o is None:
                continue
            decision = self._decide_export(str(it), int(pid), int(attempt), str(rname), o)
            if decision["decision"] == "synced":
                decision["built_fingerprint"] = fingerprint
                if sources is not None:
                    rets = rets if rets is not None else _rets_by_request(root)
                    found = rets.get(rid, [])
                    decision["line_links"] = _line_links(
                        str(it), int(pid), sources, found[0] if found else None
                    )
            decided[rid] = decision
        decisions = list(decided.values())
        self._record(decisions, message_id, response_id)
        self._mark_deleted_lines(decisions)
        return _outcomes_with_decisions(records, decided, frame=frame)

    def _decide_export(self, item_type: str, pid: int, attempt: int, request_name: str, o: dict) -> dict:
        """One answered request's decision; ``o`` is its ``outcome_rows`` row (None where QuickBooks gave nothing)."""
        code = o["status_code"]
        message = o["status_message"]
        base = {
            "item_type": item_type,
            "procore_id": pid,
            "attempt": attempt,
            "status_code": code,
            "status_message": message,
            "error_class": o["error_class"],
            "quickbooks_id": o["quickbooks_id"],
            "edit_sequence": o["edit_sequence"],
        }
        if o["outcome"] == "synced":
            if item_type in _SHARES_PARENT and o["txn_id"] is not None:
                base["quickbooks_id"] = str(o["txn_id"])  # the purchase order the CCO's lines were added to
            return {**base, "decision": "synced"}
        if code is None and message and message.startswith(_NOT_ANSWERED):
            return {
                **base,
                "decision": "retry" if attempt < MAX_ATTEMPTS else "failed",
                "outcome": "not_processed",
            }
        gone = (
            self._deleted_record(item_type, pid, request_name, code, message)
            if code == 3120 and request_name.endswith("Mod")
            else None
        )
        if gone is not None:
            return {
                **base,
                "decision": "failed",
                "error_class": "deleted_in_quickbooks",
                "status_message": gone,
            }
        lines = self._deleted_lines(item_type, pid, None, message) if code == 3120 else []
        if lines and request_name.endswith("Mod"):
            return self._lines_gone(base, lines, f"QuickBooks answered the {request_name}: {message}")
        action = status_policy(code).action  # the one per-code policy table (qbxml.responses.STATUS_POLICY)
        if action == "retry":
            if attempt < MAX_ATTEMPTS:
                return {**base, "decision": "retry"}
            return {
                **base,
                "decision": "failed",
                "status_message": f"{message} (still failing after {attempt} attempts; retry later)",
            }
        if action == "refresh_then_retry":
            return {**base, "decision": "check", "check_reason": "refresh"}
        if action == "check_name" and request_name in _LIST_ADDS:
            return {**base, "decision": "check", "check_reason": "duplicate"}
        if action == "create_parent":
            return self._missing_reference(base, attempt)
        return {**base, "decision": "failed"}

    def _deleted_record(
        self, item_type: str, pid: int, request_name: str, code: int | None, message: str | None
    ) -> str | None:
        """A Mod QuickBooks answers "cannot be found" (3120) naming the linked record itself: it was deleted in
        QuickBooks. The plain reason (the link is then marked, never dropped), else None."""
        if code != 3120 or not request_name.endswith("Mod"):
            return None
        row = self.store.execute(
            "SELECT quickbooks_id FROM erp_items WHERE item_type = ? AND procore_id = ?", [item_type, pid]
        ).fetchall()
        qb_id = row[0][0] if row else None
        if not qb_id or f'"{qb_id}"' not in (message or ""):
            return None  # another object (a line, a reference) is missing: QuickBooks' own message says which
        return links.deleted_reason(
            PAIRS[item_type],
            qb_id,
            f"is no longer in the company file (QuickBooks answered the {request_name}: {message})",
        )

    def _deleted_lines(
        self, item_type: str, pid: int, present: set[str] | None, message: str | None = None
    ) -> list[tuple[str, int, str]]:
        """The item's live line links QuickBooks no longer has: those not in ``present`` (the TxnLineIDs of the
        record as just read), or those QuickBooks' "cannot be found" ``message`` names."""
        live = links.live_line_links(self.store.con, item_type, pid)
        if present is not None:
            return [x for x in live if x[2] not in present]
        return [x for x in live if f'"{x[2]}"' in (message or "")]

    def _lines_gone(self, base: dict, lines: list[tuple[str, int, str]], how: str) -> dict:
        """Failed to Export with the plain reason; the line links are marked once the decision is recorded."""
        row = self.store.execute(
            "SELECT quickbooks_id FROM erp_items WHERE item_type = ? AND procore_id = ?",
            [base["item_type"], base["procore_id"]],
        ).fetchall()
        qb_id = (row[0][0] if row else None) or ""
        reason = links.deleted_line_reason(PAIRS[base["item_type"]], qb_id, [x[2] for x in lines], how)
        return {
            **base,
            "decision": "failed",
            "error_class": "line_deleted_in_quickbooks",
            "status_message": reason,
            "deleted_lines": [(t, int(i)) for t, i, _ in lines],
        }

    def _mark_deleted_lines(self, decisions: list[dict]) -> None:
        rows = [
            (d["item_type"], int(d["procore_id"]), t, i, d["status_message"])
            for d in decisions
            for t, i in d.get("deleted_lines") or ()
        ]
        if not rows:
            return
        found = pa.table(
            {
                "item_type": [r[0] for r in rows],
                "procore_id": pa.array([r[1] for r in rows], pa.int64()),
                "line_table": [r[2] for r in rows],
                "line_id": pa.array([r[3] for r in rows], pa.int64()),
                "detail": [r[4] for r in rows],
            }
        )
        self._register(found, "_exp_lines_gone")
        try:
            links.mark_lines_deleted(self.store.con, "_exp_lines_gone", "QuickBooks Desktop")
        finally:
            self.store.con.unregister("_exp_lines_gone")

    def _missing_reference(self, base: dict, attempt: int) -> dict:
        """3140: a referenced vendor/job/item is not in QuickBooks. If we are creating it, wait and retry;
        otherwise say which one and what to do."""
        kind, name = ledger.referenced_kind(base["status_message"])
        parent_type = ledger.REFERENCE_ITEM_TYPE.get((kind or "").lower())
        if parent_type is not None:
            rows = self.store.execute(
                f"""SELECT p.status, p.procore_id, p.quickbooks_id FROM ({_DEPS_SQL}) d
                    JOIN erp_items p ON p.item_type = d.parent_type AND p.procore_id = d.parent_id
                    WHERE d.item_type = ? AND d.procore_id = ? AND d.parent_type = ?""",
                [base["item_type"], base["procore_id"], parent_type],
            ).fetchall()
            if any(r[0] == "exporting" for r in rows) and attempt < MAX_ATTEMPTS:
                return {**base, "decision": "retry"}
            label = parent_type.replace("_", " ")  # the item type in Procore's words, singular
            synced = [r for r in rows if r[0] == "synced"]
            named = [r for r in synced if r[2] == name]
            if synced and not named:
                # QuickBooks names a record no Procore parent of this item is linked to: one an ERP setting
                # names (the retainage item, an account), so the parent hints below would point elsewhere
                return self._missing_setting_reference(base, kind, name)
            if not rows:  # nothing in Procore creates it (a job's parent customer): QuickBooks must have it
                whose = (
                    "a job's parent customer" if base["item_type"] == parent_type else f"this {kind.lower()}"
                )
                hint = (
                    f"QuickBooks has no {kind} {name!r}, and {whose} is created in QuickBooks, not from "
                    "Procore: create it in QuickBooks Desktop, reload the QuickBooks data, then retry (or reject "
                    "and accept again naming an existing one)"
                )
            elif named:
                hint = (
                    f"qbrecon has the {label} linked to QuickBooks id {named[0][2]}, but QuickBooks does not "
                    "have it (deleted or merged there?): reload the QuickBooks data, unlink and export it again, "
                    "then retry"
                )
            else:
                hint = (
                    f"send and accept the {label} ({name}) so it is created in QuickBooks first, then retry"
                )
            return {**base, "decision": "failed", "status_message": f"{base['status_message']} -- {hint}"}
        return self._missing_setting_reference(base, kind, name)

    @staticmethod
    def _missing_setting_reference(base: dict, kind: str | None, name: str | None) -> dict:
        hint = (
            f"QuickBooks has no {kind or 'record'} {name!r}: create it in QuickBooks (or correct the "
            "ERP setting that names it), then retry"
        )
        return {**base, "decision": "failed", "status_message": f"{base['status_message']} -- {hint}"}

    def _apply_checks(
        self, message_id: int, outcomes: pd.DataFrame, rets: dict[str, list[etree._Element]], response_id: int
    ) -> pd.DataFrame:
        rows = self.store.execute(
            """SELECT l.item_type, l.procore_id, l.attempt, l.check_request_id, l.check_reason, l.request_xml,
                      l.status_code, l.status_message, e.quickbooks_id, l.line_sources
               FROM export_ledger l LEFT JOIN erp_items e ON e.item_type = l.item_type AND e.procore_id = l.procore_id
               WHERE l.check_message_id = ? AND l.check_state = 'sent'""",
            [message_id],
        ).fetchall()
        records = outcomes.to_dict("records")
        by_rid = {r["request_id"]: i for i, r in enumerate(records)}
        decisions = []
        for it, pid, attempt, rid, reason, request_xml, code, msg, _qb_id, sources in rows:
            base = {
                "item_type": it,
                "procore_id": int(pid),
                "attempt": int(attempt),
                "status_code": code,
                "status_message": msg,
                "error_class": None,
                "quickbooks_id": None,
                "edit_sequence": None,
                "check": True,
            }
            o = records[by_rid[rid]] if rid in by_rid else None
            if o is None or o["outcome"] == "failed":  # the query itself failed: ask again next batch
                decisions.append({**base, "decision": "check_again"})
                continue
            request = etree.fromstring(request_xml.encode())
            found = rets.get(rid, [])
            if reason == "refresh":
                ret = found[0] if found else None
                present = (
                    {x.findtext("TxnLineID") for x in ret.iter() if str(x.tag).endswith("LineRet")}
                    if ret is not None
                    else set()
                )
                gone_lines = self._deleted_lines(it, int(pid), present) if present else []
                if gone_lines:  # the record is there, a line qbrecon linked is not: deleted in QuickBooks
                    decisions.append(
                        self._lines_gone(
                            base,
                            gone_lines,
                            "not in it when qbrecon read it again after QuickBooks refused its EditSequence",
                        )
                    )
                elif found:
                    decisions.append(
                        {
                            **base,
                            "decision": "retry",
                            "outcome": "refreshed",
                            "edit_sequence": ret.findtext("EditSequence"),
                            "quickbooks_id": ret.findtext("ListID") or ret.findtext("TxnID"),
                        }
                    )
                else:
                    qb_id = _qb_id or request.findtext(".//TxnID") or request.findtext(".//ListID") or ""
                    decisions.append(
                        {
                            **base,
                            "decision": "failed",
                            "error_class": "deleted_in_quickbooks",
                            "status_message": links.deleted_reason(
                                PAIRS[it],
                                qb_id,
                                "was not found when qbrecon read it again after QuickBooks "
                                f"refused its EditSequence ({msg})",
                            ),
                        }
                    )
                continue
            match = self._matching_record(it, int(pid), request, found)
            if match is not None:
                decisions.append(
                    {
                        **base,
                        "line_links": _line_links(it, int(pid), sources, match),
                        "decision": "synced",
                        "outcome": "linked",
                        "status_code": 0,
                        "status_message": "found in QuickBooks by the check before resending",
                        "quickbooks_id": match.findtext("ListID") or match.findtext("TxnID"),
                        "edit_sequence": match.findtext("EditSequence"),
                    }
                )
            elif reason == "duplicate":
                decisions.append(
                    {
                        **base,
                        "decision": "failed",
                        "error_class": "fix_data",
                        "status_message": f"{msg} -- a different QuickBooks record already uses this name (its details do "
                        "not match); rename one of them, or link them, then retry",
                    }
                )
            else:  # in doubt, and QuickBooks does not have it: safe to send again
                decisions.append(
                    {
                        **base,
                        "decision": "retry",
                        "outcome": "not_added",
                        "status_code": None,
                        "status_message": "not in QuickBooks after an unanswered send; sending again",
                    }
                )
        self._record(decisions, message_id, response_id)
        self._mark_deleted_lines(decisions)
        return _with_decisions(outcomes, decisions, by="check")

    def _matching_record(
        self, item_type: str, procore_id: int, request: etree._Element, found: list[etree._Element]
    ) -> etree._Element | None:
        """The found record that is the one we sent, not linked to another item of the same type."""
        for ret in found:
            if not ledger.record_matches(request, ret):
                continue
            qb_id = ret.findtext("ListID") or ret.findtext("TxnID")
            if item_type not in _SHARES_PARENT:  # a shared record (a PO) is linked to several items
                taken = self.store.execute(
                    "SELECT count(*) FROM erp_items WHERE item_type = ? AND quickbooks_id = ? AND procore_id <> ?",
                    [item_type, qb_id, procore_id],
                ).fetchall()[0][0]
                if taken:
                    continue
            return ret
        return None

    def _record(self, decisions: list[dict], message_id: int, response_id: int) -> None:
        """Write the decisions: ledger rows, erp_items (through apply_export_outcomes for synced/failed), audit."""
        if not decisions:
            return

        # straight from the decisions into Arrow (no pandas frame per answer)
        def col(name: str) -> list:
            return [_none(d.get(name)) for d in decisions]

        decided = [str(d["decision"]) for d in decisions]
        ledger_outcome = [
            o
            if isinstance(o, str)
            else {
                "synced": "synced",
                "failed": "failed",
                "retry": "retry",
                "check": "check",
                "check_again": None,
            }[d]
            for o, d in zip(col("outcome"), decided, strict=True)
        ]
        types = {
            "item_type": ("VARCHAR", pa.string(), [str(d["item_type"]) for d in decisions]),
            "procore_id": ("BIGINT", pa.int64(), [int(d["procore_id"]) for d in decisions]),
            "attempt": ("INTEGER", pa.int32(), [int(d["attempt"]) for d in decisions]),
            "decision": ("VARCHAR", pa.string(), decided),
            "outcome": ("VARCHAR", pa.string(), ledger_outcome),
            "status_code": (
                "INTEGER",
                pa.int32(),
                [None if x is None else int(x) for x in col("status_code")],
            ),
            "status_message": ("VARCHAR", pa.string(), col("status_message")),
            "error_class": ("VARCHAR", pa.string(), col("error_class")),
            "quickbooks_id": ("VARCHAR", pa.string(), col("quickbooks_id")),
            "edit_sequence": ("VARCHAR", pa.string(), col("edit_sequence")),
            "check_reason": ("VARCHAR", pa.string(), col("check_reason")),
            "is_check": ("BOOLEAN", pa.bool_(), [bool(x) if x is not None else False for x in col("check")]),
        }
        table = pa.table({c: pa.array(values, kind) for c, (_, kind, values) in types.items()})
        # the decisions bound to each statement as list parameters (cheaper than registering the table)
        rows, params = _bound_rows({c: (sql, values) for c, (sql, _, values) in types.items()})
        # the fingerprint of what was built (an export answer's, read with its ledger rows): the links take it
        # from here instead of aggregating the ledger's attempts again
        fingerprints = [d.get("built_fingerprint") for d in decisions]
        built_fingerprint = all(
            f is not None for f, d in zip(fingerprints, decided, strict=True) if d == "synced"
        ) and any(f is not None for f in fingerprints)
        con = self.store.con
        is_check = types["is_check"][2]
        # export answers: the row is answered; a 3100/3200 opens a check on the same row
        # (each statement only when the answer holds such rows: a DuckDB round trip per message set)
        if not all(is_check):
            con.execute(
                f"""UPDATE export_ledger l SET state = 'answered', answered_at = now(), outcome = d.outcome,
                   status_code = d.status_code, status_message = d.status_message, error_class = d.error_class,
                   quickbooks_id = d.quickbooks_id, edit_sequence = d.edit_sequence,
                   check_reason = CASE WHEN d.decision = 'check' THEN d.check_reason ELSE l.check_reason END,
                   check_state = CASE WHEN d.decision = 'check' THEN 'pending'
                                      WHEN l.check_state IS NOT NULL THEN 'done' ELSE NULL END
               FROM {rows} d WHERE NOT d.is_check AND l.item_type = d.item_type
                 AND l.procore_id = d.procore_id AND l.attempt = d.attempt""",
                params,
            )
        # check answers: the row is resolved (or its check goes out again)
        if any(is_check):
            con.execute(
                f"""UPDATE export_ledger l SET
                   check_state = CASE WHEN d.decision = 'check_again' THEN 'pending' ELSE 'done' END,
                   check_message_id = CASE WHEN d.decision = 'check_again' THEN NULL ELSE l.check_message_id END,
                   state = CASE WHEN d.decision = 'check_again' THEN l.state
                                WHEN l.state = 'in_doubt' THEN 'resolved' ELSE l.state END,
                   resolved_at = CASE WHEN d.decision = 'check_again' THEN NULL ELSE now() END,
                   outcome = coalesce(d.outcome, l.outcome),
                   status_message = CASE WHEN d.decision = 'check_again' THEN l.status_message ELSE d.status_message END,
                   quickbooks_id = coalesce(d.quickbooks_id, l.quickbooks_id),
                   edit_sequence = coalesce(d.edit_sequence, l.edit_sequence)
               FROM {rows} d WHERE d.is_check AND l.item_type = d.item_type
                 AND l.procore_id = d.procore_id AND l.attempt = d.attempt""",
                params,
            )
        later = (
            _arrow(
                con.execute(
                    f"""SELECT d.* FROM {rows} d JOIN erp_items e
                         ON e.item_type = d.item_type AND e.procore_id = d.procore_id AND e.status = 'exporting'
                       WHERE d.decision IN ('retry', 'check')""",
                    params,
                )
            )
            if {"retry", "check"} & set(decided)
            else None
        )
        # the final answers (Synced / Failed) straight from the decisions, in their order
        final_columns = dict(_FINAL_COLUMNS)
        if built_fingerprint:
            table = table.append_column("built_fingerprint", pa.array(fingerprints, pa.string()))
            final_columns["built_fingerprint"] = "built_fingerprint"
        final = (
            table.filter(pc.is_in(table["decision"], pa.array(["synced", "failed"])))
            .select(list(final_columns))
            .rename_columns(list(final_columns.values()))
        )
        if final.num_rows:
            line_links = [
                ln for d in decisions if d["decision"] == "synced" for ln in d.get("line_links") or ()
            ]
            self.queue.apply_export_outcomes(
                final,  # Arrow as it is: no pandas round trip
                message_id,
                response_id,
                line_links=line_links,
            )
        if later is not None and later.num_rows:
            self._note_retries(later, message_id, response_id)

    def _note_retries(self, later: pa.Table, message_id: int, response_id: int) -> None:
        """Items that stay Exporting (retry, re-read, name check): last error and EditSequence on the queue
        row, and an audit row saying why."""
        con = self.store.con
        self._register(later, "_exp_later")
        try:
            con.execute(
                """INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id,
                       from_status, to_status, request_message_id, response_message_id, detail)
                   SELECT nextval('erp_audit_seq'), now(), NULL, 'QuickBooks Desktop',
                          CASE WHEN decision = 'check' THEN 'export_check' ELSE 'export_retry' END, item_type,
                          procore_id, 'exporting', 'exporting', ?, ?,
                          concat_ws(': ', status_code::VARCHAR, coalesce(status_message, outcome))
                   FROM _exp_later""",
                [message_id, response_id],
            )
            con.execute(
                f"""UPDATE erp_items e SET updated_at = now(), attempts = greatest(e.attempts, l.attempt),
                       last_error_code = coalesce(l.status_code, e.last_error_code),
                       last_error_message = coalesce(l.status_message, e.last_error_message),
                       error_class = coalesce(l.error_class, e.error_class),
                       edit_sequence = CASE WHEN l.outcome = 'refreshed' AND l.item_type NOT IN ({_SHARES_PARENT_SQL})
                                            THEN l.edit_sequence ELSE e.edit_sequence END
                   FROM _exp_later l WHERE e.item_type = l.item_type AND e.procore_id = l.procore_id"""
            )
        finally:
            con.unregister("_exp_later")

    def _mirror(self, rets: dict[str, pa.Table], response_id: int) -> None:
        """Records QuickBooks echoed (adds, mods, check queries) go into the workspace's QuickBooks tables, so a
        CCO's PurchaseOrderMod sees the PO's current EditSequence and lines, and reconciliation sees them."""
        con = self.store.con
        for table, data in rets.items():
            if table not in TABLES or not data.num_rows:
                continue
            spec = TABLES[table]
            cols = [c for c in spec.column_names if c in data.column_names]
            keys = list(spec.key)
            data = data.select(cols)
            distinct = len(set(zip(*(data[k].to_pylist() for k in keys), strict=True)))  # (no Arrow group_by)
            if distinct < data.num_rows:  # echoed twice: the last one wins
                frame = data.to_pandas(types_mapper=pd.ArrowDtype).drop_duplicates(subset=keys, keep="last")
                data = pa.Table.from_pandas(frame, preserve_index=False)
            n = data.num_rows
            data = data.append_column("_source_file", pa.array([f"qbxml message {response_id}"] * n))
            data = data.append_column(
                "_loaded_at",
                pa.array([pd.Timestamp.now(tz="UTC")] * n, pa.timestamp("us", tz="UTC")),
            )
            parent = spec.meta.get("parent")
            self._register(data, "_exp_mirror")
            try:
                if parent:  # a stored transaction's lines are replaced by the echoed set
                    con.execute(
                        f'DELETE FROM "{table}" WHERE "TxnID" IN (SELECT DISTINCT "TxnID" FROM _exp_mirror)'
                    )
                names = ", ".join(f'"{c}"' for c in [*cols, "_source_file", "_loaded_at"])
                # records already stored are replaced (their other columns kept); new ones (an Add's echo, the
                # usual case) take a plain INSERT, which costs DuckDB a fraction of INSERT OR REPLACE
                on = " AND ".join(f'k."{c}" = m."{c}"' for c in spec.key)
                picked = ", ".join(f'm."{c}"' for c in [*cols, "_source_file", "_loaded_at"])
                # new ones first, counted as they go in: only when some were stored already does the dearer
                # INSERT OR REPLACE run (then over every echoed row: those just inserted get the same values)
                inserted = con.execute(
                    f'INSERT INTO "{table}" ({names}) SELECT {picked} FROM _exp_mirror m '
                    f'ANTI JOIN "{table}" k ON {on} RETURNING 1'
                ).fetchall()
                if len(inserted) < n:
                    con.execute(
                        f'INSERT OR REPLACE INTO "{table}" ({names}) SELECT {picked} FROM _exp_mirror m '
                        f'SEMI JOIN "{table}" k ON {on}'
                    )
            finally:
                con.unregister("_exp_mirror")

    def fail_export_batch(self, message_id: int, hresult: str | None, message: str | None) -> pd.DataFrame:
        """The whole message failed (the Web Connector's HRESULT instead of a response; nothing was processed).
        A parse error (0x80040400) sends each item alone next time, so one bad request cannot block the rest
        and fails on its own; other failures (QuickBooks unreachable, ...) leave the items to be sent again."""
        with self.store.transaction() as con:
            row = con.execute(
                "SELECT state, purpose, company_file FROM export_messages WHERE message_id = ?", [message_id]
            ).fetchall()
            row = row[0] if row else None
            if row is None or row[0] in ("answered", "failed", "discarded"):
                self._log(
                    [message_id],
                    "info",
                    "ignored",
                    f"whole-message failure {hresult} for a message {'unknown' if row is None else row[0]}",
                )
                return _empty_outcomes()
            _, purpose, company_file = row
            response_id = archive.archive_response(
                self.store,
                None,
                message_id,
                hresult=hresult or "",
                message=message or "",
                company_file=company_file,
            )
            con.execute(
                "UPDATE export_messages SET state = 'failed', answered_at = now(), hresult = ?, "
                "error_message = ?, response_message_id = ? WHERE message_id = ?",
                [hresult, message, response_id, message_id],
            )
            text = " ".join(x for x in (hresult, message) if x)
            if purpose == "check":
                con.execute(
                    "UPDATE export_ledger SET check_state = 'pending', check_message_id = NULL "
                    "WHERE check_message_id = ? AND check_state = 'sent'",
                    [message_id],
                )
                return _empty_outcomes()
            parse_error = (hresult or "").lower() == PARSE_ERROR_HRESULT
            rows = con.execute(
                "SELECT item_type, procore_id, attempt FROM export_ledger WHERE message_id = ? AND state IN "
                "('sent', 'built', 'in_doubt')",
                [message_id],
            ).fetchall()
            decisions = []
            for it, pid, attempt in rows:
                base = {
                    "item_type": it,
                    "procore_id": int(pid),
                    "attempt": int(attempt),
                    "status_code": None,
                    "status_message": text,
                    "error_class": "fatal" if parse_error else "retryable",
                    "quickbooks_id": None,
                    "edit_sequence": None,
                }
                if parse_error and len(rows) == 1:  # alone and still unparseable: this request is the bad one
                    decisions.append(
                        {
                            **base,
                            "decision": "failed",
                            "status_message": f"{text} -- QuickBooks could not read this request (see the archived "
                            f"message {message_id})",
                        }
                    )
                elif attempt < MAX_ATTEMPTS:
                    decisions.append(
                        {**base, "decision": "retry", "outcome": "batch_failed" if parse_error else "retry"}
                    )
                else:
                    decisions.append({**base, "decision": "failed"})
            self._record(decisions, message_id, response_id)
            return pd.DataFrame(decisions)

    # -- the in-process loop --------------------------------------------------------------------------------
    def export(
        self,
        deliver: Callable[[bytes], bytes],
        max_requests: int = 50,
        *,
        max_messages: int | None = None,
        company_file: str | None = None,
    ) -> ExportSummary:
        """Send everything accepted, message by message, through ``deliver`` (request bytes -> response bytes)
        until nothing is left. An exception with ``hresult`` (e.g. the simulator's ``RequestProcessorError``) is
        a whole-message failure; any other exception propagates and leaves the message sent-but-unanswered,
        which the next run checks with QuickBooks before sending again."""
        summary = ExportSummary()
        start = time.perf_counter()
        idle_checks = 0
        while max_messages is None or summary.messages < max_messages:
            batch = self.next_export_batch(max_requests, company_file=company_file, transport="in_process")
            if batch is None:
                break
            self.mark_batch_sent(batch.message_id)
            summary.messages += 1
            summary.requests += len(batch)
            summary.check_messages += batch.purpose == "check"
            response, hresult, message = deliver_in_process(deliver, batch.xml)
            if hresult is not None:
                self.fail_export_batch(batch.message_id, hresult, message)
                if hresult.lower() != PARSE_ERROR_HRESULT:
                    summary.stopped = f"QuickBooks could not take the message ({hresult}); run again later"
                    break
                continue
            outcomes = self.apply_export_response(batch.message_id, response)
            summary.outcomes.append(outcomes)
            decided = outcomes["decision"].value_counts().to_dict() if "decision" in outcomes else {}
            summary.synced += int(decided.get("synced", 0))
            summary.failed += int(decided.get("failed", 0))
            summary.retried += int(decided.get("retry", 0))
            if batch.purpose == "check":
                summary.linked_after_check += int(((outcomes.get("ledger_outcome")) == "linked").sum())
                idle_checks = idle_checks + 1 if set(decided) <= {"check_again"} else 0
                if idle_checks >= 3:
                    summary.stopped = (
                        "QuickBooks did not answer the checks of in-doubt items; run again later"
                    )
                    break
        summary.seconds = time.perf_counter() - start
        summary.refused = int(
            self.store.execute("SELECT count(*) FROM export_ledger WHERE state = 'refused'").fetchall()[0][0]
        )
        return summary

    # -- files (for users who hand message sets to their own QuickBooks tooling) ---------------------------
    def export_to_files(
        self, out_dir: str | Path, max_requests: int = 50, company_file: str | None = None
    ) -> list[Path]:
        """Write every message set that can be built now to ``out_dir`` (``qbxml-request-<message_id>.xml``) and
        mark it sent. Items that depend on these wait until their responses are applied (``apply_response_files``)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        while True:
            batch = self.next_export_batch(max_requests, company_file=company_file, transport="file")
            if batch is None:
                break
            path = out / f"qbxml-request-{batch.message_id:06d}.xml"
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(batch.xml)
            self.mark_batch_sent(batch.message_id)
            tmp.replace(path)
            written.append(path)
        return written

    def apply_response_files(self, paths: list[str | Path]) -> pd.DataFrame:
        """Apply qbXML response files: each is matched to the message it answers by its requestIDs."""
        frames = []
        for p in paths:
            path = Path(p)
            data = path.read_bytes()
            root = parse_bytes(data, name=str(path), huge_text=True)
            rids = [
                rs.get("requestID")
                for rs in root.iter()
                if isinstance(rs.tag, str) and rs.tag.endswith("Rs") and rs.get("requestID")
            ]
            if not rids:
                raise InputError(
                    "no requestID in the response: cannot tell which message it answers", file=str(path)
                )
            marks = ", ".join("?" for _ in rids)
            found = self.store.execute(
                f"""SELECT DISTINCT message_id FROM (
                        SELECT message_id FROM export_ledger WHERE request_id IN ({marks})
                        UNION ALL SELECT check_message_id FROM export_ledger WHERE check_request_id IN ({marks}))
                    WHERE message_id IS NOT NULL""",
                rids + rids,
            ).fetchall()
            if len(found) != 1:
                raise InputError(
                    f"the response's requestIDs match {len(found)} sent messages; expected exactly one",
                    file=str(path),
                )
            outcomes = self.apply_export_response(int(found[0][0]), data)
            frames.append(outcomes.assign(file=str(path)))
        return pd.concat(frames, ignore_index=True) if frames else _empty_outcomes()

    # -- helpers ---------------------------------------------------------------------------------------------
    def _insert_message(
        self,
        message_id: int,
        purpose: str,
        transport: str,
        company_file: str | None,
        count: int,
        state: str = "built",
    ) -> None:
        self.store.con.execute(
            "INSERT INTO export_messages (message_id, purpose, transport, company_file, state, request_count, "
            "built_at, sent_at) VALUES (?, ?, ?, ?, ?, ?, now(), CASE WHEN ? = 'sent' THEN now() END)",
            [message_id, purpose, transport, company_file, state, count, state],
        )

    def _log(self, message_ids: list[int], level: str, event: str, detail: str) -> None:
        for mid in message_ids:
            self.store.con.execute(
                "INSERT INTO export_log VALUES (nextval('export_log_seq'), now(), ?, ?, ?, ?)",
                [mid, level, event, detail],
            )

    def _register(self, table: pa.Table | pd.DataFrame, name: str) -> None:
        self.store.con.register(name, table)

    def _frame(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """A SELECT as an Arrow-typed frame (decimals stay decimal), straight from the connection."""
        if sql.strip().upper().startswith(("SELECT", "WITH")) is False:
            sql = f'SELECT * FROM "{sql}"'
        with self.store._lock:
            # ``execute``, not ``sql``: a relation binds its query twice (once to make it, again to run it)
            return arrow_to_frame(_arrow(self.store.con.execute(sql, params or [])))


def _bound_rows(columns: dict[str, tuple[str, list]]) -> tuple[str, list]:
    """A relation of ``columns`` (name -> (SQL type, values)) bound as list parameters, and its parameters: for the
    rows one statement reads (a message set's), binding the lists costs DuckDB less than registering an Arrow
    table and dropping it again (~0.5 ms a statement). Its parameters come where the relation stands in the SQL."""
    sql = (
        "(SELECT " + ", ".join(f"unnest(?::{kind}[]) AS {name}" for name, (kind, _) in columns.items()) + ")"
    )
    return sql, [values for _, values in columns.values()]


def _rows_sql(item_type: str, picked: str, inner: bool = False, queue: str | None = None) -> tuple[str, str]:
    """The columns and joins that read the rows to build for the picked items (relation alias ``picked``:
    procore_id, attempt): the Procore row (``t``, with the pair's row filter), its queue fields and accept options
    (quickbooks_id, edit_sequence, export_options: from the relation ``queue`` when it has them, else joined from
    ``erp_items``, whose item type is then the statement's one parameter). ``inner``: only items whose row is
    found."""
    pair = PAIRS[item_type]
    level = f" AND t.{pair.row_filter}" if pair.row_filter else ""
    e = queue or "e"
    options = ", ".join(f"json_extract_string({e}.export_options, '$.{f}') AS {f}" for f in _OPTION_FIELDS)
    drop = [
        c
        for c in ("quickbooks_id", "edit_sequence", "attempt", *_OPTION_FIELDS)
        if c in TABLES[pair.procore_table].column_names
    ]
    exclude = f" EXCLUDE ({', '.join(drop)})" if drop else ""
    join = "JOIN" if inner else "LEFT JOIN"
    items = "" if queue else f"{join} erp_items e ON e.item_type = ? AND e.procore_id = {picked}.procore_id"
    return (
        f"t.*{exclude}, {e}.quickbooks_id, {e}.edit_sequence, {picked}.attempt, {options}",
        f"""{join} "{pair.procore_table}" t ON t.id = {picked}.procore_id{level} {items}""",
    )


class _LazyFrames(dict):
    """Reference frames for the builders, each read from the workspace the first time it is asked for."""

    NAMES = (
        "projects",
        "companies",
        "cost_codes",
        "commitments",
        "commitment_lines",
        "customers",
        "purchase_orders",
        "purchase_order_lines",
        "estimate_lines",
        "items",
        "qb_links",
    )

    def __init__(self, ws: ExportService):
        super().__init__()
        self._ws = ws

    def get(self, name: str, default: Any = None) -> Any:
        if name not in self and name in self.NAMES:
            self[name] = self._ws._frame(name)
        return super().get(name, default)


def _items_frame(items: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_type": pd.Series([i[0] for i in items], dtype=pd.ArrowDtype(pa.string())),
            "procore_id": pd.Series([int(i[1]) for i in items], dtype=pd.ArrowDtype(pa.int64())),
            "attempt": pd.Series([int(i[2]) for i in items], dtype=pd.ArrowDtype(pa.int32())),
            "request_id": pd.Series([i[3] for i in items], dtype=pd.ArrowDtype(pa.string())),
            "request_name": pd.Series([i[4] for i in items], dtype=pd.ArrowDtype(pa.string())),
        }
    )


def _line_links(
    item_type: str, procore_id: int, sources: str | None, ret: etree._Element | None
) -> list[dict]:
    """The line links an answered Add/Mod makes: the Ret's lines are in the order they were sent (QuickBooks keeps
    a message's line order), so line element i stands for the Procore lines ``sources[i]`` names."""
    if ret is None or _none(sources) is None:
        return []
    refs = json.loads(sources)
    lines = [el for el in ret if isinstance(el.tag, str) and el.tag.endswith("LineRet")]
    if len(lines) != len(refs):
        return []  # not the set we sent (a check found a record edited since): link the record only
    txn_id = ret.findtext("TxnID")
    out = []
    for ref, line in zip(refs, lines, strict=True):
        if not ref or ":" not in ref:
            continue
        table, ids = ref.split(":", 1)
        for line_id in ids.split(","):
            out.append(
                {
                    "item_type": item_type,
                    "procore_id": procore_id,
                    "line_table": table,
                    "line_id": int(line_id),
                    "quickbooks_id": txn_id,
                    "txn_line_id": line.findtext("TxnLineID"),
                }
            )
    return out


def _echoed_tables(doc: ResponseDocument, echoed: bool, name: str) -> dict[str, pa.Table]:
    """The records an answer echoed (its Rets; ``echoed``: whether any request has one), as Arrow tables per
    QuickBooks table, read from the tree already parsed (no pandas frames: they go straight into the workspace)."""
    if doc.root is None or not echoed:
        return {}
    tree = read_response_tree(doc.root, name=name)
    return {t: tree.table(t) for t in tree.batches}


def _rets_by_request(root: etree._Element) -> dict[str, list[etree._Element]]:
    msgs = root if root.tag == "QBXMLMsgsRs" else root.find("QBXMLMsgsRs")
    out: dict[str, list[etree._Element]] = {}
    if msgs is None:
        return out
    for rs in msgs:
        rid = rs.get("requestID") if isinstance(rs.tag, str) else None
        if rid:
            out[rid] = [c for c in rs if isinstance(c.tag, str) and c.tag.endswith("Ret")]
    return out


_DECIDED_SCHEMA = pa.schema(
    [*OUTCOME_COLUMNS.items(), ("decision", pa.string()), ("ledger_outcome", pa.string())]
)


def _outcomes_with_decisions(
    records: list[dict], decided: dict[str, dict], *, frame: bool = True
) -> pd.DataFrame | pa.Table:
    """The answer's outcome rows with what the ledger decided for each request (``decision``,
    ``ledger_outcome``), made once, as Arrow (``frame=False``) or as the frame ``apply_export_response`` returns."""
    rows = []
    for r in records:
        d = decided.get(r["request_id"]) or {}
        rows.append(
            {**r, "decision": d.get("decision"), "ledger_outcome": d.get("outcome") or d.get("decision")}
        )
    table = pa.Table.from_pylist(rows, schema=_DECIDED_SCHEMA)
    return arrow_to_frame(table) if frame else table


def _none(x: Any) -> Any:
    if x is None:
        return None
    if type(x) in (str, int, bool):  # never missing (most values: pd.isna costs more than the rest of a row)
        return x
    try:
        if pd.isna(x):
            return None
    except (TypeError, ValueError):
        pass
    return x


def _empty_outcomes() -> pd.DataFrame:
    from ..qbxml.responses import OUTCOME_COLUMNS

    frame = pa.Table.from_pylist([], schema=pa.schema(list(OUTCOME_COLUMNS.items()))).to_pandas(
        types_mapper=pd.ArrowDtype
    )
    frame["decision"] = pd.Series([], dtype=pd.ArrowDtype(pa.string()))
    return frame


def _with_decisions(outcomes: pd.DataFrame, decisions: list[dict], by: str = "export") -> pd.DataFrame:
    """The response outcomes with what the ledger decided for each request (``decision``, ``ledger_outcome``)."""
    out = outcomes.copy(deep=False)  # columns are added or replaced, never changed in place
    if not decisions:
        out["decision"] = pd.Series([None] * len(out), dtype=pd.ArrowDtype(pa.string()))
        out["ledger_outcome"] = out["decision"]
        return out
    keyed = {}
    for d in decisions:
        rid = (
            ledger.check_request_id(d["item_type"], d["procore_id"], d["attempt"])
            if by == "check"
            else f"{d['item_type']}:{d['procore_id']}:a{d['attempt']}"
        )
        keyed[rid] = d
    out["decision"] = pd.Series(
        [keyed.get(r, {}).get("decision") for r in out["request_id"]], dtype=pd.ArrowDtype(pa.string())
    )
    out["ledger_outcome"] = pd.Series(
        [keyed.get(r, {}).get("outcome") or keyed.get(r, {}).get("decision") for r in out["request_id"]],
        dtype=pd.ArrowDtype(pa.string()),
    )
    if by == "check":
        out["item_type"] = pd.Series(
            [keyed.get(r, {}).get("item_type") for r in out["request_id"]], dtype=pd.ArrowDtype(pa.string())
        )
        out["procore_id"] = pd.Series(
            [keyed.get(r, {}).get("procore_id") for r in out["request_id"]], dtype=pd.ArrowDtype(pa.int64())
        )
    return out


__all__ = ["ExportBatch", "ExportError", "ExportJob", "ExportService", "ExportSummary"]
