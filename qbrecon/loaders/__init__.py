"""Loading both sides into the workspace: ``LoadingMixin`` (``load_procore``, ``load_quickbooks``) -> ``LoadReport``.

Modules: ``procore`` (export folder -> raw batches), ``quickbooks`` (qbXML responses -> raw batches, through
``qbrecon.qbxml.parse``), ``values`` (raw values -> typed Arrow columns, per-cell errors), ``validate``
(pandera checks, groups, quarantine), ``mixin`` (the atomic write), ``report``.
"""

from .mixin import LoadingMixin
from .report import LoadReport, TableCounts

__all__ = ["LoadReport", "LoadingMixin", "TableCounts"]
