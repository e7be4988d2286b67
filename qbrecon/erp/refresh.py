"""Refreshing the QuickBooks side through the Web Connector: query requests with iterators and modified-date
filters, applied to the workspace through the loader's validation path.

    ws.request_refresh()                         # queue every query kind (incremental), or full=True
    batch = ws.next_refresh_batch(500, ticket=t) # the next page: iterator Start, or Continue with the iteratorID
    ws.apply_refresh_response(batch.message_id, response_xml)

The Web Connector service (``qbwc/service.py``) sends refresh pages after the export batches of a session are
exhausted; ``ws.refresh_now(deliver)`` runs the same loop in-process (``deliver`` = a simulated company's
``process``).

Rules kept here:
- one row per query kind in ``refresh_jobs`` (queued -> iterating -> done | failed) holding the filters the kind
  was started with. A Continue repeats them exactly, and so does a restart;
- iterators live only inside one QuickBooks session: a kind that was iterating under another ticket starts again
  from ``iterator="Start"`` with the same filters. So does a kind whose page was sent but never answered (the
  QuickBooks-side iterator has moved past a page we never saw);
- only the answer to a kind's *current* page is applied; a late answer to a page the kind has moved on from is
  archived and ignored (applying it could write an older copy of a record over a newer one);
- pages are loaded through the loader (``ws.load_query_result``): the same conversion, pandera validation,
  quarantine (never dropped) and upsert as ``ws.load_quickbooks``; one ``load_runs`` row per page;
- statusCode 0 = rows, 1 and 500 = an empty answer (benign), 3391 (iterator no longer valid) = start the kind
  again (bounded), anything else fails the kind with QuickBooks' message;
- idempotent: a response for a message already answered changes nothing.

Incremental refresh: ``from_modified`` is the newest ``TimeModified`` already stored for the kind's table (only
rows that came from a load or refresh: an export's echoed Ret is newer than changes made in QuickBooks before it,
so it must not move the watermark), minus an overlap. QuickBooks may read ``FromModifiedDate`` as the local time
of its machine, so the value is written in the UTC offset QuickBooks itself uses in its ``TimeModified`` values
(remembered from the last response); while that offset is unknown the watermark moves back a further 14 hours
(the widest UTC offset), so no reading of the offset can skip a record.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Protocol

import pandas as pd

from .. import links
from .. import pairs as _pairs  # registers the pair modules (their queries)
from ..errors import InputError, PermissionDenied
from ..qbxml import archive
from ..qbxml.build import QUERIES, OutgoingXml, format_datetime, message_sets, query_request
from ..qbxml.parse import BENIGN_STATUS, read_query_response
from ..qbxml.responses import PARSE_ERROR_HRESULT, deliver_in_process
from ..schemas import TABLES
from ..store import Store, register_tables
from . import permissions
from .budgets import BudgetsService
from .queue import QueueService

# query kind -> (table, extra condition on that table selecting this kind's rows), in the order refreshed: the
# pairs' own queries in export order (lists before the transactions that reference them), then the bill
# payments that apply to bills, then the job costs outside bills (Sync Job Cost Transactions).
KINDS: dict[str, tuple[str, str | None]] = {
    m.pair.query_request: (m.pair.quickbooks_table, None) for m in _pairs.registered() if m.pair.query_request
}
KINDS.update(
    {
        "BillPaymentCheckQuery": ("bill_payments", "\"PaymentKind\" = 'check'"),
        "BillPaymentCreditCardQuery": ("bill_payments", "\"PaymentKind\" = 'credit_card'"),
        "CheckQuery": ("checks", None),
        "CreditCardChargeQuery": ("credit_card_charges", None),
        "JournalEntryQuery": ("journal_entries", None),
    }
)
for _q, (_t, _) in KINDS.items():  # the declarations this module relies on
    assert _q in QUERIES and _t in TABLES, (_q, _t)

# the query kinds QuickBooks job costs come from (Sync Job Cost Transactions)
JOB_COST_KINDS = ("bills", "checks", "credit_card_charges", "journal_entries")
_ORDER_SQL = "CASE query " + " ".join(f"WHEN '{q}' THEN {i}" for i, q in enumerate(KINDS)) + " END"
STATES = ("queued", "iterating", "done", "failed")
ACTIVE = ("queued", "iterating")
DEFAULT_MAX_RETURNED = 500
DEFAULT_OVERLAP = timedelta(hours=1)  # clock skew and a QuickBooks machine's DST change stay covered
WIDEST_UTC_OFFSET = timedelta(hours=14)
MAX_RESTARTS = 3  # 3391 / lost pages / whole-message failures before a kind is failed
ITERATOR_INVALID = 3391
_OFFSET_KEY = "refresh.quickbooks_utc_offset"
# the last VendorQuery page whose vendors have updated the linked Procore companies
_VENDORS_SEEN_KEY = "refresh.vendor_pages_seen"
_ITEMS_SEEN_KEY = "refresh.items_seen_message_id"  # the last ItemQuery page whose new items were offered
_PAYMENTS_TICKET_KEY = "refresh.bill_payments_ticket"  # the last session that queued the bill payment sync
_JOB_COSTS_TICKET_KEY = "refresh.job_costs_ticket"  # the last session that queued the job cost sync
_TIME_MODIFIED = re.compile(
    r"<TimeModified>\s*\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d)\s*</TimeModified>"
)

register_tables(
    "CREATE SEQUENCE IF NOT EXISTS refresh_request_seq START 1",
    """CREATE TABLE IF NOT EXISTS refresh_jobs (
        query VARCHAR PRIMARY KEY,           -- CustomerQuery ... TimeTrackingQuery
        state VARCHAR NOT NULL,              -- queued | iterating | done | failed
        full_refresh BOOLEAN NOT NULL,
        from_modified TIMESTAMPTZ,           -- filter start (NULL = every record)
        from_modified_text VARCHAR,          -- exactly as written in FromModifiedDate
        max_returned INTEGER,                -- MaxReturned the iterator was started with
        iterator_id VARCHAR,                 -- QuickBooks' iteratorID while iterating
        remaining INTEGER,                   -- iteratorRemainingCount of the last page
        ticket VARCHAR,                      -- the Web Connector session the iterator belongs to
        in_flight_message_id BIGINT,         -- page sent, no answer applied yet
        pages INTEGER NOT NULL DEFAULT 0,
        restarts INTEGER NOT NULL DEFAULT 0,
        rows_read INTEGER NOT NULL DEFAULT 0,
        rows_loaded INTEGER NOT NULL DEFAULT 0,
        rows_updated INTEGER NOT NULL DEFAULT 0,
        rows_quarantined INTEGER NOT NULL DEFAULT 0,
        requested_at TIMESTAMPTZ NOT NULL,
        requested_by VARCHAR,
        import_payments BOOLEAN NOT NULL DEFAULT false,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        last_request_message_id BIGINT,
        last_response_message_id BIGINT,
        last_load_id BIGINT,
        status_code INTEGER,
        status_message VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS refresh_messages (
        message_id BIGINT PRIMARY KEY,       -- qbxml_messages id of the request
        query VARCHAR NOT NULL,
        request_id VARCHAR NOT NULL,
        iterator VARCHAR NOT NULL,           -- Start | Continue
        iterator_id VARCHAR,
        ticket VARCHAR,
        state VARCHAR NOT NULL,              -- sent | answered | failed | abandoned | stale
        sent_at TIMESTAMPTZ NOT NULL,
        answered_at TIMESTAMPTZ,
        response_message_id BIGINT,
        load_id BIGINT,
        status_code INTEGER,
        status_message VARCHAR,
        rows_read INTEGER,
        remaining INTEGER)""",
)


@dataclass
class RefreshBatch(OutgoingXml):
    """One refresh page ready to go: ``xml`` is what sendRequestXML returns."""

    message_id: int
    query: str
    iterator: str  # Start | Continue
    xml: bytes
    request_ids: tuple[str, ...]


@dataclass
class RefreshOutcome:
    """What applying one refresh response did."""

    message_id: int
    query: str
    applied: bool  # False: the message was already answered, or its kind has moved on (nothing changed)
    state: str  # the kind's state afterwards
    status_code: int | None = None
    status_message: str | None = None
    rows_read: int = 0
    loaded: int = 0
    updated: int = 0
    quarantined: int = 0
    remaining: int | None = None
    load_id: int | None = None


class RefreshJob:
    """The QuickBooks refresh as a Web Connector job (``qbrecon.erp.jobs.WebConnectorJob``): queued query kinds,
    one page of ``max_returned`` records per message set."""

    name = "refresh"

    def __init__(self, ws: Any, max_returned: int):
        self.ws, self.max_returned = ws, int(max_returned)

    def pending(self) -> int:
        return int(self.ws.refresh_pending(self.max_returned)["requests"])

    def next_request(self, *, ticket: str, company_file: str | None) -> RefreshBatch | None:
        # archived as sent when built (a page is only ever built to go out at once)
        return self.ws.next_refresh_batch(self.max_returned, ticket=ticket, company_file=company_file)

    def owns(self, message_id: int) -> bool:
        return bool(self.ws.is_refresh_message(message_id))

    def apply_response(self, message_id: int, response: Any) -> RefreshOutcome:
        text = getattr(response, "text", response)  # the verbatim answer: the loader reads the page itself
        return self.ws.apply_refresh_response(message_id, text)

    def fail(self, message_id: int, hresult: str, message: str) -> RefreshOutcome:
        return self.ws.fail_refresh_batch(message_id, hresult, message)


def resolve_kinds(kinds: Iterable[str] | str | None) -> list[str]:
    """Query kinds from query names (``BillQuery``, ``BillQueryRq``, ``Bill``) or table names (``bills``);
    ``bill_payments`` means both bill payment queries. Returned in refresh order."""
    if kinds is None:
        return list(KINDS)
    if isinstance(kinds, str):
        kinds = [kinds]
    by_name: dict[str, list[str]] = {}
    for q, (table, _) in KINDS.items():
        for key in dict.fromkeys((q, q.removesuffix("Query"), table)):
            by_name.setdefault(key.casefold(), []).append(q)
    wanted: set[str] = set()
    for k in kinds:
        key = str(k).strip().removesuffix("Rq").casefold()
        if key not in by_name:
            raise InputError(f"unknown refresh kind {k!r}; known: {', '.join(KINDS)}", field="kinds")
        wanted.update(by_name[key])
    return [q for q in KINDS if q in wanted]


def _parse_offset(text: str | None) -> timezone | None:
    if not text:
        return None
    sign = -1 if text.startswith("-") else 1
    hours, minutes = text.lstrip("+-").split(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def _since_instant(value: datetime | date | str | None, qb_offset: str | None) -> datetime | None:
    """A ``since`` given without a UTC offset means QuickBooks' local time (its offset when known, else UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InputError(
                f"expected YYYY-MM-DD[THH:MM:SS[+HH:MM]], got {value!r}", field="since"
            ) from None
    elif not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=_parse_offset(qb_offset) or UTC)
    return value.astimezone(UTC)


def filter_text(start: datetime, qb_offset: str | None) -> str:
    """``FromModifiedDate`` text for an instant: in QuickBooks' own UTC offset when known, else UTC moved back
    by the widest offset (so a QuickBooks that reads the value as its local time still includes everything)."""
    tz = _parse_offset(qb_offset)
    if tz is None:
        return format_datetime((start - WIDEST_UTC_OFFSET).astimezone(UTC))
    return format_datetime(start.astimezone(tz))


class QueryLoader(Protocol):
    """What the refresh needs from the load stage (``loaders.LoadingService``, which sits above ``erp`` in the
    package layers, so it is passed in rather than imported)."""

    def load_query_result(
        self, result: Any, *, source: str, files: Any = None, started: datetime | None = None
    ) -> Any: ...


class RefreshService:
    """QuickBooks refresh through the Web Connector (see module docstring), over the workspace's store
    (``ws.refresh_service``). Pages are written by the load stage (``loading``); a finished refresh brings the
    ERP queue up to date and runs its imports (``queue``, ``budgets``): all earlier stages, passed in."""

    def __init__(
        self, store: Store, *, loading: QueryLoader, queue: QueueService, budgets: BudgetsService
    ) -> None:
        self.store = store
        self.loading = loading
        self.queue = queue
        self.budgets = budgets

    # -- scheduling ---------------------------------------------------------------------------------------------
    def request_refresh(
        self,
        kinds: Iterable[str] | str | None = None,
        full: bool = False,
        *,
        since: datetime | date | str | None = None,
        overlap: timedelta = DEFAULT_OVERLAP,
        by: int | str | None = None,
        import_payments: bool = False,
    ) -> pd.DataFrame:
        """Queue a refresh of the QuickBooks side for the next Web Connector session; returns the jobs.

        Incremental by default (records modified since the newest one stored, minus ``overlap``); ``full``
        reads everything; ``since`` sets the start instead. A kind already queued or iterating keeps the filters
        it started with (a partly read iteration must finish on the same filters) unless ``full``/``since`` is
        given, which starts it again. ``import_payments`` (needs a ``by`` user allowed to import) turns bill
        payments on synced bills into Procore payments issued when the refresh finishes.
        """
        selected = resolve_kinds(kinds)
        actor = None
        if by is not None:
            user = permissions.require(self.store, by, "refresh_companies")
            if import_payments:
                permissions.require(self.store, by, "sync_paid_invoices")
            actor = str(user["login"] or user["id"])
        elif import_payments:
            raise PermissionDenied("importing bill payments after the refresh needs a user: pass by=<user>")
        if overlap < timedelta(0):
            raise InputError("overlap must not be negative", field="overlap")
        with self.store.transaction() as con:
            offset = self._quickbooks_offset()
            start_override = _since_instant(since, offset)
            current = {r[0]: r[1] for r in con.execute("SELECT query, state FROM refresh_jobs").fetchall()}
            rows = []
            for query in selected:
                restart = full or start_override is not None
                if current.get(query) in ACTIVE and not restart:
                    con.execute(
                        "UPDATE refresh_jobs SET requested_at = now(), requested_by = coalesce(?, requested_by), "
                        "import_payments = import_payments OR ? WHERE query = ?",
                        [actor, import_payments, query],
                    ).fetchall()
                    continue
                if full:
                    start = None
                elif start_override is not None:
                    start = start_override
                else:
                    mark = self._watermark(query)
                    start = mark - overlap if mark is not None else None
                text = filter_text(start, offset) if start is not None else None
                epoch = start.timestamp() if start is not None else None
                rows.append([query, bool(full), epoch, text, actor, bool(import_payments)])
            for row in rows:
                con.execute(
                    # every column named: DuckDB's INSERT OR REPLACE keeps the values of columns left out
                    """INSERT OR REPLACE INTO refresh_jobs (query, state, full_refresh, from_modified,
                           from_modified_text, max_returned, iterator_id, remaining, ticket, in_flight_message_id,
                           pages, restarts, rows_read, rows_loaded, rows_updated, rows_quarantined, requested_at,
                           requested_by, import_payments, started_at, finished_at, last_request_message_id,
                           last_response_message_id, last_load_id, status_code, status_message)
                       VALUES (?, 'queued', ?, to_timestamp(?), ?, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0,
                               now(), ?, ?, NULL, NULL, NULL, NULL, NULL, NULL, NULL)""",
                    row,
                ).fetchall()
        return self.refresh_jobs(selected)

    def _watermark(self, query: str) -> datetime | None:
        """Newest TimeModified stored for the kind by a load or refresh (export echoes excluded)."""
        table, cond = KINDS[query]
        where = '"_load_id" IS NOT NULL' + (f" AND {cond}" if cond else "")
        sql = f'SELECT epoch_us(max("TimeModified")) FROM "{table}" WHERE {where}'
        value = self.store.execute(sql).fetchall()[0][0]  # microseconds: no tz-aware Python values (pytz)
        return None if value is None else datetime.fromtimestamp(0, UTC) + timedelta(microseconds=int(value))

    def _quickbooks_offset(self) -> str | None:
        row = self.store.execute("SELECT value FROM qbrecon_meta WHERE key = ?", [_OFFSET_KEY]).fetchall()
        return row[0][0] if row else None

    def cancel_refresh(self, kinds: Iterable[str] | str | None = None) -> int:
        """Drop queued/iterating kinds (their in-flight page, if any, will be ignored). Returns how many."""
        selected = resolve_kinds(kinds)
        marks = ", ".join("?" for _ in selected)
        with self.store.transaction() as con:
            n = con.execute(
                f"SELECT count(*) FROM refresh_jobs WHERE state IN ('queued', 'iterating') AND query IN ({marks})",
                selected,
            ).fetchall()[0][0]
            con.execute(
                f"""UPDATE refresh_jobs SET state = 'failed', status_message = 'cancelled', iterator_id = NULL,
                        in_flight_message_id = NULL, finished_at = now()
                    WHERE state IN ('queued', 'iterating') AND query IN ({marks})""",
                selected,
            ).fetchall()
        return int(n)

    # -- reading --------------------------------------------------------------------------------------------------
    def refresh_jobs(self, kinds: Iterable[str] | str | None = None) -> pd.DataFrame:
        """The refresh jobs (one row per query kind), in refresh order."""
        frame = self.store.frame(f"SELECT * FROM refresh_jobs ORDER BY {_ORDER_SQL}")
        if kinds is not None:
            frame = frame[frame["query"].isin(resolve_kinds(kinds))].reset_index(drop=True)
        return frame

    def refresh_pending(self, max_returned: int = DEFAULT_MAX_RETURNED) -> dict[str, int]:
        """Work left: kinds queued or iterating, and an estimate of the requests still to send (a queued kind
        counts one page until QuickBooks says how many records remain)."""
        rows = self.store.execute(
            "SELECT state, remaining, coalesce(max_returned, ?) FROM refresh_jobs WHERE state IN ('queued', 'iterating')",
            [int(max_returned)],
        ).fetchall()
        requests = sum(
            1 if state == "queued" or not remaining else math.ceil(int(remaining) / max(1, int(mr)))
            for state, remaining, mr in rows
        )
        if self._bill_payment_sync_due():
            requests += len(
                resolve_kinds(["bills", "bill_payments"])
            )  # queued by the session's first request
        if self._job_cost_sync_due():
            requests += len(resolve_kinds(JOB_COST_KINDS))  # queued by the session's first request
        return {"jobs": len(rows), "requests": int(requests)}

    def is_refresh_message(self, message_id: int) -> bool:
        """True when the message is a refresh page (the service routes its answer here)."""
        row = self.store.execute(
            "SELECT 1 FROM refresh_messages WHERE message_id = ?", [int(message_id)]
        ).fetchall()
        return bool(row)

    # -- building -------------------------------------------------------------------------------------------------
    def next_refresh_batch(
        self,
        max_returned: int = DEFAULT_MAX_RETURNED,
        *,
        ticket: str | None = None,
        company_file: str | None = None,
    ) -> RefreshBatch | None:
        """The next refresh page for the session ``ticket``, archived in ``qbxml_messages`` as sent, or None.

        A kind iterating in this session continues (``iterator="Continue"`` with its iteratorID and the same
        filters and MaxReturned); otherwise the next queued kind starts. Kinds iterating under another session,
        and kinds whose last page was never answered, start again from ``Start`` with the same filters.
        """
        if max_returned < 1:
            raise InputError("max_returned must be at least 1", field="max_returned")
        with self.store.transaction() as con:
            self._queue_bill_payment_sync(ticket)
            self._queue_job_cost_sync(ticket)
            self._settle_refresh(ticket)
            row = con.execute(
                f"""SELECT query, state, from_modified_text, max_returned, iterator_id FROM refresh_jobs
                    WHERE state IN ('queued', 'iterating')
                    ORDER BY state = 'iterating' DESC, {_ORDER_SQL} LIMIT 1"""
            ).fetchall()
            if not row:
                return None
            query, state, since, job_max, iterator_id = row[0]
            iterating = state == "iterating" and iterator_id
            size = int(job_max) if iterating and job_max else int(max_returned)
            number = int(con.execute("SELECT nextval('refresh_request_seq')").fetchall()[0][0])
            rid = f"refresh:{query}:{number}"
            request = query_request(
                query,
                request_id=rid,
                max_returned=size,
                from_modified=since,
                iterator="Continue" if iterating else "Start",
                iterator_id=iterator_id if iterating else None,
                include_line_items=True,
                active_status="All",
            )
            (mset,) = message_sets([request], max_requests=1)
            message_id = archive.archive_request(
                self.store, mset, status="sent", company_file=company_file, ticket=ticket
            )
            iterator = "Continue" if iterating else "Start"
            con.execute(
                """INSERT INTO refresh_messages (message_id, query, request_id, iterator, iterator_id, ticket, state,
                       sent_at) VALUES (?, ?, ?, ?, ?, ?, 'sent', now())""",
                [message_id, query, rid, iterator, iterator_id if iterating else None, ticket],
            ).fetchall()
            con.execute(
                """UPDATE refresh_jobs SET in_flight_message_id = ?, last_request_message_id = ?, ticket = ?,
                       max_returned = ?, started_at = coalesce(started_at, now()) WHERE query = ?""",
                [message_id, message_id, ticket, size, query],
            ).fetchall()
        return RefreshBatch(message_id, query, iterator, mset.xml, mset.request_ids)

    def _settle_refresh(self, ticket: str | None) -> None:
        """Before the next page: pages sent but unanswered are abandoned and their kinds start again, as do kinds
        whose iterator belongs to another QuickBooks session (iterators do not outlive a session)."""
        con = self.store.con
        lost = con.execute("SELECT message_id FROM refresh_messages WHERE state = 'sent'").fetchall()
        if lost:
            con.execute("UPDATE refresh_messages SET state = 'abandoned' WHERE state = 'sent'").fetchall()
        con.execute(
            f"""UPDATE refresh_jobs SET
                    state = CASE WHEN restarts + 1 > {MAX_RESTARTS} THEN 'failed' ELSE 'queued' END,
                    status_message = CASE WHEN restarts + 1 > {MAX_RESTARTS}
                        THEN 'a page was sent but never answered, ' || (restarts + 1) || ' times' ELSE status_message END,
                    finished_at = CASE WHEN restarts + 1 > {MAX_RESTARTS} THEN now() ELSE finished_at END,
                    restarts = restarts + 1, iterator_id = NULL, remaining = NULL, in_flight_message_id = NULL
                WHERE in_flight_message_id IS NOT NULL AND state IN ('queued', 'iterating')"""
        ).fetchall()
        # An iterator of an earlier session is gone: start that kind again (same filters). Not counted as a
        # restart: a session ending is normal (message limit, the user closing the Web Connector).
        con.execute(
            """UPDATE refresh_jobs SET state = 'queued', iterator_id = NULL, remaining = NULL
               WHERE state = 'iterating' AND ticket IS DISTINCT FROM ?""",
            [ticket],
        ).fetchall()

    # -- answers --------------------------------------------------------------------------------------------------
    def apply_refresh_response(self, message_id: int, response_xml: bytes | str) -> RefreshOutcome:
        """Apply QuickBooks' answer to a refresh page: rows through the loader (validated, quarantined, upserted),
        then the kind's iterator state. A second answer for the same page changes nothing."""
        data = response_xml.encode("utf-8") if isinstance(response_xml, str) else bytes(response_xml)
        with self.store.transaction() as con:
            msg = self._refresh_message(message_id)
            query, rid, msg_state, ticket = msg
            if msg_state not in ("sent", "abandoned"):  # answered (or failed, or a late copy) already
                return RefreshOutcome(message_id, query, False, self._job_state(query))
            current = con.execute(
                "SELECT in_flight_message_id = ? FROM refresh_jobs WHERE query = ?", [message_id, query]
            ).fetchall()
            response_id = archive.archive_response(
                self.store, data, message_id, ticket=ticket
            )  # kept verbatim
            if not current or not current[0][0]:
                con.execute(
                    "UPDATE refresh_messages SET state = 'stale', answered_at = now(), response_message_id = ? "
                    "WHERE message_id = ?",
                    [response_id, message_id],
                ).fetchall()
                return RefreshOutcome(message_id, query, False, self._job_state(query))
            label = f"qbxml message {response_id}"
            try:
                result = read_query_response(data, name=label)
            except InputError as exc:
                return self._page_failed(message_id, query, response_id, None, f"unreadable response: {exc}")
            status = next((s for s in result.statuses if s.requestID == rid), None)
            if status is None and len(result.statuses) == 1:
                status = result.statuses[0]
            if status is None:
                return self._page_failed(message_id, query, response_id, None, f"no answer to request {rid}")
            code = status.statusCode
            if code == ITERATOR_INVALID:
                return self._page_restart(message_id, query, response_id, code, status.statusMessage)
            if code != 0 and code not in BENIGN_STATUS:
                return self._page_failed(message_id, query, response_id, code, status.statusMessage)
            outcome = RefreshOutcome(message_id, query, True, "", code, status.statusMessage, status.rets)
            if result.batches:
                report = self.loading.load_query_result(
                    result,
                    source=f"Web Connector refresh: {query} page (qbxml message {message_id})",
                    files=[label],
                )
                counts = report.tables.get(KINDS[query][0])
                if counts is not None:
                    outcome.loaded, outcome.updated = counts.loaded, counts.updated
                    outcome.quarantined = counts.quarantined
                outcome.load_id = report.load_id
                # a linked line this read no longer lists (its record stays) was deleted in QuickBooks
                links.learn_deleted_lines(con, report.load_id, "QuickBooks Desktop (refresh)", report.tables)
                offset = _TIME_MODIFIED.search(data.decode("utf-8", "replace"))
                if offset:
                    con.execute(
                        "INSERT OR REPLACE INTO qbrecon_meta VALUES (?, ?)", [_OFFSET_KEY, offset.group(1)]
                    ).fetchall()
            remaining = status.iteratorRemainingCount or 0
            more = remaining > 0 and bool(status.iteratorID)
            outcome.remaining = remaining
            outcome.state = "iterating" if more else "done"
            con.execute(
                """UPDATE refresh_jobs SET state = ?, iterator_id = ?, remaining = ?, in_flight_message_id = NULL,
                       pages = pages + 1, rows_read = rows_read + ?, rows_loaded = rows_loaded + ?,
                       rows_updated = rows_updated + ?, rows_quarantined = rows_quarantined + ?,
                       last_response_message_id = ?, last_load_id = coalesce(?, last_load_id), status_code = ?,
                       status_message = ?, finished_at = CASE WHEN ? THEN NULL ELSE now() END
                   WHERE query = ?""",
                [
                    outcome.state,
                    status.iteratorID if more else None,
                    remaining,
                    outcome.rows_read,
                    outcome.loaded,
                    outcome.updated,
                    outcome.quarantined,
                    response_id,
                    outcome.load_id,
                    code,
                    status.statusMessage,
                    more,
                    query,
                ],
            ).fetchall()
            if outcome.state == "done":  # a full read without a quarantined row: what it did not find is gone
                full = con.execute(
                    "SELECT started_at FROM refresh_jobs WHERE query = ? AND full_refresh AND rows_quarantined = 0",
                    [query],
                ).fetchall()
                if full:
                    links.learn_deleted(con, *KINDS[query], full[0][0])
            con.execute(
                """UPDATE refresh_messages SET state = 'answered', answered_at = now(), response_message_id = ?,
                       load_id = ?, status_code = ?, status_message = ?, rows_read = ?, remaining = ?
                   WHERE message_id = ?""",
                [
                    response_id,
                    outcome.load_id,
                    code,
                    status.statusMessage,
                    outcome.rows_read,
                    remaining,
                    message_id,
                ],
            ).fetchall()
            self._after_refresh()
        return outcome

    def fail_refresh_batch(self, message_id: int, hresult: str | None, message: str | None) -> RefreshOutcome:
        """The whole page failed (the Web Connector's HRESULT instead of a response). A parse error fails the kind
        (the same query would fail again); anything else starts the kind again next time (bounded)."""
        with self.store.transaction() as con:
            query, _, msg_state, ticket = self._refresh_message(message_id)
            if msg_state not in ("sent", "abandoned"):
                return RefreshOutcome(message_id, query, False, self._job_state(query))
            response_id = archive.archive_response(
                self.store, None, message_id, hresult=hresult or "", message=message or "", ticket=ticket
            )
            current = con.execute(
                "SELECT in_flight_message_id = ? FROM refresh_jobs WHERE query = ?", [message_id, query]
            ).fetchall()
            text = " ".join(x for x in (hresult, message) if x) or "whole-message failure"
            if not current or not current[0][0]:
                con.execute(
                    "UPDATE refresh_messages SET state = 'stale', answered_at = now(), response_message_id = ?, "
                    "status_message = ? WHERE message_id = ?",
                    [response_id, text, message_id],
                ).fetchall()
                return RefreshOutcome(message_id, query, False, self._job_state(query))
            if (hresult or "").lower() == PARSE_ERROR_HRESULT:
                return self._page_failed(message_id, query, response_id, None, text, message_state="failed")
            return self._page_restart(message_id, query, response_id, None, text, message_state="failed")

    def _refresh_message(self, message_id: int) -> tuple[str, str, str, str | None]:
        row = self.store.execute(
            "SELECT query, request_id, state, ticket FROM refresh_messages WHERE message_id = ?",
            [int(message_id)],
        ).fetchall()
        if not row:
            raise InputError(f"qbXML message {message_id} is not a refresh page", field="message_id")
        return row[0]

    def _job_state(self, query: str) -> str:
        row = self.store.execute("SELECT state FROM refresh_jobs WHERE query = ?", [query]).fetchall()
        return row[0][0] if row else "unknown"

    def _close_message(
        self, message_id: int, state: str, response_id: int, code: int | None, text: str | None
    ) -> None:
        self.store.execute(
            "UPDATE refresh_messages SET state = ?, answered_at = now(), response_message_id = ?, status_code = ?, "
            "status_message = ? WHERE message_id = ?",
            [state, response_id, code, text, message_id],
        ).fetchall()

    def _page_failed(
        self,
        message_id: int,
        query: str,
        response_id: int,
        code: int | None,
        text: str | None,
        message_state: str = "answered",
    ) -> RefreshOutcome:
        self.store.execute(
            """UPDATE refresh_jobs SET state = 'failed', iterator_id = NULL, in_flight_message_id = NULL,
                   last_response_message_id = ?, status_code = ?, status_message = ?, finished_at = now()
               WHERE query = ?""",
            [response_id, code, text, query],
        ).fetchall()
        self._close_message(message_id, message_state, response_id, code, text)
        self._after_refresh()
        return RefreshOutcome(message_id, query, True, "failed", code, text)

    def _page_restart(
        self,
        message_id: int,
        query: str,
        response_id: int,
        code: int | None,
        text: str | None,
        message_state: str = "answered",
    ) -> RefreshOutcome:
        """Start the kind again from Start with the same filters (bounded by MAX_RESTARTS)."""
        row = self.store.execute("SELECT restarts FROM refresh_jobs WHERE query = ?", [query]).fetchall()
        give_up = int(row[0][0]) + 1 > MAX_RESTARTS
        state = "failed" if give_up else "queued"
        self.store.execute(
            """UPDATE refresh_jobs SET state = ?, restarts = restarts + 1, iterator_id = NULL, remaining = NULL,
                   in_flight_message_id = NULL, last_response_message_id = ?, status_code = ?, status_message = ?,
                   finished_at = CASE WHEN ? THEN now() END
               WHERE query = ?""",
            [state, response_id, code, text, give_up, query],
        ).fetchall()
        self._close_message(message_id, message_state, response_id, code, text)
        if give_up:
            self._after_refresh()
        return RefreshOutcome(message_id, query, True, state, code, text)

    def _after_refresh(self) -> None:
        """When the last kind has finished: bring the ERP queue up to date and, when asked for, import bill
        payments on synced bills as Procore payments issued (as the requesting user); with the setting
        ``vendor_auto_update``, the vendors it read update their linked Procore companies."""
        con = self.store.con
        if con.execute("SELECT count(*) FROM refresh_jobs WHERE state IN ('queued', 'iterating')").fetchall()[
            0
        ][0]:
            return
        self.queue.refresh_queue()
        self._update_vendors_read()
        self._add_new_cost_codes_read()
        self._sync_job_costs_read()
        wanted = con.execute(
            "SELECT DISTINCT requested_by FROM refresh_jobs WHERE import_payments AND requested_by IS NOT NULL"
        ).fetchall()
        if wanted:
            try:
                self.queue.import_bill_payments(by=wanted[0][0])
            except PermissionDenied:
                pass  # the user lost the permission since asking; the payments stay in QuickBooks' tables
            con.execute("UPDATE refresh_jobs SET import_payments = false").fetchall()

    def _sync_job_costs_read(self) -> None:
        """Projects with Job Cost Transaction Syncing enabled take the QuickBooks job costs just read into their
        budgets, each as the admin who last set the project's ERP settings (their permission checked again)."""
        if not self._read_job_cost_kinds():
            return
        rows = self.store.execute(
            "SELECT s.project_id, s.updated_by FROM erp_project_settings s JOIN projects p ON p.id = s.project_id "
            "WHERE s.job_cost_sync AND p.origin_id IS NOT NULL AND s.updated_by IS NOT NULL ORDER BY 1"
        ).fetchall()
        for project_id, by in rows:
            try:
                self.queue.import_job_costs(int(project_id), by=by)
            except PermissionDenied:
                pass  # the admin lost the permission: the costs wait for the next sync by someone allowed

    def _read_job_cost_kinds(self) -> bool:
        """The refresh that just finished read one of the job cost sources (bills, checks, credit card charges,
        journal entries)."""
        kinds = resolve_kinds(JOB_COST_KINDS)
        marks = ", ".join("?" for _ in kinds)
        return bool(
            self.store.scalar(
                f"SELECT count(*) FROM refresh_jobs WHERE state = 'done' AND rows_read > 0 AND query IN ({marks})",
                kinds,
            )
        )

    def _no_session_reading(self, key: str) -> bool:
        """No Web Connector session is open under the ticket last recorded at ``key`` (in ``qbrecon_meta``)."""
        last = self.store.scalar("SELECT value FROM qbrecon_meta WHERE key = ?", [key])
        if last is None or "qbwc_sessions" not in self.store.table_names():
            return True
        return self.store.scalar("SELECT status FROM qbwc_sessions WHERE ticket = ?", [last]) != "open"

    def _first_in_session(self, key: str, ticket: str) -> bool:
        """Record ``ticket`` at ``key``; False when it was already recorded (once per Web Connector session)."""
        if self.store.scalar("SELECT value FROM qbrecon_meta WHERE key = ?", [key]) == ticket:
            return False
        self.store.execute("INSERT OR REPLACE INTO qbrecon_meta VALUES (?, ?)", [key, ticket]).fetchall()
        return True

    def _bill_payment_sync_user(self) -> str | None:
        """With "Sync QuickBooks Bill Payments" on and a U.S. edition: the admin who turned it on (their
        permission is checked again at each import); else None."""
        from .settings import quickbooks_country, read_settings

        if not read_settings(self.store)["sync_bill_payments"] or quickbooks_country(self.store) not in (
            None,
            "US",
        ):
            return None
        by = self.store.scalar("SELECT updated_by FROM erp_settings WHERE key = 'sync_bill_payments'")
        return None if by is None else str(by)

    def _bill_payment_sync_due(self) -> bool:
        """Bill payment syncing is on and no Web Connector session is syncing them now: the next session has work
        (so the Web Connector opens it even when nothing else waits)."""
        if self._bill_payment_sync_user() is None:
            return False
        return self._no_session_reading(_PAYMENTS_TICKET_KEY)

    def _queue_bill_payment_sync(self, ticket: str | None) -> None:
        """Once per Web Connector session (ticket), when bill payment syncing is on: an incremental refresh of
        bills and bill payments, imported as payments issued when it finishes."""
        by = self._bill_payment_sync_user()
        if by is None or ticket is None:
            return
        if not self._first_in_session(_PAYMENTS_TICKET_KEY, ticket):
            return
        try:
            self.request_refresh(["bills", "bill_payments"], by=by, import_payments=True)
        except PermissionDenied:
            pass  # the admin who turned it on lost the permission: nothing is imported in their name

    def _job_cost_sync_user(self) -> str | None:
        """When some integrated project has Job Cost Transaction Syncing enabled: the admin who last set one
        (their permission is checked again when the refresh is queued and at each import); else None."""
        by = self.store.scalar(
            "SELECT s.updated_by FROM erp_project_settings s JOIN projects p ON p.id = s.project_id "
            "WHERE s.job_cost_sync AND p.origin_id IS NOT NULL AND s.updated_by IS NOT NULL "
            "ORDER BY s.updated_at DESC LIMIT 1"
        )
        return None if by is None else str(by)

    def _job_cost_sync_due(self) -> bool:
        """Job cost syncing is on somewhere and no Web Connector session is reading the job costs now."""
        if self._job_cost_sync_user() is None:
            return False
        return self._no_session_reading(_JOB_COSTS_TICKET_KEY)

    def _queue_job_cost_sync(self, ticket: str | None) -> None:
        """Once per Web Connector session (ticket), while a project has Job Cost Transaction Syncing enabled: an
        incremental refresh of the job cost sources (bills, checks, credit card charges, journal entries); the
        enabled projects take them into their budgets when it finishes (``_sync_job_costs_read``)."""
        by = self._job_cost_sync_user()
        if by is None or ticket is None:
            return
        if not self._first_in_session(_JOB_COSTS_TICKET_KEY, ticket):
            return
        try:
            self.request_refresh(list(JOB_COST_KINDS), by=by)
        except PermissionDenied:
            pass  # the admin lost the permission: nothing is refreshed or synced in their name

    def _update_vendors_read(self) -> None:
        """Vendors read by VendorQuery pages since the last finished refresh update their linked Procore companies
        when the ``vendor_auto_update`` setting is on (``QueueService.auto_update_vendors``). The pages count as
        seen either way: vendors read while the setting was off are not applied later, over newer Procore edits."""
        seen = int(
            self.store.scalar("SELECT value FROM qbrecon_meta WHERE key = ?", [_VENDORS_SEEN_KEY]) or 0
        )
        pages = self.store.execute(
            "SELECT message_id, load_id FROM refresh_messages WHERE query = 'VendorQuery' AND state = 'answered' "
            "AND message_id > ?",
            [seen],
        ).fetchall()
        if not pages:
            return
        self.queue.auto_update_vendors(load_ids=[load_id for _, load_id in pages if load_id is not None])
        self.store.execute(
            "INSERT OR REPLACE INTO qbrecon_meta VALUES (?, ?)",
            [_VENDORS_SEEN_KEY, str(max(m for m, _ in pages))],
        ).fetchall()

    def _add_new_cost_codes_read(self) -> None:
        """Items read by ItemQuery pages since the last finished refresh: with the setting
        ``auto_add_cost_codes_to_budgets`` on, new Service items become cost codes and budget lines on the
        integrated projects (``BudgetsService.add_new_cost_codes_to_budgets``). The pages count as seen either way."""
        seen = int(self.store.scalar("SELECT value FROM qbrecon_meta WHERE key = ?", [_ITEMS_SEEN_KEY]) or 0)
        pages = self.store.execute(
            "SELECT message_id, load_id FROM refresh_messages WHERE query = 'ItemQuery' AND state = 'answered' "
            "AND message_id > ?",
            [seen],
        ).fetchall()
        if not pages:
            return
        self.budgets.add_new_cost_codes_to_budgets(
            load_ids=[load_id for _, load_id in pages if load_id is not None]
        )
        self.store.execute(
            "INSERT OR REPLACE INTO qbrecon_meta VALUES (?, ?)",
            [_ITEMS_SEEN_KEY, str(max(m for m, _ in pages))],
        ).fetchall()

    # -- in-process ---------------------------------------------------------------------------------------------
    def refresh_now(
        self,
        deliver: Callable[[bytes], bytes | str],
        max_returned: int = DEFAULT_MAX_RETURNED,
        max_messages: int = 100_000,
    ) -> pd.DataFrame:
        """Run every queued refresh page through ``deliver`` (request bytes -> response; a simulated company's
        ``process``) as one QuickBooks session; returns the jobs afterwards. An exception with an ``hresult``
        (a whole-message failure) is recorded like the Web Connector's HRESULT."""
        ticket = "in-process:" + secrets.token_urlsafe(12)
        for _ in range(max_messages):
            batch = self.next_refresh_batch(max_returned, ticket=ticket)
            if batch is None:
                break
            response, hresult, message = deliver_in_process(deliver, batch.xml)
            if hresult is not None:
                self.fail_refresh_batch(batch.message_id, hresult, message)
                continue
            self.apply_refresh_response(batch.message_id, response)
        return self.refresh_jobs()


__all__ = [
    "JOB_COST_KINDS",
    "KINDS",
    "RefreshBatch",
    "RefreshJob",
    "RefreshService",
    "RefreshOutcome",
    "filter_text",
    "resolve_kinds",
]
