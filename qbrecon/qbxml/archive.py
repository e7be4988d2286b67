"""The qbXML message archive: every message set sent to QuickBooks and every answer, verbatim.

``qbxml_messages`` keeps the XML itself with the request ids it carries, so anyone can see exactly what was
sent and what QuickBooks answered (a response row points at its request through ``related_message_id``).
Request rows are stored ``built`` or ``sent`` (``mark_sent``); an answered request reads as its latest
answer's status, ``received`` (or ``failed`` when the Web Connector reported a whole-message failure instead of a
response), taken from the response row that points at it (``messages``): storing the answer is one row written,
not that row and an update of the request's (a statement less per message set on the Web Connector loop).
Response rows are ``received`` or ``failed``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable

import pandas as pd

from ..errors import InputError
from ..store import Store, register_tables
from .build import MessageSet

DDL = (
    "CREATE SEQUENCE IF NOT EXISTS qbxml_message_seq START 1",
    """CREATE TABLE IF NOT EXISTS qbxml_messages (
        message_id BIGINT PRIMARY KEY,
        direction VARCHAR NOT NULL CHECK (direction IN ('request', 'response')),
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ,
        request_ids VARCHAR[],
        status VARCHAR NOT NULL CHECK (status IN ('built', 'sent', 'received', 'failed')),
        company_file VARCHAR,
        ticket VARCHAR,
        qbxml_version VARCHAR,
        hresult VARCHAR,
        message VARCHAR,
        xml VARCHAR,
        related_message_id BIGINT)""",
)
register_tables(*DDL)

STATUSES = ("built", "sent", "received", "failed")


# Stores whose archive tables were found in place: the catalogue is read once per store, not three times per
# message set on the Web Connector loop. Only tables found (not just created, a transaction may still roll
# them back) count.
_READY: weakref.WeakSet = weakref.WeakSet()


def _ensure(store: Store) -> None:
    """A store opened before this module was imported has not run the DDL yet (it is idempotent)."""
    if store in _READY:
        return
    if "qbxml_messages" in store.table_names():
        _READY.add(store)
    else:
        with store.transaction() as con:
            for statement in DDL:
                con.execute(statement)


def archive_request(
    store: Store,
    message_set: MessageSet,
    *,
    status: str = "built",
    company_file: str | None = None,
    ticket: str | None = None,
) -> int:
    """Store a request message set as built (or sent); returns its message_id."""
    if status not in ("built", "sent"):
        raise InputError(f"a request is archived as built or sent, not {status!r}", field="status")
    _ensure(store)
    with store.transaction() as con:
        message_id = con.execute(  # the id from the sequence in the same statement: one round trip
            """INSERT INTO qbxml_messages (message_id, direction, created_at, updated_at, request_ids, status,
                   company_file, ticket, qbxml_version, xml)
               VALUES (nextval('qbxml_message_seq'), 'request', now(), now(), ?, ?, ?, ?, ?, ?)
               RETURNING message_id""",
            [
                list(message_set.request_ids),
                status,
                company_file,
                ticket,
                message_set.version,
                message_set.xml.decode("ascii"),
            ],
        ).fetchall()[0][0]
    return int(message_id)


def mark_sent(
    store: Store, message_id: int, *, ticket: str | None = None, company_file: str | None = None
) -> None:
    """The request went out to the Web Connector (``sendRequestXML`` returned it)."""
    _set_status(store, message_id, "sent", ticket=ticket, company_file=company_file)


def _set_status(store: Store, message_id: int, status: str, **values: str | None) -> None:
    _ensure(store)
    with store.transaction() as con:
        changed = con.execute(
            """UPDATE qbxml_messages SET status = ?, updated_at = now(), ticket = coalesce(?, ticket),
                   company_file = coalesce(?, company_file) WHERE message_id = ? RETURNING 1""",
            [status, values.get("ticket"), values.get("company_file"), message_id],
        ).fetchall()
        if not changed:  # nothing was written: the transaction has nothing to undo
            raise InputError(f"no archived qbXML message {message_id}", field="message_id")


def archive_response(
    store: Store,
    xml: bytes | str | None,
    request_message_id: int | None,
    *,
    request_ids: Iterable[str] | None = None,
    hresult: str | None = None,
    message: str | None = None,
    company_file: str | None = None,
    ticket: str | None = None,
) -> int:
    """Store QuickBooks' answer to an archived request (or the HRESULT when the whole message failed) and move
    the request to ``received``/``failed``; returns the response's message_id. One transaction."""
    text = xml.decode("utf-8", "replace") if isinstance(xml, bytes) else (xml or "")
    status = "received" if text.strip() else "failed"
    if status == "failed" and not (hresult or message):
        raise InputError(
            "an empty response needs the HRESULT or message the Web Connector reported", field="hresult"
        )
    _ensure(store)
    with store.transaction() as con:
        ids = list(request_ids) if request_ids is not None else None
        if request_message_id is None:
            source, where, params = (
                "(SELECT NULL::VARCHAR[] AS request_ids, NULL::BIGINT AS message_id)",
                "",
                [],
            )
        else:  # the request must be archived; its request ids come with it (the answer is its one row written)
            source = "qbxml_messages"
            where, params = "WHERE q.message_id = ? AND q.direction = 'request'", [request_message_id]
        rows = con.execute(
            f"""INSERT INTO qbxml_messages (message_id, direction, created_at, updated_at, request_ids, status,
                   company_file, ticket, hresult, message, xml, related_message_id)
               SELECT nextval('qbxml_message_seq'), 'response', now(), now(), coalesce(?::VARCHAR[], q.request_ids),
                      ?, ?, ?, ?, ?, ?, q.message_id
               FROM {source} q {where}
               RETURNING message_id""",
            [ids, status, company_file, ticket, hresult, message, text or None, *params],
        ).fetchall()
        if not rows:  # nothing was written
            raise InputError(f"no archived qbXML request {request_message_id}", field="request_message_id")
    return int(rows[0][0])


def messages(store: Store, *, request_id: str | None = None, direction: str | None = None) -> pd.DataFrame:
    """Archived messages, newest first, without the XML (see ``message_xml``); filter by a request id."""
    _ensure(store)
    where, params = [], []
    if request_id is not None:
        where.append("list_contains(m.request_ids, ?)")
        params.append(request_id)
    if direction is not None:
        where.append("m.direction = ?")
        params.append(direction)
    # an answered request reads as its latest answer's status (the answer is not written to the request's row)
    sql = (
        "SELECT m.message_id, m.direction, m.created_at, coalesce(a.updated_at, m.updated_at) AS updated_at, "
        "m.request_ids, coalesce(a.status, m.status) AS status, m.company_file, m.ticket, m.qbxml_version, "
        "m.hresult, m.message, m.related_message_id, length(m.xml) AS xml_length FROM qbxml_messages m "
        "LEFT JOIN (SELECT related_message_id, arg_max(status, message_id) AS status, max(updated_at) AS updated_at "
        "FROM qbxml_messages WHERE direction = 'response' GROUP BY 1) a "
        "ON m.direction = 'request' AND a.related_message_id = m.message_id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY m.message_id DESC"
    )
    return store.frame(sql, params)


def message_xml(store: Store, message_id: int) -> str | None:
    """The XML exactly as sent or received."""
    _ensure(store)
    rows = store.execute("SELECT xml FROM qbxml_messages WHERE message_id = ?", [message_id]).fetchall()
    if not rows:
        raise InputError(f"no archived qbXML message {message_id}", field="message_id")
    return rows[0][0]


__all__ = ["STATUSES", "archive_request", "archive_response", "mark_sent", "message_xml", "messages"]
