"""The audit log: every change of an ERP item (who, when, action, from -> to, reason), newest first, paged in
DuckDB like the queue."""

from __future__ import annotations

from typing import Any

import panel as pn

from ..entities import PAIRS
from . import queries
from .format import TITLES, for_display
from .queue_view import Pager

# Fixed widths: the tab may render while hidden, when Tabulator cannot measure its data.
WIDTHS = {
    "audit_id": 60,
    "at": 140,
    "actor_name": 140,
    "action": 150,
    "item_type": 180,
    "procore_id": 100,
    "from_status": 130,
    "to_status": 130,
    "reason": 260,
}


class AuditView:
    def __init__(self, ws: Any, page_size: int = 50):
        self.ws, self.page_size, self.page = ws, page_size, 1
        self.item_type = pn.widgets.Select(
            name="Item type",
            options={"All": ""} | {PAIRS[t].label: t for t in queries.TAB_ORDER},
            value="",
            width=240,
        )
        self.table = pn.widgets.Tabulator(
            for_display(queries.audit_rows(ws, limit=0)),
            show_index=False,
            disabled=True,
            titles=TITLES,
            layout="fit_data_stretch",
            widths=WIDTHS,
            sizing_mode="stretch_width",
            height=520,
            pagination=None,
        )
        self.pager = Pager(self._go_to_page, page_size=page_size)
        self.item_type.param.watch(lambda _e: self._go_to_page(1), "value")
        self.panel = pn.Column(
            pn.pane.Markdown("### Audit log"),
            self.item_type,
            self.table,
            self.pager,
            sizing_mode="stretch_width",
        )
        self.refresh()

    def _go_to_page(self, page: int) -> None:
        self.page = page
        self.refresh()

    def refresh(self) -> None:
        item_type = self.item_type.value or None
        total = queries.audit_count(self.ws, item_type)
        last = max((total + self.page_size - 1) // self.page_size, 1)
        self.page = min(max(self.page, 1), last)
        rows = queries.audit_rows(
            self.ws, item_type=item_type, limit=self.page_size, offset=(self.page - 1) * self.page_size
        )
        rows["item_type"] = rows["item_type"].map(lambda t: PAIRS[t].label if t in PAIRS else t)
        for column in ("from_status", "to_status"):
            rows[column] = rows[column].map(queries.status_label)
        rows["procore_id"] = rows["procore_id"].astype("string")
        rows["audit_id"] = rows["audit_id"].astype("string")
        self.table.value = for_display(rows)
        self.pager.show(self.page, total)
