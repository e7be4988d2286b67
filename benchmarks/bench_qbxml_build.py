"""qbXML generation: BillAdd requests for N approved subcontractor invoices (4 cost-code lines + retainage each).

Three things are timed on the same requests (see ``bench_qbxml.run_build``):

* ``qbrecon_build``: the real path, frames of accepted invoices -> ``build_requests("invoice", ...)`` (joins,
  sums, text conversion, length checks, element trees) -> ``message_sets(..., max_requests=100)`` (bytes ready
  for sendRequestXML). XSD validation is off, as in production.
* ``lxml_build``: lxml alone making the same trees from values already in hand (every text already formatted,
  nothing to join, check or convert) and serialising them into the same 100-request documents: the floor for
  *generation*.
* ``lxml_alone``: lxml alone serialising qbrecon's finished trees (``etree.tostring``): the floor for
  *serialisation*, against which ``message_sets`` is compared.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pyarrow as pa
from lxml import etree

from qbrecon.qbxml.build import BuildContext, build_requests, message_sets
from qbrecon.schemas import TABLES

LINES_PER_INVOICE = 4
N_VENDORS = 20
N_COST_CODES = 200
MAX_REQUESTS = 100
HEAD = b'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n<QBXML><QBXMLMsgsRq onError="continueOnError">'
TAIL = b"</QBXMLMsgsRq></QBXML>"


def _frame(table: str, n: int, columns: dict) -> pd.DataFrame:
    """A frame with the stored table's dtypes for the given columns (the others missing)."""
    empty = TABLES[table].empty_frame()
    out = {}
    for c in empty.columns:
        values = columns.get(c)
        if values is None:
            out[c] = pd.Series(pa.nulls(n, empty[c].dtype.pyarrow_dtype), dtype=empty[c].dtype)
        else:
            out[c] = pd.Series(pa.array(values, empty[c].dtype.pyarrow_dtype), dtype=empty[c].dtype)
    return pd.DataFrame(out)


def build_inputs(n: int) -> dict:
    """``n`` approved invoices on one synced job, 20 synced vendors/POs and 200 synced cost codes."""
    ids = list(range(1, n + 1))
    lines_n = n * LINES_PER_INVOICE
    inv_of = [i for i in ids for _ in range(LINES_PER_INVOICE)]
    cc_of = [1000 + (i * 7 + k * 13) % N_COST_CODES for i in ids for k in range(LINES_PER_INVOICE)]
    work = [
        Decimal(1000 + (i * 7919 + k * 104729) % 9_000_000) / 100
        for i in ids
        for k in range(LINES_PER_INVOICE)
    ]
    held = [(w / 10).quantize(Decimal("0.01")) for w in work]
    due = [sum(work[j * 4 : j * 4 + 4]) - sum(held[j * 4 : j * 4 + 4]) for j in range(n)]
    invoices = _frame(
        "invoices",
        n,
        {
            "id": ids,
            "project_id": [1] * n,
            "commitment_id": [100 + i % N_VENDORS for i in ids],
            "vendor_id": [10 + i % N_VENDORS for i in ids],
            "invoice_number": [f"INV-{i}" for i in ids],
            "status": ["approved"] * n,
            "billing_date": [dt.date(2024, 1, 1) + dt.timedelta(days=i % 300) for i in ids],
            "payment_due_date": [dt.date(2024, 3, 1) + dt.timedelta(days=i % 300) for i in ids],
            "contract_name": [f"Subcontract {i % N_VENDORS}" for i in ids],
            "current_payment_due": due,
        },
    )
    lines = _frame(
        "invoice_lines",
        lines_n,
        {
            "id": list(range(1, lines_n + 1)),
            "requisition_id": inv_of,
            "cost_code_id": cc_of,
            "cost_code_full_code": [f"{(c - 1000) // 20:02d}-{c - 1000:03d}" for c in cc_of],
            "work_completed_this_period": work,
            "work_completed_retainage_retained_this_period": held,
            "position": [k for _ in ids for k in range(LINES_PER_INVOICE)],
        },
    )
    v = range(N_VENDORS)
    c = range(N_COST_CODES)
    frames = {
        "projects": _frame(
            "projects", 1, {"id": [1], "name": ["Bench Tower"], "origin_id": ["80000001-1111111111"]}
        ),
        "companies": _frame(
            "companies",
            N_VENDORS,
            {
                "id": [10 + i for i in v],
                "name": [f"Vendor {i}" for i in v],
                "origin_id": [f"{0x80000100 + i:08X}-1446676743" for i in v],
            },
        ),
        "commitments": _frame(
            "commitments",
            N_VENDORS,
            {
                "id": [100 + i for i in v],
                "project_id": [1] * N_VENDORS,
                "vendor_id": [10 + i for i in v],
                "origin_id": [f"{0x1A00 + i:X}-1700000000" for i in v],
            },
        ),
        "cost_codes": _frame(
            "cost_codes",
            N_COST_CODES,
            {
                "id": [1000 + i for i in c],
                "cost_code_level": ["standard"] * N_COST_CODES,
                "code": [f"{i:03d}" for i in c],
                "full_code": [f"{i // 20:02d}-{i:03d}" for i in c],
                "origin_id": [f"{0x80001000 + i:08X}-1500000000" for i in c],
            },
        ),
    }
    context = BuildContext(retainage_item="Retainage", frames=frames)
    return {"invoices": invoices, "invoice_lines": lines, "context": context}


def qbrecon_build(inputs: dict, keep_trees: bool = True) -> dict:
    """The production path: frames -> BillAdd trees -> message sets of 100 requests (bytes)."""
    result = build_requests("invoice", inputs["invoices"], inputs["invoice_lines"], inputs["context"])
    if not result.errors.empty:
        raise AssertionError(
            f"the benchmark's invoices were refused: {result.errors.head().to_dict('records')}"
        )
    sets = message_sets(result.requests, max_requests=MAX_REQUESTS)
    return {
        "trees": [r.element for r in result.requests] if keep_trees else None,
        "requests": len(result.requests),
        "message_sets": len(sets),
        "bytes": sum(len(s.xml) for s in sets),
    }


def serialise_only(trees: list) -> list[bytes]:
    """qbrecon's ``message_sets`` on finished trees (timed against ``lxml_alone``)."""
    from qbrecon.qbxml.build import Request

    reqs = [Request(t.get("requestID"), "invoice", i, "add", "BillAdd", t) for i, t in enumerate(trees)]
    return [s.xml for s in message_sets(reqs, max_requests=MAX_REQUESTS)]


def lxml_alone(trees: list) -> list[bytes]:
    """lxml's own serialisation of the same trees, batched into the same documents."""
    tostring = etree.tostring
    return [
        HEAD + b"".join([tostring(e, encoding="us-ascii") for e in trees[i : i + MAX_REQUESTS]]) + TAIL
        for i in range(0, len(trees), MAX_REQUESTS)
    ]


def plain_values(trees: list) -> list[tuple]:
    """The trees as nested ``(tag, attrib, text, children)`` tuples: values in hand for ``lxml_build``."""

    def walk(e: etree._Element) -> tuple:
        return (e.tag, dict(e.attrib), e.text, [walk(c) for c in e])

    return [walk(t) for t in trees]


def lxml_build(plain: list[tuple]) -> list[bytes]:
    """lxml alone making the same trees from ready values and serialising them into the same documents."""
    make, sub, tostring = etree.Element, etree.SubElement, etree.tostring

    def fill(parent: etree._Element, children: list) -> None:
        for tag, _attrib, text, kids in children:
            el = sub(parent, tag)
            if kids:
                fill(el, kids)
            else:
                el.text = text

    out = []
    for i in range(0, len(plain), MAX_REQUESTS):
        parts = []
        for tag, attrib, _text, kids in plain[i : i + MAX_REQUESTS]:
            rq = make(tag, attrib)
            fill(rq, kids)
            parts.append(tostring(rq, encoding="us-ascii"))
        out.append(HEAD + b"".join(parts) + TAIL)
    return out
