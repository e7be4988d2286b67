"""Web Connector jobs: the work one QuickBooks session does, as a small protocol the service iterates.

The qbwc gem splits the Web Connector into session, job and worker; qbrecon does the same. The service
(``qbrecon.qbwc.service``) runs the SOAP conversation and keeps each session in the store, keyed by ticket
(``qbwc/sessions.py``); a *job* knows one kind of work: what is pending, the next request set, what a response
means and what a whole-message failure means. Two jobs exist, in the order a session runs them:

- ``export`` (``qbrecon.erp.export.ExportJob``): accepted items -> Adds/Mods, through the export ledger;
- ``refresh`` (``qbrecon.erp.refresh.RefreshJob``): queued QuickBooks queries, page by page.

A job keeps no state in memory: everything it needs between sendRequestXML and receiveResponseXML (what was
sent, under which ticket) is in the workspace, so a server restart between the two loses nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ..qbxml.responses import ResponseDocument


class OutgoingBatch(Protocol):
    """What ``sendRequestXML`` hands over: a message set already recorded as sent."""

    message_id: int
    xml: bytes
    request_ids: Sequence[str]


@runtime_checkable
class WebConnectorJob(Protocol):
    """One kind of Web Connector work. Every method runs inside the service's store transaction."""

    name: str

    def pending(self) -> int:
        """Requests still to send (an estimate where QuickBooks has not said yet), for percent done."""
        ...

    def next_request(self, *, ticket: str, company_file: str | None) -> OutgoingBatch | None:
        """The next message set, recorded as sent to this session before it is returned; None when done."""
        ...

    def owns(self, message_id: int) -> bool:
        """Did this job send the message (so its answer is this job's to apply)?"""
        ...

    def apply_response(self, message_id: int, response: ResponseDocument) -> Any:
        """QuickBooks' answer, parsed once by the service."""
        ...

    def fail(self, message_id: int, hresult: str, message: str) -> Any:
        """The whole message failed (the Web Connector's HRESULT instead of a response)."""
        ...


def web_connector_jobs(
    export: Any, refresh: Any | None = None, *, max_requests: int, refresh_max_returned: int
) -> list[WebConnectorJob]:
    """The jobs a session runs, in order: exports first (a refresh then reads what they wrote), then the
    QuickBooks refresh when one is given (``ws.export_service``, ``ws.refresh_service``; a stand-in ledger in the
    protocol tests gives the export alone)."""
    from .export import ExportJob
    from .refresh import RefreshJob

    jobs: list[WebConnectorJob] = [ExportJob(export, max_requests)]
    if refresh is not None:
        jobs.append(RefreshJob(refresh, refresh_max_returned))
    return jobs


__all__ = ["OutgoingBatch", "WebConnectorJob", "web_connector_jobs"]
