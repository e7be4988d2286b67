"""The Procore side, as the Procore REST API names it (developers.procore.com).

Nested API objects are flattened with an underscore (``vendor.id`` -> ``vendor_id``); ``source`` in a field's
metadata is the dotted path in the API record. Statuses are stored normalised (``status``) with the string
Procore sent kept beside it (``status_original``). Files of the export are named after the API resource
(``Config.metadata["resource"]``), one JSON array per file or per page (``requisitions/page_0001.json``).
"""

from __future__ import annotations

import pandera.pandas as pa

from .base import TableModel
from .types import Bool, Date, Id, Int, Money, Quantity, Text, Timestamp


def F(source: str | None = None, nullable: bool = True, **checks) -> object:  # noqa: N802 - reads like a column
    return pa.Field(nullable=nullable, metadata={"source": source} if source else None, **checks)


ERP_PERMISSIONS = ["none", "read_only", "standard", "admin"]


class _Origin(TableModel):
    """The ERP external-ID triple every syncable Procore object carries."""

    origin_id: Text = F()
    origin_data: Text = F()
    created_at: Timestamp = F()
    updated_at: Timestamp = F()


class Project(_Origin):
    id: Id = F(nullable=False)
    name: Text = F(nullable=False, str_length={"min_value": 1})
    display_name: Text = F()
    project_number: Text = F()
    address: Text = F()
    city: Text = F()
    state_code: Text = F()
    zip: Text = F()
    country_code: Text = F()
    active: Bool = F()
    start_date: Date = F()
    completion_date: Date = F()
    total_value: Money = F()
    origin_code: Text = F()
    is_erp_integrated: Bool = F()
    budget_locked: Bool = F("budget.locked")
    created_by_id: Id = F("created_by.id")

    class Config:
        metadata = {"table": "projects", "key": ["id"], "side": "procore", "resource": "projects"}


class Company(_Origin):
    """A company in the Company Directory: the vendor on commitments and invoices."""

    id: Id = F(nullable=False)
    name: Text = F(nullable=False, str_length={"min_value": 1})
    abbreviated_name: Text = F()
    legal_name: Text = F()
    trade_name: Text = F()
    address: Text = F()
    city: Text = F()
    state_code: Text = F()
    zip: Text = F()
    country_code: Text = F()
    business_phone: Text = F()
    fax_number: Text = F()
    email_address: Text = F()
    business_id: Text = F()
    is_active: Bool = F()
    origin_code: Text = F()
    synced_to_erp: Bool = F()
    created_by_id: Id = F("created_by.id")

    class Config:
        metadata = {"table": "companies", "key": ["id"], "side": "procore", "resource": "vendors"}


class CostCode(_Origin):
    """Standard cost codes (company level, project_id empty) and project cost codes, in one table."""

    id: Id = F(nullable=False)
    cost_code_level: Text = F(nullable=False, isin=["standard", "project"])
    project_id: Id = F()
    standard_cost_code_list_id: Id = F()
    standard_cost_code_id: Id = F()
    parent_id: Id = F("parent.id")
    code: Text = F(nullable=False)
    full_code: Text = F(nullable=False, str_length={"min_value": 1, "max_value": 96})
    name: Text = F()
    biller_origin_id: Text = F()
    created_by_id: Id = F("created_by.id")

    class Config:
        metadata = {
            "table": "cost_codes",
            "key": ["cost_code_level", "id"],
            "side": "procore",
            "resource": "cost_codes",
        }


class BudgetLineItem(TableModel):
    id: Id = F(nullable=False)
    project_id: Id = F(nullable=False)
    cost_code_id: Id = F("cost_code.id", nullable=False)
    cost_code_full_code: Text = F("cost_code.full_code")
    line_item_type_id: Id = F("line_item_type.id")
    line_item_type_name: Text = F("line_item_type.name")
    original_budget_amount: Money = F(nullable=False)
    direct_costs: Money = F()
    job_to_date_costs: Money = F()
    origin_id: Text = F()
    origin_data: Text = F()
    created_at: Timestamp = F()
    updated_at: Timestamp = F()

    class Config:
        metadata = {
            "table": "budget_line_items",
            "key": ["id"],
            "side": "procore",
            "resource": "budget_line_items",
        }


class BudgetChange(TableModel):
    """One adjustment line of a budget change (budget modification); header fields repeated per line."""

    id: Id = F(nullable=False)
    budget_change_id: Id = F(nullable=False)
    project_id: Id = F(nullable=False)
    number: Int = F()
    title: Text = F()
    status: Text = F(isin=["draft", "approved", "under_review", "void"])
    status_original: Text = F()
    erp_status: Text = F()
    type: Text = F(isin=["change_event", "budget_change"])
    adjustment_number: Int = F()
    cost_code_id: Id = F("cost_code.id")
    cost_code_full_code: Text = F("wbs_code.flat_code")
    description: Text = F()
    amount: Money = F(nullable=False)
    origin_id: Text = F()
    origin_data: Text = F()
    created_at: Timestamp = F()
    updated_at: Timestamp = F()

    class Config:
        metadata = {"table": "budget_changes", "key": ["id"], "side": "procore", "resource": "budget_changes"}


COMMITMENT_STATUSES = [
    "draft",
    "out_for_bid",
    "out_for_signature",
    "approved",
    "complete",
    "terminated",
    "void",
    "processing",
    "submitted",
    "partially_received",
    "received",
    "closed",
]


class Commitment(_Origin):
    """A subcontract (WorkOrderContract) or purchase order (PurchaseOrderContract)."""

    id: Id = F(nullable=False)
    project_id: Id = F("project.id", nullable=False)
    type: Text = F(nullable=False, isin=["WorkOrderContract", "PurchaseOrderContract"])
    number: Text = F()
    title: Text = F(str_length={"max_value": 255})
    status: Text = F(nullable=False, isin=COMMITMENT_STATUSES)
    status_original: Text = F()
    executed: Bool = F()
    vendor_id: Id = F("vendor.id")
    vendor_company: Text = F("vendor.company")
    grand_total: Money = F()
    approved_change_orders: Money = F()
    revised_contract: Money = F()
    retainage_percent: Money = F()
    description: Text = F()
    contract_date: Date = F()
    origin_code: Text = F()
    created_by_id: Id = F("created_by.id")

    class Config:
        metadata = {"table": "commitments", "key": ["id"], "side": "procore", "resource": "commitments"}


class CommitmentLine(TableModel):
    """A schedule-of-values line of a commitment (``line_items`` on the commitment's show endpoint)."""

    id: Id = F(nullable=False)
    commitment_id: Id = F("holder.id", nullable=False)
    position: Int = F()
    description: Text = F()
    cost_code_id: Id = F("cost_code.id")
    cost_code_full_code: Text = F("cost_code.full_code")
    line_item_type_id: Id = F("line_item_type.id")
    amount: Money = F(nullable=False)
    quantity: Quantity = F()
    unit_cost: Quantity = F()
    uom: Text = F()
    origin_id: Text = F()
    origin_data: Text = F()

    class Config:
        metadata = {
            "table": "commitment_lines",
            "key": ["id"],
            "side": "procore",
            "parent": "commitments",
            "nested": "line_items",
            "parent_key": "commitment_id",
        }


CHANGE_ORDER_STATUSES = [
    "draft",
    "pricing",
    "not_pricing",
    "pending",
    "revised",
    "proceeding",
    "not_proceeding",
    "pending_billable",
    "no_charge",
    "approved",
    "rejected",
    "void",
    "pending_in_review",
]


class ChangeOrder(_Origin):
    """A commitment change order (CCO)."""

    id: Id = F(nullable=False)
    project_id: Id = F(nullable=False)
    contract_id: Id = F(nullable=False)
    number: Text = F()
    revision: Int = F()
    title: Text = F()
    description: Text = F()
    status: Text = F(nullable=False, isin=CHANGE_ORDER_STATUSES)
    status_original: Text = F()
    grand_total: Money = F()
    executed: Bool = F()
    reviewed_at: Timestamp = F()
    origin_code: Text = F()
    created_by_id: Id = F("created_by.id")

    class Config:
        metadata = {
            "table": "change_orders",
            "key": ["id"],
            "side": "procore",
            "resource": "commitment_change_orders",
        }


class ChangeOrderLine(TableModel):
    id: Id = F(nullable=False)
    change_order_id: Id = F(nullable=False)
    commitment_line_item_id: Id = F()
    cost_code_id: Id = F("cost_code.id")
    cost_code_full_code: Text = F("cost_code.full_code")
    description: Text = F()
    amount: Money = F(nullable=False)
    origin_id: Text = F()
    origin_data: Text = F()

    class Config:
        metadata = {
            "table": "change_order_lines",
            "key": ["id"],
            "side": "procore",
            "parent": "change_orders",
            "nested": "line_items",
            "parent_key": "change_order_id",
        }


INVOICE_STATUSES = [
    "draft",
    "under_review",
    "revise_and_resubmit",
    "approved",
    "approved_as_noted",
    "pending_owner_approval",
]


class Invoice(_Origin):
    """A subcontractor invoice; the API still calls it a requisition."""

    id: Id = F(nullable=False)
    project_id: Id = F(nullable=False)
    commitment_id: Id = F(nullable=False)
    commitment_type: Text = F()
    contract_name: Text = F()
    vendor_id: Id = F()
    vendor_name: Text = F()
    number: Int = F()
    invoice_number: Text = F()
    period_id: Id = F()
    requisition_start: Date = F()
    requisition_end: Date = F()
    billing_date: Date = F()
    payment_due_date: Date = F()
    status: Text = F(nullable=False, isin=INVOICE_STATUSES)
    status_original: Text = F()
    erp_status: Text = F()
    total_claimed_amount: Money = F()
    current_payment_due: Money = F("summary.current_payment_due")
    total_retainage: Money = F("summary.total_retainage")
    created_by_id: Id = F("created_by.id")

    class Config:
        metadata = {"table": "invoices", "key": ["id"], "side": "procore", "resource": "requisitions"}


class InvoiceLine(TableModel):
    """A schedule-of-values line on a subcontractor invoice (``contract_items``)."""

    id: Id = F(nullable=False)
    requisition_id: Id = F(nullable=False)
    item_type: Text = F(isin=["contract_item", "contract_detail_item", "change_order_item"])
    line_item_id: Id = F()
    cost_code_id: Id = F()
    cost_code_full_code: Text = F("wbs_code.flat_code")
    description_of_work: Text = F()
    scheduled_value: Money = F()
    work_completed_from_previous_application: Money = F()
    work_completed_this_period: Money = F(nullable=False)
    materials_presently_stored: Money = F()
    total_completed_and_stored_to_date: Money = F()
    work_completed_retainage_retained_this_period: Money = F()
    work_completed_retainage_released_this_period: Money = F()
    materials_stored_retainage_currently_retained: Money = F()
    position: Int = F()

    class Config:
        metadata = {
            "table": "invoice_lines",
            "key": ["id"],
            "side": "procore",
            "parent": "invoices",
            "nested": "contract_items",
            "parent_key": "requisition_id",
        }


class PaymentIssued(TableModel):
    """A commitment payment issued (``contract_payments``)."""

    id: Id = F(nullable=False)
    project_id: Id = F()
    contract_id: Id = F(nullable=False)
    requisition_id: Id = F()
    amount: Money = F(nullable=False)
    date: Date = F()
    check_number: Text = F()
    invoice_number: Text = F()
    payment_number: Int = F()
    payment_method: Text = F()
    notes: Text = F()
    status: Text = F()
    origin_id: Text = F()
    origin_data: Text = F()
    origin_code: Text = F()
    created_at: Timestamp = F()
    updated_at: Timestamp = F()

    class Config:
        metadata = {
            "table": "payments_issued",
            "key": ["id"],
            "side": "procore",
            "resource": "contract_payments",
        }


class TimecardEntry(TableModel):
    id: Id = F(nullable=False)
    project_id: Id = F()
    date: Date = F(nullable=False)
    hours: Quantity = F(nullable=False, ge=0, le=24)
    approval_status: Text = F(isin=["pending", "reviewed", "approved", "completed"])
    description: Text = F()
    billable: Bool = F()
    cost_code_id: Id = F("cost_code.id")
    cost_code_name: Text = F("cost_code.name")
    line_item_type_id: Id = F()
    party_id: Id = F("party.id")
    party_name: Text = F("party.name")
    payroll_item: Text = F("timecard_time_type.time_type")
    origin_id: Text = F()
    origin_data: Text = F()
    created_by_id: Id = F("created_by.id")
    created_at: Timestamp = F()
    updated_at: Timestamp = F()

    class Config:
        metadata = {
            "table": "timecard_entries",
            "key": ["id"],
            "side": "procore",
            "resource": "timecard_entries",
        }


class User(TableModel):
    """A Company Directory user with the ERP Integrations tool permission and the accounting privilege."""

    id: Id = F(nullable=False)
    name: Text = F(nullable=False)
    login: Text = F(nullable=False)
    email_address: Text = F()
    job_title: Text = F()
    is_active: Bool = F()
    erp_integrations_permission: Text = F(isin=ERP_PERMISSIONS)
    can_push_to_accounting: Bool = F()
    created_at: Timestamp = F()
    updated_at: Timestamp = F()

    class Config:
        metadata = {"table": "users", "key": ["id"], "side": "procore", "resource": "users"}


PROCORE_TOOLS = [
    "directory",
    "admin",
    "projects",
    "budget",
    "commitments",
    "prime_contract",
    "reports",
    "timesheets",
]


class UserToolPermission(TableModel):
    """A user's permission level on one Procore tool (from the user's permission template); the ERP
    Integrations level is on ``users``. Read by the permissions matrix (``erp/permissions.py``)."""

    user_id: Id = F("user.id", nullable=False)
    tool: Text = F(nullable=False, isin=PROCORE_TOOLS)
    level: Text = F(nullable=False, isin=ERP_PERMISSIONS)

    class Config:
        metadata = {
            "table": "user_tool_permissions",
            "key": ["user_id", "tool"],
            "side": "procore",
            "resource": "user_tool_permissions",
        }


OWNER_INVOICE_STATUSES = ["draft", "under_review", "revise_and_resubmit", "approved"]


class OwnerInvoice(_Origin):
    """An owner invoice: a payment application on the project's prime contract (the owner is billed)."""

    id: Id = F(nullable=False)
    project_id: Id = F(nullable=False)
    contract_id: Id = F("contract.id")  # the prime contract
    contract_title: Text = F("contract.title")
    number: Int = F()
    invoice_number: Text = F()
    billing_date: Date = F()
    period_start: Date = F()
    period_end: Date = F()
    status: Text = F(nullable=False, isin=OWNER_INVOICE_STATUSES)
    status_original: Text = F()
    percent_complete: Quantity = F()
    total_amount_accrued_this_period: Money = F()
    total_amount_paid: Money = F()
    total_retainage: Money = F("g702.total_retainage")
    current_payment_due: Money = F("g702.current_payment_due")
    created_by_id: Id = F("created_by.id")

    class Config:
        metadata = {
            "table": "owner_invoices",
            "key": ["id"],
            "side": "procore",
            "resource": "payment_applications",
        }


class OwnerInvoiceLine(TableModel):
    """A schedule-of-values line of an owner invoice (the ERP payload's line items, named like a subcontractor
    invoice's contract items)."""

    id: Id = F(nullable=False)
    payment_application_id: Id = F(nullable=False)
    cost_code_id: Id = F()
    cost_code_full_code: Text = F("wbs_code.flat_code")
    description_of_work: Text = F()
    scheduled_value: Money = F()
    work_completed_this_period: Money = F(nullable=False)
    materials_presently_stored: Money = F()
    work_completed_retainage_retained_this_period: Money = F()
    work_completed_retainage_released_this_period: Money = F()
    materials_stored_retainage_currently_retained: Money = F()
    position: Int = F()

    class Config:
        metadata = {
            "table": "owner_invoice_lines",
            "key": ["id"],
            "side": "procore",
            "parent": "owner_invoices",
            "nested": "line_items",
            "parent_key": "payment_application_id",
        }


PROCORE_MODELS: list[type[TableModel]] = [
    Project,
    Company,
    CostCode,
    BudgetLineItem,
    BudgetChange,
    Commitment,
    CommitmentLine,
    ChangeOrder,
    ChangeOrderLine,
    Invoice,
    InvoiceLine,
    PaymentIssued,
    TimecardEntry,
    OwnerInvoice,
    OwnerInvoiceLine,
    User,
    UserToolPermission,
]
