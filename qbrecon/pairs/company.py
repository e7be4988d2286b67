"""Companies -> QuickBooks vendors: the whole pair in one module.

A Procore directory company becomes a QuickBooks ``VendorAdd`` (name, legal name as company name, address, phone,
fax, email, the vendor type the approver chose or the default); a linked company changed after its sync goes out
as ``VendorMod``. ``VendorQuery`` reads vendors back; reconciliation matches by link, else by normalised name, and
a linked vendor whose name differs was renamed in QuickBooks.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..entities import EntityPair
from ..qbxml import spec
from ..qbxml.build import (
    BuildContext,
    _aref_split,
    _atext,
    _linked_need_edit_sequence,
    _linked_split,
    _Prepared,
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

ITEM_TYPE = "company"
_NAME_MAX = spec.max_length("VendorAdd/Name")  # QuickBooks' limit, from the qbXML spec tables

PAIR = EntityPair(
    ITEM_TYPE,
    "Companies",
    "companies",
    "vendors",
    add_request="VendorAdd",
    mod_request="VendorMod",
    query_request="VendorQuery",
    name_field="Name",
    can_unlink=True,
    export_order=10,
    business_key=("name", "Name"),
    link_flags="synced_to_erp = true",
    changed_fields=(
        "name",
        "legal_name",
        "address",
        "city",
        "state_code",
        "zip",
        "country_code",
        "business_phone",
        "fax_number",
        "email_address",
        "business_id",
        "is_active",
    ),
)

# -- the ERP queue: what users see and what blocks sending (the columns of ``erp_item_details``) -------------
DETAILS_SQL = f"""
       SELECT '{ITEM_TYPE}' AS item_type, c.id AS procore_id, c.name AS name, c.origin_code AS number,
              c.name AS vendor, c.id AS vendor_id, NULL::VARCHAR AS project, NULL::BIGINT AS project_id,
              NULL::DECIMAL(18,2) AS amount, CASE WHEN c.is_active = false THEN 'inactive' ELSE 'active' END AS item_status,
              c.origin_id, NULL::VARCHAR AS procore_erp_status, c.created_by_id,
              ls.synced AS vendor_synced, NULL::BOOLEAN AS project_synced, NULL::BIGINT AS commitment_id,
              NULL::BOOLEAN AS commitment_synced,
              {
    blockers_sql(
        f"CASE WHEN length(c.name) > {_NAME_MAX} THEN 'company name is longer than {_NAME_MAX} characters (QuickBooks vendor name limit)' END",
        "CASE WHEN c.is_active = false THEN 'company is inactive' END",
    )
} AS blockers
       FROM companies c LEFT JOIN erp_link_state ls ON ls.item_type = 'company' AND ls.procore_id = c.id"""


# -- qbXML: VendorAdd / VendorMod ----------------------------------------------------------------------------
def prepare(rows: pd.DataFrame, lines: Any, ctx: BuildContext) -> tuple[list[_Prepared], list[dict]]:
    # Arrow columns throughout: every field maps one to one, so a message set's build needs no pandas per field
    fields = ["legal_name", *ADDRESS_FIELDS.values(), "business_phone", "fax_number", "email_address"]
    add, mod = _linked_split(rows, ["id", "name", "is_active", "vendor_type", *fields])
    mod, errors = _linked_need_edit_sequence(mod, ITEM_TYPE)
    out = []
    for frame, name, action in ((add, "VendorAdd", "add"), (mod, "VendorMod", "mod")):
        cols: dict[str, Any] = {"procore_id": frame["id"]}
        if action == "mod":
            cols.update({"ListID": frame["_qb_id"], "EditSequence": frame["_edit_sequence"]})
        cols["Name"] = frame["name"]
        cols["IsActive"] = frame["is_active"]
        cols["CompanyName"] = pc.coalesce(_atext(frame["legal_name"]), _atext(frame["name"]))
        for leaf, col in ADDRESS_FIELDS.items():
            cols[f"VendorAddress/{leaf}"] = frame[col]
        cols["Phone"] = frame["business_phone"]
        cols["Fax"] = frame["fax_number"]
        cols["Email"] = frame["email_address"]
        vtype = _atext(frame["vendor_type"])
        if ctx.vendor_type is not None:
            vtype = pc.coalesce(vtype, pa.scalar(str(ctx.vendor_type), pa.string()))
        cols["VendorTypeRef/ListID"], cols["VendorTypeRef/FullName"] = _aref_split(vtype)
        sources = {
            "Name": "name",
            "CompanyName": "legal_name",
            "Phone": "business_phone",
            "Fax": "fax_number",
            "Email": "email_address",
            "VendorTypeRef/FullName": "vendor_type",
            **{f"VendorAddress/{k}": v for k, v in ADDRESS_FIELDS.items()},
        }
        out.append(_Prepared(name, action, pa.table(cols), kinds={"IsActive": "bool"}, sources=sources))
    return out, errors


# -- reconciliation: companies <-> vendors ----------------------------------------------------------------------
RULE = PairRule(
    ITEM_TYPE,
    "Companies <-> Vendors",
    f"""SELECT CAST(p.id AS VARCHAR) AS procore_id, nullif(trim(p.origin_id), '') AS link_id,
           qbr_norm_name(p.name) AS bkey, p.name AS label, NULL::VARCHAR AS project, p.name AS vendor,
           NULL::VARCHAR AS number,
           (p.origin_id IS NOT NULL OR coalesce(p.synced_to_erp, false) OR coalesce(e.status IN {EXPECTED}, false)) AS expected,
           coalesce(p.is_active, true) AS eligible, e.status AS erp_status, {spec.max_length("VendorAdd/Name")} AS name_limit, p.name AS limit_value, qbr_edit_seq(p.origin_data) AS edit_seq,
           NULL::DECIMAL(18,2) AS amount, p.name AS name
       FROM companies p LEFT JOIN _qbr_erp e ON e.item_type = '{ITEM_TYPE}' AND e.procore_id = CAST(p.id AS VARCHAR)""",
    """SELECT v."ListID" AS quickbooks_id, qbr_norm_name(v."Name") AS bkey, v."Name" AS label,
           NULL::VARCHAR AS project, v."Name" AS vendor, NULL::VARCHAR AS number, v."EditSequence" AS edit_seq,
           NULL::DECIMAL(18,2) AS amount, v."Name" AS name
       FROM vendors v""",
    # a linked vendor whose name differs was renamed in QuickBooks (renames do not sync back to Procore)
    (Field("name", "text", "name_differs", explain="WHEN m.matched_by = 'link' THEN 'vendor_renamed'"),),
    maps=(("_qbr_vendor_map", f"SELECT procore_id, quickbooks_id FROM _qbr_{ITEM_TYPE}_m"),),
)

# Accepting a company: the QuickBooks vendor type its vendor gets (optional; the setting's default otherwise).
VENDOR_TYPE = AcceptOption(
    "vendor_type",
    "QuickBooks vendor type (optional)",
    "Companies: the QuickBooks vendor type.",
    # vendor types already used in QuickBooks, shown as examples
    examples_sql='SELECT DISTINCT "VendorTypeRef_FullName" AS t FROM vendors '
    'WHERE "VendorTypeRef_FullName" IS NOT NULL ORDER BY t',
    placeholder="e.g. Subcontractor",
)

PROCORE_ENDPOINTS = (
    Endpoint(
        "vendors",
        "vendors",
        f"{V1}/vendors",
        "company",
        ("company_id",),
        table="companies",
        sync=f"{V1}/vendors/sync",
    ),
)

MODULE = register(
    PairModule(
        pair=PAIR,
        procore_endpoints=PROCORE_ENDPOINTS,
        approver_rows=(
            ("accept_company", "Accept or Reject a Company for Export to ERP"),
            ("unlink_company", "Unlink a Company Synced with ERP"),
        ),
        details_sql=DETAILS_SQL,
        prepare=prepare,
        singular="company",
        columns=(PROCORE_ID, Column("name", "Company", width=280)),
        procore_tool="directory",
        query_label="Vendors",
        query_kind="list",
        query_line_items=False,
        reconcile=RULE,
        reconcile_title="Companies / Vendors",
        sheet_name="Companies - Vendors",
        accept_options=(VENDOR_TYPE,),
        tab_order=20,
        referenced_as=("vendor",),  # how a 3140 names a missing record of this pair
    )
)
