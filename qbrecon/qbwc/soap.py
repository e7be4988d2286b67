"""SOAP 1.1 document/literal envelopes of the Web Connector protocol, read and written with lxml.

The protocol is eight fixed operations (``OPERATIONS``) in the namespace ``http://developer.intuit.com/``; a small
lxml reader/writer is all it needs (see ARCHITECTURE.md, "Web Connector service", for why not spyne).

Reading is hostile-input safe: no DTD, no entity expansion, no network, DOCTYPE refused outright, and a size cap.
Anything that is not a well-formed envelope naming a known operation raises ``SoapFault`` (a client fault), which
the HTTP layer turns into a SOAP fault response.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from lxml import etree

from ..errors import InputError
from ..qbxml.parse import PARSER_OPTIONS, PROLOG_LIMIT, check_prolog, parse_bytes

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
QBWC_NS = "http://developer.intuit.com/"
CONTENT_TYPE = "text/xml; charset=utf-8"

# operation -> (parameters in WSDL order, result kind). Parameters are all xs:string except the two ints.
OPERATIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "serverVersion": (("strVersion",), "string"),
    "clientVersion": (("strVersion",), "string"),
    "authenticate": (("strUserName", "strPassword"), "array"),
    "sendRequestXML": (
        (
            "ticket",
            "strHCPResponse",
            "strCompanyFileName",
            "qbXMLCountry",
            "qbXMLMajorVers",
            "qbXMLMinorVers",
        ),
        "string",
    ),
    "receiveResponseXML": (("ticket", "response", "hresult", "message"), "int"),
    "connectionError": (("ticket", "hresult", "message"), "string"),
    "getLastError": (("ticket",), "string"),
    "closeConnection": (("ticket",), "string"),
}
INT_PARAMS = {"qbXMLMajorVers", "qbXMLMinorVers"}

DEFAULT_MAX_BODY = 50 * 1024 * 1024
# A Web Connector envelope is Envelope/Body/operation/parameters: about ten elements, four levels. The qbXML it
# carries is escaped text, not elements. Anything far beyond that is refused while it is being read, so a body of
# millions of (deep) elements costs neither the time nor the memory of building its tree.
MAX_ELEMENTS = 200
MAX_SOAP_DEPTH = 16
PARSE_SECONDS = 10.0  # wall-clock bound on reading one envelope (checked between chunks)
_CHUNK = 256 * 1024


class SoapFault(Exception):
    """A request the service cannot process. ``code`` is ``Client`` (caller's fault) or ``Server``."""

    def __init__(self, message: str, code: str = "Client"):
        super().__init__(message)
        self.message, self.code = message, code


@dataclass
class SoapCall:
    operation: str
    params: dict[str, str | int | None] = field(default_factory=dict)


def parse_call(body: bytes, max_bytes: int = DEFAULT_MAX_BODY) -> SoapCall:
    """Read one SOAP request envelope into the operation name and its parameters (missing ones are None)."""
    if not body or not body.strip():
        raise SoapFault("empty request body; expected a SOAP 1.1 envelope")
    if len(body) > max_bytes:
        raise SoapFault(f"request body of {len(body)} bytes exceeds the limit of {max_bytes} bytes")
    # The project's safe-XML policy (qbrecon.qbxml.parse): DOCTYPE refused before parsing (SOAP 1.1 section 3
    # forbids it anyway), no entities, no network, nesting bounded; huge_text because a <response> carries a
    # whole escaped qbXML response as one text node (the body itself is capped above).
    try:
        root = _read_envelope(body)
    except InputError as exc:
        text = str(exc).removeprefix("file SOAP request: ")
        raise SoapFault(f"malformed or refused XML: {text}") from None
    qn = etree.QName(root)
    if qn.localname != "Envelope":
        raise SoapFault(f"root element is <{qn.localname}>, expected a SOAP <Envelope>")
    if qn.namespace == SOAP12_ENV:
        raise SoapFault(
            "SOAP 1.2 is not supported; the Web Connector speaks SOAP 1.1", code="VersionMismatch"
        )
    if qn.namespace != SOAP_ENV:
        raise SoapFault(
            f"envelope namespace {qn.namespace!r} is not SOAP 1.1 ({SOAP_ENV})", code="VersionMismatch"
        )
    body_el = root.find(f"{{{SOAP_ENV}}}Body")
    if body_el is None:
        raise SoapFault("SOAP envelope has no Body")
    children = [c for c in body_el if isinstance(c.tag, str)]
    if len(children) != 1:
        raise SoapFault(f"SOAP Body must hold exactly one operation element, found {len(children)}")
    op_el = children[0]
    op_qn = etree.QName(op_el)
    if op_qn.namespace != QBWC_NS:
        raise SoapFault(f"operation <{op_qn.localname}> is not in the Web Connector namespace {QBWC_NS}")
    if op_qn.localname not in OPERATIONS:
        raise SoapFault(f"unknown operation {op_qn.localname!r}; known: {', '.join(OPERATIONS)}")
    names, _ = OPERATIONS[op_qn.localname]
    params: dict[str, str | int | None] = dict.fromkeys(names)
    for child in op_el:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        if name not in params:
            continue  # lenient: ignore unknown parameters, like .NET services do
        if len(child):
            raise SoapFault(f"parameter <{name}> must be text, found child elements")
        text = child.text or ""
        if name in INT_PARAMS:
            try:
                params[name] = int(text.strip())
            except ValueError:
                raise SoapFault(f"parameter <{name}> must be an integer, got {text[:40]!r}") from None
        else:
            params[name] = text
    return SoapCall(op_qn.localname, params)


def _read_envelope(body: bytes, name: str = "SOAP request") -> etree._Element:
    """The envelope's root, read incrementally under the safe policy plus the envelope's own bounds (element
    count, depth, time): a hostile body is refused after the first few hundred elements, not after its tree."""
    if not check_prolog(body[:PROLOG_LIMIT], name, complete=len(body) <= PROLOG_LIMIT):
        raise InputError("the XML prolog (before the root element) is longer than 1 MB", file=name)
    parser = etree.XMLPullParser(
        events=("start", "end"), **dict(PARSER_OPTIONS, huge_tree=True), remove_comments=True, remove_pis=True
    )
    deadline = time.monotonic() + PARSE_SECONDS
    elements = depth = 0
    view = memoryview(body)
    try:
        for pos in range(0, len(body), _CHUNK):
            parser.feed(bytes(view[pos : pos + _CHUNK]))
            for event, _el in parser.read_events():
                if event == "end":
                    depth -= 1
                    continue
                elements += 1
                depth += 1
                if elements > MAX_ELEMENTS:
                    raise InputError(
                        f"more than {MAX_ELEMENTS} elements; not a Web Connector call", file=name
                    )
                if depth > MAX_SOAP_DEPTH:
                    raise InputError(f"XML nested deeper than {MAX_SOAP_DEPTH} levels is refused", file=name)
            if time.monotonic() > deadline:
                raise InputError(f"reading the envelope took longer than {PARSE_SECONDS:g} s", file=name)
        root = parser.close()
    except etree.XMLSyntaxError as exc:
        raise InputError(f"not well-formed XML: {getattr(exc, 'msg', None) or exc}", file=name) from None
    info = root.getroottree().docinfo
    if info.internalDTD is not None or info.externalDTD is not None or info.doctype:
        raise InputError("XML with a DOCTYPE declaration is refused", file=name)
    return root


def _envelope() -> tuple[etree._Element, etree._Element]:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    return env, body


def _clean(text: str) -> str:
    # XML 1.0 cannot carry most control characters; a message text must never make the response unwritable.
    return "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 0x20)


def write_result(operation: str, result: str | int | list[str] | None) -> bytes:
    """The response envelope ``<operationResponse><operationResult>`` for one operation's result."""
    _, kind = OPERATIONS[operation]
    env, body = _envelope()
    resp = etree.SubElement(body, f"{{{QBWC_NS}}}{operation}Response", nsmap={None: QBWC_NS})
    res = etree.SubElement(resp, f"{{{QBWC_NS}}}{operation}Result")
    if kind == "array":
        for item in result or []:
            s = etree.SubElement(res, f"{{{QBWC_NS}}}string")
            s.text = _clean(str(item))
    elif kind == "int":
        res.text = str(int(result or 0))
    elif result is not None:
        res.text = _clean(str(result))
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def write_fault(message: str, code: str = "Client") -> bytes:
    """A SOAP 1.1 fault (sent with HTTP 500)."""
    env, body = _envelope()
    fault = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"soap:{code}"
    etree.SubElement(fault, "faultstring").text = _clean(message)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def write_call(operation: str, **params: str | int | None) -> bytes:
    """A request envelope as the Web Connector sends it (used by tests and tools that speak raw SOAP)."""
    names, _ = OPERATIONS[operation]
    env, body = _envelope()
    op = etree.SubElement(body, f"{{{QBWC_NS}}}{operation}", nsmap={None: QBWC_NS})
    for name in names:
        if name in params and params[name] is not None:
            etree.SubElement(op, f"{{{QBWC_NS}}}{name}").text = _clean(str(params[name]))
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def read_result(envelope: bytes) -> str | int | list[str]:
    """The result of a response envelope; raises ``SoapFault`` with the fault text for a fault."""
    root = parse_bytes(envelope, name="SOAP response", huge_text=True)
    body_el = root.find(f"{{{SOAP_ENV}}}Body")
    if body_el is None:
        raise SoapFault("response has no SOAP Body", code="Server")
    fault = body_el.find(f"{{{SOAP_ENV}}}Fault")
    if fault is not None:
        raise SoapFault(
            fault.findtext("faultstring") or "", code=(fault.findtext("faultcode") or "").split(":")[-1]
        )
    resp = body_el[0]
    operation = etree.QName(resp).localname.removesuffix("Response")
    res = resp.find(f"{{{QBWC_NS}}}{operation}Result")
    kind = OPERATIONS[operation][1]
    if kind == "array":
        return [] if res is None else [s.text or "" for s in res]
    if kind == "int":
        return int(res.text)
    return "" if res is None else (res.text or "")


def wsdl_with_address(wsdl: bytes, address: str) -> bytes:
    """The packaged WSDL with ``soap:address location`` pointing at this server."""
    root = parse_bytes(wsdl, name="WSDL")
    for el in root.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address"):
        el.set("location", address)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")
