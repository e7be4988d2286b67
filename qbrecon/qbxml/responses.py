"""A qbXML response message set -> one outcome row per request, plus the echoed records as table rows.

Responses are matched to requests by ``requestID`` (never by position: QuickBooks may answer fewer requests
than were sent, e.g. after ``stopOnError``). Each outcome says what happened and what to do next:

========================  ==========================================================================
outcome                   ``synced`` (QuickBooks stored it / answered), ``failed``, ``benign`` (a query
                          that found nothing: status 1 "no match" or 500 "not found")
error_class               ``retryable`` (3170-3180: record in use / modified by another user; no answer),
                          ``reread_then_retry`` (3200: stale EditSequence), ``create_parent_then_retry``
                          (3140: a referenced vendor/customer/item/account is missing), ``fix_data`` (3070
                          too long, 3100 name in use, 3150 missing element, 3210 invalid value),
                          ``benign``, ``fatal`` (anything else)
========================  ==========================================================================

A whole message set can fail before any request is read: the Web Connector then reports an empty response
with an HRESULT (``0x80040400``: QuickBooks could not parse the XML -- our bug, ``fatal``; others such as
``0x80040401`` could not reach QuickBooks -- ``retryable``). Every request of the set gets that outcome.

Parsing goes through ``qbxml.parse`` (the safe parser policy) and is lenient: values outside the schema's
enumerations are kept, not rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
from lxml import etree

from ..entities import pairs_of_request
from ..errors import InputError
from .build import Request, parse_request_id, requests_frame
from .parse import BENIGN_STATUS, parse_bytes, read_response_tree

OUTCOME_COLUMNS: dict[str, pa.DataType] = {
    "request_id": pa.string(),
    "item_type": pa.string(),
    "procore_id": pa.int64(),
    "action": pa.string(),
    "request_name": pa.string(),
    "status_code": pa.int64(),
    "status_severity": pa.string(),
    "status_message": pa.string(),
    "list_id": pa.string(),
    "txn_id": pa.string(),
    "quickbooks_id": pa.string(),
    "edit_sequence": pa.string(),
    "outcome": pa.string(),
    "error_class": pa.string(),
    "ret_count": pa.int64(),
    "iterator_id": pa.string(),
    "iterator_remaining_count": pa.int64(),
}

PARSE_ERROR_HRESULT = "0x80040400"


@dataclass(frozen=True)
class ResponseDocument:
    """One qbXML response as the Web Connector delivered it, parsed once: ``text`` (archived verbatim) and its
    tree (``root``; None when the text is blank -- a whole-message failure). The service reads the requestIDs
    from it, the ledger the statuses and the echoed Rets, so each response is parsed once on the apply path."""

    text: str
    root: etree._Element | None

    @classmethod
    def read(cls, xml: bytes | str | ResponseDocument | None, *, name: str = "response") -> ResponseDocument:
        """Parse ``xml`` under the safe policy (``InputError`` naming ``name`` if it is not XML); a document
        already read is returned as it is."""
        if isinstance(xml, ResponseDocument):
            return xml
        text = xml.decode("utf-8", "replace") if isinstance(xml, bytes) else (xml or "")
        if not text.strip():
            return cls(text, None)
        return cls(text, parse_bytes(text, name=name, huge_text=True))

    def request_ids(self) -> list[str] | None:
        """The requestIDs of the ``*Rs``, or None when this is not a qbXML response."""
        root = self.root
        msgs = root.find("QBXMLMsgsRs") if root is not None else None
        if root is None or root.tag != "QBXML" or msgs is None:
            return None
        return [rs.get("requestID", "") for rs in msgs if isinstance(rs.tag, str)]


@dataclass(frozen=True)
class StatusPolicy:
    """What one QuickBooks status code means and what the export does about it (quickbooks-php keeps such a
    per-code table; this is the one place qbrecon keeps it: ``classify`` and the export ledger both read it)."""

    error_class: str  # retryable | reread_then_retry | create_parent_then_retry | fix_data | fatal
    action: str  # retry (bounded) | refresh_then_retry | check_name | create_parent | fail
    meaning: str


# status code -> policy; codes not listed are ``fatal`` / ``fail``
STATUS_POLICY: dict[int, StatusPolicy] = {
    **{
        code: StatusPolicy("retryable", "retry", "record in use or modified by another user; try again")
        for code in range(3170, 3181)
    },
    3200: StatusPolicy(
        "reread_then_retry", "refresh_then_retry", "stale EditSequence: re-read the record, send again"
    ),
    3140: StatusPolicy("create_parent_then_retry", "create_parent", "a referenced list element is missing"),
    3100: StatusPolicy("fix_data", "check_name", "the name is already in use"),
    3070: StatusPolicy("fix_data", "fail", "a value is longer than QuickBooks allows"),
    3150: StatusPolicy("fix_data", "fail", "a required element is missing"),
    3210: StatusPolicy("fix_data", "fail", "a value is invalid"),
}
_FATAL = StatusPolicy("fatal", "fail", "QuickBooks refused the request")


def status_policy(status_code: int | None) -> StatusPolicy:
    return STATUS_POLICY.get(status_code, _FATAL) if status_code is not None else _FATAL


RETRYABLE = [c for c, p in STATUS_POLICY.items() if p.action == "retry"]
FIX_DATA = {c for c, p in STATUS_POLICY.items() if p.error_class == "fix_data"}


def classify(
    status_code: int | None, severity: str | None, action: str | None, has_ret: bool
) -> tuple[str, str | None]:
    """(outcome, error_class) for one response status."""
    is_query = action == "query"
    if status_code is None:
        return "failed", "fatal"
    if is_query and status_code in BENIGN_STATUS:
        return "benign", "benign"
    if (severity or "").lower() != "error":
        if status_code == 0 or has_ret or is_query:
            return "synced", None
        return "failed", "fatal"  # a warning on an add/mod without the stored record: nothing to link to
    return "failed", status_policy(status_code).error_class


def classify_hresult(hresult: str | None) -> str:
    """Error class of a whole-message failure reported by the Web Connector instead of a response."""
    return "fatal" if (hresult or "").lower() == PARSE_ERROR_HRESULT else "retryable"


def deliver_in_process(
    deliver: Callable[[bytes], bytes], xml: bytes
) -> tuple[bytes | None, str | None, str | None]:
    """Hand one message set to something that plays QuickBooks in this process (the simulator's ``process``).

    Returns (response, None, None); or (None, hresult, message) when it raised an error carrying an ``hresult``:
    QuickBooks' request processor refused the whole message, as the Web Connector would report it. Any other
    error propagates.
    """
    try:
        return deliver(xml), None, None
    except Exception as exc:
        hresult = getattr(exc, "hresult", None)
        if hresult is None:
            raise
        return None, str(hresult), str(getattr(exc, "message", exc))


@dataclass
class ResponseResult:
    outcomes: pd.DataFrame  # one row per request (OUTCOME_COLUMNS)
    rets: dict[str, pd.DataFrame] = field(default_factory=dict)  # QuickBooks table -> echoed/queried rows
    hresult: str | None = None
    message: str | None = None

    def failed(self) -> pd.DataFrame:
        return self.outcomes[self.outcomes["outcome"] == "failed"]


def _requests(requests: pd.DataFrame | Iterable[Request] | None) -> pd.DataFrame | None:
    if requests is None:
        return None
    if isinstance(requests, pd.DataFrame):
        return requests
    return requests_frame(requests)


def _infer(request_name: str, request_id: str | None) -> tuple[str | None, int | None, str]:
    """item_type, procore_id, action for a response whose request we were not given."""
    item_type, procore_id, _ = parse_request_id(request_id)
    if request_name.endswith("Query"):
        return item_type or "query", procore_id, "query"
    action = "add" if request_name.endswith("Add") else "mod" if request_name.endswith("Mod") else "other"
    if item_type is None:
        matches = [p.item_type for p in pairs_of_request(request_name)]
        item_type = matches[0] if len(matches) == 1 else None
    return item_type, procore_id, action


def _ret_ids(rs: object) -> tuple[str | None, str | None, str | None, int]:
    list_id = txn_id = edit_sequence = None
    count = 0
    for child in rs:  # type: ignore[attr-defined]
        tag = child.tag
        if not isinstance(tag, str) or not tag.endswith("Ret"):
            continue
        count += 1
        if count > 1:
            continue
        # only the three ids, picked out by lxml (a Ret has a dozen or more other children: not visited in Python)
        for leaf in child.iterchildren("ListID", "TxnID", "EditSequence"):
            if leaf.tag == "ListID":
                list_id = (leaf.text or "").strip() or None
            elif leaf.tag == "TxnID":
                txn_id = (leaf.text or "").strip() or None
            elif leaf.tag == "EditSequence":
                edit_sequence = (leaf.text or "").strip() or None
    return list_id, txn_id, edit_sequence, count


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None and value.strip() != "" else None
    except ValueError:
        return None


def read_response(
    xml: bytes | str | ResponseDocument | None,
    requests: pd.DataFrame | Iterable[Request] | None = None,
    *,
    hresult: str | None = None,
    message: str | None = None,
    name: str = "response",
    read_rets: bool = True,
) -> ResponseResult:
    """Outcomes of one response message set (``requests``: what was sent, to match by requestID and to report
    the ones QuickBooks never answered). ``hresult``/``message``: what the Web Connector said when the
    response is empty."""
    sent = _requests(requests)
    doc = ResponseDocument.read(xml, name=name)  # a document the caller parsed is not parsed again
    root = doc.root
    if root is None:
        return _whole_failure(sent, hresult, message)
    rows = outcome_rows(
        root,
        None
        if sent is None
        else zip(
            sent["request_id"].tolist(),
            sent["item_type"].tolist(),
            sent["procore_id"].tolist(),
            sent["action"].tolist(),
            sent["request_name"].tolist(),
            strict=True,
        ),
        name=name,
    )
    rets: dict[str, pd.DataFrame] = {}
    if read_rets and any(r["ret_count"] for r in rows):
        result = read_response_tree(root, name=name)
        rets = {t: result.frame(t) for t in result.batches}
    return ResponseResult(_outcomes_frame(rows), rets)


def outcome_rows(
    root: etree._Element,
    sent: Iterable[tuple[str, str | None, object, str | None, str | None]] | None,
    *,
    name: str = "response",
) -> list[dict]:
    """One outcome row (``OUTCOME_COLUMNS`` as keys) per ``*Rs`` of a parsed response, matched by requestID to
    ``sent`` (request_id, item_type, procore_id, action, request_name: what was sent), then one per sent request
    QuickBooks never answered. The export ledger decides from these rows as they are (no frame per answer);
    ``read_response`` makes its frame of them."""
    msgs = root if root.tag == "QBXMLMsgsRs" else root.find("QBXMLMsgsRs")
    if msgs is None:
        raise InputError("not a qbXML response: no <QBXMLMsgsRs>", file=name)
    sent_rows = list(sent) if sent is not None else None
    by_id = {rid: (it, pid, act) for rid, it, pid, act, _ in sent_rows or ()}
    rows = []
    answered: set[str] = set()
    for rs in msgs:
        tag = rs.tag
        if not isinstance(tag, str) or not tag.endswith("Rs"):
            continue
        a = rs.attrib
        rid = a.get("requestID") or None
        request_name = tag[:-2]
        if rid in by_id:
            item_type, procore_id, action = by_id[rid]
            if (
                type(procore_id) is not int
            ):  # (an int is never missing: pd.isna costs more than the rest of a row)
                procore_id = None if procore_id is None or pd.isna(procore_id) else int(procore_id)
        else:
            item_type, procore_id, action = _infer(request_name, rid)
        if rid:
            answered.add(rid)
        list_id, txn_id, edit_sequence, count = _ret_ids(rs)
        code, severity = _int(a.get("statusCode")), a.get("statusSeverity")
        outcome, error_class = classify(code, severity, action, count > 0)
        rows.append(
            {
                "request_id": rid,
                "item_type": item_type,
                "procore_id": procore_id,
                "action": action,
                "request_name": request_name,
                "status_code": code,
                "status_severity": severity,
                "status_message": a.get("statusMessage"),
                "list_id": list_id,
                "txn_id": txn_id,
                "quickbooks_id": list_id or txn_id,
                "edit_sequence": edit_sequence,
                "outcome": outcome,
                "error_class": error_class,
                "ret_count": count,
                "iterator_id": a.get("iteratorID"),
                "iterator_remaining_count": _int(a.get("iteratorRemainingCount")),
            }
        )
    # sent but not answered: QuickBooks stopped before them (stopOnError) -- send again
    for rid, it, pid, act, rname in sent_rows or ():
        if rid not in answered:
            rows.append(
                _row(
                    rid,
                    it,
                    pid,
                    act,
                    rname,
                    "no response to this request in the message set "
                    "(QuickBooks stopped before it); send it again",
                    "retryable",
                )
            )
    return rows


def _row(
    rid: str | None,
    item_type: str | None,
    procore_id: object,
    action: str | None,
    request_name: str | None,
    message: str,
    error_class: str,
    severity: str = "Error",
) -> dict:
    return {
        "request_id": rid,
        "item_type": item_type,
        "procore_id": None if procore_id is None or pd.isna(procore_id) else int(procore_id),
        "action": action,
        "request_name": request_name,
        "status_code": None,
        "status_severity": severity,
        "status_message": message,
        "list_id": None,
        "txn_id": None,
        "quickbooks_id": None,
        "edit_sequence": None,
        "outcome": "failed",
        "error_class": error_class,
        "ret_count": 0,
        "iterator_id": None,
        "iterator_remaining_count": None,
    }


def _whole_failure(sent: pd.DataFrame | None, hresult: str | None, message: str | None) -> ResponseResult:
    """An empty response: the whole message set failed (HRESULT from the Web Connector)."""
    if not hresult and not message:
        raise InputError("empty qbXML response and no HRESULT: nothing to read", field="response")
    text = " ".join(x for x in [hresult or "", message or ""] if x).strip()
    if (hresult or "").lower() == PARSE_ERROR_HRESULT:
        text += " (QuickBooks could not parse the message set; see the archived request)"
    error_class = classify_hresult(hresult)
    rows = []
    if sent is not None:
        for rid, it, pid, act, rname in zip(
            sent["request_id"],
            sent["item_type"],
            sent["procore_id"],
            sent["action"],
            sent["request_name"],
            strict=True,
        ):
            rows.append(_row(rid, it, pid, act, rname, text, error_class))
    return ResponseResult(_outcomes_frame(rows), {}, hresult, message)


def _outcomes_frame(rows: list[dict]) -> pd.DataFrame:
    table = pa.Table.from_pylist(rows, schema=pa.schema(list(OUTCOME_COLUMNS.items())))
    return table.to_pandas(types_mapper=pd.ArrowDtype)


__all__ = [
    "OUTCOME_COLUMNS",
    "ResponseResult",
    "classify",
    "classify_hresult",
    "outcome_rows",
    "read_response",
]
