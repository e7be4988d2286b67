"""Reading XML that comes from outside, safely, and turning qbXML query responses into table rows.

**The parser policy** (used everywhere in qbrecon for XML from outside: files, Web Connector SOAP bodies):
lxml with ``resolve_entities=False``, ``no_network=True``, ``load_dtd=False``, ``huge_tree=False``; any DOCTYPE
(and so any ENTITY declaration: billion laughs, external entities) is refused outright with ``InputError``
before lxml reads past the prolog; nesting is bounded (``MAX_DEPTH`` for in-memory documents, libxml2's own
limit of 256 levels for streams); large responses are streamed with ``iterparse`` and every element is
cleared once read, so memory stays bounded whatever the file size.

**Query responses**: ``read_query_response`` streams the ``*Rs`` elements (status attributes, iterator) and
turns every ``*Ret`` that one of the QuickBooks tables declares (``Config.metadata["ret"]``, and
``["line"]`` for line tables) into a row, reading child text by precomputed paths (the ``source`` of each
column) and collecting rows as lists that become Arrow columns in one conversion.
"""

from __future__ import annotations

import gc
import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
from lxml import etree

from ..errors import InputError
from ..schemas import TABLES, TableSpec
from ..schemas.values import Batch, CellError, convert_batch

MAX_DEPTH = 64  # levels of nesting accepted in an in-memory document (qbXML needs about 10)
PROLOG_LIMIT = 1 << 20  # bytes before the root element (XML declaration, PIs, comments)

# True when some element sits more than MAX_DEPTH levels down: evaluated level by level inside libxml2.
_TOO_DEEP = etree.XPath("boolean(" + "/*" * (MAX_DEPTH + 1) + ")")

PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "dtd_validation": False,
}

Source = str | os.PathLike | bytes | IO[bytes]


# -- the safe parser policy -------------------------------------------------------------------------------------
def _source_name(source: Any, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, str | os.PathLike):
        return str(source)
    return getattr(source, "name", None) or "<xml>"


_PROLOG_SKIP = re.compile(rb"\s+")


def check_prolog(head: bytes, name: str, *, complete: bool = False) -> bool:
    """Refuse a DOCTYPE (so any ENTITY declaration) before the root element.

    Returns True once the root element's start was reached (the prolog is clean), False when ``head`` ends
    inside the prolog and more bytes are needed. ``complete`` says that ``head`` is the whole document.
    """
    return _scan_prolog(head, name, complete=complete) is not None


def root_tag(head: bytes) -> str | None:
    """The root element's name when ``head`` (UTF-8 or ASCII, prolog already checked) reaches its start tag."""
    pos = _scan_prolog(head, "<xml>", complete=False)
    if pos is None or pos < 0:
        return None
    m = _START_TAG.match(head, pos)
    return m.group(1).decode("utf-8", "replace") if m else None


_START_TAG = re.compile(rb"<([^\s/>]+)[\s/>]")


def _scan_prolog(head: bytes, name: str, *, complete: bool = False) -> int | None:
    """Where the root element starts in ``head`` (-1 when it cannot be told: UTF-16, or ``complete`` with no
    root), None when more bytes are needed; a declaration (DOCTYPE, ENTITY) raises ``InputError``."""
    # UTF-16 documents are checked on their decoded text (lxml's DOCTYPE check below covers other encodings).
    codec = {b"\xff\xfe": "utf-16", b"\xfe\xff": "utf-16", b"<\x00": "utf-16-le", b"\x00<": "utf-16-be"}.get(
        head[:2]
    )
    if codec:
        head = head[: len(head) // 2 * 2].decode(codec, errors="ignore").encode("utf-8", errors="ignore")
    pos = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    n = len(head)
    more = -1 if complete else None
    while True:
        m = _PROLOG_SKIP.match(head, pos)
        if m:
            pos = m.end()
        if pos >= n:
            return more
        if head.startswith(b"<?", pos):
            end = head.find(b"?>", pos)
            if end < 0:
                return more
            pos = end + 2
        elif head.startswith(b"<!--", pos):
            end = head.find(b"-->", pos)
            if end < 0:
                return more
            pos = end + 3
        elif head.startswith(b"<!", pos):
            what = head[pos + 2 : pos + 10].split()[0:1]
            kind = what[0].decode("ascii", "replace") if what else "declaration"
            raise InputError(
                f"XML with a <!{kind}> declaration is refused (document type and entity declarations are not "
                "allowed in qbXML; they are how entity-expansion and external-entity attacks work)",
                file=name,
            )
        else:
            return -1 if codec else pos


class _GuardedReader(io.RawIOBase):
    """A byte stream whose prolog was checked before lxml sees it (replays the bytes read for the check)."""

    def __init__(self, raw: IO[bytes], name: str):
        self._raw = raw
        head = b""
        while True:
            chunk = raw.read(65536)
            head += chunk or b""
            if check_prolog(head, name, complete=not chunk):
                break
            if len(head) > PROLOG_LIMIT:
                raise InputError("the XML prolog (before the root element) is longer than 1 MB", file=name)
        self._head = head

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._raw.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._raw.read(size if size is not None else -1)

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def _open(source: Source, name: str | None) -> tuple[IO[bytes], str, bool]:
    label = _source_name(source, name)
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(source)), label, True
    if isinstance(source, str | os.PathLike):
        try:
            return open(source, "rb"), label, True  # noqa: SIM115 - closed by the caller
        except OSError as exc:
            raise InputError(f"cannot open: {exc.strerror or exc}", file=label) from None
    if hasattr(source, "read"):
        return source, label, False
    raise TypeError(f"cannot read XML from {type(source).__name__}")


def _syntax_error(exc: etree.XMLSyntaxError, name: str) -> InputError:
    line = getattr(exc, "lineno", None)
    msg = getattr(exc, "msg", None) or str(exc)
    where = f" at line {line}" if line else ""
    return InputError(f"not well-formed XML{where}: {msg}", file=name)


def _refuse_dtd(element: etree._Element, name: str) -> None:
    info = element.getroottree().docinfo
    if info.internalDTD is not None or info.externalDTD is not None or info.doctype:
        raise InputError("XML with a DOCTYPE declaration is refused", file=name)


def safe_iterparse(
    source: Source, tags: Iterable[str] | str | None = None, *, name: str | None = None
) -> Iterator[etree._Element]:
    """Stream the elements named ``tags`` (all elements when None) as each one ends, under the safe policy.

    Each yielded element is cleared (and its already-read earlier siblings dropped) once the caller asks for
    the next one, so read what you need from it before moving on; a matching element nested inside another
    is therefore already cleared when the outer one arrives. Malformed or hostile XML raises
    ``InputError`` naming the file and line.
    """
    raw, label, close = _open(source, name)
    try:
        guarded = _GuardedReader(raw, label)
        kwargs: dict[str, Any] = dict(PARSER_OPTIONS, events=("end",), remove_comments=True, remove_pis=True)
        if tags is not None:
            kwargs["tag"] = [tags] if isinstance(tags, str) else list(tags)
        first = True
        try:
            for _event, el in etree.iterparse(guarded, **kwargs):
                if first:
                    _refuse_dtd(el, label)
                    first = False
                yield el
                el.clear(keep_tail=False)
                parent = el.getparent()
                if parent is not None:
                    while el.getprevious() is not None:
                        del parent[0]
        except etree.XMLSyntaxError as exc:
            raise _syntax_error(exc, label) from None
    finally:
        if close:
            raw.close()


def parse_bytes(data: bytes | str, *, name: str | None = None, huge_text: bool = False) -> etree._Element:
    """Parse a small document (a SOAP body, one qbXML message) under the safe policy; returns the root.

    ``huge_text`` lifts libxml2's 10 MB limit on one text node (a Web Connector ``<response>`` carries a whole
    escaped qbXML response); DOCTYPE refusal, no entities, no network and the depth bound still apply.
    """
    label = name or "<xml>"
    if isinstance(data, str):
        # lxml refuses str with an encoding declaration; the text is already decoded, so drop it.
        data = re.sub(r"^\s*<\?xml[^>]*\?>", "", data, count=1).encode("utf-8")
    data = bytes(data)
    # A prolog longer than the limit is refused, never passed on unchecked (the DOCTYPE could sit after it).
    if not check_prolog(data[:PROLOG_LIMIT], label, complete=len(data) <= PROLOG_LIMIT):
        raise InputError("the XML prolog (before the root element) is longer than 1 MB", file=label)
    parser = etree.XMLParser(
        **dict(PARSER_OPTIONS, huge_tree=huge_text), remove_comments=True, remove_pis=True
    )
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, label) from None
    if root is None:
        raise InputError("empty XML document", file=label)
    _refuse_dtd(root, label)
    if _TOO_DEEP(root):
        raise InputError(f"XML nested deeper than {MAX_DEPTH} levels is refused", file=label)
    return root


# -- reading plans: where each column's text is, per *Ret element ------------------------------------------------
# Columns computed from the element rather than read from a child.
_COMPUTED_RET = {"ItemType", "PaymentKind"}
_COMPUTED_LINE = {"LineNumber", "LineKind"}
# Item kinds beyond those the table declares: they load too, with their ItemType.
_MORE_ITEM_RETS = [
    "ItemInventoryRet",
    "ItemInventoryAssemblyRet",
    "ItemFixedAssetRet",
    "ItemSubtotalRet",
    "ItemDiscountRet",
    "ItemPaymentRet",
    "ItemSalesTaxRet",
    "ItemSalesTaxGroupRet",
    "ItemGroupRet",
]
# Group lines hold ordinary lines inside them (a bill's item group, an estimate's line group).
_GROUP_OF = {
    "ItemLineRet": "ItemGroupLineRet",
    "EstimateLineRet": "EstimateLineGroupRet",
    "PurchaseOrderLineRet": "PurchaseOrderLineGroupRet",
}

Trie = dict[str, tuple[int, "Trie | None"]]


def _trie(paths: dict[int, str]) -> Trie:
    """Column paths (``VendorRef/ListID``) as a tree of child tags, so a walk reads each child once."""
    root: dict = {}
    for col, path in paths.items():
        parts = path.split("/")
        node = root
        for i, part in enumerate(parts):
            col_here, sub = node.get(part, (-1, None))
            if i == len(parts) - 1:
                node[part] = (col, sub)
            else:
                if sub is None:
                    sub = {}
                node[part] = (col_here, sub)
                node = sub
    return root


@dataclass
class _LinePlan:
    spec: TableSpec
    names: list[str]
    trie: Trie
    copies: list[tuple[int, int]]  # (column, column it repeats): two columns reading one element
    parent_col: int
    number_col: int
    kind_col: int
    kinds: dict[str, str]  # line tag -> LineKind value

    def __post_init__(self) -> None:
        # read once per line in the hot loop
        self.width = len(self.names)
        self.table = self.spec.table


@dataclass
class _RetPlan:
    spec: TableSpec
    names: list[str]
    trie: Trie
    copies: list[tuple[int, int]]
    key_col: int
    consts: dict[str, list[tuple[int, str]]]  # ret tag -> [(column, value)]
    lines: dict[str, _LinePlan] = field(default_factory=dict)  # line tag -> plan
    groups: dict[str, list[str]] = field(default_factory=dict)  # group-line tag -> line tags inside it
    fill_fullname: tuple[int, int] | None = None  # (FullName, Name) for items without a hierarchy


def _columns(spec: TableSpec, skip: set[str]) -> tuple[list[str], dict[int, str], list[tuple[int, int]]]:
    names = spec.column_names
    paths: dict[int, str] = {}
    by_path: dict[str, int] = {}
    copies: list[tuple[int, int]] = []
    for i, col in enumerate(spec.columns):
        if col.name in skip:
            continue
        path = col.source or col.name
        if path in by_path:
            copies.append((i, by_path[path]))
            continue
        by_path[path] = i
        paths[i] = path
    return names, paths, copies


@lru_cache(maxsize=1)
def ret_plans() -> dict[str, _RetPlan]:
    """One reading plan per ``*Ret`` tag of the QuickBooks tables (built once)."""
    plans: dict[str, _RetPlan] = {}
    by_table: dict[str, _RetPlan] = {}
    for spec in TABLES.values():
        if spec.side != "quickbooks" or "ret" not in spec.meta:
            continue
        rets = spec.meta["ret"]
        rets = [rets] if isinstance(rets, str) else list(rets)
        if spec.table == "items":
            rets += [r for r in _MORE_ITEM_RETS if r not in rets]
        names, paths, copies = _columns(spec, _COMPUTED_RET)
        consts: dict[str, list[tuple[int, str]]] = {}
        for tag in rets:
            c: list[tuple[int, str]] = []
            if "ItemType" in names:
                c.append((names.index("ItemType"), tag.removeprefix("Item").removesuffix("Ret")))
            if "PaymentKind" in names:
                c.append((names.index("PaymentKind"), "credit_card" if "CreditCard" in tag else "check"))
            consts[tag] = c
        fill = (names.index("FullName"), names.index("Name")) if spec.table == "items" else None
        plan = _RetPlan(
            spec, names, _trie(paths), copies, names.index(spec.key[0]), consts, fill_fullname=fill
        )
        by_table[spec.table] = plan
        for tag in rets:
            plans[tag] = plan
    for spec in TABLES.values():
        if spec.side != "quickbooks" or "line" not in spec.meta:
            continue
        parent = by_table[spec.meta["parent"]]
        parent_key = parent.spec.key[0]
        names, paths, copies = _columns(spec, _COMPUTED_LINE | {parent_key})
        kinds = spec.meta.get("line_kinds") or {
            tag: tag.removesuffix("LineRet").lower() for tag in spec.meta["line"]
        }
        lp = _LinePlan(
            spec,
            names,
            _trie(paths),
            copies,
            names.index(parent_key),
            names.index("LineNumber") if "LineNumber" in names else -1,
            names.index("LineKind") if "LineKind" in names else -1,
            kinds,
        )
        for tag in spec.meta["line"]:
            parent.lines[tag] = lp
            group = _GROUP_OF.get(tag)
            if group:
                parent.groups.setdefault(group, []).append(tag)
    return plans


def _fill(el: etree._Element, trie: Trie, row: list) -> None:
    for child in el:
        node = trie.get(child.tag)
        if node is not None:
            col, sub = node
            if col >= 0:
                row[col] = child.text
            if sub is not None:
                _fill(child, sub, row)


# -- results --------------------------------------------------------------------------------------------------------
BENIGN_STATUS = {1, 500}  # "no match" (Info) and "not found" (Warn): an empty answer, not a failure


@dataclass
class ResponseStatus:
    """The status of one ``*Rs`` element: what QuickBooks said about one request."""

    file: str
    response: str  # element name, e.g. "BillQueryRs"
    requestID: str | None  # noqa: N815 - qbXML's own attribute names
    statusCode: int | None  # noqa: N815
    statusSeverity: str | None  # noqa: N815
    statusMessage: str | None  # noqa: N815
    iteratorRemainingCount: int | None = None  # noqa: N815
    iteratorID: str | None = None  # noqa: N815
    rets: int = 0  # *Ret elements read from it

    @property
    def ok(self) -> bool:
        return self.statusCode == 0 or self.statusCode in BENIGN_STATUS

    @property
    def is_error(self) -> bool:
        return not self.ok


@dataclass
class QueryResult:
    """Rows read from qbXML responses (raw ``batches`` per table) and the status of every response."""

    batches: dict[str, Batch] = field(default_factory=dict)
    statuses: list[ResponseStatus] = field(default_factory=list)
    groups: int = 0  # source records read (a Ret with its lines is one)

    def table(self, name: str) -> pa.Table:
        """Typed Arrow table of one QuickBooks table (values that could not be read are null; see ``errors``)."""
        batch = self.batches.get(name) or Batch.empty(TABLES[name])
        return convert_batch(batch)[0]

    def frame(self, name: str) -> pd.DataFrame:
        return self.table(name).to_pandas(types_mapper=pd.ArrowDtype)

    def errors(self, name: str) -> list[CellError]:
        batch = self.batches.get(name)
        return convert_batch(batch)[1] if batch is not None else []

    @property
    def errors_reported(self) -> list[ResponseStatus]:
        return [s for s in self.statuses if s.is_error]

    def counts(self) -> dict[str, int]:
        return {name: len(b) for name, b in self.batches.items()}


def _status(rs: etree._Element, file: str) -> ResponseStatus:
    a = rs.attrib

    def _int(key: str) -> int | None:
        v = a.get(key)
        try:
            return int(v) if v is not None else None
        except ValueError:
            return None

    return ResponseStatus(
        file,
        rs.tag,
        a.get("requestID"),
        _int("statusCode"),
        a.get("statusSeverity"),
        a.get("statusMessage"),
        _int("iteratorRemainingCount"),
        a.get("iteratorID"),
    )


class _Collector:
    """Rows of one file, per table, as lists (turned into columns once at the end).

    Each row list ends with two bookkeeping values, its source row and its group, so that one transposition
    yields every column.
    """

    def __init__(self, file: str):
        self.file = file
        self.rows: dict[str, list[list]] = {}

    def table_rows(self, table: str) -> list[list]:
        rows = self.rows.get(table)
        if rows is None:
            rows = self.rows[table] = []
        return rows

    def batches(self, plans_by_table: dict[str, tuple[TableSpec, list[str], list[tuple[int, int]]]]) -> dict:
        out: dict[str, Batch] = {}
        for table, rows in self.rows.items():
            if not rows:
                continue
            spec, names, copies = plans_by_table[table]
            cols = [list(c) for c in zip(*rows, strict=True)]
            group = cols.pop()
            source_row = cols.pop()
            for dst, src in copies:
                cols[dst] = cols[src]
            out[table] = Batch(
                spec, dict(zip(names, cols, strict=True)), [self.file] * len(rows), source_row, group, None
            )
        return out


def _read_ret(ret: etree._Element, plan: _RetPlan, coll: _Collector, source_row: int, group: int) -> None:
    """One Ret (and its lines) into rows: a walk over its children reading each wanted element's text once."""
    n = len(plan.names)
    row = [None] * n + [source_row, group]
    trie = plan.trie
    get = trie.get
    lines = plan.lines
    number = 0
    for child in ret:
        tag = child.tag
        node = get(tag)
        if node is not None:
            col, sub = node
            if col >= 0:
                row[col] = child.text
            if sub is not None:
                _fill(child, sub, row)
            continue
        lp = lines.get(tag)
        if lp is not None:
            number += 1
            _read_line(
                child, tag, lp, row[plan.key_col], number, coll.table_rows(lp.table), source_row, group
            )
        elif tag in plan.groups:
            for inner in child:
                lp = lines.get(inner.tag)
                if lp is not None:
                    number += 1
                    _read_line(
                        inner,
                        inner.tag,
                        lp,
                        row[plan.key_col],
                        number,
                        coll.table_rows(lp.table),
                        source_row,
                        group,
                    )
    for col, value in plan.consts.get(ret.tag, ()):
        row[col] = value
    for dst, src in plan.copies:
        row[dst] = row[src]
    if plan.fill_fullname is not None and row[plan.fill_fullname[0]] is None:
        row[plan.fill_fullname[0]] = row[plan.fill_fullname[1]]
    coll.table_rows(plan.spec.table).append(row)


def _read_line(
    el: etree._Element,
    tag: str,
    lp: _LinePlan,
    parent_key: str | None,
    number: int,
    rows: list[list],
    source_row: int,
    group: int,
) -> None:
    lrow = [None] * lp.width + [source_row, group]
    get = lp.trie.get
    for child in el:
        node = get(child.tag)
        if node is not None:
            col, sub = node
            if col >= 0:
                lrow[col] = child.text
            if sub is not None:
                for g in child:
                    n2 = sub.get(g.tag)
                    if n2 is not None:
                        if n2[0] >= 0:
                            lrow[n2[0]] = g.text
                        if n2[1] is not None:
                            _fill(g, n2[1], lrow)
    lrow[lp.parent_col] = parent_key
    if lp.number_col >= 0:
        lrow[lp.number_col] = number
    if lp.kind_col >= 0:
        lrow[lp.kind_col] = lp.kinds[tag]
    for dst, src in lp.copies:
        lrow[dst] = lrow[src]
    rows.append(lrow)


@lru_cache(maxsize=1)
def _plans_by_table() -> dict[str, tuple[TableSpec, list[str], list[tuple[int, int]]]]:
    out = {}
    for plan in ret_plans().values():
        out[plan.spec.table] = (plan.spec, plan.names, plan.copies)
        for lp in plan.lines.values():
            out[lp.spec.table] = (lp.spec, lp.names, lp.copies)
    return out


def read_response_tree(root: etree._Element, *, name: str | None = None) -> QueryResult:
    """``read_query_response`` for a response already parsed (``parse_bytes``): the same rows and statuses, read
    from the tree without parsing the text again. The tree is left as it is (the Web Connector's apply path
    reads the echoed Rets from it afterwards)."""
    label = name or "<xml>"
    msgs = root if root.tag == "QBXMLMsgsRs" else root.find("QBXMLMsgsRs")
    if root.tag not in ("QBXML", "QBXMLMsgsRs") or msgs is None:
        raise InputError("not a qbXML response: no <QBXMLMsgsRs> or *Ret element found", file=label)
    plans = ret_plans()
    result = QueryResult()
    coll = _Collector(Path(label).name if label != "<xml>" else label)
    ret_no = 0
    for rs in msgs:
        if not isinstance(rs.tag, str):
            continue
        status = _status(rs, coll.file)
        result.statuses.append(status)
        if not rs.tag.endswith("Rs"):
            continue
        for el in rs:
            plan = plans.get(el.tag) if isinstance(el.tag, str) else None
            if plan is None:
                continue
            ret_no += 1
            _read_ret(el, plan, coll, ret_no, ret_no - 1)
            status.rets += 1
    result.batches = coll.batches(_plans_by_table())
    result.groups = ret_no
    return result


def read_query_response(source: Source, *, name: str | None = None, first_group: int = 0) -> QueryResult:
    """Stream one qbXML response document into rows for the QuickBooks tables, with every response's status.

    Any ``*Ret`` a table declares becomes a row, whether it answers a query or echoes an add/mod. Unknown
    elements are ignored. Rows carry their 1-based position in the file (``source_row``); a Ret and its lines
    share a group number (counted from ``first_group``).
    """
    plans = ret_plans()
    raw, label, close = _open(source, name)
    result = QueryResult()
    coll = _Collector(Path(label).name if label != "<xml>" else label)
    statuses: list[ResponseStatus] = []
    current_rs: etree._Element | None = None
    current_status: ResponseStatus | None = None
    seen_rs: list[etree._Element] = []  # response elements already recorded, kept until they are dropped
    ret_no = 0
    # Millions of small row lists would set off the cyclic garbage collector again and again (rows hold no
    # cycles); pausing it keeps reading linear in the file size.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        guarded = _GuardedReader(raw, label)
        root = root_tag(guarded._head)
        if root is not None and root != "QBXML":
            # Refused before reading on: elements the reader does not ask for stay in memory until their parent
            # ends, so a huge document of something else would otherwise grow with the file before its refusal.
            raise InputError(
                f"not a qbXML response: the root element is <{root[:40]}>, not <QBXML>", file=label
            )
        tags = list(plans) + ["QBXMLMsgsRs"]
        # remove_blank_text: the indentation between elements never becomes text nodes (a value that is only
        # blanks, <Memo> </Memo>, is kept by libxml2), which makes building the tree about 6% cheaper.
        context = etree.iterparse(
            guarded,
            events=("end",),
            tag=tags,
            remove_comments=True,
            remove_pis=True,
            remove_blank_text=True,
            **PARSER_OPTIONS,
        )
        first = True
        try:
            for _event, el in context:
                if first:
                    _refuse_dtd(el, label)
                    first = False
                tag = el.tag
                if tag == "QBXMLMsgsRs":
                    for rs in el:
                        if isinstance(rs.tag, str) and not any(rs is s for s in seen_rs):
                            statuses.append(_status(rs, coll.file))
                    el.clear()
                    continue
                rs = el.getparent()
                if rs is None or not rs.tag.endswith("Rs"):
                    continue  # a Ret nested inside another element: read as part of its parent, if at all
                if rs is not current_rs:
                    current_rs = rs
                    current_status = _status(rs, coll.file)
                    statuses.append(current_status)
                    # Responses before this one are done: record any we never saw a Ret of, then drop them.
                    msgs = rs.getparent()
                    if msgs is not None:
                        while rs.getprevious() is not None:
                            prev = rs.getprevious()
                            if not any(prev is s for s in seen_rs) and isinstance(prev.tag, str):
                                statuses.insert(len(statuses) - 1, _status(prev, coll.file))
                            seen_rs[:] = [s for s in seen_rs if s is not prev]
                            msgs.remove(prev)
                    seen_rs.append(rs)
                ret_no += 1
                _read_ret(el, plans[tag], coll, ret_no, first_group + ret_no - 1)
                current_status.rets += 1  # type: ignore[union-attr]
                el.clear(keep_tail=False)
                while el.getprevious() is not None:
                    del rs[0]
        except etree.XMLSyntaxError as exc:
            raise _syntax_error(exc, label) from None
        if first:
            raise InputError("not a qbXML response: no <QBXMLMsgsRs> or *Ret element found", file=label)
        result.batches = coll.batches(_plans_by_table())
    finally:
        if gc_was_enabled:
            gc.enable()
        if close:
            raw.close()
    result.statuses = statuses
    result.groups = ret_no
    return result


# -- splitting a large response at Ret boundaries (so that the parts can be read in parallel) -------------------
# Bytes of XML per part: memory grows with this, not with the file. 8 MB: on the 220 MB benchmark file the same
# CPU-seconds and wall time as 16 MB parts, ~730 MB peak for the load's process tree instead of ~950 MB.
PART_BYTES = 8 << 20
_SPLIT_ENCODINGS = {b"utf-8", b"utf8", b"us-ascii", b"ascii"}
_TAG_NAME = re.compile(rb"/?[A-Za-z_][\w.-]*")
_DECL = re.compile(rb"<\?xml\s[^>]*?\?>")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_ROOT_OPEN = re.compile(rb"\s*(<(QBXML)\b[^<>]*>)\s*(<(QBXMLMsgsRs)\b[^<>]*>)")


@dataclass(frozen=True)
class ResponsePart:
    """A byte range of a response file that reads as a document of its own once wrapped in ``opening`` (the
    XML declaration and the start tags open at ``start``) and ``closing`` (the end tags open at ``end``)."""

    start: int
    end: int
    opening: bytes = b""
    closing: bytes = b""
    rets_split: bool = False  # True when it begins inside a response that the previous part began


def _prolog_end(head: bytes) -> int | None:
    """Offset of the root element's ``<`` (after the declaration, PIs, comments and blanks), None if unclear."""
    pos = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    n = len(head)
    while pos < n:
        m = _PROLOG_SKIP.match(head, pos)
        if m:
            pos = m.end()
        if head.startswith(b"<?", pos):
            end = head.find(b"?>", pos)
            if end < 0:
                return None
            pos = end + 2
        elif head.startswith(b"<!--", pos):
            end = head.find(b"-->", pos)
            if end < 0:
                return None
            pos = end + 3
        elif head.startswith(b"<!", pos):
            return None
        else:
            return pos if pos < n else None
    return None


def _last_ret_end(buf: bytes, ret_tags: frozenset[bytes]) -> int | None:
    """Offset just past the last ``</XRet>`` end tag in ``buf`` whose name is a table's Ret, or None."""
    end = len(buf)
    for _ in range(10_000):
        i = buf.rfind(b"Ret>", 0, end)
        if i < 0:
            return None
        j = buf.rfind(b"</", max(0, i - 80), i)
        if j >= 0 and buf[j + 2 : i + 3] in ret_tags:
            return i + 4
        end = i
    return None


def _rs_context(buf: bytes, start: int, stop: int, rs_open: bytes | None) -> bytes | None:
    """The ``*Rs`` start tag open at ``stop``, following the response start and end tags in ``buf[start:stop]``
    (the part holds no comment, CDATA or PI, so every ``<`` there starts a tag)."""
    k = buf.find(b"Rs", start, stop)
    while k >= 0:
        after = buf[k + 2 : k + 3]
        if after and after in b" \t\r\n/>":
            j = buf.rfind(b"<", max(start, k - 200), k)
            if j >= 0 and _TAG_NAME.fullmatch(buf, j + 1, k + 2):
                if buf[j + 1 : j + 2] == b"/":
                    rs_open = None
                else:
                    e = buf.find(b">", k)
                    if e < 0:
                        return None
                    if buf[e - 1 : e] != b"/" and buf[j + 1 : k + 2] != b"QBXMLMsgsRs":
                        rs_open = buf[j : e + 1]
        k = buf.find(b"Rs", k + 2, stop)
    return rs_open


def _markup_declaration(buf: bytes, start: int) -> bool:
    """Whether ``buf[start:]`` holds ``<!`` or ``<?`` (a comment, CDATA, DOCTYPE or PI): one-byte searches are
    several times faster than two-byte ones here, and ``!`` and ``?`` are rare in qbXML text."""
    for mark in (b"!", b"?"):
        i = buf.find(mark, start)
        while i >= 0:
            if i > 0 and buf[i - 1] == 0x3C:  # '<'
                return True
            i = buf.find(mark, i + 1)
    return False


def _rs_at(buf: bytes, start: int, stop: int, rs_open: bytes | None) -> bytes | None:
    """``_rs_context`` without a scan when the open response does not end in ``buf[start:stop]`` (the usual case:
    one response spanning many parts)."""
    if rs_open is not None:
        name = _TAG_NAME.match(rs_open, 1).group(0)  # type: ignore[union-attr]
        if buf.find(b"</" + name + b">", start, stop) < 0:
            return rs_open
    return _rs_context(buf, start, stop, rs_open)


def _closing(rs_open: bytes, root: bytes, msgs: bytes) -> bytes:
    name = _TAG_NAME.match(rs_open, 1).group(0)  # type: ignore[union-attr]
    return b"</" + name + b"></" + msgs + b"></" + root + b">"


def split_response(path: str | os.PathLike, part_bytes: int = PART_BYTES) -> Iterator[ResponsePart]:
    """Cut a response file into parts of about ``part_bytes`` at ``*Ret`` boundaries, reading it once in blocks.

    Each part is wrapped by the caller into a document of its own and read with ``read_query_response``, which
    applies the whole safe-XML policy to it (the first part carries the real prolog, so the DOCTYPE refusal
    sees it). Only the simple, common shape is cut: UTF-8 (or ASCII), ``<QBXML><QBXMLMsgsRs>`` at the top, and
    no comment, CDATA section, PI or declaration after the prolog -- there every ``<`` starts a tag, so the
    end tags found by a byte search are real. Anything else goes as one part from the point where it was met
    (memory then grows with that part). A wrong cut (a Ret tag nested deeper than a response) cannot pass
    unnoticed: the parts on both sides of it are not well-formed, and the caller then reads serially.
    """
    ret_tags = frozenset(tag.encode() for tag in ret_plans())
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        buf = f.read(PROLOG_LIMIT)
        body = _prolog_end(buf)
        decl = _DECL.match(buf, 3 if buf.startswith(b"\xef\xbb\xbf") else 0)
        enc = _ENCODING.search(decl.group(0)) if decl else None
        top = _ROOT_OPEN.match(buf, body) if body is not None else None
        if top is not None:
            f.seek(0)
            buf = f.read(top.end() + part_bytes)
        if (
            size <= part_bytes * 3 // 2
            or top is None
            or buf[:2] in (b"\xff\xfe", b"\xfe\xff")
            or (enc is not None and enc.group(1).lower() not in _SPLIT_ENCODINGS)
        ):
            yield ResponsePart(0, size)
            return
        prefix = (decl.group(0) if decl else b"") + top.group(1) + top.group(3)
        root, msgs = top.group(2), top.group(4)
        pos = 0  # file offset of buf[0]
        scan_from = top.end()  # where the body (no '<!' or '<?' allowed) starts in buf
        ctx_from = top.end()  # where response tags are looked for
        rs_open: bytes | None = None
        opening = b""
        split = False
        while True:
            eof = pos + len(buf) >= size
            if eof:
                yield ResponsePart(pos, size, opening, b"", split)
                return
            if _markup_declaration(buf, scan_from):
                break
            cut = _last_ret_end(buf, ret_tags)
            if cut is None or cut <= ctx_from:
                scan_from = max(scan_from, len(buf) - 1)  # a "<!" across the two reads is still seen
                buf += f.read(part_bytes)
                continue
            ctx = _rs_at(buf, ctx_from, cut, rs_open)
            if ctx is None:
                break
            yield ResponsePart(pos, pos + cut, opening, _closing(ctx, root, msgs), split)
            rs_open, opening, split = ctx, prefix + ctx, True
            pos += cut
            buf = buf[cut:] + f.read(part_bytes)
            scan_from = ctx_from = 0
        yield ResponsePart(pos, size, opening, b"", split)


def read_part(path: str | os.PathLike, part: ResponsePart, *, name: str | None = None) -> QueryResult:
    """Read one part of ``split_response`` as a response document of its own (rows numbered from 1)."""
    with open(path, "rb") as f:
        f.seek(part.start)
        data = f.read(part.end - part.start)
    if part.opening or part.closing:
        data = part.opening + data + part.closing
    return read_response_bytes(data, name=name or str(path))


def read_response_bytes(data: bytes, *, name: str | None = None, first_group: int = 0) -> QueryResult:
    """``read_query_response`` for a document in memory: read with array operations when it has the simple shape
    (``qbxml.vectorised``: the same rows, statuses and groups), walked otherwise."""
    from .vectorised import read_simple

    result = read_simple(data, name=name, first_group=first_group)
    if result is not None:
        return result
    return read_query_response(data, name=name, first_group=first_group)


def ret_to_rows(element: etree._Element) -> dict[str, list[dict[str, Any]]]:
    """One ``*Ret`` element (and its lines) as typed rows per table: ``{"bills": [...], "bill_lines": [...]}``.

    For add/mod responses that echo the stored object. A value that cannot be read raises ``InputError``
    naming the field.
    """
    plan = ret_plans().get(element.tag)
    if plan is None:
        raise InputError(f"no QuickBooks table reads <{element.tag}>", field=element.tag)
    coll = _Collector("<response>")
    _read_ret(element, plan, coll, 1, 0)
    out: dict[str, list[dict[str, Any]]] = {}
    for table, batch in coll.batches(_plans_by_table()).items():
        typed, errors = convert_batch(batch)
        if errors:
            e = errors[0]
            raise InputError(f"{e.failure_case} ({e.check})", row=e.row + 1, field=f"{element.tag}/{e.field}")
        out[table] = typed.to_pylist()
    return out


def ret_to_row(element: etree._Element, spec: TableSpec | None = None) -> dict[str, Any]:
    """One ``*Ret`` element as a typed row of its table (``spec`` checks it is the expected table)."""
    rows = ret_to_rows(element)
    plan = ret_plans()[element.tag]
    if spec is not None and spec.table != plan.spec.table:
        raise InputError(
            f"<{element.tag}> is a row of {plan.spec.table}, not {spec.table}", field=element.tag
        )
    return rows[plan.spec.table][0]


__all__ = [
    "MAX_DEPTH",
    "PARSER_OPTIONS",
    "PART_BYTES",
    "QueryResult",
    "ResponsePart",
    "ResponseStatus",
    "check_prolog",
    "parse_bytes",
    "read_part",
    "read_query_response",
    "read_response_bytes",
    "ret_plans",
    "ret_to_row",
    "ret_to_rows",
    "safe_iterparse",
    "split_response",
]
