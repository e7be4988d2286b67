"""The QuickBooks Web Connector side: SOAP service, sessions and tickets, ``.qwc`` files, and a QuickBooks Desktop
simulator (``qbrecon.qbwc.simulator.QuickBooksCompany``) that answers qbXML like a company file would."""
