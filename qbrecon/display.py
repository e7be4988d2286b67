"""Rich display in Jupyter for the objects analysts look at most.

``LoadReport`` and ``Reconciliation`` carry their own ``_repr_html_`` (in their modules); this module adds the
two views that are not one object's: the workspace at a glance (``Workspace._repr_html_`` calls
``workspace_html``) and a styled ERP queue frame (``style_queue``), plus ``variance_figure`` for a Bokeh chart
of a reconciliation's variances. Everything reads through SQL over the store; amounts are formatted straight
from ``Decimal`` (never through float), so what is shown is what is stored.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import pandas as pd

from .entities import PAIRS
from .erp.states import STATUSES
from .formats import money_text
from .schemas import PROCORE_TABLES, QUICKBOOKS_TABLES

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

# Status -> background colour, close to Procore's ERP Integrations tool (yellow = editable again, red = failed).
STATUS_COLOURS = {
    "not_sent": "#f4f6f7",
    "ready_to_export": "#d6eaf8",
    "retrieved": "#fcf3cf",
    "exporting": "#d1f2eb",
    "synced": "#d5f5e3",
    "failed_to_export": "#fadbd8",
    "rejected": "#fcf3cf",
    "unlinked": "#eaeded",
}
# The queue columns an approver reads first (the rest stay available with ``columns=None``).
QUEUE_COLUMNS = [
    "item_label",
    "procore_id",
    "name",
    "number",
    "vendor",
    "project",
    "amount",
    "status_label",
    "blockers",
    "last_error_message",
]


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, na_rep="", border=0, classes="qbrecon", escape=True)


def workspace_counts(ws: Any) -> pd.DataFrame:
    """Rows per source table on each side, in one query."""
    present = set(ws.store.table_names())
    parts = [
        f"SELECT '{side}' AS side, '{t}' AS \"table\", count(*) AS rows FROM \"{t}\""
        for side, tables in (("Procore", PROCORE_TABLES), ("QuickBooks", QUICKBOOKS_TABLES))
        for t in tables
        if t in present
    ]
    if not parts:
        return pd.DataFrame({"side": [], "table": [], "rows": []})
    return ws.store.frame(" UNION ALL ".join(parts))


def queue_counts(ws: Any) -> pd.DataFrame:
    """ERP queue items per item type (rows) and status (columns), labelled as in the ERP Integrations tool."""
    if "erp_items" not in set(ws.store.table_names()):
        return pd.DataFrame()
    counts = ws.store.frame("SELECT item_type, status, count(*) AS n FROM erp_items GROUP BY ALL")
    if counts.empty:
        return pd.DataFrame()
    pivot = counts.pivot_table(index="item_type", columns="status", values="n", aggfunc="sum", fill_value=0)
    order = [s for s in STATUSES if s in pivot.columns]
    types = sorted(pivot.index, key=lambda t: (PAIRS[t].export_order if t in PAIRS else 99, t))
    pivot = pivot.loc[types, order].astype("int64")
    pivot.columns = [STATUSES[s] for s in order]
    pivot.index = [PAIRS[t].label if t in PAIRS else t for t in pivot.index]
    return pivot.rename_axis("item type").reset_index()


def workspace_html(ws: Any) -> str:
    """The workspace at a glance: rows per table on both sides, loads and quarantine, the ERP queue by status,
    and the qbXML messages archived."""
    present = set(ws.store.table_names())
    where = html.escape(str(ws.path) if ws.path else ":memory:")
    parts = [f"<div class='qbrecon-workspace'><p><b>qbrecon workspace</b> <code>{where}</code></p>"]
    counts = workspace_counts(ws)
    if counts.empty or int(counts["rows"].sum()) == 0:
        parts.append(
            "<p>Nothing loaded yet: <code>ws.load_procore(folder)</code>, "
            "<code>ws.load_quickbooks(folder)</code>.</p>"
        )
    else:
        side_by_side = []
        for side in ("Procore", "QuickBooks"):
            rows = counts[(counts["side"] == side) & (counts["rows"] > 0)][["table", "rows"]]
            body = _table(rows) if len(rows) else "<p>nothing loaded</p>"
            side_by_side.append(
                f"<div style='display:inline-block;vertical-align:top;margin-right:2em'>"
                f"<b>{side}</b>{body}</div>"
            )
        parts.append("".join(side_by_side))
    facts = []
    if "load_runs" in present:
        # as text: fetching a TIMESTAMPTZ into Python needs pytz, which is not a dependency
        ((loads, last),) = ws.store.execute(
            "SELECT count(*), max(finished_at)::VARCHAR FROM load_runs"
        ).fetchall()
        facts.append(
            f"{loads} load(s)" + (f", the last finished {html.escape(str(last))[:19]}" if last else "")
        )
    if "quarantine" in present:
        held = ws.store.scalar("SELECT count(*) FROM quarantine")
        facts.append(f"{held} quarantined field(s)" + (" (<code>ws.quarantine()</code>)" if held else ""))
    if "qbxml_messages" in present:
        sent = ws.store.scalar("SELECT count(*) FROM qbxml_messages")
        facts.append(f"{sent} qbXML message(s) archived")
    if facts:
        parts.append("<p>" + "; ".join(facts) + "</p>")
    queue = queue_counts(ws)
    if not queue.empty:
        parts.append("<p><b>ERP queue</b> (<code>ws.queue(status, item_type)</code>)</p>" + _table(queue))
    parts.append("</div>")
    return "\n".join(parts)


def style_queue(frame: pd.DataFrame, columns: list[str] | None = QUEUE_COLUMNS) -> Styler:
    """A queue frame (``ws.queue(...)``) for reading: the approver's columns, amounts as exact ``1,234.56``,
    each row tinted by its status. ``columns=None`` keeps every column."""
    shown = frame[[c for c in columns if c in frame.columns]] if columns else frame
    status = (
        frame["status"] if "status" in frame.columns else pd.Series([None] * len(frame), index=frame.index)
    )

    def tint(row: pd.Series) -> list[str]:
        colour = STATUS_COLOURS.get(status.loc[row.name])
        return [f"background-color: {colour}" if colour else ""] * len(row)

    money = [c for c in shown.columns if c == "amount" or str(shown[c].dtype).startswith("decimal")]
    styler = shown.style.apply(tint, axis=1).hide(axis="index")
    styler = styler.format(money_text, subset=money).format(
        na_rep="", subset=[c for c in shown if c not in money]
    )
    return styler.set_properties(subset=money, **{"text-align": "right"})


def variance_figure(reconciliation: Any, by: str = "project", top: int = 15) -> Any:
    """A Bokeh bar chart of ``reconciliation.variance(by)`` (the dashboard's chart; hover shows exact amounts)."""
    return variance_chart(reconciliation.variance(by), by, top=top)


def variance_chart(variance: pd.DataFrame, by: str, top: int = 15) -> Any:
    """Horizontal bars of Procore - QuickBooks per project or vendor, the largest absolute differences first.
    Bar lengths are floats for drawing only; the hover shows the exact amount."""
    from bokeh.models import ColumnDataSource, HoverTool, NumeralTickFormatter
    from bokeh.plotting import figure

    rows = variance.head(top).iloc[::-1]
    names = [str(x) for x in rows[by].tolist()]
    source = ColumnDataSource(
        {
            "name": names,
            "delta": [float(x) for x in rows["delta"].tolist()],
            "text": [money_text(x) for x in rows["delta"].tolist()],
            "count": [int(x) for x in rows["differences"].tolist()],
            "color": ["#c0392b" if x > 0 else "#2471a3" for x in rows["delta"].tolist()],
        }
    )
    title = f"Variance by {by} (Procore − QuickBooks)"
    fig = figure(
        y_range=names or ["(none)"],
        height=max(180, 28 * len(names) + 80),
        title=title,
        sizing_mode="stretch_width",
        toolbar_location=None,
        tools="",
    )
    fig.hbar(y="name", right="delta", height=0.7, color="color", source=source)
    fig.add_tools(
        HoverTool(tooltips=[(by.capitalize(), "@name"), ("Difference", "@text"), ("Findings", "@count")])
    )
    fig.xaxis.formatter = NumeralTickFormatter(format="0,0")
    fig.ygrid.grid_line_color = None
    return fig


__all__ = [
    "workspace_html",
    "workspace_counts",
    "queue_counts",
    "style_queue",
    "variance_figure",
    "money_text",
]
