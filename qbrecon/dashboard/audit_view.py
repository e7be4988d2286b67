"""The audit log: every change of an ERP item (who, when, what happened, from -> to, reason), newest first, in
plain words, searchable by user, action, item and date, paged in DuckDB like the queue."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from ..entities import PAIRS
from . import queries
from .format import Column, action_text, detail_text, table_frame, table_options
from .queue_view import Pager

# Fixed widths: the tab may render while hidden, when Tabulator cannot measure its data.
COLUMNS: list[Column] = [
    Column("at", "When", "time", 150),
    Column("actor_name", "By", "text", 150),
    Column("action", "What happened", "text", 220),
    Column("item_type", "Item type", "text", 170),
    Column("procore_id", "Procore ID", "id", 115),
    Column("from_status", "From", "text", 130),
    Column("to_status", "To", "text", 130),
    Column("reason", "Reason", "text", 240),
    Column("detail", "Detail", "text", 320),
]
OTHER_ITEM_TYPES = {"settings": "Settings", "user": "User"}


def audit_display(rows: pd.DataFrame) -> pd.DataFrame:
    """Audit rows in words: actions, item types and statuses as people say them, JSON details as text."""
    shown = rows.assign(
        action=[action_text(a) for a in rows["action"].tolist()],
        item_type=[
            PAIRS[t].label if t in PAIRS else OTHER_ITEM_TYPES.get(str(t), str(t))
            for t in rows["item_type"].tolist()
        ],
        from_status=[queries.status_label(s) for s in rows["from_status"].tolist()],
        to_status=[queries.status_label(s) for s in rows["to_status"].tolist()],
        detail=[detail_text(d) for d in rows["detail"].tolist()],
    )
    return table_frame(shown, COLUMNS)


class AuditView:
    def __init__(self, ws: Any, page_size: int = 50):
        self.ws, self.page_size, self.page = ws, page_size, 1
        self.item_type = pn.widgets.Select(
            name="Item type",
            options={"All": ""} | {PAIRS[t].label: t for t in queries.TAB_ORDER} | {"Settings": "settings"},
            value="",
            width=200,
        )
        self.user = pn.widgets.TextInput(name="User", placeholder="name", width=160)
        self.action = pn.widgets.Select(name="What happened", options={"All": ""}, value="", width=220)
        self.item = pn.widgets.TextInput(name="Item", placeholder="Procore ID, name or number", width=200)
        self.date_from = pn.widgets.DatePicker(name="From day", width=140)
        self.date_to = pn.widgets.DatePicker(name="To day", width=140)
        self.table = pn.widgets.Tabulator(
            table_frame(pd.DataFrame(), COLUMNS),
            show_index=False,
            disabled=True,
            layout="fit_data_table",
            sizing_mode="stretch_width",
            height=520,
            pagination=None,
            **table_options(COLUMNS),
        )
        self.pager = Pager(self._go_to_page, page_size=page_size)
        self.empty_note = pn.pane.Markdown("No audit rows match this search.", visible=False)
        for widget in (self.item_type, self.user, self.action, self.item, self.date_from, self.date_to):
            widget.param.watch(lambda _e: self._go_to_page(1), "value")
        self.panel = pn.Column(
            pn.pane.Markdown("### Audit log"),
            pn.Row(self.item_type, self.user, self.action, self.item, self.date_from, self.date_to),
            self.empty_note,
            self.table,
            self.pager,
            sizing_mode="stretch_width",
        )
        self.refresh()

    def search(self) -> queries.AuditQuery:
        return queries.AuditQuery(
            item_type=self.item_type.value or None,
            user=self.user.value or "",
            action=self.action.value or None,
            item=self.item.value or "",
            date_from=self.date_from.value,
            date_to=self.date_to.value,
        )

    def _go_to_page(self, page: int) -> None:
        self.page = page
        self.refresh()

    def refresh(self) -> None:
        actions = {"All": ""} | {action_text(a): a for a in queries.audit_actions(self.ws)}
        if actions != self.action.options:
            self.action.options = actions
        search = self.search()
        total = queries.audit_count(self.ws, search=search)
        last = max((total + self.page_size - 1) // self.page_size, 1)
        self.page = min(max(self.page, 1), last)
        rows = queries.audit_rows(
            self.ws, limit=self.page_size, offset=(self.page - 1) * self.page_size, search=search
        )
        self.table.value = audit_display(rows)
        self.empty_note.visible = total == 0
        self.pager.show(self.page, total)
