"""The reconciliation view: the summary per pair, variance charts by project and by vendor (Bokeh figures),
the differences with drill-down to both records, and the HTML / Excel reports to download.

A run is computed when the tab is first opened (or on "Run again") and kept for the session; its frames live
in the server already, so the differences table uses Tabulator's server-side (``remote``) pagination and the
browser receives one page at a time.
"""

from __future__ import annotations

import io
import logging
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn

from ..display import variance_chart  # the chart lives with the notebooks' display helpers (lower layer)
from ..entities import PAIRS
from ..errors import QbreconError
from .format import for_display, money_text, record_table
from .queue_view import error_alert

log = logging.getLogger(__name__)

SUMMARY_TITLES = {
    "label": "Pair", "procore_records": "Procore", "quickbooks_records": "QuickBooks", "matched_equal": "Equal",
    "matched_with_differences": "With differences", "only_in_procore": "Only in Procore",
    "only_in_quickbooks": "Only in QuickBooks", "ambiguous": "Ambiguous", "not_exported": "Not exported",
    "differences": "Findings", "procore_total": "Procore total", "quickbooks_total": "QuickBooks total",
    "delta": "Difference",
}  # fmt: skip
DIFF_COLUMNS = [
    "pair",
    "level",
    "project",
    "vendor",
    "number",
    "cost_code",
    "field",
    "procore_value",
    "quickbooks_value",
    "delta",
    "reason_text",
    "procore_id",
    "quickbooks_id",
    "matched_by",
]
DIFF_TITLES = {
    "pair": "Pair",
    "level": "Level",
    "project": "Project",
    "vendor": "Vendor",
    "number": "Number",
    "cost_code": "Cost code",
    "field": "Field",
    "procore_value": "Procore",
    "quickbooks_value": "QuickBooks",
    "delta": "Difference",
    "reason_text": "Why",
    "procore_id": "Procore ID",
    "quickbooks_id": "QuickBooks ID",
    "matched_by": "Matched by",
}


def run_reconciliation(ws: Any) -> Any:
    """``ws.reconcile()`` (the workspace's reconciliation capability), else the engine on the same store."""
    if callable(getattr(ws, "reconcile", None)):
        return ws.reconcile()
    from ..reconcile.engine import reconcile

    return reconcile(ws.store)


class ReconciliationView:
    def __init__(self, ws: Any):
        self.ws, self.result = ws, None
        self.run_button = pn.widgets.Button(name="Run reconciliation", button_type="primary", width=180)
        self.run_button.on_click(lambda _e: self.run())
        self.messages = pn.Column(sizing_mode="stretch_width")
        self.summary = pn.widgets.Tabulator(
            pd.DataFrame(),
            show_index=False,
            disabled=True,
            titles=SUMMARY_TITLES,
            layout="fit_data_stretch",
            sizing_mode="stretch_width",
        )
        self.charts = pn.Row(sizing_mode="stretch_width")
        self.differences = pn.widgets.Tabulator(
            pd.DataFrame(columns=DIFF_COLUMNS),
            show_index=False,
            disabled=True,
            pagination="remote",
            page_size=20,
            selectable=1,
            titles=DIFF_TITLES,
            layout="fit_data_stretch",
            sizing_mode="stretch_width",
            header_filters={
                c: {"type": "input", "func": "like"}
                for c in ("pair", "project", "vendor", "number", "reason_text")
            },
        )
        self.differences.param.watch(self._on_select, "selection")
        self.drill = pn.Column(sizing_mode="stretch_width")
        self.downloads = pn.Row(
            pn.widgets.FileDownload(
                callback=self._html,
                filename="reconciliation.html",
                label="Download HTML report",
                button_type="default",
                width=220,
            ),
            pn.widgets.FileDownload(
                callback=self._excel,
                filename="reconciliation.xlsx",
                label="Download Excel report",
                button_type="default",
                width=220,
            ),
        )
        self.status = pn.pane.Markdown("Not run yet in this session.")
        self.panel = pn.Column(
            pn.pane.Markdown("### Reconciliation"),
            pn.Row(self.run_button, self.status),
            self.messages,
            self.summary,
            self.charts,
            self.downloads,
            pn.pane.Markdown("#### Differences"),
            self.differences,
            self.drill,
            sizing_mode="stretch_width",
        )

    def ensure_run(self) -> None:
        if self.result is None:
            self.run()

    def run(self) -> bool:
        self.messages.clear()
        self.run_button.name = "Run again"
        try:
            result = run_reconciliation(self.ws)
        except QbreconError as exc:
            self.messages.append(error_alert(exc))
            return False
        except Exception as exc:  # keep the session alive and say what broke
            log.exception("reconciliation failed")
            self.messages.append(error_alert(exc))
            return False
        self.result = result
        summary = result.summary[[c for c in SUMMARY_TITLES if c in result.summary.columns]]
        self.summary.value = for_display(summary)
        self.charts.objects = [
            pn.pane.Bokeh(variance_chart(result.variance("project"), "project"), sizing_mode="stretch_width"),
            pn.pane.Bokeh(variance_chart(result.variance("vendor"), "vendor"), sizing_mode="stretch_width"),
        ]
        diff = result.differences
        self.differences.value = for_display(diff[[c for c in DIFF_COLUMNS if c in diff.columns]])
        stamp = str(result.created_at)[:19]
        self.status.object = (
            f"{result.n_differences:,} finding(s); absolute money difference "
            f"{money_text(result.total_abs_delta)} · run {stamp} UTC"
        )
        self.drill.clear()
        return True

    # -- drill-down ------------------------------------------------------------------------------------
    def _on_select(self, event: Any) -> None:
        if self.result is None or not event.new:
            self.drill.clear()
            return
        row = self.result.differences.iloc[event.new[0]]
        self.drill.objects = self.drill_down(row)

    def drill_down(self, row: pd.Series) -> list[Any]:
        """The finding and both records it is about, side by side."""
        parts: list[Any] = [pn.pane.Markdown(f"#### {row.get('reason_text') or row.get('reason')}")]
        pair = PAIRS.get(str(row.get("pair")))
        sides = []
        if pair is not None:
            pid, qid = row.get("procore_id"), row.get("quickbooks_id")
            if pid is not None and pid is not pd.NA and str(pid).isdigit():
                rec = self.ws.store.frame(
                    f'SELECT * FROM "{pair.procore_table}" WHERE id = ? LIMIT 1', [int(pid)]
                )
                sides.append(("Procore", rec))
            if pair.quickbooks_table and qid is not None and qid is not pd.NA:
                rec = self.ws.store.frame(
                    f'SELECT * FROM "{pair.quickbooks_table}" WHERE "{pair.quickbooks_id}" = ? LIMIT 1',
                    [str(qid)],
                )
                sides.append(("QuickBooks", rec))
        cards = []
        for title, rec in sides:
            record = {k: v for k, v in rec.iloc[0].items() if not str(k).startswith("_")} if len(rec) else {}
            cards.append(
                pn.Column(
                    pn.pane.Markdown(f"**{title}**"),
                    pn.widgets.Tabulator(
                        record_table(record),
                        show_index=False,
                        disabled=True,
                        height=300,
                        layout="fit_data_stretch",
                        sizing_mode="stretch_width",
                    ),
                    sizing_mode="stretch_width",
                )
            )
        if cards:
            parts.append(pn.Row(*cards, sizing_mode="stretch_width"))
        return parts

    # -- reports -----------------------------------------------------------------------------------------
    def _html(self) -> io.BytesIO:
        self.ensure_run()
        return io.BytesIO(self.result.to_html().encode("utf-8"))

    def _excel(self) -> io.BytesIO:
        self.ensure_run()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "reconciliation.xlsx"
            self.result.to_excel(path)
            return io.BytesIO(path.read_bytes())
