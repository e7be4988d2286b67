"""ERP companies and jobs not linked to Procore: archiving (seed 001) and sub jobs.

- *Archive an ERP Company in Procore*: a QuickBooks vendor that should never become a Procore company leaves the
  "Ready to Import" list; *View the Archived Companies List for ERP* shows them, and they can be restored.
- *Sub jobs*: Procore's QuickBooks Desktop connector does not support sub jobs (a QuickBooks job under a job,
  ``Sublevel`` 2 or deeper). ``erp.imports`` keeps them out of "Ready to Import"; ``sub_jobs()`` lists them with
  the reason.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..errors import BatchRejected, InputError
from ..pairs.company import ITEM_TYPE
from ..store import Store
from . import permissions
from .states import STATUSES  # noqa: F401  (erp_audit is registered there)

# its tables: qbrecon/migrations/0004_seed_rules.sql


class CompaniesService:
    """``ws.archive_erp_companies``, ``ws.restore_erp_companies``, ``ws.archived_erp_companies``, ``ws.sub_jobs``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def archive_erp_companies(self, list_ids: Iterable[str], *, by: int | str) -> int:
        """Archive QuickBooks vendors linked to no Procore company: they leave "Ready to Import" (accounting
        approver). All or nothing; returns how many were archived."""
        user = permissions.require(self.store, by, "archive_company")
        ids = sorted({str(i) for i in list_ids})
        if not ids:
            raise InputError("no ERP companies given", field="list_ids")
        problems = []
        for list_id in ids:
            row = self.store.execute(
                f"""SELECT v."Name", EXISTS (SELECT 1 FROM companies c WHERE c.origin_id = v."ListID")
                          OR EXISTS (SELECT 1 FROM erp_items e WHERE e.item_type = '{ITEM_TYPE}' AND e.quickbooks_id = v."ListID"),
                          EXISTS (SELECT 1 FROM erp_archived_companies a WHERE a.list_id = v."ListID")
                   FROM vendors v WHERE v."ListID" = ?""",
                [list_id],
            ).fetchall()
            if not row:
                problems.append({"list_id": list_id, "problem": "no QuickBooks vendor with this ListID"})
            elif row[0][1]:
                problems.append(
                    {"list_id": list_id, "problem": f"{row[0][0]} is linked to a Procore company"}
                )
            elif row[0][2]:
                problems.append({"list_id": list_id, "problem": f"{row[0][0]} is archived already"})
        if problems:
            raise BatchRejected("archive_erp_companies", problems)
        with self.store.transaction() as con:
            for list_id in ids:
                con.execute("INSERT INTO erp_archived_companies VALUES (?, ?, now())", [list_id, user["id"]])
            con.execute(
                f"""INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id, detail)
                    SELECT nextval('erp_audit_seq'), now(), ?, ?, 'archive_erp_company', '{ITEM_TYPE}', 0,
                           'QuickBooks vendor ' || v."Name" || ' (' || v."ListID" || ') archived'
                    FROM vendors v WHERE v."ListID" IN ({", ".join("?" for _ in ids)})""",
                [user["id"], user["name"], *ids],
            )
        return len(ids)

    def restore_erp_companies(self, list_ids: Iterable[str], *, by: int | str) -> int:
        """Take QuickBooks vendors off the archived list (back to "Ready to Import")."""
        user = permissions.require(self.store, by, "archive_company")
        ids = sorted({str(i) for i in list_ids})
        with self.store.transaction() as con:
            found = (
                [
                    r[0]
                    for r in con.execute(
                        f"SELECT list_id FROM erp_archived_companies WHERE list_id IN ({', '.join('?' for _ in ids)})",
                        ids,
                    ).fetchall()
                ]
                if ids
                else []
            )
            missing = sorted(set(ids) - set(found))
            if missing or not ids:
                raise BatchRejected(
                    "restore_erp_companies",
                    [{"list_id": i, "problem": "not archived"} for i in missing or ["(none given)"]],
                )
            con.execute(
                f"DELETE FROM erp_archived_companies WHERE list_id IN ({', '.join('?' for _ in ids)})", ids
            )
            con.execute(
                f"""INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id, detail)
                    SELECT nextval('erp_audit_seq'), now(), ?, ?, 'restore_erp_company', '{ITEM_TYPE}', 0,
                           'QuickBooks vendor ' || "ListID" || ' restored to Ready to Import'
                    FROM vendors WHERE "ListID" IN ({", ".join("?" for _ in ids)})""",
                [user["id"], user["name"], *ids],
            )
        return len(ids)

    def archived_erp_companies(self, *, by: int | str) -> pd.DataFrame:
        """The archived companies list (ERP 'Read Only' or above)."""
        permissions.require(self.store, by, "view_archived_companies")
        return self.store.frame(
            """SELECT a.list_id, v."Name" AS name, v."VendorTypeRef_FullName" AS vendor_type,
                      u.name AS archived_by, a.archived_at
               FROM erp_archived_companies a LEFT JOIN vendors v ON v."ListID" = a.list_id
               LEFT JOIN users u ON u.id = a.archived_by ORDER BY name"""
        )

    def sub_jobs(self) -> pd.DataFrame:
        """QuickBooks sub jobs (Sublevel 2 and deeper), kept out of "Ready to Import", each with the reason."""
        from .imports import import_candidates

        frame = import_candidates(self)
        subs = frame[(frame["kind"] == "job") & frame["reason"].notna() & (frame["sublevel"].fillna(0) >= 2)]
        return subs[["list_id", "full_name", "sublevel", "parent_customer", "reason"]].reset_index(drop=True)
