"""Commitments -> QuickBooks purchase orders: the whole pair in one module.

An approved commitment (subcontract or purchase order in Procore) becomes a QuickBooks ``PurchaseOrderAdd`` on
its contract company's vendor: RefNumber is the contract number (or the QuickBooks number the approver gives when
"Use Procore Contract #" is off), one line per schedule-of-values line on its cost code's service item and the
project's Customer:Job. QuickBooks' answer links the commitment and each line (``qb_links``); a linked commitment
changed after its sync goes out as ``PurchaseOrderMod`` that keeps the PO's other lines (its change orders',
lines added in QuickBooks). ``PurchaseOrderQuery`` reads POs back; reconciliation compares the PO total with the
grand total plus the exported approved change orders, the vendor, and the lines per cost code.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..entities import EntityPair, LineRelation, _coded
from ..qbxml import spec
from ..qbxml.build import (
    BuildContext,
    _coalesce,
    _col,
    _err,
    _frame,
    _items,
    _job_list_ids,
    _lines_arg,
    _lookup,
    _needs_edit_sequence,
    _Prepared,
    _pylist,
    _refuse,
    _split_linked,
    _vendor_list_ids,
)
from ..store import Store
from . import register
from .base import (
    EXPECTED,
    PROCORE_ID,
    AcceptOption,
    Column,
    Endpoint,
    Field,
    Lines,
    PairModule,
    PairRule,
    blockers_sql,
    unsyncable_lines_sql,
    unsynced_cost_codes_sql,
)
from .base import PROCORE_V1 as V1

ITEM_TYPE = "commitment"
LINES = "commitment_lines"
PARENT_KEY = "commitment_id"
APPROVED_COMMITMENT = "('approved', 'complete')"

PAIR = EntityPair(
    ITEM_TYPE,
    "Commitments",
    "commitments",
    "purchase_orders",
    procore_lines=LINES,
    quickbooks_lines="purchase_order_lines",
    add_request="PurchaseOrderAdd",
    mod_request="PurchaseOrderMod",
    query_request="PurchaseOrderQuery",
    quickbooks_id="TxnID",
    name_field="RefNumber",
    direct_export=True,
    can_unlink=True,
    export_order=30,
    business_key=("number", "RefNumber"),
    parents=(
        ("company", "SELECT c.id, c.vendor_id FROM commitments c"),
        ("project", "SELECT c.id, c.project_id FROM commitments c"),
        _coded(LINES, PARENT_KEY),
    ),
    changed_fields=("vendor_id", "contract_date", "number", "title", "description"),
    lines=(LineRelation(LINES, PARENT_KEY, ("cost_code_id", "description", "amount")),),
    # the PO carries the commitment's lines and those of its Synced CCOs
    amount=(
        "(SELECT coalesce(sum(amount), 0) FROM commitment_lines l WHERE l.commitment_id = t.id)"
        " + (SELECT coalesce(sum(l.amount), 0) FROM change_order_lines l"
        " JOIN change_orders o ON o.id = l.change_order_id JOIN erp_items e ON e.item_type = 'change_order'"
        " AND e.procore_id = o.id AND e.status = 'synced' WHERE o.contract_id = t.id)",
        "TotalAmount",
    ),
)

# -- the ERP queue: what users see and what blocks sending (the columns of ``erp_item_details``) -------------
DETAILS_SQL = f"""
       SELECT '{ITEM_TYPE}', c.id, coalesce(c.title, c.number), c.number, coalesce(v.name, c.vendor_company),
              c.vendor_id, p.name, c.project_id, c.grand_total, c.status, c.origin_id, NULL, c.created_by_id,
              coalesce(vs.synced, false), coalesce(ps.synced, false), c.id, coalesce(cs.synced, false),
              {
    blockers_sql(
        "CASE WHEN c.status <> 'approved' THEN 'status is ' || c.status || '; only Approved commitments export' END",
        "CASE WHEN c.vendor_id IS NULL THEN 'no contract company' WHEN NOT coalesce(vs.accepted, false) THEN 'vendor ' || coalesce(v.name, c.vendor_company, c.vendor_id::VARCHAR) || ' is not synced' END",
        "CASE WHEN NOT coalesce(ps.accepted, false) THEN 'project ' || coalesce(p.name, c.project_id::VARCHAR) || ' is not synced' END",
        "CASE WHEN coalesce(k.coded_lines, 0) = 0 THEN 'no schedule-of-values line has a cost code' END",
        "CASE WHEN k.unsynced > 0 THEN 'cost code(s) not synced: ' || k.unsynced_codes END",
    )
}
       FROM commitments c LEFT JOIN companies v ON v.id = c.vendor_id LEFT JOIN projects p ON p.id = c.project_id
       LEFT JOIN erp_link_state vs ON vs.item_type = 'company' AND vs.procore_id = c.vendor_id
       LEFT JOIN erp_link_state ps ON ps.item_type = 'project' AND ps.procore_id = c.project_id
       LEFT JOIN erp_link_state cs ON cs.item_type = '{ITEM_TYPE}' AND cs.procore_id = c.id
       LEFT JOIN (
           SELECT l.commitment_id AS id,
                  count(*) FILTER (WHERE l.cost_code_id IS NOT NULL) AS coded_lines,
                  {unsynced_cost_codes_sql("l", "l.cost_code_id IS NOT NULL")}
           FROM {LINES} l LEFT JOIN erp_cost_code_state s ON s.cost_code_id = l.cost_code_id
           GROUP BY 1) k ON k.id = c.id"""

# the dashboard tab's columns (a change order's tab reads like its commitment's)
COLUMNS = (
    PROCORE_ID,
    Column("number", "Number", width=100),
    Column("name", "Title", width=200),
    Column("vendor", "Vendor", width=180),
    Column("project", "Project", width=180),
    Column("amount", "Amount", "money", 130),
)


# -- qbXML: PurchaseOrderAdd / PurchaseOrderMod ----------------------------------------------------------------
def prepare(rows: pd.DataFrame, lines: Any, ctx: BuildContext) -> tuple[list[_Prepared], list[dict]]:
    """PurchaseOrderAdd frames: the header on the vendor (RefNumber from the contract number or the approver's
    QuickBooks number), one line per schedule-of-values line on the job; a linked commitment changed after sync
    is a PurchaseOrderMod that keeps the PO's other lines (its CCOs', QuickBooks')."""
    errors: list[dict] = []
    lines = _lines_arg(lines, LINES)
    if lines is None:
        lines = ctx.frame(LINES)
    rows = rows.assign(
        _vendor=_coalesce(
            _col(rows, "vendor_list_id"), _vendor_list_ids(_col(rows, "vendor_id"), ctx)
        ).tolist(),
        _job=_coalesce(_col(rows, "job_list_id"), _job_list_ids(rows["project_id"], ctx)).tolist(),
    )
    if ctx.use_procore_contract_number:
        # Procore fills the QuickBooks number from the contract number; an approver's edit at accept wins.
        rows = rows.assign(_ref=_coalesce(_col(rows, "quickbooks_number"), _col(rows, "number")).tolist())
        ref_source = "number"
    else:
        rows = rows.assign(_ref=_col(rows, "quickbooks_number").tolist())
        ref_source = "quickbooks_number"
        no_ref = rows["_ref"].isna().to_numpy()
        rows = _refuse(
            rows,
            no_ref,
            ITEM_TYPE,
            "quickbooks_number",
            '"Use Procore Contract #" is off: give the QuickBooks PO number when accepting',
            errors,
        )
    for col, what in (
        ("_vendor", "the contract company is not synced to a QuickBooks vendor"),
        ("_job", "the project is not synced to a QuickBooks job"),
    ):
        missing = rows[col].isna().to_numpy()
        rows = _refuse(
            rows,
            missing,
            ITEM_TYPE,
            "vendor_id" if col == "_vendor" else "project_id",
            what + "; sync it first",
            errors,
        )
    ln = lines if lines is not None else pd.DataFrame(columns=["commitment_id"])
    ln = ln[ln["commitment_id"].isin(rows["id"].tolist())].copy()
    if "position" in ln.columns:
        ln = ln.sort_values(["commitment_id", "position"], kind="stable")
    ln["item_list_id"], ln["item_full_name"] = _items(_col(ln, "cost_code_id"), ctx)
    ln["_job"] = _lookup(
        ln["commitment_id"], pd.DataFrame({"id": rows["id"].tolist(), "j": rows["_job"].tolist()}), "id", "j"
    )
    no_item = (ln["item_list_id"].isna() & ln["item_full_name"].isna()).to_numpy()
    for cid, lid in zip(ln.loc[no_item, "commitment_id"], ln.loc[no_item, "id"], strict=True):
        errors += _err(
            [cid],
            ITEM_TYPE,
            "cost_code_id",
            f"line {lid} has no QuickBooks cost code (service item); sync the cost code first",
        )
    bad = set(ln.loc[no_item, "commitment_id"].tolist())
    no_lines = ~rows["id"].isin(ln["commitment_id"].tolist()).to_numpy()
    errors += _err(
        rows.loc[no_lines, "id"], ITEM_TYPE, "line_items", "the commitment has no schedule-of-values lines"
    )
    rows = rows[~(rows["id"].isin(bad).to_numpy() | no_lines)]
    ln = ln[~ln["commitment_id"].isin(bad)]
    add, mod = _split_linked(rows)
    mod, es_errors = _needs_edit_sequence(mod, ITEM_TYPE)
    mod, line_errors = _unmatched_po_lines(mod, ln, ctx)
    errors += line_errors
    errors += es_errors
    out = []
    for frame, name, action in ((add, "PurchaseOrderAdd", "add"), (mod, "PurchaseOrderMod", "mod")):
        cols: dict[str, Any] = {}
        if action == "mod":
            cols.update({"TxnID": frame["_qb_id"], "EditSequence": frame["_edit_sequence"]})
        cols.update(
            {
                "VendorRef/ListID": frame["_vendor"],
                "TxnDate": _col(frame, "contract_date"),
                "RefNumber": frame["_ref"],
                "Memo": _col(frame, "title"),
                "VendorMsg": _col(frame, "description"),
            }
        )
        fl = ln[ln["commitment_id"].isin(frame["id"].tolist())]
        line_name = "PurchaseOrderLineAdd" if action == "add" else "PurchaseOrderLineMod"
        lcols: dict[str, Any] = {}
        if action == "mod":
            lcols["TxnLineID"] = (
                _col(fl, "origin_id").astype(object).where(_col(fl, "origin_id").notna(), "-1")
            )
        lcols.update(
            {
                "ItemRef/ListID": fl["item_list_id"],
                "ItemRef/FullName": fl["item_full_name"].where(fl["item_list_id"].isna(), None),
                "Desc": _col(fl, "description"),
                "Amount": fl["amount"],
                "CustomerRef/ListID": fl["_job"],
                "_src": "commitment_lines:" + fl["id"].astype("string"),
            }
        )
        sources = {
            "RefNumber": ref_source,
            "Memo": "title",
            "VendorMsg": "description",
            f"{line_name}/Desc": "line_items.description",
        }
        kinds = {"TxnDate": "date", f"{line_name}/Amount": "money"}
        line_frame = _frame(fl["commitment_id"], lcols)
        if action == "mod" and len(frame):
            line_frame = _keep_other_po_lines(line_frame, frame, fl, ctx)
        out.append(
            _Prepared(
                name,
                action,
                _frame(frame["id"], cols),
                {line_name: line_frame},
                kinds=kinds,
                sources=sources,
            )
        )
    return out, errors


def _unmatched_po_lines(
    mod: pd.DataFrame, ln: pd.DataFrame, ctx: BuildContext
) -> tuple[pd.DataFrame, list[dict]]:
    """A PurchaseOrderMod for a commitment none of whose lines is linked to a PO line (linked before qbrecon kept
    line links) would add every line again: refused until the lines are linked (re-export or link them)."""
    po_lines = ctx.frame("purchase_order_lines")
    if mod.empty or po_lines is None or po_lines.empty:
        return mod, []
    linked = set(_pylist(ln.loc[_col(ln, "origin_id").notna().to_numpy(), "commitment_id"]))
    has_lines = set(po_lines["TxnID"].astype(object).tolist())
    bad = [
        pid
        for pid, txn in zip(_pylist(mod["id"]), mod["_qb_id"].tolist(), strict=True)
        if pid not in linked and txn in has_lines
    ]
    errors = _err(
        bad,
        ITEM_TYPE,
        "line_items",
        "none of the commitment's lines is linked to a line of its QuickBooks purchase order, so an "
        "update would add them all again; unlink the commitment (after deleting the PO in QuickBooks) "
        "and export it again, or reload a Procore export that carries the lines' QuickBooks ids",
    )
    return mod[~mod["id"].isin(bad).to_numpy()], errors


def _keep_other_po_lines(
    line_frame: pd.DataFrame, rows: pd.DataFrame, fl: pd.DataFrame, ctx: BuildContext
) -> pd.DataFrame:
    """A PurchaseOrderMod's lines replace the PO's: keep (by TxnLineID alone) every PO line that is not one of
    this commitment's own lines, current or removed since (its CCOs' lines, lines added in QuickBooks)."""
    po_lines = ctx.frame("purchase_order_lines")
    if po_lines is None or po_lines.empty:
        return line_frame
    own = set(_col(fl, "origin_id").dropna().astype(str).tolist())
    links = ctx.frame("qb_links")
    if links is not None and len(links):
        mine = links[(links["item_type"] == ITEM_TYPE) & (links["line_table"] == LINES)]
        own |= set(mine["txn_line_id"].dropna().astype(str).tolist())
    po_of = pd.DataFrame({"TxnID": rows["_qb_id"].astype(object).tolist(), "procore_id": rows["id"].tolist()})
    kept = po_of.merge(po_lines[["TxnID", "TxnLineID"]].astype(object), on="TxnID", how="inner")
    kept = kept[~kept["TxnLineID"].astype(str).isin(own)]
    if kept.empty:
        return line_frame
    extra = pd.DataFrame({"procore_id": kept["procore_id"].tolist(), "TxnLineID": kept["TxnLineID"].tolist()})
    return pd.concat([line_frame, extra], ignore_index=True)


# -- reconciliation: commitments (+ approved CCOs) <-> purchase orders ------------------------------------------
# Approved CCO lines; a CCO counts as exported once it carries an origin_id or its ERP state says synced.
CCO_LINES = """
    SELECT co.contract_id, co.id AS change_order_id, cl.cost_code_id, cl.cost_code_full_code, cl.amount,
           (co.origin_id IS NOT NULL OR coalesce(e.status, '') IN ('synced', 'imported')) AS exported
      FROM change_orders co JOIN change_order_lines cl ON cl.change_order_id = co.id
      LEFT JOIN _qbr_erp e ON e.item_type = 'change_order' AND e.procore_id = CAST(co.id AS VARCHAR)
     WHERE co.status = 'approved'"""

_COMMITMENT_LINES_P = f"""
    SELECT l.commitment_id AS procore_num,
           coalesce(cc.item_id, 'code:' || coalesce(l.cost_code_full_code, cc.full_code)) AS item_key,
           coalesce(l.cost_code_full_code, cc.full_code) AS code, l.amount AS amount
      FROM commitment_lines l LEFT JOIN _qbr_cc_item cc ON cc.cost_code_id = l.cost_code_id
    UNION ALL
    SELECT l.contract_id,
           coalesce(cc.item_id, 'code:' || coalesce(l.cost_code_full_code, cc.full_code)),
           coalesce(l.cost_code_full_code, cc.full_code), l.amount
      FROM ({CCO_LINES}) l LEFT JOIN _qbr_cc_item cc ON cc.cost_code_id = l.cost_code_id
     WHERE l.exported"""

RULE = PairRule(
    ITEM_TYPE,
    "Commitments (+ approved CCOs) <-> Purchase orders",
    f"""WITH cco AS (SELECT contract_id, sum(amount) FILTER (WHERE exported) AS approved
                       FROM ({CCO_LINES}) GROUP BY contract_id)
        SELECT CAST(p.id AS VARCHAR) AS procore_id, nullif(trim(p.origin_id), '') AS link_id,
           qbr_norm_ref(p.number) || '|' || coalesce(vm.quickbooks_id, '') AS bkey,
           p.title AS label, pr.name AS project, coalesce(c.name, p.vendor_company) AS vendor, p.number AS number,
           (p.origin_id IS NOT NULL OR coalesce(e.status IN {EXPECTED}, false)) AS expected,
           (p.status IN {APPROVED_COMMITMENT}) AS eligible,
           e.status AS erp_status, {spec.max_length("PurchaseOrderAdd/RefNumber")} AS name_limit, p.number AS limit_value, qbr_edit_seq(p.origin_data) AS edit_seq,
           coalesce(p.grand_total, 0) + coalesce(cco.approved, 0) AS amount,
           vm.quickbooks_id AS vendor_id
       FROM commitments p
       LEFT JOIN projects pr ON pr.id = p.project_id
       LEFT JOIN companies c ON c.id = p.vendor_id
       LEFT JOIN _qbr_vendor_map vm ON vm.procore_id = CAST(p.vendor_id AS VARCHAR)
       LEFT JOIN cco ON cco.contract_id = p.id
       LEFT JOIN _qbr_erp e ON e.item_type = '{ITEM_TYPE}' AND e.procore_id = CAST(p.id AS VARCHAR)
       WHERE (SELECT as_of FROM _qbr_params) IS NULL OR p.contract_date IS NULL
          OR p.contract_date <= (SELECT as_of FROM _qbr_params)""",
    """SELECT t."TxnID" AS quickbooks_id, qbr_norm_ref(t."RefNumber") || '|' || coalesce(t."VendorRef_ListID", '') AS bkey,
           t."RefNumber" AS label, t."ShipToEntityRef_FullName" AS project, t."VendorRef_FullName" AS vendor,
           t."RefNumber" AS number, t."EditSequence" AS edit_seq, t."TotalAmount" AS amount,
           t."VendorRef_ListID" AS vendor_id
       FROM purchase_orders t
       WHERE (SELECT as_of FROM _qbr_params) IS NULL OR t."TxnDate" <= (SELECT as_of FROM _qbr_params)""",
    (
        Field("amount", "money", "amount_differs"),
        Field("vendor_id", "id", "vendor_differs"),
    ),
    Lines(
        f"SELECT procore_num, item_key, amount FROM ({_COMMITMENT_LINES_P})",
        """SELECT l."TxnID" AS quickbooks_id, coalesce(l."ItemRef_ListID", 'code:' || l."ItemRef_FullName") AS item_key,
                  l."Amount" AS amount
             FROM purchase_order_lines l""",
    ),
    amount_label="grand total + exported approved CCOs",
)


# -- 'Inventory and Purchase Orders are Active' (seed 001), as the Web Connector's host response last reported it
# (``erp.preferences`` records it): while it is off, purchase order commitments are refused before sending ---------
INVENTORY_KEY = "quickbooks.is_using_inventory"
PO_REFUSAL = (
    "'Inventory and Purchase Orders are Active' is off in this QuickBooks company (Edit > Preferences > Items & "
    "Inventory > Company Preferences): QuickBooks cannot take purchase orders. Turn it on, then retry"
)


def inventory_active(store: Store) -> bool | None:
    """QuickBooks' 'Inventory and Purchase Orders are Active' as last reported (None: not known yet)."""
    value = store.scalar("SELECT value FROM qbrecon_meta WHERE key = ?", [INVENTORY_KEY])
    return None if value is None else value == "true"


def refuse_purchase_orders(store: Store, rows: pd.DataFrame, requests: list) -> tuple[list, pd.DataFrame]:
    """Requests minus the purchase orders QuickBooks cannot take (preference off), and one build error per
    refused commitment (``item_type, procore_id, field, message``)."""
    empty = pd.DataFrame(columns=["item_type", "procore_id", "field", "message"])
    if inventory_active(store) is not False or "type" not in rows:
        return requests, empty
    pos = {int(i) for i, t in zip(rows["id"], rows["type"], strict=True) if t == "PurchaseOrderContract"}
    if not pos:
        return requests, empty
    kept = [r for r in requests if r.procore_id is None or int(r.procore_id) not in pos]
    errors = pd.DataFrame(
        [
            {"item_type": ITEM_TYPE, "procore_id": p, "field": "type", "message": PO_REFUSAL}
            for p in sorted(pos)
        ]
    )
    return kept, errors


# Accepting (or directly exporting) a commitment: the QuickBooks PO number; with "Use Procore Contract #" on,
# the contract number unless the approver gives one.
_PO_NUMBER_MAX = spec.max_length("PurchaseOrderAdd/RefNumber")
QUICKBOOKS_NUMBER = AcceptOption(
    "quickbooks_number",
    f"QuickBooks PO number (max. {_PO_NUMBER_MAX} characters)",
    "Commitments: the QuickBooks PO number (when 'Use Procore Contract #' is off).",
    fallback=("use_procore_contract_number", "q.number"),
    check=f"""CASE WHEN {{value}} IS NULL THEN
                  CASE WHEN {{fallback_on}} THEN 'the commitment has no number to use as the QuickBooks PO number'
                       ELSE 'a QuickBooks number is required (quickbooks_number=...; the setting use_procore_contract_number is off)' END
                  WHEN length({{value}}) > {_PO_NUMBER_MAX} THEN 'QuickBooks PO number ' || {{value}} || ' is longer than {_PO_NUMBER_MAX} characters' END""",
    placeholder="empty: Procore's number",
    one_item="A QuickBooks PO number is for one commitment: select only the commitment it is for.",
)

# the pair's Procore costs that cannot sync to QuickBooks Desktop (the unsyncable direct costs report), as
# (source, procore_id, project_id, project, cost_code, amount, hours, date, reason)
UNSYNCABLE = (
    unsyncable_lines_sql(
        "commitment_line", "commitment_lines", "commitments", "commitment_id", "amount", "contract_date"
    ),
)


# Procore keeps commitments as two kinds of contract, each with its own endpoints and line items
PROCORE_ENDPOINTS = tuple(
    Endpoint(
        f"{kind}_contracts",
        "commitments",
        f"{V1}/{kind}_contracts",
        "project",
        ("project_id",),
        table="commitments",
        sync=f"{V1}/{kind}_contracts/sync",
    )
    for kind in ("work_order", "purchase_order")
) + tuple(
    Endpoint(
        f"{kind}_contract_line_items",
        "commitment_line_items",
        f"{V1}/{kind}_contracts/{{id}}/line_items",
        "lines",
        ("project_id",),
        parent=f"{kind}_contracts",
        incremental=False,
        table="commitment_lines",
        item_type="line_item",
        parent_key="commitment_id",
    )
    for kind in ("work_order", "purchase_order")
)

MODULE = register(
    PairModule(
        pair=PAIR,
        procore_endpoints=PROCORE_ENDPOINTS,
        approver_rows=(
            ("accept_commitment", "Accept or Reject a Commitment for Export to ERP"),
            ("unlink_commitment", "Unlink Commitments Synced with ERP"),
        ),
        details_sql=DETAILS_SQL,
        prepare=prepare,
        singular="commitment",
        unsyncable_sql=UNSYNCABLE,
        columns=COLUMNS,
        procore_tool="commitments",
        query_label="Purchase orders",
        reconcile=RULE,
        reconcile_title="Commitments / Purchase orders",
        sheet_name="Commitments - POs",
        accept_options=(QUICKBOOKS_NUMBER,),
        after_build=refuse_purchase_orders,
        tab_order=50,
    )
)
