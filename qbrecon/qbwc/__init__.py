"""The QuickBooks Web Connector side: SOAP service, sessions and tickets, ``.qwc`` files, and a QuickBooks Desktop
simulator (``qbrecon.qbwc.simulator.QuickBooksCompany``) that answers qbXML like a company file would."""

# The service registers its settings (qbwc_ticket_ttl_seconds, ...) in the ERP settings registry at import; import
# it with the package so ``settings show|set`` and the settings page know them whatever was imported first.
from . import service as _service  # noqa: E402, F401
