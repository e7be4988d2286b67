"""Standard cost codes -> QuickBooks service items: the whole pair in one module.

A standard cost code becomes a QuickBooks ``ItemServiceAdd`` named by its full code, its name as the description
and the "Expense account for new service items" setting as its account; a project cost code uses its standard
code's item (its ``origin_id`` is "job ListID|item ListID"). A linked cost code changed after its sync goes out as
``ItemServiceMod``. ``ItemQuery`` reads items back; reconciliation compares service items (not the retainage
item) by link, else by full code.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..entities import EntityPair
from ..errors import SettingMissing
from ..qbxml import spec
from ..qbxml.build import (
    BuildContext,
    _col,
    _err,
    _frame,
    _needs_edit_sequence,
    _Prepared,
    _ref_split,
    _split_linked,
)
from . import register
from .base import EXPECTED, PROCORE_ID, Column, Endpoint, Field, PairModule, PairRule
from .base import PROCORE_V1 as V1

ITEM_TYPE = "cost_code"

PAIR = EntityPair(
    ITEM_TYPE,
    "Cost Codes",
    "cost_codes",
    "items",
    add_request="ItemServiceAdd",
    mod_request="ItemServiceMod",
    query_request="ItemQuery",
    name_field="FullName",
    export_order=10,
    business_key=("full_code", "Name"),
    notes="Standard cost codes only; a project cost code's origin_id is job ListID|item ListID.",
    row_filter="cost_code_level = 'standard'",
    changed_fields=("full_code", "name"),
)

# -- the ERP queue: what users see (nothing blocks a standard cost code) ------------------------------------
DETAILS_SQL = f"""
       SELECT '{ITEM_TYPE}', cc.id, coalesce(cc.name, cc.full_code), cc.full_code, NULL, NULL, NULL, NULL, NULL,
              'standard', cc.origin_id, NULL, cc.created_by_id, NULL, NULL, NULL, NULL, NULL
       FROM cost_codes cc WHERE cc.cost_code_level = 'standard'"""


# -- qbXML: ItemServiceAdd / ItemServiceMod -------------------------------------------------------------------
def prepare(rows: pd.DataFrame, lines: Any, ctx: BuildContext) -> tuple[list[_Prepared], list[dict]]:
    level = _col(rows, "cost_code_level", "standard").astype(object)
    project_level = (level == "project").to_numpy()
    errors = _err(
        rows.loc[project_level, "id"],
        ITEM_TYPE,
        "cost_code_level",
        "only standard cost codes export to QuickBooks (as service items)",
    )
    rows = rows[~project_level]
    add, mod = _split_linked(rows)
    if len(add) and not ctx.service_item_account:
        raise SettingMissing(
            "setting 'service_item_expense_account' (Expense account for new service items) is "
            "not set: new service items need an account. An ERP admin sets it with: "
            "qbrecon settings set service_item_expense_account=..."
        )
    mod, es_errors = _needs_edit_sequence(mod, ITEM_TYPE)
    errors += es_errors
    acct_id, acct_name = _ref_split(
        pd.Series([ctx.service_item_account] * len(add), index=add.index, dtype=object)
    )
    out = []
    add_cols = {
        "Name": add["full_code"],
        "SalesOrPurchase/Desc": _col(add, "name"),
        "SalesOrPurchase/AccountRef/ListID": acct_id,
        "SalesOrPurchase/AccountRef/FullName": acct_name,
    }
    mod_cols = {
        "ListID": mod["_qb_id"],
        "EditSequence": mod["_edit_sequence"],
        "Name": mod["full_code"],
        "SalesOrPurchaseMod/Desc": _col(mod, "name"),
    }
    sources = {"Name": "full_code", "SalesOrPurchase/Desc": "name", "SalesOrPurchaseMod/Desc": "name"}
    out.append(_Prepared("ItemServiceAdd", "add", _frame(add["id"], add_cols), sources=sources))
    out.append(_Prepared("ItemServiceMod", "mod", _frame(mod["id"], mod_cols), sources=sources))
    return out, errors


# -- reconciliation: standard cost codes <-> service items ------------------------------------------------------
RULE = PairRule(
    ITEM_TYPE,
    "Standard cost codes <-> Service items",
    f"""SELECT CAST(p.id AS VARCHAR) AS procore_id, qbr_item_part(p.origin_id) AS link_id,
           qbr_norm_ref(p.full_code) AS bkey, p.full_code AS label, NULL::VARCHAR AS project,
           NULL::VARCHAR AS vendor, p.full_code AS number,
           (p.origin_id IS NOT NULL OR coalesce(e.status IN {EXPECTED}, false)) AS expected, true AS eligible, e.status AS erp_status,
           {spec.max_length("ItemServiceAdd/Name")} AS name_limit, p.full_code AS limit_value, qbr_edit_seq(p.origin_data) AS edit_seq,
           NULL::DECIMAL(18,2) AS amount, p.full_code AS name
       FROM cost_codes p
       LEFT JOIN _qbr_erp e ON e.item_type = '{ITEM_TYPE}' AND e.procore_id = CAST(p.id AS VARCHAR)
       WHERE p.cost_code_level = 'standard'""",
    # the retainage item is a plain service item on purpose: it is not a cost code
    """SELECT i."ListID" AS quickbooks_id, qbr_norm_ref(i."Name") AS bkey, i."FullName" AS label,
           NULL::VARCHAR AS project, NULL::VARCHAR AS vendor, i."Name" AS number, i."EditSequence" AS edit_seq,
           NULL::DECIMAL(18,2) AS amount, i."Name" AS name
       FROM items i
       WHERE lower(replace(i."ItemType", 'Item', '')) = 'service'
         AND i."ListID" IS DISTINCT FROM (SELECT retainage_item FROM _qbr_params)""",
    (Field("name", "text", "name_differs"),),
    maps=(
        # every cost code (standard or project) -> its QuickBooks item: its own link, its standard code's, or the
        # item matched by full code
        (
            "_qbr_cc_item",
            f"""WITH std AS (SELECT c.full_code, any_value(m.quickbooks_id) AS item_id
                              FROM _qbr_{ITEM_TYPE}_m m JOIN cost_codes c
                                ON c.cost_code_level = 'standard' AND CAST(c.id AS VARCHAR) = m.procore_id
                             GROUP BY c.full_code)
               SELECT DISTINCT ON (c.id) c.id AS cost_code_id, c.full_code,
                      coalesce(own.quickbooks_id, qbr_item_part(c.origin_id), via_std.quickbooks_id, std.item_id)
                          AS item_id
                 FROM cost_codes c
                 LEFT JOIN _qbr_{ITEM_TYPE}_m own
                   ON c.cost_code_level = 'standard' AND own.procore_id = CAST(c.id AS VARCHAR)
                 LEFT JOIN _qbr_{ITEM_TYPE}_m via_std ON via_std.procore_id = CAST(c.standard_cost_code_id AS VARCHAR)
                 LEFT JOIN std ON std.full_code = c.full_code
                ORDER BY c.id, (c.cost_code_level = 'project') DESC""",
        ),
        # what a line's item is called in findings: the cost code, else the item's name
        (
            "_qbr_item_label",
            """SELECT hash(item_key) AS ih, min(code) AS code FROM (
                   SELECT coalesce(item_id, 'code:' || full_code) AS item_key, full_code AS code FROM _qbr_cc_item
                   UNION ALL SELECT 'code:' || full_code, full_code FROM cost_codes
                   UNION ALL SELECT "ListID", "Name" FROM items
                   UNION ALL SELECT 'code:' || "FullName", "FullName" FROM items) GROUP BY 1""",
        ),
    ),
)

PROCORE_ENDPOINTS = (
    Endpoint(
        "standard_cost_codes",
        "cost_codes",
        f"{V1}/standard_cost_codes",
        "company",
        ("company_id",),
        table="cost_codes",
        sync=f"{V1}/standard_cost_codes/sync",
    ),
    Endpoint(
        "cost_codes",
        "cost_codes",
        f"{V1}/cost_codes",
        "project",
        ("project_id",),
        table="cost_codes",
        sync=f"{V1}/cost_codes/sync",
    ),
)

MODULE = register(
    PairModule(
        pair=PAIR,
        procore_endpoints=PROCORE_ENDPOINTS,
        approver_rows=(("accept_cost_code", "Accept or Reject Cost Codes for Export to ERP"),),
        details_sql=DETAILS_SQL,
        prepare=prepare,
        singular="cost code",
        columns=(
            PROCORE_ID,
            Column("number", "Cost code", width=110),
            Column("name", "Description", width=260),
        ),
        procore_tool="admin",
        query_label="Items",
        query_kind="list",
        query_line_items=False,
        reconcile=RULE,
        reconcile_title="Cost codes / Service items",
        sheet_name="Cost codes - Items",
        # only new service items need the account (a Mod does not send one)
        required_settings=(
            (
                "service_item_expense_account",
                "accepted cost code(s) wait to be added to QuickBooks as service items, which need an account",
                """SELECT count(*) FROM erp_items e JOIN cost_codes c ON c.id = e.procore_id AND c.cost_code_level = 'standard'
        WHERE e.item_type = 'cost_code' AND e.status = 'exporting' AND coalesce(e.quickbooks_id, c.origin_id) IS NULL""",
            ),
        ),
        tab_order=30,
        referenced_as=("item", "service item"),  # how a 3140 names a missing record of this pair
    )
)
