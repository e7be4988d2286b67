"""Configure Advanced Settings (ERP 'Admin' only): the connection status the Web Connector service reports and
every setting of the ERP queue, one widget per setting, saved together through ``ws.update_settings`` (which
checks the admin permission again, validates every value and writes one audit row); below them, "Refresh from
QuickBooks" (``refresh_view.py``)."""

from __future__ import annotations

from typing import Any

import panel as pn

from ..erp.settings import MASK, SETTINGS, Setting
from ..errors import QbreconError
from .auth import DashboardUser
from .erp_admin_view import ErpAdminView
from .format import esc, when_text
from .job_costs_view import JobCostsView
from .queue_view import error_alert
from .refresh_view import RefreshView

SECTIONS: list[tuple[str, list[str]]] = [
    ("Connection Settings", ["service_url", "service_user", "service_password"]),
    (
        "General Settings",
        [
            "use_procore_contract_number",
            "auto_add_cost_codes_to_budgets",
            "budget_direct_cost_source",
            "hide_job_to_date_costs",
            "vendor_auto_update",
            "invoice_retainage_item",
            "sync_schedule",
            "direct_export",
            "service_item_expense_account",
            "service_item_income_account",
        ],
    ),
    (
        "Outgoing mail (rejection notices, daily summary)",
        [
            "smtp_host",
            "smtp_port",
            "smtp_starttls",
            "smtp_username",
            "smtp_password",
            "smtp_from",
            "smtp_timeout",
        ],
    ),
]

CHOICE_LABELS = {
    "read_only_from_quickbooks": "Read Only, Populate From QuickBooks",
    "editable_from_procore": "Editable, Do Not Populate From QuickBooks",
    "every_15_minutes": "Every 15 Minutes",
    "hourly": "Hourly",
    "every_2_hours": "Every 2 Hours",
    "every_4_hours": "Every 4 Hours",
    "daily": "Daily",
    "never": "Never",
}


def connection_rows(values: dict[str, Any]) -> str:
    """The connection block: "Connected" only while a Web Connector session is live; times in the one local
    zone every page uses; the last error escaped (a remote caller can write it)."""
    live = values.get("session_open")
    if live is None:  # the settings alone: no session information
        live = values.get("connection_status") == "connected"
    status = "Connected" if live else "Not Connected"
    last = when_text(values.get("last_contact")) or "never"
    lines = [f"**Status:** {status}", f"**Last contact:** {esc(last)}"]
    if values.get("last_error"):
        lines.append(f"**Last error:** {esc(values['last_error'])}")
    return "  \n".join(lines)


class SettingsView:
    def __init__(self, ws: Any, user: DashboardUser):
        self.ws, self.user = ws, user
        self.widgets: dict[str, pn.widgets.Widget] = {}
        self.messages = pn.Column(sizing_mode="stretch_width")
        self.status = pn.pane.Markdown("")
        save = pn.widgets.Button(name="Update", button_type="primary", width=140)
        save.on_click(lambda _e: self.save())
        sections: list[Any] = [pn.pane.Markdown("### Configure Advanced Settings"), self.messages]
        for title, names in SECTIONS:
            sections.append(pn.pane.Markdown(f"#### {title}"))
            if title == "Connection Settings":
                sections.append(self.status)
            for name in names:
                self.widgets[name] = self._widget(SETTINGS[name])
                sections.append(self.widgets[name])
        sections.append(save)
        # Refreshing the QuickBooks side: here, because the running server holds the workspace (the CLI cannot)
        self.refresh_view = RefreshView(ws, user)
        sections += [pn.pane.HTML("<hr>", sizing_mode="stretch_width"), self.refresh_view.panel]
        self.job_costs_view = JobCostsView(ws, user)  # Sync Job Cost Transactions, per project
        sections += [pn.pane.HTML("<hr>", sizing_mode="stretch_width"), self.job_costs_view.panel]
        self.erp_admin_view = ErpAdminView(ws, user)  # archive companies, cost codes, budgets, payroll export
        sections += [pn.pane.HTML("<hr>", sizing_mode="stretch_width"), self.erp_admin_view.panel]
        self.panel = pn.Column(*sections, sizing_mode="stretch_width", max_width=1100)
        self.refresh()

    def _widget(self, s: Setting) -> pn.widgets.Widget:
        label = s.label or s.name
        if s.kind == "bool":
            return pn.widgets.Checkbox(name=label)
        if s.kind == "choice":
            return pn.widgets.Select(
                name=label, options={CHOICE_LABELS.get(c, c): c for c in s.choices}, width=400
            )
        if s.kind == "int":
            return pn.widgets.IntInput(name=label, width=200)
        if s.kind in ("password_hash", "secret"):
            return pn.widgets.PasswordInput(name=f"{label} (leave empty to keep)", width=400)
        if s.kind == "item":
            return pn.widgets.Select(name=label, options=[""] + self._service_items(), width=400)
        return pn.widgets.TextInput(name=label, width=400)

    def _service_items(self) -> list[str]:
        frame = self.ws.store.frame(
            """SELECT "FullName" FROM items WHERE lower(replace("ItemType", 'Item', '')) = 'service'
               ORDER BY "FullName" """
        )
        return [str(x) for x in frame["FullName"]]

    def refresh(self) -> None:
        values = self.ws.settings
        self._shown = values
        self.status.object = connection_rows({**values, **self.ws.connection_status()})
        for name, widget in self.widgets.items():
            value = values.get(name)
            s = SETTINGS[name]
            if s.kind in ("password_hash", "secret"):
                widget.value = ""
            elif s.kind == "item":
                widget.value = (value or {}).get("FullName", "") if isinstance(value, dict) else (value or "")
            elif s.kind == "bool":
                widget.value = bool(value)
            elif s.kind == "int":
                widget.value = int(value) if value is not None else None
            else:
                widget.value = "" if value is None else value

    def changes(self) -> dict[str, Any]:
        """Only what the admin changed (a secret counts when something was typed)."""
        out = {}
        for name, widget in self.widgets.items():
            s, old, new = SETTINGS[name], self._shown.get(name), widget.value
            if s.kind in ("password_hash", "secret"):
                if new and new != MASK:
                    out[name] = new
            elif s.kind == "item":
                old_name = old.get("FullName") if isinstance(old, dict) else (old or "")
                if (new or "") != (old_name or ""):
                    out[name] = new or None
            elif s.kind == "text":
                if (new or "") != (old or ""):
                    out[name] = new or None
            elif new != old:
                out[name] = new
        return out

    def save(self) -> bool:
        self.messages.clear()
        changed = self.changes()
        if not changed:
            self.messages.append(pn.pane.Alert("Nothing changed.", alert_type="info"))
            return False
        try:
            shown = self.ws.update_settings(by=self.user.id, **changed)
        except QbreconError as exc:
            self.messages.append(error_alert(exc))
            return False
        names = ", ".join(SETTINGS[k].label or k for k in shown)
        self.messages.append(pn.pane.Alert(f"Settings updated: {esc(names)}.", alert_type="success"))
        self.refresh()
        return True
