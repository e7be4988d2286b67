"""Web Connector sessions (tickets) kept in the workspace store, keyed by ticket.

Nothing about a session lives in process memory: a server restart between sendRequestXML and receiveResponseXML
finds the ticket, its company file and its in-flight message where it left them. (The qbwc Ruby gem kept the
session on the class and concurrent users clobbered each other, qbwc/qbwc#22, #81.)

Rules kept here:
- tickets are random (``secrets.token_urlsafe``), expire after ``ttl`` seconds without a call, and are bound to
  one company file;
- at most one live session per workspace, i.e. per company file (``live``); the service tells a second one it is
  busy;
- every message a session sends is recorded in ``qbwc_session_messages`` with its ticket and company file, so a
  response can only ever be applied to the message its own ticket has in flight.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass

from ..store import Store, register_tables

register_tables(
    """CREATE TABLE IF NOT EXISTS qbwc_sessions (
        ticket VARCHAR PRIMARY KEY,
        user_name VARCHAR NOT NULL,
        company_file VARCHAR NOT NULL,       -- the file the session is bound to ('' = the one open in QuickBooks)
        status VARCHAR NOT NULL,             -- open | closed | expired | failed | superseded
        remote_addr VARCHAR,
        client_version VARCHAR,              -- the Web Connector's version (clientVersion)
        qbxml_version VARCHAR,               -- highest qbXML version the QuickBooks side reported
        created_at TIMESTAMPTZ NOT NULL,
        last_seen_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        closed_at TIMESTAMPTZ,
        in_flight_message_id BIGINT,         -- sent by sendRequestXML, no response applied yet
        in_flight_request_ids VARCHAR,       -- JSON list of requestIDs of that message
        messages_sent INTEGER NOT NULL DEFAULT 0,
        messages_applied INTEGER NOT NULL DEFAULT 0,
        items_total INTEGER NOT NULL DEFAULT 0,   -- items queued when the session began (for percent done)
        items_done INTEGER NOT NULL DEFAULT 0,
        last_error VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS qbwc_session_messages (
        message_id BIGINT PRIMARY KEY,       -- the export ledger's message id
        ticket VARCHAR NOT NULL,
        company_file VARCHAR NOT NULL,
        request_ids VARCHAR NOT NULL,        -- JSON list of the requestIDs in the message
        sent_at TIMESTAMPTZ NOT NULL,
        answered_at TIMESTAMPTZ,
        outcome VARCHAR)                     -- applied | failed | refused | abandoned (NULL while in flight)""",
)

_COLUMNS = (
    "ticket, user_name, company_file, status, remote_addr, client_version, qbxml_version, epoch(created_at), "
    "epoch(last_seen_at), epoch(expires_at), in_flight_message_id, in_flight_request_ids, messages_sent, "
    "messages_applied, items_total, items_done, last_error"
)


@dataclass(frozen=True)
class SentMessage:
    message_id: int
    ticket: str
    company_file: str
    request_ids: list[str]
    outcome: str | None


@dataclass
class QbwcSession:
    ticket: str
    user_name: str
    company_file: str
    status: str
    remote_addr: str | None
    client_version: str | None
    qbxml_version: str | None
    created_at: float
    last_seen_at: float
    expires_at: float
    in_flight_message_id: int | None
    in_flight_request_ids: list[str]
    messages_sent: int
    messages_applied: int
    items_total: int
    items_done: int
    last_error: str | None
    secret: str | None = None  # the ticket itself: known only to ``open``'s caller (the store keeps its hash)

    @property
    def live(self) -> bool:
        return self.status == "open" and self.expires_at > time.time()

    @classmethod
    def _from_row(cls, row: tuple) -> QbwcSession:
        values = list(row)
        values[11] = json.loads(values[11]) if values[11] else []
        return cls(*values)


def ticket_key(ticket: str) -> str:
    """What the store keeps of a ticket: its SHA-256 (a ticket is a bearer secret, like a password)."""
    return "sha256:" + hashlib.sha256(str(ticket).encode("utf-8", "surrogatepass")).hexdigest()


class SessionStore:
    """Tickets and sessions in the workspace's ``qbwc_sessions`` table. ``ttl`` = seconds a ticket stays valid
    after its last call."""

    def __init__(self, store: Store, ttl: float = 900.0):
        self.store, self.ttl = store, float(ttl)

    def open(
        self,
        user_name: str,
        company_file: str,
        items_total: int,
        remote_addr: str | None = None,
        client_version: str | None = None,
    ) -> QbwcSession:
        """A new session with a fresh random ticket (URL-safe, 256 bits), returned as ``.secret``; the store keeps
        only its hash (``.ticket``), so a copy of the workspace holds no live ticket."""
        secret = secrets.token_urlsafe(32)
        ticket = ticket_key(secret)
        now = time.time()
        self.store.execute(
            "INSERT INTO qbwc_sessions (ticket, user_name, company_file, status, remote_addr, client_version, "
            "created_at, last_seen_at, expires_at, items_total) "
            "VALUES (?, ?, ?, 'open', ?, ?, to_timestamp(?), to_timestamp(?), to_timestamp(?), ?)",
            [
                ticket,
                user_name,
                company_file,
                remote_addr,
                client_version,
                now,
                now,
                now + self.ttl,
                int(items_total),
            ],
        )
        session = self.by_key(ticket)
        session.secret = secret  # type: ignore[union-attr]
        return session  # type: ignore[return-value]

    def get(self, ticket: str | None) -> QbwcSession | None:
        """The session of a ticket as the Web Connector sends it (hashed here to find it)."""
        if not ticket:
            return None
        return self.by_key(ticket_key(ticket))

    def by_key(self, key: str) -> QbwcSession | None:
        """The session by its stored key (``QbwcSession.ticket``, the ticket's hash)."""
        rows = self.store.execute(
            f"SELECT {_COLUMNS} FROM qbwc_sessions WHERE ticket = ?", [key]
        ).fetchall()  # read to the end: a half-read result would block the connection's next register
        return QbwcSession._from_row(rows[0]) if rows else None

    def live(self) -> QbwcSession | None:
        """The live session of this workspace, if any. A workspace exports to one QuickBooks company file, so one
        live session per workspace is exactly "one connection per company file"; a second is told it is busy."""
        rows = self.store.execute(
            f"SELECT {_COLUMNS} FROM qbwc_sessions WHERE status = 'open' AND expires_at > to_timestamp(?) "
            "ORDER BY last_seen_at DESC LIMIT 1",
            [time.time()],
        ).fetchall()
        return QbwcSession._from_row(rows[0]) if rows else None

    def touch(self, ticket: str, **fields: object) -> None:
        """Record a call: extend the ticket and set any of the simple columns given."""
        allowed = {"company_file", "qbxml_version", "client_version", "last_error", "items_total"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"cannot set {sorted(bad)} through touch()")
        now = time.time()
        sets = ["last_seen_at = to_timestamp(?)", "expires_at = to_timestamp(?)"]
        params: list = [now, now + self.ttl]
        for name, value in fields.items():
            sets.append(f"{name} = ?")
            params.append(value)
        self.store.execute(f"UPDATE qbwc_sessions SET {', '.join(sets)} WHERE ticket = ?", [*params, ticket])

    def record_sent(self, ticket: str, company_file: str, message_id: int, request_ids: list[str]) -> None:
        """The message is now in flight for this ticket (call inside the transaction that marks it sent)."""
        now = time.time()
        with self.store.transaction() as con:
            con.execute(
                "INSERT INTO qbwc_session_messages (message_id, ticket, company_file, request_ids, sent_at) "
                "VALUES (?, ?, ?, ?, to_timestamp(?))",
                [message_id, ticket, company_file, json.dumps(list(request_ids)), now],
            )
            con.execute(
                "UPDATE qbwc_sessions SET in_flight_message_id = ?, in_flight_request_ids = ?, "
                "messages_sent = messages_sent + 1, last_seen_at = to_timestamp(?), expires_at = to_timestamp(?) "
                "WHERE ticket = ?",
                [message_id, json.dumps(list(request_ids)), now, now + self.ttl, ticket],
            )

    def record_answer(self, ticket: str, message_id: int, outcome: str, items_done: int = 0) -> None:
        """A message got its answer (``applied`` / ``failed``)."""
        now = time.time()
        with self.store.transaction() as con:
            con.execute(
                "UPDATE qbwc_session_messages SET answered_at = to_timestamp(?), outcome = ? WHERE message_id = ?",
                [now, outcome, message_id],
            )
            applied = 1 if outcome == "applied" else 0
            con.execute(
                "UPDATE qbwc_sessions SET in_flight_message_id = CASE WHEN in_flight_message_id = ? THEN NULL "
                "ELSE in_flight_message_id END, in_flight_request_ids = CASE WHEN in_flight_message_id = ? THEN NULL "
                "ELSE in_flight_request_ids END, messages_applied = messages_applied + ?, items_done = items_done + ?, "
                "last_seen_at = to_timestamp(?), expires_at = to_timestamp(?) WHERE ticket = ?",
                [message_id, message_id, applied, int(items_done), now, now + self.ttl, ticket],
            )

    def messages(self, ticket: str, unanswered_only: bool = True) -> list[SentMessage]:
        """Messages this ticket sent (newest first); by default only those still without an answer."""
        where = " AND outcome IS NULL" if unanswered_only else ""
        rows = self.store.execute(
            "SELECT message_id, ticket, company_file, request_ids, outcome FROM qbwc_session_messages "
            f"WHERE ticket = ?{where} ORDER BY sent_at DESC, message_id DESC",
            [ticket],
        ).fetchall()
        return [SentMessage(int(r[0]), r[1], r[2], json.loads(r[3]), r[4]) for r in rows]

    def message_with_request(self, request_id: str) -> SentMessage | None:
        """The (newest) message that carried this requestID, whichever session sent it."""
        rows = self.store.execute(
            "SELECT message_id, ticket, company_file, request_ids, outcome FROM qbwc_session_messages "
            "WHERE list_contains(CAST(json_extract_string(request_ids, '$[*]') AS VARCHAR[]), ?) "
            "ORDER BY sent_at DESC LIMIT 1",
            [request_id],
        ).fetchall()
        if not rows:
            return None
        row = rows[0]
        return SentMessage(int(row[0]), row[1], row[2], json.loads(row[3]), row[4])

    def close(self, ticket: str, status: str = "closed", last_error: str | None = None) -> QbwcSession | None:
        """End a session. Messages still without an answer are marked ``abandoned``: their outcome in QuickBooks
        is unknown, and the export ledger (which still holds them as sent) decides how to settle them."""
        now = time.time()
        with self.store.transaction() as con:
            session = self.by_key(ticket)
            if session is None:
                return None
            con.execute(
                "UPDATE qbwc_session_messages SET outcome = 'abandoned' WHERE ticket = ? AND outcome IS NULL",
                [ticket],
            )
            con.execute(
                "UPDATE qbwc_sessions SET status = ?, closed_at = to_timestamp(?), in_flight_message_id = NULL, "
                "in_flight_request_ids = NULL, last_error = coalesce(?, last_error) WHERE ticket = ? AND status = 'open'",
                [status, now, last_error, ticket],
            )
        return session

    def expire_stale(self) -> list[QbwcSession]:
        """Mark open sessions past their expiry as expired; returns them (with what they had in flight)."""
        now = time.time()
        stale_sql = (
            f"SELECT {_COLUMNS} FROM qbwc_sessions WHERE status = 'open' AND expires_at <= to_timestamp(?)"
        )
        if not self.store.execute(stale_sql, [now]).fetchall():
            return []  # the usual case, answered by a read without the write lock
        with self.store.transaction() as con:
            rows = con.execute(stale_sql, [now]).fetchall()
            stale = [QbwcSession._from_row(r) for r in rows]
            for s in stale:
                self.close(s.ticket, status="expired", last_error="ticket expired without closeConnection")
        return stale

    def abandoned_messages(self) -> list[int]:
        """Messages sent by sessions that ended without their response (outcome unknown in QuickBooks)."""
        return [
            int(r[0])
            for r in self.store.execute(
                "SELECT message_id FROM qbwc_session_messages WHERE outcome = 'abandoned' ORDER BY message_id"
            ).fetchall()
        ]


class ConnectionService:
    """``ws.connection_status()`` and ``ws.qbwc_sessions()`` (``ws.web_connector``) for the library, the CLI and
    the dashboard: what the settings and the session table say about the Web Connector right now."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def connection_status(self) -> dict:
        """Connection fields from the settings plus what the session table knows right now."""
        from ..erp.settings import read_settings

        values = read_settings(self.store)
        live = SessionStore(self.store).live()
        return {
            "connection_status": values.get("connection_status"),
            "connected": values.get("connection_status") == "connected",
            "last_contact": values.get("last_contact"),
            "last_error": values.get("last_error"),
            "session_open": live is not None,
            "session_user": live.user_name if live else None,
            "company_file": live.company_file if live else None,
        }

    def qbwc_sessions(self, limit: int = 100):
        """The latest Web Connector sessions (newest first) as a frame."""
        return self.store.frame(
            "SELECT ticket[8:15] || '…' AS ticket, user_name, company_file, status, remote_addr, created_at, "
            "last_seen_at, closed_at, messages_sent, messages_applied, items_done, last_error "
            f"FROM qbwc_sessions ORDER BY created_at DESC LIMIT {int(limit)}"
        )
