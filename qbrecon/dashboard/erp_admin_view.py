"""ERP workflows on the Settings page (seeds 001/003) that had only a command and a library call:

- *Archive an ERP Company* / *View the Archived Companies List* (``ws.archive_erp_companies``,
  ``ws.restore_erp_companies``, ``ws.archived_erp_companies``);
- *Refresh the Cost Codes on an ERP Integrated Project* (``ws.refresh_project_cost_codes``) and *Import a Budget
  from ERP* (``ws.import_budget``);
- *Assign Default Cost Types to ERP Standard Cost Codes* (``ws.assign_default_cost_types``);
- *Set Up Your Payroll Export*: payroll item mapping (``ws.map_payroll_items``) and the IIF time export
  (``ws.time_export_iif``).

Every button calls the library as the signed-in user, which checks the permissions matrix again and whose
refusal is shown in its own words (escaped). Users who may act on none of them (ERP 'Read Only' or 'None'
without Can Push) see the lists only, as the queue shows viewers no action buttons.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn

from ..errors import QbreconError
from ..qbxml.iif import ENCODING
from .auth import DashboardUser
from .format import esc, for_display
from .queue_view import error_alert

ARCHIVED_COLUMNS = {
    "name": "QuickBooks vendor",
    "list_id": "ListID",
    "vendor_type": "Vendor type",
    "archived_by": "Archived by",
    "archived_at": "Archived at",
}
PAYROLL_COLUMNS = {"worker": "Worker", "classification": "Classification", "payroll_item": "Payroll item"}


def _table(frame: pd.DataFrame, titles: dict[str, str]) -> pn.widgets.Tabulator:
    return pn.widgets.Tabulator(
        for_display(frame[list(titles)]),
        show_index=False,
        disabled=True,
        titles=titles,
        layout="fit_data_stretch",
        sizing_mode="stretch_width",
        configuration={"renderVertical": "basic"},
    )


class ErpAdminView:
    """The "ERP companies, cost codes, budgets and payroll export" section of the Settings page."""

    def __init__(self, ws: Any, user: DashboardUser):
        self.ws, self.user = ws, user
        # who may act on at least one workflow here; the library decides per action
        self.can_act = user.can_decide or user.is_admin
        self.messages = pn.Column(sizing_mode="stretch_width")
        self.buttons: list[pn.widgets.Button] = []

        self.vendor = pn.widgets.Select(name="QuickBooks vendor (Ready to Import)", options={}, width=360)
        self.archived_pick = pn.widgets.Select(name="Archived vendor", options={}, width=360)
        self.archived_note = pn.pane.Alert("", alert_type="warning", visible=False)
        self.archived_table = _table(pd.DataFrame(columns=list(ARCHIVED_COLUMNS)), ARCHIVED_COLUMNS)
        self.project = pn.widgets.Select(name="ERP-integrated project", options={}, width=360)
        self.cost_code = pn.widgets.Select(name="ERP standard cost code", options={}, width=360)
        self.cost_type = pn.widgets.TextInput(
            name="Default cost type", placeholder="Labor, Material, ...", width=240
        )
        self.worker = pn.widgets.TextInput(name="Worker (* for any)", value="*", width=200)
        self.classification = pn.widgets.TextInput(name="Classification (* for any)", width=200)
        self.payroll_item = pn.widgets.TextInput(name="QuickBooks payroll item (empty removes)", width=260)
        self.payroll_table = _table(pd.DataFrame(columns=list(PAYROLL_COLUMNS)), PAYROLL_COLUMNS)
        self.iif_project = pn.widgets.Select(name="Timecards of", options={}, width=360)
        self.download = pn.widgets.FileDownload(
            filename="time_export.iif",
            label="Download IIF time export",
            button_type="success",
            width=240,
            align="end",
        )
        self.download.visible = False  # filled by "Prepare IIF time export"

        self.panel = pn.Column(
            pn.pane.Markdown(
                "#### ERP companies, cost codes, budgets and payroll export\n"
                "Archived QuickBooks vendors leave Ready to Import until restored. Cost codes and budgets act on "
                "ERP-integrated projects; the payroll item mapping fills PITEM of the IIF time export."
            ),
            self.messages,
            pn.pane.Markdown("##### Archived companies"),
            pn.Row(self.vendor, self._button("Archive", self.archive)),
            self.archived_note,
            self.archived_table,
            pn.Row(self.archived_pick, self._button("Restore", self.restore, "light")),
            pn.pane.Markdown("##### ERP-integrated project"),
            pn.Row(
                self.project,
                self._button("Refresh cost codes", self.refresh_cost_codes),
                self._button("Import budget from ERP", self.import_budget),
            ),
            pn.pane.Markdown("##### Default cost types of ERP standard cost codes"),
            pn.Row(self.cost_code, self.cost_type, self._button("Assign cost type", self.assign_cost_type)),
            pn.pane.Markdown("##### Payroll export"),
            pn.Row(
                self.worker,
                self.classification,
                self.payroll_item,
                self._button("Map payroll item", self.map_payroll_item),
            ),
            self.payroll_table,
            pn.Row(self.iif_project, self._button("Prepare IIF time export", self.export_iif), self.download),
            sizing_mode="stretch_width",
        )
        self.refresh()

    def _button(self, name: str, action: Callable[[], bool], kind: str = "primary") -> pn.widgets.Button:
        button = pn.widgets.Button(name=name, button_type=kind, width=max(140, 9 * len(name)), align="end")
        button.on_click(lambda _e: action())
        button.visible = self.can_act
        self.buttons.append(button)
        return button

    def refresh(self) -> None:
        vendors = self.ws.ready_to_import("vendor")
        self.vendor.options = {
            f"{name} ({lid})": str(lid) for lid, name in zip(vendors["list_id"], vendors["name"], strict=True)
        }
        self.archived_note.visible = False
        try:
            archived = self.ws.archived_erp_companies(by=self.user.id)
        except QbreconError as exc:  # 'None' on ERP Integrations: the list is not theirs to see
            self.archived_note.object = error_alert(exc).object
            self.archived_note.visible = True
            archived = pd.DataFrame(columns=list(ARCHIVED_COLUMNS))
        self.archived_table.value = for_display(archived[list(ARCHIVED_COLUMNS)])
        self.archived_pick.options = {
            f"{name} ({lid})": str(lid)
            for lid, name in zip(archived["list_id"], archived["name"], strict=True)
        }
        projects = self.ws.job_cost_sync_projects()
        options = {
            f"{name} ({pid})": int(pid)
            for pid, name in zip(projects["project_id"], projects["project"], strict=True)
        }
        self.project.options = options
        self.iif_project.options = {"All synced projects": None, **options}
        codes = self.ws.store.frame(
            """SELECT c.id, c.full_code, c.name, t.line_item_type_name AS cost_type_name
               FROM cost_codes c LEFT JOIN cost_code_default_cost_types t ON t.cost_code_id = c.id
               WHERE c.cost_code_level = 'standard' AND c.origin_id IS NOT NULL ORDER BY c.full_code"""
        )
        self.cost_code.options = {
            f"{code} {name or ''}".strip() + (f" (default: {kind})" if isinstance(kind, str) else ""): str(
                code
            )
            for code, name, kind in zip(
                codes["full_code"], codes["name"], codes["cost_type_name"], strict=True
            )
        }
        self.payroll_table.value = for_display(self.ws.payroll_item_map()[list(PAYROLL_COLUMNS)])

    def _run(self, action: Callable[[], str], *, needs: Any = True, missing: str = "") -> bool:
        """Run one library call; its refusal (permissions, bad input) is shown escaped and nothing changes."""
        self.messages.clear()
        if needs is None or needs == "":
            self.messages.append(pn.pane.Alert(esc(missing), alert_type="warning"))
            return False
        try:
            text = action()
        except QbreconError as exc:
            self.messages.append(error_alert(exc))
            return False
        self.messages.append(pn.pane.Alert(esc(text), alert_type="success"))
        self.refresh()
        return True

    def _label(self, widget: pn.widgets.Select) -> str:
        return next((k for k, v in widget.options.items() if v == widget.value), str(widget.value))

    def archive(self) -> bool:
        """Archive the chosen QuickBooks vendor (it leaves Ready to Import)."""
        name = self._label(self.vendor)
        return self._run(
            lambda: (
                f"{self.ws.archive_erp_companies([self.vendor.value], by=self.user.id)} company archived: "
                f"{name}."
            ),
            needs=self.vendor.value,
            missing="Choose a QuickBooks vendor first.",
        )

    def restore(self) -> bool:
        """Put the chosen archived vendor back on Ready to Import."""
        name = self._label(self.archived_pick)
        return self._run(
            lambda: (
                f"{self.ws.restore_erp_companies([self.archived_pick.value], by=self.user.id)} company "
                f"restored to Ready to Import: {name}."
            ),
            needs=self.archived_pick.value,
            missing="Choose an archived company first.",
        )

    def refresh_cost_codes(self) -> bool:
        """Add the ERP standard cost codes the chosen project lacks."""
        name = self._label(self.project)
        return self._run(
            lambda: (
                f"{self.ws.refresh_project_cost_codes(int(self.project.value), by=self.user.id)} cost "
                f"code(s) added to {name}."
            ),
            needs=self.project.value,
            missing="Choose an ERP-integrated project first.",
        )

    def import_budget(self) -> bool:
        """Import the chosen project's QuickBooks estimate as budget lines."""
        name = self._label(self.project)
        return self._run(
            lambda: (
                f"{self.ws.import_budget(int(self.project.value), by=self.user.id)} budget line(s) of {name} "
                "imported from the QuickBooks estimate."
            ),
            needs=self.project.value,
            missing="Choose an ERP-integrated project first.",
        )

    def assign_cost_type(self) -> bool:
        """Give the chosen ERP standard cost code the typed default cost type."""
        code, kind = self.cost_code.value, self.cost_type.value
        return self._run(
            lambda: (
                f"{self.ws.assign_default_cost_types({code: kind}, by=self.user.id)} cost code given the "
                f"default cost type {kind}: {code}."
            ),
            needs=code,
            missing="Choose an ERP standard cost code first.",
        )

    def map_payroll_item(self) -> bool:
        """Map (worker, classification) to the typed QuickBooks payroll item (empty removes the row)."""
        worker, classification, item = self.worker.value, self.classification.value, self.payroll_item.value
        return self._run(
            lambda: (
                f"{self.ws.map_payroll_items({(worker, classification): item}, by=self.user.id)} payroll "
                f"item mapping saved: {worker} / {classification} -> {item or '(removed)'}."
            )
        )

    def export_iif(self) -> bool:
        """Build the IIF time export of approved timecards (the library checks the Timesheets permission) and
        offer it for download; rows that cannot be written are listed."""
        self.download.visible = False
        project = self.iif_project.value

        def act() -> str:
            result = self.ws.time_export_iif(project_id=project, by=self.user.id)
            self.download.file = io.BytesIO(result.text.encode(ENCODING))
            self.download.visible = True
            text = f"IIF time export ready: {result.rows} time activity row(s)."
            if len(result.errors):
                problems = "; ".join(
                    f"{t} {p}: {f} {m}"
                    for t, p, f, m in result.errors[
                        ["item_type", "procore_id", "field", "message"]
                    ].itertuples(index=False)
                )
                text += f" {len(result.errors)} row(s) left out: {problems}"
            return text

        return self._run(act)
