"""Refresh from QuickBooks (on the Settings page, ERP admins): queue a refresh of the QuickBooks side for the Web
Connector's next run and show the refresh jobs, one per query kind, with their states.

``qbrecon serve`` holds the workspace file (DuckDB allows one process per file), so ``qbrecon refresh`` cannot
queue one while the server runs; this view asks the library in the server's own process:
``ws.request_refresh(full=..., by=user, import_payments=...)``, which checks the user again. The pages themselves
go out through the Web Connector (``qbwc/service.py``) after the session's exports.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from .. import pairs as _pairs
from ..errors import QbreconError
from .auth import DashboardUser
from .format import for_display, when_text
from .queue_view import error_alert

# query kind -> what the user asked to refresh, in QuickBooks' words
KIND_LABELS = {
    "CustomerQuery": "Customers and jobs",
    "VendorQuery": "Vendors",
    "ItemQuery": "Items",
    "EstimateQuery": "Estimates",
    "PurchaseOrderQuery": "Purchase orders",
    "BillQuery": "Bills",
    "BillPaymentCheckQuery": "Bill payments (check)",
    "BillPaymentCreditCardQuery": "Bill payments (credit card)",
    "TimeTrackingQuery": "Time tracking",
    "CheckQuery": "Checks",
    "CreditCardChargeQuery": "Credit card charges",
    "JournalEntryQuery": "Journal entries",
}
KIND_LABELS.update({m.pair.query_request: m.query_label for m in _pairs.registered()})
STATE_LABELS = {
    "queued": "Waiting for the Web Connector",
    "iterating": "Reading",
    "done": "Done",
    "failed": "Failed",
}
_SUMMARY_WORDS = {
    "queued": "waiting for the Web Connector",
    "iterating": "being read",
    "done": "done",
    "failed": "failed",
}
COLUMNS = {
    "kind": "What",
    "state_label": "State",
    "changed_since": "Changed since",
    "pages": "Pages",
    "rows_read": "Read",
    "rows_loaded": "New",
    "rows_updated": "Updated",
    "rows_quarantined": "Quarantined",
    "requested_at": "Requested",
    "requested_by": "By",
    "finished_at": "Finished",
    "status_message": "QuickBooks message",
}

_COUNTS = ("pages", "rows_read", "rows_loaded", "rows_updated", "rows_quarantined")


def jobs_display(jobs: pd.DataFrame) -> pd.DataFrame:
    """The refresh jobs as the table shows them: kinds and states in words, times as text."""
    shown = jobs.assign(
        kind=[KIND_LABELS.get(q, q) for q in jobs["query"]],
        state_label=[STATE_LABELS.get(s, s) for s in jobs["state"]],
        changed_since=[
            "everything" if t is None or t is pd.NA else when_text(t)
            for t in jobs["from_modified_text"].tolist()
        ],
    )
    # every cell text, with or without rows: the browser table must not take number formats from a first value
    return for_display(shown[list(COLUMNS)])


def jobs_summary(jobs: pd.DataFrame) -> str:
    """One line: how many kinds wait, are being read, are done or failed."""
    if jobs.empty:
        return "No refresh has been requested yet."
    counts = jobs["state"].value_counts().to_dict()
    parts = [f"{counts[s]} {word}" for s, word in _SUMMARY_WORDS.items() if s in counts]
    return "Refresh jobs: " + ", ".join(parts) + "."


class RefreshView:
    """The "Refresh from QuickBooks" section: options, the button, and the jobs table."""

    def __init__(self, ws: Any, user: DashboardUser):
        self.ws, self.user = ws, user
        self.full = pn.widgets.Checkbox(name="Full refresh (read every record, not only what changed)")
        self.import_payments = pn.widgets.Checkbox(
            name="When done, import bill payments on synced bills as Procore payments issued",
            disabled=not user.can_decide,  # the library refuses it too: importing needs an accounting approver
        )
        self.button = pn.widgets.Button(name="Refresh from QuickBooks", button_type="primary", width=220)
        self.button.on_click(lambda _e: self.request())
        self.cancel_button = pn.widgets.Button(name="Cancel waiting refresh", button_type="light", width=200)
        self.cancel_button.on_click(lambda _e: self.cancel())
        reload = pn.widgets.Button(name="Update status", button_type="light", width=140)
        reload.on_click(lambda _e: self.refresh())
        self.messages = pn.Column(sizing_mode="stretch_width")
        self.summary = pn.pane.Markdown("")
        self.table = pn.widgets.Tabulator(
            jobs_display(self.ws.refresh_jobs()),
            show_index=False,
            disabled=True,
            titles=COLUMNS,
            text_align={c: "right" for c in _COUNTS},
            layout="fit_data_stretch",
            sizing_mode="stretch_width",
        )
        self.panel = pn.Column(
            pn.pane.Markdown(
                "#### Refresh from QuickBooks\n"
                "Reads customers, jobs, vendors, items and transactions back from QuickBooks on the Web "
                "Connector's next run (after its exports)."
            ),
            self.full,
            self.import_payments,
            pn.Row(self.button, self.cancel_button, reload),
            self.messages,
            self.summary,
            self.table,
            sizing_mode="stretch_width",
        )
        self.refresh()

    def refresh(self) -> None:
        jobs = self.ws.refresh_jobs()
        self.table.value = jobs_display(jobs)
        self.summary.object = jobs_summary(jobs)
        self.cancel_button.disabled = not jobs["state"].isin(["queued", "iterating"]).any()

    def request(self) -> bool:
        """Queue the refresh as the signed-in user; the library checks the user (and the import permission)."""
        self.messages.clear()
        try:
            jobs = self.ws.request_refresh(
                full=bool(self.full.value), by=self.user.id, import_payments=bool(self.import_payments.value)
            )
        except QbreconError as exc:
            self.messages.append(error_alert(exc))
            return False
        what = "everything" if self.full.value else "what changed since the last refresh"
        self.messages.append(
            pn.pane.Alert(
                f"Refresh of {len(jobs)} kind(s) queued ({what}). The Web Connector reads them on its next run.",
                alert_type="success",
            )
        )
        self.refresh()
        return True

    def cancel(self) -> int:
        """Drop the kinds still waiting or being read (a page already sent is ignored when it comes back)."""
        self.messages.clear()
        n = self.ws.cancel_refresh()
        self.messages.append(pn.pane.Alert(f"Cancelled {n} waiting refresh job(s).", alert_type="info"))
        self.refresh()
        return n
