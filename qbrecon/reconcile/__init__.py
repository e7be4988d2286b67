"""Reconciliation: compare the stored Procore and QuickBooks tables, explain every difference, report it.

``ws.reconcile(pair=None, tolerance=None, as_of=None) -> Reconciliation``; see ``engine`` for the steps,
``rules`` for what each pair compares and ``reports`` for the HTML and Excel output.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from ..erp import states as _erp_states  # noqa: F401  (registers erp_items/erp_audit, read for explanations)
from ..store import Store
from .engine import Engine, Tolerance, parse_tolerance, reconcile
from .lines import compare_lines
from .matching import normalise_name, suggest
from .result import Reconciliation


class ReconciliationService:
    """``ws.reconcile()`` (``ws.reconciliation``): the last stage of the pipeline, it reads the store only."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def reconcile(
        self,
        pair: str | Iterable[str] | None = None,
        tolerance: Tolerance = None,
        as_of: dt.date | str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> Reconciliation:
        """Compare Procore with QuickBooks and explain each difference.

        ``pair``: one item type (``"invoice"``), several, or all when None. ``tolerance``: one number (absolute,
        every money field) or ``{"amount": {"abs": 0.01, "rel": 0}}`` per field; ids and text are exact.
        ``as_of``: ignore transactions dated after this day. ``progress`` is called with each pair as it ends.
        """
        return reconcile(self.store, pair, tolerance, as_of, progress)


__all__ = [
    "ReconciliationService",
    "Reconciliation",
    "Engine",
    "reconcile",
    "compare_lines",
    "parse_tolerance",
    "normalise_name",
    "suggest",
]
