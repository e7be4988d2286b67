"""The whole reconciliation -- every pair, headers and lines, reasons -- at n lines a side, against a bare DuckDB
query doing the same comparisons and against datacompy on string business keys.

Data: ``bench_reconcile.synthesize`` (one job, 20 vendors, 200 cost codes/items, n/10 invoices and bills, ~1% of
bill lines different) plus header changes QuickBooks-side: 0.05% of bills with another vendor and 0.05% dated a
day later (so the header comparisons find something besides amounts).

Contenders, interleaved, best of ``repeat``:

* ``qbrecon``: ``ws.reconcile(tolerance=0.02)`` from the stored tables: every pair (lists, budgets,
  commitments, change orders, invoices, payments, job-to-date costs), matching, each header field, lines,
  explanations and the summary;
* ``bare_duckdb``: one DuckDB query from the same stored tables doing the same comparisons with no explanation:
  invoice headers matched by link (amount, retainage, date, vendor, job), invoice lines per bill + item, the
  job-to-date roll-up over invoices with no finding of their own, and the three list pairs by name;
* ``lines_alone`` and ``headers_alone``: two parts of the bare query, each on its own -- the invoice line
  comparison (both sides' lines summed per bill + item, joined, compared with the tolerance) and the header
  comparison (matched by link; amount, retainage and job need both line tables summed per bill). Every
  reconciliation of this data makes both; their sum places the 10x-datacompy target;
* ``datacompy``: ``PandasCompare`` of headers joined on string business keys (vendor name, job name, invoice
  number, date) comparing the amount, and of lines on the same keys + item comparing the line amount. Amounts
  in integer cents with ``abs_tol=2``, so the 0.02 tolerance is exact (floats would put a 0.02 difference
  either side of it). Its frames are built before the clock starts.

Same findings: qbrecon and the bare query must report the same (bill, field) header findings, (bill, item) line
findings and (job, item) job-cost findings; datacompy must flag the same bills (a bill whose vendor or date
changed has a different business key, so datacompy can only report it whole: as one row on each side).
Run: ``python -m benchmarks.bench_reconcile_whole [n_lines]``.
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd

from benchmarks.bench_reconcile import TOLERANCE, synthesize
from benchmarks.common import compare, ratio

HEADER_CHANGES = """
    UPDATE bills SET "VendorRef_ListID" = 'V-' || ((CAST(substr("TxnID", 3) AS INTEGER) + 1) % 20),
                     "VendorRef_FullName" = 'Vendor ' || ((CAST(substr("TxnID", 3) AS INTEGER) + 1) % 20)
     WHERE CAST(substr("TxnID", 3) AS INTEGER) % 2000 = 7;
    UPDATE bills SET "TxnDate" = "TxnDate" + 1 WHERE CAST(substr("TxnID", 3) AS INTEGER) % 2000 = 1013;
"""

# The header comparisons (matching by link; amount, retainage, date, vendor, job): the bare query's first part.
HEADER_CTES = """
gross AS (SELECT requisition_id, sum(coalesce(work_completed_this_period, 0) + coalesce(materials_presently_stored, 0)) AS gross
            FROM invoice_lines GROUP BY 1),
hp AS (SELECT i.id, i.project_id, i.origin_id AS txn, i.current_payment_due AS amount, i.billing_date AS date,
              c.origin_id AS vendor_id, pr.origin_id AS job_id, coalesce(g.gross - i.current_payment_due, 0) AS retainage
         FROM invoices i LEFT JOIN companies c ON c.id = i.vendor_id LEFT JOIN projects pr ON pr.id = i.project_id
         LEFT JOIN gross g ON g.requisition_id = i.id
        WHERE i.status IN ('approved', 'approved_as_noted')),
ql AS (SELECT "TxnID" AS txn, -sum("Amount") FILTER (WHERE "ItemRef_ListID" = 'I-RET') AS retainage,
              CASE WHEN min("CustomerRef_ListID") = max("CustomerRef_ListID") THEN min("CustomerRef_ListID")
                   ELSE 'several' END AS job_id
         FROM bill_lines WHERE "LineKind" = 'item' GROUP BY 1),
hq AS (SELECT b."TxnID" AS txn, b."AmountDue" AS amount, b."TxnDate" AS date, b."VendorRef_ListID" AS vendor_id,
              ql.job_id, coalesce(ql.retainage, 0) AS retainage
         FROM bills b LEFT JOIN ql ON ql.txn = b."TxnID"),
hdr AS (
  SELECT coalesce(p.txn, q.txn) AS txn, f.field
    FROM hp p FULL JOIN hq q ON p.txn = q.txn,
         unnest([CASE WHEN p.txn IS NULL THEN 'only_in_quickbooks' WHEN q.txn IS NULL THEN 'missing_in_quickbooks' END,
                 CASE WHEN p.txn IS NOT NULL AND q.txn IS NOT NULL AND abs(p.amount - q.amount) > {tol} THEN 'amount' END,
                 CASE WHEN p.txn IS NOT NULL AND q.txn IS NOT NULL AND abs(p.retainage - q.retainage) > {tol} THEN 'retainage' END,
                 CASE WHEN p.txn IS NOT NULL AND q.txn IS NOT NULL AND p.date IS DISTINCT FROM q.date THEN 'date' END,
                 CASE WHEN p.txn IS NOT NULL AND q.txn IS NOT NULL AND p.vendor_id IS DISTINCT FROM q.vendor_id THEN 'vendor_id' END,
                 CASE WHEN p.txn IS NOT NULL AND q.txn IS NOT NULL AND p.job_id IS DISTINCT FROM q.job_id THEN 'job_id' END]) f(field)
   WHERE f.field IS NOT NULL)"""

# Every comparison ws.reconcile makes on this data, as one query with no explanations (tolerance inlined).
BARE_QUERY = (
    "WITH"
    + HEADER_CTES
    + """,
lp AS (SELECT i.txn, cc.origin_id AS item, sum(l.work_completed_this_period) AS amount
         FROM invoice_lines l JOIN hp i ON i.id = l.requisition_id JOIN cost_codes cc ON cc.id = l.cost_code_id
        GROUP BY ALL),
lq AS (SELECT "TxnID" AS txn, "ItemRef_ListID" AS item, sum("Amount") AS amount FROM bill_lines
        WHERE "LineKind" = 'item' AND "ItemRef_ListID" IS DISTINCT FROM 'I-RET' GROUP BY ALL),
lin AS (SELECT coalesce(p.txn, q.txn) AS txn, coalesce(p.item, q.item) AS item
          FROM lp p FULL JOIN lq q ON p.txn = q.txn AND p.item = q.item
         WHERE p.txn IS NULL OR q.txn IS NULL OR abs(p.amount - q.amount) > {tol}),
clean AS (SELECT p.id, p.txn FROM hp p JOIN hq q ON q.txn = p.txn
           WHERE p.txn NOT IN (SELECT txn FROM hdr) AND p.txn NOT IN (SELECT txn FROM lin)),
jp AS (SELECT i.project_id, cc.origin_id AS item,
              coalesce(sum(coalesce(l.work_completed_this_period, 0) + coalesce(l.materials_presently_stored, 0))
                       FILTER (WHERE i.id IN (SELECT id FROM clean)), 0) AS amount
         FROM invoice_lines l JOIN hp i ON i.id = l.requisition_id JOIN cost_codes cc ON cc.id = l.cost_code_id
        GROUP BY ALL),
jq AS (SELECT l."CustomerRef_ListID" AS job, l."ItemRef_ListID" AS item,
              coalesce(sum(l."Amount") FILTER (WHERE l."TxnID" IN (SELECT txn FROM clean)), 0) AS amount
         FROM bill_lines l WHERE l."LineKind" = 'item' AND l."ItemRef_ListID" IS DISTINCT FROM 'I-RET' GROUP BY ALL),
jc AS (SELECT CAST(p.project_id AS VARCHAR) || '|' || p.item AS key
         FROM jp p JOIN projects pr ON pr.id = p.project_id
         LEFT JOIN jq q ON q.job = pr.origin_id AND q.item = p.item
        WHERE q.job IS NULL OR abs(p.amount - q.amount) > {tol}),
lists AS (SELECT 'company|' || c.id AS key FROM companies c FULL JOIN vendors v ON v."ListID" = c.origin_id
           WHERE c.id IS NULL OR v."ListID" IS NULL OR c.name IS DISTINCT FROM v."Name"
          UNION ALL
          SELECT 'project|' || p.id FROM projects p FULL JOIN customers c ON c."ListID" = p.origin_id
           WHERE p.id IS NULL OR c."ListID" IS NULL OR p.name IS DISTINCT FROM c."Name"
          UNION ALL
          SELECT 'cost_code|' || k.id FROM cost_codes k FULL JOIN items i ON i."ListID" = k.origin_id
           WHERE i."ListID" <> 'I-RET' AND (k.id IS NULL OR i."ListID" IS NULL OR k.full_code IS DISTINCT FROM i."FullName"))
SELECT 'header' AS kind, txn || '|' || field AS key FROM hdr
UNION ALL SELECT 'line', txn || '|' || item FROM lin
UNION ALL SELECT 'job_cost', key FROM jc
UNION ALL SELECT 'list', key FROM lists
"""
)
# The header comparisons alone (both line tables summed per bill for the retainage and the job, as they must be).
HEADERS_ALONE_QUERY = "WITH" + HEADER_CTES + "\nSELECT txn || '|' || field AS key FROM hdr"

# The invoice line comparison alone (the bare query's ``lp`` / ``lq`` / ``lin``, with only what they need).
LINES_ALONE_QUERY = """
WITH
hp AS (SELECT id, origin_id AS txn FROM invoices WHERE status IN ('approved', 'approved_as_noted')),
lp AS (SELECT i.txn, cc.origin_id AS item, sum(l.work_completed_this_period) AS amount
         FROM invoice_lines l JOIN hp i ON i.id = l.requisition_id JOIN cost_codes cc ON cc.id = l.cost_code_id
        GROUP BY ALL),
lq AS (SELECT "TxnID" AS txn, "ItemRef_ListID" AS item, sum("Amount") AS amount FROM bill_lines
        WHERE "LineKind" = 'item' AND "ItemRef_ListID" IS DISTINCT FROM 'I-RET' GROUP BY ALL)
SELECT coalesce(p.txn, q.txn) || '|' || coalesce(p.item, q.item) AS key
  FROM lp p FULL JOIN lq q ON p.txn = q.txn AND p.item = q.item
 WHERE p.txn IS NULL OR q.txn IS NULL OR abs(p.amount - q.amount) > {tol}
"""


def part_findings(con, query: str) -> set[str]:
    """The keys one part of the bare query finds (``LINES_ALONE_QUERY``, ``HEADERS_ALONE_QUERY``)."""
    return {key for (key,) in con.execute(query.format(tol=TOLERANCE)).fetchall()}


def bare_findings(con) -> dict[str, set[str]]:
    rows = con.execute(BARE_QUERY.format(tol=TOLERANCE)).fetchall()
    out: dict[str, set[str]] = {"header": set(), "line": set(), "job_cost": set(), "list": set()}
    for kind, key in rows:
        out[kind].add(key)
    return out


def qbrecon_findings(ws, item_of: dict[str, str]) -> dict[str, set[str]]:
    """``ws.reconcile`` over every pair; its findings in the bare query's keys."""
    d = ws.reconcile(tolerance=TOLERANCE).differences
    inv = d[d["pair"] == "invoice"]
    head = inv[inv["level"] == "header"]
    lines = inv[inv["level"] == "line"]
    out: dict[str, set[str]] = {
        "header": {
            f"{q}|{_header_field(f, r)}"
            for q, f, r in zip(head["quickbooks_id"], head["field"], head["reason"], strict=True)
        },
        "line": {
            f"{q}|{item_of.get(c, c)}"
            for q, c in zip(lines["quickbooks_id"], lines["cost_code"], strict=True)
        },
        "job_cost": set(d.loc[d["pair"] == "job_cost", "procore_id"].astype(str)),
        "list": {
            f"{p}|{i}"
            for p, i in zip(
                d.loc[d["pair"].isin(["company", "project", "cost_code"]), "pair"],
                d.loc[d["pair"].isin(["company", "project", "cost_code"]), "procore_id"],
                strict=True,
            )
        },
    }
    return out


def _header_field(field: object, reason: object) -> str:
    if reason in ("missing_in_quickbooks", "only_in_quickbooks"):
        return str(reason)
    return str(field)


DATACOMPY_HEADERS = """
    SELECT c.name AS vendor, pr.name AS job, i.invoice_number AS number, strftime(i.billing_date, '%Y-%m-%d') AS date,
           CAST(round(i.current_payment_due * 100) AS BIGINT) AS amount_cents, i.origin_id AS procore_link
      FROM invoices i JOIN companies c ON c.id = i.vendor_id JOIN projects pr ON pr.id = i.project_id"""
DATACOMPY_BILLS = """
    SELECT b."VendorRef_FullName" AS vendor, cu."Name" AS job, b."RefNumber" AS number,
           strftime(b."TxnDate", '%Y-%m-%d') AS date, CAST(round(b."AmountDue" * 100) AS BIGINT) AS amount_cents,
           b."TxnID" AS txn_id
      FROM bills b JOIN (SELECT "TxnID", min("CustomerRef_ListID") AS job FROM bill_lines GROUP BY 1) j ON j."TxnID" = b."TxnID"
      JOIN customers cu ON cu."ListID" = j.job"""
DATACOMPY_INVOICE_LINES = """
    SELECT c.name AS vendor, pr.name AS job, i.invoice_number AS number, strftime(i.billing_date, '%Y-%m-%d') AS date,
           cc.full_code AS item, CAST(round(sum(l.work_completed_this_period) * 100) AS BIGINT) AS amount_cents,
           any_value(i.origin_id) AS procore_link
      FROM invoice_lines l JOIN invoices i ON i.id = l.requisition_id JOIN companies c ON c.id = i.vendor_id
      JOIN projects pr ON pr.id = i.project_id JOIN cost_codes cc ON cc.id = l.cost_code_id
     GROUP BY 1, 2, 3, 4, 5"""
DATACOMPY_BILL_LINES = """
    SELECT b."VendorRef_FullName" AS vendor, cu."Name" AS job, b."RefNumber" AS number,
           strftime(b."TxnDate", '%Y-%m-%d') AS date, l."ItemRef_FullName" AS item,
           CAST(round(sum(l."Amount") * 100) AS BIGINT) AS amount_cents, any_value(b."TxnID") AS txn_id
      FROM bill_lines l JOIN bills b ON b."TxnID" = l."TxnID" JOIN customers cu ON cu."ListID" = l."CustomerRef_ListID"
     WHERE l."LineKind" = 'item' AND l."ItemRef_ListID" <> 'I-RET'
     GROUP BY 1, 2, 3, 4, 5"""
KEYS = ["vendor", "job", "number", "date"]


def datacompy_frames(con) -> dict[str, pd.DataFrame]:
    """String business keys on both sides (built before the clock starts)."""
    return {
        name: con.sql(sql).df()
        for name, sql in (
            ("p_head", DATACOMPY_HEADERS),
            ("q_head", DATACOMPY_BILLS),
            ("p_line", DATACOMPY_INVOICE_LINES),
            ("q_line", DATACOMPY_BILL_LINES),
        )
    }


def datacompy_flagged_bills(frames: dict[str, pd.DataFrame]) -> set[str]:
    """The bills datacompy finds something on: a header or a line one-sided or differing beyond 0.02."""
    from datacompy import PandasCompare

    flagged: set[str] = set()
    for level, keys in (("head", KEYS), ("line", [*KEYS, "item"])):
        p, q = frames[f"p_{level}"], frames[f"q_{level}"]
        cmp = PandasCompare(
            p, q, join_columns=keys, abs_tol=2, rel_tol=0, df1_name="procore", df2_name="quickbooks"
        )
        mism = cmp.all_mismatch()
        # all_mismatch names each side's columns <col>_procore / <col>_quickbooks; the links are one-sided
        # columns, so read them from the matched rows by key
        if len(mism):
            both = cmp.intersect_rows
            bad = both.merge(mism[keys], on=keys)
            flagged |= set(bad["procore_link"])
        flagged |= set(cmp.df1_unq_rows["procore_link"])
        flagged |= set(cmp.df2_unq_rows["txn_id"])
    return flagged


def run(n_lines: int = 1_000_000, repeat: int = 2) -> dict:
    from qbrecon import Workspace

    ws = Workspace()
    try:
        con = ws.store.con
        t0 = time.perf_counter()
        sizes = synthesize(con, n_lines)
        con.execute(HEADER_CHANGES)
        synth_s = time.perf_counter() - t0
        item_of = dict(con.execute("""SELECT "FullName", "ListID" FROM items""").fetchall())
        t0 = time.perf_counter()
        frames = datacompy_frames(con)
        frames_s = time.perf_counter() - t0
        m = compare(
            {
                "qbrecon": lambda: qbrecon_findings(ws, item_of),
                "bare_duckdb": lambda: bare_findings(con),
                "lines_alone": lambda: part_findings(con, LINES_ALONE_QUERY),
                "headers_alone": lambda: part_findings(con, HEADERS_ALONE_QUERY),
                "datacompy": lambda: datacompy_flagged_bills(frames),
            },
            repeat=repeat,
            once=("datacompy",),
        )
    finally:
        ws.close()
    ours, bare, dc = m["qbrecon"]["result"], m["bare_duckdb"]["result"], m["datacompy"]["result"]
    alone, headers_alone = m["lines_alone"]["result"], m["headers_alone"]["result"]
    ours_bills = {k.split("|", 1)[0] for k in ours["header"] | ours["line"]}
    same = {kind: ours[kind] == bare[kind] for kind in ours}
    out = {
        "n_lines": n_lines,
        **sizes,
        "synthesize_s": round(synth_s, 2),
        "datacompy_frames_s": round(frames_s, 2),
        "findings": {kind: len(v) for kind, v in ours.items()},
        "bills_flagged": len(ours_bills),
        "same_findings_as_bare": same,
        "same_bills_as_datacompy": ours_bills == dc,
        "same_lines_alone": ours["line"] == alone,
        "same_headers_alone": ours["header"] == headers_alone,
        "datacompy_bills_flagged": len(dc),
    }
    for name in ("qbrecon", "bare_duckdb", "lines_alone", "headers_alone", "datacompy"):
        out[name] = {k: m[name][k] for k in ("seconds", "cpu_seconds", "peak_rss_mb", "rss_growth_mb")}
    out["vs_bare"] = ratio(m["qbrecon"]["seconds"], m["bare_duckdb"]["seconds"])
    out["speedup_vs_datacompy"] = ratio(m["datacompy"]["seconds"], m["qbrecon"]["seconds"])
    out["bare_vs_datacompy"] = ratio(m["datacompy"]["seconds"], m["bare_duckdb"]["seconds"])
    # the ceiling of any whole reconciliation against datacompy: the line and the header comparisons, each alone
    out["lines_alone_vs_datacompy"] = ratio(m["datacompy"]["seconds"], m["lines_alone"]["seconds"])
    out["headers_alone_vs_datacompy"] = ratio(m["datacompy"]["seconds"], m["headers_alone"]["seconds"])
    both = m["lines_alone"]["seconds"] + m["headers_alone"]["seconds"]
    out["lines_and_headers_alone_vs_datacompy"] = ratio(m["datacompy"]["seconds"], both)
    out["cpu_lines_alone_vs_datacompy"] = ratio(
        m["datacompy"]["cpu_seconds"], m["lines_alone"]["cpu_seconds"]
    )
    # the same ratios in CPU time (all threads), which the machine's load disturbs much less
    out["cpu_vs_bare"] = ratio(m["qbrecon"]["cpu_seconds"], m["bare_duckdb"]["cpu_seconds"])
    out["cpu_speedup_vs_datacompy"] = ratio(m["datacompy"]["cpu_seconds"], m["qbrecon"]["cpu_seconds"])
    out["same_findings"] = all(same.values()) and all(
        out[k] for k in ("same_bills_as_datacompy", "same_lines_alone", "same_headers_alone")
    )
    out["targets"] = {"vs_bare": "<= 2", "speedup_vs_datacompy": ">= 10", "same_findings": "true"}
    out["targets_met"] = {
        "vs_bare": bool(out["vs_bare"] <= 2),
        "speedup_vs_datacompy": bool(out["speedup_vs_datacompy"] >= 10),
        "same_findings": out["same_findings"],
    }
    if not out["same_findings"]:  # say what differs, briefly
        out["differences"] = {
            kind: {
                "qbrecon_only": sorted(ours[kind] - bare[kind])[:10],
                "bare_only": sorted(bare[kind] - ours[kind])[:10],
            }
            for kind in ours
            if not same[kind]
        } | {
            "datacompy_only": sorted(dc - ours_bills)[:10],
            "not_datacompy": sorted(ours_bills - dc)[:10],
            "lines_alone_only": sorted(alone - ours["line"])[:10],
            "headers_alone_only": sorted(headers_alone - ours["header"])[:10],
        }
    return out


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000), indent=2, default=str))
