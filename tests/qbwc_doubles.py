"""A recording stand-in for the export ledger, so the Web Connector protocol can be tested on its own."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qbrecon.store import Store


@dataclass
class Batch:
    message_id: int
    xml: bytes
    request_ids: list[str]


class LedgerDouble:
    """Items 'a0'..'aN' waiting; a batch takes the next ``max_requests`` not in flight."""

    def __init__(self, store: Store, items: int):
        self.store = store
        self.waiting = [f"a{i}" for i in range(items)]
        self.in_flight: dict[int, list[str]] = {}
        self.calls: list[tuple] = []
        self._next = 0

    def next_export_batch(self, max_requests: int, company_file: str, *, sent: bool = False, ticket=None):
        busy = {r for ids in self.in_flight.values() for r in ids}
        ids = [i for i in self.waiting if i not in busy][:max_requests]
        if not ids:
            return None
        self._next += 1
        self.calls.append(("next", self._next, company_file))
        body = "".join(
            f'<VendorAddRq requestID="{i}"><VendorAdd><Name>{i}</Name></VendorAdd></VendorAddRq>' for i in ids
        )
        xml = f'<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="continueOnError">{body}'
        xml += "</QBXMLMsgsRq></QBXML>"
        self.in_flight[self._next] = ids
        if sent:  # built and recorded as sent in one step, as the ledger does for the Web Connector
            self.mark_batch_sent(self._next, ticket=ticket)
        return Batch(self._next, xml.encode(), ids)

    def mark_batch_sent(self, message_id: int, *, ticket: str | None = None) -> None:
        self.calls.append(("sent", message_id))

    def apply_export_response(self, message_id: int, response: str, *, frame: bool = True) -> None:
        self.calls.append(("apply", message_id))
        for i in self.in_flight.pop(message_id):
            self.waiting.remove(i)

    def fail_export_batch(self, message_id: int, hresult: str, message: str) -> None:
        self.calls.append(("fail", message_id, hresult, message))
        self.in_flight.pop(message_id)

    def is_export_message(self, message_id: int) -> bool:
        return any(c[0] == "next" and c[1] == message_id for c in self.calls)

    def export_pending(self) -> dict[str, int]:
        return {"exporting": len(self.waiting), "checks": 0}


def response_for(request_xml: str) -> str:
    ids = re.findall(r'requestID="([^"]+)"', request_xml)
    rs = "".join(f'<VendorAddRs requestID="{i}" statusCode="0" statusSeverity="Info"/>' for i in ids)
    return f'<?xml version="1.0"?><QBXML><QBXMLMsgsRs>{rs}</QBXMLMsgsRs></QBXML>'


def queue_companies(ws, n: int, first_id: int = 10_000) -> list[tuple[str, int]]:
    """``n`` Procore companies sent and accepted for export through the real ERP queue (admin user id 1)."""

    put = ws.store.put_rows

    put(
        "users",
        [
            dict(
                id=1,
                name="Ada Admin",
                login="ada",
                email_address="ada@example.com",
                is_active=True,
                erp_integrations_permission="admin",
                can_push_to_accounting=True,
            )
        ],
    )
    put(
        "user_tool_permissions", [dict(user_id=1, tool=t, level="admin") for t in ("directory", "admin")]
    )  # senders
    put(
        "companies",
        [
            dict(id=first_id + i, name=f"Vendor {first_id + i}", is_active=True, created_by_id=1)
            for i in range(n)
        ],
    )
    ws.refresh_queue()
    ids = [("company", first_id + i) for i in range(n)]
    ws.send(ids, by=1)
    ws.accept(ids, by=1)
    return ids
