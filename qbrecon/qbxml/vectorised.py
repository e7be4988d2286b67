"""Reading a qbXML response of the simple shape with array operations instead of a Python walk per element.

``read_query_response`` walks every ``*Ret`` in Python: lxml makes a proxy object and a string for each of the
~12 children of a line, which is most of the cost of an ingest. Here the same rows come from whole-document
array operations: libxml2 first checks the document under the same safe policy (same parser options; a
document that does not parse is handed to the walk, which raises the real error with its line), then the bytes
are cut at every ``<`` and ``>`` (numpy), each tag is named through a dictionary of the document's few distinct
tags, the depth of every element is a running sum, and each element's path under its ``*Ret`` is one integer
looked up in a table built once from the reading plans (``parse.ret_plans``). A column's values are then one
Arrow ``take`` of the text that follows each wanted start tag -- exactly libxml2's ``.text`` of that element.

Only the simple shape is read this way: UTF-8 (or ASCII), ``<QBXML><QBXMLMsgsRs>`` at the top, no comment,
CDATA, PI, DOCTYPE, carriage return or character reference, no namespace, every table's ``*Ret`` directly in a
``*Rs`` element, no column element twice in one record, no value that is only blanks (libxml2 may drop those).
Anything else -- and anything this reader is not sure of -- returns None, and the caller reads the document with
the walk, so correctness never depends on this path: it gives the same batches, statuses and groups as
``read_query_response`` or nothing (``tests/test_qbxml_vectorised.py`` compares the two on every fixture).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from ..schemas import TABLES, TableSpec
from ..schemas.values import Batch
from .parse import PARSER_OPTIONS, QueryResult, _plans_by_table, _prolog_end, _status, ret_plans

MAX_BYTES = 64 << 20  # larger documents (a cut file read serially from a bad part on) are walked, as before
_BITS = 11  # bits of one tag id in a path code (2,047 distinct tags: the plans use ~250)
_START, _END, _EMPTY = 0, 1, 2
_HEAD = re.compile(
    r"<(/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'))*)\s*(/?)>", re.ASCII
)
_XMLNS = re.compile(r"\sxmlns\s*=")  # a default namespace: lxml's tags would be {uri}Name
_DECL_ENCODING = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_OK_ENCODINGS = {b"utf-8", b"utf8", b"us-ascii", b"ascii"}
_ENTITIES = [("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&")]


class _Null:
    """A parser target that keeps nothing: libxml2 checks the document (well-formed, the safe options) without
    building a tree; the values are read from the bytes afterwards."""

    def close(self) -> None:
        return None


@dataclass
class _Role:
    kind: str  # "ret", "line", "ret_col", "line_col"
    table: str
    col: int = -1
    ret_tag: str = ""
    line_tag: str = ""


@dataclass
class _Codes:
    tag_ids: dict[str, int]
    sentinel: int
    levels: int  # element levels below the Rs element that the plans read (Ret = 1)
    keys: np.ndarray  # sorted path codes
    roles: list[_Role]  # aligned with keys
    ret_ids: np.ndarray  # tag ids of the tables' Rets
    role_kind: np.ndarray  # per role: 0 Ret, 1 line, 2 Ret column, 3 line column
    role_column: np.ndarray  # per role: one number per (table, column)
    role_table: np.ndarray  # per role: its table (object array)
    role_ret: np.ndarray  # per role: its Ret tag
    role_line: np.ndarray  # per role: its line tag ("" outside lines)
    role_unsupported: np.ndarray  # per role: its Ret's plan is not followed here
    role_is_key: np.ndarray  # per role: a column of a Ret that is its table's key
    unsupported: frozenset[str]  # Ret tags whose plan this reader does not follow exactly


def _code(ids: list[int]) -> int:
    return sum(i << (_BITS * k) for k, i in enumerate(ids))


@lru_cache(maxsize=1)
def _codes() -> _Codes:
    """Every path the reading plans read, as one integer per path (the tag ids of the Ret and the elements below
    it), with what it is: a Ret (a row), a line (a row of a line table), or a column of either."""
    plans = ret_plans()
    names: set[str] = set()
    paths: list[tuple[list[str], _Role]] = []

    def walk_trie(trie: dict, prefix: list[str], role: str, table: str, ret: str, line: str = "") -> None:
        for tag, (col, sub) in trie.items():
            path = [*prefix, tag]
            if col >= 0:
                paths.append((path, _Role(role, table, col, ret, line)))
            if sub is not None:
                walk_trie(sub, path, role, table, ret, line)

    unsupported = set()
    for ret, plan in plans.items():
        paths.append(([ret], _Role("ret", plan.spec.table, ret_tag=ret)))
        walk_trie(plan.trie, [ret], "ret_col", plan.spec.table, ret)
        consts = {c for c, _ in plan.consts.get(ret, ())}
        fill = {plan.fill_fullname[0]} if plan.fill_fullname else set()
        if plan.key_col in consts | fill | {d for d, _ in plan.copies}:
            unsupported.add(ret)  # the lines would see the key as the walk had it mid-Ret: not followed here
        top = set(plan.trie)
        for line, lp in plan.lines.items():
            if line in top:
                continue  # read as a column (the walk looks at columns first)
            at = [ret, line]
            paths.append((at, _Role("line", lp.table, ret_tag=ret, line_tag=line)))
            walk_trie(lp.trie, at, "line_col", lp.table, ret, line)
        for group in plan.groups:
            if group in top or group in plan.lines:
                continue
            for line, lp in plan.lines.items():
                at = [ret, group, line]
                paths.append((at, _Role("line", lp.table, ret_tag=ret, line_tag=line)))
                walk_trie(lp.trie, at, "line_col", lp.table, ret, line)
    for path, _ in paths:
        names.update(path)
    tag_ids = {name: i + 1 for i, name in enumerate(sorted(names))}
    sentinel = len(tag_ids) + 1
    levels = max(len(p) for p, _ in paths)
    if sentinel >= 1 << _BITS or levels * _BITS > 62:
        raise RuntimeError("the reading plans do not fit the vectorised reader's path codes")
    coded = sorted(((_code([tag_ids[t] for t in p]), r) for p, r in paths), key=lambda x: x[0])
    keys = np.array([c for c, _ in coded], dtype=np.int64)
    if len(np.unique(keys)) != len(keys):
        raise RuntimeError("two reading-plan paths share a path code")
    roles = [r for _, r in coded]
    column_ids: dict[tuple[str, int], int] = {}
    return _Codes(
        tag_ids,
        sentinel,
        levels,
        keys,
        roles,
        np.array(sorted(tag_ids[r] for r in plans), dtype=np.int64),
        np.array([_ROLE_KIND[r.kind] for r in roles], dtype=np.int8),
        np.array([column_ids.setdefault((r.table, r.col), len(column_ids)) for r in roles], dtype=np.int64),
        np.array([r.table for r in roles], dtype=object),
        np.array([r.ret_tag for r in roles], dtype=object),
        np.array([r.line_tag for r in roles], dtype=object),
        np.array([r.ret_tag in unsupported for r in roles], dtype=bool),
        np.array([r.kind == "ret_col" and r.col == plans[r.ret_tag].key_col for r in roles], dtype=bool),
        frozenset(unsupported),
    )


_CHECKERS: dict[tuple[int, int], etree.XMLParser] = {}


def _parses(data: bytes) -> bool:
    # One checking parser per process and thread, kept for good: target parsers left to the cyclic garbage
    # collector crashed forked worker processes (segmentation faults while collecting).
    at = (os.getpid(), threading.get_ident())
    parser = _CHECKERS.get(at)
    if parser is None:
        parser = _CHECKERS[at] = etree.XMLParser(
            **PARSER_OPTIONS, remove_comments=True, remove_pis=True, target=_Null()
        )
    try:
        etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError:
        return False
    return True


def read_simple(data: bytes, *, name: str | None = None, first_group: int = 0) -> QueryResult | None:
    """``read_query_response(data)`` for a document of the simple shape, or None when this reader is not sure
    (the caller then walks it). Errors are never raised here: a document that does not read goes to the walk."""
    if len(data) > MAX_BYTES:
        return None  # positions are int32 (as Arrow's string offsets), and memory grows ~4x with it
    label = name or "<xml>"
    file = Path(label).name if label != "<xml>" else label
    body = _prolog_end(data[: 1 << 20])
    if body is None:
        return None
    m = _DECL_ENCODING.match(data)
    if m is not None and m.group(1).lower() not in _OK_ENCODINGS:
        return None
    has_amp = b"&" in data  # one-byte searches: several times faster than looking for "&#"
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\r" in data or (has_amp and b"&#" in data):
        return None
    if not _parses(data):
        return None
    # positions as int32 (a part is far below 2 GB): the per-tag arrays are most of this reader's memory
    raw = np.frombuffer(data, dtype=np.uint8)
    lt = np.flatnonzero(raw == 0x3C).astype(np.int32)
    lt = lt[lt >= body]
    if not len(lt) or lt[0] != body:
        return None
    after = raw[lt + 1]
    if np.any((after == 0x21) | (after == 0x3F)):  # '<!' or '<?' after the prolog: comments, CDATA, PIs
        return None
    del after
    gt = np.flatnonzero(raw == 0x3E).astype(np.int32)
    if len(gt) == len(lt) + np.count_nonzero(gt < body) and np.array_equal(
        gt[-len(lt) :] > lt, np.ones(len(lt), bool)
    ):
        gt = gt[-len(lt) :]
    else:
        gt = gt[np.searchsorted(gt, lt)]  # text holds '>': the first one after each '<' closes its tag
    n = len(lt)
    offsets = np.empty(2 * n, dtype=np.int32)
    offsets[0::2] = lt
    offsets[1::2] = gt
    offsets[1::2] += 1
    del lt, gt
    # entry 2i is tag i (with its < and >), entry 2i+1 the text after it up to the next tag
    entries = pa.StringArray.from_buffers(2 * n - 1, pa.py_buffer(offsets), pa.py_buffer(data))
    heads = pc.dictionary_encode(entries.take(pa.array(np.arange(0, 2 * n, 2, dtype=np.int32))))
    head_index = heads.indices.to_numpy()
    dictionary = heads.dictionary
    del heads
    codes = _codes()
    kinds, tags, tag_names = [], [], []
    for head in dictionary.to_pylist():
        hm = _HEAD.fullmatch(head)
        if hm is None:
            return None  # a prefixed name (namespaces, xml:space), '>' in an attribute value, or not a tag
        closing, tag, attrs, empty = hm.groups()
        if (closing and (attrs or empty)) or _XMLNS.search(attrs):
            return None
        kinds.append(_END if closing else _EMPTY if empty else _START)
        tags.append(codes.tag_ids.get(tag, codes.sentinel))
        tag_names.append(tag)
    kind = np.array(kinds, dtype=np.int8)[head_index]
    delta = np.array([1 if k == _START else -1 if k == _END else 0 for k in kinds], dtype=np.int8)[head_index]
    depth = np.cumsum(delta, dtype=np.int32)
    depth += kind != _START  # the element's level (the root is 1)
    opened = np.flatnonzero(kind != _END)  # start and empty tags: one per element, in document order
    d = depth[opened]
    h = head_index[opened]
    tag_all = np.array(tags, dtype=np.int64)[head_index]
    tag = tag_all[opened]
    # The top: <QBXML> alone at level 1, <QBXMLMsgsRs> alone at level 2 (and nowhere else).
    names = np.array(tag_names, dtype=object)
    if names[h[0]] != "QBXML" or np.count_nonzero(d == 1) != 1:
        return None
    msgs_at = np.flatnonzero(d == 2)
    if len(msgs_at) != 1 or names[h[msgs_at[0]]] != "QBXMLMsgsRs":
        return None
    msgs_heads = [i for i, t in enumerate(tag_names) if t == "QBXMLMsgsRs"]
    if np.count_nonzero(np.isin(h, msgs_heads)) != 1:
        return None
    # Path codes: each element below an Rs adds its tag id at its level's bits when it opens and takes it away
    # when it closes, so the running sum at an element's start tag is the code of its path from its Ret.
    positions = np.arange(len(opened))
    levels = codes.levels
    inside = (depth >= 4) & (depth <= 3 + levels)
    own = np.left_shift(tag_all, np.where(inside, _BITS * (depth - 4), 0))
    own[~inside] = 0
    del tag_all, inside
    running = own * delta
    np.cumsum(running, out=running)
    code = running[opened]
    code += np.where(kind[opened] == _EMPTY, own[opened], 0)
    del own, running, delta, depth
    code[(d < 4) | (d > 3 + levels)] = -1
    # Rets: a table's Ret tag only ever directly inside a *Rs element below <QBXMLMsgsRs>.
    is_ret_tag = np.isin(tag, codes.ret_ids)
    if np.any(is_ret_tag & (d != 4)):
        return None
    rs_last = np.maximum.accumulate(np.where(d == 3, positions, -1))
    rs_of_ret = rs_last[is_ret_tag]
    rs_names = names[h[rs_of_ret]] if len(rs_of_ret) else np.array([], dtype=object)
    if not all(str(x).endswith("Rs") for x in set(rs_names.tolist())):
        return None
    slot = np.minimum(np.searchsorted(codes.keys, code), len(codes.keys) - 1)
    hits = np.flatnonzero((codes.keys[slot] == code) & (code >= 0))  # elements the plans read, in order
    hit_role = slot[hits]
    role_kind = codes.role_kind[hit_role]
    roles = codes.roles

    ret_pos = hits[role_kind == 0]  # each Ret, in document order
    if not np.array_equal(ret_pos, np.flatnonzero(is_ret_tag)):
        return None
    ret_roles = hit_role[role_kind == 0]
    if np.any(codes.role_unsupported[ret_roles]):
        return None
    n_rets = len(ret_pos)
    ret_of = np.cumsum(is_ret_tag) - 1  # the Ret each element is in (for elements inside one)
    line_pos = hits[role_kind == 1]
    line_roles = hit_role[role_kind == 1]
    is_line = np.zeros(len(opened), dtype=bool)
    is_line[line_pos] = True
    line_of = np.cumsum(is_line) - 1  # the line each element is in (for elements inside one)
    ret_table = codes.role_table[ret_roles]
    line_table = codes.role_table[line_roles]
    ret_row = _rows_within(ret_table)  # each Ret's row in its table
    line_row = _rows_within(line_table)
    line_ret = ret_of[line_pos]

    # Statuses: every element directly in <QBXMLMsgsRs>, its attributes read by libxml2 from its start tag.
    rs_pos = np.flatnonzero(d == 3)
    rets_per_rs = np.bincount(np.searchsorted(rs_pos, rs_of_ret), minlength=len(rs_pos))
    statuses = []
    for j, p in enumerate(rs_pos):
        head = entries[2 * int(opened[p])].as_py()
        closed = head if head.endswith("/>") else head + f"</{names[h[p]]}>"
        try:
            el = etree.fromstring(closed, _HEAD_PARSER)
        except etree.XMLSyntaxError:
            return None
        status = _status(el, file)
        status.rets = int(rets_per_rs[j])
        statuses.append(status)

    # The text after each element's start tag is its .text (None for <X/> and <X></X>).
    if opened[-1] == n - 1:
        return None  # the last tag opens an element (only a root <X/> can): no text entry after it
    text_at = 2 * opened.astype(np.int64) + 1
    no_text = (kind[opened] == _EMPTY) | (offsets[text_at + 1] == offsets[text_at])
    columns: dict[str, dict[int, pa.Array]] = {}
    n_rows = {t: int(np.count_nonzero(ret_table == t)) for t in set(ret_table.tolist())}
    n_rows.update({t: int(np.count_nonzero(line_table == t)) for t in set(line_table.tolist())})
    for kind_no, row_of in ((2, lambda e: ret_row[ret_of[e]]), (3, lambda e: line_row[line_of[e]])):
        mask = role_kind == kind_no
        els, el_roles = hits[mask], hit_role[mask]
        column_no = codes.role_column[el_roles]
        order = np.argsort(column_no, kind="stable")
        for part in np.split(order, np.flatnonzero(np.diff(column_no[order])) + 1):
            if not len(part):
                continue
            role = roles[el_roles[part[0]]]
            these = els[part]
            rows = row_of(these)
            if len(rows) > 1 and np.any(np.diff(rows) <= 0):
                return None  # the element twice in one record: the walk keeps the last one; not followed here
            index = np.full(n_rows[role.table], -1, dtype=np.int64)
            index[rows] = np.where(no_text[these], -1, text_at[these])
            arr = entries.take(pa.array(index, mask=index < 0))
            if pc.any(pc.utf8_is_space(arr)).as_py():
                return None  # only blanks: libxml2 keeps or drops those by rules this reader does not follow
            if has_amp and pc.any(pc.match_substring(arr, "&")).as_py():
                for ent, ch in _ENTITIES:
                    arr = pc.replace_substring(arr, ent, ch)
            columns.setdefault(role.table, {})[role.col] = arr

    # Each table's batch as the walk makes it: constants, copies, FullName from Name, line keys and numbers.
    plans = ret_plans()
    by_table = _plans_by_table()
    first_event: dict[str, float] = {}  # where the walk first adds a row of the table (it orders the batches)
    ret_done = np.append(ret_pos[1:], len(opened)) - 0.5  # a Ret's row is added at its end
    for table in n_rows:
        at = [float(ret_done[np.argmax(ret_table == table)])] if np.any(ret_table == table) else []
        if np.any(line_table == table):
            at.append(float(line_pos[np.argmax(line_table == table)]))
        first_event[table] = min(at)
    numbers = np.arange(1, n_rets + 1, dtype=np.int64)  # source_row: the Ret's position in the document
    batches: dict[str, Batch] = {}
    keys: dict[str, pa.Array] = {}
    key_col: dict[str, int] = {}
    for table in n_rows:
        sel = np.flatnonzero(ret_table == table)
        if not len(sel):
            continue
        spec, names_, copies = by_table[table]
        cols = _null_columns(columns.get(table, {}), len(names_), len(sel))
        plan = plans[codes.role_ret[ret_roles[sel[0]]]]
        tags_here = codes.role_ret[ret_roles[sel]]
        for tag_name in set(tags_here.tolist()):
            for col, value in plans[tag_name].consts.get(tag_name, ()):
                cols[col] = _constant_where(cols[col], tags_here == tag_name, value)
        for dst, src in copies:
            cols[dst] = cols[src]
        if plan.fill_fullname is not None:
            full, short = plan.fill_fullname
            cols[full] = pc.coalesce(cols[full], cols[short])
        keys[table], key_col[table] = cols[plan.key_col], plan.key_col
        batches[table] = _batch(spec, cols, file, numbers[sel], first_group)

    if len(line_pos):
        # The walk gives a line its Ret's key as read so far: the key must come before the Ret's first line.
        ret_cols = hits[role_kind == 2]
        is_key = codes.role_is_key[hit_role[role_kind == 2]]
        key_at = np.full(n_rets, -1, dtype=np.int64)
        if len(is_key):
            key_at[ret_of[ret_cols[is_key]]] = ret_cols[is_key]
        first_line = np.full(n_rets, len(opened), dtype=np.int64)
        np.minimum.at(first_line, line_ret, line_pos)
        if np.any(key_at > first_line):
            return None
        # LineNumber: 1, 2, ... within each Ret, over all its lines (groups' lines included)
        starts = np.flatnonzero(np.diff(line_ret, prepend=-1))
        number = np.arange(len(line_ret)) - np.repeat(starts, np.diff(np.append(starts, len(line_ret)))) + 1
        line_tags = codes.role_line[line_roles]
        for table in n_rows:
            sel = np.flatnonzero(line_table == table)
            if not len(sel):
                continue
            spec, names_, copies = by_table[table]
            cols = _null_columns(columns.get(table, {}), len(names_), len(sel))
            lp = plans[codes.role_ret[line_roles[sel[0]]]].lines[codes.role_line[line_roles[sel[0]]]]
            rets_here = line_ret[sel]
            parents = set(ret_table[rets_here].tolist())
            if len(parents) != 1:
                return None
            cols[lp.parent_col] = keys[parents.pop()].take(pa.array(ret_row[rets_here]))
            if lp.number_col >= 0:
                cols[lp.number_col] = pa.array(number[sel], pa.int64())
            if lp.kind_col >= 0:
                tags_here = line_tags[sel]
                kinds_here = np.empty(len(sel), dtype=object)
                for t in set(tags_here.tolist()):
                    kinds_here[tags_here == t] = lp.kinds[t]
                cols[lp.kind_col] = pa.array(kinds_here, pa.string())
            for dst, src in copies:
                cols[dst] = cols[src]
            batches[table] = _batch(spec, cols, file, numbers[rets_here], first_group)
    result = QueryResult()
    result.batches = {t: batches[t] for t in sorted(batches, key=lambda t: first_event[t])}
    result.statuses = statuses
    result.groups = n_rets
    return result


_ROLE_KIND = {"ret": 0, "line": 1, "ret_col": 2, "line_col": 3}
_HEAD_PARSER = etree.XMLParser(**PARSER_OPTIONS)


def _rows_within(tables: np.ndarray) -> np.ndarray:
    """Each record's position among the records of its own table (in document order)."""
    out = np.zeros(len(tables), dtype=np.int64)
    for t in set(tables.tolist()):
        idx = np.flatnonzero(tables == t)
        out[idx] = np.arange(len(idx))
    return out


def _null_columns(found: dict[int, pa.Array], width: int, n_rows: int) -> list[pa.Array]:
    return [found.get(i, pa.nulls(n_rows, pa.string())) for i in range(width)]


def _constant_where(arr: pa.Array, where: np.ndarray, value: str) -> pa.Array:
    if where.all():
        return pa.array([value] * len(where), pa.string())
    return pc.if_else(pa.array(where), pa.scalar(value, pa.string()), arr)


def _batch(
    spec: TableSpec, cols: list[pa.Array], file: str, source_row: np.ndarray, first_group: int
) -> Batch:
    n = len(source_row)
    columns = dict(zip(spec.column_names, cols, strict=True))
    return Batch(
        TABLES[spec.table], columns, [file] * n, source_row.tolist(), (source_row - 1 + first_group).tolist()
    )
