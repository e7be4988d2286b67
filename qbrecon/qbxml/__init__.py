"""qbXML: safe parsing of XML from outside (``parse``), query-response readers, request builders, responses.

Kept import-light on purpose: import the submodule you need (``from qbrecon.qbxml.parse import ...``).
"""
