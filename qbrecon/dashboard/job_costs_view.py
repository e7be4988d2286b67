"""Sync Job Cost Transactions (on the Settings page, ERP admins): enable or disable Job Cost Transaction Syncing
per integrated project and sync the QuickBooks job costs into a project's budget now.

The page asks the library in the server's own process (``ws.enable_job_cost_sync``, ``ws.import_job_costs``),
which checks the signed-in user against the permissions matrix again (ERP Integrations 'Admin'). QuickBooks job
costs are every line that names a customer:job: bills, checks, credit card charges and journal entries
(``erp/reports.JOB_COST_LINES``); a Web Connector refresh that reads them syncs the enabled projects itself.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from ..errors import QbreconError
from .auth import DashboardUser
from .format import esc, for_display
from .queue_view import error_alert

COLUMNS = {"project": "Project", "job_list_id": "QuickBooks job", "syncing": "Job Cost Transaction Syncing"}


def projects_display(projects: pd.DataFrame) -> pd.DataFrame:
    """The integrated projects as the table shows them: the setting in words."""
    shown = projects.assign(syncing=["Enabled" if on else "Disabled" for on in projects["job_cost_sync"]])
    return for_display(shown[list(COLUMNS)])


class JobCostsView:
    """The "Sync Job Cost Transactions" section: a project, Enable / Disable / Sync now, and the projects."""

    def __init__(self, ws: Any, user: DashboardUser):
        self.ws, self.user = ws, user
        self.project = pn.widgets.Select(name="Project", options={}, width=360)
        self.enable_button = pn.widgets.Button(name="Enable syncing", button_type="primary", width=160)
        self.enable_button.on_click(lambda _e: self.switch(True))
        self.disable_button = pn.widgets.Button(name="Disable syncing", button_type="light", width=160)
        self.disable_button.on_click(lambda _e: self.switch(False))
        self.sync_button = pn.widgets.Button(name="Sync job costs now", button_type="primary", width=180)
        self.sync_button.on_click(lambda _e: self.sync())
        self.messages = pn.Column(sizing_mode="stretch_width")
        self.table = pn.widgets.Tabulator(
            projects_display(self.ws.job_cost_sync_projects()),
            show_index=False,
            disabled=True,
            titles=COLUMNS,
            layout="fit_data_stretch",
            sizing_mode="stretch_width",
        )
        self.panel = pn.Column(
            pn.pane.Markdown(
                "#### Sync Job Cost Transactions\n"
                "QuickBooks job costs (bills, checks, credit card charges and journal entries on the project's "
                "job) go into the budget's Job To Date Costs of projects with syncing enabled: lines on an item "
                "land on that cost code's budget line."
            ),
            self.project,
            pn.Row(self.enable_button, self.disable_button, self.sync_button),
            self.messages,
            self.table,
            sizing_mode="stretch_width",
        )
        self.refresh()

    def refresh(self) -> None:
        projects = self.ws.job_cost_sync_projects()
        self.project.options = {
            f"{name} ({pid})": int(pid)
            for pid, name in zip(projects["project_id"], projects["project"], strict=True)
        }
        self.table.value = projects_display(projects)

    def _name(self, project: int) -> str:
        return next((k for k, v in self.project.options.items() if v == project), str(project))

    def _run(self, action: Any) -> bool:
        self.messages.clear()
        if self.project.value is None:
            self.messages.append(pn.pane.Alert("Choose an integrated project first.", alert_type="warning"))
            return False
        try:
            text = action(int(self.project.value))
        except QbreconError as exc:
            self.messages.append(error_alert(exc))
            return False
        self.messages.append(pn.pane.Alert(esc(text), alert_type="success"))
        self.refresh()
        return True

    def switch(self, enabled: bool) -> bool:
        """Enable or disable syncing on the chosen project, as the signed-in user (the library checks them)."""

        def act(project: int) -> str:
            self.ws.enable_job_cost_sync(project, enabled, by=self.user.id)
            return f"Job Cost Transaction Syncing {'enabled' if enabled else 'disabled'} on {self._name(project)}."

        return self._run(act)

    def sync(self) -> bool:
        """Sync the chosen project's QuickBooks job costs into its budget now."""

        def act(project: int) -> str:
            n = self.ws.import_job_costs(project, by=self.user.id)
            return f"{n} budget line(s) of {self._name(project)} updated from QuickBooks job costs."

        return self._run(act)
