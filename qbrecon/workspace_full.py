"""The assembled ``Workspace``: the base plus one mixin per capability (each defined in its own module).

Mixins, in pipeline order: loading -> ERP queue -> export (qbXML, Web Connector) -> reconciliation.
"""

from __future__ import annotations

from .erp.export import ExportMixin
from .erp.queue import QueueMixin
from .loaders import LoadingMixin
from .qbwc.sessions import QbwcMixin
from .reconcile import ReconcileMixin
from .workspace import WorkspaceBase


class Workspace(LoadingMixin, QueueMixin, ExportMixin, QbwcMixin, ReconcileMixin, WorkspaceBase):
    """A qbrecon workspace: ``Workspace("company.duckdb")``, or in memory with no path."""
