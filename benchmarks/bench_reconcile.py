"""Line-level reconciliation: 1M Procore invoice lines against 1M QuickBooks bill lines (~1% different).

Contenders on the same line frames (bill TxnID + QuickBooks item -> amount), in the same run, interleaved:

* ``qbrecon``: ``qbrecon.reconcile.compare_lines`` -- the line comparison the engine itself runs for invoice
  lines <-> bill item lines (``lines.line_join_sql``), on the frames as qbrecon holds them (Arrow dtypes,
  decimal amounts); it also adds up lines with the same key and names each difference's reason;
* ``datacompy``: ``PandasCompare`` on the same lines (float amounts: its tolerances are float), with its
  mismatches and one-sided rows collected;
* ``floor``: a bare DuckDB full outer join with the same predicates, on datacompy's frames (``floor``) and on
  qbrecon's (``floor_decimal``); the faster of the two is the floor.

For context the whole invoice reconciliation from the stored tables (header matching, every header field,
lines, explanations) is timed too (``invoice_reconcile_s``) and must find the same line differences.
The stored tables are synthesised directly with DuckDB SQL (the fixture generator + loaders would take
minutes at this size). Run: ``python -m benchmarks.bench_reconcile [n_lines]``.
"""

from __future__ import annotations

import json
import sys
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd

from benchmarks.common import compare, measure, ratio

LINES_PER_INVOICE = 10
TOLERANCE = Decimal("0.02")  # the within-tolerance changes are 0.01: clear of float rounding at the edge


def synthesize(con: duckdb.DuckDBPyConnection, n_lines: int, seed: float = 0.42) -> dict:
    """Fill the stored tables: one job, 200 cost codes/items, n_lines/10 invoices and bills.

    About 1% of bill lines differ: 0.6% amount changed by more than the tolerance, 0.2% by less than it (must
    NOT be reported), 0.1% missing, 0.1% extra (on an item the invoice does not use).
    """
    n_inv = max(1, n_lines // LINES_PER_INVOICE)
    con.execute(f"SELECT setseed({seed})")
    con.execute("""INSERT INTO projects (id, name, origin_id, origin_data, is_erp_integrated)
                   VALUES (1, 'Bench Tower', 'JOB-1', '{"edit_sequence":"1"}', true)""")
    con.execute("""INSERT INTO customers ("ListID", "Name", "FullName", "Sublevel", "EditSequence")
                   VALUES ('JOB-1', 'Bench Tower', 'Owner:Bench Tower', 1, '1')""")
    con.execute("""INSERT INTO companies (id, name, origin_id, origin_data, synced_to_erp)
                   SELECT 100 + v, 'Vendor ' || v, 'V-' || v, '{"edit_sequence":"1"}', true FROM range(20) t(v)""")
    con.execute("""INSERT INTO vendors ("ListID", "Name", "EditSequence")
                   SELECT 'V-' || v, 'Vendor ' || v, '1' FROM range(20) t(v)""")
    con.execute("""INSERT INTO items ("ListID", "Name", "FullName", "ItemType", "EditSequence")
                   SELECT 'I-' || c, printf('%02d-%03d', c // 20, c), printf('%02d-%03d', c // 20, c), 'ItemService', '1'
                     FROM range(200) t(c)
                   UNION ALL SELECT 'I-RET', 'Retainage', 'Retainage', 'ItemService', '1'""")
    con.execute("""INSERT INTO cost_codes (id, cost_code_level, code, full_code, origin_id, origin_data)
                   SELECT 1000 + c, 'standard', printf('%03d', c), printf('%02d-%03d', c // 20, c), 'I-' || c,
                          '{"edit_sequence":"1"}' FROM range(200) t(c)""")
    # invoice lines: 10 distinct cost codes per invoice, amounts in cents
    con.execute(f"""CREATE TEMP TABLE bench_lines AS
        SELECT i AS inv, k, (i * 7 + k * 13) % 200 AS cc,
               CAST((1000 + floor(random() * 9000000)) / 100 AS DECIMAL(18,2)) AS amount, random() AS r
          FROM range({n_inv}) a(i), range({LINES_PER_INVOICE}) b(k)""")
    con.execute(f"""INSERT INTO invoice_lines (id, requisition_id, cost_code_id, work_completed_this_period, position)
                    SELECT inv * {LINES_PER_INVOICE} + k, inv, 1000 + cc, amount, k FROM bench_lines""")
    con.execute("""INSERT INTO bill_lines ("TxnID", "TxnLineID", "LineKind", "ItemRef_ListID", "ItemRef_FullName",
                                            "CustomerRef_ListID", "Amount")
        SELECT 'B-' || inv, 'L-' || k, 'item', 'I-' || cc, printf('%02d-%03d', cc // 20, cc), 'JOB-1',
               CASE WHEN r < 0.006 THEN amount + 25.00 WHEN r < 0.008 THEN amount + 0.01 ELSE amount END
          FROM bench_lines WHERE NOT (r >= 0.008 AND r < 0.009)
        UNION ALL
        SELECT 'B-' || inv, 'X-' || k, 'item', 'I-' || ((inv * 7 + 10 * 13) % 200),
               printf('%02d-%03d', ((inv * 7 + 130) % 200) // 20, (inv * 7 + 130) % 200), 'JOB-1', 12.34
          FROM bench_lines WHERE r >= 0.009 AND r < 0.010""")
    con.execute("""INSERT INTO invoices (id, project_id, commitment_id, vendor_id, vendor_name, invoice_number,
                        billing_date, status, erp_status, current_payment_due, origin_id, origin_data)
        SELECT inv, 1, 1, 100 + inv % 20, 'Vendor ' || (inv % 20), 'INV-' || inv, DATE '2024-01-01' + CAST(inv % 300 AS INTEGER),
               'approved', 'synced', sum(amount), 'B-' || inv, '{"edit_sequence":"100"}'
          FROM bench_lines GROUP BY inv""")
    con.execute("""INSERT INTO bills ("TxnID", "RefNumber", "VendorRef_ListID", "VendorRef_FullName", "TxnDate",
                                      "AmountDue", "EditSequence")
        SELECT i.origin_id, i.invoice_number, 'V-' || (i.id % 20), 'Vendor ' || (i.id % 20), i.billing_date,
               (SELECT sum("Amount") FROM bill_lines b WHERE b."TxnID" = i.origin_id), '100'
          FROM invoices i""")
    con.execute("DROP TABLE bench_lines")
    return {
        "invoices": n_inv,
        "invoice_lines": con.execute("SELECT count(*) FROM invoice_lines").fetchall()[0][0],
        "bill_lines": con.execute("SELECT count(*) FROM bill_lines").fetchall()[0][0],
    }


# The two line frames every contender compares: (bill TxnID, QuickBooks item) -> amount.
PROCORE_FRAME = """
    SELECT i.origin_id AS txn_id, c.origin_id AS item_id, sum(l.work_completed_this_period) AS amount
      FROM invoice_lines l JOIN invoices i ON i.id = l.requisition_id JOIN cost_codes c ON c.id = l.cost_code_id
     GROUP BY ALL"""
QUICKBOOKS_FRAME = """
    SELECT "TxnID" AS txn_id, "ItemRef_ListID" AS item_id, sum("Amount") AS amount FROM bill_lines
     WHERE "LineKind" = 'item' AND "ItemRef_ListID" <> 'I-RET' GROUP BY ALL"""


def line_frames(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same line frames for datacompy and the floor (float amounts: datacompy's tolerances are float)."""
    p = con.sql(f"SELECT txn_id, item_id, CAST(amount AS DOUBLE) AS amount FROM ({PROCORE_FRAME})").df()
    q = con.sql(f"SELECT txn_id, item_id, CAST(amount AS DOUBLE) AS amount FROM ({QUICKBOOKS_FRAME})").df()
    return p, q


def datacompy_differences(p: pd.DataFrame, q: pd.DataFrame, tol: float) -> set[tuple[str, str]]:
    from datacompy import PandasCompare

    cmp = PandasCompare(
        p,
        q,
        join_columns=["txn_id", "item_id"],
        abs_tol=tol,
        rel_tol=0,
        df1_name="procore",
        df2_name="quickbooks",
    )
    keys: set[tuple[str, str]] = set()
    mism = cmp.all_mismatch()
    keys |= set(zip(mism["txn_id"], mism["item_id"], strict=True))
    keys |= set(zip(cmp.df1_unq_rows["txn_id"], cmp.df1_unq_rows["item_id"], strict=True))
    keys |= set(zip(cmp.df2_unq_rows["txn_id"], cmp.df2_unq_rows["item_id"], strict=True))
    return keys


def floor_differences(con: duckdb.DuckDBPyConnection, p: pd.DataFrame, q: pd.DataFrame, tol: float) -> set:
    con.register("bench_p", p)
    con.register("bench_q", q)
    try:
        rows = con.execute(f"""
            SELECT coalesce(p.txn_id, q.txn_id), coalesce(p.item_id, q.item_id)
              FROM bench_p p FULL OUTER JOIN bench_q q ON p.txn_id = q.txn_id AND p.item_id = q.item_id
             WHERE p.txn_id IS NULL OR q.txn_id IS NULL OR abs(p.amount - q.amount) > {tol}""").fetchall()
    finally:
        con.unregister("bench_p")
        con.unregister("bench_q")
    return set(rows)


def decimal_frames(store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same line frames as qbrecon holds them (``Store.frame``: Arrow dtypes, amounts decimal)."""
    return store.frame(PROCORE_FRAME), store.frame(QUICKBOOKS_FRAME)


def qbrecon_line_differences(p: pd.DataFrame, q: pd.DataFrame) -> set[tuple[str, str]]:
    """qbrecon's line comparison (the one the engine runs for invoice lines <-> bill lines) on the frames."""
    from qbrecon.reconcile import compare_lines

    d = compare_lines(p, q, keys=["txn_id", "item_id"], tolerance=TOLERANCE)
    return set(zip(d["txn_id"].tolist(), d["item_id"].tolist(), strict=True))


def qbrecon_invoice_reconcile(ws) -> tuple[set, object]:
    """The whole invoice reconciliation from the stored tables: matching, header fields, lines, explanations."""
    rec = ws.reconcile(pair="invoice", tolerance=TOLERANCE)
    d = rec.differences
    lines = d[d["level"] == "line"]
    # qbrecon names lines by cost code; map back to the item key the other contenders use
    return set(zip(lines["quickbooks_id"].tolist(), lines["cost_code"].tolist(), strict=True)), rec


def run(n_lines: int = 1_000_000, repeat: int = 2, baselines: bool = True) -> dict:
    """Time qbrecon against datacompy and the bare-join floor on ``n_lines`` lines per side.

    ``baselines=False`` times qbrecon alone (line comparison and whole invoice reconciliation), for the growth
    exponent. Contenders run interleaved, best of ``repeat``.
    """
    from qbrecon import Workspace

    ws = Workspace()
    try:
        return _run(ws, n_lines, repeat, baselines)
    finally:
        ws.close()


def _run(ws, n_lines: int, repeat: int, baselines: bool) -> dict:
    con = ws.store.con
    if True:  # one block: synthesise, frames, contenders
        t0 = time.perf_counter()
        sizes = synthesize(con, n_lines)
        synth_s = time.perf_counter() - t0
        item_of = dict(con.execute("""SELECT "FullName", "ListID" FROM items""").fetchall())
        t0 = time.perf_counter()
        pd_, qd = decimal_frames(ws.store)
        p, q = line_frames(con) if baselines else (None, None)
        frames_s = time.perf_counter() - t0

        contenders = {"qbrecon": lambda: qbrecon_line_differences(pd_, qd)}
        if baselines:
            contenders |= {
                "floor": lambda: floor_differences(con, p, q, float(TOLERANCE)),
                "floor_decimal": lambda: floor_differences(con, pd_, qd, float(TOLERANCE)),
                "datacompy": lambda: datacompy_differences(p, q, float(TOLERANCE)),
            }
        m = compare(contenders, repeat=repeat, warmup=True)
        full = measure(lambda: qbrecon_invoice_reconcile(ws))
    full_keys = {(txn, item_of.get(code, code)) for txn, code in full["result"][0]}
    rec = full["result"][1]
    ours = m["qbrecon"]
    result = {
        "n_lines": n_lines,
        **sizes,
        "synthesize_s": round(synth_s, 2),
        "line_frames_s": round(frames_s, 2),
        "qbrecon_s": ours["seconds"],
        "qbrecon_peak_rss_mb": ours["peak_rss_mb"],
        "qbrecon_rss_growth_mb": ours["rss_growth_mb"],
        "line_differences": len(ours["result"]),
        "invoice_reconcile_s": full["seconds"],
        "invoice_reconcile_peak_rss_mb": full["peak_rss_mb"],
        "invoice_reconcile_rss_growth_mb": full["rss_growth_mb"],
        "invoice_reconcile_findings": int(rec.n_differences),
        "invoice_reconcile_same_line_differences": full_keys == ours["result"],
    }
    if baselines:
        for name in ("datacompy", "floor", "floor_decimal"):
            result[f"{name}_s"] = m[name]["seconds"]
            result[f"{name}_peak_rss_mb"] = m[name]["peak_rss_mb"]
            result[f"{name}_rss_growth_mb"] = m[name]["rss_growth_mb"]
            result[f"{name}_differences"] = len(m[name]["result"])
        floor_s = min(m["floor"]["seconds"], m["floor_decimal"]["seconds"])
        result |= {
            "speedup_vs_datacompy": ratio(m["datacompy"]["seconds"], ours["seconds"]),
            "slowdown_vs_floor": ratio(ours["seconds"], floor_s),
            "floor_vs_datacompy": ratio(m["datacompy"]["seconds"], floor_s),
            "same_differences": ours["result"]
            == m["datacompy"]["result"]
            == m["floor"]["result"]
            == m["floor_decimal"]["result"]
            == full_keys,
            "targets": {"speedup_vs_datacompy": ">= 10", "slowdown_vs_floor": "<= 2"},
        }
        result["targets_met"] = {
            "speedup_vs_datacompy": bool(result["speedup_vs_datacompy"] >= 10),
            "slowdown_vs_floor": bool(result["slowdown_vs_floor"] <= 2),
        }
    return result


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    out = run(n)
    print(json.dumps(out, indent=2))
    results = Path(__file__).with_name("results")
    results.mkdir(exist_ok=True)
    (results / "bench_reconcile.json").write_text(json.dumps(out, indent=2) + "\n")
