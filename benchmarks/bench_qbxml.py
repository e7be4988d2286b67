"""qbXML ingest and generation benchmarks.

Parse: qbrecon's ``read_query_response`` on a large BillQueryRs (with item lines) against the floor, a bare
``lxml.etree.iterparse`` walk that only visits the elements, and against ``xmltodict`` + ``pandas`` (what an
analyst would write), on the same file in the same run.

Build: 100,000 ``BillAdd`` requests through qbrecon's builders (XSD validation off) against serialising the
same element trees with lxml alone.
"""

from __future__ import annotations

import os
import random
import resource
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree

from benchmarks.common import compare, ratio


def write_bill_query_rs(path: Path, target_mb: float, seed: int = 1) -> dict:
    """A BillQueryRs of about ``target_mb`` MB: bills with 5 item lines (one a negative retainage line), each
    with ItemRef, Desc, Quantity, Cost, Amount and CustomerRef (ListID and FullName)."""
    from qbrecon.fixtures.writers import QbxmlResponseWriter, cents_text, ref, sub

    rng = random.Random(seed)
    writer = QbxmlResponseWriter(path, "BillQueryRs", "bench-1", iteratorRemainingCount="0")
    n_bills = n_lines = 0
    target = target_mb * 2**20
    while True:
        n_bills += 1
        txn = f"{0x80000000 + n_bills:08X}-1700000000"
        bill = etree.Element("BillRet")
        sub(bill, "TxnID", txn)
        sub(bill, "TimeCreated", "2026-03-01T10:15:00-08:00")
        sub(bill, "TimeModified", "2026-03-02T11:00:00-08:00")
        sub(bill, "EditSequence", "1700000000")
        sub(bill, "TxnNumber", n_bills)
        ref(bill, "VendorRef", f"{0x80000100 + n_bills % 500:08X}-1600000000", f"Vendor {n_bills % 500}")
        ref(bill, "APAccountRef", None, "Accounts Payable")
        sub(bill, "TxnDate", "2026-03-01")
        sub(bill, "DueDate", "2026-03-31")
        lines = [rng.randint(10_000, 5_000_000) for _ in range(4)]
        retainage = -sum(lines) // 10
        sub(bill, "AmountDue", cents_text(sum(lines) + retainage))
        sub(bill, "RefNumber", f"INV-{n_bills}")
        sub(bill, "IsPaid", "false")
        sub(bill, "OpenAmount", cents_text(sum(lines) + retainage))
        for i, cents in enumerate([*lines, retainage]):
            n_lines += 1
            line = sub(bill, "ItemLineRet")
            sub(line, "TxnLineID", f"{n_lines:X}-1700000000")
            ref(line, "ItemRef", None, "Retainage" if i == 4 else f"{i + 1:02d}-{100 * (i + 1)}")
            sub(line, "Desc", "Retainage held" if i == 4 else f"Work completed this period {i}")
            # Quantity x Cost = Amount (retainage: 1 x the negative amount), as QuickBooks writes item lines
            qty = 1 if i == 4 else 1 + cents % 7
            sub(line, "Quantity", qty)
            sub(line, "Cost", cents_text(cents) if qty == 1 else f"{cents / 100 / qty:.5f}")
            sub(line, "Amount", cents_text(cents))
            ref(
                line,
                "CustomerRef",
                f"{0x80000300 + n_bills % 200:08X}-1600000000",
                f"Customer {n_bills % 40}:Project {n_bills % 200}",
            )
            sub(line, "BillableStatus", "NotBillable")
        writer.write(bill)
        if n_bills % 500 == 0 and path.stat().st_size >= target:
            break
    writer.close()
    return {"bills": n_bills, "lines": n_lines, "mb": round(path.stat().st_size / 2**20, 1)}


def _floor(path: Path) -> int:
    n = 0
    for _event, el in etree.iterparse(str(path), events=("end",)):
        n += 1
        if el.tag in ("BillRet",):
            el.clear()
            while el.getprevious() is not None:
                del el.getparent()[0]
    return n


def _xmltodict_pandas(path: Path) -> tuple[int, int]:
    import pandas as pd
    import xmltodict

    doc = xmltodict.parse(path.read_bytes())
    bills = doc["QBXML"]["QBXMLMsgsRs"]["BillQueryRs"]["BillRet"]
    bills = bills if isinstance(bills, list) else [bills]
    header = pd.json_normalize(bills, sep="_").drop(columns=["ItemLineRet"], errors="ignore")
    lines = pd.json_normalize(bills, record_path="ItemLineRet", meta=["TxnID"], sep="_", meta_prefix="Bill_")
    for col in ("AmountDue", "OpenAmount"):
        header[col] = header[col].astype(float)
    lines["Amount"] = lines["Amount"].astype(float)
    return len(header), len(lines)


def _qbrecon(path: Path) -> tuple[int, int]:
    from qbrecon.qbxml.parse import read_query_response

    result = read_query_response(path)
    # typed Arrow tables (decimal money, dates), as the loaders store them
    return result.table("bills").num_rows, result.table("bill_lines").num_rows


def _cpu() -> tuple[float, float]:
    """CPU-seconds (user + system) of this process and of its waited-for children (the load's workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def _with_cpu(fn: Callable[[], Any]) -> dict:
    """``fn()``'s result with the CPU-seconds it took (its own and its worker processes'): on a shared machine
    wall time depends on the load, CPU time per byte much less, so both are reported."""
    me0, kids0 = _cpu()
    result = fn()
    me1, kids1 = _cpu()
    return {
        "result": result,
        "cpu_s": round(me1 - me0 + kids1 - kids0, 3),
        "cpu_workers_s": round(kids1 - kids0, 3),
    }


# Contenders as run in processes of their own (``common.in_process``): paths come as text.
def floor(path: str) -> dict:
    return _with_cpu(lambda: _floor(Path(path)))


def parse(path: str) -> dict:
    return _with_cpu(lambda: list(_qbrecon(Path(path))))


def xmltodict_pandas(path: str) -> dict:
    return _with_cpu(lambda: list(_xmltodict_pandas(Path(path))))


def _load(path: str, workspace: str) -> list[int]:
    from qbrecon.workspace_full import Workspace

    db = Path(workspace)
    ws = Workspace(db)
    try:
        report = ws.load_quickbooks(path)
        counts = [report.tables["bills"].loaded, report.tables["bill_lines"].loaded]
        assert counts == [ws.store.count("bills"), ws.store.count("bill_lines")]
        return counts
    finally:
        ws.close()
        for p in (db, Path(f"{db}.wal")):
            p.unlink(missing_ok=True)


def load(path: str, workspace: str) -> dict:
    """The user's path: ``ws.load_quickbooks`` into a new workspace file (removed afterwards)."""
    return _with_cpu(lambda: _load(path, workspace))


def prepare(func: str) -> None:
    """Imports outside the timing (the user's notebook has them loaded already)."""
    import pandas  # noqa: F401
    import xmltodict  # noqa: F401

    import qbrecon.loaders.quickbooks  # noqa: F401
    import qbrecon.qbxml.parse  # noqa: F401
    import qbrecon.workspace_full  # noqa: F401


def run_parse(target_mb: float, data_dir: Path, repeat: int = 1) -> dict:
    """One BillQueryRs of about ``target_mb`` MB (written once into ``data_dir``; 5 item lines per bill with refs,
    Desc, Quantity, Cost on each) read four ways, each contender in a process of its own."""
    from benchmarks.common import compare_in_processes

    path = Path(data_dir) / f"BillQueryRs_lines_{int(target_mb)}mb.xml"
    if not path.exists():
        tmp = path.with_suffix(".partial")
        made = write_bill_query_rs(tmp, target_mb)
        tmp.rename(path)  # a half-written file from an interrupted run is never reused
    else:
        made = {"mb": round(path.stat().st_size / 2**20, 1)}
    mb = path.stat().st_size / 2**20
    ws = str(Path(data_dir) / "bench_load_quickbooks.duckdb")
    m = compare_in_processes(
        {
            "iterparse_floor": ("benchmarks.bench_qbxml:floor", str(path)),
            "qbrecon_load": ("benchmarks.bench_qbxml:load", str(path), ws),
            "qbrecon_parse": ("benchmarks.bench_qbxml:parse", str(path)),
            "xmltodict_pandas": ("benchmarks.bench_qbxml:xmltodict_pandas", str(path)),
        },
        repeat=repeat,
        once=("xmltodict_pandas",),  # ~10x slower and several GB: once is enough to place it
    )
    ours, parsed, naive = (
        m["qbrecon_load"]["result"]["result"],
        m["qbrecon_parse"]["result"]["result"],
        m["xmltodict_pandas"]["result"]["result"],
    )
    assert ours == parsed == naive, (ours, parsed, naive)
    out = {"file": made, "rows": {"bills": ours[0], "bill_lines": ours[1]}, "cpus": os.cpu_count()}
    for name, r in m.items():
        out[name] = {
            "seconds": r["seconds"],
            "mb_per_s": round(mb / r["seconds"], 1),
            "peak_rss_mb": r["peak_rss_mb"],
            # CPU-seconds of the first round (worker processes included): the figure load disturbs least
            "cpu_s": r["result"]["cpu_s"],
            "cpu_workers_s": r["result"]["cpu_workers_s"],
            "cpu_s_per_mb": round(r["result"]["cpu_s"] / mb, 4),
        }
    out["qbrecon"] = out["qbrecon_load"]  # the figure that counts: the user's path
    out["load_vs_floor"] = ratio(m["iterparse_floor"]["seconds"], m["qbrecon_load"]["seconds"])
    out["load_vs_xmltodict"] = ratio(m["xmltodict_pandas"]["seconds"], m["qbrecon_load"]["seconds"])
    out["parse_vs_floor"] = ratio(m["iterparse_floor"]["seconds"], m["qbrecon_parse"]["seconds"])
    # The same ratios in CPU-seconds (work per byte; with both cores free, wall time approaches cpu_s / cores)
    out["load_cpu_vs_floor"] = ratio(out["iterparse_floor"]["cpu_s"], out["qbrecon_load"]["cpu_s"])
    out["load_cpu_vs_xmltodict"] = ratio(out["xmltodict_pandas"]["cpu_s"], out["qbrecon_load"]["cpu_s"])
    out["parse_cpu_vs_floor"] = ratio(out["iterparse_floor"]["cpu_s"], out["qbrecon_parse"]["cpu_s"])
    out["qbrecon_vs_floor"] = out["load_vs_floor"]
    out["qbrecon_vs_xmltodict"] = out["load_vs_xmltodict"]
    out["targets"] = {"load_vs_floor": ">= 0.8", "load_vs_xmltodict": ">= 8", "load_peak_rss_mb": "< 1024"}
    out["targets_met"] = {
        "load_vs_floor": bool(out["load_vs_floor"] >= 0.8),
        "load_vs_xmltodict": bool(out["load_vs_xmltodict"] >= 8),
        "load_peak_rss_mb": bool(m["qbrecon_load"]["peak_rss_mb"] < 1024),
    }
    return out


def run_build(n_requests: int, repeat: int = 1) -> dict:
    """BillAdd for ``n_requests`` invoices (4 lines + retainage each): qbrecon against lxml alone.

    Two comparisons on the same requests: *generation* (qbrecon from frames to message-set bytes, against lxml
    making the same trees from values already in hand and serialising them) and *serialisation*
    (``message_sets`` against ``etree.tostring`` of the same finished trees)."""
    from benchmarks.bench_qbxml_build import (
        build_inputs,
        lxml_alone,
        lxml_build,
        plain_values,
        qbrecon_build,
        serialise_only,
    )

    inputs = build_inputs(n_requests)
    made = qbrecon_build(inputs)  # once untimed: the trees the lxml contenders start from
    trees = made["trees"]
    assert made["requests"] == n_requests, made["requests"]
    plain = plain_values(trees)
    m = compare(
        {
            "qbrecon": lambda: qbrecon_build(inputs, keep_trees=False),
            "lxml_build": lambda: lxml_build(plain),
            "message_sets": lambda: serialise_only(trees),
            "tostring": lambda: lxml_alone(trees),
        },
        repeat=repeat,
    )
    ours, floor_build, ser, alone = m["qbrecon"], m["lxml_build"], m["message_sets"], m["tostring"]
    # the same bytes: lxml alone produced what qbrecon sends
    assert ser["result"] == alone["result"] == floor_build["result"], "serialisations differ"
    assert sum(map(len, alone["result"])) == made["bytes"]
    out = {
        "requests": n_requests,
        "message_sets": made["message_sets"],
        "mb": round(made["bytes"] / 2**20, 1),
        "qbrecon": {
            "seconds": ours["seconds"],
            "requests_per_s": round(n_requests / ours["seconds"]),
            "peak_rss_mb": ours["peak_rss_mb"],
            "rss_growth_mb": ours["rss_growth_mb"],
        },
        "lxml_build_and_serialise": {
            "seconds": floor_build["seconds"],
            "requests_per_s": round(n_requests / floor_build["seconds"]),
            "peak_rss_mb": floor_build["peak_rss_mb"],
            "rss_growth_mb": floor_build["rss_growth_mb"],
        },
        "qbrecon_message_sets": {
            "seconds": ser["seconds"],
            "requests_per_s": round(n_requests / ser["seconds"]),
        },
        "lxml_tostring_alone": {
            "seconds": alone["seconds"],
            "requests_per_s": round(n_requests / alone["seconds"]),
        },
    }
    out["generation_vs_lxml"] = ratio(floor_build["seconds"], ours["seconds"])
    out["serialisation_vs_lxml"] = ratio(alone["seconds"], ser["seconds"])
    out["qbrecon_vs_lxml"] = out["generation_vs_lxml"]
    out["target_met"] = bool(out["generation_vs_lxml"] >= 0.5)
    out["serialisation_target_met"] = bool(out["serialisation_vs_lxml"] >= 0.5)
    return out
