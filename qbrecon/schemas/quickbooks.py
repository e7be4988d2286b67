"""The QuickBooks Desktop side, with qbXML's own element names (Intuit's qbXML 13.0 reference).

Nested elements are flattened with an underscore (``VendorRef/ListID`` -> ``VendorRef_ListID``); ``source`` is
the XML path under the ``*Ret`` element. ``Config.metadata``: ``ret`` is the element one row comes from,
``query`` the query request that returns it; line tables name their ``parent`` and the line elements.
"""

from __future__ import annotations

import pandera.pandas as pa

from .base import TableModel
from .types import Bool, Date, Int, Money, Quantity, Text, Timestamp


def X(source: str | None = None, nullable: bool = True, **checks) -> object:  # noqa: N802 - reads like a column
    return pa.Field(nullable=nullable, metadata={"source": source} if source else None, **checks)


class _ListObject(TableModel):
    ListID: Text = X(nullable=False, str_length={"min_value": 1, "max_value": 36})
    TimeCreated: Timestamp = X()
    TimeModified: Timestamp = X()
    EditSequence: Text = X(str_length={"max_value": 16})
    Name: Text = X(nullable=False)
    IsActive: Bool = X()


class _Txn(TableModel):
    TxnID: Text = X(nullable=False, str_length={"min_value": 1, "max_value": 36})
    TimeCreated: Timestamp = X()
    TimeModified: Timestamp = X()
    EditSequence: Text = X(str_length={"max_value": 16})
    TxnNumber: Int = X()
    TxnDate: Date = X()
    RefNumber: Text = X()
    Memo: Text = X()


class Customer(_ListObject):
    """Customers and jobs: a job is a customer whose ParentRef is its customer (Sublevel >= 1)."""

    FullName: Text = X(nullable=False)
    ParentRef_ListID: Text = X("ParentRef/ListID")
    ParentRef_FullName: Text = X("ParentRef/FullName")
    Sublevel: Int = X()
    CompanyName: Text = X()
    BillAddress_Addr1: Text = X("BillAddress/Addr1")
    BillAddress_City: Text = X("BillAddress/City")
    BillAddress_State: Text = X("BillAddress/State")
    BillAddress_PostalCode: Text = X("BillAddress/PostalCode")
    BillAddress_Country: Text = X("BillAddress/Country")
    Phone: Text = X()
    Email: Text = X()
    Balance: Money = X()
    TotalBalance: Money = X()
    JobStatus: Text = X()
    JobStartDate: Date = X()
    JobProjectedEndDate: Date = X()
    JobDesc: Text = X()

    class Config:
        metadata = {
            "table": "customers",
            "key": ["ListID"],
            "side": "quickbooks",
            "ret": "CustomerRet",
            "query": "CustomerQuery",
        }


class Vendor(_ListObject):
    CompanyName: Text = X()
    VendorAddress_Addr1: Text = X("VendorAddress/Addr1")
    VendorAddress_City: Text = X("VendorAddress/City")
    VendorAddress_State: Text = X("VendorAddress/State")
    VendorAddress_PostalCode: Text = X("VendorAddress/PostalCode")
    Phone: Text = X()
    Fax: Text = X()
    Email: Text = X()
    NameOnCheck: Text = X()
    AccountNumber: Text = X()
    VendorTypeRef_ListID: Text = X("VendorTypeRef/ListID")
    VendorTypeRef_FullName: Text = X("VendorTypeRef/FullName")
    VendorTaxIdent: Text = X()
    IsVendorEligibleFor1099: Bool = X()
    Balance: Money = X()

    class Config:
        metadata = {
            "table": "vendors",
            "key": ["ListID"],
            "side": "quickbooks",
            "ret": "VendorRet",
            "query": "VendorQuery",
        }


class Item(_ListObject):
    """Service items (Procore standard cost codes export here); other item kinds load with their ItemType."""

    FullName: Text = X(nullable=False)
    ItemType: Text = X(nullable=False)
    ParentRef_FullName: Text = X("ParentRef/FullName")
    Sublevel: Int = X()
    Desc: Text = X("SalesOrPurchase/Desc")
    SalesDesc: Text = X("SalesAndPurchase/SalesDesc")
    PurchaseDesc: Text = X("SalesAndPurchase/PurchaseDesc")
    Price: Quantity = X("SalesOrPurchase/Price")
    AccountRef_FullName: Text = X("SalesOrPurchase/AccountRef/FullName")
    IncomeAccountRef_FullName: Text = X("SalesAndPurchase/IncomeAccountRef/FullName")
    ExpenseAccountRef_FullName: Text = X("SalesAndPurchase/ExpenseAccountRef/FullName")

    class Config:
        metadata = {
            "table": "items",
            "key": ["ListID"],
            "side": "quickbooks",
            "ret": ["ItemServiceRet", "ItemNonInventoryRet", "ItemOtherChargeRet"],
            "query": "ItemQuery",
        }


class Estimate(_Txn):
    CustomerRef_ListID: Text = X("CustomerRef/ListID")
    CustomerRef_FullName: Text = X("CustomerRef/FullName")
    IsActive: Bool = X()
    TotalAmount: Money = X()

    class Config:
        metadata = {
            "table": "estimates",
            "key": ["TxnID"],
            "side": "quickbooks",
            "ret": "EstimateRet",
            "query": "EstimateQuery",
        }


class _TxnLine(TableModel):
    TxnID: Text = X(nullable=False)
    TxnLineID: Text = X(nullable=False)
    LineNumber: Int = X()
    ItemRef_ListID: Text = X("ItemRef/ListID")
    ItemRef_FullName: Text = X("ItemRef/FullName")
    Desc: Text = X()
    Quantity: Quantity = X()
    Amount: Money = X()


class EstimateLine(_TxnLine):
    Rate: Quantity = X()

    class Config:
        metadata = {
            "table": "estimate_lines",
            "key": ["TxnID", "TxnLineID"],
            "side": "quickbooks",
            "parent": "estimates",
            "line": ["EstimateLineRet"],
        }


class PurchaseOrder(_Txn):
    VendorRef_ListID: Text = X("VendorRef/ListID")
    VendorRef_FullName: Text = X("VendorRef/FullName")
    ShipToEntityRef_FullName: Text = X("ShipToEntityRef/FullName")
    TotalAmount: Money = X()
    VendorMsg: Text = X()
    IsManuallyClosed: Bool = X()
    IsFullyReceived: Bool = X()

    class Config:
        metadata = {
            "table": "purchase_orders",
            "key": ["TxnID"],
            "side": "quickbooks",
            "ret": "PurchaseOrderRet",
            "query": "PurchaseOrderQuery",
        }


class PurchaseOrderLine(_TxnLine):
    Rate: Quantity = X()
    CustomerRef_ListID: Text = X("CustomerRef/ListID")
    CustomerRef_FullName: Text = X("CustomerRef/FullName")
    ReceivedQuantity: Quantity = X()
    IsManuallyClosed: Bool = X()

    class Config:
        metadata = {
            "table": "purchase_order_lines",
            "key": ["TxnID", "TxnLineID"],
            "side": "quickbooks",
            "parent": "purchase_orders",
            "line": ["PurchaseOrderLineRet"],
        }


class Bill(_Txn):
    VendorRef_ListID: Text = X("VendorRef/ListID")
    VendorRef_FullName: Text = X("VendorRef/FullName")
    APAccountRef_FullName: Text = X("APAccountRef/FullName")
    DueDate: Date = X()
    AmountDue: Money = X()
    IsPaid: Bool = X()
    OpenAmount: Money = X()
    LinkedTxn_TxnID: Text = X("LinkedTxn/TxnID")

    class Config:
        metadata = {
            "table": "bills",
            "key": ["TxnID"],
            "side": "quickbooks",
            "ret": "BillRet",
            "query": "BillQuery",
        }


class BillLine(_TxnLine):
    """Item lines and expense lines of a bill; ``LineKind`` says which."""

    LineKind: Text = X(nullable=False, isin=["item", "expense"])
    AccountRef_FullName: Text = X("AccountRef/FullName")
    Cost: Quantity = X()
    CustomerRef_ListID: Text = X("CustomerRef/ListID")
    CustomerRef_FullName: Text = X("CustomerRef/FullName")
    BillableStatus: Text = X()
    Memo: Text = X()

    class Config:
        metadata = {
            "table": "bill_lines",
            "key": ["TxnID", "TxnLineID"],
            "side": "quickbooks",
            "parent": "bills",
            "line": ["ItemLineRet", "ExpenseLineRet"],
        }


class BillPayment(_Txn):
    """Bill payments by check and by credit card; ``PaymentKind`` says which."""

    PaymentKind: Text = X(nullable=False, isin=["check", "credit_card"])
    PayeeEntityRef_ListID: Text = X("PayeeEntityRef/ListID")
    PayeeEntityRef_FullName: Text = X("PayeeEntityRef/FullName")
    BankAccountRef_FullName: Text = X("BankAccountRef/FullName")
    CreditCardAccountRef_FullName: Text = X("CreditCardAccountRef/FullName")
    Amount: Money = X()

    class Config:
        metadata = {
            "table": "bill_payments",
            "key": ["TxnID"],
            "side": "quickbooks",
            "ret": ["BillPaymentCheckRet", "BillPaymentCreditCardRet"],
            "query": ["BillPaymentCheckQuery", "BillPaymentCreditCardQuery"],
        }


class BillPaymentApplication(TableModel):
    """One bill a payment is applied to (``AppliedToTxnRet``)."""

    TxnID: Text = X(nullable=False)
    AppliedTxnID: Text = X("TxnID", nullable=False)
    TxnType: Text = X()
    RefNumber: Text = X()
    Amount: Money = X()

    class Config:
        metadata = {
            "table": "bill_payment_lines",
            "key": ["TxnID", "AppliedTxnID"],
            "side": "quickbooks",
            "parent": "bill_payments",
            "line": ["AppliedToTxnRet"],
        }


class TimeTracking(TableModel):
    TxnID: Text = X(nullable=False)
    TimeCreated: Timestamp = X()
    TimeModified: Timestamp = X()
    EditSequence: Text = X()
    TxnNumber: Int = X()
    TxnDate: Date = X()
    EntityRef_ListID: Text = X("EntityRef/ListID")
    EntityRef_FullName: Text = X("EntityRef/FullName")
    CustomerRef_ListID: Text = X("CustomerRef/ListID")
    CustomerRef_FullName: Text = X("CustomerRef/FullName")
    ItemServiceRef_FullName: Text = X("ItemServiceRef/FullName")
    Duration: Text = X()
    DurationHours: Quantity = X("Duration")
    PayrollItemWageRef_FullName: Text = X("PayrollItemWageRef/FullName")
    Notes: Text = X()
    BillableStatus: Text = X()

    class Config:
        metadata = {
            "table": "time_tracking",
            "key": ["TxnID"],
            "side": "quickbooks",
            "ret": "TimeTrackingRet",
            "query": "TimeTrackingQuery",
        }


# -- job costs outside bills: checks, credit card charges and journal entries (Sync Job Cost Transactions) -------
class _JobCostLine(_TxnLine):
    """Item and expense lines of a check or credit card charge (as on a bill); ``LineKind`` says which. A line
    with ``CustomerRef`` (a customer:job) is a job cost in QuickBooks."""

    LineKind: Text = X(nullable=False, isin=["item", "expense"])
    AccountRef_ListID: Text = X("AccountRef/ListID")
    AccountRef_FullName: Text = X("AccountRef/FullName")
    Cost: Quantity = X()
    CustomerRef_ListID: Text = X("CustomerRef/ListID")
    CustomerRef_FullName: Text = X("CustomerRef/FullName")
    BillableStatus: Text = X()
    Memo: Text = X()


class Check(_Txn):
    """Checks written from a bank account (``AccountRef``) to a payee; their lines can carry a customer:job."""

    AccountRef_ListID: Text = X("AccountRef/ListID")
    AccountRef_FullName: Text = X("AccountRef/FullName")
    PayeeEntityRef_ListID: Text = X("PayeeEntityRef/ListID")
    PayeeEntityRef_FullName: Text = X("PayeeEntityRef/FullName")
    Amount: Money = X()
    IsToBePrinted: Bool = X()

    class Config:
        metadata = {
            "table": "checks",
            "key": ["TxnID"],
            "side": "quickbooks",
            "ret": "CheckRet",
            "query": "CheckQuery",
        }


class CheckLine(_JobCostLine):
    class Config:
        metadata = {
            "table": "check_lines",
            "key": ["TxnID", "TxnLineID"],
            "side": "quickbooks",
            "parent": "checks",
            "line": ["ItemLineRet", "ExpenseLineRet"],
        }


class CreditCardCharge(_Txn):
    """Credit card charges on a credit card account (``AccountRef``); their lines can carry a customer:job."""

    AccountRef_ListID: Text = X("AccountRef/ListID")
    AccountRef_FullName: Text = X("AccountRef/FullName")
    PayeeEntityRef_ListID: Text = X("PayeeEntityRef/ListID")
    PayeeEntityRef_FullName: Text = X("PayeeEntityRef/FullName")
    Amount: Money = X()

    class Config:
        metadata = {
            "table": "credit_card_charges",
            "key": ["TxnID"],
            "side": "quickbooks",
            "ret": "CreditCardChargeRet",
            "query": "CreditCardChargeQuery",
        }


class CreditCardChargeLine(_JobCostLine):
    class Config:
        metadata = {
            "table": "credit_card_charge_lines",
            "key": ["TxnID", "TxnLineID"],
            "side": "quickbooks",
            "parent": "credit_card_charges",
            "line": ["ItemLineRet", "ExpenseLineRet"],
        }


class JournalEntry(_Txn):
    IsAdjustment: Bool = X()

    class Config:
        metadata = {
            "table": "journal_entries",
            "key": ["TxnID"],
            "side": "quickbooks",
            "ret": "JournalEntryRet",
            "query": "JournalEntryQuery",
        }


class JournalEntryLine(TableModel):
    """Debit and credit lines of a journal entry (``LineKind``); ``EntityRef`` names the customer:job (or vendor,
    employee ...) the line is for. ``Amount`` is as QuickBooks writes it, positive on both sides."""

    TxnID: Text = X(nullable=False)
    TxnLineID: Text = X(nullable=False)
    LineNumber: Int = X()
    LineKind: Text = X(nullable=False, isin=["debit", "credit"])
    AccountRef_ListID: Text = X("AccountRef/ListID")
    AccountRef_FullName: Text = X("AccountRef/FullName")
    Amount: Money = X()
    Memo: Text = X()
    EntityRef_ListID: Text = X("EntityRef/ListID")
    EntityRef_FullName: Text = X("EntityRef/FullName")
    BillableStatus: Text = X()

    class Config:
        metadata = {
            "table": "journal_entry_lines",
            "key": ["TxnID", "TxnLineID"],
            "side": "quickbooks",
            "parent": "journal_entries",
            "line": ["JournalDebitLine", "JournalCreditLine"],
            # the line elements are not named *LineRet: the kind each stands for
            "line_kinds": {"JournalDebitLine": "debit", "JournalCreditLine": "credit"},
        }


class Invoice(_Txn):
    """An invoice to a customer (here: the owner, on the Customer:Job); ``Subtotal`` is the sum of its lines."""

    CustomerRef_ListID: Text = X("CustomerRef/ListID")
    CustomerRef_FullName: Text = X("CustomerRef/FullName")
    ARAccountRef_FullName: Text = X("ARAccountRef/FullName")
    DueDate: Date = X()
    Subtotal: Money = X()
    BalanceRemaining: Money = X()
    IsPaid: Bool = X()

    class Config:
        metadata = {
            "table": "qb_invoices",
            "key": ["TxnID"],
            "side": "quickbooks",
            "ret": "InvoiceRet",
            "query": "InvoiceQuery",
        }


class InvoiceLine(_TxnLine):
    Rate: Quantity = X()

    class Config:
        metadata = {
            "table": "qb_invoice_lines",
            "key": ["TxnID", "TxnLineID"],
            "side": "quickbooks",
            "parent": "qb_invoices",
            "line": ["InvoiceLineRet"],
        }


QUICKBOOKS_MODELS: list[type[TableModel]] = [
    Customer,
    Vendor,
    Item,
    Estimate,
    EstimateLine,
    PurchaseOrder,
    PurchaseOrderLine,
    Bill,
    BillLine,
    BillPayment,
    BillPaymentApplication,
    TimeTracking,
    Check,
    CheckLine,
    CreditCardCharge,
    CreditCardChargeLine,
    JournalEntry,
    JournalEntryLine,
    Invoice,
    InvoiceLine,
]
