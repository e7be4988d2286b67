"""The assembled ``Workspace``: the base plus one mixin per capability (each defined in its own module).

Mixins, in pipeline order: loading -> ERP queue -> export (qbXML, Web Connector) -> reconciliation.
"""

from __future__ import annotations

from .erp.export import ExportMixin
from .erp.queue import QueueMixin
from .erp.refresh import RefreshMixin
from .loaders import LoadingMixin
from .qbwc.sessions import QbwcMixin
from .reconcile import ReconcileMixin
from .workspace import WorkspaceBase


class Workspace(
    LoadingMixin, QueueMixin, ExportMixin, RefreshMixin, QbwcMixin, ReconcileMixin, WorkspaceBase
):
    """A qbrecon workspace: ``Workspace("company.duckdb")``, or in memory with no path."""

    def load_procore(self, path):  # noqa: ANN001, ANN201 - same signature as LoadingMixin.load_procore
        """Load a Procore export and, in the same transaction, give new exportable records their ERP queue rows
        (decisions already taken are kept)."""
        with self.store.transaction():
            report = super().load_procore(path)
            added = self.refresh_queue()
        if added:
            report.notes.append(f"ERP queue: {added} item(s) added or newly linked")
        return report

    def _repr_html_(self) -> str:
        """Jupyter: rows per table on both sides, loads, quarantine, the ERP queue by status (``display.py``)."""
        from .display import workspace_html

        return workspace_html(self)
