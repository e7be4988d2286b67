"""Projects -> QuickBooks jobs: the whole pair in one module.

A Procore project becomes a QuickBooks ``CustomerAdd``: a job whose ParentRef is the customer the approver chose
when accepting (or, with "customers are jobs", none), with its address (QuickBooks' connector refuses commas) and
start and projected end dates; a linked project changed after its sync goes out as ``CustomerMod``.
``CustomerQuery`` reads customers and jobs back; reconciliation compares jobs (sub-level customers) by link, else
by normalised name.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..entities import EntityPair
from ..qbxml import spec
from ..qbxml.build import (
    BuildContext,
    _coalesce,
    _col,
    _err,
    _frame,
    _needs_edit_sequence,
    _Prepared,
    _ref_split,
    _split_linked,
)
from . import register
from .base import (
    ADDRESS_FIELDS,
    EXPECTED,
    PROCORE_ID,
    AcceptOption,
    Column,
    Endpoint,
    Field,
    PairModule,
    PairRule,
    blockers_sql,
)
from .base import PROCORE_V1 as V1

ITEM_TYPE = "project"
_NAME_MAX = spec.max_length("CustomerAdd/Name")  # QuickBooks' limit, from the qbXML spec tables

PAIR = EntityPair(
    ITEM_TYPE,
    "Jobs",
    "projects",
    "customers",
    add_request="CustomerAdd",
    mod_request="CustomerMod",
    query_request="CustomerQuery",
    name_field="FullName",
    export_order=10,
    business_key=("name", "Name"),
    notes="A job is a QuickBooks customer whose ParentRef is the customer the approver chose.",
    link_flags="is_erp_integrated = true",
    changed_fields=(
        "name",
        "active",
        "address",
        "city",
        "state_code",
        "zip",
        "country_code",
        "start_date",
        "completion_date",
    ),
)

# -- the ERP queue: what users see and what blocks sending (the columns of ``erp_item_details``) -------------
DETAILS_SQL = f"""
       SELECT '{ITEM_TYPE}', p.id, p.name, p.project_number, NULL, NULL, p.name, p.id, p.total_value,
              CASE WHEN p.active = false THEN 'inactive' ELSE 'active' END, p.origin_id, NULL, p.created_by_id,
              NULL, ls.synced, NULL, NULL,
              {
    blockers_sql(
        f"CASE WHEN length(p.name) > {_NAME_MAX} THEN 'project name is longer than {_NAME_MAX} characters (QuickBooks job name limit)' END",
        "CASE WHEN p.address LIKE '%,%' THEN 'project address contains a comma (not allowed by the QuickBooks Desktop connector)' END",
    )
}
       FROM projects p LEFT JOIN erp_link_state ls ON ls.item_type = 'project' AND ls.procore_id = p.id"""


# -- qbXML: CustomerAdd / CustomerMod (a job under its customer) ----------------------------------------------
def prepare(rows: pd.DataFrame, lines: Any, ctx: BuildContext) -> tuple[list[_Prepared], list[dict]]:
    errors: list[dict] = []
    comma = pd.Series(False, index=rows.index)
    for col in ADDRESS_FIELDS.values():
        has = _col(rows, col).astype(object).map(lambda v: isinstance(v, str) and "," in v)
        for pid in rows.loc[has.to_numpy(), "id"]:
            errors += _err(
                [pid],
                ITEM_TYPE,
                col,
                "QuickBooks job addresses may not contain commas; "
                "remove the comma from the project address in Procore",
            )
        comma |= has
    rows = rows[~comma.to_numpy()]
    add, mod = _split_linked(rows)
    cust_id, cust_name = _ref_split(_col(add, "customer"))
    parent_id = _coalesce(_col(add, "parent_customer_list_id"), cust_id)
    parent_name = _coalesce(_col(add, "parent_customer_full_name"), cust_name).where(parent_id.isna(), None)
    if not ctx.customers_are_jobs:
        no_parent = (parent_id.isna() & parent_name.isna()).to_numpy()
        errors += _err(
            add.loc[no_parent, "id"],
            ITEM_TYPE,
            "customer",
            "choose the QuickBooks customer this job belongs to (the job's parent) when accepting",
        )
        add, parent_id, parent_name = add[~no_parent], parent_id[~no_parent], parent_name[~no_parent]
    mod, es_errors = _needs_edit_sequence(mod, ITEM_TYPE)
    errors += es_errors
    out = []
    for frame, name, action in ((add, "CustomerAdd", "add"), (mod, "CustomerMod", "mod")):
        cols: dict[str, Any] = {}
        if action == "mod":
            cols.update({"ListID": frame["_qb_id"], "EditSequence": frame["_edit_sequence"]})
        cols["Name"] = frame["name"]
        cols["IsActive"] = _col(frame, "active")
        if action == "add":
            cols["ParentRef/ListID"], cols["ParentRef/FullName"] = parent_id, parent_name
        for leaf, col in ADDRESS_FIELDS.items():
            cols[f"BillAddress/{leaf}"] = _col(frame, col)
        cols["JobStartDate"] = _col(frame, "start_date")
        cols["JobProjectedEndDate"] = _col(frame, "completion_date")
        sources = {
            "Name": "name",
            "ParentRef/FullName": "customer",
            "ParentRef/ListID": "customer",
            **{f"BillAddress/{k}": v for k, v in ADDRESS_FIELDS.items()},
        }
        kinds = {"IsActive": "bool", "JobStartDate": "date", "JobProjectedEndDate": "date"}
        out.append(_Prepared(name, action, _frame(frame["id"], cols), kinds=kinds, sources=sources))
    return out, errors


# -- reconciliation: projects <-> jobs --------------------------------------------------------------------------
RULE = PairRule(
    ITEM_TYPE,
    "Projects <-> Jobs",
    f"""SELECT CAST(p.id AS VARCHAR) AS procore_id, nullif(trim(p.origin_id), '') AS link_id,
           qbr_norm_name(p.name) AS bkey, p.name AS label, p.name AS project, NULL::VARCHAR AS vendor,
           p.project_number AS number,
           (p.origin_id IS NOT NULL OR coalesce(e.status IN {EXPECTED}, false)) AS expected,
           (coalesce(p.is_erp_integrated, false) OR coalesce(p.active, true)) AS eligible,
           e.status AS erp_status, {spec.max_length("CustomerAdd/Name")} AS name_limit, p.name AS limit_value, qbr_edit_seq(p.origin_data) AS edit_seq,
           NULL::DECIMAL(18,2) AS amount, p.name AS name
       FROM projects p LEFT JOIN _qbr_erp e ON e.item_type = '{ITEM_TYPE}' AND e.procore_id = CAST(p.id AS VARCHAR)""",
    """SELECT c."ListID" AS quickbooks_id, qbr_norm_name(c."Name") AS bkey, c."FullName" AS label,
           c."Name" AS project, NULL::VARCHAR AS vendor, NULL::VARCHAR AS number, c."EditSequence" AS edit_seq,
           NULL::DECIMAL(18,2) AS amount, c."Name" AS name
       FROM customers c WHERE coalesce(c."Sublevel", 0) >= 1""",
    (Field("name", "text", "name_differs"),),
    maps=(("_qbr_job_map", f"SELECT procore_id, quickbooks_id FROM _qbr_{ITEM_TYPE}_m"),),
)

# Accepting a new job: the top-level QuickBooks customer it goes under (ListID or FullName), checked against the
# loaded customers list; a job already linked keeps its parent.
PARENT_CUSTOMER = AcceptOption(
    "customer",
    "QuickBooks customer (parent of the job)",
    "Projects: the QuickBooks customer (ListID or FullName) that becomes the parent.",
    stored=(("parent_customer_list_id", "{o}.list_id"), ("parent_customer_full_name", "{o}.full_name")),
    join="""SELECT s2.item_type, s2.procore_id, count(cu."ListID") AS n, any_value(cu."ListID") AS list_id,
                   any_value(cu."FullName") AS full_name, max(coalesce(cu."Sublevel", 0)) AS sublevel,
                   bool_or(cu."IsActive" = false) AS inactive
            FROM {sel} s2 JOIN customers cu
              ON cu."ListID" = s2.customer OR lower(cu."FullName") = lower(s2.customer)
            WHERE s2.item_type = '{item_type}' GROUP BY 1, 2""",
    check="""CASE WHEN e.quickbooks_id IS NULL THEN
                 CASE WHEN s.customer IS NULL THEN 'choose the QuickBooks customer that becomes the job''s parent (customer=...)'
                      WHEN {o}.n IS NULL THEN 'unknown QuickBooks customer ' || s.customer || ' (not in the loaded customers list)'
                      WHEN {o}.n > 1 THEN 'QuickBooks customer ' || s.customer || ' is ambiguous; give its ListID'
                      WHEN {o}.sublevel > 0 THEN 'QuickBooks customer ' || {o}.full_name || ' is a job (Sublevel ' || {o}.sublevel || '), not a top-level customer'
                      WHEN {o}.inactive THEN 'QuickBooks customer ' || {o}.full_name || ' is inactive' END
             END""",
    # customers a new job can go under: active top-level customers (jobs themselves excluded)
    choices_sql='SELECT "FullName" FROM customers WHERE coalesce("Sublevel", 0) = 0 AND coalesce("IsActive", true) '
    'ORDER BY "FullName"',
    required="Choose the QuickBooks customer the job goes under.",
)

PROCORE_ENDPOINTS = (
    Endpoint(
        "projects",
        "projects",
        f"{V1}/projects",
        "company",
        ("company_id",),
        table="projects",
        sync=f"{V1}/projects/sync",
    ),
)

MODULE = register(
    PairModule(
        pair=PAIR,
        procore_endpoints=PROCORE_ENDPOINTS,
        approver_rows=(("accept_project", "Accept or Reject a Project for Export to ERP"),),
        details_sql=DETAILS_SQL,
        prepare=prepare,
        singular="job",
        mail_noun="project",
        columns=(
            PROCORE_ID,
            Column("number", "Project #", width=100),
            Column("name", "Project", width=240),
        ),
        procore_tool="projects",
        query_label="Customers and jobs",
        query_kind="list",
        query_line_items=False,
        reconcile=RULE,
        reconcile_title="Projects / Jobs",
        sheet_name="Projects - Jobs",
        accept_options=(PARENT_CUSTOMER,),
        tab_order=10,
        referenced_as=("customer", "customer:job", "job"),  # how a 3140 names a missing record of this pair
    )
)
