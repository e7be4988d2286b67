"""Ready to Import: QuickBooks vendors and jobs Procore lacks, and linking a Procore project to an existing job.

Kept out, with the reason: sub jobs (Sublevel 2 and deeper; "sub jobs are not supported for QuickBooks-integrated
projects"), archived ERP companies (``erp.companies``) and inactive records. A record whose import is under way (``procore_imports``: created, or its payload
written for Procore) is not offered again; once Procore has it (origin_id = its ListID) it is linked. Creating the
Procore records is ``qbrecon.procore.imports.accept_imports``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import BatchRejected
from ..pairs import company, project
from . import permissions

# procore_imports is declared in migrations/0002_procore_api.sql.


_PROJECT = project.ITEM_TYPE
SUB_JOB_REASON = "sub job: sub jobs are not supported for QuickBooks-integrated projects"
# the ERP queue's item type of what the import creates
ITEM_TYPE = {"vendor": company.ITEM_TYPE, "job": project.ITEM_TYPE}

CANDIDATES_SQL = f"""
SELECT 'vendor' AS kind, v."ListID" AS list_id, v."Name" AS name, v."Name" AS full_name,
       v."VendorTypeRef_FullName" AS vendor_type, NULL AS parent_customer, NULL::INTEGER AS sublevel,
       v."EditSequence" AS edit_sequence,
       CASE WHEN EXISTS (SELECT 1 FROM erp_archived_companies a WHERE a.list_id = v."ListID")
            THEN 'archived ERP company (restore it to import it)' END AS reason
FROM vendors v
WHERE coalesce(v."IsActive", true)
  AND NOT EXISTS (SELECT 1 FROM companies c WHERE c.origin_id = v."ListID")
  AND NOT EXISTS (SELECT 1 FROM erp_items e WHERE e.item_type = '{company.ITEM_TYPE}' AND e.quickbooks_id = v."ListID")
  AND NOT EXISTS (SELECT 1 FROM procore_imports i WHERE i.list_id = v."ListID")
UNION ALL
SELECT 'job', cu."ListID", cu."Name", cu."FullName", NULL, cu."ParentRef_FullName", cu."Sublevel",
       cu."EditSequence",
       CASE WHEN cu."Sublevel" >= 2 THEN 'Sublevel ' || cu."Sublevel" || ' ' || $sub_job END
FROM customers cu
WHERE coalesce(cu."Sublevel", 0) >= 1 AND coalesce(cu."IsActive", true)
  AND NOT EXISTS (SELECT 1 FROM projects p WHERE p.origin_id = cu."ListID")
  AND NOT EXISTS (SELECT 1 FROM erp_items e WHERE e.item_type = '{project.ITEM_TYPE}' AND e.quickbooks_id = cu."ListID")
  AND NOT EXISTS (SELECT 1 FROM procore_imports i WHERE i.list_id = cu."ListID")
"""


def import_candidates(ws: Any) -> pd.DataFrame:
    """QuickBooks vendors and jobs Procore lacks: Ready to Import (``reason`` empty) or kept out (``reason``)."""
    return ws.store.frame(f"SELECT * FROM ({_candidates_sql()}) ORDER BY kind, full_name")


def _candidates_sql() -> str:
    return CANDIDATES_SQL.replace("$sub_job", "'" + SUB_JOB_REASON.replace("'", "''") + "'")


def ready_to_import(ws: Any, kind: str | None = None) -> pd.DataFrame:
    """The Ready to Import list: vendors and jobs (Customer:Job, Sublevel 1) Procore lacks."""
    frame = import_candidates(ws)
    frame = frame[frame["reason"].isna()]
    if kind:
        frame = frame[frame["kind"] == kind]
    return frame.drop(columns=["reason"]).reset_index(drop=True)


def ready_counts_sql() -> str:
    """``item_type, status, items`` rows for the Ready to Import filter (the dashboard's counts)."""
    sql = _candidates_sql()
    return (
        f"SELECT CASE kind WHEN 'vendor' THEN '{ITEM_TYPE['vendor']}' ELSE '{ITEM_TYPE['job']}' END AS item_type, "
        f"'ready_to_import' AS status, count(*) AS items FROM ({sql}) WHERE reason IS NULL GROUP BY ALL"
    )


def link_project_to_job(ws: Any, pairs: list[tuple[int, str]], *, by: int | str) -> int:
    """Link Procore projects to existing QuickBooks jobs (instead of creating a job): each project must be
    unlinked, the job a Customer:Job (Sublevel 1) linked to no project. Procore learns it at the next push."""
    user = permissions.require(ws.store, by, "link_vendor")
    frame = pd.DataFrame(pairs, columns=["project_id", "list_id"])
    frame["project_id"] = frame["project_id"].astype("int64")
    problems = []
    with ws.store.transaction() as con:
        con.register("_link_jobs", frame)
        try:
            for pid, lid, problem in con.execute(
                f"""SELECT k.project_id, k.list_id, unnest([
                      CASE WHEN p.id IS NULL THEN 'no Procore project ' || k.project_id END,
                      CASE WHEN p.origin_id IS NOT NULL THEN 'project is already linked to ' || p.origin_id END,
                      CASE WHEN e.status IN ('synced', 'exporting') THEN 'project is ' || e.status END,
                      CASE WHEN cu."ListID" IS NULL THEN 'no QuickBooks job ' || k.list_id END,
                      CASE WHEN cu."Sublevel" >= 2 THEN '{SUB_JOB_REASON}' END,
                      CASE WHEN cu."Sublevel" = 0 THEN 'a customer, not a job (Customer:Job)' END,
                      CASE WHEN EXISTS (SELECT 1 FROM projects o WHERE o.origin_id = k.list_id)
                             OR EXISTS (SELECT 1 FROM erp_items o WHERE o.item_type = '{_PROJECT}' AND o.quickbooks_id = k.list_id)
                           THEN 'job ' || k.list_id || ' is already linked to a project' END,
                      CASE WHEN count(*) OVER (PARTITION BY k.list_id) > 1 THEN 'job listed twice' END,
                      CASE WHEN count(*) OVER (PARTITION BY k.project_id) > 1 THEN 'project listed twice' END
                    ]) AS problem
                    FROM _link_jobs k LEFT JOIN projects p ON p.id = k.project_id
                    LEFT JOIN customers cu ON cu."ListID" = k.list_id
                    LEFT JOIN erp_items e ON e.item_type = '{_PROJECT}' AND e.procore_id = k.project_id"""
            ).fetchall():
                if problem is not None:
                    problems.append({"project_id": pid, "list_id": lid, "problem": problem})
            if problems:
                raise BatchRejected("link_project_to_job", problems)
            con.execute(
                """UPDATE projects p SET origin_id = k.list_id, is_erp_integrated = true,
                          origin_data = json_object('edit_sequence', cu."EditSequence")::VARCHAR
                   FROM _link_jobs k JOIN customers cu ON cu."ListID" = k.list_id WHERE p.id = k.project_id"""
            )
            con.execute(
                f"""INSERT INTO erp_items (item_type, procore_id, status, attempts, updated_at)
                   SELECT '{_PROJECT}', k.project_id, 'not_sent', 0, now() FROM _link_jobs k
                   WHERE NOT EXISTS (SELECT 1 FROM erp_items e WHERE e.item_type = '{_PROJECT}' AND e.procore_id = k.project_id)"""
            )
            con.execute(
                f"""INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id,
                                          from_status, to_status, detail)
                   SELECT nextval('erp_audit_seq'), now(), ?, ?, 'link_job', '{_PROJECT}', k.project_id, e.status,
                          'synced', 'linked to QuickBooks job ' || cu."FullName" || ' (' || k.list_id || ')'
                   FROM _link_jobs k JOIN erp_items e ON e.item_type = '{_PROJECT}' AND e.procore_id = k.project_id
                   JOIN customers cu ON cu."ListID" = k.list_id""",
                [user["id"], user["name"]],
            )
            con.execute(
                f"""UPDATE erp_items e SET status = 'synced', quickbooks_id = k.list_id, edit_sequence = cu."EditSequence",
                          decided_by = ?, decided_at = now(), updated_at = now()
                   FROM _link_jobs k JOIN customers cu ON cu."ListID" = k.list_id
                   WHERE e.item_type = '{_PROJECT}' AND e.procore_id = k.project_id""",
                [user["id"]],
            )
        finally:
            con.unregister("_link_jobs")
    return len(frame)
