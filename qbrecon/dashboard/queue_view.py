"""The ERP Integrations view: one tab per item type, Procore's filters with counts, a paged table, the
actions on the selection, and the selected item's details.

Pages are read from DuckDB (``queries.queue_page``) each time the tab, filter, search, sort or page changes,
so the browser only ever holds one page. Decisions go through the ERP queue's own methods, which check
permissions and apply the whole batch or nothing; this view only reports what happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn

from ..entities import PAIRS
from ..errors import BatchRejected, PermissionDenied, QbreconError
from . import queries
from .auth import DashboardUser
from .format import SORT_COLUMN, TITLES, money_text, queue_display, record_table

log = logging.getLogger(__name__)

ACTION_LABELS = {
    "accept": "Accept",
    "reject": "Reject",
    "retry": "Retry",
    "retrieve": "Retrieve",
    "unlink": "Unlink",
}
ACTION_DONE = {
    "accept": "Accepted",
    "reject": "Rejected",
    "retry": "Sent again",
    "retrieve": "Retrieved",
    "unlink": "Unlinked",
}


def problem_text(problem: dict[str, Any]) -> str:
    """One offending row of a refused batch, named so the approver can find it."""
    name = problem.get("name") or problem.get("number")
    who = f"{PAIRS[problem['item_type']].label if problem.get('item_type') in PAIRS else 'item'} "
    ident = f"{problem.get('procore_id', '?')}" + (f" ({name})" if name else "")
    rest = ", ".join(
        f"{k}: {v}" for k, v in problem.items() if k not in {"item_type", "procore_id", "name", "number"}
    )
    return f"{who}{ident}" + (f": {rest}" if rest else "")


def error_alert(exc: Exception) -> pn.pane.Alert:
    """An error in the page: what was refused and which rows, in the library's own words."""
    if isinstance(exc, BatchRejected):
        lines = [
            f"**{exc.action.capitalize()} refused for {len(exc.problems)} row(s); nothing was changed.**"
        ]
        lines += [f"- {problem_text(p)}" for p in exc.problems[:50]]
        if len(exc.problems) > 50:
            lines.append(f"- … and {len(exc.problems) - 50} more")
        text = "\n".join(lines)
    elif isinstance(exc, PermissionDenied):
        text = f"**Not allowed.** {exc}"
    else:
        text = f"**{type(exc).__name__}.** {exc}"
    return pn.pane.Alert(text, alert_type="danger", sizing_mode="stretch_width")


class Pager(pn.Row):
    """Previous / next buttons and "Page 2 of 40 · rows 26-50 of 1,000" for a query read page by page."""

    def __init__(self, on_page: Callable[[int], None], page_size: int = 25):
        self._on_page = on_page
        self.page, self.total, self.page_size = 1, 0, page_size
        self.prev = pn.widgets.Button(name="◀ Previous", width=110, disabled=True)
        self.next = pn.widgets.Button(name="Next ▶", width=90, disabled=True)
        self.text = pn.pane.Markdown("", margin=(8, 10))
        self.prev.on_click(lambda _e: self._on_page(self.page - 1))
        self.next.on_click(lambda _e: self._on_page(self.page + 1))
        super().__init__(self.prev, self.text, self.next)

    @property
    def last_page(self) -> int:
        return max((self.total + self.page_size - 1) // self.page_size, 1)

    def show(self, page: int, total: int) -> None:
        self.page, self.total = page, total
        first = (page - 1) * self.page_size + 1 if total else 0
        last = min(page * self.page_size, total)
        self.text.object = f"Page {page:,} of {self.last_page:,} · rows {first:,}–{last:,} of {total:,}"
        self.prev.disabled = page <= 1
        self.next.disabled = page >= self.last_page


class QueueView:
    """The approver's working view. ``refresh()`` re-reads counts and the current page."""

    def __init__(
        self, ws: Any, user: DashboardUser, on_change: Callable[[], None] | None = None, page_size: int = 25
    ):
        self.ws, self.user, self._on_change = ws, user, on_change or (lambda: None)
        self.query = queries.QueueQuery(item_type="invoice", status="ready_to_export", page_size=page_size)
        self.page_frame = pd.DataFrame()
        self.counts = queries.status_counts(ws)

        self.item_tabs = pn.widgets.RadioButtonGroup(
            options=self._tab_options(),
            value=self.query.item_type,
            button_type="primary",
            button_style="outline",
            sizing_mode="stretch_width",
        )
        self.filters = pn.widgets.RadioButtonGroup(
            options=self._filter_options(),
            value=self.query.status,
            button_type="default",
            sizing_mode="stretch_width",
        )
        self.search = pn.widgets.TextInput(
            placeholder="Search name, number, vendor, project or Procore ID",
            sizing_mode="stretch_width",
            name="Search",
        )
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(),
            selectable="checkbox",
            show_index=False,
            disabled=True,
            pagination=None,
            layout="fit_data_stretch",
            sizing_mode="stretch_width",
            height=420,
            titles=TITLES,
            text_align={"amount": "right", "attempts": "right"},
            header_align="left",
        )
        self.pager = Pager(self._go_to_page, page_size=page_size)

        # actions
        self.customer = pn.widgets.Select(name="QuickBooks customer", options=[], width=260, visible=False)
        self.vendor_type = pn.widgets.Select(name="Vendor type", options=[], width=200, visible=False)
        self.reason = pn.widgets.TextInput(
            name="Reason (required to reject)", placeholder="Why is it rejected?", width=320
        )
        self.buttons = {
            a: pn.widgets.Button(name=ACTION_LABELS[a], button_type=bt, width=100, align="end")
            for a, bt in [
                ("accept", "success"),
                ("reject", "danger"),
                ("retry", "primary"),
                ("retrieve", "default"),
                ("unlink", "warning"),
            ]
        }
        for action, button in self.buttons.items():
            button.on_click(lambda _e, a=action: self.run_action(a))
        self.selection_note = pn.pane.Markdown("No items selected.", margin=(5, 10))
        self.messages = pn.Column(sizing_mode="stretch_width")
        self.details = pn.Column(sizing_mode="stretch_width")
        read_only_note = pn.pane.Alert(
            "Read-only: accepting, rejecting and the other actions need 'Standard' or 'Admin' on the ERP "
            "Integrations tool and the 'Can Push to Accounting' privilege.",
            alert_type="info",
            visible=not user.can_decide,
            sizing_mode="stretch_width",
        )

        self.item_tabs.param.watch(self._on_tab, "value")
        self.filters.param.watch(self._on_filter, "value")
        self.search.param.watch(self._on_search, "value")
        self.table.param.watch(self._on_sort, "sorters")
        self.table.param.watch(self._on_select, "selection")

        actions = pn.Row(
            self.customer,
            self.vendor_type,
            self.buttons["accept"],
            self.reason,
            self.buttons["reject"],
            self.buttons["retry"],
            self.buttons["retrieve"],
            self.buttons["unlink"],
            sizing_mode="stretch_width",
        )
        self.panel = pn.Column(
            self.item_tabs,
            pn.Row(
                pn.pane.Markdown("**Filter by**", margin=(12, 10)), self.filters, sizing_mode="stretch_width"
            ),
            self.search,
            read_only_note,
            self.messages,
            actions,
            self.selection_note,
            self.table,
            self.pager,
            pn.layout.Divider(),
            self.details,
            sizing_mode="stretch_width",
        )
        self.refresh()

    # -- labels with counts ----------------------------------------------------------------------------
    def _tab_options(self) -> dict[str, str]:
        """Tab label -> item type; each label carries the number of items waiting (Ready to Export)."""
        out = {}
        for item_type in queries.TAB_ORDER:
            waiting = queries.count_of(self.counts, item_type, "ready_to_export")
            out[f"{PAIRS[item_type].label} ({waiting:,})"] = item_type
        return out

    def _filter_options(self) -> dict[str, str]:
        return {
            f"{queries.status_label(s)} ({queries.count_of(self.counts, self.query.item_type, s):,})": s
            for s in queries.FILTERS
        }

    # -- reading -------------------------------------------------------------------------------------------
    def refresh(self, keep_page: bool = True) -> None:
        """Re-read counts and the current page (after an action, or when the Web Connector changed things)."""
        self.counts = queries.status_counts(self.ws)
        self.item_tabs.options = self._tab_options()
        self.filters.options = self._filter_options()
        if not keep_page:
            self.query.page = 1
        frame, total = queries.queue_page(self.ws, self.query)
        self.page_frame = frame
        self.table.selection = []
        self.table.value = queue_display(frame)
        self.pager.show(self.query.page, total)
        self._update_actions()
        self._on_select()

    def _go_to_page(self, page: int) -> None:
        self.query.page = page
        self.refresh()

    def _on_tab(self, event: Any) -> None:
        self.query.item_type = event.new
        self.messages.clear()
        self.refresh(keep_page=False)

    def _on_filter(self, event: Any) -> None:
        self.query.status = event.new
        self.refresh(keep_page=False)

    def _on_search(self, event: Any) -> None:
        self.query.search = event.new or ""
        self.refresh(keep_page=False)

    def _on_sort(self, event: Any) -> None:
        sort = []
        for s in event.new or []:
            column = SORT_COLUMN.get(s.get("field"), s.get("field"))
            if column in queries.QUEUE_COLUMNS:
                sort.append((column, s.get("dir") == "desc"))
        if sort != self.query.sort:
            self.query.sort = sort
            self.refresh(keep_page=False)

    # -- selection and details --------------------------------------------------------------------------
    def selected(self) -> pd.DataFrame:
        """The selected rows of the current page (stored values, not display text)."""
        if self.page_frame.empty or not self.table.selection:
            return self.page_frame.iloc[0:0]
        return self.page_frame.iloc[sorted(self.table.selection)]

    def _on_select(self, *_events: Any) -> None:
        rows = self.selected()
        if rows.empty:
            self.selection_note.object = "No items selected."
            self.details.clear()
            return
        total = rows["amount"].dropna()
        amount = f", total {money_text(total.sum())}" if len(total) else ""
        self.selection_note.object = f"**{len(rows)} selected**{amount}."
        if len(rows) == 1:
            self.show_details(int(rows["procore_id"].iloc[0]))
        else:
            self.details.clear()

    def show_details(self, procore_id: int) -> None:
        detail = queries.item_detail(self.ws, self.query.item_type, procore_id)
        label = PAIRS[detail.item_type].label
        title = detail.header.get("name") or detail.header.get("title") or detail.header.get("invoice_number")
        parts: list[Any] = [pn.pane.Markdown(f"### {label} {procore_id}" + (f": {title}" if title else ""))]
        status = queries.status_label(detail.queue.get("status"))
        parts.append(
            pn.pane.Markdown(
                f"Status: **{status}**"
                + (f" · Reason: {detail.queue['reason']}" if detail.queue.get("reason") else "")
            )
        )
        if detail.quickbooks_error:
            parts.append(
                pn.pane.Alert(f"**QuickBooks error** {detail.quickbooks_error}", alert_type="warning")
            )
        parts.append(
            pn.widgets.Tabulator(
                record_table(detail.header),
                show_index=False,
                disabled=True,
                layout="fit_data_stretch",
                height=260,
                sizing_mode="stretch_width",
                titles={"field": "Field", "value": "Value"},
            )
        )
        if detail.lines is not None:
            from .format import for_display

            parts.append(pn.pane.Markdown(f"**Lines** ({len(detail.lines)})"))
            parts.append(
                pn.widgets.Tabulator(
                    for_display(detail.lines),
                    show_index=False,
                    disabled=True,
                    layout="fit_data_table",
                    sizing_mode="stretch_width",
                    height=min(60 + 32 * len(detail.lines), 320),
                )
            )
        if len(detail.audit):
            from .format import for_display

            parts.append(pn.pane.Markdown("**History**"))
            parts.append(
                pn.widgets.Tabulator(
                    for_display(detail.audit),
                    show_index=False,
                    disabled=True,
                    titles=TITLES,
                    layout="fit_data_table",
                    sizing_mode="stretch_width",
                    height=min(60 + 32 * len(detail.audit), 260),
                )
            )
        self.details.objects = parts

    # -- actions ---------------------------------------------------------------------------------------
    def _update_actions(self) -> None:
        allowed = queries.allowed_actions(self.query.status, self.query.item_type)
        for action, button in self.buttons.items():
            button.disabled = not (self.user.can_decide and action in allowed)
            button.visible = self.user.can_decide or action in ("accept", "reject")
        self.reason.disabled = not (self.user.can_decide and "reject" in allowed)
        self.customer.visible = self.query.item_type == "project" and "accept" in allowed
        if self.customer.visible:
            self.customer.options = queries.quickbooks_customers(self.ws)
            self.customer.disabled = not self.user.can_decide
        self.vendor_type.visible = self.query.item_type == "company" and "accept" in allowed
        if self.vendor_type.visible:
            self.vendor_type.options = [""] + queries.quickbooks_vendor_types(self.ws)
            self.vendor_type.disabled = not self.user.can_decide

    def run_action(self, action: str) -> bool:
        """Apply ``action`` to the selection through the ERP queue; report the outcome in the page."""
        self.messages.clear()
        rows = self.selected()
        if rows.empty:
            self.messages.append(
                pn.pane.Alert(f"Select one or more items to {action}.", alert_type="warning")
            )
            return False
        options: dict[str, Any] = {}
        if action == "reject":
            if not (self.reason.value or "").strip():
                self.messages.append(
                    pn.pane.Alert(
                        "A reason is required to reject: say what needs fixing.", alert_type="warning"
                    )
                )
                return False
            options["reason"] = self.reason.value.strip()
        if action == "accept" and self.query.item_type == "project":
            if not self.customer.value:
                self.messages.append(
                    pn.pane.Alert("Choose the QuickBooks customer the job goes under.", alert_type="warning")
                )
                return False
            options["customer"] = self.customer.value
        if action == "accept" and self.query.item_type == "company" and self.vendor_type.value:
            options["vendor_type"] = self.vendor_type.value
        try:
            apply_action(self.ws, action, rows, self.user, **options)
        except QbreconError as exc:
            self.messages.append(error_alert(exc))
            return False
        except Exception as exc:  # a bug or a broken workspace: say so in the page, keep the session alive
            log.exception("%s failed", action)
            self.messages.append(error_alert(exc))
            return False
        names = ", ".join(str(n) for n in (rows["number"].fillna(rows["name"]).fillna("").tolist()) if n)
        label = PAIRS[self.query.item_type].label
        self.messages.append(
            pn.pane.Alert(
                f"{ACTION_DONE[action]} {len(rows)} {label.lower() if len(rows) != 1 else label.lower().rstrip('s')}"
                + (f": {names}" if names else "")
                + ".",
                alert_type="success",
            )
        )
        if action == "reject":
            self.reason.value = ""
        self.refresh()
        self._on_change()
        return True


def apply_action(ws: Any, action: str, rows: pd.DataFrame, user: DashboardUser, **options: Any) -> Any:
    """Call the ERP queue's method for ``action`` on the selected rows (all-or-nothing in the library)."""
    selection = rows[["item_type", "procore_id"]].reset_index(drop=True)
    method = getattr(ws, action)
    return method(selection, by=user.id, **options)
