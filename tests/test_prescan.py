"""The DOCTYPE/ENTITY pre-scan never depends on libxml2, and a document that is not qbXML is refused before
its size matters (issue 18, finding 9)."""

from __future__ import annotations

import io

import pytest

from qbrecon.errors import InputError
from qbrecon.qbxml.parse import PROLOG_LIMIT, parse_bytes, read_query_response

DOCTYPE = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'


def test_a_long_prolog_is_refused_by_the_prescan_not_left_to_libxml2():
    long_prolog = b'<?xml version="1.0"?><!--' + b"x" * (PROLOG_LIMIT + 10) + b"-->"
    with pytest.raises(InputError, match="prolog .* longer than 1 MB"):
        parse_bytes(long_prolog + DOCTYPE + b"<QBXML>&e;</QBXML>")
    with pytest.raises(InputError, match="declaration is refused|prolog .* longer than 1 MB"):
        read_query_response(long_prolog + DOCTYPE + b"<QBXML>&e;</QBXML>")  # streamed: read on to the DOCTYPE


def test_a_short_prolog_with_a_doctype_is_refused_by_the_prescan():
    with pytest.raises(InputError, match="declaration is refused"):
        parse_bytes(b"<!-- c -->" + DOCTYPE + b"<a/>")


class _Endless(io.RawIOBase):
    """A stream of ``size`` bytes of elements that are not qbXML, produced as read (nothing held)."""

    def __init__(self, head: bytes, unit: bytes, size: int):
        self.head, self.unit, self.left, self.read_bytes = head, unit, size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # noqa: ANN001
        if self.head:
            data, self.head = self.head[: len(b)], self.head[len(b) :]
        elif self.left > 0:
            n = min(len(b), self.left) // len(self.unit) * len(self.unit) or len(self.unit)
            data = (self.unit * (n // len(self.unit)))[: len(b)]
            self.left -= len(data)
        else:
            data = b""
        b[: len(data)] = data
        self.read_bytes += len(data)
        return len(data)


def test_a_huge_document_that_is_not_qbxml_is_refused_at_its_root():
    """Elements the reader does not ask for stay in memory until their parent ends, so a 2 GB file of other
    elements used to grow the process to 2 GB before "not a qbXML response"."""
    stream = _Endless(b"<?xml version='1.0'?><Inventory>", b"<Row><Cell>1</Cell></Row>", 200_000_000)
    with pytest.raises(InputError, match="root element is <Inventory>"):
        read_query_response(stream, name="big.xml")
    assert stream.read_bytes < 2 * PROLOG_LIMIT


def test_an_over_long_text_field_is_refused_at_load_with_row_and_field(ws, tmp_path):
    """A 10 MB vendor name used to be accepted (a 20 MB HTML report, cut silently in Excel)."""
    import json

    (tmp_path / "vendors.json").write_text(
        json.dumps([{"id": 1, "name": "Acme Concrete"}, {"id": 2, "name": "V" * 10_000_000}])
    )
    report = ws.load_procore(tmp_path)
    assert report.tables["companies"].quarantined == 1
    q = ws.quarantine(report.load_id)
    row = q[q["field"] == "name"].iloc[0]
    assert row["check"] == "text_length" and "10,000,000 characters" in row["failure_case"]
    assert int(row["source_row"]) == 2
    assert ws.store.scalar("SELECT max(length(name)) FROM companies") == len("Acme Concrete")
