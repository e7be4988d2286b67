"""``Reconciliation``: the result of one run, as three tidy frames plus what the run was asked for."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ..schemas.types import MONEY_TYPE


@dataclass
class Reconciliation:
    """``summary`` (one row per pair), ``differences`` (one row per finding), ``suggestions`` (fuzzy names).

    ``differences`` columns: pair, level (record | header | line), procore_id, quickbooks_id, project, vendor,
    number, cost_code, field, procore_value, quickbooks_value, delta (Procore - QuickBooks, money only),
    reason (a code of ``qbrecon.reasons``), matched_by (link | key), counted (the delta adds up to the pair's
    Delta; False for lines and other money fields that explain a counted delta), reason_text.

    ``summary`` ties out per pair: ``procore_total - quickbooks_total = in_queue_total +
    explained_elsewhere_total + within_tolerance_total + delta``, ``delta`` is the sum of the pair's counted
    deltas, and the headline (``total_delta``, ``total_abs_delta``) is the sum of the ``delta`` and
    ``abs_delta`` columns.
    """

    summary: pd.DataFrame
    differences: pd.DataFrame
    suggestions: pd.DataFrame
    tolerance: dict
    as_of: dt.date | None
    pairs: list[str]
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0))

    # -- questions a scheduled run asks ------------------------------------------------------------------
    @property
    def n_differences(self) -> int:
        return len(self.differences)

    def counted(self) -> pd.DataFrame:
        """The findings whose delta adds up to their pair's Delta: whole records and the compared total.

        Line findings and other money fields (a bill's retainage) explain one of these and are not added again.
        """
        d = self.differences
        if "counted" in d.columns:
            mask = d["counted"].fillna(False).astype(bool)
        else:  # a frame built by hand: the same rule as the engine's COUNTED_SQL
            mask = d["delta"].notna() & (
                (d["level"] == "record") | ((d["level"] == "header") & (d["field"] == "amount"))
            )
        return d[mask]

    @property
    def total_delta(self) -> Decimal:
        """Net money difference (Procore - QuickBooks): the sum of the summary's Delta column."""
        return sum(self.counted()["delta"].tolist(), Decimal("0.00"))

    @property
    def total_abs_delta(self) -> Decimal:
        """Absolute money difference: the sum of the summary's absolute column (each finding counted once)."""
        return sum((abs(x) for x in self.counted()["delta"].tolist()), Decimal("0.00"))

    def exceeds(
        self, fail_over: Decimal | float | str | None = None, max_differences: int | None = None
    ) -> bool:
        """True when the money differences exceed ``fail_over`` or there are more than ``max_differences``."""
        if fail_over is not None and self.total_abs_delta > Decimal(str(fail_over)):
            return True
        return max_differences is not None and self.n_differences > int(max_differences)

    def reasons(self) -> pd.DataFrame:
        """How many findings of each reason per pair."""
        d = self.differences
        if d.empty:
            return pd.DataFrame({"pair": [], "reason": [], "reason_text": [], "count": []})
        return (
            d.groupby(["pair", "reason", "reason_text"], observed=True, sort=False)
            .size()
            .rename("count")
            .reset_index()
        )

    def variance(self, by: str = "project") -> pd.DataFrame:
        """Money difference (Procore - QuickBooks) per project or vendor, largest absolute first."""
        if by not in ("project", "vendor"):
            raise ValueError("by must be 'project' or 'vendor'")
        d = self.counted()  # the same findings as the headline: the variances add up to it
        table = pa.table(
            {
                by: pa.array(d[by].fillna("(none)").tolist(), pa.string()),
                "delta": pa.array(d["delta"].tolist(), MONEY_TYPE),
            }
        )
        grouped = table.group_by(by).aggregate([("delta", "sum"), ("delta", "count")])
        out = grouped.to_pandas(types_mapper=pd.ArrowDtype).rename(
            columns={"delta_sum": "delta", "delta_count": "differences"}
        )
        if out.empty:
            return out
        out["delta"] = out["delta"].astype(pd.ArrowDtype(MONEY_TYPE))
        order = sorted(range(len(out)), key=lambda i: (-abs(out["delta"].iloc[i]), str(out[by].iloc[i])))
        return out.iloc[order].reset_index(drop=True)

    # -- reports -------------------------------------------------------------------------------------------
    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML report (no scripts, no external assets); written to ``path`` when given."""
        from .reports import render_html

        html = render_html(self)
        if path is not None:
            Path(path).write_text(html, encoding="utf-8")
        return html

    def to_excel(self, path: str | Path) -> Path:
        """An Excel workbook: a summary sheet and one sheet per pair (formula-injection safe)."""
        from .reports import write_excel

        return write_excel(self, Path(path))

    def _repr_html_(self) -> str:
        from .reports import render_html

        return render_html(self, fragment=True)

    def __repr__(self) -> str:
        return (
            f"Reconciliation(pairs={self.pairs}, differences={self.n_differences}, "
            f"delta={self.total_delta}, abs_delta={self.total_abs_delta})"
        )
