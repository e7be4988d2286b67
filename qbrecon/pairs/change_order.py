"""Commitment change orders -> new lines on the commitment's QuickBooks purchase order: the whole pair in one module.

An approved commitment change order (CCO) has no QuickBooks record of its own: it goes out as a
``PurchaseOrderMod`` of its commitment's PO that keeps every other PO line and adds the CCO's lines (one per
contract line it changes, "CCO #<number> <title>: <description>"). QuickBooks' answer links each CCO line to its
PO line; a CCO changed after its sync modifies those lines by TxnLineID (the same Mod). One CCO per PO is sent at
a time (the export picks them one by one: every Mod needs the PO's current EditSequence and lines).
Reconciliation counts exported approved CCOs in their commitment's PO total (``commitment.RULE``) and reports
here, by its own SQL, an approved CCO on a synced commitment that was never exported (the PO is short).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..entities import EntityPair, LineRelation, _coded
from ..qbxml.build import (
    BuildContext,
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
    _own_line_links,
    _Prepared,
    _pylist,
    _refuse,
    _with_sources,
    group_agg,
)
from . import register
from .base import PROCORE_V1 as V1
from .base import Endpoint, OwnReport, PairModule, blockers_sql
from .commitment import CCO_LINES, COLUMNS

ITEM_TYPE = "change_order"
LINES = "change_order_lines"
PARENT_KEY = "change_order_id"

PAIR = EntityPair(
    ITEM_TYPE,
    "Change Orders",
    "change_orders",
    "purchase_orders",
    procore_lines=LINES,
    quickbooks_lines="purchase_order_lines",
    add_request=None,
    mod_request="PurchaseOrderMod",
    query_request="PurchaseOrderQuery",
    quickbooks_id="TxnID",
    direct_export=True,
    can_unlink=True,
    parents=(
        ("commitment", "SELECT o.id, o.contract_id FROM change_orders o"),
        _coded(LINES, PARENT_KEY),
    ),
    export_order=40,
    notes="A CCO becomes new lines on its commitment's purchase order; a change after sync modifies those "
    "lines by TxnLineID (the same PurchaseOrderMod).",
    lines=(LineRelation(LINES, PARENT_KEY, ("cost_code_id", "description", "amount")),),
)

# -- the ERP queue: what users see and what blocks sending (the columns of ``erp_item_details``) -------------
# Procore's own rules for exporting a CCO ("Export a CCO to QuickBooks"), not QuickBooks field limits: the
# number and title go into the PO lines' descriptions, whose limit the spec tables hold.
NUMBER_MAX = 12
TITLE_MAX = 30

DETAILS_SQL = f"""
       SELECT '{ITEM_TYPE}', o.id, coalesce(o.title, o.number), o.number, coalesce(v.name, c.vendor_company),
              c.vendor_id, p.name, o.project_id, o.grand_total, o.status, o.origin_id, NULL, o.created_by_id,
              coalesce(vs.synced, false), coalesce(ps.synced, false), o.contract_id, coalesce(cs.synced, false),
              {
    blockers_sql(
        "CASE WHEN o.status <> 'approved' THEN 'status is ' || o.status || '; only Approved CCOs export' END",
        "CASE WHEN NOT coalesce(cs.accepted, false) THEN 'commitment ' || coalesce(c.number, o.contract_id::VARCHAR) || ' is not synced' END",
        f"CASE WHEN length(o.number) > {NUMBER_MAX} THEN 'CCO number is longer than {NUMBER_MAX} characters' END",
        f"CASE WHEN length(o.title) > {TITLE_MAX} THEN 'CCO title is longer than {TITLE_MAX} characters' END",
    )
}
       FROM change_orders o LEFT JOIN commitments c ON c.id = o.contract_id
       LEFT JOIN companies v ON v.id = c.vendor_id LEFT JOIN projects p ON p.id = o.project_id
       LEFT JOIN erp_link_state vs ON vs.item_type = 'company' AND vs.procore_id = c.vendor_id
       LEFT JOIN erp_link_state ps ON ps.item_type = 'project' AND ps.procore_id = o.project_id
       LEFT JOIN erp_link_state cs ON cs.item_type = 'commitment' AND cs.procore_id = o.contract_id"""


# -- qbXML: PurchaseOrderMod of the commitment's PO -----------------------------------------------------------
def prepare(rows: pd.DataFrame, lines: Any, ctx: BuildContext) -> tuple[list[_Prepared], list[dict]]:
    """PurchaseOrderMod frames: the commitment's PO by TxnID at its current EditSequence, every PO line that is
    not the CCO's kept by TxnLineID, then the CCO's lines (summed per contract line; TxnLineID -1 when new)."""
    errors: list[dict] = []
    lines = _lines_arg(lines, LINES)
    commitments = ctx.frame("commitments")
    rows = rows.assign(
        _po=_coalesce(
            _col(rows, "po_txn_id"), _lookup(rows["contract_id"], commitments, "id", "origin_id")
        ).tolist(),
        _job=_coalesce(_col(rows, "job_list_id"), _job_list_ids(rows["project_id"], ctx)).tolist(),
    )
    no_po = rows["_po"].isna().to_numpy()
    rows = _refuse(
        rows,
        no_po,
        ITEM_TYPE,
        "contract_id",
        "the commitment is not synced to a QuickBooks purchase order; export it first",
        errors,
    )
    dup = rows["contract_id"].duplicated(keep="first").to_numpy()
    rows = _refuse(
        rows,
        dup,
        ITEM_TYPE,
        "contract_id",
        "another change order for the same commitment is in this export; export them one at a time",
        errors,
    )
    pos = ctx.frame("purchase_orders")
    rows = rows.assign(
        _edit_sequence=_coalesce(
            _col(rows, "po_edit_sequence"), _lookup(rows["_po"], pos, "TxnID", "EditSequence")
        ).tolist()
    )
    no_es = rows["_edit_sequence"].isna().to_numpy()
    rows = _refuse(
        rows,
        no_es,
        ITEM_TYPE,
        "edit_sequence",
        "the purchase order's current EditSequence is unknown; refresh QuickBooks purchase orders first",
        errors,
    )
    po_lines = ctx.frame("purchase_order_lines")
    if po_lines is None:
        errors += _err(
            rows["id"],
            ITEM_TYPE,
            "purchase_order_lines",
            "the purchase order's current lines are unknown (a PurchaseOrderMod must list them to keep "
            "them); refresh QuickBooks purchase orders first",
        )
        rows = rows.iloc[0:0]
    ln = lines if lines is not None else pd.DataFrame(columns=["change_order_id"])
    ln = ln[ln["change_order_id"].isin(rows["id"].tolist())].copy()
    # Several edits of one contract line in one CCO are summed into one PO line.
    ln["_line_key"] = _coalesce(_col(ln, "commitment_line_item_id"), _col(ln, "cost_code_id"))
    ln["_line_key"] = ln["_line_key"].astype(object)
    desc = _col(ln, "description").astype(object)
    ln["_desc"] = desc.where(desc.notna(), "")
    g = group_agg(
        ln,
        ["change_order_id", "_line_key"],
        amount=("amount", "sum"),
        cost_code_id=("cost_code_id", "first"),
        desc=("_desc", "first"),
    )
    g["amount"] = _as_money(g["amount"])
    g["_src"] = _with_sources(g, ln, ["change_order_id", "_line_key"], LINES)
    g["item_list_id"], g["item_full_name"] = _items(g["cost_code_id"], ctx)
    no_item = (g["item_list_id"].isna() & g["item_full_name"].isna()).to_numpy()
    errors += _err(
        sorted(set(g.loc[no_item, "change_order_id"].tolist())),
        ITEM_TYPE,
        "cost_code_id",
        "a change order line has no QuickBooks cost code (service item); sync the cost code first",
    )
    bad = set(g.loc[no_item, "change_order_id"].tolist())
    no_lines = ~rows["id"].isin(g["change_order_id"].tolist()).to_numpy()
    errors += _err(rows.loc[no_lines, "id"], ITEM_TYPE, "line_items", "the change order has no lines")
    rows = rows[~(rows["id"].isin(bad).to_numpy() | no_lines)]
    g = g[g["change_order_id"].isin(rows["id"].tolist())]
    label = (
        "CCO #"
        + _col(rows, "number").astype("string").fillna("")
        + " "
        + _col(rows, "title").astype("string").fillna("")
    )
    labels = pd.DataFrame(
        {"id": rows["id"].tolist(), "label": label.str.strip().tolist(), "job": rows["_job"].tolist()}
    )
    g["_label"] = _lookup(g["change_order_id"], labels, "id", "label")
    g["_job"] = _lookup(g["change_order_id"], labels, "id", "job")
    g["desc"] = (g["_label"].astype(str) + ": " + g["desc"].astype(str)).str.rstrip(": ")
    # A CCO already on the PO (an update: changed in Procore after sync) modifies its own lines by TxnLineID;
    # its lines no longer in Procore are left out (QuickBooks removes them). Every other PO line is kept
    # (TxnLineID alone), then the CCO's lines (TxnLineID -1 when new).
    own = _own_line_links(ctx, ITEM_TYPE, LINES)
    g["_txn_line"] = _linked_txn_lines(g["_src"], ctx, ITEM_TYPE) if len(g) else []
    update = _col(rows, "quickbooks_id").notna().to_numpy()
    unlinked = [pid for pid in _pylist(rows.loc[update, "id"]) if not any(k[0] == pid for k in own)]
    errors += _err(
        unlinked,
        ITEM_TYPE,
        "line_items",
        "the change order is on the purchase order but none of its lines is linked to a PO line, so an "
        "update would add them all again; unlink it (after deleting its lines in QuickBooks) and export it "
        "again, or reload a Procore export that carries the lines' QuickBooks ids",
    )
    rows = rows[~rows["id"].isin(unlinked).to_numpy()]
    g = g[g["change_order_id"].isin(rows["id"].tolist())]
    keep = pd.DataFrame(columns=["change_order_id", "TxnLineID"])
    if po_lines is not None and len(rows):
        po_of = pd.DataFrame(
            {"TxnID": rows["_po"].astype(object).tolist(), "change_order_id": rows["id"].tolist()}
        )
        pl = po_lines[["TxnID", "TxnLineID"]].astype(object)
        keep = po_of.merge(pl, on="TxnID", how="inner")[["change_order_id", "TxnLineID"]]
        mine = {(pid, str(x)) for pid, x in own}
        keep = keep[
            [
                (pid, str(x)) not in mine
                for pid, x in zip(keep["change_order_id"], keep["TxnLineID"], strict=True)
            ]
        ]
    new = pd.DataFrame(
        {
            "change_order_id": g["change_order_id"].tolist(),
            "TxnLineID": g["_txn_line"].tolist(),
            "ItemRef/ListID": g["item_list_id"].tolist(),
            "ItemRef/FullName": g["item_full_name"].where(g["item_list_id"].isna(), None).tolist(),
            "Desc": g["desc"].tolist(),
            "Amount": g["amount"].tolist(),
            "CustomerRef/ListID": g["_job"].tolist(),
            "_src": g["_src"].tolist(),
        }
    )
    new["Amount"] = _as_money(new["Amount"]) if len(new) else new["Amount"]
    all_lines = pd.concat([keep.assign(_o=0), new.assign(_o=1)], ignore_index=True)
    all_lines = all_lines.sort_values(["change_order_id", "_o"], kind="stable").drop(columns="_o")
    all_lines = all_lines.rename(columns={"change_order_id": "procore_id"})
    for c in ("ItemRef/ListID", "ItemRef/FullName", "Desc", "Amount", "CustomerRef/ListID", "_src"):
        if c not in all_lines.columns:
            all_lines[c] = None
    header = _frame(rows["id"], {"TxnID": rows["_po"], "EditSequence": rows["_edit_sequence"]})
    prepared = _Prepared(
        "PurchaseOrderMod",
        "mod",
        header,
        {"PurchaseOrderLineMod": all_lines},
        kinds={"PurchaseOrderLineMod/Amount": "money"},
        sources={"PurchaseOrderLineMod/Desc": "title"},
    )
    return [prepared], errors


# -- reconciliation: its own report (a CCO is lines on its commitment's PO) -------------------------------------
REPORT = OwnReport(
    ITEM_TYPE,
    "Approved CCOs <-> Purchase order lines",
    (
        (
            "_qbr_change_order_p",
            f"""SELECT CAST(l.change_order_id AS VARCHAR) AS procore_id, any_value(m.quickbooks_id) AS quickbooks_id,
                       any_value(k.project) AS project, any_value(k.vendor) AS vendor,
                       any_value(co.number) AS number, bool_and(l.exported) AS exported, sum(l.amount) AS amount,
                       m.quickbooks_id IS NOT NULL AS on_synced_commitment
                  FROM ({CCO_LINES}) l JOIN change_orders co ON co.id = l.change_order_id
                  LEFT JOIN _qbr_commitment_p k ON k.procore_id = CAST(l.contract_id AS VARCHAR)
                  LEFT JOIN _qbr_commitment_m m ON m.procore_id = CAST(l.contract_id AS VARCHAR)
                 GROUP BY l.change_order_id, m.quickbooks_id IS NOT NULL""",
        ),
    ),
    # approved on a commitment that reached QuickBooks but never exported: the purchase order is short
    """SELECT 'change_order', 'record', procore_id, quickbooks_id, project, vendor, number, NULL, 'amount',
                       CAST(amount AS VARCHAR), NULL, amount, 'cco_not_exported', 'commitment'
                  FROM _qbr_change_order_p WHERE on_synced_commitment AND NOT exported""",
    """(pair, label, amount, procore_records, quickbooks_records, matched_equal,
                      matched_with_differences, only_in_procore, only_in_quickbooks, ambiguous, not_exported,
                      explained_elsewhere, differences, procore_total, in_queue_total, quickbooks_total,
                      explained_elsewhere_total, within_tolerance_total, delta, abs_delta)
               SELECT 'change_order', $1, 'approved CCO amount', count(*), count(*) FILTER (WHERE exported),
                      count(*) FILTER (WHERE exported AND on_synced_commitment), 0,
                      count(*) FILTER (WHERE on_synced_commitment AND NOT exported), 0, 0,
                      count(*) FILTER (WHERE NOT on_synced_commitment), 0,
                      count(*) FILTER (WHERE on_synced_commitment AND NOT exported)
                        + (SELECT count(*) FROM _qbr_diff WHERE pair = 'change_order' AND reason = 'link_conflict'),
                      coalesce(sum(amount), 0),
                      -- a CCO whose commitment is not in QuickBooks yet waits with its commitment
                      coalesce(sum(amount) FILTER (WHERE NOT on_synced_commitment), 0),
                      coalesce(sum(amount) FILTER (WHERE exported AND on_synced_commitment), 0), 0, 0,
                      coalesce(sum(amount) FILTER (WHERE on_synced_commitment AND NOT exported), 0),
                      coalesce(sum(abs(amount)) FILTER (WHERE on_synced_commitment AND NOT exported), 0)
                 FROM _qbr_change_order_p""",
)

PROCORE_ENDPOINTS = (
    Endpoint(
        "commitment_change_orders",
        "commitment_change_orders",
        f"{V1}/projects/{{project_id}}/commitment_change_orders",
        "project",
        table="change_orders",
        item_type="change_order",
    ),
    Endpoint(
        "commitment_change_order_line_items",
        "commitment_change_order_line_items",
        f"{V1}/projects/{{project_id}}/commitment_change_orders/{{id}}/line_items",
        "lines",
        parent="commitment_change_orders",
        incremental=False,
        table="change_order_lines",
        item_type="line_item",
        parent_key="change_order_id",
    ),
)

MODULE = register(
    PairModule(
        pair=PAIR,
        procore_endpoints=PROCORE_ENDPOINTS,
        approver_rows=(
            ("accept_change_order", "Accept or Reject a CCO for Export to ERP"),
            ("unlink_change_order", "Unlink CCOs Synced with ERP"),
        ),
        details_sql=DETAILS_SQL,
        prepare=prepare,
        singular="change order",
        mail_noun="commitment change order",
        columns=COLUMNS,  # a CCO reads like its commitment
        procore_tool="commitments",
        query_label="Purchase orders",
        reconcile=REPORT,
        reconcile_title="Change orders / PO lines",
        # a CCO's lines go on its commitment's purchase order (PurchaseOrderMod): the PO is its record, and each
        # Mod needs the PO's EditSequence the previous one returned, so one CCO per commitment at a time
        shares_parent_record="commitment",
        serial_per_parent="commitment",
        sheet_name="Change orders - PO lines",
        tab_order=60,
    )
)
