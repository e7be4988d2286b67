"""Owner invoices -> QuickBooks invoices: the whole pair in one module.

A general contractor bills the owner with a payment application on the project's prime contract (Procore's
owner invoice, API resource ``payment_applications``). It becomes a QuickBooks ``InvoiceAdd`` on the project's
Customer:Job: one line per cost code (its service item) carrying the work completed this period plus materials
stored, and the retainage held this period as one negative line on the retainage item (the "Invoice Retainage
Item" setting, the same item subcontractor bills use). QuickBooks' answer links the owner invoice and each
line (``qb_links``); ``InvoiceQuery`` reads invoices back (table ``qb_invoices``) and reconciliation compares
total, retainage, date, job and the lines per cost code, each difference with a reason.

Procore's own QuickBooks Desktop connector does not sync owner invoices; an approved owner invoice whose job and
cost codes are synced is what can be sent. A linked owner invoice changed in Procore after its sync comes back
to Ready to Export as an update and goes out as ``InvoiceMod`` (the generic update path: current EditSequence,
lines matched by their linked TxnLineID, new lines -1); an invoice paid (in part) in QuickBooks is refused at
send with the reason (``cannot_modify``).
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
    _linked_txn_lines,
    _lookup,
    _missing,
    _needs_edit_sequence,
    _Prepared,
    _pylist,
    _ref_split,
    _refuse,
    _split_linked,
    _with_sources,
    group_agg,
)
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
    unsynced_cost_codes_sql,
)
from .base import PROCORE_V1 as V1
from .invoice import invoice_bill_lines

ITEM_TYPE = "owner_invoice"
LINES = "owner_invoice_lines"
PARENT_KEY = "payment_application_id"

PAIR = EntityPair(
    ITEM_TYPE,
    "Owner Invoices",
    "owner_invoices",
    "qb_invoices",
    procore_lines=LINES,
    quickbooks_lines="qb_invoice_lines",
    add_request="InvoiceAdd",
    mod_request="InvoiceMod",
    query_request="InvoiceQuery",
    quickbooks_id="TxnID",
    name_field="RefNumber",
    can_unlink=True,
    export_order=55,  # after the jobs and cost codes it needs
    business_key=("invoice_number", "RefNumber"),
    parents=(
        ("project", "SELECT i.id, i.project_id FROM owner_invoices i"),
        _coded(LINES, PARENT_KEY),
    ),
    notes="Invoice total = current payment due; retainage is a negative line on the retainage item.",
    changed_fields=("project_id", "billing_date", "invoice_number", "current_payment_due"),
    lines=(
        LineRelation(
            LINES,
            PARENT_KEY,
            (
                "cost_code_id",
                "work_completed_this_period",
                "materials_presently_stored",
                "work_completed_retainage_retained_this_period",
                "work_completed_retainage_released_this_period",
                "materials_stored_retainage_currently_retained",
            ),
        ),
    ),
    cannot_modify=(
        'coalesce(q."IsPaid", false) OR q."BalanceRemaining" < q."Subtotal"',
        "the invoice is paid (in part) in QuickBooks Desktop: enter the change in QuickBooks (e.g. a credit "
        "memo) or remove the payment first",
    ),
    amount=("t.current_payment_due", "Subtotal"),
)

# -- the ERP queue: what users see and what blocks sending (the columns of ``erp_item_details``) -------------
DETAILS_SQL = f"""
       SELECT '{ITEM_TYPE}', i.id, coalesce(i.invoice_number, '#' || i.number::VARCHAR), i.invoice_number,
              NULL, NULL, p.name, i.project_id, i.current_payment_due, i.status, i.origin_id, NULL, i.created_by_id,
              NULL, coalesce(ps.synced, false), NULL, NULL,
              NULLIF(concat_ws('; ',
                  CASE WHEN i.status <> 'approved'
                       THEN 'status is ' || i.status || '; only Approved owner invoices export' END,
                  CASE WHEN NOT coalesce(ps.accepted, false)
                       THEN 'project ' || coalesce(p.name, i.project_id::VARCHAR) || ' is not synced' END,
                  CASE WHEN coalesce(k.coded_lines, 0) = 0 THEN 'no line has a cost code' END,
                  CASE WHEN k.unsynced > 0 THEN 'cost code(s) not synced: ' || k.unsynced_codes END,
                  CASE WHEN i.current_payment_due < 0 THEN 'negative-value invoices do not sync' END), '')
       FROM owner_invoices i LEFT JOIN projects p ON p.id = i.project_id
       LEFT JOIN erp_link_state ps ON ps.item_type = 'project' AND ps.procore_id = i.project_id
       LEFT JOIN (
           SELECT l.{PARENT_KEY} AS id,
                  count(*) FILTER (WHERE l.cost_code_id IS NOT NULL) AS coded_lines,
                  {unsynced_cost_codes_sql("l", "l.cost_code_id IS NOT NULL")}
           FROM {LINES} l LEFT JOIN erp_cost_code_state s ON s.cost_code_id = l.cost_code_id
           GROUP BY 1) k ON k.id = i.id"""


# -- qbXML: InvoiceAdd -------------------------------------------------------------------------------------------
def prepare(rows: pd.DataFrame, lines: Any, ctx: BuildContext) -> tuple[list[_Prepared], list[dict]]:
    """InvoiceAdd frames: the header on the Customer:Job, one line per cost code (work this period + stored
    materials, the subcontractor invoices' own line rule) and the retainage held as a negative line."""
    if not ctx.retainage_item:
        raise SettingMissing(
            "setting 'invoice_retainage_item' (Invoice Retainage Item) is not set: every owner invoice "
            "carries a retainage line on that item. An ERP admin sets it with: "
            "qbrecon settings set invoice_retainage_item=..."
        )
    errors: list[dict] = []
    rows = rows.assign(
        _job=_coalesce(_col(rows, "job_list_id"), _job_list_ids(rows["project_id"], ctx)).tolist()
    )
    missing = rows["_job"].isna().to_numpy()
    rows = _refuse(
        rows,
        missing,
        ITEM_TYPE,
        "project_id",
        "the project is not synced to a QuickBooks job; sync it first",
        errors,
    )
    ol = (
        lines if lines is not None else pd.DataFrame(columns=["id", PARENT_KEY, "work_completed_this_period"])
    )
    ol = ol[ol[PARENT_KEY].isin(_pylist(rows["id"]))]
    il = ol.rename(columns={PARENT_KEY: "requisition_id"})
    g = invoice_bill_lines(il)
    g["item_list_id"], g["item_full_name"] = _items(g["cost_code_id"], ctx)
    no_item = (g["item_list_id"].isna() & g["item_full_name"].isna()).to_numpy()
    bad = set(_pylist(g.loc[no_item, "requisition_id"]))
    errors += _err(
        sorted(bad),
        ITEM_TYPE,
        "cost_code_id",
        "a line's cost code has no QuickBooks service item; sync the cost code first",
    )
    totals = group_agg(g, ["requisition_id"], amount=("amount", "sum"), retainage=("retainage", "sum"))
    totals["total"] = _as_money(_as_money(totals["amount"]) - _as_money(totals["retainage"]))
    t = rows[["id"]].assign(_due=_pylist(_col(rows, "current_payment_due")))
    t["_total"] = _lookup(t["id"], totals, "requisition_id", "total")
    for pid, due, total in zip(t["id"], t["_due"], t["_total"], strict=True):
        if pid in bad:
            continue
        if total is None:
            errors += _err([pid], ITEM_TYPE, "line_items", "the owner invoice has no lines")
        elif total < 0:
            errors += _err(
                [pid],
                ITEM_TYPE,
                "current_payment_due",
                f"negative invoices do not sync to QuickBooks (total {total}); enter a credit memo in QuickBooks",
            )
        elif not _missing(due) and Decimal(due) != total:
            errors += _err(
                [pid],
                ITEM_TYPE,
                "current_payment_due",
                f"the invoice would total {total} (work this period + stored materials - retainage) but "
                f"current payment due is {Decimal(due)}; correct the owner invoice in Procore",
            )
        else:
            continue
        bad.add(pid)
    rows = rows[~rows["id"].isin(bad).to_numpy()]
    g = g[g["requisition_id"].isin(_pylist(rows["id"]))]
    item_lines = pd.DataFrame(
        {
            "procore_id": _pylist(g["requisition_id"]),
            "ItemRef/ListID": _pylist(g["item_list_id"]),
            "ItemRef/FullName": g["item_full_name"].where(g["item_list_id"].isna(), None).tolist(),
            "Desc": _pylist(g["full_code"]),
            "Amount": _as_money(g["amount"]).array,
            "_o": 0,
            "_src": _with_sources(
                g,
                ol.rename(columns={PARENT_KEY: "requisition_id"}),
                ["requisition_id", "cost_code_id"],
                LINES,
            ).tolist(),
        }
    )
    ids = rows["id"].reset_index(drop=True)
    ret_id, ret_name = _ref_split(pd.Series([ctx.retainage_item] * len(ids), dtype=object))
    ret_amount = _lookup(ids, totals, "requisition_id", "retainage")
    retainage = pd.DataFrame(
        {
            "procore_id": _pylist(ids),
            "ItemRef/ListID": ret_id.tolist(),
            "ItemRef/FullName": ret_name.tolist(),
            "Desc": "Retainage held this period",
            "Amount": pd.array(
                pc.negate(pc.cast(_arrow(ret_amount), _WORK_MONEY)), dtype=pd.ArrowDtype(_WORK_MONEY)
            ),
            "_o": 1,
            "_src": None,
        }
    )
    retainage = retainage[[r is not None for r in ret_amount.tolist()]]
    parts = [p for p in (item_lines, retainage) if len(p)]
    all_lines = pd.concat(parts, ignore_index=True) if parts else item_lines
    all_lines = all_lines.sort_values(["procore_id", "_o"], kind="stable").drop(columns="_o")
    all_lines["Amount"] = _as_money(all_lines["Amount"])
    # A linked owner invoice changed after sync is an InvoiceMod: header by TxnID at the current EditSequence, its
    # lines keep their TxnLineIDs (by the owner-invoice lines they stand for), new ones are -1; the lines sent
    # replace the invoice's, so the retainage line goes again as a new line.
    add, mod = _split_linked(rows)
    mod, es_errors = _needs_edit_sequence(mod, ITEM_TYPE)
    errors += es_errors
    out = []
    for frame, name, action in ((add, "InvoiceAdd", "add"), (mod, "InvoiceMod", "mod")):
        if not len(frame):
            continue
        cols: dict[str, Any] = {}
        if action == "mod":
            cols.update({"TxnID": frame["_qb_id"], "EditSequence": frame["_edit_sequence"]})
        cols.update(
            {
                "CustomerRef/ListID": frame["_job"],
                "TxnDate": _col(frame, "billing_date"),
                "RefNumber": _col(frame, "invoice_number"),
                "Memo": _col(frame, "contract_title"),
            }
        )
        line_name = f"InvoiceLine{action.title()}"
        fl = all_lines[all_lines["procore_id"].isin(_pylist(frame["id"]))]
        if action == "mod":
            fl = fl.copy()
            fl.insert(1, "TxnLineID", _linked_txn_lines(fl["_src"], ctx, ITEM_TYPE))
        out.append(
            _Prepared(
                name,
                action,
                _frame(frame["id"], cols),
                {line_name: fl},
                kinds={"TxnDate": "date", f"{line_name}/Amount": "money"},
                sources={
                    "RefNumber": "invoice_number",
                    "Memo": "contract_title",
                    f"{line_name}/Desc": "cost_code_full_code",
                },
            )
        )
    return out, errors


# -- reconciliation ----------------------------------------------------------------------------------------------
_RETAINAGE_ITEM = "(SELECT retainage_item FROM _qbr_params)"
_AS_OF = "(SELECT as_of FROM _qbr_params)"
RULE = PairRule(
    ITEM_TYPE,
    "Owner invoices <-> Invoices",
    f"""SELECT CAST(p.id AS VARCHAR) AS procore_id, nullif(trim(p.origin_id), '') AS link_id,
           qbr_norm_ref(p.invoice_number) || '|' || coalesce(jm.quickbooks_id, '') AS bkey,
           coalesce(p.invoice_number, CAST(p.number AS VARCHAR)) AS label, pr.name AS project,
           NULL::VARCHAR AS vendor, p.invoice_number AS number,
           (p.origin_id IS NOT NULL OR coalesce(e.status IN {EXPECTED}, false)) AS expected,
           (p.status = 'approved' AND coalesce(p.current_payment_due, 0) >= 0) AS eligible,
           e.status AS erp_status, {spec.max_length("InvoiceAdd/RefNumber")} AS name_limit,
           p.invoice_number AS limit_value, qbr_edit_seq(p.origin_data) AS edit_seq,
           p.current_payment_due AS amount, p.billing_date AS date, jm.quickbooks_id AS job_id,
           coalesce(g.retainage, p.total_retainage, 0) AS retainage
       FROM owner_invoices p
       LEFT JOIN (SELECT l.{PARENT_KEY} AS procore_num,
                         sum(coalesce(l.work_completed_retainage_retained_this_period, 0)
                             - coalesce(l.work_completed_retainage_released_this_period, 0)
                             + coalesce(l.materials_stored_retainage_currently_retained, 0)) AS retainage
                    FROM {LINES} l GROUP BY 1) g ON g.procore_num = p.id
       LEFT JOIN projects pr ON pr.id = p.project_id
       LEFT JOIN _qbr_job_map jm ON jm.procore_id = CAST(p.project_id AS VARCHAR)
       LEFT JOIN _qbr_erp e ON e.item_type = '{ITEM_TYPE}' AND e.procore_id = CAST(p.id AS VARCHAR)
       WHERE {_AS_OF} IS NULL OR p.billing_date IS NULL OR p.billing_date <= {_AS_OF}""",
    f"""WITH r AS (
          SELECT l."TxnID" AS quickbooks_id,
                 -sum(l."Amount") FILTER (WHERE l."ItemRef_ListID" = {_RETAINAGE_ITEM}) AS retainage,
                 count(*) FILTER (WHERE l."ItemRef_ListID" = {_RETAINAGE_ITEM}) AS retainage_lines
            FROM qb_invoice_lines l GROUP BY 1)
       SELECT t."TxnID" AS quickbooks_id,
           qbr_norm_ref(t."RefNumber") || '|' || coalesce(t."CustomerRef_ListID", '') AS bkey,
           t."RefNumber" AS label, t."CustomerRef_FullName" AS project, NULL::VARCHAR AS vendor,
           t."RefNumber" AS number, t."EditSequence" AS edit_seq, t."Subtotal" AS amount, t."TxnDate" AS date,
           t."CustomerRef_ListID" AS job_id, coalesce(r.retainage, 0) AS retainage,
           coalesce(r.retainage_lines, 0) AS retainage_lines
       FROM qb_invoices t LEFT JOIN r ON r.quickbooks_id = t."TxnID"
       WHERE {_AS_OF} IS NULL OR t."TxnDate" <= {_AS_OF}""",
    (
        # an invoice without its retainage line carries the gross amount: the whole difference is the retainage
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
        Field("job_id", "id", "job_differs"),
    ),
    Lines(
        f"""SELECT l.{PARENT_KEY} AS procore_num,
                   coalesce(cc.item_id, 'code:' || coalesce(l.cost_code_full_code, cc.full_code)) AS item_key,
                   {INVOICE_LINE_AMOUNT} AS amount
              FROM {LINES} l LEFT JOIN _qbr_cc_item cc ON cc.cost_code_id = l.cost_code_id""",
        f"""SELECT l."TxnID" AS quickbooks_id, coalesce(l."ItemRef_ListID", 'code:' || l."ItemRef_FullName") AS item_key,
                  l."Amount" AS amount
             FROM qb_invoice_lines l WHERE l."ItemRef_ListID" IS DISTINCT FROM {_RETAINAGE_ITEM}""",
    ),
    amount_label="current payment due",
)

# Payment applications on the prime contract, ref "Payment application" (``/rest/v1.0/payment_applications?
# project_id=``); their lines are read per record like the requisitions' contract items (the lines path is an
# inference, named after the ERP payload's line_items).
PROCORE_ENDPOINTS = (
    Endpoint(
        "payment_applications",
        "payment_applications",
        f"{V1}/payment_applications",
        "project",
        ("project_id",),
    ),
    Endpoint(
        "payment_application_line_items",
        "payment_application_line_items",
        f"{V1}/payment_applications/{{id}}/line_items",
        "lines",
        ("project_id",),
        parent="payment_applications",
        incremental=False,
        parent_key="payment_application_id",
    ),
)

MODULE = register(
    PairModule(
        pair=PAIR,
        procore_endpoints=PROCORE_ENDPOINTS,
        approver_rows=(
            ("accept_owner_invoice", "Accept or Reject Owner Invoices for Export to ERP"),
            ("unlink_owner_invoice", "Unlink Owner Invoices Synced with ERP"),
        ),
        erp_payload_notes=(("payment_application", "owner invoices do not sync with QuickBooks Desktop"),),
        details_sql=DETAILS_SQL,
        prepare=prepare,
        singular="owner invoice",
        columns=(
            PROCORE_ID,
            Column("number", "Invoice #", width=110),
            Column("name", "Owner invoice", width=190),
            Column("project", "Project", width=190),
            Column("amount", "Amount", "money", 130),
        ),
        procore_tool="prime_contract",
        query_label="Invoices",
        reconcile=RULE,
        reconcile_title="Owner invoices / Invoices",
        sheet_name="Owner invoices - Invoices",
        required_settings=(
            (
                "invoice_retainage_item",
                "accepted owner invoice(s) wait to be exported, and every invoice carries "
                "its retainage on that item",
            ),
        ),
    )
)
