"""Each Procore <-> QuickBooks Desktop pair, declared once.

Everything that needs to know "a commitment becomes a purchase order" reads it from here: the ERP queue
(item types, prerequisites, dependency order), the qbXML builders and parsers (request names), the Web
Connector service (what to send first) and reconciliation (which tables and keys to compare).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EntityPair:
    item_type: str  # the ERP Integrations item type, in Procore's words
    label: str  # the dashboard tab
    procore_table: str
    quickbooks_table: str | None
    procore_lines: str | None = None
    quickbooks_lines: str | None = None
    add_request: str | None = None  # qbXML message that creates the QuickBooks record
    mod_request: str | None = None  # qbXML message that updates it once linked
    query_request: str | None = None
    quickbooks_id: str = "ListID"  # ListID for lists, TxnID for transactions
    name_field: str | None = None  # QuickBooks field that identifies the record by name (check-before-add)
    depends_on: tuple[str, ...] = ()  # item types that must be synced first
    direct_export: bool = False  # the "direct export" setting may skip the approver
    can_unlink: bool = False
    exportable: bool = True
    export_order: int = 0  # message sets go out in this order (parents before children)
    notes: str = ""
    business_key: tuple[str, str] | None = None  # (procore column, quickbooks column) for matching without a link
    extra: dict = field(default_factory=dict)


PAIRS: dict[str, EntityPair] = {
    p.item_type: p
    for p in [
        EntityPair(
            "company", "Companies", "companies", "vendors",
            add_request="VendorAdd", mod_request="VendorMod", query_request="VendorQuery",
            name_field="Name", can_unlink=True, export_order=10, business_key=("name", "Name"),
        ),
        EntityPair(
            "project", "Jobs", "projects", "customers",
            add_request="CustomerAdd", mod_request="CustomerMod", query_request="CustomerQuery",
            name_field="FullName", export_order=10, business_key=("name", "Name"),
            notes="A job is a QuickBooks customer whose ParentRef is the customer the approver chose.",
        ),
        EntityPair(
            "cost_code", "Cost Codes", "cost_codes", "items",
            add_request="ItemServiceAdd", mod_request="ItemServiceMod", query_request="ItemQuery",
            name_field="FullName", export_order=10, business_key=("full_code", "Name"),
            notes="Standard cost codes only; a project cost code's origin_id is job ListID|item ListID.",
        ),
        EntityPair(
            "budget", "Budgets", "projects", "estimates",
            procore_lines="budget_line_items", quickbooks_lines="estimate_lines",
            add_request="EstimateAdd", mod_request="EstimateMod", query_request="EstimateQuery",
            quickbooks_id="TxnID", depends_on=("project", "cost_code"), export_order=20,
            notes="One budget per project (the item id is the project id); budget changes become further lines.",
        ),
        EntityPair(
            "commitment", "Commitments", "commitments", "purchase_orders",
            procore_lines="commitment_lines", quickbooks_lines="purchase_order_lines",
            add_request="PurchaseOrderAdd", mod_request="PurchaseOrderMod", query_request="PurchaseOrderQuery",
            quickbooks_id="TxnID", name_field="RefNumber", depends_on=("company", "project", "cost_code"),
            direct_export=True, can_unlink=True, export_order=30, business_key=("number", "RefNumber"),
        ),
        EntityPair(
            "change_order", "Change Orders", "change_orders", "purchase_orders",
            procore_lines="change_order_lines", quickbooks_lines="purchase_order_lines",
            add_request=None, mod_request="PurchaseOrderMod", query_request="PurchaseOrderQuery",
            quickbooks_id="TxnID", depends_on=("commitment",), direct_export=True, can_unlink=True,
            export_order=40, notes="A CCO becomes new lines on its commitment's purchase order.",
        ),
        EntityPair(
            "invoice", "Subcontractor Invoices", "invoices", "bills",
            procore_lines="invoice_lines", quickbooks_lines="bill_lines",
            add_request="BillAdd", mod_request="BillMod", query_request="BillQuery",
            quickbooks_id="TxnID", name_field="RefNumber", depends_on=("commitment",),
            direct_export=True, can_unlink=True, export_order=50, business_key=("invoice_number", "RefNumber"),
            notes="Bill total = current_payment_due; retainage is a negative line on the retainage service item.",
        ),
        EntityPair(
            "timecard_entry", "Time", "timecard_entries", "time_tracking",
            add_request="TimeTrackingAdd", query_request="TimeTrackingQuery", quickbooks_id="TxnID",
            depends_on=("project",), export_order=60,
        ),
        EntityPair(
            "payment", "Payments Issued", "payments_issued", "bill_payments",
            quickbooks_lines="bill_payment_lines", query_request="BillPaymentCheckQuery", quickbooks_id="TxnID",
            exportable=False, notes="Imported: QuickBooks bill payments become Procore payments issued.",
        ),
    ]
}

EXPORTABLE = [p.item_type for p in sorted(PAIRS.values(), key=lambda p: p.export_order) if p.exportable]


def pair(item_type: str) -> EntityPair:
    try:
        return PAIRS[item_type]
    except KeyError:
        raise KeyError(f"unknown item type {item_type!r}; known: {', '.join(PAIRS)}") from None
