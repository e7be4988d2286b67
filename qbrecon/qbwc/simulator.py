"""A QuickBooks Desktop company file, simulated: answers qbXML request message sets the way QuickBooks does.

Used behind the Web Connector service in tests and demos, and in-process (``ws.export(deliver=company.process)``).
What it reproduces, because these are the behaviours an integration must survive:

- the whole message set is checked first: the ``<?qbxml version?>`` processing instruction, well-formedness,
  element order and required elements (from the qbXML spec tables, ``qbrecon.qbxml.spec``; the official XSD too
  when a schema path is given: ``xsd=`` or ``$QBRECON_QBXML_XSD``). A failure answers no request at all and raises
  ``RequestProcessorError`` with HRESULT ``0x80040400``, as the Web Connector reports it to receiveResponseXML.
  A string that is only too long (``spec.MAXLEN``) is, as in QuickBooks, a per-request status 3070;
- ``ListID``/``TxnID`` (``8000XXXX-<epoch>``) and ``EditSequence`` (changes on every Mod; a stale one is 3200);
- 3100 on duplicate names (customers, vendors and top-level jobs share one name space, jobs are unique within their
  customer, items are unique by full name), 3140 on references to customers/vendors/items that do not exist,
  3120 on Mods of records that do not exist, 3180 injected at ``fault_rate_3180`` (seeded, reproducible);
- ``stopOnError`` / ``continueOnError``; queries with ListID/FullName/TxnID/RefNumber/EntityFilter/NameFilter/
  ActiveStatus/IncludeLineItems/IncludeRetElement/MaxReturned, iterators (Start/Continue/Stop, 3391 for an unknown
  iteratorID), statusCode 1 (Info) when nothing matches and 500 (Warn) when a named ListID/FullName/TxnID is absent;
- Adds and Mods echo the full ``*Ret`` with child elements in schema order (responses validate against the XSD);
- bill payments by check and by credit card (``BillPaymentCheckQuery`` / ``BillPaymentCreditCardQuery``; seeded,
  queried, not added): their ``AppliedToTxnRet`` (the bills paid) are their line items, returned only with
  ``IncludeLineItems``;
- checks, credit card charges and journal entries (``CheckQuery`` / ``CreditCardChargeQuery`` /
  ``JournalEntryQuery``; seeded, queried, not added): their expense and item lines (a journal entry's debit and
  credit lines) returned only with ``IncludeLineItems``.

Not modelled (echoed as given, never checked): accounts, classes, terms, templates, payroll items, employees.
Line groups (``*LineGroupAdd``) are not supported. The company file is its own DuckDB database (``path``), never
the workspace: the simulator stands for the other side of the wire.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
from lxml import etree

from ..qbxml import spec as qbxml_spec
from ..qbxml.responses import PARSE_ERROR_HRESULT
from ..schemas.types import money_text
from ..store import arrow_to_frame

log = logging.getLogger(__name__)

PARSE_ERROR_MESSAGE = "QuickBooks found an error when parsing the provided XML text stream."
SUPPORTED_VERSION = (13, 0)
_MAX_REQUEST_BYTES = 64 * 1024 * 1024


class RequestProcessorError(Exception):
    """The request processor refused the whole message set (no response). The Web Connector passes ``hresult``
    and ``message`` to receiveResponseXML with an empty response."""

    def __init__(self, hresult: str, message: str, detail: str = ""):
        super().__init__(f"{hresult}: {message}" + (f" ({detail})" if detail else ""))
        self.hresult, self.message, self.detail = hresult, message, detail


# -- schema order of the elements the simulator writes (checked against the XSD in tests/test_simulator.py) ---
_RET_ORDER: dict[str, list[str]] = {
    "CustomerRet": "ListID TimeCreated TimeModified EditSequence Name FullName IsActive ClassRef ParentRef Sublevel "
    "CompanyName Salutation FirstName MiddleName LastName Suffix JobTitle BillAddress BillAddressBlock ShipAddress "
    "ShipAddressBlock ShipToAddress PrintAs Phone Mobile Pager AltPhone Fax Email Cc Contact AltContact "
    "AdditionalContactRef ContactsRet CustomerTypeRef TermsRef SalesRepRef Balance TotalBalance SalesTaxCodeRef "
    "ItemSalesTaxRef SalesTaxCountry ResaleNumber AccountNumber CreditLimit PreferredPaymentMethodRef CreditCardInfo "
    "JobStatus JobStartDate JobProjectedEndDate JobEndDate JobDesc JobTypeRef Notes AdditionalNotesRet "
    "IsStatementWithParent DeliveryMethod PreferredDeliveryMethod PriceLevelRef ExternalGUID TaxRegistrationNumber "
    "CurrencyRef DataExtRet",
    "VendorRet": "ListID TimeCreated TimeModified EditSequence Name IsActive ClassRef IsTaxAgency CompanyName "
    "Salutation FirstName MiddleName LastName Suffix JobTitle VendorAddress VendorAddressBlock ShipAddress Phone Mobile "
    "Pager AltPhone Fax Email Cc Contact AltContact AdditionalContactRef ContactsRet NameOnCheck AccountNumber Notes "
    "AdditionalNotesRet VendorTypeRef TermsRef CreditLimit VendorTaxIdent IsVendorEligibleFor1099 Balance "
    "BillingRateRef ExternalGUID SalesTaxCodeRef SalesTaxCountry IsSalesTaxAgency SalesTaxReturnRef "
    "TaxRegistrationNumber ReportingPeriod IsTaxTrackedOnPurchases TaxOnPurchasesAccountRef IsTaxTrackedOnSales "
    "TaxOnSalesAccountRef IsTaxOnTax PrefillAccountRef CurrencyRef DataExtRet",
    "ItemServiceRet": "ListID TimeCreated TimeModified EditSequence Name FullName BarCodeValue IsActive ClassRef "
    "ParentRef Sublevel UnitOfMeasureSetRef IsTaxIncluded SalesTaxCodeRef SalesOrPurchase SalesAndPurchase "
    "ExternalGUID DataExtRet",
    "ItemNonInventoryRet": "ListID TimeCreated TimeModified EditSequence Name FullName BarCodeValue IsActive ClassRef "
    "ParentRef Sublevel ManufacturerPartNumber UnitOfMeasureSetRef IsTaxIncluded SalesTaxCodeRef SalesOrPurchase "
    "SalesAndPurchase ExternalGUID DataExtRet",
    "ItemOtherChargeRet": "ListID TimeCreated TimeModified EditSequence Name FullName BarCodeValue IsActive ClassRef "
    "ParentRef Sublevel IsTaxIncluded SalesTaxCodeRef SalesOrPurchase SalesAndPurchase SpecialItemType ExternalGUID "
    "DataExtRet",
    "SalesOrPurchase": "Desc Price PricePercent AccountRef",
    "SalesAndPurchase": "SalesDesc SalesPrice IncomeAccountRef PurchaseDesc PurchaseCost PurchaseTaxCodeRef "
    "ExpenseAccountRef PrefVendorRef",
    "EstimateRet": "TxnID TimeCreated TimeModified EditSequence TxnNumber CustomerRef ClassRef TemplateRef TxnDate "
    "RefNumber BillAddress BillAddressBlock ShipAddress ShipAddressBlock IsActive PONumber TermsRef DueDate SalesRepRef "
    "FOB Subtotal ItemSalesTaxRef SalesTaxPercentage SalesTaxTotal TotalAmount CurrencyRef ExchangeRate "
    "TotalAmountInHomeCurrency Memo CustomerMsgRef IsToBeEmailed IsTaxIncluded CustomerSalesTaxCodeRef Other "
    "ExternalGUID LinkedTxn EstimateLineRet EstimateLineGroupRet DataExtRet",
    "EstimateLineRet": "TxnLineID ItemRef Desc Quantity UnitOfMeasure OverrideUOMSetRef Rate RatePercent ClassRef "
    "Amount TaxAmount InventorySiteRef InventorySiteLocationRef SalesTaxCodeRef MarkupRate MarkupRatePercent Other1 "
    "Other2 DataExtRet",
    "PurchaseOrderRet": "TxnID TimeCreated TimeModified EditSequence TxnNumber VendorRef ClassRef InventorySiteRef "
    "ShipToEntityRef TemplateRef TxnDate RefNumber VendorAddress VendorAddressBlock ShipAddress ShipAddressBlock "
    "TermsRef DueDate ExpectedDate ShipMethodRef FOB TotalAmount CurrencyRef ExchangeRate TotalAmountInHomeCurrency "
    "IsManuallyClosed IsFullyReceived Memo VendorMsg IsToBePrinted IsToBeEmailed IsTaxIncluded SalesTaxCodeRef Other1 "
    "Other2 ExternalGUID LinkedTxn PurchaseOrderLineRet PurchaseOrderLineGroupRet DataExtRet",
    "PurchaseOrderLineRet": "TxnLineID ItemRef ManufacturerPartNumber Desc Quantity UnitOfMeasure OverrideUOMSetRef "
    "Rate ClassRef Amount TaxAmount InventorySiteLocationRef CustomerRef ServiceDate SalesTaxCodeRef ReceivedQuantity "
    "UnbilledQuantity IsBilled IsManuallyClosed Other1 Other2 DataExtRet",
    "BillRet": "TxnID TimeCreated TimeModified EditSequence TxnNumber VendorRef VendorAddress APAccountRef TxnDate "
    "DueDate AmountDue CurrencyRef ExchangeRate AmountDueInHomeCurrency RefNumber TermsRef Memo IsTaxIncluded "
    "SalesTaxCodeRef IsPaid ExternalGUID LinkedTxn ExpenseLineRet ItemLineRet ItemGroupLineRet OpenAmount DataExtRet",
    "ItemLineRet": "TxnLineID ItemRef InventorySiteRef InventorySiteLocationRef SerialNumber LotNumber Desc Quantity "
    "UnitOfMeasure OverrideUOMSetRef Cost Amount TaxAmount CustomerRef ClassRef SalesTaxCodeRef BillableStatus "
    "SalesRepRef DataExtRet",
    "ExpenseLineRet": "TxnLineID AccountRef Amount TaxAmount Memo CustomerRef ClassRef SalesTaxCodeRef BillableStatus "
    "SalesRepRef DataExtRet",
    "TimeTrackingRet": "TxnID TimeCreated TimeModified EditSequence TxnNumber TxnDate EntityRef CustomerRef "
    "ItemServiceRef Rate Duration ClassRef PayrollItemWageRef Notes BillableStatus ExternalGUID",
    "BillPaymentCheckRet": "TxnID TimeCreated TimeModified EditSequence TxnNumber PayeeEntityRef APAccountRef TxnDate "
    "BankAccountRef Amount CurrencyRef ExchangeRate AmountInHomeCurrency RefNumber Memo Address AddressBlock "
    "IsToBePrinted ExternalGUID AppliedToTxnRet DataExtRet",
    "BillPaymentCreditCardRet": "TxnID TimeCreated TimeModified EditSequence TxnNumber PayeeEntityRef APAccountRef "
    "TxnDate CreditCardAccountRef Amount CurrencyRef ExchangeRate AmountInHomeCurrency RefNumber Memo ExternalGUID "
    "AppliedToTxnRet DataExtRet",
    "InvoiceRet": "TxnID TimeCreated TimeModified EditSequence TxnNumber CustomerRef ClassRef ARAccountRef "
    "TemplateRef TxnDate RefNumber BillAddress BillAddressBlock ShipAddress ShipAddressBlock IsPending IsFinanceCharge "
    "PONumber TermsRef DueDate SalesRepRef FOB ShipDate ShipMethodRef Subtotal ItemSalesTaxRef SalesTaxPercentage "
    "SalesTaxTotal AppliedAmount BalanceRemaining CurrencyRef ExchangeRate BalanceRemainingInHomeCurrency Memo IsPaid "
    "CustomerMsgRef IsToBePrinted IsToBeEmailed IsTaxIncluded CustomerSalesTaxCodeRef SuggestedDiscountAmount "
    "SuggestedDiscountDate Other ExternalGUID LinkedTxn InvoiceLineRet InvoiceLineGroupRet DiscountLineRet "
    "SalesTaxLineRet ShippingLineRet DataExtRet",
    "InvoiceLineRet": "TxnLineID ItemRef Desc Quantity UnitOfMeasure OverrideUOMSetRef Rate RatePercent ClassRef "
    "Amount TaxAmount InventorySiteRef InventorySiteLocationRef SerialNumber LotNumber ServiceDate SalesTaxCodeRef "
    "IsTaxable Other1 Other2 DataExtRet",
    "AppliedToTxnRet": "TxnID TxnType TxnDate RefNumber BalanceRemaining Amount TxnLineDetail DiscountAmount "
    "DiscountAccountRef DiscountClassRef LinkedTxn",
    # job costs outside bills: seeded and queried, never added (``CheckQuery`` ... ``JournalEntryQuery``)
    "CheckRet": "TxnID TimeCreated TimeModified EditSequence TxnNumber AccountRef PayeeEntityRef RefNumber TxnDate "
    "Amount CurrencyRef ExchangeRate AmountInHomeCurrency Memo Address AddressBlock IsToBePrinted IsTaxIncluded "
    "SalesTaxCodeRef ExternalGUID LinkedTxn ExpenseLineRet ItemLineRet ItemGroupLineRet DataExtRet",
    "CreditCardChargeRet": "TxnID TimeCreated TimeModified EditSequence TxnNumber AccountRef PayeeEntityRef TxnDate "
    "Amount CurrencyRef ExchangeRate AmountInHomeCurrency RefNumber Memo IsTaxIncluded SalesTaxCodeRef ExternalGUID "
    "ExpenseLineRet ItemLineRet ItemGroupLineRet DataExtRet",
    "JournalEntryRet": "TxnID TimeCreated TimeModified EditSequence TxnNumber TxnDate RefNumber Memo IsAdjustment "
    "IsHomeCurrencyAdjustment IsAmountsEnteredInHomeCurrency CurrencyRef ExchangeRate ExternalGUID JournalDebitLine "
    "JournalCreditLine DataExtRet",
    "JournalDebitLine": "TxnLineID AccountRef Amount TaxAmount Memo EntityRef ClassRef ItemSalesTaxRef BillableStatus",
    "JournalCreditLine": "TxnLineID AccountRef Amount TaxAmount Memo EntityRef ClassRef ItemSalesTaxRef BillableStatus",
}
RET_ORDER: dict[str, list[str]] = {k: v.split() for k, v in _RET_ORDER.items()}
_ORDER_INDEX = {k: {name: i for i, name in enumerate(v)} for k, v in RET_ORDER.items()}


@dataclass(frozen=True)
class Kind:
    """One kind of QuickBooks record the simulator keeps."""

    name: str
    id_field: str  # ListID | TxnID
    rets: tuple[str, ...]  # Ret elements of this kind (items have several)
    queries: tuple[str, ...]
    label: str  # the word QuickBooks uses in messages
    lines: dict[str, str] = field(default_factory=dict)  # line Add/Mod element stem -> line Ret element


KINDS: dict[str, Kind] = {
    k.name: k
    for k in [
        Kind("customer", "ListID", ("CustomerRet",), ("CustomerQuery",), "Customer"),
        Kind("vendor", "ListID", ("VendorRet",), ("VendorQuery",), "Vendor"),
        Kind(
            "item",
            "ListID",
            ("ItemServiceRet", "ItemNonInventoryRet", "ItemOtherChargeRet"),
            ("ItemQuery", "ItemServiceQuery", "ItemNonInventoryQuery", "ItemOtherChargeQuery"),
            "Item",
        ),
        Kind(
            "estimate",
            "TxnID",
            ("EstimateRet",),
            ("EstimateQuery",),
            "Estimate",
            {"EstimateLine": "EstimateLineRet"},
        ),
        Kind(
            "purchase_order",
            "TxnID",
            ("PurchaseOrderRet",),
            ("PurchaseOrderQuery",),
            "Purchase Order",
            {"PurchaseOrderLine": "PurchaseOrderLineRet"},
        ),
        Kind(
            "bill",
            "TxnID",
            ("BillRet",),
            ("BillQuery",),
            "Bill",
            {"ExpenseLine": "ExpenseLineRet", "ItemLine": "ItemLineRet"},
        ),
        Kind("time_tracking", "TxnID", ("TimeTrackingRet",), ("TimeTrackingQuery",), "Time Tracking"),
        # invoices to customers (owner invoices on a Customer:Job)
        Kind(
            "invoice",
            "TxnID",
            ("InvoiceRet",),
            ("InvoiceQuery",),
            "Invoice",
            {"InvoiceLine": "InvoiceLineRet"},
        ),
        # a payment's AppliedToTxnRet (the bills it pays) are its line items: returned with IncludeLineItems
        Kind(
            "bill_payment_check",
            "TxnID",
            ("BillPaymentCheckRet",),
            ("BillPaymentCheckQuery",),
            "Bill Payment",
            {"AppliedToTxn": "AppliedToTxnRet"},
        ),
        Kind(
            "bill_payment_credit_card",
            "TxnID",
            ("BillPaymentCreditCardRet",),
            ("BillPaymentCreditCardQuery",),
            "Bill Payment",
            {"AppliedToTxn": "AppliedToTxnRet"},
        ),
        # job cost sources outside bills: seeded and queried, not added; lines returned with IncludeLineItems
        Kind(
            "check",
            "TxnID",
            ("CheckRet",),
            ("CheckQuery",),
            "Check",
            {"ExpenseLine": "ExpenseLineRet", "ItemLine": "ItemLineRet"},
        ),
        Kind(
            "credit_card_charge",
            "TxnID",
            ("CreditCardChargeRet",),
            ("CreditCardChargeQuery",),
            "Credit Card Charge",
            {"ExpenseLine": "ExpenseLineRet", "ItemLine": "ItemLineRet"},
        ),
        Kind(
            "journal_entry",
            "TxnID",
            ("JournalEntryRet",),
            ("JournalEntryQuery",),
            "Journal Entry",
            {"JournalDebitLine": "JournalDebitLine", "JournalCreditLine": "JournalCreditLine"},
        ),
    ]
}
RET_KIND = {ret: k.name for k in KINDS.values() for ret in k.rets}
ADD_KIND = {
    "CustomerAdd": ("customer", "CustomerRet"),
    "VendorAdd": ("vendor", "VendorRet"),
    "ItemServiceAdd": ("item", "ItemServiceRet"),
    "ItemNonInventoryAdd": ("item", "ItemNonInventoryRet"),
    "ItemOtherChargeAdd": ("item", "ItemOtherChargeRet"),
    "EstimateAdd": ("estimate", "EstimateRet"),
    "PurchaseOrderAdd": ("purchase_order", "PurchaseOrderRet"),
    "BillAdd": ("bill", "BillRet"),
    "TimeTrackingAdd": ("time_tracking", "TimeTrackingRet"),
    "InvoiceAdd": ("invoice", "InvoiceRet"),
}
MOD_KIND = {
    "CustomerMod": "customer",
    "VendorMod": "vendor",
    "ItemServiceMod": "item",
    "ItemNonInventoryMod": "item",
    "ItemOtherChargeMod": "item",
    "EstimateMod": "estimate",
    "PurchaseOrderMod": "purchase_order",
    "BillMod": "bill",
    "TimeTrackingMod": "time_tracking",
    "InvoiceMod": "invoice",
}
QUERY_KIND = {q + "Rq": k.name for k in KINDS.values() for q in k.queries}
_ITEM_QUERY_RETS = {
    "ItemServiceQueryRq": ("ItemServiceRet",),
    "ItemNonInventoryQueryRq": ("ItemNonInventoryRet",),
    "ItemOtherChargeQueryRq": ("ItemOtherChargeRet",),
}
# reference element -> kinds it may point to (None: the record's own kind, e.g. ParentRef)
_REFS: dict[str, tuple[str, ...] | None] = {
    "CustomerRef": ("customer",),
    "VendorRef": ("vendor",),
    "ItemRef": ("item",),
    "ItemServiceRef": ("item",),
    "ParentRef": None,
    "ShipToEntityRef": ("customer", "vendor"),
    "PrefVendorRef": ("vendor",),
}
# references to names that may also be lists the simulator does not model (employees, other names)
_SOFT_REFS: dict[str, tuple[str, ...]] = {"EntityRef": ("vendor", "customer"), "PayeeEntityRef": ("vendor",)}
_SUB_MODS = {"SalesOrPurchaseMod": "SalesOrPurchase", "SalesAndPurchaseMod": "SalesAndPurchase"}

# -- the official schema -----------------------------------------------------------------------------------
_SCHEMAS: dict[str, etree.XMLSchema] = {}
_SCHEMA_LOCK = threading.Lock()


def xsd_path() -> Path | None:
    """``$QBRECON_QBXML_XSD`` (a folder or the qbxmlops130.xsd file), or None: the XSD is not shipped with
    qbrecon (Intuit's terms), the spec tables are what the simulator always enforces."""
    env = os.environ.get("QBRECON_QBXML_XSD")
    if not env:
        return None
    base = Path(env)
    return base / "qbxmlops130.xsd" if base.is_dir() or not base.suffix else base


def load_schema(path: Path | None = None) -> etree.XMLSchema | None:
    """The compiled qbXML 13.0 schema (once per process), or None (with a warning when a named XSD is absent)."""
    path = path or xsd_path()
    if path is None:
        return None
    key = str(path)
    with _SCHEMA_LOCK:
        if key not in _SCHEMAS:
            if not path.exists():
                log.warning("qbXML XSD not found at %s: the simulator will not validate requests", path)
                return None
            _SCHEMAS[key] = etree.XMLSchema(etree.parse(str(path)))  # includes resolve relative to the path
        return _SCHEMAS[key]


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=True)
_PI_VERSION = re.compile(r'version\s*=\s*"(\d+)\.(\d+)"')
_REQUEST_IN_PATH = re.compile(r"^/QBXML/QBXMLMsgsRq/([A-Za-z]+Rq)(?:\[(\d+)\])?")


def _text(el: etree._Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path)
    return found.text if found is not None else None


_money = money_text  # qbXML amounts: plain, two decimals, half a cent up


def _dec(text: str | None) -> Decimal | None:
    if text is None or text.strip() == "":
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return None


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def _sort_children(el: etree._Element) -> None:
    """Put children in schema order (stable for repeated elements such as lines)."""
    index = _ORDER_INDEX.get(el.tag)
    if index is None:
        return
    children = list(el)
    children.sort(key=lambda c: index.get(c.tag, len(index)))
    el[:] = children


class _RequestFailed(Exception):
    """One request fails with a QuickBooks status code (the message set goes on)."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class _Iterator:
    request: str
    ids: list[str]
    max_returned: int
    query: etree._Element


class QuickBooksCompany:
    """A simulated QuickBooks Desktop company file.

    ``path`` None keeps it in memory; a file path keeps it across objects (a crash test reopens it).
    ``fault_rate_3180`` makes that share of Adds/Mods fail with 3180 ("modified by another user"), from a
    ``seed``-ed generator, so a run is reproducible. ``validate`` checks every message set against the qbXML
    spec tables (order, required elements, lengths), and against the XSD at ``xsd`` (or ``$QBRECON_QBXML_XSD``)
    when there is one.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        seed: int = 0,
        fault_rate_3180: float = 0.0,
        validate: bool = True,
        company_name: str = "qbrecon simulated company",
        clock: float | None = None,
        xsd: str | Path | None = None,
    ):
        self.path = None if path is None or str(path) == ":memory:" else Path(path)
        self.con = duckdb.connect(str(self.path) if self.path else ":memory:")
        self.company_name = company_name
        self.fault_rate_3180 = float(fault_rate_3180)
        self._rng = random.Random(seed)
        self._schema = load_schema(Path(xsd) if xsd else None) if validate else None
        self.validate = validate
        self._lock = threading.RLock()
        self._clock = clock  # fixed epoch for tests that need stable ids; None = wall clock
        self._recs: dict[str, etree._Element] = {}  # ListID/TxnID -> Ret element
        self._kind_of: dict[str, str] = {}
        self._seq: dict[str, int] = {}  # creation order, kept in the file
        self._by_kind: dict[str, dict[str, None]] = {k: {} for k in KINDS}  # insertion-ordered id sets
        self._by_name: dict[tuple[str, str], str] = {}  # (kind, casefolded FullName) -> ListID
        self._iterators: dict[str, _Iterator] = {}
        self._counter = 0
        self._txn_number = 0
        self._dirty: set[str] = set()
        self._deleted: set[str] = set()
        self.requests_processed = 0
        self.message_sets_processed = 0
        self._open()

    # -- storage --------------------------------------------------------------------------------------------
    def _open(self) -> None:
        self.con.execute(
            """CREATE TABLE IF NOT EXISTS qb_records (
                id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, ret VARCHAR NOT NULL, name VARCHAR,
                full_name VARCHAR, parent_id VARCHAR, ref_number VARCHAR, entity_id VARCHAR,
                edit_sequence VARCHAR, is_active BOOLEAN, amount DECIMAL(18,2), time_created VARCHAR,
                time_modified VARCHAR, seq BIGINT, xml VARCHAR NOT NULL)"""
        )
        self.con.execute("CREATE TABLE IF NOT EXISTS qb_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        meta = dict(self.con.execute("SELECT key, value FROM qb_meta").fetchall())
        self._counter = int(meta.get("counter", 0))
        self._txn_number = int(meta.get("txn_number", 0))
        for _rid, kind, xml in self.con.execute(
            "SELECT id, kind, xml FROM qb_records ORDER BY seq"
        ).fetchall():
            self._index(etree.fromstring(xml.encode(), _PARSER), kind)
        self._dirty.clear()  # read from the file, not changed: the next message set writes only what it changes

    def _index(self, ret: etree._Element, kind: str) -> str:
        rid = ret.findtext(KINDS[kind].id_field)
        old = self._recs.get(rid)
        if old is not None and kind in ("customer", "vendor", "item"):
            self._by_name.pop((kind, (self._full_name(old, kind) or "").casefold()), None)
        self._recs[rid] = ret
        self._seq.setdefault(rid, len(self._seq))
        self._kind_of[rid] = kind
        self._by_kind[kind][rid] = None
        if kind in ("customer", "vendor", "item"):
            self._by_name[(kind, (self._full_name(ret, kind) or "").casefold())] = rid
        self._dirty.add(rid)
        return rid

    @staticmethod
    def _full_name(ret: etree._Element, kind: str) -> str | None:
        return ret.findtext("Name") if kind == "vendor" else ret.findtext("FullName")

    def _row(self, rid: str, seq: int) -> dict:
        ret, kind = self._recs[rid], self._kind_of[rid]
        amount = _dec(ret.findtext("TotalAmount") or ret.findtext("AmountDue") or ret.findtext("Amount"))
        entity = ret.find("VendorRef") if ret.find("VendorRef") is not None else ret.find("CustomerRef")
        if entity is None:
            entity = (
                ret.find("EntityRef") if ret.find("EntityRef") is not None else ret.find("PayeeEntityRef")
            )
        return {
            "id": rid,
            "kind": kind,
            "ret": ret.tag,
            "name": ret.findtext("Name"),
            "full_name": self._full_name(ret, kind) if kind in ("customer", "vendor", "item") else None,
            "parent_id": _text(ret, "ParentRef/ListID"),
            "ref_number": ret.findtext("RefNumber"),
            "entity_id": _text(entity, "ListID"),
            "edit_sequence": ret.findtext("EditSequence"),
            "is_active": None if ret.findtext("IsActive") is None else ret.findtext("IsActive") == "true",
            "amount": amount,
            "time_created": ret.findtext("TimeCreated"),
            "time_modified": ret.findtext("TimeModified"),
            "seq": seq,
            "xml": etree.tostring(ret, encoding="unicode"),
        }

    def _flush(self) -> None:
        """Write the records changed by this message set, and the counters, in one transaction."""
        if self._deleted:
            marks = ", ".join("?" for _ in self._deleted)
            self.con.execute(f"DELETE FROM qb_records WHERE id IN ({marks})", sorted(self._deleted))
            self._deleted.clear()
        if not self._dirty:
            return
        rows = [self._row(rid, self._seq[rid]) for rid in self._dirty]
        schema = pa.schema(
            [
                (n, pa.string())
                for n in (
                    "id",
                    "kind",
                    "ret",
                    "name",
                    "full_name",
                    "parent_id",
                    "ref_number",
                    "entity_id",
                    "edit_sequence",
                )
            ]
            + [
                ("is_active", pa.bool_()),
                ("amount", pa.decimal128(18, 2)),
                ("time_created", pa.string()),
                ("time_modified", pa.string()),
                ("seq", pa.int64()),
                ("xml", pa.string()),
            ]
        )
        table = pa.Table.from_pylist(rows, schema=schema)
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.register("_qb_changed", table)
            self.con.execute("INSERT OR REPLACE INTO qb_records SELECT * FROM _qb_changed")
            self.con.unregister("_qb_changed")
            self.con.executemany(
                "INSERT OR REPLACE INTO qb_meta VALUES (?, ?)",
                [["counter", str(self._counter)], ["txn_number", str(self._txn_number)]],
            )
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self._dirty.clear()

    def close(self) -> None:
        with self._lock:
            self.con.close()

    def __enter__(self) -> QuickBooksCompany:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ids and clock -------------------------------------------------------------------------------------------
    def _epoch(self) -> int:
        return int(self._clock if self._clock is not None else time.time())

    def _new_id(self) -> str:
        self._counter += 1
        return f"{0x80000000 + self._counter:08X}-{self._epoch()}"

    def _now(self) -> str:
        return datetime.fromtimestamp(self._epoch()).astimezone().isoformat(timespec="seconds")

    def _next_edit_sequence(self, old: str | None) -> str:
        new = self._epoch()
        if old is not None and old.isdigit() and int(old) >= new:
            new = int(old) + 1
        return str(new)

    # -- reading for tests and reports --------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Number of records of each kind (e.g. ``{"vendor": 12, "bill": 40, ...}``)."""
        with self._lock:
            return {k: len(ids) for k, ids in self._by_kind.items()}

    def records(self, kind: str) -> pd.DataFrame:
        """One row per record of ``kind`` with its ids, names, RefNumber, entity ListID, amount and the Ret XML."""
        if kind not in KINDS:
            raise KeyError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
        with self._lock:
            self._flush()
            table = self.con.sql(
                "SELECT * FROM qb_records WHERE kind = ? ORDER BY seq", params=[kind]
            ).to_arrow_table()
        return arrow_to_frame(table)

    def lines(self, kind: str) -> pd.DataFrame:
        """The lines of every transaction of ``kind``: TxnID, TxnLineID, line element, item, Desc, Other1, Amount."""
        rows = []
        with self._lock:
            for rid in self._by_kind[KINDS[kind].name]:
                ret = self._recs[rid]
                for line_ret in KINDS[kind].lines.values():
                    for line in ret.iter(line_ret):
                        rows.append(
                            {
                                "TxnID": rid,
                                "TxnLineID": line.findtext("TxnLineID"),
                                "line": line_ret,
                                "ItemRef_ListID": _text(line, "ItemRef/ListID"),
                                "ItemRef_FullName": _text(line, "ItemRef/FullName"),
                                "Desc": line.findtext("Desc"),
                                "Other1": line.findtext("Other1"),
                                "Memo": line.findtext("Memo"),
                                "Amount": _dec(line.findtext("Amount")),
                            }
                        )
        return pd.DataFrame(rows)

    def ret(self, record_id: str) -> etree._Element:
        """A copy of one record's Ret element (ListID or TxnID)."""
        with self._lock:
            return etree.fromstring(etree.tostring(self._recs[record_id]))

    # -- seeding ---------------------------------------------------------------------------------------------------
    def seed_from(self, quickbooks_dir: str | Path) -> dict[str, int]:
        """Start the company as the fixtures' QuickBooks side: every supported ``*Ret`` in the qbXML query
        responses under ``quickbooks_dir`` (recursively) is loaded with its own ids. Returns counts added."""
        root = Path(quickbooks_dir)
        files = sorted(root.rglob("*.xml")) if root.is_dir() else [root]
        if not files:
            raise FileNotFoundError(f"no qbXML files under {root}")
        added: dict[str, int] = {}
        parser_kw = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": True}
        with self._lock:
            for f in files:
                for _, el in etree.iterparse(str(f), events=("end",), tag=tuple(RET_KIND), **parser_kw):
                    parent = el.getparent()
                    if parent is None or not parent.tag.endswith("Rs"):
                        continue  # a Ret nested inside another Ret (e.g. none today), skip
                    ret = etree.fromstring(etree.tostring(el), _PARSER)
                    kind = RET_KIND[ret.tag]
                    rid = ret.findtext(KINDS[kind].id_field)
                    if not rid:
                        continue
                    _sort_children(ret)  # answers carry children in schema order, whatever the file had
                    for line_ret in KINDS[kind].lines.values():
                        for line in ret.iter(line_ret):
                            _sort_children(line)
                    self._index(ret, kind)
                    self._bump_counter(rid)
                    for line_id in ret.iter("TxnLineID"):
                        self._bump_counter(line_id.text or "")
                    number = _dec(ret.findtext("TxnNumber"))
                    if number is not None:
                        self._txn_number = max(self._txn_number, int(number))
                    added[kind] = added.get(kind, 0) + 1
                    el.clear()
            self._flush()
        return added

    def _bump_counter(self, rid: str) -> None:
        head = rid.split("-", 1)[0]
        try:
            value = int(head, 16) - 0x80000000
        except ValueError:
            return
        if value > self._counter:
            self._counter = value

    # -- the request processor -----------------------------------------------------------------------------------
    def process(self, request_xml: bytes | str) -> bytes:
        """Answer one qbXML request message set. Raises ``RequestProcessorError`` (HRESULT 0x80040400) when the
        message set as a whole cannot be parsed or is not valid qbXML 13.0; then nothing was processed."""
        data = request_xml.encode("utf-8") if isinstance(request_xml, str) else bytes(request_xml)
        with self._lock:
            doc, too_long = self._parse_and_validate(data)
            msgs = doc.getroot().find("QBXMLMsgsRq")
            on_error = msgs.get("onError", "stopOnError")
            include_none = msgs.get("responseData") == "includeNone"
            out_root = etree.Element("QBXML")
            out = _sub(out_root, "QBXMLMsgsRs")
            try:
                for rq in msgs:
                    if not isinstance(rq.tag, str):
                        continue
                    rs = self._answer(rq, too_long.get((rq.tag, _position(rq))))
                    if include_none:
                        for child in list(rs):
                            rs.remove(child)
                    out.append(rs)
                    self.requests_processed += 1
                    if on_error == "stopOnError" and rs.get("statusSeverity") == "Error":
                        break
            finally:
                self._flush()
            self.message_sets_processed += 1
            body = etree.tostring(out_root, encoding="us-ascii", xml_declaration=False)
            return b'<?xml version="1.0" ?>\n' + body

    def _parse_and_validate(self, data: bytes) -> tuple[etree._ElementTree, dict[tuple[str, int], str]]:
        if len(data) > _MAX_REQUEST_BYTES:
            raise RequestProcessorError(PARSE_ERROR_HRESULT, PARSE_ERROR_MESSAGE, "request larger than 64 MB")
        try:
            root = etree.fromstring(data, _PARSER)
        except etree.XMLSyntaxError as exc:
            raise RequestProcessorError(PARSE_ERROR_HRESULT, PARSE_ERROR_MESSAGE, str(exc)) from None
        doc = root.getroottree()
        if doc.docinfo.doctype:
            raise RequestProcessorError(PARSE_ERROR_HRESULT, PARSE_ERROR_MESSAGE, "DOCTYPE is not allowed")
        pi = root.getprevious()
        while pi is not None and not (isinstance(pi, etree._ProcessingInstruction) and pi.target == "qbxml"):
            pi = pi.getprevious()
        if pi is None:
            raise RequestProcessorError(
                PARSE_ERROR_HRESULT,
                PARSE_ERROR_MESSAGE,
                'missing <?qbxml version="13.0"?> processing instruction',
            )
        m = _PI_VERSION.search(pi.text or "")
        if not m:
            raise RequestProcessorError(PARSE_ERROR_HRESULT, PARSE_ERROR_MESSAGE, f"bad qbxml PI {pi.text!r}")
        if (int(m.group(1)), int(m.group(2))) > SUPPORTED_VERSION:
            raise RequestProcessorError(
                PARSE_ERROR_HRESULT,
                "The version of QBXML that was requested is not supported or is unknown.",
                f"requested {m.group(1)}.{m.group(2)}, this company supports up to 13.0",
            )
        if root.tag != "QBXML" or root.find("QBXMLMsgsRq") is None:
            raise RequestProcessorError(PARSE_ERROR_HRESULT, PARSE_ERROR_MESSAGE, "no QBXML/QBXMLMsgsRq")
        if not self.validate:
            return doc, {}
        checked = qbxml_spec.check_request(root)
        too_long, fatal = checked.too_long, checked.fatal
        # the XSD is the extra check, when a schema was given
        if self._schema is not None and not self._schema.validate(doc):
            for err in self._schema.error_log:
                where = _REQUEST_IN_PATH.match(err.path or "")
                if err.type_name == "SCHEMAV_CVC_MAXLENGTH_VALID" and where:
                    key = (where.group(1), int(where.group(2) or 1))
                    field_name = (err.path or "").rsplit("/", 1)[-1]
                    value = doc.xpath(err.path)
                    text = value[0].text if value else ""
                    too_long.setdefault(key, f'The string "{text}" in the field "{field_name}" is too long.')
                else:
                    fatal.append(f"line {err.line}: {err.message}")
        if fatal:
            raise RequestProcessorError(PARSE_ERROR_HRESULT, PARSE_ERROR_MESSAGE, "; ".join(fatal[:5]))
        return doc, too_long

    def _answer(self, rq: etree._Element, too_long: str | None) -> etree._Element:
        name = rq.tag[:-2] if rq.tag.endswith("Rq") else rq.tag
        rs = etree.Element(name + "Rs")
        if rq.get("requestID") is not None:
            rs.set("requestID", rq.get("requestID"))
        try:
            if too_long:
                raise _RequestFailed(3070, too_long)
            if rq.tag in QUERY_KIND:
                self._query(rq, rs)
                return rs
            if name in ("TxnDel", "ListDel"):
                self._delete(rq, rs, name)
                self._status(rs, 0, "Info", "Status OK")
                return rs
            if name not in ADD_KIND and name not in MOD_KIND:
                raise _RequestFailed(3250, f"{rq.tag} is not supported by the qbrecon QuickBooks simulator.")
            body = rq.find(name)
            if body is None:
                raise _RequestFailed(3150, f"There is a missing element: {name}.")
            if name in ADD_KIND:
                self._maybe_fault(name)
                rs.append(self._add(body, *ADD_KIND[name]))
            else:
                self._maybe_fault(name)
                rs.append(self._mod(body, MOD_KIND[name]))
            self._status(rs, 0, "Info", "Status OK")
        except _RequestFailed as exc:
            for child in list(rs):
                rs.remove(child)
            self._status(rs, exc.code, "Warn" if 500 <= exc.code < 1000 else "Error", exc.message)
        return rs

    @staticmethod
    def _status(rs: etree._Element, code: int, severity: str, message: str) -> None:
        rs.set("statusCode", str(code))
        rs.set("statusSeverity", severity)
        rs.set("statusMessage", message)

    def _maybe_fault(self, name: str) -> None:
        if self.fault_rate_3180 and self._rng.random() < self.fault_rate_3180:
            label = name.replace("Add", "").replace("Mod", "")
            raise _RequestFailed(
                3180,
                f"There was an error when saving a {label}. QuickBooks error message: This list has been modified "
                "by another user.",
            )

    # -- references --------------------------------------------------------------------------------------------
    def _find(self, kinds: Iterable[str], list_id: str | None, full_name: str | None) -> str | None:
        for kind in kinds:
            if list_id:
                if self._kind_of.get(list_id) == kind:
                    return list_id
            elif full_name is not None:
                rid = self._by_name.get((kind, full_name.casefold()))
                if rid is not None:
                    return rid
        return None

    def _resolve_refs(self, el: etree._Element, own_kind: str, owner_label: str) -> None:
        """Check every modelled reference under ``el`` and complete it to ListID + FullName, as QuickBooks echoes."""
        for ref in list(el.iter(*_REFS, *_SOFT_REFS)):
            kinds = _REFS.get(ref.tag) if ref.tag in _REFS else _SOFT_REFS[ref.tag]
            kinds = kinds or (own_kind,)
            list_id, full_name = ref.findtext("ListID"), ref.findtext("FullName")
            if not list_id and full_name is None:
                continue  # an empty Ref clears the field in a Mod
            rid = self._find(kinds, list_id, full_name)
            if rid is None:
                if ref.tag in _SOFT_REFS and not list_id:
                    continue  # an employee or other name: not modelled, echoed as given
                label = KINDS[kinds[0]].label
                raise _RequestFailed(
                    3140,
                    f'There is an invalid reference to QuickBooks {label} "{list_id or full_name}" in the '
                    f"{owner_label}. QuickBooks error message: Invalid argument. The specified record does not "
                    "exist in the list.",
                )
            target, kind = self._recs[rid], self._kind_of[rid]
            for child in list(ref):
                ref.remove(child)
            _sub(ref, "ListID", rid)
            _sub(ref, "FullName", self._full_name(target, kind))

    # -- names ---------------------------------------------------------------------------------------------------
    def _check_name(self, kind: str, ret: etree._Element, own_id: str | None) -> None:
        name = ret.findtext("Name") or ""
        full = self._full_name(ret, kind) or ""
        clashes = [(kind, full)]
        if kind == "vendor":
            clashes.append(("customer", full))  # vendor names share a name space with top-level customers
        if kind == "customer" and ret.find("ParentRef") is None:
            clashes.append(("vendor", full))
        for k, n in clashes:
            rid = self._by_name.get((k, n.casefold()))
            if rid is not None and rid != own_id:
                raise _RequestFailed(3100, f'The name "{name}" of the list element is already in use.')

    def _set_names(self, kind: str, ret: etree._Element) -> None:
        if kind not in ("customer", "item"):
            return
        name = ret.findtext("Name") or ""
        parent_id = _text(ret, "ParentRef/ListID")
        full, level = name, 0
        if parent_id:
            parent = self._recs[parent_id]
            full = f"{parent.findtext('FullName')}:{name}"
            level = int(parent.findtext("Sublevel") or 0) + 1
        for tag, value in (("FullName", full), ("Sublevel", str(level))):
            el = ret.find(tag)
            if el is None:
                el = _sub(ret, tag)
            el.text = value

    # -- Add -----------------------------------------------------------------------------------------------------
    def _add(self, body: etree._Element, kind: str, ret_name: str) -> etree._Element:
        spec = KINDS[kind]
        order = _ORDER_INDEX[ret_name]
        ret = etree.Element(ret_name)
        for child in body:
            stem = child.tag[:-3] if child.tag.endswith("Add") else None
            if stem and stem in spec.lines:
                ret.append(self._new_line(child, spec.lines[stem]))
            elif child.tag in order:
                ret.append(_copy(child))
        self._resolve_refs(ret, kind, spec.label)
        now = self._now()
        rid = self._new_id()
        for tag, value in (
            (spec.id_field, rid),
            ("TimeCreated", now),
            ("TimeModified", now),
            ("EditSequence", self._next_edit_sequence(None)),
        ):
            _sub(ret, tag, value)
        if spec.id_field == "TxnID":
            self._txn_number += 1
            _sub(ret, "TxnNumber", str(self._txn_number))
            if ret.find("TxnDate") is None:
                _sub(ret, "TxnDate", now[:10])
        if kind in ("customer", "vendor", "item") and ret.find("IsActive") is None:
            _sub(ret, "IsActive", "true")
        self._set_names(kind, ret)
        if kind in ("customer", "vendor", "item"):
            self._check_name(kind, ret, None)
        if kind == "customer":
            _sub(ret, "Balance", "0.00")
            _sub(ret, "TotalBalance", "0.00")
        elif kind == "vendor":
            _sub(ret, "Balance", "0.00")
        self._totals(kind, ret)
        if kind == "bill":
            self._receive(body, ret)
        _sort_children(ret)
        self._index(ret, kind)
        return _copy(ret)

    def _new_line(self, line: etree._Element, line_ret: str) -> etree._Element:
        out = etree.Element(line_ret)
        order = _ORDER_INDEX[line_ret]
        _sub(out, "TxnLineID", self._new_id())
        for child in line:
            if child.tag in order and child.tag != "TxnLineID":
                out.append(_copy(child))
        self._line_amount(out)
        _sort_children(out)
        return out

    @staticmethod
    def _line_amount(line: etree._Element) -> None:
        if line.find("Amount") is not None:
            return
        qty = _dec(line.findtext("Quantity"))
        rate = _dec(line.findtext("Rate") if line.find("Rate") is not None else line.findtext("Cost"))
        if qty is not None and rate is not None:
            _sub(line, "Amount", _money(qty * rate))

    def _totals(self, kind: str, ret: etree._Element) -> None:
        """Totals QuickBooks computes: PO/estimate TotalAmount, bill AmountDue/OpenAmount, invoice Subtotal and
        BalanceRemaining (bills and invoices positive only)."""
        if kind not in ("purchase_order", "estimate", "bill", "invoice"):
            return
        lines = [ln for tag in KINDS[kind].lines.values() for ln in ret.findall(tag)]
        total = sum((_dec(ln.findtext("Amount")) or Decimal(0) for ln in lines), Decimal(0))
        if kind in ("bill", "invoice") and total < 0:
            raise _RequestFailed(3210, "Transaction amount must be positive.")
        fields = {
            "purchase_order": ("TotalAmount",),
            "estimate": ("Subtotal", "TotalAmount"),
            "bill": ("AmountDue", "OpenAmount"),
            "invoice": ("Subtotal", "BalanceRemaining"),
        }[kind]
        for tag in fields:
            el = ret.find(tag)
            if el is None:
                el = _sub(ret, tag)
            el.text = _money(total)
        if kind in ("bill", "invoice") and ret.find("IsPaid") is None:
            _sub(ret, "IsPaid", "false")
        if kind == "purchase_order":
            for tag in ("IsManuallyClosed", "IsFullyReceived"):
                if ret.find(tag) is None:
                    _sub(ret, tag, "false")

    def _receive(self, body: etree._Element, ret: etree._Element) -> None:
        """A bill's item lines with ``LinkToTxn`` receive purchase order lines (QuickBooks' "Select PO"): both
        transactions get a ``LinkedTxn`` with the amount, and the PO's open balance (``open_balance``) drops."""
        linked: dict[str, Decimal] = {}
        for line in body.findall("ItemLineAdd"):
            link = line.find("LinkToTxn")
            if link is None:
                continue
            po_id, line_id = link.findtext("TxnID") or "", link.findtext("TxnLineID")
            po = self._recs.get(po_id)
            if po is None or self._kind_of.get(po_id) != "purchase_order":
                raise _RequestFailed(3120, f'Object "{po_id}" specified in the request cannot be found.')
            if line_id and not any(
                pl.findtext("TxnLineID") == line_id for pl in po.findall("PurchaseOrderLineRet")
            ):
                raise _RequestFailed(3120, f'Object "{line_id}" specified in the request cannot be found.')
            if po.findtext("IsManuallyClosed") == "true":
                raise _RequestFailed(3180, f"Purchase order {po.findtext('RefNumber')} is closed.")
            linked[po_id] = linked.get(po_id, Decimal(0)) + (_dec(line.findtext("Amount")) or Decimal(0))
        for po_id, amount in linked.items():
            po = _copy(self._recs[po_id])
            for owner, other, kind in ((ret, po, "PurchaseOrder"), (po, ret, "Bill")):
                lt = _sub(owner, "LinkedTxn")
                for tag, value in (
                    ("TxnID", other.findtext("TxnID")),
                    ("TxnType", kind),
                    ("TxnDate", other.findtext("TxnDate")),
                    ("RefNumber", other.findtext("RefNumber")),
                    ("LinkType", "AMTTYPE"),
                    ("Amount", _money(amount)),
                ):
                    if value is not None:
                        _sub(lt, tag, value)
            received = po.find("IsFullyReceived")
            if received is None:
                received = _sub(po, "IsFullyReceived")
            received.text = "true" if self._open_amount(po) <= 0 else "false"
            _sort_children(ret)
            _sort_children(po)
            self._index(po, "purchase_order")

    @staticmethod
    def _open_amount(po: etree._Element) -> Decimal:
        billed = sum(
            (
                _dec(lt.findtext("Amount")) or Decimal(0)
                for lt in po.findall("LinkedTxn")
                if lt.findtext("TxnType") == "Bill"
            ),
            Decimal(0),
        )
        return (_dec(po.findtext("TotalAmount")) or Decimal(0)) - billed

    def open_balance(self, txn_id: str) -> Decimal:
        """A purchase order's open balance: its total less what bills received against it."""
        with self._lock:
            return self._open_amount(self._recs[txn_id])

    def _delete(self, rq: etree._Element, rs: etree._Element, name: str) -> None:
        """TxnDel / ListDel: the record is gone from the company file (a transaction that others link to, or a
        list element that transactions use, cannot be deleted)."""
        id_field = "TxnID" if name == "TxnDel" else "ListID"
        rid = rq.findtext(id_field) or ""
        kind = self._kind_of.get(rid)
        if kind is None:
            raise _RequestFailed(3120, f'Object "{rid}" specified in the request cannot be found.')
        ret = self._recs[rid]
        if id_field == "TxnID" and kind == "purchase_order" and ret.find("LinkedTxn") is not None:
            raise _RequestFailed(
                3210, "The transaction cannot be deleted: other transactions are linked to it."
            )
        if id_field == "ListID":
            used = any(
                r.find(f".//*[ListID='{rid}']") is not None
                for k, r in ((self._kind_of[o], self._recs[o]) for o in self._recs)
                if k not in ("customer", "vendor", "item") or r.findtext("ParentRef/ListID") == rid
            )
            if used:
                raise _RequestFailed(3170, f'The list element "{rid}" is in use and cannot be deleted.')
        for lt in ret.findall("LinkedTxn"):  # a deleted bill no longer receives its PO lines
            other = self._recs.get(lt.findtext("TxnID") or "")
            if other is not None:
                other = _copy(other)
                for back in other.findall("LinkedTxn"):
                    if back.findtext("TxnID") == rid:
                        other.remove(back)
                if other.find("IsFullyReceived") is not None:
                    other.find("IsFullyReceived").text = "true" if self._open_amount(other) <= 0 else "false"
                self._index(other, self._kind_of[lt.findtext("TxnID")])
        if kind in ("customer", "vendor", "item"):
            self._by_name.pop((kind, (self._full_name(ret, kind) or "").casefold()), None)
        del self._recs[rid]
        del self._kind_of[rid]
        self._by_kind[kind].pop(rid, None)
        self._dirty.discard(rid)
        self._deleted.add(rid)
        _sub(rs, f"{name}Type", rq.findtext(f"{name}Type"))
        _sub(rs, id_field, rid)
        _sub(rs, "TimeDeleted", self._now())

    # -- Mod -----------------------------------------------------------------------------------------------------
    def _mod(self, body: etree._Element, kind: str) -> etree._Element:
        spec = KINDS[kind]
        rid = body.findtext(spec.id_field) or ""
        if self._kind_of.get(rid) != kind:
            raise _RequestFailed(3120, f'Object "{rid}" specified in the request cannot be found.')
        current = self._recs[rid]
        given = body.findtext("EditSequence")
        if given != current.findtext("EditSequence"):
            raise _RequestFailed(3200, f'The provided edit sequence "{given}" is out-of-date.')
        ret = _copy(current)
        line_sets: dict[str, list[etree._Element]] = {}
        cleared: set[str] = set()
        for child in body:
            tag = child.tag
            if tag in (spec.id_field, "EditSequence"):
                continue
            stem = tag[:-3] if tag.endswith("Mod") else None
            if stem and stem in spec.lines:
                line_sets.setdefault(spec.lines[stem], []).append(child)
            elif tag.startswith("Clear") and tag.endswith("Lines"):
                if child.text == "true":
                    cleared.add(
                        {"ClearExpenseLines": "ExpenseLineRet", "ClearItemLines": "ItemLineRet"}.get(tag, "")
                    )
            elif tag in _SUB_MODS:
                target = ret.find(_SUB_MODS[tag])
                if target is None:
                    target = _sub(ret, _SUB_MODS[tag])
                for sub in child:
                    if sub.tag in _ORDER_INDEX[target.tag]:
                        _replace(target, sub)
                _sort_children(target)
            elif tag in _ORDER_INDEX[ret.tag]:
                _replace(ret, child)
        # Lines: once a line Mod is present, the submitted set replaces that kind of line (TxnLineID -1 = new).
        for line_ret in spec.lines.values():
            if line_ret not in line_sets and line_ret not in cleared:
                continue
            existing = {ln.findtext("TxnLineID"): ln for ln in ret.findall(line_ret)}
            for ln in ret.findall(line_ret):
                ret.remove(ln)
            for mod in line_sets.get(line_ret, []):
                line_id = mod.findtext("TxnLineID")
                if line_id == "-1":
                    ret.append(self._new_line(mod, line_ret))
                    continue
                if line_id not in existing:
                    raise _RequestFailed(
                        3120, f'Object "{line_id}" specified in the request cannot be found.'
                    )
                line = existing[line_id]
                changed = any(sub.tag in ("Quantity", "Rate", "Cost") for sub in mod)
                for sub in mod:
                    if sub.tag != "TxnLineID" and sub.tag in _ORDER_INDEX[line_ret]:
                        _replace(line, sub)
                if changed and mod.find("Amount") is None:
                    amount = line.find("Amount")
                    if amount is not None:
                        line.remove(amount)
                    self._line_amount(line)
                _sort_children(line)
                ret.append(line)
        self._resolve_refs(ret, kind, spec.label)
        self._set_names(kind, ret)
        if kind in ("customer", "vendor", "item"):
            self._check_name(kind, ret, rid)
        self._totals(kind, ret)
        ret.find("EditSequence").text = self._next_edit_sequence(current.findtext("EditSequence"))
        ret.find("TimeModified").text = self._now()
        _sort_children(ret)
        self._index(ret, kind)
        return _copy(ret)

    # -- queries ---------------------------------------------------------------------------------------------------
    def _query(self, rq: etree._Element, rs: etree._Element) -> None:
        kind = QUERY_KIND[rq.tag]
        spec = KINDS[kind]
        iterator = rq.get("iterator")
        missing: list[str] = []
        if iterator in ("Continue", "Stop"):
            it_id = rq.get("iteratorID") or ""
            state = self._iterators.get(it_id)
            if state is None or state.request != rq.tag:
                raise _RequestFailed(3391, f"The iteratorID {it_id} is not valid.")
            if iterator == "Stop":
                del self._iterators[it_id]
                self._status(rs, 0, "Info", "Status OK")
                return
            ids, query = state.ids, state.query
            max_returned = state.max_returned
        else:
            ids, missing = self._select(rq, kind)
            query = rq
            max_returned = int(rq.findtext("MaxReturned") or 0) or None
            if missing and not ids:
                raise _RequestFailed(500, _not_found(missing[0]))
        page, rest = (ids[:max_returned], ids[max_returned:]) if max_returned else (ids, [])
        include_lines = query.findtext("IncludeLineItems") == "true"
        keep = {el.text for el in query.findall("IncludeRetElement")}
        for rid in page:
            if rid not in self._recs:
                continue  # deleted between pages
            rs.append(self._present(self._recs[rid], spec, include_lines, keep))
        if iterator in ("Start", "Continue"):
            it_id = rq.get("iteratorID") if iterator == "Continue" else "{" + str(uuid.uuid4()) + "}"
            if rest:
                self._iterators[it_id] = _Iterator(rq.tag, rest, max_returned or len(rest), query)
            else:
                self._iterators.pop(it_id, None)
            rs.set("iteratorRemainingCount", str(len(rest)))
            rs.set("iteratorID", it_id)
        if missing:
            self._status(rs, 500, "Warn", _not_found(missing[0]))
        elif not page:
            self._status(rs, 1, "Info", "A query request did not find a matching object in QuickBooks")
        else:
            self._status(rs, 0, "Info", "Status OK")
        if page:
            rs.set("retCount", str(len(page)))
        if iterator in ("Start", "Continue"):  # keep the attribute order QuickBooks uses
            for a in ("retCount", "iteratorRemainingCount", "iteratorID"):
                if a in rs.attrib:
                    rs.set(a, rs.attrib.pop(a))

    def _present(
        self, ret: etree._Element, spec: Kind, include_lines: bool, keep: set[str]
    ) -> etree._Element:
        out = _copy(ret)
        if spec.lines and not include_lines:
            for tag in spec.lines.values():
                for ln in out.findall(tag):
                    out.remove(ln)
        if keep:
            for child in list(out):
                if child.tag not in keep:
                    out.remove(child)
        return out

    def _select(self, rq: etree._Element, kind: str) -> tuple[list[str], list[str]]:
        """Ids matching a query's filters, in creation order, and the named ids/names that were not found."""
        spec = KINDS[kind]
        rets = _ITEM_QUERY_RETS.get(rq.tag)
        pool = [rid for rid in self._by_kind[kind] if rets is None or self._recs[rid].tag in rets]
        missing: list[str] = []
        list_ids = [e.text or "" for e in rq.findall(spec.id_field)]
        names = [e.text or "" for e in rq.findall("FullName")]
        if list_ids or names:
            found: list[str] = []
            for lid in list_ids:
                (found if lid in self._recs and self._kind_of[lid] == kind else missing).append(lid)
            for name in names:
                rid = self._by_name.get((kind, name.casefold()))
                if rid is None:
                    missing.append(name)
                else:
                    found.append(rid)
            return [r for r in dict.fromkeys(found) if r in pool], missing
        refs = [e.text or "" for e in rq.findall("RefNumber")]
        refs_cs = [e.text or "" for e in rq.findall("RefNumberCaseSensitive")]
        if refs or refs_cs:
            want = {r.casefold() for r in refs}
            return [
                rid
                for rid in pool
                if (self._recs[rid].findtext("RefNumber") or "").casefold() in want
                or (self._recs[rid].findtext("RefNumber") or "") in refs_cs
            ], missing
        result = pool
        if spec.id_field == "ListID":
            status = rq.findtext("ActiveStatus") or "ActiveOnly"
            if status != "All":
                want_active = status == "ActiveOnly"
                result = [r for r in result if (self._recs[r].findtext("IsActive") != "false") == want_active]
            nf = rq.find("NameFilter")
            if nf is not None:
                result = [
                    r for r in result if _matches(self._full_name(self._recs[r], kind) or "", nf, "Name")
                ]
        else:
            ef = rq.find("EntityFilter")
            if ef is not None:
                result = [r for r in result if self._entity_matches(self._recs[r], ef)]
            rf = rq.find("RefNumberFilter")
            if rf is not None:
                result = [
                    r for r in result if _matches(self._recs[r].findtext("RefNumber") or "", rf, "RefNumber")
                ]
            dr = rq.find("TxnDateRangeFilter")
            if dr is not None:
                lo, hi = dr.findtext("FromTxnDate"), dr.findtext("ToTxnDate")
                result = [r for r in result if _in_range(self._recs[r].findtext("TxnDate"), lo, hi)]
        mr = rq.find("ModifiedDateRangeFilter")
        lo = mr.findtext("FromModifiedDate") if mr is not None else rq.findtext("FromModifiedDate")
        hi = mr.findtext("ToModifiedDate") if mr is not None else rq.findtext("ToModifiedDate")
        if lo or hi:
            result = [r for r in result if _in_range(self._recs[r].findtext("TimeModified"), lo, hi)]
        return result, missing

    def _entity_matches(self, ret: etree._Element, ef: etree._Element) -> bool:
        ref = next(
            (
                ret.find(t)
                for t in ("VendorRef", "CustomerRef", "EntityRef", "PayeeEntityRef")
                if ret.find(t) is not None
            ),
            None,
        )
        if ref is None:
            return False
        lid, name = ref.findtext("ListID") or "", ref.findtext("FullName") or ""
        ids = {e.text for e in ef.findall("ListID")}
        names = {(e.text or "").casefold() for e in ef.findall("FullName")}
        if lid in ids or name.casefold() in names:
            return True
        for e in ef.findall("ListIDWithChildren"):
            parent = self._recs.get(e.text or "")
            if parent is not None and (name + ":").casefold().startswith(
                (parent.findtext("FullName") or "").casefold() + ":"
            ):
                return True
        for e in ef.findall("FullNameWithChildren"):
            if (name + ":").casefold().startswith((e.text or "").casefold() + ":"):
                return True
        return False


def _not_found(what: str) -> str:
    return (
        "The query request has not been fully completed. There was a required element "
        f'("{what}") that could not be found in QuickBooks.'
    )


def _position(rq: etree._Element) -> int:
    """1-based position of ``rq`` among its same-named siblings (how lxml error paths number them)."""
    return 1 + sum(1 for sib in rq.itersiblings(preceding=True) if sib.tag == rq.tag)


def _copy(el: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(el))


def _replace(parent: etree._Element, new: etree._Element) -> None:
    """Mod semantics: the given element replaces the stored one of the same name (an empty one clears it)."""
    old = parent.find(new.tag)
    if len(new) == 0 and not (new.text or "").strip():
        if old is not None:
            parent.remove(old)
        return
    if old is not None:
        parent.replace(old, _copy(new))
    else:
        parent.append(_copy(new))


def _matches(value: str, flt: etree._Element, field_name: str) -> bool:
    how = flt.findtext("MatchCriterion") or "StartsWith"
    want = (flt.findtext(field_name) or "").casefold()
    value = value.casefold()
    return {"StartsWith": value.startswith, "Contains": lambda w: w in value, "EndsWith": value.endswith}[
        how
    ](want)


def _in_range(value: str | None, lo: str | None, hi: str | None) -> bool:
    if value is None:
        return False
    if lo and value[: len(lo)] < lo:
        return False
    if hi and value[: len(hi)] > hi:
        return False
    return True
