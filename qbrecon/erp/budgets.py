"""Cost codes and budgets on QuickBooks-integrated projects (seeds 001 and 003), in SQL over the workspace.

- *Automatically Add New Cost Codes to Budgets on QuickBooks-Integrated Projects* (setting
  ``auto_add_cost_codes_to_budgets``): a Service item new in QuickBooks (read by a refresh, linked to no Procore
  cost code) becomes a standard cost code and a budget line (amount 0) on every integrated project that has no
  line for it. Runs when a refresh that read items finishes.
- *Refresh the Cost Codes on an ERP Integrated Project*: the project takes a project-level cost code for every
  synced standard cost code it lacks.
- *Import a Budget from ERP*: the QuickBooks estimate of the project's job becomes its budget lines (a line per
  item: the estimate's amount as the original budget), for lines the budget does not have yet.
- *Assign Default Cost Types To ERP Standard Cost Codes*: the cost type (Procore line item type) new budget lines
  of a standard cost code take.
- *Enable Job Cost Transaction Syncing* on a project: ``import_job_costs`` only updates projects with it on.

Records qbrecon creates on the Procore side have negative ids (Procore gives them theirs when pushed); each
change writes ``erp_audit`` rows in the same transaction.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from ..errors import BatchRejected, InputError
from ..pairs.budget import ITEM_TYPE as BUDGET
from ..pairs.cost_code import ITEM_TYPE as COST_CODE
from ..pairs.project import ITEM_TYPE as PROJECT
from ..store import Store
from . import permissions
from .settings import read_settings
from .states import STATUSES  # noqa: F401  (erp_audit is registered there)

# its tables: qbrecon/migrations/0004_seed_rules.sql

# Service items of QuickBooks that no Procore standard cost code stands for yet (nor the retainage item).
_NEW_ITEMS = """
    SELECT i."ListID" AS list_id, i."Name" AS code, i."FullName" AS full_name,
           coalesce(nullif(i."SalesDesc", ''), nullif(i."PurchaseDesc", ''), nullif(i."Desc", ''), i."Name") AS name,
           parent.id AS parent_id
    FROM items i
    LEFT JOIN items pi ON pi."FullName" = i."ParentRef_FullName"
    LEFT JOIN cost_codes parent ON parent.cost_code_level = 'standard' AND parent.origin_id = pi."ListID"
    WHERE lower(replace(coalesce(i."ItemType", ''), 'Item', '')) = 'service' AND coalesce(i."IsActive", true)
      AND NOT EXISTS (SELECT 1 FROM cost_codes c WHERE c.origin_id = i."ListID" OR c.origin_id LIKE '%|' || i."ListID")
      AND NOT EXISTS (SELECT 1 FROM erp_items e WHERE e.item_type = '{cost_code}' AND e.quickbooks_id = i."ListID")
      AND i."ListID" IS DISTINCT FROM ?
      {loads}
"""


def _audit(
    con: Any, actor: dict | None, action: str, item_type: str, rows_sql: str, params: list | None = None
) -> None:
    """One ``erp_audit`` row per row of ``rows_sql`` (columns procore_id, detail)."""
    con.execute(
        f"""INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id, detail)
            SELECT nextval('erp_audit_seq'), now(), ?, ?, ?, ?, r.procore_id, r.detail FROM ({rows_sql}) r""",
        [
            actor["id"] if actor else None,
            actor["name"] if actor else "qbrecon",
            action,
            item_type,
            *(params or []),
        ],
    )


def _next_id(con: Any, table: str) -> int:
    """Below every id in ``table`` and below zero: ids qbrecon gives records Procore has not numbered yet."""
    return int(con.execute(f"SELECT least(coalesce(min(id), 0), 0) - 1 FROM {table}").fetchall()[0][0])


def _project_codes_sql(project_filter: str) -> str:
    """Project-level cost codes to add: each synced standard code (with its division) missing on a project."""
    return f"""
        SELECT p.id AS project_id, s.id AS standard_cost_code_id, s.code, s.full_code, s.name, s.parent_id
        FROM projects p JOIN cost_codes s ON s.cost_code_level = 'standard' AND s.origin_id IS NOT NULL
        WHERE p.origin_id IS NOT NULL AND {project_filter}
          AND NOT EXISTS (SELECT 1 FROM cost_codes c WHERE c.cost_code_level = 'project' AND c.project_id = p.id
                          AND c.standard_cost_code_id = s.id)"""


def _add_project_codes(con: Any, project_filter: str, params: list) -> int:
    add = con.sql(
        _project_codes_sql(project_filter) + " ORDER BY 1, 2", params=params or None
    ).to_arrow_table()
    if add.num_rows == 0:
        return 0
    start = _next_id(con, "cost_codes")
    con.register("_seed_codes", add)
    try:
        con.execute(
            f"""INSERT INTO cost_codes (id, cost_code_level, project_id, standard_cost_code_id, code, full_code, name,
                                        parent_id, created_at, updated_at, _source_file, _loaded_at)
                SELECT {start} - row_number() OVER (ORDER BY a.project_id, a.standard_cost_code_id) + 1,
                       'project', a.project_id, a.standard_cost_code_id, a.code, a.full_code, a.name,
                       (SELECT min(c.id) FROM cost_codes c WHERE c.cost_code_level = 'project'
                          AND c.project_id = a.project_id AND c.standard_cost_code_id = a.parent_id),
                       now(), now(), 'qbrecon', now()
                FROM _seed_codes a"""
        )
    finally:
        con.unregister("_seed_codes")
    return add.num_rows


def _add_budget_lines(con: Any, lines_sql: str, params: list) -> pa.Table:
    """Insert budget lines from ``lines_sql`` (project_id, cost_code_id, full_code, amount), each with its standard
    code's default cost type; returns what was added."""
    add = con.sql(lines_sql, params=params or None).to_arrow_table()
    if add.num_rows == 0:
        return add
    start = _next_id(con, "budget_line_items")
    con.register("_seed_lines", add)
    try:
        con.execute(
            f"""INSERT INTO budget_line_items (id, project_id, cost_code_id, cost_code_full_code, line_item_type_id,
                       line_item_type_name, original_budget_amount, direct_costs, job_to_date_costs, created_at,
                       updated_at, _source_file, _loaded_at)
                SELECT {start} - row_number() OVER (ORDER BY a.project_id, a.cost_code_id) + 1, a.project_id,
                       a.cost_code_id, a.full_code, t.line_item_type_id, t.line_item_type_name,
                       a.amount::DECIMAL(18,2), 0, 0, now(), now(), 'qbrecon', now()
                FROM _seed_lines a JOIN cost_codes c ON c.id = a.cost_code_id
                LEFT JOIN cost_code_default_cost_types t ON t.cost_code_id = c.standard_cost_code_id"""
        )
    finally:
        con.unregister("_seed_lines")
    return add


class BudgetsService:
    """``ws.refresh_project_cost_codes``, ``ws.import_budget``, ``ws.assign_default_cost_types``,
    ``ws.add_new_cost_codes_to_budgets``, ``ws.enable_job_cost_sync``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add_new_cost_codes_to_budgets(self, load_ids: list[int] | None = None) -> int:
        """With ``auto_add_cost_codes_to_budgets`` on: new QuickBooks Service items (of these item loads, or all)
        become standard cost codes, and a budget line on every integrated project. Returns lines added."""
        cfg = read_settings(self.store, mask=False)
        if not cfg["auto_add_cost_codes_to_budgets"]:
            return 0
        retainage = (cfg["invoice_retainage_item"] or {}).get("ListID")
        loads = ""
        if load_ids is not None:
            ids = sorted({int(i) for i in load_ids})
            if not ids:
                return 0
            loads = f'AND i."_load_id" IN ({", ".join(map(str, ids))})'
        with self.store.transaction() as con:
            new = con.sql(
                _NEW_ITEMS.format(loads=loads, cost_code=COST_CODE) + " ORDER BY 3", params=[retainage]
            ).to_arrow_table()
            if new.num_rows == 0:
                return 0
            start = _next_id(con, "cost_codes")
            con.register("_seed_items", new)
            try:
                con.execute(
                    f"""INSERT INTO cost_codes (id, cost_code_level, code, full_code, name, parent_id, origin_id,
                                                created_at, updated_at, _source_file, _loaded_at)
                        SELECT {start} - row_number() OVER (ORDER BY n.full_name) + 1, 'standard',
                               -- QuickBooks names leaves with their division ("03-500" under "03")
                               CASE WHEN starts_with(n.code, p.full_code || '-')
                                    THEN substr(n.code, length(p.full_code) + 2) ELSE n.code END,
                               CASE WHEN p.full_code IS NULL OR starts_with(n.code, p.full_code || '-') THEN n.code
                                    ELSE p.full_code || '-' || n.code END,
                               n.name, n.parent_id, n.list_id,
                               now(), now(), 'quickbooks:items', now()
                        FROM _seed_items n LEFT JOIN cost_codes p ON p.id = n.parent_id"""
                )
                _audit(
                    con,
                    None,
                    "import_cost_code",
                    COST_CODE,
                    """SELECT c.id AS procore_id, 'new QuickBooks item ' || n.full_name || ' (' || n.list_id
                                 || ') added as a standard cost code' AS detail
                          FROM _seed_items n JOIN cost_codes c ON c.origin_id = n.list_id""",
                )
                new_codes = "s.origin_id IN (SELECT list_id FROM _seed_items)"
                _add_project_codes(con, new_codes, [])
                added = _add_budget_lines(
                    con,
                    f"""SELECT c.project_id, c.id AS cost_code_id, c.full_code, 0 AS amount
                        FROM cost_codes c JOIN cost_codes s ON s.id = c.standard_cost_code_id AND {new_codes}
                        JOIN projects p ON p.id = c.project_id AND p.origin_id IS NOT NULL
                        WHERE c.cost_code_level = 'project'
                          AND NOT EXISTS (SELECT 1 FROM budget_line_items b JOIN cost_codes bc ON bc.id = b.cost_code_id
                                          WHERE b.project_id = c.project_id AND bc.standard_cost_code_id = s.id)""",
                    [],
                )
            finally:
                con.unregister("_seed_items")
            if added.num_rows:
                con.register("_seed_added", added)
                try:
                    _audit(
                        con,
                        None,
                        "auto_add_cost_codes",
                        BUDGET,
                        """SELECT project_id AS procore_id, count(*) || ' budget line(s) added for new QuickBooks '
                                     || 'cost code(s): ' || string_agg(full_code, ', ' ORDER BY full_code) AS detail
                              FROM _seed_added GROUP BY 1""",
                    )
                finally:
                    con.unregister("_seed_added")
        return added.num_rows

    def refresh_project_cost_codes(self, project_id: int, *, by: int | str) -> int:
        """Refresh the cost codes on an ERP-integrated project: a project cost code for each synced standard
        cost code it lacks (ERP 'Admin'). Returns how many were added."""
        user = permissions.require(self.store, by, "refresh_cost_codes")
        project = _integrated_project(self.store, project_id)
        with self.store.transaction() as con:
            added = _add_project_codes(con, "p.id = ?", [project["id"]])
            if added:
                _audit(
                    con,
                    user,
                    "refresh_cost_codes",
                    PROJECT,
                    "SELECT ?::BIGINT AS procore_id, ? AS detail",
                    [project["id"], f"{added} cost code(s) added from the ERP standard cost codes"],
                )
        return added

    def import_budget(self, project_id: int, *, by: int | str) -> int:
        """Import a budget from ERP: the project's job estimate in QuickBooks becomes budget lines (one per item,
        summed), for cost codes the budget has no line for; the project's cost codes are refreshed first.
        Needs an accounting approver. Returns how many lines were added."""
        user = permissions.require(self.store, by, "import_budget")
        project = _integrated_project(self.store, project_id)
        if project["budget_locked"]:
            raise InputError(
                f"the budget of project {project['name']} is locked; unlock it to import", field="project"
            )
        with self.store.transaction() as con:
            lines = con.execute(
                """SELECT l."ItemRef_FullName" AS item, s.id AS standard_id, sum(l."Amount") AS amount
                   FROM estimates e JOIN estimate_lines l ON l."TxnID" = e."TxnID"
                   LEFT JOIN cost_codes s ON s.cost_code_level = 'standard' AND s.origin_id = l."ItemRef_ListID"
                   WHERE e."CustomerRef_ListID" = ? AND l."ItemRef_ListID" IS NOT NULL GROUP BY 1, 2""",
                [project["origin_id"]],
            ).fetchall()
            if not lines:
                raise InputError(
                    f"QuickBooks has no estimate for job {project['origin_id']} of project "
                    f"{project['name']} (refresh estimates first)",
                    field="project",
                )
            unknown = [
                {"item": item, "problem": "item is not a synced standard cost code"}
                for item, std, _ in lines
                if std is None
            ]
            if unknown:
                raise BatchRejected("import_budget", unknown)
            _add_project_codes(con, "p.id = ?", [project["id"]])
            added = _add_budget_lines(
                con,
                """SELECT c.project_id, c.id AS cost_code_id, c.full_code, sum(l."Amount") AS amount
                   FROM estimates e JOIN estimate_lines l ON l."TxnID" = e."TxnID"
                   JOIN cost_codes s ON s.cost_code_level = 'standard' AND s.origin_id = l."ItemRef_ListID"
                   JOIN cost_codes c ON c.cost_code_level = 'project' AND c.project_id = ?
                        AND c.standard_cost_code_id = s.id
                   WHERE e."CustomerRef_ListID" = ?
                     AND NOT EXISTS (SELECT 1 FROM budget_line_items b JOIN cost_codes bc ON bc.id = b.cost_code_id
                                     WHERE b.project_id = c.project_id AND bc.standard_cost_code_id = s.id)
                   GROUP BY 1, 2, 3 ORDER BY 3""",
                [project["id"], project["origin_id"]],
            )
            _audit(
                con,
                user,
                "import_budget",
                BUDGET,
                "SELECT ?::BIGINT AS procore_id, ? AS detail",
                [project["id"], f"{added.num_rows} budget line(s) imported from the QuickBooks estimate"],
            )
        return added.num_rows

    def assign_default_cost_types(self, assignments: dict[Any, str] | pd.DataFrame, *, by: int | str) -> int:
        """Give ERP standard cost codes (id or full code) a default cost type (a Procore line item type name, or
        ``"id:name"``); budget lines qbrecon creates for them take it. Needs an accounting approver."""
        user = permissions.require(self.store, by, "assign_cost_types")
        pairs = (
            list(zip(assignments["cost_code"], assignments["cost_type"], strict=True))
            if isinstance(assignments, pd.DataFrame)
            else list(assignments.items())
        )
        if not pairs:
            raise InputError("no cost codes given", field="assignments")
        rows, problems = [], []
        for code, cost_type in pairs:
            found = self.store.execute(
                """SELECT id, origin_id FROM cost_codes WHERE cost_code_level = 'standard'
                   AND (CAST(id AS VARCHAR) = ? OR full_code = ?)""",
                [str(code), str(code)],
            ).fetchall()
            type_id, _, type_name = (
                str(cost_type or "").rpartition(":") if ":" in str(cost_type) else ("", "", cost_type)
            )
            if len(found) != 1:
                problems.append(
                    {"cost_code": code, "problem": "no such standard cost code" if not found else "ambiguous"}
                )
            elif found[0][1] is None:
                problems.append({"cost_code": code, "problem": "not an ERP standard cost code (not synced)"})
            elif not str(type_name or "").strip():
                problems.append({"cost_code": code, "problem": "empty cost type"})
            else:
                rows.append(
                    (found[0][0], int(type_id) if type_id.strip().isdigit() else None, str(type_name).strip())
                )
        if problems:
            raise BatchRejected("assign_default_cost_types", problems)
        with self.store.transaction() as con:
            for cost_code_id, type_id, type_name in rows:
                con.execute(
                    "INSERT OR REPLACE INTO cost_code_default_cost_types VALUES (?, ?, ?, ?, now())",
                    [cost_code_id, type_id, type_name, user["id"]],
                )
                _audit(
                    con,
                    user,
                    "assign_default_cost_type",
                    COST_CODE,
                    "SELECT ?::BIGINT AS procore_id, ? AS detail",
                    [cost_code_id, f"default cost type: {type_name}"],
                )
        return len(rows)

    def enable_job_cost_sync(self, project_id: int, enabled: bool = True, *, by: int | str) -> None:
        """Enable (or disable) Job Cost Transaction Syncing on an integrated project (ERP 'Admin')."""
        user = permissions.require(self.store, by, "sync_job_costs")
        project = _integrated_project(self.store, project_id)
        with self.store.transaction() as con:
            _project_setting(con, project["id"], "job_cost_sync", bool(enabled), user)
            _audit(
                con,
                user,
                "job_cost_sync",
                PROJECT,
                "SELECT ?::BIGINT AS procore_id, ? AS detail",
                [project["id"], "job cost transaction syncing " + ("enabled" if enabled else "disabled")],
            )

    def set_direct_costs_tool(self, project_id: int, active: bool = True, *, by: int | str) -> None:
        """Record that the project's Direct Costs tool is an active tab (ERP 'Admin'): its budget Direct Cost
        column is then always editable and filled from the Direct Costs tool, never from QuickBooks."""
        user = permissions.require(self.store, by, "settings")
        project = _integrated_project(self.store, project_id)
        with self.store.transaction() as con:
            _project_setting(con, project["id"], "direct_costs_tool", bool(active), user)
            _audit(
                con,
                user,
                "direct_costs_tool",
                PROJECT,
                "SELECT ?::BIGINT AS procore_id, ? AS detail",
                [project["id"], "Direct Costs tool " + ("active" if active else "not active")],
            )

    def budget(self, project_id: int, *, by: int | str) -> pd.DataFrame:
        """The project's budget as Procore's Budget tool shows it, with the settings applied: the Direct Cost
        column's source and whether it is editable ("Procore's Budget Direct Cost Columns", or always the
        Direct Costs tool when that tool is active on the project); the Job To Date Costs column left out when
        "Hide Job To Date Costs Column on the Budget" is on. Who may: as the project's job costs report."""
        permissions.require(self.store, by, "view_job_costs_project")
        cfg = read_settings(self.store)
        source = cfg["budget_direct_cost_source"]
        frame = self.store.frame(
            """SELECT b.id AS budget_line_item_id, coalesce(b.cost_code_full_code, c.full_code) AS cost_code,
                      c.name AS description, b.line_item_type_name AS cost_type, b.original_budget_amount,
                      b.direct_costs, b.job_to_date_costs,
                      CASE WHEN NOT coalesce(ps.direct_costs_tool, false) AND ? = 'read_only_from_quickbooks'
                           THEN 'QuickBooks' ELSE 'Direct Costs tool' END AS direct_costs_from,
                      coalesce(ps.direct_costs_tool, false) OR ? <> 'read_only_from_quickbooks'
                          AS direct_costs_editable
               FROM budget_line_items b LEFT JOIN cost_codes c ON c.id = b.cost_code_id
               LEFT JOIN erp_project_settings ps ON ps.project_id = b.project_id
               WHERE b.project_id = ? ORDER BY cost_code, b.id""",
            [source, source, int(project_id)],
        )
        return frame.drop(columns=["job_to_date_costs"]) if cfg["hide_job_to_date_costs"] else frame

    def job_cost_sync_projects(self) -> pd.DataFrame:
        """Integrated projects and whether Job Cost Transaction Syncing is enabled on each."""
        return self.store.frame(
            """SELECT p.id AS project_id, p.name AS project, p.origin_id AS job_list_id,
                      coalesce(s.job_cost_sync, false) AS job_cost_sync
               FROM projects p LEFT JOIN erp_project_settings s ON s.project_id = p.id
               WHERE p.origin_id IS NOT NULL ORDER BY p.name"""
        )


def _project_setting(con: Any, project_id: int, column: str, value: bool, user: dict) -> None:
    con.execute(
        f"""INSERT INTO erp_project_settings (project_id, {column}, updated_by, updated_at) VALUES (?, ?, ?, now())
            ON CONFLICT (project_id) DO UPDATE SET {column} = excluded.{column}, updated_by = excluded.updated_by,
                                                   updated_at = excluded.updated_at""",
        [project_id, value, user["id"]],
    )


def _integrated_project(store: Store, project_id: int) -> dict:
    rows = store.frame(
        "SELECT id, name, origin_id, coalesce(budget_locked, false) AS budget_locked FROM projects WHERE id = ?",
        [int(project_id)],
    )
    if rows.empty:
        raise InputError(f"no Procore project {project_id}", field="project")
    row = rows.iloc[0].to_dict()
    if row["origin_id"] is None or row["origin_id"] is pd.NA:
        raise InputError(
            f"project {row['name']} is not integrated with a QuickBooks job (not synced)", field="project"
        )
    return {
        "id": int(row["id"]),
        "name": row["name"],
        "origin_id": row["origin_id"],
        "budget_locked": bool(row["budget_locked"]),
    }
