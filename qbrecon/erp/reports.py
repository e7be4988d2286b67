"""ERP reports, as Procore's ERP Integrations tool names them, computed in SQL over the workspace.

- Accountant report: everything synced in a period (from the audit log, so it is what actually happened).
- ERP job costs: QuickBooks costs per job and cost code against the Procore budget. QuickBooks job costs are the
  lines that name a customer:job (``JOB_COST_LINES``): item and expense lines of bills, checks and credit card
  charges (``CustomerRef``), and journal entry lines whose ``EntityRef`` is a customer or job (debit positive,
  credit negative). Lines on an item land on the budget line of that item's cost code; expense and journal
  entry lines have no item, so no cost code: they count in the job's costs, on no budget line.
- Unsyncable direct costs: Procore costs that cannot reach QuickBooks, each with the reason.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from .. import pairs as _pairs
from ..store import Store
from . import permissions


def accountant_report(
    store: Store,
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
) -> pd.DataFrame:
    """Every item that became Synced in [start, end) (dates; open ends allowed), oldest first."""
    where, params = ["a.to_status = 'synced'", "a.action IN ('export_succeeded', 'link_vendor')"], []
    if start is not None:
        where.append('a."at" >= ?::TIMESTAMPTZ')
        params.append(str(start))
    if end is not None:
        where.append('a."at" < ?::TIMESTAMPTZ')
        params.append(str(end))
    return store.frame(
        f"""SELECT a."at" AS synced_at, q.item_label, a.item_type, a.procore_id, q.name, q.number, q.vendor,
                   q.project, q.amount, q.quickbooks_id, q.sent_by_name, q.decided_by_name AS accepted_by,
                   a.action, a.request_message_id, a.response_message_id, a.detail
            FROM erp_audit a LEFT JOIN erp_queue q ON q.item_type = a.item_type AND q.procore_id = a.procore_id
            WHERE {" AND ".join(where)} ORDER BY a."at", a.audit_id""",
        params,
    )


# Every QuickBooks job cost line: one row per line that names a customer:job, whatever transaction holds it.
_SOURCE_LINES = """
    SELECT '{source}' AS source, l."TxnID" AS txn_id, l."TxnLineID" AS txn_line_id, h."TxnDate" AS txn_date,
           h."RefNumber" AS ref_number, l."LineKind" AS line_kind, l."CustomerRef_ListID" AS job_list_id,
           l."CustomerRef_FullName" AS job_full_name, l."ItemRef_ListID" AS item_list_id,
           l."ItemRef_FullName" AS item_full_name, l."AccountRef_FullName" AS account, l."Amount" AS amount,
           coalesce(l."Memo", l."Desc") AS memo
    FROM {lines} l LEFT JOIN {header} h ON h."TxnID" = l."TxnID"
    WHERE l."CustomerRef_ListID" IS NOT NULL"""
JOB_COST_LINES = " UNION ALL ".join(
    [
        _SOURCE_LINES.format(source="bill", lines="bill_lines", header="bills"),
        _SOURCE_LINES.format(source="check", lines="check_lines", header="checks"),
        _SOURCE_LINES.format(
            source="credit_card_charge", lines="credit_card_charge_lines", header="credit_card_charges"
        ),
        # a journal entry line is a job cost when its name is a customer:job (not a vendor or an employee)
        """
    SELECT 'journal_entry', l."TxnID", l."TxnLineID", h."TxnDate", h."RefNumber", l."LineKind",
           l."EntityRef_ListID", l."EntityRef_FullName", NULL, NULL, l."AccountRef_FullName",
           CASE l."LineKind" WHEN 'credit' THEN -l."Amount" ELSE l."Amount" END, l."Memo"
    FROM journal_entry_lines l LEFT JOIN journal_entries h ON h."TxnID" = l."TxnID"
    WHERE l."EntityRef_ListID" IN (SELECT "ListID" FROM customers UNION ALL
                                   SELECT origin_id FROM projects WHERE origin_id IS NOT NULL)""",
    ]
)

_JOB_COSTS = f"""
WITH qb AS (  -- QuickBooks job costs per job and item (no item: expense and journal entry lines)
    SELECT job_list_id, item_list_id, any_value(job_full_name) AS job_full_name,
           any_value(item_full_name) AS item_full_name, sum(amount) AS quickbooks_costs, count(*) AS quickbooks_lines,
           string_agg(DISTINCT source, ', ' ORDER BY source) AS quickbooks_sources
    FROM ({JOB_COST_LINES}) GROUP BY 1, 2),
pc AS (  -- Procore budget per project and cost code, keyed by the QuickBooks job and item
    SELECT p.origin_id AS job_list_id, s.item_list_id, b.project_id, any_value(p.name) AS project,
           any_value(coalesce(b.cost_code_full_code, s.full_code)) AS cost_code,
           sum(b.original_budget_amount) AS original_budget_amount,
           sum(b.job_to_date_costs) AS procore_job_to_date_costs, sum(b.direct_costs) AS procore_direct_costs
    FROM budget_line_items b JOIN projects p ON p.id = b.project_id
    LEFT JOIN erp_cost_code_state s ON s.cost_code_id = b.cost_code_id
    GROUP BY 1, 2, 3)
SELECT coalesce(pc.project_id, pj.id) AS project_id, coalesce(pc.project, pj.name, qb.job_full_name) AS project,
       coalesce(pc.job_list_id, qb.job_list_id) AS job_list_id,
       coalesce(pc.cost_code, qb.item_full_name) AS cost_code, coalesce(pc.item_list_id, qb.item_list_id) AS item_list_id,
       pc.original_budget_amount, pc.procore_job_to_date_costs, pc.procore_direct_costs,
       coalesce(qb.quickbooks_costs, 0)::DECIMAL(18,2) AS quickbooks_costs, coalesce(qb.quickbooks_lines, 0) AS quickbooks_lines,
       qb.quickbooks_sources,
       (coalesce(qb.quickbooks_costs, 0) - coalesce(pc.procore_job_to_date_costs, 0))::DECIMAL(18,2) AS difference,
       CASE WHEN pc.project_id IS NULL AND pj.id IS NULL THEN 'QuickBooks job is not linked to a Procore project'
            WHEN pc.project_id IS NULL AND qb.item_list_id IS NULL
                 THEN 'QuickBooks job costs with no item (expense or journal entry lines): no cost code, so on no budget line'
            WHEN pc.project_id IS NULL THEN 'QuickBooks costs on an item with no budget line'
            WHEN pc.job_list_id IS NULL THEN 'project is not synced'
            WHEN coalesce(qb.quickbooks_costs, 0) <> coalesce(pc.procore_job_to_date_costs, 0) THEN 'job-to-date cost differs'
       END AS note
FROM pc FULL OUTER JOIN qb ON qb.job_list_id = pc.job_list_id AND qb.item_list_id = pc.item_list_id
LEFT JOIN projects pj ON pj.origin_id = qb.job_list_id
"""


def job_cost_lines(store: Store, project_id: int | None = None) -> pd.DataFrame:
    """Every QuickBooks job cost line (of one project's job, or of every job), oldest first, with the Procore
    project and the budget line it lands on (the first line of the item's cost code, as the sync writes it), or
    why it lands on none."""
    where = f"WHERE p.id = {int(project_id)}" if project_id is not None else ""
    return store.frame(
        f"""SELECT p.id AS project_id, p.name AS project, j.*, bl.budget_line_item_id, bl.cost_code,
                   CASE WHEN p.id IS NULL THEN 'QuickBooks job is not linked to a Procore project'
                        WHEN j.item_list_id IS NULL THEN 'no item on the line: no cost code, so on no budget line'
                        WHEN bl.budget_line_item_id IS NULL
                             THEN 'no budget line of the project has this item''s cost code'
                   END AS not_on_budget_because
            FROM ({JOB_COST_LINES}) j LEFT JOIN projects p ON p.origin_id = j.job_list_id
            LEFT JOIN (SELECT b.project_id, s.item_list_id, min(b.id) AS budget_line_item_id,
                              any_value(coalesce(b.cost_code_full_code, s.full_code)) AS cost_code
                       FROM budget_line_items b JOIN erp_cost_code_state s ON s.cost_code_id = b.cost_code_id
                       WHERE s.item_list_id IS NOT NULL GROUP BY 1, 2) bl
                   ON bl.project_id = p.id AND bl.item_list_id = j.item_list_id
            {where} ORDER BY j.job_list_id, j.txn_date NULLS LAST, j.source, j.txn_id, j.txn_line_id"""
    )


def erp_job_costs(store: Store, project_id: int | None = None) -> pd.DataFrame:
    """QuickBooks costs per job and cost code against the Procore budget (one row per job + cost code)."""
    where = f"WHERE project_id = {int(project_id)}" if project_id is not None else ""
    return store.frame(f"SELECT * FROM ({_JOB_COSTS}) {where} ORDER BY project_id NULLS LAST, cost_code")


# a pair's ``unsyncable_sql``: its Procore costs that cannot sync to QuickBooks Desktop, one row per cost
_UNSYNCABLE_COLUMNS = "source, procore_id, project_id, project, cost_code, amount, hours, date, reason"


def unsyncable_direct_costs(store: Store, project_id: int | None = None) -> pd.DataFrame:
    """Procore costs that cannot sync to QuickBooks Desktop, one row per cost with the reason."""
    where = f"WHERE project_id = {int(project_id)}" if project_id is not None else ""
    parts = (
        " UNION ALL ".join(
            f"SELECT * FROM ({sql}) AS u({_UNSYNCABLE_COLUMNS})"
            for m in _pairs.registered()
            for sql in m.unsyncable_sql
        )
        or f"SELECT * FROM (SELECT {', '.join(['NULL'] * 9)}) AS u({_UNSYNCABLE_COLUMNS}) WHERE false"
    )
    return store.frame(
        f"""SELECT * FROM ({parts})
        {where} ORDER BY project_id NULLS LAST, source, procore_id"""
    )


class ReportsService:
    """``ws.accountant_report``, ``ws.erp_job_costs``, ``ws.unsyncable_direct_costs``; each checks the viewer
    against the permissions matrix (the module functions above are the unchecked SQL)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def accountant_report(
        self,
        start: dt.date | str | None = None,
        end: dt.date | str | None = None,
        *,
        by: int | str,
    ) -> pd.DataFrame:
        """Everything synced in [start, end); ERP Integrations 'Admin' only."""
        permissions.require(self.store, by, "view_accountant_report")
        return accountant_report(self.store, start, end)

    def erp_job_costs(self, project_id: int | None = None, *, by: int | str) -> pd.DataFrame:
        """QuickBooks job costs per job and cost code against the Procore budget. Company level: ERP
        Integrations 'Admin'; one project: that, or Reports 'Read Only'+ and 'Admin' on Budget or Prime
        Contract."""
        permissions.require(
            self.store, by, "view_job_costs" if project_id is None else "view_job_costs_project"
        )
        return erp_job_costs(self.store, project_id)

    def job_cost_transactions(self, project_id: int | None = None, *, by: int | str) -> pd.DataFrame:
        """The QuickBooks transaction lines behind the job costs (bills, checks, credit card charges, journal
        entries), each with where it lands in the Procore budget or why it does not. Who may: as
        ``erp_job_costs``."""
        permissions.require(
            self.store, by, "view_job_costs" if project_id is None else "view_job_costs_project"
        )
        return job_cost_lines(self.store, project_id)

    def unsyncable_direct_costs(self, project_id: int | None = None, *, by: int | str) -> pd.DataFrame:
        """Procore costs that cannot sync to QuickBooks Desktop, with the reason (Reports 'Read Only'+ and
        'Admin' on Budget or Prime Contract; no ERP Integrations permission needed)."""
        permissions.require(self.store, by, "view_unsyncable")
        return unsyncable_direct_costs(self.store, project_id)
