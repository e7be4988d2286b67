"""The ERP Integrations tool: item states, batch decisions, permissions, settings, audit log, export ledger,
notifications and reports. ``QueueMixin`` joins ``Workspace``; see ``qbrecon.erp.queue``."""

from .queue import BatchResult, QueueMixin

__all__ = ["BatchResult", "QueueMixin"]
