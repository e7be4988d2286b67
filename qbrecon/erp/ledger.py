"""The export ledger: what was sent to QuickBooks, when, and what came back -- so nothing is posted twice.

Duplicate postings are the most common real failure of Web Connector integrations (a job re-run after a lost
response posts the same deposit again, qbwc/qbwc#110). The rule kept here: **once a request for an item may have
reached QuickBooks, that item is never sent again until we know whether QuickBooks stored it.**

Tables
------
``export_messages``: one row per qbXML message set we built (``message_id`` = its id in the archive
``qbxml_messages``, which keeps the XML verbatim), its purpose (``export`` or ``check``), transport, state
(``built`` -> ``sent`` -> ``answered`` | ``failed``; ``sent`` without an answer -> ``in_doubt``; never sent ->
``discarded``).

``export_ledger``: one row per (item_type, procore_id, attempt): the ``request_id`` and ``message_id`` it went
in, ``state`` (``built`` -> ``sent`` -> ``answered`` | ``in_doubt`` -> ``resolved``; ``discarded`` when the
message never left; ``refused`` when the builder refused the row), the times, ``outcome`` (``synced``,
``failed``, ``retry``, ``not_added``, ``not_processed``), QuickBooks' status, the id it gave, and the request
element itself (``request_xml``: what exactly may have reached QuickBooks).

A row may also carry a pending *check*: a query that must be answered before the item moves on --
``in_doubt`` (was the add stored?), ``duplicate`` (3100: is the record using the name ours?), ``refresh``
(3200: read the current EditSequence). ``check_state`` is ``pending`` -> ``sent`` -> ``done``.

This module holds the tables and the pure helpers (check queries, record matching); the orchestration is
``qbrecon.erp.export.ExportService``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from lxml import etree

from .. import pairs as _pairs
from ..entities import pairs_of_request
from ..qbxml.build import QUERIES
from ..qbxml.responses import RETRYABLE
from ..store import register_tables

register_tables(
    """CREATE TABLE IF NOT EXISTS export_messages (
        message_id BIGINT PRIMARY KEY,       -- the request's id in the qbXML archive (qbxml_messages)
        purpose VARCHAR NOT NULL,            -- export | check
        transport VARCHAR NOT NULL,          -- web_connector | in_process | file
        company_file VARCHAR,
        state VARCHAR NOT NULL,              -- built | sent | answered | failed | in_doubt | discarded
        request_count INTEGER NOT NULL,
        built_at TIMESTAMPTZ NOT NULL, sent_at TIMESTAMPTZ, answered_at TIMESTAMPTZ,
        hresult VARCHAR, error_message VARCHAR,
        response_message_id BIGINT)          -- the answer's id in qbxml_messages""",
    """CREATE TABLE IF NOT EXISTS export_ledger (
        item_type VARCHAR NOT NULL, procore_id BIGINT NOT NULL, attempt INTEGER NOT NULL,
        request_id VARCHAR, message_id BIGINT,
        action VARCHAR,                      -- add | mod
        request_name VARCHAR,                -- VendorAdd, PurchaseOrderMod ...
        state VARCHAR NOT NULL,              -- built | sent | answered | in_doubt | resolved | discarded | refused
        built_at TIMESTAMPTZ, sent_at TIMESTAMPTZ, answered_at TIMESTAMPTZ, resolved_at TIMESTAMPTZ,
        outcome VARCHAR,                     -- synced | failed | retry | not_added | not_processed | batch_failed
        status_code INTEGER, status_message VARCHAR, error_class VARCHAR,
        quickbooks_id VARCHAR, edit_sequence VARCHAR,
        request_xml VARCHAR,                 -- the *Rq element exactly as sent
        check_reason VARCHAR,                -- in_doubt | duplicate | refresh
        check_state VARCHAR,                 -- pending | sent | done
        check_message_id BIGINT, check_request_id VARCHAR,
        PRIMARY KEY (item_type, procore_id, attempt))""",
    """CREATE SEQUENCE IF NOT EXISTS export_log_seq START 1""",
    """CREATE TABLE IF NOT EXISTS export_log (
        log_id BIGINT PRIMARY KEY, "at" TIMESTAMPTZ NOT NULL, message_id BIGINT, level VARCHAR NOT NULL,
        event VARCHAR NOT NULL, detail VARCHAR)""",
)

# Rows whose item is "in flight": a request may be on its way, or a check must be answered first.
IN_FLIGHT_SQL = "(l.state IN ('built', 'sent', 'in_doubt') OR l.check_state IN ('pending', 'sent'))"

MAX_ATTEMPTS = 5  # sends of one item before a retryable error (3170-3180, lost connection) becomes a failure
RETRYABLE_CODES = RETRYABLE  # from the one status-code policy table (qbxml.responses.STATUS_POLICY)
CHECK_PREFIX = "check"

_NOT_ECHOED = {"LinkToTxn", "LinkToTxnID", "OverrideItemAccountRef", "DataExt", "ExternalGUID", "TxnLineID"}
_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")
_REF_MESSAGE = re.compile(r'invalid reference to QuickBooks (.+?) "(.*?)"', re.IGNORECASE)


def check_request_id(item_type: str, procore_id: int, attempt: int) -> str:
    return f"{CHECK_PREFIX}:{item_type}:{procore_id}:a{attempt}"


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def _body(request: etree._Element) -> etree._Element:
    """``<VendorAddRq><VendorAdd>...`` -> the ``VendorAdd`` element."""
    return request[0]


def lookup_full_name(body: etree._Element, parent_full_name: str | None = None) -> str | None:
    """The FullName a list Add would create (jobs: ``Customer:Job``), or None when the parent is unknown."""
    name = body.findtext("Name")
    if name is None:
        return None
    parent = body.find("ParentRef")
    if parent is None:
        return name
    parent_name = parent.findtext("FullName") or parent_full_name
    return f"{parent_name}:{name}" if parent_name else None


def check_query(
    request: etree._Element,
    request_id: str,
    reason: str,
    *,
    quickbooks_id: str | None = None,
    parent_full_name: str | None = None,
) -> etree._Element:
    """The query that tells whether ``request`` (an Add/Mod we sent) is in QuickBooks, or reads the current
    record (``refresh``), from the pair the request belongs to: its query, its id kind (ListID / TxnID), its
    lines. Built in schema order; the caller matches the answer with ``record_matches``."""
    body = _body(request)
    name = body.tag
    pair = next(iter(pairs_of_request(name)), None)  # a CCO's PurchaseOrderMod: its commitment's query
    if pair is None or pair.query_request is None:
        raise ValueError(f"no check query for {name}: no pair declares it")
    query = pair.query_request
    kind, line_items = QUERIES[query]  # every pair's query is declared there (``pairs.register``)
    el = etree.Element(query + "Rq", requestID=request_id)
    if name.endswith("Mod") or reason == "refresh":
        target = quickbooks_id or body.findtext(pair.quickbooks_id)
        _sub(el, pair.quickbooks_id, target)
    elif kind == "list":  # a list element is found by its full name (a job: "Customer:Job")
        full = lookup_full_name(body, parent_full_name)
        if full is not None:
            _sub(el, "FullName", full)
        else:  # a job under a parent known only by ListID: every customer ending in ":Name"
            _sub(el, "ActiveStatus", "All")
            nf = _sub(el, "NameFilter")
            _sub(nf, "MatchCriterion", "EndsWith")
            _sub(nf, "Name", ":" + (body.findtext("Name") or ""))
        return el
    elif body.findtext("RefNumber"):  # a transaction with a number (PO, bill, invoice): by that number
        _sub(el, "RefNumber", body.findtext("RefNumber"))
    elif name == "TimeTrackingAdd":  # time has no number: the day's entries, matched field by field
        day = body.findtext("TxnDate")
        if day:
            dr = _sub(el, "TxnDateRangeFilter")
            _sub(dr, "FromTxnDate", day)
            _sub(dr, "ToTxnDate", day)
    else:  # no number: every transaction of its vendor / customer, matched field by field
        ref = next((r for r in (body.find("VendorRef"), body.find("CustomerRef")) if r is not None), None)
        _sub(el, "EntityFilter").append(_ref_copy(ref))
    if line_items and pair.quickbooks_lines:
        _sub(el, "IncludeLineItems", "true")
    return el


def _ref_copy(ref: etree._Element | None) -> etree._Element:
    """An EntityFilter child from a VendorRef/CustomerRef: ``ListID`` or ``FullName``."""
    if ref is None:
        raise ValueError("the request has no entity reference to query by")
    if ref.findtext("ListID"):
        el = etree.Element("ListID")
        el.text = ref.findtext("ListID")
    else:
        el = etree.Element("FullName")
        el.text = ref.findtext("FullName")
    return el


# -- matching what we sent against what QuickBooks holds -----------------------------------------------------
def _norm(text: str | None) -> object:
    t = (text or "").strip()
    m = _DURATION.match(t)
    if m and t != "PT":
        return ("duration", int(m.group(1) or 0) * 60 + int(m.group(2) or 0) + int(m.group(3) or 0) // 60)
    if re.fullmatch(r"[+-]?\d+(\.\d+)?", t):
        try:
            return Decimal(t).normalize()
        except InvalidOperation:
            pass
    if t in ("true", "false"):
        return t
    return t.casefold()


def _is_line(tag: str) -> bool:
    """A transaction line element of a request (``ItemLineAdd``, ``InvoiceLineMod`` ...)."""
    return tag.endswith(("LineAdd", "LineMod"))


def _leaves(el: etree._Element, prefix: str = "") -> Iterable[tuple[str, str | None]]:
    for child in el:
        if not isinstance(child.tag, str) or child.tag in _NOT_ECHOED or _is_line(child.tag):
            continue
        path = f"{prefix}{child.tag}"
        if len(child):
            yield from _leaves(child, path + "/")
        else:
            yield path, child.text


def _fields_match(sent: etree._Element, found: etree._Element) -> bool:
    """Every leaf we sent has the same value in ``found`` (leaves QuickBooks does not echo are skipped)."""
    for path, text in _leaves(sent):
        if path in ("ListID", "TxnID", "EditSequence"):
            continue
        other = found.find(path)
        if other is None:
            if path.endswith("/ListID") or path.endswith("/FullName"):
                return False  # a reference we set that the record does not have
            continue
        if _norm(text) != _norm(other.text):
            return False
    return True


def record_matches(request: etree._Element, found: etree._Element) -> bool:
    """Is ``found`` (a ``*Ret``) the record ``request`` would have created? Header fields must agree, and every
    line we sent must appear among its lines (each found line used once). For a Mod that adds lines (a CCO),
    only the new lines (TxnLineID -1) are looked for."""
    body = _body(request)
    is_mod = body.tag.endswith("Mod")
    if not is_mod and not _fields_match(body, found):
        return False
    for line_tag in dict.fromkeys(c.tag for c in body if isinstance(c.tag, str) and _is_line(c.tag)):
        ret_tag = line_tag[:-3] + "Ret"  # PurchaseOrderLineAdd / ...LineMod -> PurchaseOrderLineRet
        sent_lines = body.findall(line_tag)
        if is_mod:
            sent_lines = [ln for ln in sent_lines if ln.findtext("TxnLineID") == "-1"]
        if not sent_lines:
            continue
        available = list(found.findall(ret_tag))
        for line in sent_lines:
            hit = next((f for f in available if _fields_match(line, f)), None)
            if hit is None:
                return False
            available.remove(hit)
    return True


def referenced_kind(status_message: str | None) -> tuple[str | None, str | None]:
    """From a 3140 message, the QuickBooks list (``Vendor``, ``Customer``, ``Item`` ...) and the name or id."""
    m = _REF_MESSAGE.search(status_message or "")
    return (m.group(1), m.group(2)) if m else (None, None)


# QuickBooks list named in a 3140 -> the item type that creates such records (each pair's ``referenced_as``)
REFERENCE_ITEM_TYPE = {kind: m.item_type for m in _pairs.registered() for kind in m.referenced_as}


__all__ = [
    "CHECK_PREFIX",
    "IN_FLIGHT_SQL",
    "MAX_ATTEMPTS",
    "REFERENCE_ITEM_TYPE",
    "RETRYABLE_CODES",
    "check_query",
    "check_request_id",
    "lookup_full_name",
    "record_matches",
    "referenced_kind",
]
