"""qbXML requests from frames of accepted Procore rows: add/mod requests, queries, and message sets.

How a request is made:

1. A per-item-type *prepare* function turns the accepted rows (and their lines) into frames whose columns are
   qbXML paths relative to the message (``VendorRef/ListID``, ``RefNumber``, ``ItemLineAdd`` lines with
   ``ItemRef/ListID`` ...). Joins, sums and references are frame operations (merge, groupby), not loops.
2. Values become qbXML text column by column (amounts with two decimals via Arrow's decimal cast, dates
   ``YYYY-MM-DD``, booleans ``true``/``false``) and control characters are stripped.
3. Every path with a maximum length (``spec.MAXLEN``) is checked for the whole column at once; a row that does
   not fit becomes a per-row error naming the Procore id and field -- never a truncated value.
4. Each remaining row becomes one ``*Rq`` element. Children are placed by ``spec.ORDER`` (schema order), so a
   dict's order can never leak into the XML; lxml does all escaping.

``message_sets`` then batches requests (dependency order from ``entities.PAIRS``, bounded size,
``onError="continueOnError"``) into ASCII documents with the ``<?qbxml version?>`` instruction.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from ..entities import PAIRS
from ..errors import InputError
from ..schemas.types import MONEY_TYPE
from . import spec

ON_ERROR = ("continueOnError", "stopOnError")  # rollbackOnError passes the XSD but QuickBooks refuses it
DEFAULT_MAX_REQUESTS = 50
CONTROL_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_LIST_ID = re.compile(r"^[0-9A-Fa-f]+-\d+$")  # 80000005-1446676743: a ListID rather than a FullName
ERROR_COLUMNS = ["procore_id", "item_type", "field", "message"]
_WORK_MONEY = pa.decimal128(30, 2)  # room for sums; (38, 2) + (38, 2) would overflow Arrow's precision


# -- results ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """One ``*Rq`` element and the source row it maps back to (through ``request_id``)."""

    request_id: str
    item_type: str  # entities item type, or "query"
    procore_id: int | None
    action: str  # add | mod | query
    request_name: str  # BillAdd, PurchaseOrderMod, CustomerQuery ...
    element: etree._Element  # the <...Rq requestID="..."> element
    # per line element sent, in order: the Procore lines it stands for ("commitment_lines:550,551"), or None
    line_sources: tuple[str | None, ...] = ()

    def xml(self) -> bytes:
        return etree.tostring(self.element, encoding="us-ascii")


@dataclass
class BuildResult:
    requests: list[Request]
    errors: pd.DataFrame  # procore_id, item_type, field, message -- one row per refusal

    @property
    def frame(self) -> pd.DataFrame:
        """The requests as a frame: request_id, item_type, procore_id, action, request_name."""
        return requests_frame(self.requests)

    def __add__(self, other: BuildResult) -> BuildResult:
        return BuildResult(self.requests + other.requests, _concat_errors([self.errors, other.errors]))


class OutgoingXml:
    """What every message set on its way to QuickBooks offers: ``xml`` (ASCII bytes) and its ``request_ids``."""

    xml: bytes
    request_ids: tuple[str, ...]

    @property
    def xml_text(self) -> str:
        return self.xml.decode("ascii")

    def __len__(self) -> int:
        return len(self.request_ids)


@dataclass(frozen=True)
class MessageSet(OutgoingXml):
    xml: bytes  # the whole document, ready for sendRequestXML
    request_ids: tuple[str, ...]
    version: str = spec.QBXML_VERSION
    on_error: str = "continueOnError"


@dataclass
class BuildContext:
    """What a build needs besides the rows: settings chosen by the ERP admin and the reference frames.

    Reference frames are the workspace tables (``projects``, ``companies``, ``cost_codes``, ``commitments``,
    ``commitment_lines``) whose ``origin_id`` holds the QuickBooks ListID/TxnID once synced, plus QuickBooks
    tables read back from the company file (``customers`` for job full names, ``purchase_orders`` and
    ``purchase_order_lines`` for the current EditSequence and line ids a CCO must keep, ``estimate_lines``).
    """

    attempt: int = 1
    use_procore_contract_number: bool = True
    retainage_item: str | None = None  # the "Invoice Retainage Item" (service item FullName or ListID)
    service_item_account: str | None = None  # account for new service items (cost codes)
    vendor_type: str | None = None  # default VendorTypeRef when a row has no vendor_type
    customers_are_jobs: bool = False  # "Customers = Jobs": a project becomes a top-level customer
    link_bills_to_purchase_orders: bool = True
    version: str = spec.QBXML_VERSION
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    def frame(self, name: str) -> pd.DataFrame | None:
        return self.frames.get(name)

    @classmethod
    def from_store(
        cls, store: Any, frames: Any = None, *, settings: dict[str, Any] | None = None, **overrides: Any
    ) -> BuildContext:
        """Settings and reference frames from a workspace store (``Workspace.store``).

        ``settings`` are the ERP settings (``erp.settings.read_settings(store, mask=False)``; the ERP layer
        reads them, this one only builds: qbxml never imports erp). ``frames`` may be any mapping of table
        name -> frame (the export reads them lazily); by default the reference tables are read now.
        """
        settings = settings or {}
        if frames is None:
            names = [
                "projects",
                "companies",
                "cost_codes",
                "commitments",
                "commitment_lines",
                "customers",
                "purchase_orders",
                "purchase_order_lines",
                "estimate_lines",
                "items",
            ]
            frames = {n: store.frame(n) for n in names if n in store.table_names()}
        item = settings.get("invoice_retainage_item")
        if isinstance(item, dict):  # the setting stores the chosen item as {ListID, FullName}
            item = item.get("ListID") or item.get("FullName")
        values = dict(
            use_procore_contract_number=bool(settings.get("use_procore_contract_number", True)),
            retainage_item=item,
            service_item_account=settings.get("service_item_expense_account"),
            frames=frames,
        )
        values.update(overrides)
        return cls(**values)


# -- text conversion (column at a time) --------------------------------------------------------------------
def _arrow(values: Any) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.ArrowDtype):
        return pa.array(values)
    series = pd.Series(values) if not isinstance(values, pd.Series) else values
    try:  # strings, ints, Decimals, dates with None/NaN: Arrow infers the type in C
        return pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    items = [None if _missing(v) else v for v in series.tolist()]
    if any(isinstance(v, Decimal) for v in items):
        return pa.array(items, pa.decimal128(38, 5))
    if any(isinstance(v, datetime) for v in items):
        return pa.array([None if v is None else v.date() if isinstance(v, datetime) else v for v in items])
    return pa.array(items)


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v)


def to_text(values: Any, kind: str = "text") -> list[str | None]:
    """qbXML text for a column: ``money`` (2 decimals), ``quantity`` (<= 5 decimals), ``date``, ``bool``, text.

    Empty strings become missing (no element), control characters are stripped.
    """
    return _text_array(values, kind).to_pylist()


def _text_array(values: Any, kind: str = "text") -> pa.Array | pa.ChunkedArray:
    """``to_text`` kept as an Arrow string array (the engine checks lengths and escapes it without Python)."""
    out = _convert(values, kind)
    return _clean(out) if kind == "text" else out


def _convert(values: Any, kind: str) -> pa.Array | pa.ChunkedArray:
    """A column as qbXML text of its kind; text columns as they are (``_clean`` strips and blanks them)."""
    arr = _arrow(values)
    if kind == "money":
        return pc.cast(_money_array(arr), pa.string())
    if kind == "quantity":
        out = pc.cast(pc.cast(arr, pa.decimal128(18, 5)), pa.string())
        out = pc.replace_substring_regex(out, r"(\.\d*?)0+$", r"\1")
        return pc.replace_substring_regex(out, r"\.$", "")
    if kind == "date":
        if pa.types.is_timestamp(arr.type):
            arr = pc.cast(arr, pa.date32())
        return pc.cast(arr, pa.string())
    if kind == "bool":
        return pc.cast(pc.cast(arr, pa.bool_()), pa.string())
    return (
        arr
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
        else pc.cast(arr, pa.string())
    )


def _clean(out: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Control characters stripped and blank text made missing."""
    out = pc.replace_substring_regex(out, CONTROL_CHARS, "")
    return pc.if_else(pc.equal(pc.utf8_trim_whitespace(out), ""), pa.scalar(None, out.type), out)


def _money_array(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Amounts at two decimals; a value with more precision is a data error, never rounded silently."""
    if pa.types.is_decimal(arr.type) and arr.type.scale == 2:
        return arr
    try:
        return pc.cast(arr, _WORK_MONEY)
    except pa.ArrowInvalid as exc:
        raise InputError(f"amount with more than two decimals: {exc}") from None


def money_sum(*series: pd.Series) -> pd.Series:
    """Element-wise sum of money columns with missing as zero, kept exact (decimal, never float)."""
    total = None
    zero = pa.scalar(Decimal("0"), _WORK_MONEY)
    for s in series:
        arr = pc.fill_null(pc.cast(_money_array(_arrow(s)), _WORK_MONEY), zero)
        total = arr if total is None else pc.cast(pc.add(total, arr), _WORK_MONEY)
    return pd.Series(total, index=series[0].index, dtype=pd.ArrowDtype(_WORK_MONEY))


def _as_money(s: pd.Series) -> pd.Series:
    if not len(s):
        return s.astype(pd.ArrowDtype(MONEY_TYPE))
    return pd.Series(pc.cast(_arrow(s), _WORK_MONEY), index=s.index, dtype=pd.ArrowDtype(_WORK_MONEY))


def format_datetime(value: datetime | date | str) -> str:
    """qbXML DATETIMETYPE: ``YYYY-MM-DDThh:mm:ss[+hh:mm]`` -- no ``Z``, no fractions (both fail the schema)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        text = value.replace(microsecond=0).isoformat()
        return text
    return value.isoformat()


# -- the engine ----------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1024)
def _message_plan(
    parent: str, paths: tuple[str, ...], lines: tuple[str, ...]
) -> tuple[list[tuple], list[str]]:
    """``_plan`` for a message kind, kept per process: every message set of a kind has the same paths (callers
    only read the steps)."""
    return _plan(parent, paths, lines)


def _plan(parent: str, paths: Iterable[str], lines: Iterable[str] = ()) -> tuple[list[tuple], list[str]]:
    """Paths sorted into schema order -> (steps, value paths). A step is one parent's run of consecutive
    children: ``(parent names, ((value index, leaf), ...))``; a line element is ``(None, line element name)``
    at its own position among the message's children. Computed once per message kind, used for every row."""
    entries = []
    for p in paths:
        parts = tuple(p.split("/"))
        key, here = [], parent
        for part in parts:
            key.append(spec.position(here, part))
            here = part
        entries.append((tuple(key), p, parts))
    for name in lines:
        entries.append(((spec.position(parent, name),), None, (name,)))
    entries.sort(key=lambda x: x[0])
    steps: list[tuple] = []
    value_paths: list[str] = []
    for _, p, parts in entries:
        if p is None:
            steps.append((None, parts[0]))
            continue
        prefix, item = parts[:-1], (len(value_paths), parts[-1])
        value_paths.append(p)
        if steps and steps[-1][0] == prefix:
            steps[-1] = (prefix, (*steps[-1][1], item))
        else:
            steps.append((prefix, (item,)))
    return steps, value_paths


def _parent(elem: etree._Element, prefix: tuple[str, ...], made: dict) -> etree._Element:
    """The element at ``prefix`` under ``elem`` (``VendorRef``), made on first use."""
    found = made.get(prefix)
    if found is None:
        up = elem if len(prefix) == 1 else _parent(elem, prefix[:-1], made)
        found = made[prefix] = etree.SubElement(up, prefix[-1])
    return found


def _fill(
    elem: etree._Element, steps: list[tuple], values: tuple, line_groups: Mapping[str, list] | None
) -> None:
    """Append children to ``elem`` in step (schema) order; parents (``VendorRef``) are made when their first
    present child comes -- steps are sorted, so all children of one parent are consecutive. This runs once per
    request and per line (hundreds of thousands of times), hence the flat loops."""
    sub = etree.SubElement
    made: dict | None = None
    for prefix, items in steps:
        if prefix is None:  # the message's line elements go here
            if line_groups:
                for line_elem in line_groups.get(items, ()):
                    elem.append(line_elem)
        elif not prefix:
            for idx, leaf in items:
                v = values[idx]
                if v is not None:
                    sub(elem, leaf).text = v
        else:
            parent = None
            for idx, leaf in items:
                v = values[idx]
                if v is None:
                    continue
                if parent is None:
                    if made is None:
                        made = {}
                    parent = _parent(elem, prefix, made)
                sub(parent, leaf).text = v


def _compile_text(steps: list[tuple]) -> list[tuple] | None:
    """Steps as tag text, when every parent is one level deep (``VendorRef/ListID``, the usual case); None
    when deeper nesting needs ``_fill``. Items: ``(0, ((idx, "<Leaf>", "</Leaf>"), ...), None)`` for direct
    children, ``(1, (...), ("<Parent>", "</Parent>"))`` for one parent's run, ``(2, line element name, None)``."""
    out: list[tuple] = []
    for prefix, items in steps:
        if prefix is None:
            out.append((2, items, None))
            continue
        if len(prefix) > 1:
            return None
        tagged = tuple((idx, f"<{leaf}>", f"</{leaf}>") for idx, leaf in items)
        out.append((1, tagged, (f"<{prefix[0]}>", f"</{prefix[0]}>")) if prefix else (0, tagged, None))
    return out


def _string_array(values: Any) -> pa.Array:
    """A text column (list or Arrow array) as one Arrow string array."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == pa.string() else pc.cast(values, pa.string())
    return pa.array(values, pa.string())


def _escape(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """XML character data for text (what lxml writes for ``.text``), in a few vectorised passes: ``&``, ``<``,
    ``>``, and carriage returns as ``&#13;`` so that parsing keeps them."""
    for raw, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#13;")):
        values = pc.replace_substring(values, raw, entity)
    return values


def _tagged(names: list[str], values: pa.ChunkedArray, n: int) -> pa.ChunkedArray:
    """Each value as its element's XML (``<Leaf>escaped text</Leaf>``, "" where missing), for all the columns
    at once (``values``: ``_texts``), so the kernels run once per message kind rather than once per column."""
    leaves = [p.rsplit("/", 1)[-1] for p in names]
    opening = pa.chunked_array([pa.repeat(f"<{leaf}>", n) for leaf in leaves], pa.string())
    closing = pa.chunked_array([pa.repeat(f"</{leaf}>", n) for leaf in leaves], pa.string())
    joined = pc.binary_join_element_wise(opening, _escape(values), closing, "")
    return pc.fill_null(joined, pa.scalar("", pa.string()))


def _render(compiled: list[tuple], cols: list[pa.ChunkedArray], n: int) -> list[list[str]]:
    """The children's XML text for every row at once (Arrow string kernels, no Python per row), split at the
    line slots: segment k is the text between line slot k-1 and k. ``cols``: each value path's elements
    (``_tagged``). Same as ``_fill``: a child only when its value is present, a parent only when one of its
    children is -- an empty ``<Parent></Parent>`` can only be a parent none of whose children is present
    (escaped text holds no ``<``, and a qbXML name is either an aggregate or a leaf), so it is dropped."""
    segments: list[list] = [[]]
    parents: list[list[str]] = [[]]
    for kind, items, wrap in compiled:
        if kind == 2:
            segments.append([])
            parents.append([])
            continue
        pieces = [cols[idx] for idx, _open, _close in items]
        if kind == 0:
            segments[-1] += pieces
            continue
        segments[-1] += [wrap[0], *pieces, wrap[1]]
        parents[-1].append(wrap[0] + wrap[1])
    out = []
    for seg, empty_parents in zip(segments, parents, strict=True):
        if not seg:
            out.append([""] * n)
            continue
        text = pc.binary_join_element_wise(*seg, "")
        for empty in empty_parents:
            text = pc.replace_substring(text, empty, "")
        out.append(text.to_pylist())
    return out


# our own, already escaped text: no DTD, entities or network to worry about, but refuse them anyway
_OWN_TEXT_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@dataclass
class _Prepared:
    """One message kind's input: header rows and line rows with qbXML-path columns (text or typed)."""

    request_name: str  # CustomerAdd ...
    action: str
    header: pd.DataFrame | pa.Table  # procore_id + path columns (pandas, or Arrow when every field is 1:1)
    lines: dict[str, pd.DataFrame] = field(default_factory=dict)  # line element -> procore_id + path columns
    kinds: dict[str, str] = field(default_factory=dict)  # path -> money|quantity|date|bool|text
    sources: dict[str, str] = field(default_factory=dict)  # path -> the Procore field it came from


def _text_names(frame: pd.DataFrame | pa.Table) -> list[str]:
    """The qbXML path columns: ``procore_id`` and ``_``-columns (e.g. ``_src``, the Procore lines a line stands
    for) are not sent."""
    names = frame.column_names if isinstance(frame, pa.Table) else frame.columns
    return [c for c in names if c != "procore_id" and not c.startswith("_")]


def _texts(
    frame: pd.DataFrame | pa.Table, names: list[str], kinds: Mapping[str, str], prefix: str = ""
) -> tuple[list[str], pa.ChunkedArray]:
    """The columns ``names`` as qbXML text, one after another in one Arrow array -> (their order in it, the
    array): each column converted by its kind, then the text columns (first) cleaned by one pass of each kernel
    (at a message set's 100 rows a kernel call costs more than its work: passes per column cost more than the
    build)."""
    of_kind = {c: kinds.get(prefix + c, "text") for c in names}
    text = [c for c in names if of_kind[c] == "text"]
    other = [c for c in names if of_kind[c] != "text"]
    chunks = []
    if text:
        cleaned = _clean(
            pa.chunked_array([_string_array(_convert(frame[c], "text")) for c in text], pa.string())
        )
        chunks += cleaned.chunks
    chunks += [_string_array(_convert(frame[c], of_kind[c])) for c in other]
    return text + other, pa.chunked_array(chunks, pa.string())


def _length_errors(
    item_type: str,
    message: str,
    procore_ids: list,
    names: list[str],
    values: pa.ChunkedArray,
    sources: Mapping[str, str],
    frame_names: list[str],
    prefix: str = "",
) -> list[dict]:
    """A refusal per value longer than its path allows (``values``: ``_texts``, columns in ``names`` order),
    column by column in the order of ``frame_names`` (the frame's), rows in order."""
    n = len(procore_ids)
    limits = [spec.max_length(f"{message}/{prefix}{path}") for path in names]
    if not n or all(limit is None for limit in limits):
        return []
    bound = pa.chunked_array([pa.repeat(pa.scalar(limit, pa.int32()), n) for limit in limits], pa.int32())
    too_long = pc.fill_null(pc.greater(pc.utf8_length(values), bound), False)
    errors = []
    position = {name: j for j, name in enumerate(frame_names)}
    hits = sorted(pc.indices_nonzero(too_long).to_pylist(), key=lambda f: (position[names[f // n]], f % n))
    for found in hits:
        col, idx = divmod(found, n)
        path, limit, value = names[col], limits[col], values[found].as_py()
        errors.append(
            {
                "procore_id": procore_ids[idx],
                "item_type": item_type,
                "field": sources.get(prefix + path, prefix + path),
                "message": f"{message}/{prefix}{path} allows {limit} characters; {value[:60]!r}"
                f"{'...' if len(value) > 60 else ''} has {len(value)}. Shorten it in Procore; "
                "qbrecon never truncates.",
            }
        )
    return errors


def _columns(names: list[str], values: pa.ChunkedArray, n: int, paths: list[str]) -> list[list]:
    """The columns of ``values`` (``_texts`` of ``names``) as Python lists, in ``paths`` order."""
    flat = values.to_pylist()
    at = {name: j for j, name in enumerate(names)}
    return [flat[at[p] * n : (at[p] + 1) * n] for p in paths]


def _assemble(
    item_type: str, prepared: _Prepared, attempts: pd.Series | list | int
) -> tuple[list[Request], list[dict]]:
    msg = prepared.request_name
    header = prepared.header
    if isinstance(header, pa.Table):  # a pair that prepares Arrow columns (no pandas per field)
        ids = [None if v is None else int(v) for v in header["procore_id"].to_pylist()]
    else:
        header = header.reset_index(drop=True)
        ids = [None if _missing(v) else int(v) for v in _objects(header["procore_id"]).tolist()]
    frame_names = _text_names(header)
    names, texts = _texts(header, frame_names, prepared.kinds)
    errors = _length_errors(item_type, msg, ids, names, texts, prepared.sources, frame_names)
    line_texts: dict[str, tuple[list, list[str], pa.ChunkedArray]] = {}
    sources: dict[int, list] = {}  # procore id -> the Procore lines of each line element, in order
    for name, lines in prepared.lines.items():
        lines = lines.reset_index(drop=True)
        lids = [int(v) for v in _objects(lines["procore_id"]).tolist()]
        src = _objects(lines["_src"]).tolist() if "_src" in lines.columns else [None] * len(lids)
        for pid, ref in zip(lids, src, strict=True):
            sources.setdefault(pid, []).append(None if _missing(ref) else str(ref))
        line_frame_names = _text_names(lines)
        line_names, lt = _texts(lines, line_frame_names, prepared.kinds, prefix=f"{name}/")
        errors += _length_errors(
            item_type, msg, lids, line_names, lt, prepared.sources, line_frame_names, prefix=f"{name}/"
        )
        line_texts[name] = (lids, line_names, lt)
    bad = {e["procore_id"] for e in errors}

    steps, paths = _message_plan(msg, tuple(names), tuple(prepared.lines.keys()))
    line_plans = {
        name: _message_plan(name, tuple(line_names), ()) for name, (_, line_names, _) in line_texts.items()
    }
    compiled = _compile_text(steps)
    line_compiled = {name: _compile_text(plan[0]) for name, plan in line_plans.items()}
    # Usually the request is written as escaped text and parsed once (lxml's parser makes a tree faster than
    # SubElement calls from Python can); messages with deeper nesting are made element by element.
    as_text = compiled is not None and all(c is not None for c in line_compiled.values())

    # Lines first: one element (or its text) per line row, grouped by the header's procore id (order kept).
    grouped: dict[int, dict[str, list]] = {}
    for name, (lids, line_names, lt) in line_texts.items():
        line_steps, line_paths = line_plans[name]
        if as_text:
            tagged = _tagged(line_names, lt, len(lids))
            at = {p: j for j, p in enumerate(line_names)}
            n = len(lids)
            cols = [tagged.slice(at[p] * n, n) for p in line_paths]
            (texts_of_lines,) = _render(line_compiled[name], cols, n)
            open_tag, close_tag = f"<{name}>", f"</{name}>"
            for pid, text in zip(lids, texts_of_lines, strict=True):
                if pid not in bad:
                    grouped.setdefault(pid, {}).setdefault(name, []).append(open_tag + text + close_tag)
            continue
        cols = _columns(line_names, lt, len(lids), line_paths)
        make = etree.Element
        for pid, values in zip(lids, zip(*cols, strict=True) if cols else [() for _ in lids], strict=True):
            if pid in bad:
                continue
            le = make(name)
            _fill(le, line_steps, values, None)
            grouped.setdefault(pid, {}).setdefault(name, []).append(le)

    if isinstance(attempts, int):
        attempt_list = [attempts] * len(ids)
    else:
        attempt_list = [int(a) for a in (attempts if isinstance(attempts, list) else attempts.tolist())]
    action = prepared.action
    rq_name = msg + "Rq"
    requests: list[Request] = []
    if as_text:
        assert compiled is not None
        n = len(ids)
        tagged = _tagged(names, texts, n)
        at = {p: j for j, p in enumerate(names)}
        segments = _render(compiled, [tagged.slice(at[p] * n, n) for p in paths], n)
        slots = [items for kind, items, _ in compiled if kind == 2]
        fromstring = etree.fromstring
        tail = f"</{msg}></{rq_name}>"
        no_lines: dict[str, list] = {}
        for row, pid in enumerate(ids):
            if pid in bad:
                continue
            rid = request_id(item_type, pid, attempt_list[row])
            lines_of = grouped.get(pid, no_lines)
            # rid is "item_type:id:aN" (a known item type, two integers): nothing to escape
            parts = [f'<{rq_name} requestID="{rid}"><{msg}>', segments[0][row]]
            for k, slot in enumerate(slots, start=1):
                parts += lines_of.get(slot, ())
                parts.append(segments[k][row])
            parts.append(tail)
            rq = fromstring("".join(parts), _OWN_TEXT_PARSER)
            requests.append(Request(rid, item_type, pid, action, msg, rq, tuple(sources.get(pid, ()))))
        return requests, errors

    cols = _columns(names, texts, len(ids), paths)
    make = etree.Element
    sub = etree.SubElement
    rows_values = zip(*cols, strict=True) if cols else [() for _ in ids]
    for row, values in enumerate(rows_values):
        pid = ids[row]
        if pid in bad:
            continue
        rid = request_id(item_type, pid, attempt_list[row])
        rq = make(rq_name, requestID=rid)
        _fill(sub(rq, msg), steps, values, grouped.get(pid))
        requests.append(Request(rid, item_type, pid, action, msg, rq, tuple(sources.get(pid, ()))))
    return requests, errors


def request_id(item_type: str, procore_id: int | None, attempt: int = 1) -> str:
    """``invoice:12345:a1`` -- item type, Procore id, attempt; <= 50 characters (statusCode 1060 beyond)."""
    rid = f"{item_type}:{procore_id}:a{attempt}"
    if len(rid) > spec.REQUEST_ID_MAXLEN:
        raise InputError(
            f"requestID {rid!r} is longer than {spec.REQUEST_ID_MAXLEN} characters", field="requestID"
        )
    return rid


def parse_request_id(rid: str | None) -> tuple[str | None, int | None, int | None]:
    """The inverse of ``request_id``: (item_type, procore_id, attempt); Nones when it is not ours."""
    if not rid:
        return None, None, None
    m = re.fullmatch(r"([a-z_]+):(-?\d+|None):a(\d+)", rid)
    if not m:
        return None, None, None
    pid = None if m.group(2) == "None" else int(m.group(2))
    return m.group(1), pid, int(m.group(3))


# -- shared row helpers ------------------------------------------------------------------------------------
def _col(frame: pd.DataFrame, name: str, default: Any = None) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([default] * len(frame), index=frame.index, dtype=object)


def _objects(s: pd.Series) -> pd.Series:
    """Python values with None for missing (Arrow columns converted in one C call, not element by element)."""
    if isinstance(s.dtype, pd.ArrowDtype):
        return pd.Series(_flat(pa.array(s)).to_pylist(), index=s.index, dtype=object)
    return s.astype(object).where(s.notna(), None)


def _pylist(s: pd.Series) -> list:
    """``s.tolist()`` with None for missing, in one C call for Arrow columns (pandas converts those element by
    element, which costs more than building the XML for hundreds of thousands of lines)."""
    if isinstance(s.dtype, pd.ArrowDtype):
        return _flat(pa.array(s)).to_pylist()
    return s.tolist()


def _flat(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _coalesce(*series: pd.Series) -> pd.Series:
    out = _objects(series[0])
    for s in series[1:]:
        missing = out.isna()
        if missing.any():
            out = out.where(~missing, _objects(s))
    return out


def _edit_sequence(frame: pd.DataFrame) -> pd.Series:
    """The current EditSequence: an ``edit_sequence`` column, else ``origin_data``'s ``edit_sequence``."""
    from_data = _col(frame, "origin_data").map(_origin_edit_sequence)
    return _coalesce(_col(frame, "edit_sequence"), from_data)


def _origin_edit_sequence(value: Any) -> str | None:
    if _missing(value) or not str(value).strip():
        return None
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return None
    return str(data["edit_sequence"]) if isinstance(data, dict) and data.get("edit_sequence") else None


def _err(ids: Iterable, item_type: str, field_name: str, message: str) -> list[dict]:
    return [
        {
            "procore_id": None if _missing(i) else int(i),
            "item_type": item_type,
            "field": field_name,
            "message": message,
        }
        for i in ids
    ]


def _refuse(
    rows: pd.DataFrame, mask: Any, item_type: str, field_name: str, message: str, errors: list[dict]
) -> pd.DataFrame:
    """Record ``message`` for each row where ``mask`` holds and return the other rows (those still to build)."""
    mask = np.asarray(mask, dtype=bool)
    errors += _err(rows.loc[mask, "id"], item_type, field_name, message)
    return rows[~mask]


def _ref_split(value: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A reference given as one value (ListID or FullName) -> (ListID, FullName) columns."""
    v = value.astype(object).where(value.notna(), None)
    is_id = v.map(lambda x: bool(x) and bool(_LIST_ID.match(str(x))))
    return v.where(is_id, None), v.where(~is_id, None)


def _lookup(keys: pd.Series, table: pd.DataFrame | None, key: str, value: str) -> pd.Series:
    """``table[value]`` for each key (a left merge), index kept; missing table -> all missing."""
    if table is None or table.empty or key not in table.columns or value not in table.columns:
        return pd.Series([None] * len(keys), index=keys.index, dtype=object)
    right = table[[key, value]].dropna(subset=[key]).drop_duplicates(subset=[key], keep="last")
    rk, rv, kk = _flat(_arrow(right[key])), _flat(_arrow(right[value])), _flat(_arrow(keys))
    if kk.type != rk.type:
        try:
            kk = pc.cast(kk, rk.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            kk, rk = pc.cast(kk, pa.string()), pc.cast(rk, pa.string())
    found = pc.take(rv, pc.index_in(kk, value_set=rk))
    return pd.Series(found.to_pylist(), index=keys.index, dtype=object)


def _job_list_ids(project_ids: pd.Series, ctx: BuildContext) -> pd.Series:
    return _lookup(project_ids, ctx.frame("projects"), "id", "origin_id")


def _vendor_list_ids(vendor_ids: pd.Series, ctx: BuildContext) -> pd.Series:
    return _lookup(vendor_ids, ctx.frame("companies"), "id", "origin_id")


def cost_code_items(cost_codes: pd.DataFrame | None) -> pd.DataFrame:
    """Each cost code id (standard or project level) -> its service item (ListID, FullName = full_code).

    A standard cost code's origin_id is the item ListID; a project cost code's is ``job ListID|item ListID``,
    or it points at its standard code through ``standard_cost_code_id``.
    """
    cols = ["cost_code_id", "item_list_id", "item_full_name"]
    if cost_codes is None or cost_codes.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    cc = cost_codes
    std = cc[cc["cost_code_level"] == "standard"]
    std_map = pd.DataFrame(
        {
            "standard_cost_code_id": std["id"].astype(object).tolist(),
            "_std_list_id": std["origin_id"].astype(object).tolist(),
            "_std_full_code": std["full_code"].astype(object).tolist(),
        }
    )
    level = cc["cost_code_level"].astype(object).tolist()
    own = cc["origin_id"].astype(object).where(cc["origin_id"].notna(), None)
    own_item = [
        None if o is None else (o.split("|", 1)[1] if "|" in o else (o if lv == "standard" else None))
        for o, lv in zip(own.tolist(), level, strict=True)
    ]
    base = pd.DataFrame(
        {
            "cost_code_id": cc["id"].astype(object).tolist(),
            "level": level,
            "own_item": own_item,
            "standard_cost_code_id": [
                i if lv == "standard" else s
                for i, s, lv in zip(
                    cc["id"].tolist(), _col(cc, "standard_cost_code_id").tolist(), level, strict=True
                )
            ],
            "full_code": cc["full_code"].astype(object).tolist(),
        }
    )
    base["standard_cost_code_id"] = base["standard_cost_code_id"].astype(object)
    std_map["standard_cost_code_id"] = std_map["standard_cost_code_id"].astype(object)
    merged = base.merge(std_map, on="standard_cost_code_id", how="left")
    merged["item_list_id"] = _coalesce(merged["own_item"], merged["_std_list_id"])
    merged["item_full_name"] = _coalesce(merged["_std_full_code"], merged["full_code"])
    # A project-level row wins over a standard row with the same id (lines reference project cost codes).
    merged["_rank"] = (merged["level"] == "project").astype(int)
    merged = merged.sort_values("_rank", kind="stable").drop_duplicates("cost_code_id", keep="last")
    return merged[cols].reset_index(drop=True)


def _items(cost_code_ids: pd.Series, ctx: BuildContext) -> tuple[pd.Series, pd.Series]:
    table = cost_code_items(ctx.frame("cost_codes"))
    return (
        _lookup(cost_code_ids, table, "cost_code_id", "item_list_id"),
        _lookup(cost_code_ids, table, "cost_code_id", "item_full_name"),
    )


def group_agg(frame: pd.DataFrame, keys: list[str], **aggs: tuple[str, str]) -> pd.DataFrame:
    """``frame.groupby(keys).agg(...)`` computed by Arrow: decimal sums stay exact and vectorised (pandas falls
    back to a Python loop for Arrow decimals). Groups come in order of first appearance; ``first`` keeps the
    first value in row order; functions: sum, first, min, max, count_all."""
    cols = list(dict.fromkeys(keys + [c for c, f in aggs.values() if f != "count_all"]))
    table = pa.Table.from_pandas(
        frame[cols].astype({c: object for c in cols if frame[c].dtype == object}), preserve_index=False
    )
    for i, f in enumerate(table.schema):  # an all-missing column has Arrow's null type, which has no kernels
        if pa.types.is_null(f.type):
            table = table.set_column(i, f.name, pa.nulls(table.num_rows, pa.string()))
    specs = [([], "count_all") if f == "count_all" else (c, f) for c, f in aggs.values()]
    grouped = table.group_by(keys, use_threads=False).aggregate(specs)
    names = [("count_all" if f == "count_all" else f"{c}_{f}") for c, f in aggs.values()]
    out = grouped.select(keys + names).rename_columns(keys + list(aggs))
    return out.to_pandas(types_mapper=pd.ArrowDtype)


def _frame(procore_id: pd.Series, columns: Mapping[str, Any]) -> pd.DataFrame:
    """procore_id + path columns, positionally aligned (all inputs come from the same rows in the same order);
    Arrow dtypes are kept (money stays decimal)."""
    n = len(procore_id)
    data = {"procore_id": procore_id.reset_index(drop=True)}
    for k, v in columns.items():
        if isinstance(v, pd.Series):
            if len(v) != n:
                raise ValueError(f"column {k} has {len(v)} values for {n} rows")
            data[k] = v.reset_index(drop=True)
        else:
            data[k] = pd.Series([v] * n, dtype=object)
    return pd.DataFrame(data)


def _split_linked(rows: pd.DataFrame, id_col: str = "origin_id") -> tuple[pd.DataFrame, pd.DataFrame]:
    qb_id = _coalesce(_col(rows, "quickbooks_id"), _col(rows, id_col))
    linked = qb_id.notna()
    rows = rows.assign(_qb_id=qb_id.tolist(), _edit_sequence=_edit_sequence(rows).tolist())
    return rows[~linked.to_numpy()], rows[linked.to_numpy()]


_EDIT_SEQUENCE_UNKNOWN = (
    "linked to QuickBooks but its current EditSequence is unknown; refresh the QuickBooks data "
    "(import) before updating it"
)


def _needs_edit_sequence(rows: pd.DataFrame, item_type: str) -> tuple[pd.DataFrame, list[dict]]:
    missing = rows["_edit_sequence"].isna().to_numpy()
    errors = _err(rows.loc[missing, "id"], item_type, "edit_sequence", _EDIT_SEQUENCE_UNKNOWN)
    return rows[~missing], errors


# -- the same helpers on Arrow columns (pairs whose fields map one to one: no pandas per field) -------------
def _acol(frame: pd.DataFrame, name: str) -> pa.Array:
    """A column as one Arrow array; all missing (text) when the frame lacks it."""
    if name not in frame.columns:
        return pa.nulls(len(frame), pa.string())
    values = frame[name]
    if isinstance(values.dtype, pd.ArrowDtype):  # the Arrow data it holds (``pa.array`` of it costs 40x more)
        return _flat(values.array.__arrow_array__())
    return _flat(_arrow(values))


def _atext(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return arr if arr.type == pa.string() else pc.cast(arr, pa.string())


def _linked_split(
    rows: pd.DataFrame, columns: Iterable[str], id_col: str = "origin_id"
) -> tuple[pa.Table, pa.Table]:
    """``_split_linked`` on Arrow columns: ``columns`` (missing ones all null) plus ``_qb_id`` and
    ``_edit_sequence``, split into rows not linked yet (adds) and linked rows (mods)."""
    n = len(rows)
    qb_id = pc.coalesce(_atext(_acol(rows, "quickbooks_id")), _atext(_acol(rows, id_col)))
    data = _acol(rows, "origin_data")
    if data.null_count == n:
        from_data = pa.nulls(n, pa.string())
    else:  # only linked rows carry origin_data: few JSON texts to read
        from_data = pa.array([_origin_edit_sequence(v) for v in data.to_pylist()], pa.string())
    table = pa.table(
        {
            **{c: _acol(rows, c) for c in columns},
            "_qb_id": qb_id,
            "_edit_sequence": pc.coalesce(_atext(_acol(rows, "edit_sequence")), from_data),
        }
    )
    linked = pc.is_valid(qb_id)
    return table.filter(pc.invert(linked)), table.filter(linked)


def _linked_need_edit_sequence(rows: pa.Table, item_type: str) -> tuple[pa.Table, list[dict]]:
    """``_needs_edit_sequence`` on an Arrow table from ``_linked_split``."""
    missing = pc.is_null(rows["_edit_sequence"])
    errors = _err(rows.filter(missing)["id"].to_pylist(), item_type, "edit_sequence", _EDIT_SEQUENCE_UNKNOWN)
    return rows.filter(pc.invert(missing)), errors


def _aref_split(value: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """``_ref_split`` on an Arrow column: (ListID, FullName)."""
    value = _atext(value)
    is_id = pc.fill_null(pc.match_substring_regex(value, _LIST_ID.pattern), False)
    empty = pa.scalar(None, pa.string())
    return pc.if_else(is_id, value, empty), pc.if_else(is_id, empty, value)


# -- a pair's line tables (one frame, or a mapping of line table -> frame) --------------------------------
def _lines_arg(lines: Any, name: str) -> pd.DataFrame | None:
    if isinstance(lines, Mapping):
        return lines.get(name)
    return lines


# -- lines linked one by one (change orders, invoices) ---------------------------------------------------
def _group_sources(lines: pd.DataFrame, keys: list[str], table: str) -> dict[tuple, str]:
    """Per group of ``lines`` (by ``keys``, missing keys a group of their own): ``"<table>:<id>,<id>"``, the
    Procore lines one qbXML line stands for (so QuickBooks' TxnLineID can be linked back to each). One pass
    over the rows in Python: a pandas groupby with a Python aggregate costs a Series per group (3 s of a
    100,000-bill build)."""
    if lines.empty or "id" not in lines.columns:
        return {}
    columns = [_objects(lines[k]).tolist() for k in keys]
    groups: dict[tuple, list[int]] = {}
    for key, line_id in zip(zip(*columns, strict=True), lines["id"].astype("int64").tolist(), strict=True):
        found = groups.get(key)
        if found is None:
            groups[key] = [line_id]
        else:
            found.append(line_id)
    return {key: f"{table}:" + ",".join(str(i) for i in sorted(ids)) for key, ids in groups.items()}


def _with_sources(g: pd.DataFrame, lines: pd.DataFrame, keys: list[str], table: str) -> pd.Series:
    """``_src`` for each row of the grouped frame ``g`` (same ``keys``), index kept; NaN for a group without
    lines (as a left merge leaves it)."""
    src = _group_sources(lines, keys, table)
    nan = float("nan")
    rows = zip(*[_objects(g[k]).tolist() for k in keys], strict=True) if keys else [() for _ in range(len(g))]
    return pd.Series([src.get(key, nan) for key in rows], index=g.index, dtype=object)


def _linked_txn_lines(src: pd.Series, ctx: BuildContext, item_type: str) -> list[str]:
    """Each line's QuickBooks TxnLineID from qbrecon's line links (the first Procore line it stands for), else
    -1 (a new line)."""
    links = ctx.frame("qb_links")
    found: dict[tuple[str, int], str] = {}
    if links is not None and len(links):
        lk = links[
            (links["item_type"] == item_type) & (links["line_table"] != "") & links["txn_line_id"].notna()
        ]
        lk = _live(lk)  # a line deleted in QuickBooks goes out as a new line
        found = {
            (str(t), int(i)): str(x)
            for t, i, x in zip(lk["line_table"], lk["line_id"], lk["txn_line_id"], strict=True)
        }
    out = []
    for ref in src.tolist():
        txn_line = None
        if isinstance(ref, str) and ":" in ref:
            table, ids = ref.split(":", 1)
            txn_line = next(
                (found[(table, int(i))] for i in ids.split(",") if (table, int(i)) in found), None
            )
        out.append(txn_line or "-1")
    return out


def _live(lk: pd.DataFrame) -> pd.DataFrame:
    """Line links not marked deleted in QuickBooks (their line is gone: a Mod adds it again as a new line)."""
    if "deleted_in_quickbooks_at" not in lk.columns:
        return lk
    return lk[lk["deleted_in_quickbooks_at"].isna()]


def _own_line_links(ctx: BuildContext, item_type: str, line_table: str) -> set[tuple[int, str]]:
    """(procore_id, TxnLineID) of every QuickBooks line qbrecon linked to a line of an item of ``item_type``."""
    links = ctx.frame("qb_links")
    if links is None or not len(links):
        return set()
    lk = links[
        (links["item_type"] == item_type) & (links["line_table"] == line_table) & links["txn_line_id"].notna()
    ]
    return {(int(p), str(x)) for p, x in zip(lk["procore_id"], lk["txn_line_id"], strict=True)}


_PREPARE = {}


def register_builder(item_type: str, prepare: Any) -> None:
    """A pair module's build (``qbrecon.pairs``): its prepare function, run by this engine like the others."""
    _PREPARE[item_type] = prepare


def build_requests(
    item_type: str,
    rows: pd.DataFrame,
    lines: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    context: BuildContext | None = None,
) -> BuildResult:
    """Add/mod requests for accepted rows of one item type (rows in the Procore table's columns).

    ``lines``: the line table (commitment_lines, change_order_lines, invoice_lines) or, for budgets, a mapping
    ``{"budget_line_items": ..., "budget_changes": ...}``. Rows that cannot be sent as they are come back in
    ``errors`` (procore_id, field, message); the others in ``requests`` with requestIDs mapping back to them.
    """
    if item_type not in _PREPARE:
        raise InputError(
            f"no qbXML export for item type {item_type!r}; exportable: {', '.join(_PREPARE)}",
            field="item_type",
        )
    ctx = context or BuildContext()
    if "id" not in rows.columns:
        raise InputError(f"{item_type} rows need the Procore 'id' column", field="id")
    prepared, errors = _PREPARE[item_type](rows, lines, ctx)
    requests: list[Request] = []
    for p in prepared:
        if not _num_rows(p.header):
            continue
        attempts: list | int = ctx.attempt
        if "attempt" in rows.columns:
            attempts = _attempts(p.header["procore_id"], rows, ctx.attempt)
        reqs, errs = _assemble(item_type, p, attempts)
        requests += reqs
        errors += errs
    return BuildResult(requests, _errors_frame(errors))


_ERRORS_SCHEMA = pa.schema(
    [("procore_id", pa.int64()), ("item_type", pa.string()), ("field", pa.string()), ("message", pa.string())]
)


_NO_ERRORS: list[pd.DataFrame] = []  # the empty errors frame, made once: each build copies it


def _errors_frame(errors: list[dict]) -> pd.DataFrame:
    # straight from Arrow: building it through pandas and astype cost more than the rest of a small build; the
    # usual build has no errors, and a copy of the empty frame costs a tenth of making it
    if not errors and _NO_ERRORS:
        return _NO_ERRORS[0].copy()
    columns = {
        "procore_id": [None if _missing(e.get("procore_id")) else int(e["procore_id"]) for e in errors],
        **{c: [_none_text(e.get(c)) for e in errors] for c in ERROR_COLUMNS[1:]},
    }
    frame = pa.table(columns, schema=_ERRORS_SCHEMA).to_pandas(types_mapper=pd.ArrowDtype)
    if not errors:
        _NO_ERRORS.append(frame.copy())
    return frame


def _none_text(value: Any) -> str | None:
    return None if _missing(value) else str(value)


def _num_rows(header: pd.DataFrame | pa.Table) -> int:
    return header.num_rows if isinstance(header, pa.Table) else len(header)


def _attempts(header_ids: Any, rows: pd.DataFrame, default: int) -> list[int]:
    """Each header row's attempt (from the accepted rows' ``attempt`` by Procore id; the last row wins, as a
    left merge would), ``default`` where the id is not among them. Arrow lookups, no pandas merge."""
    keys = _flat(_arrow(header_ids))
    rk = _flat(_arrow(rows["id"]))[::-1]  # reversed: index_in finds the first match, i.e. the last row
    rv = _flat(_arrow(rows["attempt"]))[::-1]
    if keys.type != rk.type:
        try:
            keys = pc.cast(keys, rk.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            keys, rk = pc.cast(keys, pa.string()), pc.cast(rk, pa.string())
    found = pc.take(rv, pc.index_in(keys, value_set=rk, skip_nulls=True)).to_pylist()
    return [default if _missing(a) else int(a) for a in found]


def _concat_errors(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else _errors_frame([])


def requests_frame(requests: Iterable[Request]) -> pd.DataFrame:
    reqs = list(requests)
    return pd.DataFrame(
        {
            "request_id": pd.Series([r.request_id for r in reqs], dtype=pd.ArrowDtype(pa.string())),
            "item_type": pd.Series([r.item_type for r in reqs], dtype=pd.ArrowDtype(pa.string())),
            "procore_id": pd.Series([r.procore_id for r in reqs], dtype=pd.ArrowDtype(pa.int64())),
            "action": pd.Series([r.action for r in reqs], dtype=pd.ArrowDtype(pa.string())),
            "request_name": pd.Series([r.request_name for r in reqs], dtype=pd.ArrowDtype(pa.string())),
        }
    )


# -- queries ------------------------------------------------------------------------------------------------
# query name -> (list or transaction, IncludeLineItems allowed)
QUERIES: dict[str, tuple[str, bool]] = {
    "CustomerQuery": ("list", False),
    "VendorQuery": ("list", False),
    "ItemQuery": ("list", False),
    "EstimateQuery": ("txn", True),
    "PurchaseOrderQuery": ("txn", True),
    "BillQuery": ("txn", True),
    "BillPaymentCheckQuery": ("txn", True),
    "BillPaymentCreditCardQuery": ("txn", True),
    "TimeTrackingQuery": ("txn", False),
    # job costs outside bills (Sync Job Cost Transactions)
    "CheckQuery": ("txn", True),
    "CreditCardChargeQuery": ("txn", True),
    "JournalEntryQuery": ("txn", True),
}


def query_request(
    name: str,
    *,
    request_id: str | None = None,
    max_returned: int | None = 100,
    from_modified: datetime | date | str | None = None,
    to_modified: datetime | date | str | None = None,
    iterator: str | None = "Start",
    iterator_id: str | None = None,
    include_line_items: bool = True,
    active_status: str | None = "All",
) -> Request:
    """A query for the import side: ``CustomerQuery`` ... ``TimeTrackingQuery``.

    Iterators: the first page is ``iterator="Start"`` with ``MaxReturned``; the next pages repeat the same
    filters with ``iterator="Continue"`` and the ``iteratorID`` QuickBooks returned. Incremental refresh uses
    ``FromModifiedDate`` on lists and ``ModifiedDateRangeFilter`` on transactions (as the schema has them).
    """
    name = name.removesuffix("Rq")
    if name not in QUERIES:
        raise InputError(f"unknown query {name!r}; known: {', '.join(QUERIES)}", field="query")
    if iterator not in (None, "Start", "Continue", "Stop"):
        raise InputError(f"iterator must be Start, Continue or Stop, got {iterator!r}", field="iterator")
    if iterator in ("Continue", "Stop") and not iterator_id:
        raise InputError(f"iterator={iterator} needs the iteratorID QuickBooks returned", field="iteratorID")
    kind, line_items = QUERIES[name]
    rq_name = name + "Rq"
    rid = request_id or f"query:{name}:{iterator or 'all'}"
    if len(rid) > spec.REQUEST_ID_MAXLEN:
        raise InputError(
            f"requestID {rid!r} is longer than {spec.REQUEST_ID_MAXLEN} characters", field="requestID"
        )
    attrs = {"requestID": rid}
    if iterator:
        attrs["iterator"] = iterator
        if iterator_id:
            attrs["iteratorID"] = iterator_id
    values: dict[str, str | None] = {}
    if max_returned is not None and iterator != "Stop":
        values["MaxReturned"] = str(int(max_returned))
    if kind == "list":
        if active_status:
            values["ActiveStatus"] = active_status
        values["FromModifiedDate"] = format_datetime(from_modified) if from_modified else None
        values["ToModifiedDate"] = format_datetime(to_modified) if to_modified else None
    else:
        values["ModifiedDateRangeFilter/FromModifiedDate"] = (
            format_datetime(from_modified) if from_modified else None
        )
        values["ModifiedDateRangeFilter/ToModifiedDate"] = (
            format_datetime(to_modified) if to_modified else None
        )
        if line_items and include_line_items:
            values["IncludeLineItems"] = "true"
    steps, paths = _plan(rq_name, [k for k, v in values.items() if v is not None])
    rq = etree.Element(rq_name, attrs)
    _fill(rq, steps, tuple(values[p] for p in paths), None)
    return Request(rid, "query", None, "query", name, rq)


# -- message sets ---------------------------------------------------------------------------------------------
def _order(req: Request) -> int:
    pair = PAIRS.get(req.item_type)
    return pair.export_order if pair else 0


def message_sets(
    requests: Iterable[Request],
    max_requests: int = DEFAULT_MAX_REQUESTS,
    version: str = spec.QBXML_VERSION,
    on_error: str = "continueOnError",
) -> list[MessageSet]:
    """Requests batched into qbXML documents of at most ``max_requests`` each, in dependency order
    (vendors, jobs and items before the POs and bills that reference them; stable within an order).

    The document is ASCII (non-ASCII as character references, which QuickBooks accepts and returns), starts
    with the XML declaration and ``<?qbxml version?>``, and uses ``onError="continueOnError"`` so one bad
    record does not block the rest.
    """
    if on_error not in ON_ERROR:
        raise InputError(
            f"onError must be one of {', '.join(ON_ERROR)} (QuickBooks refuses rollbackOnError)",
            field="onError",
        )
    if max_requests < 1:
        raise InputError("max_requests must be at least 1", field="max_requests")
    if not re.fullmatch(r"\d+\.\d+", version):
        raise InputError(f"qbXML version must look like 13.0, got {version!r}", field="version")
    ordered = sorted(requests, key=_order)
    seen: set[str] = set()
    for r in ordered:
        if r.request_id in seen:
            raise InputError(
                f"requestID {r.request_id!r} appears twice; responses are matched by it", field="requestID"
            )
        seen.add(r.request_id)
    head = (
        f'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="{version}"?>\n'
        f'<QBXML><QBXMLMsgsRq onError="{on_error}">'
    ).encode("ascii")
    tail = b"</QBXMLMsgsRq></QBXML>"
    tostring = etree.tostring
    out = []
    for start in range(0, len(ordered), max_requests):
        chunk = ordered[start : start + max_requests]
        body = b"".join([tostring(r.element, encoding="us-ascii") for r in chunk])
        out.append(MessageSet(head + body + tail, tuple(r.request_id for r in chunk), version, on_error))
    return out
