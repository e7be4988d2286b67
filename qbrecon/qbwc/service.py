"""The Web Connector protocol, independent of HTTP: one method per SOAP operation.

The export ledger (``qbrecon.erp``) decides *what* to send and what a response means; this module only runs the
conversation the Web Connector expects and keeps each session's state in the store (``sessions.py``):

    serverVersion -> clientVersion -> authenticate -> (sendRequestXML -> receiveResponseXML)* -> closeConnection
                                                       getLastError after a negative result / an empty request
                                                       connectionError when QuickBooks could not be opened

The work itself is a list of *jobs* (``qbrecon.erp.jobs.WebConnectorJob``: pending, next request set, apply a
response, fail), as the qbwc gem splits session / job / worker: the export (accepted items, through the export
ledger), then the QuickBooks refresh (queued queries with iterators and modified-date filters). sendRequestXML
asks each job in turn for its next message set, receiveResponseXML hands an answer to the job that sent the
message, and percent done counts what every job has pending. The service names no job.

Guarantees:
- a message is recorded as sent (ledger + session) before its qbXML leaves the process, in one transaction;
- a response is applied only to an unanswered message of the *same* ticket, matched by its requestIDs; a response
  naming another session's message is refused, a second response for an answered message is ignored;
- whole-message failures (``hresult`` set, e.g. 0x80040400) go to the ledger with the message id, so it still
  knows which items the batch held; the service returns -1 so the Web Connector asks getLastError;
- unknown or expired tickets get protocol values ("", -1, "done"), never an exception.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from ..erp import settings as erp_settings
from ..erp.jobs import WebConnectorJob, web_connector_jobs
from ..erp.preferences import PreferencesService
from ..errors import InputError, QbreconError
from ..lockout import LoginThrottle
from ..qbxml.responses import ResponseDocument
from .sessions import QbwcSession, SessionStore
from .soap import SoapCall

log = logging.getLogger(__name__)

SERVER_VERSION = "qbrecon Web Connector service 1.0"
QBXML_VERSION = (13, 0)  # what the export builders write in <?qbxml version?>


# Service settings join the ERP settings registry (Connection Settings), so the settings CLI and the
# dashboard's settings page show and validate them like every other setting.
for _s in [
    erp_settings.Setting(
        "qbwc_company_file",
        "text",
        None,
        label="Company file QuickBooks should open (empty: the file open in QuickBooks)",
    ),
    erp_settings.Setting(
        "qbwc_ticket_ttl_seconds", "int", 1800, label="Web Connector ticket lifetime (seconds)"
    ),
    erp_settings.Setting("qbwc_max_requests_per_message", "int", 100, label="Requests per qbXML message set"),
    erp_settings.Setting(
        "qbwc_max_messages_per_session", "int", 1000, label="Message sets per Web Connector session"
    ),
    erp_settings.Setting(
        "qbwc_max_body_bytes", "int", 50 * 1024 * 1024, label="Largest SOAP request (bytes)"
    ),
    erp_settings.Setting(
        "qbwc_min_client_version", "text", None, label="Oldest Web Connector version accepted"
    ),
    erp_settings.Setting(
        "qbwc_refresh_max_returned", "int", 500, label="Records per QuickBooks refresh page (MaxReturned)"
    ),
    erp_settings.Setting(
        "qbwc_body_timeout_seconds", "int", 60, label="Seconds a client may take to send one SOAP request"
    ),
    erp_settings.Setting(
        "qbwc_max_calls_per_client", "int", 4, label="SOAP calls one address may have in progress at once"
    ),
    erp_settings.Setting(
        "qbwc_public_url",
        "text",
        None,
        label="Web Connector URL as clients reach it, e.g. behind an HTTPS proxy (empty: the address served on)",
    ),
]:
    erp_settings.SETTINGS.setdefault(_s.name, _s)


@dataclass
class ServiceConfig:
    """Service settings (workspace settings ``qbwc_*``; the defaults suit one QuickBooks company file)."""

    company_file: str = ""  # path QuickBooks should open; "" = the file open in QuickBooks
    ticket_ttl: float = 1800.0  # seconds a ticket stays valid after its last call
    max_requests: int = 100  # *Rq per message set (tens to low hundreds keep QBWC within its time-outs)
    max_messages_per_session: int = 1000  # then report 100 % and let the next scheduled run continue
    max_body_bytes: int = 50 * 1024 * 1024
    min_client_version: str = ""  # e.g. "2.1.0.30": older Web Connectors get an "E:" answer
    refresh_max_returned: int = 500  # MaxReturned of a refresh page (iterator page size)
    body_timeout: float = 60.0  # seconds to receive one request (headers + body); slower clients are cut off
    max_calls_per_client: int = 4  # SOAP calls in progress per remote address; more are refused at once (503)
    public_url: str = (
        ""  # the WSDL's soap:address; "" = the address the server is bound to (never the Host header)
    )

    SETTINGS: ClassVar[dict[str, str]] = {
        "company_file": "qbwc_company_file",
        "ticket_ttl": "qbwc_ticket_ttl_seconds",
        "max_requests": "qbwc_max_requests_per_message",
        "max_messages_per_session": "qbwc_max_messages_per_session",
        "max_body_bytes": "qbwc_max_body_bytes",
        "min_client_version": "qbwc_min_client_version",
        "refresh_max_returned": "qbwc_refresh_max_returned",
        "body_timeout": "qbwc_body_timeout_seconds",
        "max_calls_per_client": "qbwc_max_calls_per_client",
        "public_url": "qbwc_public_url",
    }

    @classmethod
    def from_workspace(cls, ws: Any, **overrides: Any) -> ServiceConfig:
        """Defaults, overridden by the workspace's settings, overridden by non-None arguments."""
        cfg = cls()
        values = erp_settings.read_settings(ws.store)
        for attr, key in cls.SETTINGS.items():
            value = values.get(key)
            if value not in (None, ""):
                setattr(cfg, attr, type(getattr(cfg, attr))(value))
        for attr, value in overrides.items():
            if value is not None:
                setattr(cfg, attr, value)
        return cfg


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for p in (text or "").strip().split("."):
        if not p.isdigit():
            break
        parts.append(int(p))
    return tuple(parts)


def read_response_document(response_xml: str | bytes | ResponseDocument) -> ResponseDocument | None:
    """The response parsed once (the ledger applies this same tree), or None when it is not readable XML."""
    try:
        return ResponseDocument.read(response_xml, name="qbXML response")
    except InputError:
        return None


def response_request_ids(response_xml: str | bytes | ResponseDocument) -> list[str] | None:
    """The requestIDs of the ``*Rs`` in a qbXML response, or None when it is not readable qbXML."""
    doc = read_response_document(response_xml)
    return doc.request_ids() if doc is not None else None


class QBWCService:
    """The Web Connector conversation for one workspace. Thread-safe: every step that reads and then writes
    session state runs inside one store transaction (the store's lock serialises the process's threads)."""

    def __init__(
        self, ws: Any, config: ServiceConfig | None = None, jobs: Iterable[WebConnectorJob] | None = None
    ):
        self.ws = ws
        self.config = config or ServiceConfig.from_workspace(ws)
        self.sessions = SessionStore(ws.store, ttl=self.config.ticket_ttl)
        # the service account, the connection status and the company's preferences: store-only services over the
        # workspace's store (the protocol tests' stand-in ledger has a store and the export methods, no more)
        self.settings = erp_settings.SettingsService(ws.store)
        self.preferences = PreferencesService(ws.store)
        # the work of a session, in the order it runs: export, then refresh (``erp.jobs``)
        self.jobs: list[WebConnectorJob] = (
            list(jobs)
            if jobs is not None
            else web_connector_jobs(
                ws.export_service,
                ws.refresh_service,
                max_requests=self.config.max_requests,
                refresh_max_returned=self.config.refresh_max_returned,
            )
        )

    # -- dispatch ---------------------------------------------------------------------------------------------
    def handle(self, call: SoapCall, remote_addr: str | None = None) -> str | int | list[str]:
        p = call.params
        op = call.operation
        if op == "serverVersion":
            return self.server_version()
        if op == "clientVersion":
            return self.client_version(p.get("strVersion") or "")
        if op == "authenticate":
            return self.authenticate(p.get("strUserName") or "", p.get("strPassword") or "", remote_addr)
        if op == "sendRequestXML":
            return self.send_request_xml(
                p.get("ticket") or "",
                p.get("strHCPResponse") or "",
                p.get("strCompanyFileName") or "",
                p.get("qbXMLCountry") or "",
                p.get("qbXMLMajorVers") or 0,
                p.get("qbXMLMinorVers") or 0,
            )
        if op == "receiveResponseXML":
            return self.receive_response_xml(
                p.get("ticket") or "", p.get("response") or "", p.get("hresult") or "", p.get("message") or ""
            )
        if op == "connectionError":
            return self.connection_error(
                p.get("ticket") or "", p.get("hresult") or "", p.get("message") or ""
            )
        if op == "getLastError":
            return self.get_last_error(p.get("ticket") or "")
        if op == "closeConnection":
            return self.close_connection(p.get("ticket") or "")
        raise ValueError(f"unknown operation {op}")  # soap.parse_call only lets known operations through

    # -- connection status (settings) ---------------------------------------------------------------------------
    def _status(self, ok: bool, error: str | None = None) -> None:
        """Record the contact in the settings' connection fields (read by library, CLI and dashboard)."""
        try:
            self.settings.record_service_contact(ok, error)
        except Exception:  # status bookkeeping must never break the conversation
            log.exception("could not record Web Connector connection status")

    def _status_if_changed(self, ok: bool, error: str | None, values: dict | None = None) -> None:
        """``_status`` unless the settings already say exactly that (repeated logins write nothing)."""
        values = values if values is not None else erp_settings.read_settings(self.ws.store)
        if values.get("last_error") != error or values.get("connection_status") != (
            "connected" if ok else "not_connected"
        ):
            self._status(ok, error)

    # -- operations ---------------------------------------------------------------------------------------------
    def server_version(self) -> str:
        return SERVER_VERSION

    def client_version(self, version: str) -> str:
        """ "" = proceed; "E:..." = the Web Connector is too old (the user must update it)."""
        minimum = _version_tuple(self.config.min_client_version)
        if minimum and _version_tuple(version) < minimum:
            return f"E:This service needs QuickBooks Web Connector {self.config.min_client_version} or later."
        return ""

    def authenticate(self, user: str, password: str, remote_addr: str | None = None) -> list[str]:
        """[ticket, "" | company file | "none" | "nvu" | "busy", (seconds to wait)].

        A second connection while a session is live is told "busy" with the seconds until that ticket expires,
        unless it comes from the same user and address (then the earlier session is dead and is superseded).
        """
        throwaway = secrets.token_urlsafe(32)  # QBWC echoes it; it is never stored, so it opens nothing
        throttle = LoginThrottle.of(self.ws.store)
        if throttle.locked("qbwc", user, remote_addr):
            log.debug("Web Connector login from %s refused: locked out after repeated failures", remote_addr)
            return ["", "nvu"]  # the password is not even checked while locked out
        self.expire_stale()
        ok = throttle.attempt(
            "qbwc",
            user,
            remote_addr,
            lambda: self.settings.check_service_password(user, password),
        )
        if not ok:
            log.info("Web Connector login refused for user %r from %s", user[:64], remote_addr)
            values = erp_settings.read_settings(self.ws.store)
            why = (
                "no service user is set (qbrecon service-user set)"
                if not values.get("service_user")
                else "wrong user name or password"
            )
            self._status_if_changed(
                False, f"Web Connector login refused: {why}", values
            )  # once, not per guess
            return ["", "nvu"]
        live = self.sessions.live()  # a read: a busy answer needs no write transaction
        if live is not None and not (live.user_name == user and live.remote_addr == remote_addr):
            wait = max(1, math.ceil(live.expires_at - time.time()))
            self._status_if_changed(
                True, "a second Web Connector connection was told to come back later (busy)"
            )
            return [throwaway, "busy", str(wait)]
        with self.ws.store.transaction():
            live = self.sessions.live()
            if live is not None and live.user_name == user and live.remote_addr == remote_addr:
                # One Web Connector never runs two sessions of an application at once: a new login from the same
                # user and machine means the previous session died (crash, restart). End it; whatever it left
                # unanswered becomes 'abandoned' for the export ledger to settle.
                self.sessions.close(live.ticket, status="superseded", last_error="superseded by a new login")
                live = None
            if live is not None:
                wait = max(1, math.ceil(live.expires_at - time.time()))
                self._status(True, "a second Web Connector connection was told to come back later (busy)")
                return [throwaway, "busy", str(wait)]
            pending = self._pending()
            if pending == 0:
                self._status(True, None)
                return [throwaway, "none"]
            session = self.sessions.open(user, self.config.company_file, pending, remote_addr)
        self._status(True, None)
        return [session.secret or "", self.config.company_file]  # the ticket itself; the store keeps its hash

    def send_request_xml(
        self, ticket: str, hcp_response: str, company_file: str, country: str, major: int, minor: int
    ) -> str:
        """The next message set of accepted items, recorded as sent first; "" when there is nothing (or an error
        the Web Connector then fetches with getLastError).

        A ``QbreconError`` while the batch is built (e.g. ``SettingMissing``: no retainage item or service item
        account) answers "" and the Web Connector shows the explanation from getLastError, instead of a SOAP fault.
        It is caught here, outside the transaction that ran ``next_export_batch``: that transaction has rolled
        back (``store.transaction()`` nests by joining the outer one, without savepoints, so catching inside it
        would commit whatever the failed step had half-written); the error is then recorded in a fresh one.
        """
        try:
            return self._next_request(ticket, company_file, major, minor, country, hcp_response)
        except QbreconError as exc:
            text = f"Nothing was sent to QuickBooks: {exc}"
            log.warning("sendRequestXML refused: %s", text)
            with self.ws.store.transaction():
                session = self._session(ticket)
                if session is None:
                    return ""
                self._set_error(session, text)
            self._status(True, text)
            return ""

    def _next_request(
        self,
        ticket: str,
        company_file: str,
        major: int,
        minor: int,
        country: str = "",
        hcp_response: str = "",
    ) -> str:
        """sendRequestXML's work in one transaction: the batch is built and recorded as sent, or nothing is."""
        with self.ws.store.transaction():
            session = self._session(ticket)
            if session is None:
                return ""
            self.settings.record_quickbooks_country(country)  # for US-only features
            self.preferences.record_host_response(hcp_response)  # the company's preferences
            if major and (int(major), int(minor)) < QBXML_VERSION:
                return self._refuse(
                    session,
                    f"QuickBooks supports qbXML up to {major}.{minor}; qbrecon writes qbXML "
                    f"{QBXML_VERSION[0]}.{QBXML_VERSION[1]} (QuickBooks 2014 or later).",
                )
            bound = self._bind_company_file(session, company_file)
            if bound is None:
                return ""
            if session.messages_sent >= self.config.max_messages_per_session:
                return self._refuse(session, "message limit for one session reached; the next run continues")
            # each job in turn (exports first: a refresh then reads what they wrote); the batch comes back
            # already recorded as sent to this session's ticket
            batch = None
            for job in self.jobs:
                batch = job.next_request(ticket=session.ticket, company_file=bound or None)
                if batch is not None:
                    break
            if batch is None:
                return self._refuse(session, "No requests are waiting to be sent.")
            self.sessions.record_sent(session.ticket, bound, int(batch.message_id), list(batch.request_ids))
            if major:
                self.sessions.touch(session.ticket, qbxml_version=f"{major}.{minor}")
        xml = batch.xml
        return xml.decode("utf-8") if isinstance(xml, bytes) else str(xml)

    def receive_response_xml(self, ticket: str, response: str, hresult: str, message: str) -> int:
        """Apply QuickBooks' answer. 0..99 = percent done (ask again), 100 = finished, -1 = error (getLastError)."""
        with self.ws.store.transaction():
            session = self._session(ticket)
            if session is None:
                return -1
            unanswered = self.sessions.messages(session.ticket)
            if hresult and not unanswered:
                self._set_error(
                    session, f"QuickBooks reported {hresult} ({message}) with no request in flight."
                )
                return -1
            if hresult:
                # Whole-message failure: QuickBooks processed none of it. The job keeps the item list.
                target = unanswered[0]
                job = self._job_of(target.message_id)
                if job is None:
                    return self._no_job(session, target.message_id)
                job.fail(target.message_id, hresult, message)
                self.sessions.record_answer(session.ticket, target.message_id, "failed")
                self._set_error(
                    session,
                    f"QuickBooks could not process message {target.message_id} ({hresult}): {message}",
                )
                self._status(True, f"QuickBooks could not process a message ({hresult}): {message}")
                return -1
            doc = read_response_document(response)
            ids = doc.request_ids() if doc is not None else None
            if ids is None:
                self._set_error(
                    session, "The response is not a readable qbXML response; nothing was applied."
                )
                return -1
            target = self._match(unanswered, ids)
            if target is None:
                other = next((m for i in ids if (m := self.sessions.message_with_request(i))), None)
                if other is not None and other.ticket != session.ticket:
                    why = "it answers a message sent to another Web Connector session"
                elif other is not None and other.outcome is not None:
                    why = f"message {other.message_id} was already answered ({other.outcome})"
                else:
                    why = "its requestIDs match no request this session has in flight"
                self._set_error(session, f"Response refused: {why}; nothing was applied.")
                return -1
            job = self._job_of(target.message_id)
            if job is None:
                return self._no_job(session, target.message_id)
            job.apply_response(target.message_id, doc)  # the tree parsed above: each response parsed once
            self.sessions.record_answer(session.ticket, target.message_id, "applied", len(target.request_ids))
            session = self.sessions.by_key(session.ticket)
            remaining = self._pending()
        if remaining == 0 or session.messages_sent >= self.config.max_messages_per_session:
            return 100
        done = session.items_done
        return max(0, min(99, int(100 * done / max(1, done + remaining))))

    def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        """The Web Connector could not open QuickBooks: record why, end the session ("done")."""
        # Only the holder of a live ticket may record anything: without this check anyone who can reach /qbwc
        # could write the connection's last error (shown to every signed-in user) with no login at all.
        with self.ws.store.transaction():
            session = self._session(ticket)
            if session is None:
                log.info("connectionError with an unknown or ended ticket ignored")
                return "done"
            text = f"QuickBooks could not be opened ({hresult}): {message}"
            self.sessions.close(session.ticket, status="failed", last_error=text)
        self._status(False, text)
        return "done"

    def get_last_error(self, ticket: str) -> str:
        session = self.sessions.get(ticket)
        if session is None:
            return "Unknown session ticket; the Web Connector will start a new session on its next run."
        if session.status == "expired":
            return "This session expired; the Web Connector will start a new one on its next run."
        # Never the literal "NoOp": QBWC would take it as "ask again in 5 seconds".
        return session.last_error or "No error."

    def close_connection(self, ticket: str) -> str:
        with self.ws.store.transaction():
            session = self.sessions.get(ticket)
            if session is None or session.status != "open":  # an ended ticket must not touch the status again
                return "Session unknown or already closed."
            session = self.sessions.close(session.ticket)
        if session is None:
            return "Session unknown or already closed."
        self._status(True, session.last_error)
        return f"OK: {session.items_done} item(s) answered in {session.messages_applied} message set(s)" + (
            f"; last error: {session.last_error}" if session.last_error else ""
        )

    # -- helpers ------------------------------------------------------------------------------------------------
    def expire_stale(self) -> list[QbwcSession]:
        """End sessions whose ticket expired (their unanswered messages become 'abandoned')."""
        return self.sessions.expire_stale()

    def _session(self, ticket: str) -> QbwcSession | None:
        session = self.sessions.get(ticket)
        if session is None or session.status != "open":
            return None
        if not session.live:
            self.sessions.close(session.ticket, status="expired", last_error="ticket expired")
            return None
        return session

    def _set_error(self, session: QbwcSession, text: str) -> None:
        log.warning("Web Connector session %s: %s", session.ticket[:8], text)
        self.sessions.touch(session.ticket, last_error=text)

    def _refuse(self, session: QbwcSession, text: str) -> str:
        self._set_error(session, text)
        return ""

    def _bind_company_file(self, session: QbwcSession, reported: str) -> str | None:
        """The company file this session sends to. The workspace exports to one file: the configured one, or the
        first one a session reported (recorded then); a different file is refused so data never mixes."""
        con = self.ws.store
        stored = con.scalar("SELECT value FROM qbrecon_meta WHERE key = 'qbwc.bound_company_file'")
        bound = self.config.company_file or (stored or "")
        reported = (reported or "").strip()
        if bound and reported and bound.lower() != reported.lower():
            self._refuse(
                session,
                f"QuickBooks has {reported!r} open, but this workspace exports to {bound!r}. Open that company "
                "file, or change the workspace setting qbwc.company_file if the file moved.",
            )
            return None
        file = bound or reported
        if file and stored is None:
            con.execute("INSERT INTO qbrecon_meta VALUES ('qbwc.bound_company_file', ?)", [file])
        if file != session.company_file:
            self.sessions.touch(session.ticket, company_file=file)
        return file

    @staticmethod
    def _match(unanswered: list, ids: list[str]):
        wanted = {i for i in ids if i}
        for m in unanswered:
            if wanted and wanted <= set(m.request_ids):
                return m
        if not wanted and len(unanswered) == 1:
            return unanswered[0]  # a response without requestIDs can only answer the one message in flight
        return None

    def _pending(self) -> int:
        """Work left for QuickBooks, in requests, over every job: accepted items still Exporting, checks of
        in-doubt items, and the refresh pages still to read (an estimate until QuickBooks reports
        iteratorRemainingCount)."""
        return sum(int(job.pending()) for job in self.jobs)

    def _job_of(self, message_id: int) -> WebConnectorJob | None:
        """The job that sent the message (its answer is that job's to apply)."""
        return next((job for job in self.jobs if job.owns(message_id)), None)

    def _no_job(self, session: QbwcSession, message_id: int) -> int:
        self._set_error(
            session, f"Message {message_id} was sent by no job this service runs; nothing was applied."
        )
        return -1


def unexpected_error(exc: BaseException) -> str:
    """Text for a server fault: QbreconError messages are meant for users; anything else is a bug."""
    if isinstance(exc, QbreconError):
        return str(exc)
    return f"internal error ({type(exc).__name__}); see the server log"
