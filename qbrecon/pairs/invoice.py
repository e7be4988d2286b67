"""Subcontractor invoices -> QuickBooks bills: the whole pair in one module.

A subcontractor invoice (Procore's requisition on a commitment) becomes a QuickBooks ``BillAdd`` on the
commitment's vendor: one item line per cost code (its service item) carrying the work completed this period plus
materials stored, on the project's Customer:Job and -- when the "link bills to purchase orders" setting is on --
linked to the purchase order line of its schedule-of-values line, and the retainage held this period as one
negative line on the retainage item (the "Invoice Retainage Item" setting). The bill total is the invoice's
current payment due. QuickBooks' answer links the invoice and each line (``qb_links``); ``BillQuery`` reads bills
back (``bills``, ``bill_lines``) and reconciliation compares amount, retainage, date, vendor, job and the lines per
cost code, each difference with a reason; the job-to-date cost roll-up is built on the invoice findings.

A linked invoice changed in Procore after its sync goes out as ``BillMod`` (current EditSequence, lines matched
by their linked TxnLineID, new lines -1); a bill paid (in part) in QuickBooks is refused at send with the reason.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow.compute as pc

from ..entities import EntityPair, LineRelation, _coded
from ..errors import SettingMissing
from ..qbxml import spec
from ..qbxml.build import (
    _WORK_MONEY,
    BuildContext,
    _arrow,
    _as_money,
    _coalesce,
    _col,
    _err,
    _frame,
    _items,
    _job_list_ids,
    _lines_arg,
    _linked_txn_lines,
    _lookup,
    _missing,
    _needs_edit_sequence,
    _Prepared,
    _pylist,
    _ref_split,
    _refuse,
    _split_linked,
    _vendor_list_ids,
    _with_sources,
    group_agg,
    money_sum,
)
from ..schemas.types import MONEY_TYPE
from . import register
from .base import (
    EXPECTED,
    INVOICE_LINE_AMOUNT,
    PROCORE_ID,
    Column,
    Endpoint,
    Field,
    Lines,
    PairModule,
    PairRule,
    Rollup,
    blockers_sql,
    erp_status_sql,
    unsyncable_lines_sql,
)
from .base import PROCORE_V1 as V1

ITEM_TYPE = "invoice"
LINES = "invoice_lines"
PARENT_KEY = "requisition_id"
APPROVED_INVOICE = "('approved', 'approved_as_noted')"

PAIR = EntityPair(
    ITEM_TYPE,
    "Subcontractor Invoices",
    "invoices",
    "bills",
    procore_lines=LINES,
    quickbooks_lines="bill_lines",
    add_request="BillAdd",
    mod_request="BillMod",
    query_request="BillQuery",
    quickbooks_id="TxnID",
    name_field="RefNumber",
    parents=(
        ("commitment", "SELECT i.id, i.commitment_id FROM invoices i"),
        ("project", "SELECT i.id, i.project_id FROM invoices i"),
        (
            "company",
            "SELECT i.id, coalesce(i.vendor_id, c.vendor_id) FROM invoices i "
            "LEFT JOIN commitments c ON c.id = i.commitment_id",
        ),
        _coded(LINES, PARENT_KEY),
    ),
    direct_export=True,
    can_unlink=True,
    export_order=50,
    business_key=("invoice_number", "RefNumber"),
    notes="Bill total = current_payment_due; retainage is a negative line on the retainage service item.",
    changed_fields=(
        "vendor_id",
        "billing_date",
        "payment_due_date",
        "invoice_number",
        "contract_name",
        "current_payment_due",
    ),
    lines=(
        LineRelation(
            LINES,
            PARENT_KEY,
            (
                "cost_code_id",
                "line_item_id",
                "work_completed_this_period",
                "materials_presently_stored",
                "work_completed_retainage_retained_this_period",
                "work_completed_retainage_released_this_period",
                "materials_stored_retainage_currently_retained",
            ),
        ),
    ),
    cannot_modify=(
        'coalesce(q."IsPaid", false) OR q."OpenAmount" < q."AmountDue"',
        "the bill is paid (in part) in QuickBooks Desktop, which cannot modify a paid bill: "
        "enter the change in QuickBooks (e.g. a vendor credit) or void the payment first",
    ),
    amount=("t.current_payment_due", "AmountDue"),
)

# -- the ERP queue: what users see and what blocks sending (the columns of ``erp_item_details``) -------------
DETAILS_SQL = f"""
       SELECT '{ITEM_TYPE}', i.id, coalesce(i.invoice_number, '#' || i.number::VARCHAR), i.invoice_number,
              coalesce(v.name, i.vendor_name), coalesce(i.vendor_id, c.vendor_id), p.name, i.project_id,
              i.current_payment_due, i.status, i.origin_id, {erp_status_sql("i.erp_status")}, i.created_by_id,
              coalesce(vs.synced, false), coalesce(ps.synced, false), i.commitment_id, coalesce(cs.synced, false),
              {
    blockers_sql(
        "CASE WHEN i.status NOT IN ('approved', 'approved_as_noted') THEN 'status is ' || i.status || '; only Approved invoices export' END",
        "CASE WHEN NOT coalesce(cs.synced, false) THEN 'commitment ' || coalesce(c.number, i.commitment_id::VARCHAR) || ' is not synced' END",
        "CASE WHEN i.current_payment_due < 0 THEN 'negative-value invoices do not sync' END",
    )
}
       FROM invoices i LEFT JOIN commitments c ON c.id = i.commitment_id
       LEFT JOIN companies v ON v.id = coalesce(i.vendor_id, c.vendor_id) LEFT JOIN projects p ON p.id = i.project_id
       LEFT JOIN erp_link_state vs ON vs.item_type = 'company' AND vs.procore_id = coalesce(i.vendor_id, c.vendor_id)
       LEFT JOIN erp_link_state ps ON ps.item_type = 'project' AND ps.procore_id = i.project_id
       LEFT JOIN erp_link_state cs ON cs.item_type = 'commitment' AND cs.procore_id = i.commitment_id"""


# -- qbXML: BillAdd / BillMod ------------------------------------------------------------------------------------
def invoice_bill_lines(invoice_lines: pd.DataFrame) -> pd.DataFrame:
    """Per invoice and cost code: amount = work completed this period + materials presently stored, and the
    retainage held this period (retained - released on work, plus materials retainage)."""
    il = invoice_lines
    work = money_sum(il["work_completed_this_period"], _money_col(il, "materials_presently_stored"))
    held = money_sum(
        _money_col(il, "work_completed_retainage_retained_this_period"),
        _money_col(il, "materials_stored_retainage_currently_retained"),
    )
    released = money_sum(_money_col(il, "work_completed_retainage_released_this_period"))
    frame = pd.DataFrame(
        {
            "requisition_id": _pylist(il["requisition_id"]),
            "cost_code_id": _pylist(_col(il, "cost_code_id")),
            "line_item_id": _pylist(_col(il, "line_item_id")),
            "full_code": _pylist(_col(il, "cost_code_full_code")),
            "position": _pylist(_col(il, "position", 0)),
        }
    )
    frame["amount"] = work.reset_index(drop=True)
    frame["retainage"] = _as_money((held - released).reset_index(drop=True))
    frame["cost_code_id"] = frame["cost_code_id"].astype(object)
    g = group_agg(
        frame.sort_values(["requisition_id", "position"], kind="stable"),
        ["requisition_id", "cost_code_id"],
        amount=("amount", "sum"),
        retainage=("retainage", "sum"),
        full_code=("full_code", "first"),
        line_min=("line_item_id", "min"),
        line_max=("line_item_id", "max"),
        n=("amount", "count_all"),
    )
    # Link to the PO line only when the cost code's amount comes from exactly one schedule-of-values line.
    g["line_item_id"] = g["line_min"].where(
        (g["line_min"] == g["line_max"]).fillna(False) & (g["n"] == 1), None
    )
    g["amount"] = _as_money(g["amount"])
    g["retainage"] = _as_money(g["retainage"])
    return g


def _money_col(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=pd.ArrowDtype(MONEY_TYPE))


def prepare(rows: pd.DataFrame, lines: Any, ctx: BuildContext) -> tuple[list[_Prepared], list[dict]]:
    """BillAdd frames: the header on the vendor, one item line per cost code (work this period + stored
    materials, on the job, linked to the PO line when the setting says so) and the retainage held as a negative
    line; a linked invoice changed after sync is a BillMod."""
    errors: list[dict] = []
    if not ctx.retainage_item:
        raise SettingMissing(
            "setting 'invoice_retainage_item' (Invoice Retainage Item) is not set: every bill "
            "carries a retainage line on that service item. An ERP admin sets it with: "
            "qbrecon settings set invoice_retainage_item=..."
        )
    lines = _lines_arg(lines, LINES)
    commitments = ctx.frame("commitments")
    vendor_id = _coalesce(
        _col(rows, "vendor_id"), _lookup(rows["commitment_id"], commitments, "id", "vendor_id")
    )
    rows = rows.assign(
        _vendor=_coalesce(_col(rows, "vendor_list_id"), _vendor_list_ids(vendor_id, ctx)).tolist(),
        _job=_coalesce(_col(rows, "job_list_id"), _job_list_ids(rows["project_id"], ctx)).tolist(),
        _po=_coalesce(
            _col(rows, "po_txn_id"), _lookup(rows["commitment_id"], commitments, "id", "origin_id")
        ).tolist(),
    )
    for col, fld, what in (
        ("_vendor", "vendor_id", "the vendor is not synced to QuickBooks"),
        ("_job", "project_id", "the project is not synced to a QuickBooks job"),
        ("_po", "commitment_id", "the commitment is not synced to a QuickBooks purchase order"),
    ):
        missing = rows[col].isna().to_numpy()
        rows = _refuse(rows, missing, ITEM_TYPE, fld, what + "; sync it first", errors)
    il = (
        lines if lines is not None else pd.DataFrame(columns=["requisition_id", "work_completed_this_period"])
    )
    il = il[il["requisition_id"].isin(_pylist(rows["id"]))]
    g = invoice_bill_lines(il)
    g["item_list_id"], g["item_full_name"] = _items(g["cost_code_id"], ctx)
    no_item = (g["item_list_id"].isna() & g["item_full_name"].isna()).to_numpy()
    errors += _err(
        sorted(set(_pylist(g.loc[no_item, "requisition_id"]))),
        ITEM_TYPE,
        "cost_code_id",
        "an invoice line's cost code has no QuickBooks service item; sync the cost code first",
    )
    bad = set(_pylist(g.loc[no_item, "requisition_id"]))
    # Totals: lines - retainage must equal the invoice's current payment due; negative invoices never sync.
    totals = group_agg(g, ["requisition_id"], amount=("amount", "sum"), retainage=("retainage", "sum"))
    totals["total"] = _as_money(_as_money(totals["amount"]) - _as_money(totals["retainage"]))
    t = rows[["id"]].assign(_due=_pylist(_col(rows, "current_payment_due")))
    t["_total"] = _lookup(t["id"], totals, "requisition_id", "total")
    for pid, due, total in zip(t["id"], t["_due"], t["_total"], strict=True):
        if pid in bad:
            continue
        if total is None:
            errors += _err([pid], ITEM_TYPE, "contract_items", "the invoice has no lines")
        elif total < 0 or (not _missing(due) and Decimal(due) < 0):
            errors += _err(
                [pid],
                ITEM_TYPE,
                "current_payment_due",
                f"negative invoices do not sync to QuickBooks (total {total}); enter a credit in "
                "QuickBooks instead",
            )
        elif not _missing(due) and Decimal(due) != total:
            errors += _err(
                [pid],
                ITEM_TYPE,
                "current_payment_due",
                f"the bill would total {total} (work this period + stored materials - retainage) but "
                f"current payment due is {Decimal(due)}; correct the invoice in Procore",
            )
        else:
            continue
        bad.add(pid)
    rows = rows[~rows["id"].isin(bad).to_numpy()]
    g = g[g["requisition_id"].isin(_pylist(rows["id"]))]
    info = pd.DataFrame({"id": _pylist(rows["id"]), "job": _pylist(rows["_job"]), "po": _pylist(rows["_po"])})
    g["_job"] = _lookup(g["requisition_id"], info, "id", "job")
    g["_po"] = _lookup(g["requisition_id"], info, "id", "po")
    link_txn = link_line = pd.Series([None] * len(g), index=g.index, dtype=object)
    if ctx.link_bills_to_purchase_orders:
        po_line = _lookup(g["line_item_id"], ctx.frame("commitment_lines"), "id", "origin_id")
        link_line = po_line.where(po_line.notna() & (g["n"] == 1), None)  # one SOV line <-> one PO line
        link_txn = g["_po"].where(link_line.notna(), None)
    item_lines = pd.DataFrame(
        {
            "procore_id": _pylist(g["requisition_id"]),
            "ItemRef/ListID": _pylist(g["item_list_id"]),
            "ItemRef/FullName": g["item_full_name"].where(g["item_list_id"].isna(), None).tolist(),
            "Desc": _pylist(g["full_code"]),
            "Amount": _as_money(g["amount"]).array,
            "CustomerRef/ListID": _pylist(g["_job"]),
            "LinkToTxn/TxnID": link_txn.tolist(),
            "LinkToTxn/TxnLineID": link_line.tolist(),
            "_o": 0,
            "_src": _with_sources(g, il, ["requisition_id", "cost_code_id"], LINES).tolist(),
        }
    )
    ret_id, ret_name = _ref_split(pd.Series([ctx.retainage_item] * len(info), dtype=object))
    ret_amount = _lookup(info["id"], totals, "requisition_id", "retainage")
    retainage = pd.DataFrame(
        {
            "procore_id": _pylist(info["id"]),
            "ItemRef/ListID": ret_id.tolist(),
            "ItemRef/FullName": ret_name.tolist(),
            "Desc": "Retainage held this period",
            "Amount": pd.array(
                pc.negate(pc.cast(_arrow(ret_amount), _WORK_MONEY)), dtype=pd.ArrowDtype(_WORK_MONEY)
            ),
            "CustomerRef/ListID": _pylist(info["job"]),
            "LinkToTxn/TxnID": None,
            "LinkToTxn/TxnLineID": None,
            "_o": 1,
            "_src": None,
        }
    )
    # The retainage line is always there (0.00 when nothing is held): the retainage item is required.
    retainage = retainage[[r is not None for r in ret_amount.tolist()]]
    parts = [p for p in (item_lines, retainage) if len(p)]
    all_lines = pd.concat(parts, ignore_index=True) if parts else item_lines
    all_lines = all_lines.sort_values(["procore_id", "_o"], kind="stable").drop(columns="_o")
    # amounts stay Arrow decimals from the sums to the text (no Decimal objects in between)
    all_lines["Amount"] = _as_money(all_lines["Amount"])
    # A linked invoice changed after sync is a BillMod: its lines keep their TxnLineIDs (by the invoice lines they
    # stand for), new ones are -1, lines no longer sent are removed by QuickBooks; LinkToTxn is for adds only.
    add, mod = _split_linked(rows)
    mod, es_errors = _needs_edit_sequence(mod, ITEM_TYPE)
    errors += es_errors
    out = []
    for frame, name, action in ((add, "BillAdd", "add"), (mod, "BillMod", "mod")):
        cols: dict[str, Any] = {}
        if action == "mod":
            cols.update({"TxnID": frame["_qb_id"], "EditSequence": frame["_edit_sequence"]})
        cols.update(
            {
                "VendorRef/ListID": frame["_vendor"],
                "TxnDate": _col(frame, "billing_date"),
                "DueDate": _col(frame, "payment_due_date"),
                "RefNumber": _col(frame, "invoice_number"),
                "Memo": _col(frame, "contract_name"),
            }
        )
        fl = all_lines[all_lines["procore_id"].isin(_pylist(frame["id"]))]
        line_name = "ItemLineAdd" if action == "add" else "ItemLineMod"
        if action == "mod":
            fl = fl.drop(columns=["LinkToTxn/TxnID", "LinkToTxn/TxnLineID"])
            fl.insert(1, "TxnLineID", _linked_txn_lines(fl["_src"], ctx, ITEM_TYPE))
        prepared = _Prepared(
            name,
            action,
            _frame(frame["id"], cols),
            {line_name: fl},
            kinds={"TxnDate": "date", "DueDate": "date", f"{line_name}/Amount": "money"},
            sources={"RefNumber": "invoice_number", "Memo": "contract_name"},
        )
        out.append(prepared)
    return out, errors


# -- reconciliation ----------------------------------------------------------------------------------------------
# Per-header aggregates (100k rows for 1M lines) are kept for the header checks (gross, retainage, job); the
# 1M-row line aggregates stay inside the one line-comparison statement (materialising them costs more).
RECONCILE_PREPARE = (
    (
        "_qbr_invoice_pg",
        f"""
        SELECT l.requisition_id AS procore_num, sum({INVOICE_LINE_AMOUNT}) AS gross
          FROM invoice_lines l GROUP BY l.requisition_id""",
    ),
    (
        "_qbr_invoice_qg",
        """
        SELECT l."TxnID" AS quickbooks_id,
               -sum(l."Amount") FILTER (WHERE l."ItemRef_ListID" = (SELECT retainage_item FROM _qbr_params)) AS retainage,
               count(*) FILTER (WHERE l."ItemRef_ListID" = (SELECT retainage_item FROM _qbr_params)) AS retainage_lines,
               min(l."CustomerRef_ListID") AS job_min, max(l."CustomerRef_ListID") AS job_max
          FROM bill_lines l WHERE l."LineKind" = 'item'
         GROUP BY l."TxnID"
    """,
    ),
)

RULE = PairRule(
    ITEM_TYPE,
    "Subcontractor invoices <-> Bills",
    f"""SELECT CAST(p.id AS VARCHAR) AS procore_id, nullif(trim(p.origin_id), '') AS link_id,
           qbr_norm_ref(p.invoice_number) || '|' || coalesce(vm.quickbooks_id, '') AS bkey,
           coalesce(p.invoice_number, CAST(p.number AS VARCHAR)) AS label, pr.name AS project,
           coalesce(c.name, p.vendor_name) AS vendor, p.invoice_number AS number,
           (p.origin_id IS NOT NULL OR coalesce(coalesce(e.status, p.erp_status) IN {EXPECTED}, false)) AS expected,
           (p.status IN {APPROVED_INVOICE} AND coalesce(p.current_payment_due, 0) >= 0) AS eligible,
           coalesce(e.status, p.erp_status) AS erp_status, {spec.max_length("BillAdd/RefNumber")} AS name_limit, p.invoice_number AS limit_value,
           qbr_edit_seq(p.origin_data) AS edit_seq,
           p.current_payment_due AS amount, p.billing_date AS date, vm.quickbooks_id AS vendor_id,
           jm.quickbooks_id AS job_id,
           coalesce(g.gross - p.current_payment_due, p.total_retainage, 0) AS retainage
       FROM invoices p
       LEFT JOIN _qbr_invoice_pg g ON g.procore_num = p.id
       LEFT JOIN projects pr ON pr.id = p.project_id
       LEFT JOIN commitments k ON k.id = p.commitment_id
       LEFT JOIN companies c ON c.id = coalesce(p.vendor_id, k.vendor_id)
       LEFT JOIN _qbr_vendor_map vm ON vm.procore_id = CAST(coalesce(p.vendor_id, k.vendor_id) AS VARCHAR)
       LEFT JOIN _qbr_job_map jm ON jm.procore_id = CAST(p.project_id AS VARCHAR)
       LEFT JOIN _qbr_erp e ON e.item_type = '{ITEM_TYPE}' AND e.procore_id = CAST(p.id AS VARCHAR)
       WHERE (SELECT as_of FROM _qbr_params) IS NULL OR p.billing_date IS NULL
          OR p.billing_date <= (SELECT as_of FROM _qbr_params)""",
    # the job of a bill is on its lines: one job, or "several" when the lines disagree
    """WITH bl AS (
          SELECT quickbooks_id, retainage, retainage_lines,
                 CASE WHEN job_min = job_max THEN job_min ELSE 'several: ' || job_min || ' .. ' || job_max END AS job_id
            FROM _qbr_invoice_qg)
       SELECT t."TxnID" AS quickbooks_id, qbr_norm_ref(t."RefNumber") || '|' || coalesce(t."VendorRef_ListID", '') AS bkey,
           t."RefNumber" AS label, NULL::VARCHAR AS project, t."VendorRef_FullName" AS vendor,
           t."RefNumber" AS number, t."EditSequence" AS edit_seq, t."AmountDue" AS amount, t."TxnDate" AS date,
           t."VendorRef_ListID" AS vendor_id, bl.job_id AS job_id, coalesce(bl.retainage, 0) AS retainage,
           coalesce(bl.retainage_lines, 0) AS retainage_lines
       FROM bills t LEFT JOIN bl ON bl.quickbooks_id = t."TxnID"
       WHERE (SELECT as_of FROM _qbr_params) IS NULL OR t."TxnDate" <= (SELECT as_of FROM _qbr_params)""",
    (
        # a bill without its retainage line carries the gross amount: the whole difference is the retainage
        Field(
            "amount",
            "money",
            "amount_differs",
            explain="WHEN q.retainage_lines = 0 AND p.retainage <> 0 AND q.amount - p.amount = p.retainage "
            "THEN 'retainage_line_missing'",
        ),
        Field(
            "retainage",
            "money",
            "retainage_differs",
            explain="WHEN q.retainage_lines = 0 AND p.retainage <> 0 THEN 'retainage_line_missing'",
        ),
        Field("date", "date", "date_differs"),
        Field("vendor_id", "id", "vendor_differs"),
        Field("job_id", "id", "job_differs"),
    ),
    Lines(
        f"""SELECT l.requisition_id AS procore_num,
                   coalesce(cc.item_id, 'code:' || coalesce(l.cost_code_full_code, cc.full_code)) AS item_key,
                   {INVOICE_LINE_AMOUNT} AS amount
              FROM invoice_lines l LEFT JOIN _qbr_cc_item cc ON cc.cost_code_id = l.cost_code_id""",
        """SELECT l."TxnID" AS quickbooks_id, coalesce(l."ItemRef_ListID", 'code:' || l."ItemRef_FullName") AS item_key,
                  l."Amount" AS amount
             FROM bill_lines l
            WHERE l."LineKind" = 'item' AND l."ItemRef_ListID" IS DISTINCT FROM (SELECT retainage_item FROM _qbr_params)""",
    ),
    amount_label="current payment due",
    prepare=RECONCILE_PREPARE,
)

# -- job-to-date costs: approved invoices per project + cost code <-> bill item lines per job + item ----------
# A roll-up: every invoice/bill finding already moves it, so the compared ``amount`` counts only invoices
# matched to a bill with no finding of their own (and those bills); ``total`` is the whole job-to-date cost and
# ``queued`` the part of it still in the approval queue. What is left is a difference no invoice-level finding
# explains; the rest of total - amount - queued is money the invoice findings already explain (the summary's
# explained_elsewhere_total), so it is never counted twice.
# The matched invoices with no finding, kept once (numeric id and TxnID) for both sides of the roll-up: testing
# each of 1M lines against the nested NOT IN as text cost ~1 s a side at 1M lines.
JOB_COST_PREPARE = (
    (
        "_qbr_clean_invoice",
        f"""SELECT procore_num, quickbooks_id FROM _qbr_invoice_m WHERE procore_id NOT IN
             (SELECT procore_id FROM _qbr_diff WHERE pair = '{ITEM_TYPE}' AND procore_id IS NOT NULL)""",
    ),
)
_CLEAN_INVOICES = "(SELECT procore_num FROM _qbr_clean_invoice)"
_CLEAN_BILLS = "(SELECT quickbooks_id FROM _qbr_clean_invoice)"

JOB_COST = PairRule(
    "job_cost",
    "Job-to-date costs <-> QuickBooks job costs",
    f"""WITH jtd AS (
          SELECT i.project_id, coalesce(cc.item_id, 'code:' || coalesce(l.cost_code_full_code, cc.full_code)) AS item_key,
                 any_value(coalesce(l.cost_code_full_code, cc.full_code)) AS code, sum({INVOICE_LINE_AMOUNT}) AS total,
                 coalesce(sum({INVOICE_LINE_AMOUNT}) FILTER (WHERE i.id IN {_CLEAN_INVOICES}), 0)
                     AS amount,
                 coalesce(sum({INVOICE_LINE_AMOUNT}) FILTER (WHERE CAST(i.id AS VARCHAR) IN
                          (SELECT procore_id FROM _qbr_invoice_pending)), 0) AS queued
            FROM invoice_lines l JOIN invoices i ON i.id = l.requisition_id
            LEFT JOIN _qbr_cc_item cc ON cc.cost_code_id = l.cost_code_id
           WHERE i.status IN {APPROVED_INVOICE} AND coalesce(i.current_payment_due, 0) >= 0
             AND ((SELECT as_of FROM _qbr_params) IS NULL OR i.billing_date IS NULL
                  OR i.billing_date <= (SELECT as_of FROM _qbr_params))
           GROUP BY ALL)
        SELECT CAST(j.project_id AS VARCHAR) || '|' || j.item_key AS procore_id,
               jm.quickbooks_id || '|' || j.item_key AS link_id, NULL::VARCHAR AS bkey, j.code AS label,
               pr.name AS project, NULL::VARCHAR AS vendor, j.code AS number,
               jm.quickbooks_id IS NOT NULL AS expected, false AS eligible, NULL::VARCHAR AS erp_status,
               NULL::INTEGER AS name_limit, NULL::VARCHAR AS limit_value, NULL::VARCHAR AS edit_seq,
               j.amount AS amount, j.total AS total, j.queued AS queued
          FROM jtd j LEFT JOIN projects pr ON pr.id = j.project_id
          LEFT JOIN _qbr_job_map jm ON jm.procore_id = CAST(j.project_id AS VARCHAR)""",
    # grouped by job and item, the key text made once per group rather than once per line
    f"""SELECT job || '|' || item_key AS quickbooks_id, NULL::VARCHAR AS bkey, label, project,
               NULL::VARCHAR AS vendor, label AS number, NULL::VARCHAR AS edit_seq, amount, total
          FROM (SELECT l."CustomerRef_ListID" AS job,
                       coalesce(l."ItemRef_ListID", 'code:' || l."ItemRef_FullName") AS item_key,
                       any_value(l."ItemRef_FullName") AS label, any_value(l."CustomerRef_FullName") AS project,
                       coalesce(sum(l."Amount") FILTER (WHERE l."TxnID" IN {_CLEAN_BILLS}), 0) AS amount,
                       sum(l."Amount") AS total
                  FROM bill_lines l JOIN bills b ON b."TxnID" = l."TxnID"
                 WHERE l."LineKind" = 'item' AND l."CustomerRef_ListID" IS NOT NULL
                   AND l."ItemRef_ListID" IS DISTINCT FROM (SELECT retainage_item FROM _qbr_params)
                   AND ((SELECT as_of FROM _qbr_params) IS NULL OR b."TxnDate" <= (SELECT as_of FROM _qbr_params))
                 GROUP BY 1, 2)""",
    (Field("amount", "money", "job_cost_differs"),),
    amount_label="job-to-date cost",
    extra={"rollup": True, "total": "total", "after": ITEM_TYPE},
    prepare=JOB_COST_PREPARE,
)


# the pair's Procore costs that cannot sync to QuickBooks Desktop (the unsyncable direct costs report), as
# (source, procore_id, project_id, project, cost_code, amount, hours, date, reason)
UNSYNCABLE = (
    unsyncable_lines_sql(
        "invoice_line",
        "invoice_lines",
        "invoices",
        "requisition_id",
        "work_completed_this_period",
        "billing_date",
    ),
    f"""SELECT '{ITEM_TYPE}', i.id, i.project_id, p.name, NULL, i.current_payment_due, NULL, i.billing_date,
           'negative-value invoices do not sync'
    FROM invoices i LEFT JOIN projects p ON p.id = i.project_id WHERE i.current_payment_due < 0""",
)


PROCORE_ENDPOINTS = (
    Endpoint(
        "requisitions",
        "requisitions",
        f"{V1}/requisitions",
        "project",
        ("project_id",),
        table="invoices",
        item_type="requisition",
    ),
    Endpoint(
        "contract_items",
        "requisition_contract_items",
        f"{V1}/requisitions/{{id}}/contract_items",
        "lines",
        ("project_id",),
        parent="requisitions",
        incremental=False,
        parent_key="requisition_id",
    ),
)

MODULE = register(
    PairModule(
        pair=PAIR,
        procore_endpoints=PROCORE_ENDPOINTS,
        approver_rows=(
            ("accept_invoice", "Accept or Reject Subcontractor Invoices for Export to ERP"),
            ("unlink_invoice", "Unlink Subcontractor Invoices Synced with ERP"),
        ),
        details_sql=DETAILS_SQL,
        prepare=prepare,
        singular="subcontractor invoice",
        unsyncable_sql=UNSYNCABLE,
        columns=(
            PROCORE_ID,
            Column("number", "Invoice #", width=110),
            Column("vendor", "Vendor", width=190),
            Column("project", "Project", width=190),
            Column("amount", "Amount", "money", 130),
        ),
        procore_tool="commitments",
        query_label="Bills",
        reconcile=RULE,
        reconcile_title="Subcontractor invoices / Bills",
        sheet_name="Invoices - Bills",
        rollups=(Rollup(JOB_COST, "Job-to-date costs / Job costs", "Job-to-date costs"),),
        required_settings=(
            (
                "invoice_retainage_item",
                "accepted invoice(s) wait to be exported as bills, and every bill carries its retainage on that item",
            ),
        ),
        accept_requires=(
            (
                "invoice_retainage_item",
                "subcontractor invoice(s) cannot export without a retainage line item",
            ),
        ),
        tab_order=70,
        landing_tab=True,
    )
)
