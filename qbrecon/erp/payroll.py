"""Set Up Your Payroll Export (seed 001): map Procore workers and classifications to QuickBooks payroll items.

A timecard entry's *worker* is its ``party_name`` (the QuickBooks employee) and its *classification* is the
Procore time type (``payroll_item``: Regular Time, Overtime, ...). ``payroll_item_map`` holds rows
(worker, classification, QuickBooks payroll wage item); ``*`` stands for any worker or any classification. The
most specific row wins: worker + classification, then any worker + classification, then worker + any.
The mapped item goes to ``PayrollItemWageRef`` of TimeTrackingAdd and to the ``PITEM`` column of the IIF
time-activity file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..errors import BatchRejected, InputError
from ..pairs.timecard_entry import ITEM_TYPE, with_payroll_items
from ..store import Store
from . import permissions
from .states import STATUSES  # noqa: F401  (erp_audit is registered there)

# its tables: qbrecon/migrations/0004_seed_rules.sql; a build reads the map through the time pair's hook
PAYROLL_ITEM_MAXLEN = 31  # PayrollItemWageRef/FullName (qbXML limits)


class PayrollService:
    """``ws.map_payroll_items``, ``ws.payroll_item_map``, ``ws.time_export_iif``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def map_payroll_items(
        self, mapping: Mapping[tuple[str, str], str] | pd.DataFrame, *, by: int | str
    ) -> int:
        """Map (worker, classification) -> QuickBooks payroll wage item (``*`` = any); an empty item removes the
        row. Needs ERP 'Admin' (payroll export setup). Returns how many rows were written."""
        user = permissions.require(self.store, by, "settings")
        pairs = (
            list(zip(mapping["worker"], mapping["classification"], mapping["payroll_item"], strict=True))
            if isinstance(mapping, pd.DataFrame)
            else [(w, c, i) for (w, c), i in mapping.items()]
        )
        if not pairs:
            raise InputError("no payroll item mapping given", field="mapping")
        problems = []
        for n, (worker, classification, item) in enumerate(pairs):
            if not str(worker or "").strip() or not str(classification or "").strip():
                problems.append(
                    {"row": n, "problem": "worker and classification are required (use * for any)"}
                )
            elif item and len(str(item)) > PAYROLL_ITEM_MAXLEN:
                problems.append(
                    {"row": n, "problem": f"payroll item {item!r} is longer than {PAYROLL_ITEM_MAXLEN}"}
                )
        if problems:
            raise BatchRejected("map_payroll_items", problems)
        with self.store.transaction() as con:
            for worker, classification, item in pairs:
                w, c = str(worker).strip(), str(classification).strip()
                con.execute("DELETE FROM payroll_item_map WHERE worker = ? AND classification = ?", [w, c])
                if item and str(item).strip():
                    con.execute(
                        "INSERT INTO payroll_item_map VALUES (?, ?, ?, ?, now())",
                        [w, c, str(item).strip(), user["id"]],
                    )
                con.execute(
                    """INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id, detail)
                       VALUES (nextval('erp_audit_seq'), now(), ?, ?, 'map_payroll_item', ?, 0, ?)""",
                    [user["id"], user["name"], ITEM_TYPE, f"{w} / {c} -> {item or '(removed)'}"],
                )
        return len(pairs)

    def payroll_item_map(self) -> pd.DataFrame:
        return self.store.frame(
            "SELECT worker, classification, payroll_item, updated_at FROM payroll_item_map ORDER BY 1, 2"
        )

    def time_export_iif(self, out: str | Path | None = None, *, project_id: int | None = None, by: int | str):
        """Approved timecard entries of synced projects as an IIF time-activity file with each entry's payroll
        item in ``PITEM`` (returns the ``IIFResult``; rows that cannot be written come back as errors). Sending
        time needs 'Admin' on the Timesheets tool."""
        from ..qbxml.build import BuildContext
        from ..qbxml.iif import timeact_iif

        user = permissions.find_user(self.store, by)
        permissions.require_items(user, "send", [ITEM_TYPE])
        where = "approval_status IN ('approved', 'completed')"
        params: list = []
        if project_id is not None:
            where += " AND project_id = ?"
            params.append(int(project_id))
        rows = with_payroll_items(
            self.store, self.store.frame(f"SELECT * FROM timecard_entries WHERE {where} ORDER BY id", params)
        )
        result = timeact_iif(rows, BuildContext.from_store(self.store))
        if out is not None:
            result.write(out)
        return result
