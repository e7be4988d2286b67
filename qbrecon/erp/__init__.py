"""The ERP Integrations tool: item states, batch decisions, permissions, settings, audit log, export ledger,
notifications and reports. Each capability is a service over the store (``QueueService``, ``ExportService``,
``RefreshService``, ``SettingsService``...) that ``Workspace`` builds once; see ``qbrecon.erp.queue``."""

from .queue import BatchResult, QueueService

__all__ = ["BatchResult", "QueueService"]
