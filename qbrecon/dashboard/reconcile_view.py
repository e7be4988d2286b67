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
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn

from ..display import variance_chart  # the chart lives with the notebooks' display helpers (lower layer)
from ..entities import PAIRS
from ..errors import QbreconError
from .format import (
    Column,
    esc,
    is_missing,
    label,
    money_text,
    record_table,
    table_frame,
    table_options,
    when_text,
)
from .queue_view import error_alert

log = logging.getLogger(__name__)

# Money first after the pair, so the totals stay on screen at 1,280 px whatever else the summary carries.
SUMMARY_COLUMNS: list[Column] = [
    Column("label", "Pair", "text", 230),
    Column("procore_total", "Procore total", "money", 130),
    Column("quickbooks_total", "QuickBooks total", "money", 130),
    Column("delta", "Difference", "money", 120),
    Column("differences", "Findings", "count", 80),
    Column("procore_records", "Procore records", "count", 90),
    Column("quickbooks_records", "QuickBooks records", "count", 100),
    Column("matched_equal", "Equal", "count", 70),
    Column("matched_with_differences", "With differences", "count", 90),
    Column("only_in_procore", "Only in Procore", "count", 90),
    Column("only_in_quickbooks", "Only in QuickBooks", "count", 100),
    Column("not_exported", "Not exported", "count", 90),
    Column("ambiguous", "Ambiguous", "count", 90),
]
DIFF_COLUMNS: list[Column] = [
    Column("pair", "Pair", "text", 130),
    Column("level", "Level", "text", 80),
    Column("number", "Number", "text", 120),
    Column("field", "Field", "text", 110),
    Column("procore_value", "Procore", "text", 120),
    Column("quickbooks_value", "QuickBooks", "text", 120),
    Column("delta", "Difference", "money", 110),
    Column("reason_text", "Why", "text", 330),
    Column("vendor", "Vendor", "text", 170),
    Column("project", "Project", "text", 200),
    Column("cost_code", "Cost code", "text", 100),
    Column("procore_id", "Procore ID", "id", 110),
    Column("quickbooks_id", "QuickBooks ID", "id", 170),
    Column("matched_by", "Matched by", "text", 110),
]
LEVEL_LABELS = {"record": "Record", "header": "Header", "line": "Line"}
# Fields whose values are amounts (shown 1,234.56); other fields (names, edit sequences) stay as they are.
_TEXT_FIELDS = {"name", "EditSequence", "number", "vendor", "customer", "status", "title"}


def pair_label(pair: Any) -> str:
    return PAIRS[str(pair)].label if str(pair) in PAIRS else label(str(pair))


def value_text(field: Any, value: Any) -> str:
    if is_missing(value):
        return ""
    if str(field) not in _TEXT_FIELDS:
        try:
            return money_text(Decimal(str(value)))
        except (InvalidOperation, ValueError):
            pass
    return str(value)


def differences_display(diff: pd.DataFrame) -> pd.DataFrame:
    """The findings as the table shows them: pair, level and field in words, amounts formatted."""
    shown = diff.assign(
        pair=[pair_label(p) for p in diff["pair"].tolist()],
        level=[
            LEVEL_LABELS.get(str(v), label(str(v))) if not is_missing(v) else ""
            for v in diff["level"].tolist()
        ],
        field=[label(str(f)) if not is_missing(f) else "" for f in diff["field"].tolist()],
        procore_value=[value_text(f, v) for f, v in zip(diff["field"], diff["procore_value"], strict=True)],
        quickbooks_value=[
            value_text(f, v) for f, v in zip(diff["field"], diff["quickbooks_value"], strict=True)
        ],
    )
    return table_frame(shown, DIFF_COLUMNS)


def run_reconciliation(ws: Any) -> Any:
    """``ws.reconcile()``: the workspace's reconciliation service."""
    return ws.reconcile()


class ReconciliationView:
    def __init__(self, ws: Any):
        self.ws, self.result = ws, None
        self.run_button = pn.widgets.Button(name="Run reconciliation", button_type="primary", width=180)
        self.run_button.on_click(lambda _e: self.start())
        self.messages = pn.Column(sizing_mode="stretch_width")
        self.summary = pn.widgets.Tabulator(
            table_frame(pd.DataFrame(), SUMMARY_COLUMNS),
            show_index=False,
            disabled=True,
            layout="fit_data_table",
            sizing_mode="stretch_width",
            **table_options(SUMMARY_COLUMNS),
        )
        self.charts = pn.Row(sizing_mode="stretch_width")
        self.differences = pn.widgets.Tabulator(
            table_frame(pd.DataFrame(), DIFF_COLUMNS),
            show_index=False,
            disabled=True,
            pagination="remote",
            page_size=20,
            selectable=1,
            layout="fit_data_table",
            sizing_mode="stretch_width",
            **table_options(DIFF_COLUMNS),
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
        self.status.margin = (8, 10)
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

    def start(self) -> None:
        """Run in the next tick of the session, so the browser first shows the loading indicator (a run takes
        seconds on a large workspace); without a session (tests, notebooks) run now."""
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            self.run()
            return
        self.panel.loading = True
        self.status.object = "Reconciling… (a few seconds on a large workspace)"
        doc.add_next_tick_callback(self.run)

    def start_once(self) -> None:
        if self.result is None and not self.panel.loading:
            self.start()

    def run(self) -> bool:
        try:
            return self._run()
        finally:
            self.panel.loading = False

    def _run(self) -> bool:
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
        summary = result.summary.assign(
            label=[str(x).replace(" <-> ", " ↔ ") for x in result.summary["label"]]
        )
        self.summary.value = table_frame(summary, SUMMARY_COLUMNS)
        self.charts.objects = [
            pn.pane.Bokeh(variance_chart(result.variance("project"), "project"), sizing_mode="stretch_width"),
            pn.pane.Bokeh(variance_chart(result.variance("vendor"), "vendor"), sizing_mode="stretch_width"),
        ]
        diff = result.differences
        self.differences.value = differences_display(diff)
        self.status.object = (
            f"{result.n_differences:,} finding(s); absolute money difference "
            f"{money_text(result.total_abs_delta)} · run {esc(when_text(result.created_at))}"
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
        parts: list[Any] = [pn.pane.Markdown(f"#### {esc(row.get('reason_text') or row.get('reason'))}")]
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
                        titles={"field": "Field", "value": "Value"},
                        widths={"field": 200, "value": 320},
                        layout="fit_data_table",
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
