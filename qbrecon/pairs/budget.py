"""Budgets -> QuickBooks estimates: the whole pair in one module.

A locked Procore budget becomes a QuickBooks ``EstimateAdd`` on the project's Customer:Job: one original-budget
line per cost code (its service item), then one line per approved budget change and cost code (budget changes
become further lines). The item id is the project id (one budget per project); the estimate's TxnID lives in the
link (the project's ``origin_id`` is its job). A budget whose estimate exists goes out as ``EstimateMod`` with
every line again (QuickBooks lines kept by item and description). ``EstimateQuery`` reads estimates back;
reconciliation compares the estimate total with the original budget plus the synced approved changes, and the
lines per cost code.
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
    _lines_arg,
    _needs_edit_sequence,
    _Prepared,
    _refuse,
    group_agg,
)
from . import register
from .base import (
    EXPECTED,
    PROCORE_ID,
    Column,
    Endpoint,
    Field,
    Lines,
    PairModule,
    PairRule,
    blockers_sql,
    erp_status_sql,
    unsynced_cost_codes_sql,
)
from .base import PROCORE_V1 as V1

ITEM_TYPE = "budget"

PAIR = EntityPair(
    ITEM_TYPE,
    "Budgets",
    "projects",
    "estimates",
    procore_lines="budget_line_items",
    quickbooks_lines="estimate_lines",
    add_request="EstimateAdd",
    mod_request="EstimateMod",
    query_request="EstimateQuery",
    quickbooks_id="TxnID",
    export_order=20,
    parents=(
        ("project", "SELECT p.id, p.id FROM projects p"),
        _coded("budget_line_items", "project_id"),
    ),
    notes="One budget per project (the item id is the project id); budget changes become further lines.",
    link_column=None,  # the project's origin_id is its job; the estimate's TxnID lives in the link
    lines=(
        LineRelation(
            "budget_line_items",
            "project_id",
            ("cost_code_id", "original_budget_amount"),
            linked=False,
        ),
        LineRelation(
            "budget_changes",
            "project_id",
            ("budget_change_id", "cost_code_id", "amount"),
            linked=False,
            where="status = 'approved'",
        ),
    ),
    amount=(
        "(SELECT coalesce(sum(original_budget_amount), 0) FROM budget_line_items b WHERE b.project_id = t.id)"
        " + (SELECT coalesce(sum(amount), 0) FROM budget_changes b WHERE b.project_id = t.id"
        " AND b.status = 'approved')",
        "TotalAmount",
    ),
)

# -- the ERP queue: what users see and what blocks sending (the columns of ``erp_item_details``) -------------
DETAILS_SQL = f"""
       SELECT '{ITEM_TYPE}', p.id, p.name || ' budget', p.project_number, NULL, NULL, p.name, p.id,
              coalesce(bl.original, 0) + coalesce(bc.approved, 0),
              CASE WHEN p.budget_locked THEN 'locked' ELSE 'unlocked' END, bl.origin_id,
              {erp_status_sql("bc.erp_status")}, p.created_by_id, NULL, ls.synced, NULL, NULL,
              {
    blockers_sql(
        "CASE WHEN NOT coalesce(p.budget_locked, false) THEN 'budget is not locked' END",
        "CASE WHEN NOT coalesce(ls.accepted, false) THEN 'project ' || p.name || ' is not synced' END",
        "CASE WHEN bl.unsynced > 0 THEN 'cost code(s) not synced: ' || bl.unsynced_codes END",
    )
}
       FROM projects p JOIN (
           SELECT b.project_id AS id, count(*) AS lines, sum(b.original_budget_amount) AS original,
                  max(b.origin_id) AS origin_id,
                  {unsynced_cost_codes_sql("b")}
           FROM budget_line_items b LEFT JOIN erp_cost_code_state s ON s.cost_code_id = b.cost_code_id
           GROUP BY 1) bl ON bl.id = p.id
       LEFT JOIN (
           SELECT project_id AS id, sum(amount) FILTER (WHERE status = 'approved') AS approved,
                  arg_max(erp_status, coalesce(updated_at, created_at)) AS erp_status
           FROM budget_changes GROUP BY 1) bc ON bc.id = p.id
       LEFT JOIN erp_link_state ls ON ls.item_type = 'project' AND ls.procore_id = p.id"""


# -- qbXML: EstimateAdd / EstimateMod --------------------------------------------------------------------------
def budget_lines(budget_line_items: pd.DataFrame | None, budget_changes: pd.DataFrame | None) -> pd.DataFrame:
    """The estimate lines of each project's budget: one original-budget line per cost code, then one line per
    approved budget change and cost code (modifications become further lines)."""
    parts = []
    if budget_line_items is not None and len(budget_line_items):
        b = budget_line_items
        g = group_agg(
            b,
            ["project_id", "cost_code_id"],
            amount=("original_budget_amount", "sum"),
            full_code=("cost_code_full_code", "first"),
        )
        g["desc"] = "Original budget " + g["full_code"].astype("string").fillna("")
        g["order"] = 0
        g["budget_change_id"] = None
        parts.append(g)
    if budget_changes is not None and len(budget_changes):
        c = budget_changes[_col(budget_changes, "status").astype(object) == "approved"]
        if len(c):
            g = group_agg(
                c,
                ["project_id", "budget_change_id", "cost_code_id"],
                amount=("amount", "sum"),
                number=("number", "first"),
                title=("title", "first"),
                full_code=("cost_code_full_code", "first"),
            )
            g["desc"] = (
                "Budget change #"
                + g["number"].astype("string").fillna("")
                + " "
                + g["title"].astype("string").fillna("")
                + " "
                + g["full_code"].astype("string").fillna("")
            )
            g["desc"] = g["desc"].str.replace(r"\s+", " ", regex=True).str.strip()
            g["order"] = 1
            parts.append(g)
    cols = ["project_id", "cost_code_id", "amount", "desc", "order", "budget_change_id"]
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    out = pd.concat([p.reindex(columns=cols) for p in parts], ignore_index=True)
    out["amount"] = _as_money(out["amount"])
    return out.sort_values(
        ["project_id", "order", "budget_change_id", "cost_code_id"], kind="stable", na_position="first"
    ).reset_index(drop=True)


def prepare(rows: pd.DataFrame, lines: Any, ctx: BuildContext) -> tuple[list[_Prepared], list[dict]]:
    """EstimateAdd frames: the estimate on the project's job, its lines the budget's (``budget_lines``); a budget
    whose estimate exists (its TxnID in the queue) is an EstimateMod that sends every line again."""
    errors: list[dict] = []
    bl = budget_lines(_lines_arg(lines, "budget_line_items"), _lines_arg(lines, "budget_changes"))
    rows = rows.assign(_job=_coalesce(_col(rows, "job_list_id"), _col(rows, "origin_id")).tolist())
    no_job = rows["_job"].isna().to_numpy()
    rows = _refuse(
        rows,
        no_job,
        ITEM_TYPE,
        "project",
        "the project is not synced to QuickBooks (no job); export the job first",
        errors,
    )
    bl = bl[bl["project_id"].isin(rows["id"].tolist())].copy()
    bl["item_list_id"], bl["item_full_name"] = _items(bl["cost_code_id"], ctx)
    no_item = bl["item_list_id"].isna() & bl["item_full_name"].isna()
    errors += _err(
        sorted(set(bl.loc[no_item, "project_id"].tolist())),
        ITEM_TYPE,
        "cost_code",
        "a budget line's cost code has no QuickBooks service item; sync the cost code first",
    )
    bad = set(bl.loc[no_item, "project_id"].tolist())
    no_lines = ~rows["id"].isin(bl["project_id"].tolist())
    errors += _err(
        rows.loc[no_lines.to_numpy(), "id"], ITEM_TYPE, "budget_line_items", "the budget has no lines"
    )
    rows = rows[~(rows["id"].isin(bad) | no_lines).to_numpy()]
    bl = bl[~bl["project_id"].isin(bad)]
    # "quickbooks_id" on a budget row is the estimate's TxnID (a project's origin_id is its job).
    with_estimate = _col(rows, "quickbooks_id").notna().to_numpy()
    add, mod = rows[~with_estimate], rows[with_estimate]
    mod = mod.assign(
        _qb_id=_col(mod, "quickbooks_id").tolist(), _edit_sequence=_col(mod, "edit_sequence").tolist()
    )
    mod, es_errors = _needs_edit_sequence(mod, ITEM_TYPE)
    errors += es_errors
    out = []
    for frame, name, action in ((add, "EstimateAdd", "add"), (mod, "EstimateMod", "mod")):
        cols: dict[str, Any] = {}
        if action == "mod":
            cols.update({"TxnID": frame["_qb_id"], "EditSequence": frame["_edit_sequence"]})
        cols["CustomerRef/ListID"] = frame["_job"]
        cols["Memo"] = "Procore budget: " + frame["name"].astype("string")
        header = _frame(frame["id"], cols)
        ln = bl[bl["project_id"].isin(frame["id"].tolist())]
        line_name = "EstimateLineAdd" if action == "add" else "EstimateLineMod"
        lcols: dict[str, Any] = {}
        if action == "mod":
            lcols["TxnLineID"] = _existing_estimate_lines(ln, frame, ctx)
        lcols.update(
            {
                "ItemRef/ListID": ln["item_list_id"],
                "ItemRef/FullName": ln["item_full_name"].where(ln["item_list_id"].isna(), None),
                "Desc": ln["desc"],
                "Amount": ln["amount"],
            }
        )
        kinds = {f"{line_name}/Amount": "money"}
        out.append(
            _Prepared(
                name,
                action,
                header,
                {line_name: _frame(ln["project_id"], lcols)},
                kinds=kinds,
                sources={"Memo": "name", f"{line_name}/Desc": "title"},
            )
        )
    return out, errors


def _existing_estimate_lines(ln: pd.DataFrame, rows: pd.DataFrame, ctx: BuildContext) -> pd.Series:
    """On an EstimateMod, keep a QuickBooks line (by TxnLineID) whose item and description match; else -1 (new).

    The submitted lines replace the stored ones, so every line is sent."""
    existing = ctx.frame("estimate_lines")
    if existing is None or existing.empty or ln.empty:
        return pd.Series(["-1"] * len(ln), index=ln.index, dtype=object)
    txn = pd.DataFrame({"project_id": rows["id"].tolist(), "TxnID": rows["_qb_id"].tolist()})
    left = ln[["project_id", "item_list_id", "desc"]].reset_index().merge(txn, on="project_id", how="left")
    right = (
        existing[["TxnID", "TxnLineID", "ItemRef_ListID", "Desc"]]
        .astype(object)
        .rename(columns={"ItemRef_ListID": "item_list_id", "Desc": "desc"})
        .drop_duplicates(["TxnID", "item_list_id", "desc"])
    )
    left = left.astype({"item_list_id": object, "desc": object, "TxnID": object})
    merged = left.merge(right, on=["TxnID", "item_list_id", "desc"], how="left").set_index("index")
    return merged["TxnLineID"].where(merged["TxnLineID"].notna(), "-1").reindex(ln.index)


# -- reconciliation: budgets <-> estimates ----------------------------------------------------------------------
_BUDGET_LINES_P = """
    SELECT b.project_id AS procore_num,
           coalesce(cc.item_id, 'code:' || coalesce(b.cost_code_full_code, cc.full_code)) AS item_key,
           coalesce(b.cost_code_full_code, cc.full_code) AS code, b.original_budget_amount AS amount
      FROM budget_line_items b LEFT JOIN _qbr_cc_item cc ON cc.cost_code_id = b.cost_code_id
    UNION ALL
    SELECT b.project_id, coalesce(cc.item_id, 'code:' || coalesce(b.cost_code_full_code, cc.full_code)),
           coalesce(b.cost_code_full_code, cc.full_code), b.amount
      FROM budget_changes b LEFT JOIN _qbr_cc_item cc ON cc.cost_code_id = b.cost_code_id
     WHERE b.status = 'approved'  -- only synced budget changes are lines on the estimate (the rest are pending)
       AND (b.origin_id IS NOT NULL OR b.erp_status IN ('synced', 'imported'))
       AND ((SELECT as_of FROM _qbr_params) IS NULL OR b.created_at IS NULL
            OR CAST(b.created_at AS DATE) <= (SELECT as_of FROM _qbr_params))"""

RULE = PairRule(
    ITEM_TYPE,
    "Budgets <-> Estimates",
    f"""WITH lines AS (SELECT CAST(procore_num AS VARCHAR) AS procore_id, sum(amount) AS amount
                         FROM ({_BUDGET_LINES_P}) GROUP BY procore_num)
        SELECT CAST(p.id AS VARCHAR) AS procore_id, e.quickbooks_id AS link_id, j.quickbooks_id AS bkey,
           p.name AS label, p.name AS project, NULL::VARCHAR AS vendor, NULL::VARCHAR AS number,
           (e.quickbooks_id IS NOT NULL OR coalesce(e.status IN {EXPECTED}, false)) AS expected,
           (coalesce(p.budget_locked, false) AND j.quickbooks_id IS NOT NULL) AS eligible, e.status AS erp_status,
           NULL::INTEGER AS name_limit, NULL::VARCHAR AS limit_value, NULL::VARCHAR AS edit_seq,
           l.amount AS amount
       FROM projects p JOIN lines l ON l.procore_id = CAST(p.id AS VARCHAR)
       LEFT JOIN _qbr_erp e ON e.item_type = '{ITEM_TYPE}' AND e.procore_id = CAST(p.id AS VARCHAR)
       LEFT JOIN _qbr_job_map j ON j.procore_id = CAST(p.id AS VARCHAR)""",
    """SELECT t."TxnID" AS quickbooks_id, t."CustomerRef_ListID" AS bkey, t."CustomerRef_FullName" AS label,
           t."CustomerRef_FullName" AS project, NULL::VARCHAR AS vendor, t."RefNumber" AS number,
           t."EditSequence" AS edit_seq, t."TotalAmount" AS amount
       FROM estimates t
       WHERE (SELECT as_of FROM _qbr_params) IS NULL OR t."TxnDate" <= (SELECT as_of FROM _qbr_params)""",
    (Field("amount", "money", "amount_differs"),),
    Lines(
        f"SELECT procore_num, item_key, amount FROM ({_BUDGET_LINES_P})",
        """SELECT l."TxnID" AS quickbooks_id, coalesce(l."ItemRef_ListID", 'code:' || l."ItemRef_FullName") AS item_key,
                  l."Amount" AS amount
             FROM estimate_lines l""",
    ),
    amount_label="budget (original + approved changes)",
)


PROCORE_ENDPOINTS = (
    # Budget links live on Procore's budget and its ERP transactions, which qbrecon does not hold: not pushed.
    Endpoint("budget_line_items", "budget_line_items", f"{V1}/budget_line_items", "project", ("project_id",)),
    Endpoint("budget_changes", "budget_changes", f"{V1}/projects/{{project_id}}/budget_changes", "project"),
    # Legacy budget transfers (companies that have not moved to budget changes); loaded as budget changes.
    Endpoint(
        "budget_modifications",
        "budget_modifications",
        f"{V1}/projects/{{project_id}}/budget_modifications",
        "project",
        incremental=False,
        optional=True,
    ),
    Endpoint(
        "adjustment_line_items",
        "budget_change_adjustment_line_items",
        f"{V1}/projects/{{project_id}}/budget_changes/{{id}}/adjustment_line_items",
        "lines",
        parent="budget_changes",
        incremental=False,
        parent_key="budget_change_id",
    ),
)

MODULE = register(
    PairModule(
        pair=PAIR,
        procore_endpoints=PROCORE_ENDPOINTS,
        approver_rows=(("accept_budget", "Accept or Reject a Budget for Export to ERP"),),
        details_sql=DETAILS_SQL,
        prepare=prepare,
        singular="budget",
        columns=(
            PROCORE_ID,
            Column("project", "Project", width=240),
            Column("amount", "Budget amount", "money", 140),
        ),
        procore_tool="budget",
        query_label="Estimates",
        reconcile=RULE,
        reconcile_title="Budgets / Estimates",
        sheet_name="Budgets - Estimates",
        tab_order=40,
        # the project's origin_id is its job: a loaded budget's estimate is named by its lines' origin_data
        loaded_link_sql="""SELECT project_id, max(json_extract_string(origin_data, '$.txn_id')),
                                  max(json_extract_string(origin_data, '$.edit_sequence'))
                           FROM budget_line_items WHERE origin_id IS NOT NULL GROUP BY 1""",
    )
)
