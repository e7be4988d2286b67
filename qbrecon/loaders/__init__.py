"""Loading both sides into the workspace: ``LoadingService`` (``load_procore``, ``load_quickbooks``) -> ``LoadReport``.

Modules: ``procore`` (export folder -> raw batches), ``quickbooks`` (qbXML responses -> raw batches, through
``qbrecon.qbxml.parse``), ``values`` (raw values -> typed Arrow columns, per-cell errors), ``validate``
(pandera checks, groups, quarantine), ``service`` (the atomic write), ``report``.
"""

from .report import LoadReport, TableCounts
from .service import LoadingService

__all__ = ["LoadReport", "LoadingService", "TableCounts"]
