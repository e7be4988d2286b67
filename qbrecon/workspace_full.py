"""The assembled ``Workspace``: the base plus one mixin per capability (each defined in its own module).

Mixins, in pipeline order: loading -> ERP queue -> export (qbXML, Web Connector) -> reconciliation.
"""

from __future__ import annotations

from .workspace import WorkspaceBase


class Workspace(WorkspaceBase):
    """A qbrecon workspace: ``Workspace("company.duckdb")``, or in memory with no path."""
