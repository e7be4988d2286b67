"""The ERP Integrations view: one tab per item type, Procore's filters with counts, a paged table whose columns
fit the item type and filter, the actions on the selection, and the selected item's details.

Pages are read from DuckDB (``queries.queue_page``) each time the tab, filter, search, sort or page changes,
so the browser only ever holds one page. The selection survives paging, and "Select all that match" takes
every item of the filter (all pages). Decisions go through the ERP queue's own methods, which check
permissions and apply the whole batch or nothing; this view only asks (a dialog for a reason or a batch) and
reports what happened. Every piece of data shown in a pane is escaped (``format.esc``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pandas as pd
import panel as pn

from .. import pairs as _pairs
from ..entities import PAIRS
from ..errors import BatchRejected, PermissionDenied, QbreconError
from . import queries
from .auth import DashboardUser
from .format import (
    Column,
    action_text,
    detail_text,
    esc,
    for_display,
    is_missing,
    money_text,
    record_table,
    table_frame,
    table_options,
)

log = logging.getLogger(__name__)

ACTION_LABELS = {
    "accept": "Accept",
    "reject": "Reject…",
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
PAGE_SIZES = [25, 50, 100, 250]
NAMES_SHOWN = 20  # records named in the "done" message; the rest are counted ("and N more")
# one item and several, in Procore's words ("Accepted 1 job", "Rejected 3 subcontractor invoices")
SINGULAR = {m.item_type: m.singular for m in [*_pairs.registered(), *_pairs.imported()]}
PLURAL = {m.item_type: m.plural for m in [*_pairs.registered(), *_pairs.imported()] if m.plural}


def items_text(item_type: str, n: int) -> str:
    """ "1 job", "3 companies", "2 time entries"."""
    if n == 1:
        return f"1 {SINGULAR.get(item_type, item_type)}"
    plural = PLURAL.get(item_type) or (PAIRS[item_type].label.lower() if item_type in PAIRS else item_type)
    return f"{n:,} {plural}"


NO_ERROR_RECORDED = "(no QuickBooks error recorded)"


def batched(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Run a handler with the page's changes held: the browser gets them as one message (one re-layout) at the
    end, not one message per changed widget property. (Not ``freeze=True``: models made during the hold would
    have no document yet and point their stylesheets at the CDN.)"""

    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> Any:
        if pn.state.curdoc is None:  # not served (tests, notebooks): nothing to hold
            return handler(*args, **kwargs)
        with pn.io.hold():
            return handler(*args, **kwargs)

    return run


# Reads started ahead of need or beside another read (the first queue page during sign-in, the counts beside a
# page): a few threads, each with its own store cursor.
READS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="qbrecon-dashboard-read")


# -- the columns of each tab and filter --------------------------------------------------------------------
def _c(key: str, title: str, kind: str = "text", width: int = 140) -> Column:
    return Column(key, title, kind, width)


_ID = _c("procore_id", "Procore ID", "id", 115)
_TYPE_COLUMNS: dict[str, list[Column]] = {  # pair modules declare their tab's columns
    m.item_type: [_c(c.key, c.title, c.kind, c.width) for c in m.columns] for m in _pairs.registered()
}
_SENT = [_c("sent_by_name", "Sent by", width=150), _c("sent_at", "Sent", "time", 150)]
_STATUS_COLUMNS: dict[str | None, list[Column]] = {
    "ready_to_export": [*_SENT, _c("blockers", "Blocked by", width=260)],
    "exporting": [
        *_SENT,
        _c("decided_by_name", "Accepted by", width=150),
        _c("attempts", "Attempts", "count", 90),
    ],
    "failed_to_export": [
        *_SENT,
        _c("error", "QuickBooks error", width=360),
        _c("attempts", "Attempts", "count", 90),
    ],
    "rejected": [
        _c("reason", "Rejection reason", width=300),
        _c("decided_by_name", "Rejected by", width=150),
        _c("decided_at", "Rejected", "time", 150),
    ],
    "synced": [
        _c("quickbooks_id", "QuickBooks ID", "id", 170),
        _c("attempts", "Attempts", "count", 90),
        *_SENT,
    ],
}
_DEFAULT_STATUS_COLUMNS = [_c("status_label", "Status", width=130), *_SENT]
_UPDATED = _c("updated_at", "Updated", "time", 150)

# Display column -> the stored column to sort by.
SORT_COLUMN: dict[str, str] = {"status_label": "status", "error": "last_error_message"}


def queue_columns(item_type: str, status: str | None) -> list[Column]:
    """The columns of a tab under a filter: what identifies the item type, then what the filter is about."""
    return [*_TYPE_COLUMNS[item_type], *_STATUS_COLUMNS.get(status, _DEFAULT_STATUS_COLUMNS), _UPDATED]


def error_text(code: Any, message: Any, status: Any = None) -> str:
    """The QuickBooks error of an item ("3140: There is an invalid reference ..."); a failed item without one
    says so rather than showing an empty cell."""
    if is_missing(message) or message == "":
        if not is_missing(code):
            return f"QuickBooks status code {code}"
        return NO_ERROR_RECORDED if status == "failed_to_export" else ""
    return f"{code}: {message}" if not is_missing(code) else str(message)


def queue_display(frame: pd.DataFrame, columns: list[Column] | None = None) -> pd.DataFrame:
    """A queue page as the table shows it: one "QuickBooks error" column instead of code + message, every cell
    text."""
    shown = frame.copy()
    shown["error"] = [
        error_text(c, m, s)
        for c, m, s in zip(
            shown["last_error_code"].tolist(),
            shown["last_error_message"].tolist(),
            shown["status"].tolist(),
            strict=True,
        )
    ]
    if columns is None:
        columns = [
            _ID,
            *_TYPE_COLUMNS["invoice"][1:],
            _c("status_label", "Status"),
            _c("reason", "Reason"),
            _c("error", "QuickBooks error"),
            _c("attempts", "Attempts", "count"),
            _UPDATED,
        ]
    return table_frame(shown, columns)


# -- messages ------------------------------------------------------------------------------------------------
def alert(text: str, kind: str = "info") -> pn.pane.Alert:
    """An alert whose ``text`` is Markdown written by us; data inside it must already be ``esc``-aped."""
    return pn.pane.Alert(text, alert_type=kind, sizing_mode="stretch_width")


def problem_text(problem: dict[str, Any]) -> str:
    """One offending row of a refused batch, named so the approver can find it (escaped)."""
    name = problem.get("name") or problem.get("number")
    who = f"{PAIRS[problem['item_type']].label if problem.get('item_type') in PAIRS else 'item'} "
    ident = esc(problem.get("procore_id", "?")) + (f" ({esc(name)})" if name else "")
    rest = "; ".join(
        f"{esc(k)}: {esc(v)}"
        for k, v in problem.items()
        if k not in {"item_type", "procore_id", "name", "number"}
    )
    return f"{who}{ident}" + (f": {rest}" if rest else "")


def error_alert(exc: Exception) -> pn.pane.Alert:
    """An error in the page: what was refused and which rows, in the library's own words (escaped)."""
    if isinstance(exc, BatchRejected):
        lines = [
            f"**{esc(exc.action.capitalize())} refused for {len(exc.problems)} row(s); nothing was changed.**"
        ]
        lines += [f"- {problem_text(p)}" for p in exc.problems[:50]]
        if len(exc.problems) > 50:
            lines.append(f"- … and {len(exc.problems) - 50} more")
        text = "\n".join(lines)
    elif isinstance(exc, PermissionDenied):
        text = f"**Not allowed.** {esc(exc)}"
    else:
        text = f"**{esc(type(exc).__name__)}.** {esc(exc)}"
    return alert(text, "danger")


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


def first_read(
    ws: Any, page_size: int = 25
) -> tuple[pd.DataFrame, queries.QueueQuery, tuple[pd.DataFrame, int]]:
    """What the queue shows first after sign-in: the tab and filter counts, and the first page of subcontractor
    invoices Ready to Export (the same for every user; who may act on them is decided when it is shown)."""
    query = queries.QueueQuery(item_type=queries.LANDING_TAB, status="ready_to_export", page_size=page_size)
    return queries.status_counts(ws), query, queries.queue_page(ws, query)


def _table(columns: list[Column], selectable: Any = "checkbox", height: int = 420) -> pn.widgets.Tabulator:
    """A browser table for exactly these columns: text cells, fixed widths, its own titles."""
    return pn.widgets.Tabulator(
        table_frame(pd.DataFrame(), columns),
        selectable=selectable,
        show_index=False,
        disabled=True,
        pagination=None,
        layout="fit_data_table",
        sizing_mode="stretch_width",
        height=height,
        # every row of the page in the DOM (a page is at most 250 rows): a table filled while hidden (another tab
        # or filter is showing) shows its rows when shown again, which the virtual renderer would leave empty
        configuration={"renderVertical": "basic"},
        **table_options(columns),
    )


class QueueView:
    """The approver's working view. ``refresh()`` re-reads counts and the current page."""

    def __init__(
        self,
        ws: Any,
        user: DashboardUser,
        on_change: Callable[[], None] | None = None,
        page_size: int = 25,
        first: Future | None = None,
        ahead: bool = False,
    ):
        """``first``: the first view's counts and page being read already (``first_read``), else read here.
        ``ahead``: made before anyone signed in (``app.Session``): no read and nothing shown until ``start``."""
        self.ws, self.user, self._on_change = ws, user, on_change or (lambda: None)
        self.query = queries.QueueQuery(
            item_type=queries.LANDING_TAB, status="ready_to_export", page_size=page_size
        )
        self.page_frame = pd.DataFrame()
        page: tuple[pd.DataFrame, int] | None = None
        if ahead:
            self.counts = pd.DataFrame({"item_type": [], "status": [], "items": []})
        elif first is None:
            self.counts, self.query, page = first_read(ws, page_size)
        else:
            self.counts, self.query, page = first.result()
        self.total = 0
        # the selection across pages: procore_id -> its stored row; or every item that matches the filter
        self.picked: dict[int, dict[str, Any]] = {}
        self.all_matching = False
        self._syncing = False
        self._recount = False  # a tab switch that clears the search: the search's re-read recounts
        self._pending: tuple[str, pd.DataFrame, dict[str, Any]] | None = None

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
        self.page_size = pn.widgets.Select(
            name="Rows per page",
            options=PAGE_SIZES,
            value=page_size if page_size in PAGE_SIZES else 25,
            width=110,
        )
        if page_size not in PAGE_SIZES:
            self.page_size.options = sorted({*PAGE_SIZES, page_size})
            self.page_size.value = page_size
        self.tables: dict[tuple[str, ...], pn.widgets.Tabulator] = {}
        self._empty: dict[int, pd.DataFrame] = {}  # id(table) -> its columns without rows
        self.table = self._table_for(queue_columns(self.query.item_type, self.query.status))
        # every table made so far stays in the page, the current one visible: coming back to a tab or filter
        # changes its rows and visibility, never builds a browser table again
        self.table_area = pn.Column(self.table, sizing_mode="stretch_width")
        self.pager = Pager(self._go_to_page, page_size=page_size)
        self.view_total = pn.pane.Markdown("", margin=(8, 10))
        self.empty_note = pn.pane.Markdown("", margin=(5, 10), visible=False)

        # actions (only for accounting approvers: read-only users get none of these controls)
        # one field per accept option a pair declares, shown on its tab: (item type, option name) -> widget
        self.accept_inputs: dict[tuple[str, str], Any] = {
            (m.item_type, o.name): (
                pn.widgets.Select(name=o.label, options=[], width=280)
                if o.choices_sql
                else pn.widgets.TextInput(name=o.label, placeholder=o.placeholder, width=260)
            )
            for m in _pairs.registered()
            for o in m.accept_options
        }
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
            button.on_click(lambda _e, a=action: self.ask(a))
        self.select_all = pn.widgets.Button(name="Select all that match", button_type="light", width=220)
        self.select_all.on_click(lambda _e: self.select_all_matching())
        self.clear_selection = pn.widgets.Button(name="Clear selection", button_type="light", width=140)
        self.clear_selection.on_click(lambda _e: self.clear_picked())
        self.selection_note = pn.pane.Markdown("No items selected.", margin=(5, 10))
        self.messages = pn.Column(sizing_mode="stretch_width")
        self.details = pn.Column(sizing_mode="stretch_width")

        self.dialog: pn.Modal | None = None  # made at the first selection (read-only users never need it)

        self.item_tabs.param.watch(self._on_tab, "value")
        self.filters.param.watch(self._on_filter, "value")
        self.search.param.watch(self._on_search, "value")
        self.page_size.param.watch(self._on_page_size, "value")

        controls: list[Any] = []
        if user.can_decide:
            self.action_row = pn.Row(
                *self.accept_inputs.values(),
                *self.buttons.values(),
                sizing_mode="stretch_width",
            )
            controls = [
                self.action_row,
                pn.Row(
                    self.select_all, self.clear_selection, self.selection_note, sizing_mode="stretch_width"
                ),
            ]
        else:
            self.action_row = pn.Row()
            controls = [
                alert(
                    "Read-only: accepting, rejecting and the other actions need 'Standard' or 'Admin' on the ERP "
                    "Integrations tool and the 'Can Push to Accounting' privilege.",
                    "info",
                )
            ]
        self.panel = pn.Column(
            self.item_tabs,
            pn.Row(
                pn.pane.Markdown("**Filter by**", margin=(12, 10)), self.filters, sizing_mode="stretch_width"
            ),
            pn.Row(self.search, self.page_size, sizing_mode="stretch_width"),
            self.messages,
            *controls,
            self.empty_note,
            self.table_area,
            pn.Row(self.pager, self.view_total, sizing_mode="stretch_width"),
            pn.pane.HTML("<hr>", sizing_mode="stretch_width"),
            self.details,
            sizing_mode="stretch_width",
        )
        if not ahead:
            self.refresh(recount=False, page=page)

    def start(self, user: DashboardUser, first: Future | None = None) -> None:
        """Show the first view to ``user`` in a view made ``ahead`` for a user who may do what ``user`` may (the
        same controls): its counts and page (``first``, being read already, else read now)."""
        self.user = user
        self.counts, self.query, page = (
            first_read(self.ws, self.query.page_size) if first is None else first.result()
        )
        self.refresh(recount=False, page=page)

    def _make_dialog(self) -> pn.Modal:
        """The dialog: a reason to reject, or a confirmation for a batch. Made with the first selection (the step
        before an action), so neither sign-in nor the action's click builds it."""
        if self.dialog is not None:
            return self.dialog
        self.reason = pn.widgets.TextAreaInput(
            name="Reason (required; it is e-mailed to the sender)",
            placeholder="Why is it rejected? Say what needs fixing.",
            width=460,
            height=110,
        )
        self.dialog_text = pn.pane.Markdown("")
        self.dialog_note = pn.Column()
        self.confirm = pn.widgets.Button(name="Confirm", button_type="primary", width=160)
        self.cancel = pn.widgets.Button(name="Cancel", button_type="light", width=100)
        self.confirm.on_click(lambda _e: self.confirm_pending())
        self.cancel.on_click(lambda _e: self.cancel_pending())
        self.dialog = pn.Modal(
            self.dialog_text,
            self.reason,
            self.dialog_note,
            pn.Row(self.confirm, self.cancel),
            show_close_button=False,
            background_close=False,
            width=520,
        )
        self.panel.append(self.dialog)
        return self.dialog

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

    # -- the table of the current tab and filter -------------------------------------------------------
    @property
    def columns(self) -> list[Column]:
        return queue_columns(self.query.item_type, self.query.status)

    def _table_for(self, columns: list[Column]) -> pn.widgets.Tabulator:
        """One table per column set, made once: its formats and widths are its own, never another tab's."""
        key = tuple(c.key + ":" + c.title for c in columns)
        if key not in self.tables:
            # approvers tick rows to act on them; viewers click one row to read its details
            table = _table(columns, selectable="checkbox" if self.user.can_decide else 1)
            table.param.watch(self._on_sort, "sorters")
            table.param.watch(self._on_select, "selection")
            self.tables[key] = table
            self._empty[id(table)] = table.value
        return self.tables[key]

    # -- reading -------------------------------------------------------------------------------------------
    def refresh(
        self, keep_page: bool = True, recount: bool = True, page: tuple[pd.DataFrame, int] | None = None
    ) -> None:
        """Re-read counts and the current page (after an action, or when the Web Connector changed things);
        ``page``: the current page, read already."""
        if recount and page is None:
            # the counts and the page are read at once, on two cursors (DuckDB works outside Python's lock)
            counts = READS.submit(queries.status_counts, self.ws)
            if not keep_page:
                self.query.page = 1
            page = queries.queue_page(self.ws, self.query)
            self.counts = counts.result()
        elif recount:
            self.counts = queries.status_counts(self.ws)
        for widget, options in (
            (self.item_tabs, self._tab_options()),
            (self.filters, self._filter_options()),
        ):
            if options != widget.options:  # unchanged labels: no re-render of the buttons
                widget.options = options
        if not keep_page:
            self.query.page = 1
        frame, total = queries.queue_page(self.ws, self.query) if page is None else page
        self.page_frame, self.total = frame, total
        columns = self.columns
        table = self._table_for(columns)
        self._syncing = True
        try:
            if table is not self.table:
                old, self.table = self.table, table
                old.selection = []
                old.value = self._empty[id(old)]  # a hidden table holds no rows (no stale cells in the page)
                old.visible = False
            table.visible = True  # shown before its rows arrive: a hidden table would not draw them
            table.selection = []
            table.value = queue_display(frame, columns)
            if table not in self.table_area.objects:
                self.table_area.append(table)
            if self.all_matching:  # every page of the filter is selected
                table.selection = list(range(len(frame)))
            elif self.picked and not frame.empty:
                table.selection = [
                    i for i, p in enumerate(frame["procore_id"].tolist()) if int(p) in self.picked
                ]
        finally:
            self._syncing = False
        self.pager.page_size = self.query.page_size
        self.pager.show(self.query.page, total)
        self._show_view_total()
        self._show_empty_note()
        self._update_actions()
        self._show_selection()

    def _show_view_total(self) -> None:
        module = _pairs.module(self.query.item_type)  # a tab without money (jobs, time) shows no total
        if (module is not None and not module.shows_total) or not self.total:
            self.view_total.object = ""
            return
        total = self.query.total_amount
        self.view_total.object = (
            f"**Total of the {self.total:,} item(s) in this view: {money_text(total or 0)}**"
        )

    def _show_empty_note(self) -> None:
        if self.total:
            self.empty_note.visible = False
            return
        label = PLURAL.get(self.query.item_type) or PAIRS[self.query.item_type].label.lower()
        status = queries.status_label(self.query.status) or "any status"
        text = f"No {esc(label)} under **{esc(status)}**"
        text += f" matching “{esc(self.query.search)}”." if self.query.search.strip() else "."
        if self.query.status == "ready_to_export":
            text += " Items appear here when someone sends them to ERP in Procore."
        self.empty_note.object = text
        self.empty_note.visible = True

    @batched
    def _go_to_page(self, page: int) -> None:
        self.query.page = page
        self.refresh(recount=False)

    def _new_view(self, recount: bool = False) -> None:
        """The tab, filter or search changed: the old selection, banners and details no longer apply. The
        tab and filter counts are re-read on a tab switch and after an action, not for a filter or search (the
        page read gives the view's own count)."""
        self.picked.clear()
        self.all_matching = False
        self.messages.clear()
        self.details.clear()
        self.refresh(keep_page=False, recount=recount)

    @batched
    def _on_tab(self, event: Any) -> None:
        self.query.item_type = event.new
        self.query.sort = []
        if self.search.value:
            self._recount = True
            self.search.value = ""  # a search is about one item type; clearing it re-reads the view
            return
        self._new_view(recount=True)

    @batched
    def _on_filter(self, event: Any) -> None:
        self.query.status = event.new
        self._new_view()

    @batched
    def _on_search(self, event: Any) -> None:
        self.query.search = event.new or ""
        recount, self._recount = self._recount, False
        self._new_view(recount=recount)

    @batched
    def _on_page_size(self, event: Any) -> None:
        self.query.page_size = int(event.new)
        self.refresh(keep_page=False, recount=False)

    @batched
    def _on_sort(self, event: Any) -> None:
        sort = []
        for s in event.new or []:
            column = SORT_COLUMN.get(s.get("field"), s.get("field"))
            if column in queries.QUEUE_COLUMNS:
                sort.append((column, s.get("dir") == "desc"))
        if sort != self.query.sort:
            self.query.sort = sort
            self.refresh(keep_page=False, recount=False)

    # -- selection and details --------------------------------------------------------------------------
    def selected(self) -> pd.DataFrame:
        """The selected items (stored values, not display text): picked on any page, or all that match."""
        if self.all_matching:
            return queries.matching_items(self.ws, self.query)
        if not self.picked:
            return self.page_frame.iloc[0:0]
        return pd.DataFrame(list(self.picked.values()))

    @batched
    def _on_select(self, *_events: Any) -> None:
        if self._syncing or self.page_frame.empty:
            return
        on_page = {int(p): i for i, p in enumerate(self.page_frame["procore_id"].tolist())}
        chosen = set(self.table.selection or [])
        if self.all_matching and len(chosen) < len(on_page):
            self.all_matching = False  # unticking a row ends "all that match"; keep what is still ticked
            self.picked = {}
        for pid, i in on_page.items():
            if i in chosen:
                self.picked[pid] = self.page_frame.iloc[i].to_dict()
            else:
                self.picked.pop(pid, None)
        self._show_selection()

    @batched
    def select_all_matching(self) -> None:
        self.all_matching = True
        self.picked.clear()
        self._syncing = True
        try:
            self.table.selection = list(range(len(self.page_frame)))
        finally:
            self._syncing = False
        self._show_selection()

    @batched
    def clear_picked(self) -> None:
        self.all_matching = False
        self.picked.clear()
        self._syncing = True
        try:
            self.table.selection = []
        finally:
            self._syncing = False
        self._show_selection()

    def _show_selection(self) -> None:
        if self.all_matching:  # the view's own count and total, read with its page (no read of every row)
            count, total = self.total, self.query.total_amount
            prefix = f"**All {count:,} that match selected**"
            amount = f", total {money_text(total)}" if not is_missing(total) else ""
            rows = self.page_frame if count == 1 else None
        else:
            rows = self.selected()
            count = len(rows)
            prefix = f"**{count:,} selected**"
            amounts = [a for a in rows["amount"].tolist() if not is_missing(a)] if "amount" in rows else []
            amount = (
                f", total {money_text(sum((Decimal(a) for a in amounts), Decimal(0)))}" if amounts else ""
            )
        if not count:
            self.selection_note.object = "No items selected."
            self.details.clear()
            return
        self.selection_note.object = f"{prefix}{amount}."
        if self.user.can_decide:  # the Accept/Reject click that follows then opens a dialog the browser has
            self._make_dialog()
        if count == 1 and rows is not None and len(rows):
            self.show_details(int(rows["procore_id"].iloc[0]))
        else:
            self.details.clear()

    def show_details(self, procore_id: int) -> None:
        detail = queries.item_detail(self.ws, self.query.item_type, procore_id)
        label = SINGULAR.get(detail.item_type, detail.item_type).capitalize()
        title = detail.header.get("name") or detail.header.get("title") or detail.header.get("invoice_number")
        parts: list[Any] = [
            pn.pane.Markdown(f"### {esc(label)} {procore_id}" + (f": {esc(title)}" if title else ""))
        ]
        status = queries.status_label(detail.queue.get("status"))
        line = f"Status: **{esc(status)}**"
        if detail.queue.get("reason"):
            line += f" · Reason: {esc(detail.queue['reason'])}"
        attempts = detail.queue.get("attempts")
        if attempts:
            line += f" · Export attempts: {int(attempts)}"
        parts.append(pn.pane.Markdown(line))
        error = error_text(
            detail.queue.get("last_error_code"),
            detail.queue.get("last_error_message"),
            detail.queue.get("status"),
        )
        if error:
            parts.append(alert(f"**QuickBooks error:** {esc(error)}", "warning"))
        header = record_table(detail.header)
        parts.append(
            pn.widgets.Tabulator(
                header,
                show_index=False,
                disabled=True,
                layout="fit_data_table",
                height=min(60 + 30 * len(header), 320),
                sizing_mode="stretch_width",
                titles={"field": "Field", "value": "Value"},
                widths={"field": 240, "value": 520},
            )
        )
        if detail.lines is not None:
            lines = for_display(detail.lines)
            parts.append(pn.pane.Markdown(f"**Lines** ({len(detail.lines)})"))
            from .format import label as field_label

            parts.append(
                pn.widgets.Tabulator(
                    lines,
                    show_index=False,
                    disabled=True,
                    titles={c: field_label(c) for c in lines.columns},
                    layout="fit_data_table",
                    sizing_mode="stretch_width",
                    height=min(60 + 32 * len(detail.lines), 320),
                )
            )
        if len(detail.audit):
            history = detail.audit.assign(
                action=[action_text(a) for a in detail.audit["action"]],
                from_status=[queries.status_label(s) for s in detail.audit["from_status"]],
                to_status=[queries.status_label(s) for s in detail.audit["to_status"]],
                detail=[detail_text(d) for d in detail.audit["detail"]],
            )
            columns = [
                Column("at", "When", "time", 150),
                Column("actor_name", "By", "text", 140),
                Column("action", "What happened", "text", 200),
                Column("from_status", "From", "text", 120),
                Column("to_status", "To", "text", 120),
                Column("reason", "Reason", "text", 240),
                Column("detail", "Detail", "text", 300),
            ]
            parts.append(pn.pane.Markdown("**History**"))
            parts.append(
                pn.widgets.Tabulator(
                    table_frame(history, columns),
                    show_index=False,
                    disabled=True,
                    layout="fit_data_table",
                    sizing_mode="stretch_width",
                    height=min(60 + 32 * len(detail.audit), 260),
                    **table_options(columns),
                )
            )
        self.details.objects = parts

    # -- actions ---------------------------------------------------------------------------------------
    def _update_actions(self) -> None:
        allowed = queries.allowed_actions(self.query.status, self.query.item_type)
        for action, button in self.buttons.items():
            button.visible = self.user.can_decide and action in allowed
            button.disabled = not self.user.can_decide
        accepting = self.user.can_decide and "accept" in allowed
        for (item_type, _name), widget, option in self._accept_fields():
            widget.visible = accepting and self.query.item_type == item_type
            if widget.visible and option.choices_sql:
                widget.options = queries.option_values(self.ws, option.choices_sql)
            elif widget.visible and option.examples_sql:
                known = queries.option_values(self.ws, option.examples_sql)
                widget.placeholder = "e.g. " + ", ".join(known[:3]) if known else option.placeholder
        self.select_all.visible = self.user.can_decide and bool(allowed) and self.total > 0
        self.select_all.name = f"Select all {self.total:,} that match"

    def _options(self, action: str, rows: pd.DataFrame) -> dict[str, Any] | str:
        """The accept options the CLI offers, from the page's fields; a text when one is missing or wrong."""
        options: dict[str, Any] = {}
        if action != "accept":
            return options
        for (item_type, name), widget, option in self._accept_fields():
            if item_type != self.query.item_type:
                continue
            typed = getattr(widget, "value_input", None)
            value = str(typed or widget.value or "").strip()
            if not value:
                if option.required:
                    return option.required
                continue
            if option.one_item and len(rows) > 1:
                return option.one_item
            options[name] = value
        return options

    def _accept_fields(self) -> list[tuple[tuple[str, str], Any, _pairs.AcceptOption]]:
        """(key, widget, declared option) of every accept field."""
        declared = {(m.item_type, o.name): o for m in _pairs.registered() for o in m.accept_options}
        return [(key, widget, declared[key]) for key, widget in self.accept_inputs.items()]

    @batched
    def ask(self, action: str) -> bool:
        """A button was pressed: check the selection and options, then act at once (one item) or open the
        dialog (a reason to reject, a confirmation for a batch). True when the action ran or the dialog opened."""
        self.messages.clear()
        rows = self.selected()
        if rows.empty:
            self.messages.append(alert(f"Select one or more items to {action}.", "warning"))
            return False
        options = self._options(action, rows)
        if isinstance(options, str):
            self.messages.append(alert(esc(options), "warning"))
            return False
        if action == "reject" or len(rows) > 1:
            self._open_dialog(action, rows, options)
            return True
        return self.run_action(action, rows=rows, **options)

    def _open_dialog(self, action: str, rows: pd.DataFrame, options: dict[str, Any]) -> None:
        dialog = self._make_dialog()
        self._pending = (action, rows, options)
        what = self._what(rows)
        amounts = [a for a in rows["amount"].tolist() if not is_missing(a)] if "amount" in rows else []
        total = f" (total {money_text(sum((Decimal(a) for a in amounts), Decimal(0)))})" if amounts else ""
        verb = ACTION_LABELS[action].rstrip("…")
        self.dialog_text.object = f"### {verb} {esc(what)}{total}?"
        self.reason.visible = action == "reject"
        self.reason.value = ""
        self.dialog_note.objects = []
        self.confirm.name = f"{verb} {len(rows):,}" if len(rows) > 1 else verb
        self.confirm.button_type = "danger" if action in ("reject", "unlink") else "primary"
        dialog.open = True

    @batched
    def confirm_pending(self) -> bool:
        if self._pending is None:
            return False
        action, rows, options = self._pending
        if action == "reject":
            reason = (self.reason.value_input or self.reason.value or "").strip()
            if not reason:
                self.dialog_note.objects = [
                    alert("A reason is required to reject: say what needs fixing.", "warning")
                ]
                return False
            options = {**options, "reason": reason}
        self._pending = None
        self.dialog.open = False
        return self.run_action(action, rows=rows, **options)

    @batched
    def cancel_pending(self) -> None:
        self._pending = None
        if self.dialog is not None:
            self.dialog.open = False

    def _what(self, rows: pd.DataFrame) -> str:
        return items_text(self.query.item_type, len(rows))

    def run_action(self, action: str, rows: pd.DataFrame | None = None, **options: Any) -> bool:
        """Apply ``action`` to ``rows`` (default: the selection) through the ERP queue; report the outcome."""
        self.messages.clear()
        rows = self.selected() if rows is None else rows
        if rows.empty:
            self.messages.append(alert(f"Select one or more items to {action}.", "warning"))
            return False
        if action == "reject" and not str(options.get("reason") or "").strip():
            self.messages.append(alert("A reason is required to reject: say what needs fixing.", "warning"))
            return False
        try:
            apply_action(self.ws, action, rows, self.user, **options)
        except QbreconError as exc:
            self.messages.append(error_alert(exc))
            return False
        except Exception as exc:  # a bug or a broken workspace: say so in the page, keep the session alive
            log.exception("%s failed", action)
            self.messages.append(error_alert(exc))
            return False
        numbers = rows["number"] if "number" in rows else pd.Series([None] * len(rows))
        names = [
            n
            for n in numbers.where(numbers.notna(), rows.get("name")).tolist()[:NAMES_SHOWN]
            if not is_missing(n)
        ]
        text = f"{ACTION_DONE[action]} {esc(self._what(rows))}"
        if names:
            text += ": " + ", ".join(esc(n) for n in names)
            text += f" and {len(rows) - len(names):,} more" if len(rows) > len(names) else ""
        self.picked.clear()
        self.all_matching = False
        if action == "accept":  # a value for one item is not offered again for the next
            for _key, widget, option in self._accept_fields():
                if option.one_item:
                    widget.value = widget.value_input = ""
        self.refresh()
        self.messages.append(alert(text + ".", "success"))
        self._on_change()
        return True


def apply_action(ws: Any, action: str, rows: pd.DataFrame, user: DashboardUser, **options: Any) -> Any:
    """Call the ERP queue's method for ``action`` on the selected rows (all-or-nothing in the library)."""
    selection = rows[["item_type", "procore_id"]].reset_index(drop=True)
    method = getattr(ws, action)
    return method(selection, by=user.id, **options)
