"""What the QuickBooks company itself says about its setup, from the Web Connector's host response.

On the first sendRequestXML of a session the Web Connector passes ``strHCPResponse``: the answers to HostQuery,
CompanyQuery and PreferencesQuery. Two prerequisites of the Procore pages are read from it:

- *Enable the 'Inventory and Purchase Orders are Active' setting* (seed 001): QuickBooks'
  ``PurchasesAndVendorsPreferences/IsUsingInventory``. While it is off, purchase order commitments are refused
  before anything is sent (Failed to Export with the reason), instead of failing in QuickBooks (the commitment
  pair's ``after_build``);
- the edition's country (``HostRet/Country``), for the U.S.-only bill payment sync (``settings.quickbooks_country``).
"""

from __future__ import annotations

from ..pairs.commitment import INVENTORY_KEY, inventory_active
from ..qbxml.parse import parse_bytes
from ..store import Store
from .settings import COUNTRY_KEY


def record_host_response(store: Store, hcp_response: str | bytes | None) -> dict[str, str]:
    """Remember the preferences qbrecon relies on from a Web Connector host response; returns what was read.
    An empty or unreadable response changes nothing (the Web Connector sends it on a session's first call only)."""
    if not hcp_response or not str(hcp_response).strip():
        return {}
    try:
        root = parse_bytes(hcp_response.encode() if isinstance(hcp_response, str) else hcp_response)
    except Exception:  # a host response is informational: never fail a session over it
        return {}
    found = {}
    inventory = root.findtext(".//PreferencesRet/PurchasesAndVendorsPreferences/IsUsingInventory")
    if inventory is not None and inventory.strip().lower() in ("true", "false"):
        found[INVENTORY_KEY] = inventory.strip().lower()
    country = root.findtext(".//HostRet/Country")
    if country and country.strip():
        found[COUNTRY_KEY] = country.strip().upper()
    for key, value in found.items():
        store.execute("INSERT OR REPLACE INTO qbrecon_meta VALUES (?, ?)", [key, value]).fetchall()
    return found


class PreferencesService:
    """``ws.record_host_response`` (called by the Web Connector service), ``ws.quickbooks_preferences``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record_host_response(self, hcp_response: str | bytes | None) -> dict[str, str]:
        return record_host_response(self.store, hcp_response)

    def quickbooks_preferences(self) -> dict[str, object]:
        from .settings import quickbooks_country

        return {
            "inventory_and_purchase_orders_active": inventory_active(self.store),
            "country": quickbooks_country(self.store),
        }
