"""Timecard entries -> QuickBooks time tracking: the whole pair in one module.

An approved Procore timecard entry becomes a QuickBooks ``TimeTrackingAdd``: the employee (party) by name, the
project's Customer:Job, the cost code's service item, the hours as a duration, billable or not, and the payroll
wage item ("Set Up Your Payroll Export", ``erp/payroll.py``). A linked entry changed after its sync goes out as
``TimeTrackingMod`` (the whole entry); time already billed to the customer in QuickBooks is refused at send.
``TimeTrackingQuery`` reads time back.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa

from ..entities import EntityPair, _coded
from ..qbxml.build import (
    BuildContext,
    _coalesce,
    _col,
    _err,
    _frame,
    _items,
    _job_list_ids,
    _missing,
    _needs_edit_sequence,
    _Prepared,
    _split_linked,
)
from ..store import Store
from . import register
from .base import PROCORE_ID, Column, Endpoint, PairModule, blockers_sql
from .base import PROCORE_V1 as V1

ITEM_TYPE = "timecard_entry"

PAIR = EntityPair(
    ITEM_TYPE,
    "Time",
    "timecard_entries",
    "time_tracking",
    add_request="TimeTrackingAdd",
    mod_request="TimeTrackingMod",
    query_request="TimeTrackingQuery",
    quickbooks_id="TxnID",
    export_order=60,
    parents=(
        ("project", "SELECT t.id, t.project_id FROM timecard_entries t"),
        _coded("timecard_entries", "id"),
    ),
    changed_fields=(
        "project_id",
        "date",
        "hours",
        "description",
        "billable",
        "cost_code_id",
        "party_name",
        "payroll_item",
    ),
    # billed time is on a customer invoice in QuickBooks: changing it there would leave the invoice
    # billing hours that no longer exist, so qbrecon does not send the change
    cannot_modify=(
        "q.\"BillableStatus\" = 'HasBeenBilled'",
        "the time has been billed to the customer in QuickBooks Desktop (it is on an invoice): change "
        "the invoice and the time entry there, or reject the update",
    ),
)

# -- the ERP queue: what users see and what blocks sending (the columns of ``erp_item_details``) -------------
DETAILS_SQL = f"""
       SELECT '{ITEM_TYPE}', t.id, concat_ws(' ', t.party_name, t.date::VARCHAR), NULL, NULL, NULL, p.name,
              t.project_id, NULL, t.approval_status, t.origin_id, NULL, t.created_by_id, NULL,
              coalesce(ps.synced, false), NULL, NULL,
              {
    blockers_sql(
        "CASE WHEN coalesce(t.approval_status, '') NOT IN ('approved', 'completed') THEN 'timecard is ' || coalesce(t.approval_status, 'not approved') || '; only approved time exports' END",
        "CASE WHEN t.project_id IS NULL THEN 'no project' WHEN NOT coalesce(ps.accepted, false) THEN 'project ' || coalesce(p.name, t.project_id::VARCHAR) || ' is not synced' END",
    )
}
       FROM timecard_entries t LEFT JOIN projects p ON p.id = t.project_id
       LEFT JOIN erp_link_state ps ON ps.item_type = 'project' AND ps.procore_id = t.project_id"""


# -- qbXML: TimeTrackingAdd / TimeTrackingMod -------------------------------------------------------------------
def duration_text(hours: pd.Series) -> list[str | None]:
    """Hours (decimal) -> xsd:duration ``PT7H30M`` (whole minutes)."""
    out = []
    for h in hours.tolist():
        if _missing(h):
            out.append(None)
            continue
        minutes = int((Decimal(h) * 60).quantize(Decimal(1)))
        out.append(f"PT{minutes // 60}H{minutes % 60}M")
    return out


def prepare(rows: pd.DataFrame, lines: Any, ctx: BuildContext) -> tuple[list[_Prepared], list[dict]]:
    errors = _err(
        rows.loc[_col(rows, "party_name").isna().to_numpy(), "id"],
        ITEM_TYPE,
        "party_name",
        "the timecard entry has no employee (party) to record the time for",
    )
    rows = rows[_col(rows, "party_name").notna().to_numpy()]
    job = _coalesce(_col(rows, "job_list_id"), _job_list_ids(_col(rows, "project_id"), ctx))
    item_id, item_name = _items(_col(rows, "cost_code_id"), ctx)
    billable = _col(rows, "billable").map(
        lambda b: None if _missing(b) else ("Billable" if b else "NotBillable")
    )
    cols = {
        "TxnDate": rows["date"],
        "EntityRef/FullName": rows["party_name"],
        "CustomerRef/ListID": job,
        "ItemServiceRef/ListID": item_id,
        "ItemServiceRef/FullName": item_name.where(item_id.isna(), None),
        "Duration": pd.Series(duration_text(rows["hours"]), index=rows.index, dtype=object),
        "Notes": _col(rows, "description"),
        "BillableStatus": billable.astype(object),
        "PayrollItemWageRef/FullName": _col(rows, "payroll_item_wage"),
    }  # (erp/payroll.py maps it)
    frame = rows.assign(**{k: (v.tolist() if isinstance(v, pd.Series) else v) for k, v in cols.items()})
    # A linked entry changed after sync is a TimeTrackingMod of its QuickBooks time (the whole entry is sent)
    add, mod = _split_linked(frame)
    mod, es_errors = _needs_edit_sequence(mod, ITEM_TYPE)
    errors += es_errors
    out = []
    for part, name, action in ((add, "TimeTrackingAdd", "add"), (mod, "TimeTrackingMod", "mod")):
        head: dict[str, Any] = {}
        if action == "mod":
            head.update({"TxnID": part["_qb_id"], "EditSequence": part["_edit_sequence"]})
        head.update({k: part[k] for k in cols})
        out.append(
            _Prepared(
                name,
                action,
                _frame(part["id"], head),
                kinds={"TxnDate": "date"},
                sources={"EntityRef/FullName": "party_name", "Notes": "description"},
            )
        )
    return out, errors


# -- Set Up Your Payroll Export: each entry's payroll wage item, from ``payroll_item_map`` (``erp/payroll.py``
# keeps the map; ``*`` stands for any worker or classification) -------------------------------------------------
ANY = "*"


def with_payroll_items(store: Store, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (timecard entries) with ``payroll_item_wage``: the QuickBooks payroll item mapped for each (the
    most specific row wins: worker + classification, then any worker + classification, then worker + any)."""
    if rows.empty:
        return rows.assign(payroll_item_wage=pd.Series(dtype=object))
    keys = pa.table(
        {
            "_n": pa.array(range(len(rows)), pa.int64()),
            "worker": pa.array(
                [None if pd.isna(v) else str(v) for v in rows.get("party_name", [None] * len(rows))],
                pa.string(),
            ),
            "classification": pa.array(
                [None if pd.isna(v) else str(v) for v in rows.get("payroll_item", [None] * len(rows))],
                pa.string(),
            ),
        }
    )
    with store.transaction() as con:
        con.register("_payroll_keys", keys)
        try:
            found = con.sql(
                f"""SELECT k._n, coalesce(a.payroll_item, b.payroll_item, c.payroll_item) AS payroll_item
                    FROM _payroll_keys k
                    LEFT JOIN payroll_item_map a ON a.worker = k.worker AND a.classification = k.classification
                    LEFT JOIN payroll_item_map b ON b.worker = '{ANY}' AND b.classification = k.classification
                    LEFT JOIN payroll_item_map c ON c.worker = k.worker AND c.classification = '{ANY}'
                    ORDER BY k._n"""
            ).fetchall()
        finally:
            con.unregister("_payroll_keys")
    return rows.assign(payroll_item_wage=[item for _, item in found])


# the pair's Procore costs that cannot sync to QuickBooks Desktop (the unsyncable direct costs report), as
# (source, procore_id, project_id, project, cost_code, amount, hours, date, reason)
UNSYNCABLE = (
    f"""SELECT '{ITEM_TYPE}' AS source, t.id AS procore_id, t.project_id, p.name AS project,
           t.cost_code_name AS cost_code, NULL::DECIMAL(18,2) AS amount, t.hours, t.date,
           coalesce(d.blockers, 'timecards do not sync through Procore''s QuickBooks Desktop connector; '
                                || 'use the qbrecon time export') AS reason
    FROM timecard_entries t LEFT JOIN projects p ON p.id = t.project_id
    LEFT JOIN erp_item_details d ON d.item_type = '{ITEM_TYPE}' AND d.procore_id = t.id
    LEFT JOIN erp_items e ON e.item_type = '{ITEM_TYPE}' AND e.procore_id = t.id
    WHERE t.origin_id IS NULL AND coalesce(e.status, 'not_sent') NOT IN ('synced', 'exporting')""",
)


PROCORE_ENDPOINTS = (
    Endpoint(
        "timecard_entries", "timecard_entries", f"{V1}/projects/{{project_id}}/timecard_entries", "project"
    ),
)

MODULE = register(
    PairModule(
        pair=PAIR,
        procore_endpoints=PROCORE_ENDPOINTS,
        details_sql=DETAILS_SQL,
        prepare=prepare,
        singular="time entry",
        unsyncable_sql=UNSYNCABLE,
        columns=(
            PROCORE_ID,
            Column("name", "Who and date", width=240),
            Column("project", "Project", width=200),
            Column("hours", "Hours", "hours", 90),
        ),
        queue_columns=(("hours", "t.hours"),),
        queue_join="LEFT JOIN timecard_entries t ON t.id = e.procore_id",
        procore_tool="timesheets",
        query_label="Time tracking",
        query_kind="txn",
        query_line_items=False,
        tab_order=80,
        plural="time entries",
        before_build=with_payroll_items,
    )
)
