"""A Web Connector simulator: polls a qbrecon service over SOAP exactly as the QuickBooks Web Connector does and
hands each qbXML request to a simulated QuickBooks company file (``simulator.QuickBooksCompany``).

It talks to the service only through the published WSDL with zeep, so a passing run is evidence that the
service speaks the protocol the real Web Connector speaks:

    client = WebConnectorClient("http://127.0.0.1:8080/qbwc", "qbwc", password, company)
    report = client.run_once()      # one scheduled update: authenticate ... closeConnection

``ConnectorFaults`` reproduces what goes wrong between the Web Connector and a service in real life (a crash
after a request was handed out, lost, repeated or late responses) for robustness tests and demonstrations.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import requests
import zeep
import zeep.exceptions
from zeep.transports import Transport

from ..qbxml.responses import PARSE_ERROR_HRESULT

log = logging.getLogger(__name__)

BINDING = "{http://developer.intuit.com/}QBWebConnectorSvcSoap"
WEB_CONNECTOR_VERSION = "2.3.0.215"  # what QBWC 2.3 reports in clientVersion
HRESULT_UNEXPECTED = "0x80040402"


def wsdl_path() -> str:
    """The WSDL shipped with qbrecon (zeep reads the service description from it, not from the server)."""
    return str(resources.files("qbrecon.qbwc").joinpath("QBWebConnectorSvc.wsdl"))


class ConnectorStopped(Exception):
    """The simulated Web Connector was stopped mid-session (``ConnectorFaults.stop_after_send``)."""


@dataclass
class ConnectorFaults:
    """Faults to inject, by 1-based message number within a session.

    - ``stop_after_send``: after this sendRequestXML, stop dead (like a crash). With ``process_before_stop``
      QuickBooks has already processed the request when the connector dies (its outcome is then unknown to
      the service).
    - ``drop_responses``: QuickBooks processes the message but the response never reaches the service; the
      connector asks for the next request.
    - ``duplicate_responses``: the response is delivered twice.
    - ``reorder``: this message's response is held back and delivered after the next message's response.
    """

    stop_after_send: int | None = None
    process_before_stop: bool = True
    drop_responses: set[int] = field(default_factory=set)
    duplicate_responses: set[int] = field(default_factory=set)
    reorder: set[int] = field(default_factory=set)


@dataclass
class SessionReport:
    """What one ``run_once`` did, as the Web Connector's status column would show it."""

    server_version: str = ""
    client_version_answer: str = ""
    auth_status: str = ""  # "" / company file | none | nvu | busy | error
    wait_seconds: int | None = None
    messages: int = 0  # sendRequestXML calls that returned a request
    requests: int = 0  # *Rq elements handed to QuickBooks
    percents: list[int] = field(default_factory=list)
    last_error: str = ""
    close_message: str = ""
    stopped: bool = False
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.auth_status not in ("nvu", "error") and not self.last_error and not self.stopped


class WebConnectorClient:
    """One Web Connector application entry (the ``.qwc``): service URL, user name, password, company file."""

    def __init__(
        self,
        url: str,
        user: str,
        password: str,
        company: Any,
        *,
        wsdl: str | Path | None = None,
        timeout: float = 120.0,
        faults: ConnectorFaults | None = None,
        client_version: str = WEB_CONNECTOR_VERSION,
        qbxml_version: tuple[int, int] = (13, 0),
        max_messages: int = 100_000,
    ):
        self.url, self.user, self.password, self.company = url, user, password, company
        self.faults = faults or ConnectorFaults()
        self.client_version, self.qbxml_version = client_version, qbxml_version
        self.max_messages = max_messages
        session = requests.Session()
        session.trust_env = False  # never route a loopback test through a proxy from the environment
        transport = Transport(session=session, timeout=timeout, operation_timeout=timeout)
        self._client = zeep.Client(str(wsdl or wsdl_path()), transport=transport)
        self.service = self._client.create_service(BINDING, url)

    # -- one scheduled update ------------------------------------------------------------------------------
    def run_once(self) -> SessionReport:
        """serverVersion, clientVersion, authenticate, sendRequestXML/receiveResponseXML until done,
        getLastError on a negative answer, connectionError when QuickBooks fails, closeConnection."""
        report = SessionReport()
        started = time.perf_counter()
        try:
            self._run(report)
        except ConnectorStopped:
            report.stopped = True
        except zeep.exceptions.Fault as fault:
            report.last_error = f"SOAP fault from the service: {fault.message}"
        finally:
            report.elapsed = time.perf_counter() - started
        return report

    def _run(self, report: SessionReport) -> None:
        svc = self.service
        report.server_version = svc.serverVersion(strVersion="") or ""
        answer = svc.clientVersion(strVersion=self.client_version) or ""
        report.client_version_answer = answer
        if answer.startswith("E:"):
            report.auth_status, report.last_error = "error", answer[2:]
            return
        result = list(svc.authenticate(strUserName=self.user, strPassword=self.password) or [])
        result += [""] * (2 - len(result))
        ticket, status = result[0] or "", result[1] or ""
        report.auth_status = status
        if len(result) > 2 and str(result[2] or "").isdigit():
            report.wait_seconds = int(result[2])
        if status in ("nvu", "none", "busy"):
            if status == "nvu":
                report.last_error = "The service refused the user name or password (nvu)."
            return
        opened = self._open_company(status)
        if opened is not None:
            hresult, message = opened
            report.last_error = f"{hresult}: {message}"
            svc.connectionError(ticket=ticket, hresult=hresult, message=message)
            report.close_message = svc.closeConnection(ticket=ticket) or ""
            return
        self._exchange(ticket, report)
        report.close_message = svc.closeConnection(ticket=ticket) or ""

    def _open_company(self, company_file: str) -> tuple[str, str] | None:
        """Open the company file QuickBooks was told to use; (hresult, message) when it cannot."""
        opener = getattr(self.company, "open", None)
        if opener is None:
            return None
        try:
            opener(company_file or None)
        except Exception as exc:
            return getattr(exc, "hresult", HRESULT_UNEXPECTED), str(exc)
        return None

    def _company_file_name(self) -> str:
        for attr in ("company_file", "file_name", "path"):
            value = getattr(self.company, attr, None)
            if value:
                return str(value)
        return ""

    def _host_response(self) -> str:
        """The HostQuery/CompanyQuery/PreferencesQuery response QBWC sends with the first request of a session."""
        fn = getattr(self.company, "host_query_response", None)
        return fn() if callable(fn) else ""

    def _process(self, request: str) -> tuple[str, str, str]:
        """(response, hresult, message): QuickBooks' answer, or a whole-message failure (e.g. 0x80040400)."""
        try:
            out = self.company.process(request)
        except Exception as exc:
            hresult = getattr(exc, "hresult", None)
            if hresult is None:
                raise
            return "", str(hresult), str(getattr(exc, "message", None) or exc)
        if isinstance(out, tuple):  # (response, hresult, message)
            response, hresult, message = (list(out) + ["", "", ""])[:3]
            return response or "", hresult or "", message or ""
        if isinstance(out, bytes):
            out = out.decode("utf-8")
        return out, "", ""

    def _exchange(self, ticket: str, report: SessionReport) -> None:
        svc, faults = self.service, self.faults
        first = True
        held: list[tuple[int, tuple[str, str, str]]] = []  # reordered responses waiting for delivery

        def deliver(number: int, answer: tuple[str, str, str]) -> int:
            response, hresult, message = answer
            pct = int(
                svc.receiveResponseXML(ticket=ticket, response=response, hresult=hresult, message=message)
            )
            report.percents.append(pct)
            if number in faults.duplicate_responses:
                pct2 = int(
                    svc.receiveResponseXML(ticket=ticket, response=response, hresult=hresult, message=message)
                )
                report.percents.append(pct2)
            return pct

        while report.messages < self.max_messages:
            request = svc.sendRequestXML(
                ticket=ticket,
                strHCPResponse=self._host_response() if first else "",
                strCompanyFileName=self._company_file_name(),
                qbXMLCountry="US",
                qbXMLMajorVers=self.qbxml_version[0],
                qbXMLMinorVers=self.qbxml_version[1],
            )
            first = False
            if not request:
                error = svc.getLastError(ticket=ticket) or ""
                if error == "NoOp":  # the service asks the Web Connector to wait and ask again
                    time.sleep(5)
                    continue
                report.last_error = error if error != "No requests are waiting to be sent." else ""
                break
            report.messages += 1
            report.requests += request.count("requestID=")
            number = report.messages
            if faults.stop_after_send == number:
                if faults.process_before_stop:
                    self._process(request)
                raise ConnectorStopped(f"stopped after sendRequestXML #{number}")
            answer = self._process(request)
            if answer[1] and PARSE_ERROR_HRESULT in answer[1]:
                log.info("QuickBooks refused message %s: %s", number, answer[2])
            if number in faults.drop_responses:
                continue
            if number in faults.reorder:
                held.append((number, answer))
                continue
            pct = deliver(number, answer)
            for n, a in held:
                later = deliver(n, a)
                pct = later if later < 0 or pct >= 0 and later > pct else pct
            held.clear()
            if pct < 0:
                report.last_error = svc.getLastError(ticket=ticket) or ""
                break
            if pct >= 100:
                break
