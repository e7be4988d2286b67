"""A large qbXML response is cut at Ret boundaries and its parts read in worker processes: the load must come
out exactly as reading the whole file at once (rows, statuses, quarantine), stay atomic, and keep the safe-XML
policy. The part size is made small here so that small files are cut into many parts."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from qbrecon.errors import InputError
from qbrecon.loaders import quickbooks as qb_reader
from qbrecon.qbxml import parse as qbxml_parse
from qbrecon.workspace_full import Workspace

PART = 4096  # bytes per part in these tests


def _bill(n: int, memo: str = "", amount: str | None = None, qty: str = "2") -> str:
    lines = "".join(
        f"<ItemLineRet><TxnLineID>{n}-{i}</TxnLineID><ItemRef><FullName>01-{i}00</FullName></ItemRef>"
        f"<Desc>Work {i} &amp; more</Desc><Quantity>{qty}</Quantity><Cost>5.00</Cost>"
        f"<Amount>{amount or '10.00'}</Amount>"
        f"<CustomerRef><ListID>C-{n % 3}</ListID><FullName>Owner:Job {n % 3}</FullName></CustomerRef>"
        f"</ItemLineRet>\n"
        for i in range(5)
    )
    return (
        f"<BillRet><TxnID>T-{n}</TxnID><EditSequence>1</EditSequence><TxnDate>2026-03-01</TxnDate>"
        f"<VendorRef><ListID>V-1</ListID><FullName>Vendor 1</FullName></VendorRef>"
        f"<RefNumber>INV-{n}</RefNumber><Memo>{memo}</Memo><AmountDue>50.00</AmountDue>\n{lines}</BillRet>\n"
    )


def _doc(*responses: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n<QBXML>\n'
        '<QBXMLMsgsRs onError="continueOnError">\n' + "".join(responses) + "</QBXMLMsgsRs>\n</QBXML>\n"
    )


def _rs(name: str, bills: range, code: int = 0, **bill_args: str) -> str:
    body = "".join(_bill(n, **bill_args) for n in bills)
    return (
        f'<{name} requestID="r-{name}-{bills.start}" statusCode="{code}" statusSeverity="Info" '
        f'statusMessage="Status OK">\n{body}</{name}>\n'
    )


def _tables(ws: Workspace) -> dict[str, pd.DataFrame]:
    out = {}
    for t in ("bills", "bill_lines"):
        f = ws.frame(t).drop(columns=["_load_id", "_loaded_at"])
        out[t] = f.sort_values(list(f.columns[:2])).reset_index(drop=True)
    return out


def _load(tmp_path: Path, name: str, path: Path, workers: int | None, part: int | None):
    ws = Workspace(tmp_path / f"{name}.duckdb")
    reader = qb_reader.ResponseReader(path, part_bytes=part, workers=workers)
    report = ws.loading._write_load(
        "quickbooks", str(path), reader.chunks(), pd.Timestamp.now(tz="UTC"), reader
    )
    return ws, report


@pytest.fixture()
def whole_vs_parts(tmp_path):
    def run(text: str, workers: int = 2):
        path = tmp_path / "BillQueryRs.xml"
        path.write_text(text, encoding="utf-8")
        ws_whole, whole = _load(tmp_path, "whole", path, 0, 1 << 30)
        ws_parts, parts = _load(tmp_path, f"parts{workers}", path, workers, PART)
        assert len(list(qbxml_parse.split_response(path, PART))) > 3
        return ws_whole, whole, ws_parts, parts

    return run


def _same(ws_whole, whole, ws_parts, parts) -> None:
    a, b = _tables(ws_whole), _tables(ws_parts)
    for t in a:
        pd.testing.assert_frame_equal(a[t], b[t])
    assert whole.tables == parts.tables
    assert whole.responses == parts.responses
    qa = ws_whole.quarantine().drop(columns=["load_id", "quarantined_at"])
    qb = ws_parts.quarantine().drop(columns=["load_id", "quarantined_at"])
    pd.testing.assert_frame_equal(qa.reset_index(drop=True), qb.reset_index(drop=True))


@pytest.mark.parametrize("workers", [0, 2])
def test_parts_load_the_same_rows_and_statuses(whole_vs_parts, workers):
    text = _doc(
        _rs("BillQueryRs", range(1, 40)),
        '<VendorQueryRs requestID="v" statusCode="1" statusSeverity="Info" statusMessage="no match"/>\n',
        _rs("BillQueryRs", range(40, 80), code=0),
    )
    result = whole_vs_parts(text, workers)
    _same(*result)
    assert result[3].tables["bill_lines"].loaded == 79 * 5
    assert [r["rets"] for r in result[3].responses] == [39, 0, 40]


def test_bad_values_are_quarantined_as_in_one_read(whole_vs_parts):
    text = _doc(
        _rs("BillQueryRs", range(1, 30)),
        _rs("BillQueryRs", range(30, 33), amount="12.x"),
        _rs("BillQueryRs", range(33, 60)),
    )
    result = whole_vs_parts(text)
    _same(*result)
    assert result[3].tables["bills"].quarantined == 3 and result[3].tables["bill_lines"].quarantined == 15


def test_a_cut_inside_cdata_still_reads_right(whole_vs_parts):
    # an end tag inside CDATA is text: the part with it is read as one piece, and the rows come out the same
    memo = "<![CDATA[</BillRet></BillQueryRs><BillQueryRs statusCode='9'>]]>"
    rs = _rs("BillQueryRs", range(1, 60))
    at = rs.index("<Memo></Memo>", len(rs) * 2 // 3)
    text = _doc(rs[:at] + f"<Memo>{memo}</Memo>" + rs[at + 13 :])
    _same(*whole_vs_parts(text))


def test_identical_copies_in_two_parts_are_merged(whole_vs_parts):
    text = _doc(_rs("BillQueryRs", range(1, 40)), _rs("BillQueryRs", range(1, 40)))
    ws_whole, whole, ws_parts, parts = whole_vs_parts(text)
    assert whole.tables["bills"].merged == parts.tables["bills"].merged == 39
    pd.testing.assert_frame_equal(_tables(ws_whole)["bill_lines"], _tables(ws_parts)["bill_lines"])


def test_a_different_record_under_a_key_already_stored_is_held_back(whole_vs_parts):
    text = _doc(_rs("BillQueryRs", range(1, 40)), _rs("BillQueryRs", range(1, 40), qty="3"))
    _ws_whole, _whole, ws_parts, parts = whole_vs_parts(text)
    assert parts.tables["bill_lines"].quarantined == 39 * 5
    assert set(ws_parts.quarantine()["check"]) >= {"duplicate_key"}
    assert set(ws_parts.frame("bill_lines")["Quantity"].astype(str)) == {"2.00000"}


@pytest.mark.parametrize("workers", [0, 2])
def test_a_malformed_part_writes_nothing_and_names_the_true_line(tmp_path, workers):
    good = _doc(_rs("BillQueryRs", range(1, 60)))
    lines = good.splitlines(keepends=True)
    at = len(lines) * 3 // 4
    lines[at] = lines[at].replace("</Desc>", "</Dsc>", 1)
    path = tmp_path / "bad.xml"
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(InputError) as whole_error:
        qbxml_parse.read_query_response(path, name="bad.xml")
    ws = Workspace(tmp_path / "ws.duckdb")
    reader = qb_reader.ResponseReader(path, part_bytes=PART, workers=workers)
    with pytest.raises(InputError) as parts_error:
        ws.loading._write_load("quickbooks", str(path), reader.chunks(), pd.Timestamp.now(tz="UTC"), reader)
    assert str(parts_error.value) == str(whole_error.value)
    assert f"line {at + 1}" in str(parts_error.value)
    assert ws.store.count("bills") == ws.store.count("bill_lines") == ws.store.count("load_runs") == 0


def test_a_doctype_is_refused_before_any_part_is_read(tmp_path):
    text = _doc(_rs("BillQueryRs", range(1, 60))).replace(
        "<QBXML>", '<!DOCTYPE QBXML [<!ENTITY x "boom">]>\n<QBXML>', 1
    )
    path = tmp_path / "dtd.xml"
    path.write_text(text, encoding="utf-8")
    ws = Workspace(tmp_path / "ws.duckdb")
    reader = qb_reader.ResponseReader(path, part_bytes=PART, workers=2)
    with pytest.raises(InputError, match="DOCTYPE"):
        ws.loading._write_load("quickbooks", str(path), reader.chunks(), pd.Timestamp.now(tz="UTC"), reader)
    assert ws.store.count("bills") == 0


_CHECK_PART = qb_reader._check_part
_PARENT: list[int] = []


def _dies_in_a_worker(path: str, part: object) -> object:
    """Reads a part in the loading process; ends a worker process abruptly, as a killed one ends."""
    if os.getpid() not in _PARENT:
        os._exit(9)
    return _CHECK_PART(path, part)


def test_a_worker_process_that_dies_loses_nothing(tmp_path, monkeypatch):
    """A worker killed mid-load (out of memory, a crash): its part and every part after it are read in the loading
    process, and the load stores the same rows as a load without workers."""
    text = _doc(_rs("BillQueryRs", range(1, 60)))
    path = tmp_path / "bills.xml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(qb_reader, "_check_part", _dies_in_a_worker)
    _PARENT[:] = [os.getpid()]
    ws_parts, _ = _load(tmp_path, "killed", path, 2, PART)
    monkeypatch.setattr(qb_reader, "_check_part", _CHECK_PART)
    ws_whole, _ = _load(tmp_path, "whole", path, 0, None)
    for table in ("bills", "bill_lines"):
        assert ws_parts.store.count(table) == ws_whole.store.count(table) > 0
