"""Each Procore <-> QuickBooks Desktop pair, declared once.

Everything that needs to know "a commitment becomes a purchase order" reads it from here: the ERP queue
(item types, prerequisites, dependency order), the qbXML builders and parsers (request names), the Web
Connector service (what to send first) and reconciliation (which tables and keys to compare).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LineRelation:
    """A Procore line table of a pair: how its rows point at the item, what defines a line as sent, and whether
    each line is linked to one QuickBooks line (its ``origin_id`` shows the TxnLineID)."""

    table: str
    parent_key: str  # the line column that holds the item's procore id
    fields: tuple[str, ...]  # a change in these after sync makes the item an update
    linked: bool = True  # lines link to QuickBooks lines (TxnLineID in origin_id)
    where: str | None = None  # only these lines count (SQL over the line table)


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
    direct_export: bool = False  # the "direct export" setting may skip the approver
    can_unlink: bool = False
    exportable: bool = True
    export_order: int = 0  # message sets go out in this order (parents before children)
    notes: str = ""
    business_key: tuple[str, str] | None = (
        None  # (procore column, quickbooks column) for matching without a link
    )
    extra: dict = field(default_factory=dict)
    # (parent item type, SQL giving (procore_id, parent_id) pairs): an item waits while a parent is Exporting, and
    # a 3140 names the parent to create first. Cost codes are given as any cost code id (see ``_STD``).
    parents: tuple[tuple[str, str], ...] = ()
    # -- the link lifecycle (qbrecon.links reads these) ---------------------------------------------------
    row_filter: str | None = None  # which Procore rows are items (SQL over the Procore table)
    link_column: str | None = (
        "origin_id"  # where the Procore row shows its QuickBooks id; None: only the link
    )
    link_flags: str = ""  # further Procore columns set while linked ("synced_to_erp = true")
    changed_fields: tuple[str, ...] = ()  # Procore columns whose change after sync makes the item an update
    lines: tuple[LineRelation, ...] = ()  # Procore line tables (what they contribute to "changed since sync")
    # SQL over the QuickBooks record ``q`` (its table, joined on the link) true when QuickBooks cannot modify it,
    # and the reason users read
    cannot_modify: tuple[str, str] | None = None
    # (Procore SQL over the item ``t``, QuickBooks amount column) compared for a Synced item (the model test)
    amount: tuple[str, str] | None = None

    @property
    def depends_on(self) -> tuple[str, ...]:
        """Item types that must be synced first: the types of the declared ``parents``."""
        return tuple(dict.fromkeys(t for t, _ in self.parents))

    @property
    def updatable(self) -> bool:
        """Changes after the first sync go out as ``mod_request`` (needs a builder for it and the fields). A pair
        without an Add of its own (a CCO: lines added to its commitment's PO) is updated by the same Mod."""
        return bool(self.mod_request and (self.changed_fields or self.lines) and self.exportable)


# any cost code id -> the standard cost code whose service item it uses
_STD = """(SELECT cc.id AS cost_code_id,
                  CASE WHEN cc.cost_code_level = 'standard' THEN cc.id ELSE cc.standard_cost_code_id END AS std_id
           FROM cost_codes cc)"""


def _coded(table: str, item_col: str) -> tuple[str, str]:
    """The standard cost codes of an item's lines (or of the item itself)."""
    return (
        "cost_code",
        f"SELECT l.{item_col}, s.std_id FROM {table} l JOIN {_STD} s ON s.cost_code_id = l.cost_code_id",
    )


PAIRS: dict[str, EntityPair] = {
    p.item_type: p
    for p in [
        EntityPair(
            "company",
            "Companies",
            "companies",
            "vendors",
            add_request="VendorAdd",
            mod_request="VendorMod",
            query_request="VendorQuery",
            name_field="Name",
            can_unlink=True,
            export_order=10,
            business_key=("name", "Name"),
            link_flags="synced_to_erp = true",
            changed_fields=(
                "name",
                "legal_name",
                "address",
                "city",
                "state_code",
                "zip",
                "country_code",
                "business_phone",
                "fax_number",
                "email_address",
                "business_id",
                "is_active",
            ),
        ),
        EntityPair(
            "project",
            "Jobs",
            "projects",
            "customers",
            add_request="CustomerAdd",
            mod_request="CustomerMod",
            query_request="CustomerQuery",
            name_field="FullName",
            export_order=10,
            business_key=("name", "Name"),
            notes="A job is a QuickBooks customer whose ParentRef is the customer the approver chose.",
            link_flags="is_erp_integrated = true",
            changed_fields=(
                "name",
                "active",
                "address",
                "city",
                "state_code",
                "zip",
                "country_code",
                "start_date",
                "completion_date",
            ),
        ),
        EntityPair(
            "cost_code",
            "Cost Codes",
            "cost_codes",
            "items",
            add_request="ItemServiceAdd",
            mod_request="ItemServiceMod",
            query_request="ItemQuery",
            name_field="FullName",
            export_order=10,
            business_key=("full_code", "Name"),
            notes="Standard cost codes only; a project cost code's origin_id is job ListID|item ListID.",
            row_filter="cost_code_level = 'standard'",
            changed_fields=("full_code", "name"),
        ),
        EntityPair(
            "budget",
            "Budgets",
            "projects",
            "estimates",
            procore_lines="budget_line_items",
            quickbooks_lines="estimate_lines",
            add_request="EstimateAdd",
            mod_request="EstimateMod",
            query_request="EstimateQuery",
            quickbooks_id="TxnID",
            export_order=20,
            parents=(
                ("project", "SELECT p.id, p.id FROM projects p"),
                _coded("budget_line_items", "project_id"),
            ),
            notes="One budget per project (the item id is the project id); budget changes become further lines.",
            link_column=None,  # the project's origin_id is its job; the estimate's TxnID lives in the link
            lines=(
                LineRelation(
                    "budget_line_items",
                    "project_id",
                    ("cost_code_id", "original_budget_amount"),
                    linked=False,
                ),
                LineRelation(
                    "budget_changes",
                    "project_id",
                    ("budget_change_id", "cost_code_id", "amount"),
                    linked=False,
                    where="status = 'approved'",
                ),
            ),
            amount=(
                "(SELECT coalesce(sum(original_budget_amount), 0) FROM budget_line_items b WHERE b.project_id = t.id)"
                " + (SELECT coalesce(sum(amount), 0) FROM budget_changes b WHERE b.project_id = t.id"
                " AND b.status = 'approved')",
                "TotalAmount",
            ),
        ),
        EntityPair(
            "commitment",
            "Commitments",
            "commitments",
            "purchase_orders",
            procore_lines="commitment_lines",
            quickbooks_lines="purchase_order_lines",
            add_request="PurchaseOrderAdd",
            mod_request="PurchaseOrderMod",
            query_request="PurchaseOrderQuery",
            quickbooks_id="TxnID",
            name_field="RefNumber",
            direct_export=True,
            can_unlink=True,
            export_order=30,
            business_key=("number", "RefNumber"),
            parents=(
                ("company", "SELECT c.id, c.vendor_id FROM commitments c"),
                ("project", "SELECT c.id, c.project_id FROM commitments c"),
                _coded("commitment_lines", "commitment_id"),
            ),
            changed_fields=("vendor_id", "contract_date", "number", "title", "description"),
            lines=(
                LineRelation("commitment_lines", "commitment_id", ("cost_code_id", "description", "amount")),
            ),
            # the PO carries the commitment's lines and those of its Synced CCOs
            amount=(
                "(SELECT coalesce(sum(amount), 0) FROM commitment_lines l WHERE l.commitment_id = t.id)"
                " + (SELECT coalesce(sum(l.amount), 0) FROM change_order_lines l"
                " JOIN change_orders o ON o.id = l.change_order_id JOIN erp_items e ON e.item_type = 'change_order'"
                " AND e.procore_id = o.id AND e.status = 'synced' WHERE o.contract_id = t.id)",
                "TotalAmount",
            ),
        ),
        EntityPair(
            "change_order",
            "Change Orders",
            "change_orders",
            "purchase_orders",
            procore_lines="change_order_lines",
            quickbooks_lines="purchase_order_lines",
            add_request=None,
            mod_request="PurchaseOrderMod",
            query_request="PurchaseOrderQuery",
            quickbooks_id="TxnID",
            direct_export=True,
            can_unlink=True,
            parents=(
                ("commitment", "SELECT o.id, o.contract_id FROM change_orders o"),
                _coded("change_order_lines", "change_order_id"),
            ),
            export_order=40,
            notes="A CCO becomes new lines on its commitment's purchase order; a change after sync modifies those "
            "lines by TxnLineID (the same PurchaseOrderMod).",
            lines=(
                LineRelation(
                    "change_order_lines", "change_order_id", ("cost_code_id", "description", "amount")
                ),
            ),
        ),
        EntityPair(
            "invoice",
            "Subcontractor Invoices",
            "invoices",
            "bills",
            procore_lines="invoice_lines",
            quickbooks_lines="bill_lines",
            add_request="BillAdd",
            mod_request="BillMod",
            query_request="BillQuery",
            quickbooks_id="TxnID",
            name_field="RefNumber",
            parents=(
                ("commitment", "SELECT i.id, i.commitment_id FROM invoices i"),
                ("project", "SELECT i.id, i.project_id FROM invoices i"),
                (
                    "company",
                    "SELECT i.id, coalesce(i.vendor_id, c.vendor_id) FROM invoices i "
                    "LEFT JOIN commitments c ON c.id = i.commitment_id",
                ),
                _coded("invoice_lines", "requisition_id"),
            ),
            direct_export=True,
            can_unlink=True,
            export_order=50,
            business_key=("invoice_number", "RefNumber"),
            notes="Bill total = current_payment_due; retainage is a negative line on the retainage service item.",
            changed_fields=(
                "vendor_id",
                "billing_date",
                "payment_due_date",
                "invoice_number",
                "contract_name",
                "current_payment_due",
            ),
            lines=(
                LineRelation(
                    "invoice_lines",
                    "requisition_id",
                    (
                        "cost_code_id",
                        "line_item_id",
                        "work_completed_this_period",
                        "materials_presently_stored",
                        "work_completed_retainage_retained_this_period",
                        "work_completed_retainage_released_this_period",
                        "materials_stored_retainage_currently_retained",
                    ),
                ),
            ),
            cannot_modify=(
                'coalesce(q."IsPaid", false) OR q."OpenAmount" < q."AmountDue"',
                "the bill is paid (in part) in QuickBooks Desktop, which cannot modify a paid bill: "
                "enter the change in QuickBooks (e.g. a vendor credit) or void the payment first",
            ),
            amount=("t.current_payment_due", "AmountDue"),
        ),
        EntityPair(
            "timecard_entry",
            "Time",
            "timecard_entries",
            "time_tracking",
            add_request="TimeTrackingAdd",
            mod_request="TimeTrackingMod",
            query_request="TimeTrackingQuery",
            quickbooks_id="TxnID",
            export_order=60,
            parents=(
                ("project", "SELECT t.id, t.project_id FROM timecard_entries t"),
                _coded("timecard_entries", "id"),
            ),
            changed_fields=(
                "project_id",
                "date",
                "hours",
                "description",
                "billable",
                "cost_code_id",
                "party_name",
                "payroll_item",
            ),
            # billed time is on a customer invoice in QuickBooks: changing it there would leave the invoice
            # billing hours that no longer exist, so qbrecon does not send the change
            cannot_modify=(
                "q.\"BillableStatus\" = 'HasBeenBilled'",
                "the time has been billed to the customer in QuickBooks Desktop (it is on an invoice): change "
                "the invoice and the time entry there, or reject the update",
            ),
        ),
        EntityPair(
            "payment",
            "Payments Issued",
            "payments_issued",
            "bill_payments",
            quickbooks_lines="bill_payment_lines",
            query_request="BillPaymentCheckQuery",
            quickbooks_id="TxnID",
            exportable=False,
            notes="Imported: QuickBooks bill payments become Procore payments issued.",
        ),
    ]
}


def dependencies_sql(types: Iterable[str] | None = None) -> str:
    """``(item_type, procore_id, parent_type, parent_id)`` for every declared parent of every item (``types``:
    only where both the item and its parent are of these types; a query of no rows when none is)."""
    only = set(types) if types is not None else None
    parts = [
        f"SELECT '{p.item_type}' AS item_type, d.procore_id, '{parent}' AS parent_type, d.parent_id "
        f"FROM ({sql}) AS d(procore_id, parent_id)"
        for p in PAIRS.values()
        for parent, sql in p.parents
        if only is None or (p.item_type in only and parent in only)
    ]
    if not parts:
        return "SELECT NULL::VARCHAR AS item_type, NULL::BIGINT AS procore_id, NULL::VARCHAR AS parent_type, NULL::BIGINT AS parent_id WHERE false"
    return "\nUNION ALL ".join(parts)


EXPORTABLE = [p.item_type for p in sorted(PAIRS.values(), key=lambda p: p.export_order) if p.exportable]


def pair(item_type: str) -> EntityPair:
    try:
        return PAIRS[item_type]
    except KeyError:
        raise KeyError(f"unknown item type {item_type!r}; known: {', '.join(PAIRS)}") from None
