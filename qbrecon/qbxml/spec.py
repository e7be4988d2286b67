"""What our code knows about the qbXML 13.0 format: element order, required elements and maximum lengths, as
plain data -- the one source of every QuickBooks length limit in qbrecon.

QuickBooks rejects a whole message set for one out-of-order element (HRESULT 0x80040400), so every element we
emit is placed by ``ORDER`` (the ``xsd:sequence`` of its parent, choices flattened in schema order), never by
dict order. ``MAXLEN`` holds the ``maxLength`` facets for the paths we fill (``Message/Child/Leaf``), so the
builders can refuse a row *before* building instead of letting QuickBooks fail it or silently truncating.
``REQUIRED`` lists the children that must be present. ``check_request`` applies all three to a request message
set the way QuickBooks' request processor does (the simulator uses it; the XSD is only an extra check there).

Derived from Intuit's qbXML 13.0 schema for the messages qbrecon builds and committed here as data: the schema
itself is not part of the project (Intuit's terms), and nothing in qbrecon reads it. ``tests/xsd_tables.py``
re-derives the tables from a local copy of the XSD (``tests/test_spec_tables.py`` compares them when
``$QBRECON_QBXML_XSD`` or the reference folder is present) and prints the rows for a new message.
``EXTRA_MAXLEN`` adds the limits QuickBooks enforces where the schema has no facet (``ItemRef/FullName`` and
``ParentRef/FullName`` carry none).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import etree

QBXML_VERSION = "13.0"
REQUEST_ID_MAXLEN = 50  # statusCode 1060 beyond this

# fmt: off
ORDER: dict[str, tuple[str, ...]] = {
    "CustomerAdd": ("Name", "IsActive", "ClassRef", "ParentRef", "CompanyName", "Salutation", "FirstName", "MiddleName", "LastName", "Suffix", "JobTitle", "BillAddress", "ShipAddress", "ShipToAddress", "PrintAs", "Phone", "Mobile", "Pager", "AltPhone", "Fax", "Email", "Cc", "Contact", "AltContact", "AdditionalContactRef", "Contacts", "CustomerTypeRef", "TermsRef", "SalesRepRef", "OpenBalance", "OpenBalanceDate", "SalesTaxCodeRef", "ItemSalesTaxRef", "SalesTaxCountry", "ResaleNumber", "AccountNumber", "CreditLimit", "PreferredPaymentMethodRef", "CreditCardInfo", "JobStatus", "JobStartDate", "JobProjectedEndDate", "JobEndDate", "JobDesc", "JobTypeRef", "Notes", "AdditionalNotes", "IsStatementWithParent", "DeliveryMethod", "PreferredDeliveryMethod", "PriceLevelRef", "ExternalGUID", "TaxRegistrationNumber", "CurrencyRef"),
    "CustomerMod": ("ListID", "EditSequence", "Name", "IsActive", "ClassRef", "ParentRef", "CompanyName", "Salutation", "FirstName", "MiddleName", "LastName", "Suffix", "JobTitle", "BillAddress", "ShipAddress", "ShipToAddress", "PrintAs", "Phone", "Mobile", "Pager", "AltPhone", "Fax", "Email", "Cc", "Contact", "AltContact", "AdditionalContactRef", "ContactsMod", "CustomerTypeRef", "TermsRef", "SalesRepRef", "SalesTaxCodeRef", "ItemSalesTaxRef", "SalesTaxCountry", "ResaleNumber", "AccountNumber", "CreditLimit", "PreferredPaymentMethodRef", "CreditCardInfo", "JobStatus", "JobStartDate", "JobProjectedEndDate", "JobEndDate", "JobDesc", "JobTypeRef", "Notes", "AdditionalNotesMod", "IsStatementWithParent", "DeliveryMethod", "PreferredDeliveryMethod", "PriceLevelRef", "TaxRegistrationNumber", "CurrencyRef"),
    "VendorAdd": ("Name", "IsActive", "ClassRef", "CompanyName", "Salutation", "FirstName", "MiddleName", "LastName", "Suffix", "JobTitle", "VendorAddress", "ShipAddress", "Phone", "Mobile", "Pager", "AltPhone", "Fax", "Email", "Cc", "Contact", "AltContact", "AdditionalContactRef", "Contacts", "NameOnCheck", "AccountNumber", "Notes", "AdditionalNotes", "VendorTypeRef", "TermsRef", "CreditLimit", "VendorTaxIdent", "IsVendorEligibleFor1099", "OpenBalance", "OpenBalanceDate", "BillingRateRef", "ExternalGUID", "SalesTaxCodeRef", "SalesTaxCountry", "IsSalesTaxAgency", "SalesTaxReturnRef", "TaxRegistrationNumber", "ReportingPeriod", "IsTaxTrackedOnPurchases", "TaxOnPurchasesAccountRef", "IsTaxTrackedOnSales", "TaxOnSalesAccountRef", "IsTaxOnTax", "PrefillAccountRef", "CurrencyRef"),
    "VendorMod": ("ListID", "EditSequence", "Name", "IsActive", "ClassRef", "CompanyName", "Salutation", "FirstName", "MiddleName", "LastName", "Suffix", "JobTitle", "VendorAddress", "ShipAddress", "Phone", "Mobile", "Pager", "AltPhone", "Fax", "Email", "Cc", "Contact", "AltContact", "AdditionalContactRef", "ContactsMod", "NameOnCheck", "AccountNumber", "Notes", "AdditionalNotesMod", "VendorTypeRef", "TermsRef", "CreditLimit", "VendorTaxIdent", "IsVendorEligibleFor1099", "BillingRateRef", "SalesTaxCodeRef", "SalesTaxCountry", "IsSalesTaxAgency", "SalesTaxReturnRef", "TaxRegistrationNumber", "ReportingPeriod", "IsTaxTrackedOnPurchases", "TaxOnPurchasesAccountRef", "IsTaxTrackedOnSales", "TaxOnSalesAccountRef", "IsTaxOnTax", "PrefillAccountRef", "CurrencyRef"),
    "ItemServiceAdd": ("Name", "BarCode", "IsActive", "ClassRef", "ParentRef", "UnitOfMeasureSetRef", "IsTaxIncluded", "SalesTaxCodeRef", "SalesOrPurchase", "SalesAndPurchase", "ExternalGUID"),
    "ItemServiceMod": ("ListID", "EditSequence", "Name", "BarCode", "IsActive", "ClassRef", "ParentRef", "UnitOfMeasureSetRef", "ForceUOMChange", "IsTaxIncluded", "SalesTaxCodeRef", "SalesOrPurchaseMod", "SalesAndPurchaseMod"),
    "EstimateAdd": ("CustomerRef", "ClassRef", "TemplateRef", "TxnDate", "RefNumber", "BillAddress", "ShipAddress", "IsActive", "PONumber", "TermsRef", "DueDate", "SalesRepRef", "FOB", "ItemSalesTaxRef", "Memo", "CustomerMsgRef", "IsToBeEmailed", "IsTaxIncluded", "CustomerSalesTaxCodeRef", "Other", "ExchangeRate", "ExternalGUID", "EstimateLineAdd", "EstimateLineGroupAdd"),
    "EstimateMod": ("TxnID", "EditSequence", "CustomerRef", "ClassRef", "TemplateRef", "TxnDate", "RefNumber", "BillAddress", "ShipAddress", "IsActive", "CreateChangeOrder", "PONumber", "TermsRef", "DueDate", "SalesRepRef", "FOB", "ItemSalesTaxRef", "Memo", "CustomerMsgRef", "IsToBeEmailed", "IsTaxIncluded", "CustomerSalesTaxCodeRef", "Other", "ExchangeRate", "EstimateLineMod", "EstimateLineGroupMod"),
    "PurchaseOrderAdd": ("VendorRef", "ClassRef", "InventorySiteRef", "ShipToEntityRef", "TemplateRef", "TxnDate", "RefNumber", "VendorAddress", "ShipAddress", "TermsRef", "DueDate", "ExpectedDate", "ShipMethodRef", "FOB", "Memo", "VendorMsg", "IsToBePrinted", "IsToBeEmailed", "IsTaxIncluded", "SalesTaxCodeRef", "Other1", "Other2", "ExchangeRate", "ExternalGUID", "PurchaseOrderLineAdd", "PurchaseOrderLineGroupAdd"),
    "PurchaseOrderMod": ("TxnID", "EditSequence", "VendorRef", "ClassRef", "InventorySiteRef", "ShipToEntityRef", "TemplateRef", "TxnDate", "RefNumber", "VendorAddress", "ShipAddress", "TermsRef", "DueDate", "ExpectedDate", "ShipMethodRef", "FOB", "IsManuallyClosed", "Memo", "VendorMsg", "IsToBePrinted", "IsToBeEmailed", "IsTaxIncluded", "SalesTaxCodeRef", "Other1", "Other2", "ExchangeRate", "PurchaseOrderLineMod", "PurchaseOrderLineGroupMod"),
    "BillAdd": ("VendorRef", "VendorAddress", "APAccountRef", "TxnDate", "DueDate", "RefNumber", "TermsRef", "Memo", "IsTaxIncluded", "SalesTaxCodeRef", "ExchangeRate", "ExternalGUID", "LinkToTxnID", "ExpenseLineAdd", "ItemLineAdd", "ItemGroupLineAdd"),
    "TimeTrackingAdd": ("TxnDate", "EntityRef", "CustomerRef", "ItemServiceRef", "Rate", "Duration", "ClassRef", "PayrollItemWageRef", "Notes", "BillableStatus", "ExternalGUID"),
    "CustomerQueryRq": ("ListID", "FullName", "MaxReturned", "ActiveStatus", "FromModifiedDate", "ToModifiedDate", "NameFilter", "NameRangeFilter", "TotalBalanceFilter", "CurrencyFilter", "ClassFilter", "IncludeRetElement", "OwnerID"),
    "VendorQueryRq": ("ListID", "FullName", "MaxReturned", "ActiveStatus", "FromModifiedDate", "ToModifiedDate", "NameFilter", "NameRangeFilter", "TotalBalanceFilter", "CurrencyFilter", "ClassFilter", "IncludeRetElement", "OwnerID"),
    "ItemQueryRq": ("ListID", "FullName", "MaxReturned", "ActiveStatus", "FromModifiedDate", "ToModifiedDate", "NameFilter", "NameRangeFilter", "IncludeRetElement", "OwnerID"),
    "EstimateQueryRq": ("TxnID", "RefNumber", "RefNumberCaseSensitive", "MaxReturned", "ModifiedDateRangeFilter", "TxnDateRangeFilter", "EntityFilter", "AccountFilter", "RefNumberFilter", "RefNumberRangeFilter", "CurrencyFilter", "IncludeLineItems", "IncludeLinkedTxns", "IncludeRetElement", "OwnerID"),
    "PurchaseOrderQueryRq": ("TxnID", "RefNumber", "RefNumberCaseSensitive", "MaxReturned", "ModifiedDateRangeFilter", "TxnDateRangeFilter", "EntityFilter", "AccountFilter", "RefNumberFilter", "RefNumberRangeFilter", "CurrencyFilter", "IncludeLineItems", "IncludeLinkedTxns", "IncludeRetElement", "OwnerID"),
    "BillQueryRq": ("TxnID", "RefNumber", "RefNumberCaseSensitive", "MaxReturned", "ModifiedDateRangeFilter", "TxnDateRangeFilter", "EntityFilter", "AccountFilter", "RefNumberFilter", "RefNumberRangeFilter", "CurrencyFilter", "PaidStatus", "IncludeLineItems", "IncludeLinkedTxns", "IncludeRetElement", "OwnerID"),
    "BillPaymentCheckQueryRq": ("TxnID", "RefNumber", "RefNumberCaseSensitive", "MaxReturned", "ModifiedDateRangeFilter", "TxnDateRangeFilter", "EntityFilter", "AccountFilter", "RefNumberFilter", "RefNumberRangeFilter", "CurrencyFilter", "IncludeLineItems", "IncludeRetElement", "OwnerID"),
    "BillPaymentCreditCardQueryRq": ("TxnID", "RefNumber", "RefNumberCaseSensitive", "MaxReturned", "ModifiedDateRangeFilter", "TxnDateRangeFilter", "EntityFilter", "AccountFilter", "RefNumberFilter", "RefNumberRangeFilter", "CurrencyFilter", "IncludeLineItems", "IncludeRetElement", "OwnerID"),
    "CheckQueryRq": ("TxnID", "RefNumber", "RefNumberCaseSensitive", "MaxReturned", "ModifiedDateRangeFilter", "TxnDateRangeFilter", "EntityFilter", "AccountFilter", "RefNumberFilter", "RefNumberRangeFilter", "CurrencyFilter", "IncludeLineItems", "IncludeLinkedTxns", "IncludeRetElement", "OwnerID"),
    "CreditCardChargeQueryRq": ("TxnID", "RefNumber", "RefNumberCaseSensitive", "MaxReturned", "ModifiedDateRangeFilter", "TxnDateRangeFilter", "EntityFilter", "AccountFilter", "RefNumberFilter", "RefNumberRangeFilter", "CurrencyFilter", "IncludeLineItems", "IncludeRetElement", "OwnerID"),
    "JournalEntryQueryRq": ("TxnID", "RefNumber", "RefNumberCaseSensitive", "MaxReturned", "ModifiedDateRangeFilter", "TxnDateRangeFilter", "EntityFilter", "AccountFilter", "RefNumberFilter", "RefNumberRangeFilter", "CurrencyFilter", "IncludeLineItems", "IncludeRetElement", "OwnerID"),
    "TimeTrackingQueryRq": ("TxnID", "MaxReturned", "ModifiedDateRangeFilter", "TxnDateRangeFilter", "TimeTrackingEntityFilter", "IncludeRetElement"),
    "ParentRef": ("ListID", "FullName"),
    "CustomerRef": ("ListID", "FullName"),
    "VendorRef": ("ListID", "FullName"),
    "ItemRef": ("ListID", "FullName"),
    "AccountRef": ("ListID", "FullName"),
    "VendorTypeRef": ("ListID", "FullName"),
    "EntityRef": ("ListID", "FullName"),
    "ItemServiceRef": ("ListID", "FullName"),
    "PayrollItemWageRef": ("ListID", "FullName"),
    "ClassRef": ("ListID", "FullName"),
    "APAccountRef": ("ListID", "FullName"),
    "BillAddress": ("Addr1", "Addr2", "Addr3", "Addr4", "Addr5", "City", "State", "PostalCode", "Country", "Note"),
    "VendorAddress": ("Addr1", "Addr2", "Addr3", "Addr4", "Addr5", "City", "State", "PostalCode", "Country", "Note"),
    "SalesOrPurchase": ("Desc", "Price", "PricePercent", "AccountRef"),
    "SalesOrPurchaseMod": ("Desc", "Price", "PricePercent", "AccountRef", "ApplyAccountRefToExistingTxns"),
    "EstimateLineAdd": ("ItemRef", "Desc", "Quantity", "UnitOfMeasure", "Rate", "RatePercent", "ClassRef", "Amount", "TaxAmount", "OptionForPriceRuleConflict", "InventorySiteRef", "InventorySiteLocationRef", "SalesTaxCodeRef", "MarkupRate", "MarkupRatePercent", "PriceLevelRef", "OverrideItemAccountRef", "Other1", "Other2", "DataExt"),
    "EstimateLineMod": ("TxnLineID", "ItemRef", "Desc", "Quantity", "UnitOfMeasure", "OverrideUOMSetRef", "Rate", "RatePercent", "ClassRef", "Amount", "TaxAmount", "OptionForPriceRuleConflict", "InventorySiteRef", "InventorySiteLocationRef", "SalesTaxCodeRef", "MarkupRate", "MarkupRatePercent", "PriceLevelRef", "Other1", "Other2"),
    "PurchaseOrderLineAdd": ("ItemRef", "ManufacturerPartNumber", "Desc", "Quantity", "UnitOfMeasure", "Rate", "ClassRef", "Amount", "TaxAmount", "InventorySiteLocationRef", "CustomerRef", "ServiceDate", "SalesTaxCodeRef", "OverrideItemAccountRef", "Other1", "Other2", "DataExt"),
    "BillMod": ("TxnID", "EditSequence", "VendorRef", "VendorAddress", "APAccountRef", "TxnDate", "DueDate", "RefNumber", "TermsRef", "Memo", "IsTaxIncluded", "SalesTaxCodeRef", "ExchangeRate", "ClearExpenseLines", "ExpenseLineMod", "ClearItemLines", "ItemLineMod", "ItemGroupLineMod"),
    "ItemLineMod": ("TxnLineID", "ItemRef", "InventorySiteRef", "InventorySiteLocationRef", "SerialNumber", "LotNumber", "Desc", "Quantity", "UnitOfMeasure", "OverrideUOMSetRef", "Cost", "Amount", "TaxAmount", "CustomerRef", "ClassRef", "SalesTaxCodeRef", "BillableStatus", "OverrideItemAccountRef", "SalesRepRef"),
    "PurchaseOrderLineMod": ("TxnLineID", "ItemRef", "ManufacturerPartNumber", "Desc", "Quantity", "UnitOfMeasure", "OverrideUOMSetRef", "Rate", "ClassRef", "Amount", "TaxAmount", "InventorySiteLocationRef", "CustomerRef", "ServiceDate", "SalesTaxCodeRef", "IsManuallyClosed", "OverrideItemAccountRef", "Other1", "Other2"),
    "ItemLineAdd": ("ItemRef", "InventorySiteRef", "InventorySiteLocationRef", "SerialNumber", "LotNumber", "Desc", "Quantity", "UnitOfMeasure", "Cost", "Amount", "TaxAmount", "CustomerRef", "ClassRef", "SalesTaxCodeRef", "BillableStatus", "OverrideItemAccountRef", "LinkToTxn", "SalesRepRef", "DataExt"),
    "LinkToTxn": ("TxnID", "TxnLineID"),
    "ModifiedDateRangeFilter": ("FromModifiedDate", "ToModifiedDate"),
    "TxnDateRangeFilter": ("FromTxnDate", "ToTxnDate", "DateMacro"),
    "InvoiceAdd": ("CustomerRef", "ClassRef", "ARAccountRef", "TemplateRef", "TxnDate", "RefNumber", "BillAddress", "ShipAddress", "IsPending", "IsFinanceCharge", "PONumber", "TermsRef", "DueDate", "SalesRepRef", "FOB", "ShipDate", "ShipMethodRef", "ItemSalesTaxRef", "Memo", "CustomerMsgRef", "IsToBePrinted", "IsToBeEmailed", "IsTaxIncluded", "CustomerSalesTaxCodeRef", "Other", "ExchangeRate", "ExternalGUID", "LinkToTxnID", "SetCredit", "InvoiceLineAdd", "InvoiceLineGroupAdd", "DiscountLineAdd", "SalesTaxLineAdd", "ShippingLineAdd"),
    "InvoiceMod": ("TxnID", "EditSequence", "CustomerRef", "ClassRef", "ARAccountRef", "TemplateRef", "TxnDate", "RefNumber", "BillAddress", "ShipAddress", "IsPending", "PONumber", "TermsRef", "DueDate", "SalesRepRef", "FOB", "ShipDate", "ShipMethodRef", "ItemSalesTaxRef", "Memo", "CustomerMsgRef", "IsToBePrinted", "IsToBeEmailed", "IsTaxIncluded", "CustomerSalesTaxCodeRef", "Other", "ExchangeRate", "SetCredit", "InvoiceLineMod", "InvoiceLineGroupMod"),
    "InvoiceLineAdd": ("ItemRef", "Desc", "Quantity", "UnitOfMeasure", "Rate", "RatePercent", "PriceLevelRef", "ClassRef", "Amount", "TaxAmount", "OptionForPriceRuleConflict", "InventorySiteRef", "InventorySiteLocationRef", "SerialNumber", "LotNumber", "ServiceDate", "SalesTaxCodeRef", "IsTaxable", "OverrideItemAccountRef", "Other1", "Other2", "LinkToTxn", "DataExt"),
    "InvoiceLineMod": ("TxnLineID", "ItemRef", "Desc", "Quantity", "UnitOfMeasure", "OverrideUOMSetRef", "Rate", "RatePercent", "PriceLevelRef", "ClassRef", "Amount", "TaxAmount", "OptionForPriceRuleConflict", "InventorySiteRef", "InventorySiteLocationRef", "SerialNumber", "LotNumber", "ServiceDate", "SalesTaxCodeRef", "OverrideItemAccountRef", "Other1", "Other2"),
    "InvoiceQueryRq": ("TxnID", "RefNumber", "RefNumberCaseSensitive", "MaxReturned", "ModifiedDateRangeFilter", "TxnDateRangeFilter", "EntityFilter", "AccountFilter", "RefNumberFilter", "RefNumberRangeFilter", "CurrencyFilter", "PaidStatus", "IncludeLineItems", "IncludeLinkedTxns", "IncludeRetElement", "OwnerID"),
    "ARAccountRef": ("ListID", "FullName"),
    "TemplateRef": ("ListID", "FullName"),
    "TermsRef": ("ListID", "FullName"),
    "OverrideItemAccountRef": ("ListID", "FullName"),
}
MAXLEN: dict[str, int] = {
    "BillAdd/APAccountRef/FullName": 159,
    "BillAdd/APAccountRef/ListID": 36,
    "BillAdd/ItemLineAdd/ClassRef/FullName": 159,
    "BillAdd/ItemLineAdd/ClassRef/ListID": 36,
    "BillAdd/ItemLineAdd/CustomerRef/FullName": 209,
    "BillAdd/ItemLineAdd/CustomerRef/ListID": 36,
    "BillAdd/ItemLineAdd/Desc": 4095,
    "BillAdd/ItemLineAdd/ItemRef/ListID": 36,
    "BillAdd/ItemLineAdd/LinkToTxn/TxnID": 36,
    "BillAdd/ItemLineAdd/LinkToTxn/TxnLineID": 36,
    "BillAdd/LinkToTxnID": 36,
    "BillAdd/Memo": 4095,
    "BillAdd/RefNumber": 20,
    "BillAdd/VendorAddress/Addr1": 41,
    "BillAdd/VendorAddress/Addr2": 41,
    "BillAdd/VendorAddress/City": 31,
    "BillAdd/VendorAddress/Country": 31,
    "BillAdd/VendorAddress/PostalCode": 13,
    "BillAdd/VendorAddress/State": 21,
    "BillAdd/VendorRef/FullName": 41,
    "BillAdd/VendorRef/ListID": 36,
    "BillPaymentCheckQueryRq/IncludeRetElement": 50,
    "BillPaymentCheckQueryRq/TxnID": 36,
    "BillPaymentCreditCardQueryRq/IncludeRetElement": 50,
    "BillPaymentCreditCardQueryRq/TxnID": 36,
    "BillQueryRq/IncludeRetElement": 50,
    "BillQueryRq/TxnID": 36,
    "CheckQueryRq/IncludeRetElement": 50,
    "CheckQueryRq/TxnID": 36,
    "CreditCardChargeQueryRq/IncludeRetElement": 50,
    "CreditCardChargeQueryRq/TxnID": 36,
    "CustomerAdd/AccountNumber": 99,
    "CustomerAdd/BillAddress/Addr1": 41,
    "CustomerAdd/BillAddress/Addr2": 41,
    "CustomerAdd/BillAddress/City": 31,
    "CustomerAdd/BillAddress/Country": 31,
    "CustomerAdd/BillAddress/PostalCode": 13,
    "CustomerAdd/BillAddress/State": 21,
    "CustomerAdd/ClassRef/FullName": 159,
    "CustomerAdd/ClassRef/ListID": 36,
    "CustomerAdd/CompanyName": 41,
    "CustomerAdd/Email": 1023,
    "CustomerAdd/Fax": 21,
    "CustomerAdd/JobDesc": 99,
    "CustomerAdd/Name": 41,
    "CustomerAdd/Notes": 4095,
    "CustomerAdd/ParentRef/ListID": 36,
    "CustomerAdd/Phone": 21,
    "CustomerMod/AccountNumber": 99,
    "CustomerMod/BillAddress/Addr1": 41,
    "CustomerMod/BillAddress/Addr2": 41,
    "CustomerMod/BillAddress/City": 31,
    "CustomerMod/BillAddress/Country": 31,
    "CustomerMod/BillAddress/PostalCode": 13,
    "CustomerMod/BillAddress/State": 21,
    "CustomerMod/ClassRef/FullName": 159,
    "CustomerMod/ClassRef/ListID": 36,
    "CustomerMod/CompanyName": 41,
    "CustomerMod/EditSequence": 16,
    "CustomerMod/Email": 1023,
    "CustomerMod/Fax": 21,
    "CustomerMod/JobDesc": 99,
    "CustomerMod/ListID": 36,
    "CustomerMod/Name": 41,
    "CustomerMod/Notes": 4095,
    "CustomerMod/ParentRef/ListID": 36,
    "CustomerMod/Phone": 21,
    "CustomerQueryRq/IncludeRetElement": 50,
    "CustomerQueryRq/ListID": 36,
    "EstimateAdd/BillAddress/Addr1": 41,
    "EstimateAdd/BillAddress/Addr2": 41,
    "EstimateAdd/BillAddress/City": 31,
    "EstimateAdd/BillAddress/Country": 31,
    "EstimateAdd/BillAddress/PostalCode": 13,
    "EstimateAdd/BillAddress/State": 21,
    "EstimateAdd/ClassRef/FullName": 159,
    "EstimateAdd/ClassRef/ListID": 36,
    "EstimateAdd/CustomerRef/FullName": 209,
    "EstimateAdd/CustomerRef/ListID": 36,
    "EstimateAdd/EstimateLineAdd/ClassRef/FullName": 159,
    "EstimateAdd/EstimateLineAdd/ClassRef/ListID": 36,
    "EstimateAdd/EstimateLineAdd/Desc": 4095,
    "EstimateAdd/EstimateLineAdd/ItemRef/ListID": 36,
    "EstimateAdd/EstimateLineAdd/Other1": 29,
    "EstimateAdd/EstimateLineAdd/Other2": 29,
    "EstimateAdd/Memo": 4095,
    "EstimateAdd/RefNumber": 11,
    "EstimateMod/BillAddress/Addr1": 41,
    "EstimateMod/BillAddress/Addr2": 41,
    "EstimateMod/BillAddress/City": 31,
    "EstimateMod/BillAddress/Country": 31,
    "EstimateMod/BillAddress/PostalCode": 13,
    "EstimateMod/BillAddress/State": 21,
    "EstimateMod/ClassRef/FullName": 159,
    "EstimateMod/ClassRef/ListID": 36,
    "EstimateMod/CustomerRef/FullName": 209,
    "EstimateMod/CustomerRef/ListID": 36,
    "EstimateMod/EditSequence": 16,
    "EstimateMod/EstimateLineMod/ClassRef/FullName": 159,
    "EstimateMod/EstimateLineMod/ClassRef/ListID": 36,
    "EstimateMod/EstimateLineMod/Desc": 4095,
    "EstimateMod/EstimateLineMod/ItemRef/ListID": 36,
    "EstimateMod/EstimateLineMod/Other1": 29,
    "EstimateMod/EstimateLineMod/Other2": 29,
    "EstimateMod/EstimateLineMod/TxnLineID": 36,
    "EstimateMod/Memo": 4095,
    "EstimateMod/RefNumber": 11,
    "EstimateMod/TxnID": 36,
    "EstimateQueryRq/IncludeRetElement": 50,
    "EstimateQueryRq/TxnID": 36,
    "InvoiceAdd/ARAccountRef/FullName": 159,
    "InvoiceAdd/ARAccountRef/ListID": 36,
    "InvoiceAdd/BillAddress/Addr1": 41,
    "InvoiceAdd/BillAddress/Addr2": 41,
    "InvoiceAdd/BillAddress/City": 31,
    "InvoiceAdd/BillAddress/Country": 31,
    "InvoiceAdd/BillAddress/PostalCode": 13,
    "InvoiceAdd/BillAddress/State": 21,
    "InvoiceAdd/ClassRef/FullName": 159,
    "InvoiceAdd/ClassRef/ListID": 36,
    "InvoiceAdd/CustomerRef/FullName": 209,
    "InvoiceAdd/CustomerRef/ListID": 36,
    "InvoiceAdd/InvoiceLineAdd/ClassRef/FullName": 159,
    "InvoiceAdd/InvoiceLineAdd/ClassRef/ListID": 36,
    "InvoiceAdd/InvoiceLineAdd/Desc": 4095,
    "InvoiceAdd/InvoiceLineAdd/ItemRef/ListID": 36,
    "InvoiceAdd/InvoiceLineAdd/LinkToTxn/TxnID": 36,
    "InvoiceAdd/InvoiceLineAdd/LinkToTxn/TxnLineID": 36,
    "InvoiceAdd/InvoiceLineAdd/Other1": 29,
    "InvoiceAdd/InvoiceLineAdd/Other2": 29,
    "InvoiceAdd/InvoiceLineAdd/OverrideItemAccountRef/FullName": 159,
    "InvoiceAdd/InvoiceLineAdd/OverrideItemAccountRef/ListID": 36,
    "InvoiceAdd/Memo": 4095,
    "InvoiceAdd/Other": 29,
    "InvoiceAdd/PONumber": 25,
    "InvoiceAdd/RefNumber": 11,
    "InvoiceAdd/TemplateRef/FullName": 31,
    "InvoiceAdd/TemplateRef/ListID": 36,
    "InvoiceAdd/TermsRef/FullName": 31,
    "InvoiceAdd/TermsRef/ListID": 36,
    "InvoiceMod/ARAccountRef/FullName": 159,
    "InvoiceMod/ARAccountRef/ListID": 36,
    "InvoiceMod/BillAddress/Addr1": 41,
    "InvoiceMod/BillAddress/Addr2": 41,
    "InvoiceMod/BillAddress/City": 31,
    "InvoiceMod/BillAddress/Country": 31,
    "InvoiceMod/BillAddress/PostalCode": 13,
    "InvoiceMod/BillAddress/State": 21,
    "InvoiceMod/ClassRef/FullName": 159,
    "InvoiceMod/ClassRef/ListID": 36,
    "InvoiceMod/CustomerRef/FullName": 209,
    "InvoiceMod/CustomerRef/ListID": 36,
    "InvoiceMod/EditSequence": 16,
    "InvoiceMod/InvoiceLineMod/ClassRef/FullName": 159,
    "InvoiceMod/InvoiceLineMod/ClassRef/ListID": 36,
    "InvoiceMod/InvoiceLineMod/Desc": 4095,
    "InvoiceMod/InvoiceLineMod/ItemRef/ListID": 36,
    "InvoiceMod/InvoiceLineMod/Other1": 29,
    "InvoiceMod/InvoiceLineMod/Other2": 29,
    "InvoiceMod/InvoiceLineMod/OverrideItemAccountRef/FullName": 159,
    "InvoiceMod/InvoiceLineMod/OverrideItemAccountRef/ListID": 36,
    "InvoiceMod/InvoiceLineMod/TxnLineID": 36,
    "InvoiceMod/Memo": 4095,
    "InvoiceMod/Other": 29,
    "InvoiceMod/PONumber": 25,
    "InvoiceMod/RefNumber": 11,
    "InvoiceMod/TemplateRef/FullName": 31,
    "InvoiceMod/TemplateRef/ListID": 36,
    "InvoiceMod/TermsRef/FullName": 31,
    "InvoiceMod/TermsRef/ListID": 36,
    "InvoiceMod/TxnID": 36,
    "InvoiceQueryRq/IncludeRetElement": 50,
    "InvoiceQueryRq/TxnID": 36,
    "ItemQueryRq/IncludeRetElement": 50,
    "ItemQueryRq/ListID": 36,
    "JournalEntryQueryRq/IncludeRetElement": 50,
    "JournalEntryQueryRq/TxnID": 36,
    "ItemServiceAdd/ClassRef/FullName": 159,
    "ItemServiceAdd/ClassRef/ListID": 36,
    "ItemServiceAdd/Name": 31,
    "ItemServiceAdd/ParentRef/ListID": 36,
    "ItemServiceAdd/SalesOrPurchase/AccountRef/FullName": 159,
    "ItemServiceAdd/SalesOrPurchase/AccountRef/ListID": 36,
    "ItemServiceAdd/SalesOrPurchase/Desc": 4095,
    "ItemServiceMod/ClassRef/FullName": 159,
    "ItemServiceMod/ClassRef/ListID": 36,
    "ItemServiceMod/EditSequence": 16,
    "ItemServiceMod/ListID": 36,
    "ItemServiceMod/Name": 31,
    "ItemServiceMod/ParentRef/ListID": 36,
    "ItemServiceMod/SalesOrPurchaseMod/AccountRef/FullName": 159,
    "ItemServiceMod/SalesOrPurchaseMod/AccountRef/ListID": 36,
    "ItemServiceMod/SalesOrPurchaseMod/Desc": 4095,
    "PurchaseOrderAdd/ClassRef/FullName": 159,
    "PurchaseOrderAdd/ClassRef/ListID": 36,
    "PurchaseOrderAdd/Memo": 4095,
    "PurchaseOrderAdd/Other1": 25,
    "PurchaseOrderAdd/Other2": 29,
    "PurchaseOrderAdd/PurchaseOrderLineAdd/ClassRef/FullName": 159,
    "PurchaseOrderAdd/PurchaseOrderLineAdd/ClassRef/ListID": 36,
    "PurchaseOrderAdd/PurchaseOrderLineAdd/CustomerRef/FullName": 209,
    "PurchaseOrderAdd/PurchaseOrderLineAdd/CustomerRef/ListID": 36,
    "PurchaseOrderAdd/PurchaseOrderLineAdd/Desc": 4095,
    "PurchaseOrderAdd/PurchaseOrderLineAdd/ItemRef/ListID": 36,
    "PurchaseOrderAdd/PurchaseOrderLineAdd/Other1": 29,
    "PurchaseOrderAdd/PurchaseOrderLineAdd/Other2": 29,
    "PurchaseOrderAdd/RefNumber": 11,
    "PurchaseOrderAdd/VendorAddress/Addr1": 41,
    "PurchaseOrderAdd/VendorAddress/Addr2": 41,
    "PurchaseOrderAdd/VendorAddress/City": 31,
    "PurchaseOrderAdd/VendorAddress/Country": 31,
    "PurchaseOrderAdd/VendorAddress/PostalCode": 13,
    "PurchaseOrderAdd/VendorAddress/State": 21,
    "PurchaseOrderAdd/VendorMsg": 99,
    "PurchaseOrderAdd/VendorRef/FullName": 41,
    "PurchaseOrderAdd/VendorRef/ListID": 36,
    "PurchaseOrderMod/ClassRef/FullName": 159,
    "PurchaseOrderMod/ClassRef/ListID": 36,
    "PurchaseOrderMod/EditSequence": 16,
    "PurchaseOrderMod/Memo": 4095,
    "PurchaseOrderMod/Other1": 25,
    "PurchaseOrderMod/Other2": 29,
    "PurchaseOrderMod/PurchaseOrderLineMod/ClassRef/FullName": 159,
    "PurchaseOrderMod/PurchaseOrderLineMod/ClassRef/ListID": 36,
    "PurchaseOrderMod/PurchaseOrderLineMod/CustomerRef/FullName": 209,
    "PurchaseOrderMod/PurchaseOrderLineMod/CustomerRef/ListID": 36,
    "PurchaseOrderMod/PurchaseOrderLineMod/Desc": 4095,
    "PurchaseOrderMod/PurchaseOrderLineMod/ItemRef/ListID": 36,
    "PurchaseOrderMod/PurchaseOrderLineMod/Other1": 29,
    "PurchaseOrderMod/PurchaseOrderLineMod/Other2": 29,
    "PurchaseOrderMod/RefNumber": 11,
    "PurchaseOrderMod/VendorAddress/Addr1": 41,
    "PurchaseOrderMod/VendorAddress/Addr2": 41,
    "PurchaseOrderMod/VendorAddress/City": 31,
    "PurchaseOrderMod/VendorAddress/Country": 31,
    "PurchaseOrderMod/VendorAddress/PostalCode": 13,
    "PurchaseOrderMod/VendorAddress/State": 21,
    "PurchaseOrderMod/VendorMsg": 99,
    "PurchaseOrderMod/VendorRef/FullName": 41,
    "PurchaseOrderMod/VendorRef/ListID": 36,
    "PurchaseOrderQueryRq/IncludeRetElement": 50,
    "PurchaseOrderQueryRq/TxnID": 36,
    "TimeTrackingAdd/ClassRef/FullName": 159,
    "TimeTrackingAdd/ClassRef/ListID": 36,
    "TimeTrackingAdd/CustomerRef/FullName": 209,
    "TimeTrackingAdd/CustomerRef/ListID": 36,
    "TimeTrackingAdd/EntityRef/FullName": 209,
    "TimeTrackingAdd/EntityRef/ListID": 36,
    "TimeTrackingAdd/ItemServiceRef/FullName": 159,
    "TimeTrackingAdd/ItemServiceRef/ListID": 36,
    "TimeTrackingAdd/Notes": 4095,
    "TimeTrackingAdd/PayrollItemWageRef/FullName": 31,
    "TimeTrackingAdd/PayrollItemWageRef/ListID": 36,
    "TimeTrackingQueryRq/IncludeRetElement": 50,
    "TimeTrackingQueryRq/TxnID": 36,
    "VendorAdd/AccountNumber": 99,
    "VendorAdd/ClassRef/FullName": 159,
    "VendorAdd/ClassRef/ListID": 36,
    "VendorAdd/CompanyName": 41,
    "VendorAdd/Email": 1023,
    "VendorAdd/Fax": 21,
    "VendorAdd/Name": 41,
    "VendorAdd/NameOnCheck": 41,
    "VendorAdd/Notes": 4095,
    "VendorAdd/Phone": 21,
    "VendorAdd/VendorAddress/Addr1": 41,
    "VendorAdd/VendorAddress/Addr2": 41,
    "VendorAdd/VendorAddress/City": 31,
    "VendorAdd/VendorAddress/Country": 31,
    "VendorAdd/VendorAddress/PostalCode": 13,
    "VendorAdd/VendorAddress/State": 21,
    "VendorAdd/VendorTypeRef/FullName": 159,
    "VendorAdd/VendorTypeRef/ListID": 36,
    "VendorMod/AccountNumber": 99,
    "VendorMod/ClassRef/FullName": 159,
    "VendorMod/ClassRef/ListID": 36,
    "VendorMod/CompanyName": 41,
    "VendorMod/EditSequence": 16,
    "VendorMod/Email": 1023,
    "VendorMod/Fax": 21,
    "VendorMod/ListID": 36,
    "VendorMod/Name": 41,
    "VendorMod/NameOnCheck": 41,
    "VendorMod/Notes": 4095,
    "VendorMod/Phone": 21,
    "VendorMod/VendorAddress/Addr1": 41,
    "VendorMod/VendorAddress/Addr2": 41,
    "VendorMod/VendorAddress/City": 31,
    "VendorMod/VendorAddress/Country": 31,
    "VendorMod/VendorAddress/PostalCode": 13,
    "VendorMod/VendorAddress/State": 21,
    "VendorMod/VendorTypeRef/FullName": 159,
    "VendorMod/VendorTypeRef/ListID": 36,
    "VendorQueryRq/IncludeRetElement": 50,
    "VendorQueryRq/ListID": 36,
}
# fmt: on

# Limits QuickBooks enforces where the XSD has no maxLength facet (reference notes: 5 levels x 31 for item and
# account paths, 5 levels x 41 for customer:job paths).
EXTRA_MAXLEN: dict[str, int] = {
    "ItemRef/FullName": 159,
    "ItemServiceRef/FullName": 159,
    "CustomerAdd/ParentRef/FullName": 209,
    "CustomerMod/ParentRef/FullName": 209,
    "ItemServiceAdd/ParentRef/FullName": 159,
    "ItemServiceMod/ParentRef/FullName": 159,
}


# Children that must be present (``minOccurs`` 1 in the schema): each entry is a group of alternatives, one of
# which must appear (a lone required element is a group of one; an ``xsd:choice`` lists its branches' heads).
REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "CustomerAdd": (("Name",),),
    "CustomerMod": (("ListID",), ("EditSequence",)),
    "VendorAdd": (("Name",),),
    "VendorMod": (("ListID",), ("EditSequence",)),
    "ItemServiceAdd": (("Name",), ("SalesOrPurchase", "SalesAndPurchase")),
    "ItemServiceMod": (("ListID",), ("EditSequence",)),
    "EstimateAdd": (("CustomerRef",), ("EstimateLineAdd", "EstimateLineGroupAdd")),
    "EstimateMod": (("TxnID",), ("EditSequence",)),
    "PurchaseOrderAdd": (("PurchaseOrderLineAdd", "PurchaseOrderLineGroupAdd"),),
    "PurchaseOrderMod": (("TxnID",), ("EditSequence",)),
    "BillAdd": (("VendorRef",),),
    "TimeTrackingAdd": (("EntityRef",), ("Duration",)),
    "EstimateLineMod": (("TxnLineID",),),
    "PurchaseOrderLineMod": (("TxnLineID",),),
    "LinkToTxn": (("TxnID",), ("TxnLineID",)),
    "BillMod": (("TxnID",), ("EditSequence",)),
    "ItemLineMod": (("TxnLineID",),),
    "InvoiceAdd": (("CustomerRef",),),
    "InvoiceMod": (("TxnID",), ("EditSequence",)),
    "InvoiceLineMod": (("TxnLineID",),),
}


def max_length(path: str) -> int | None:
    """The maximum length of the text at ``path`` (``BillAdd/ItemLineAdd/ItemRef/FullName``), if limited."""
    found = MAXLEN.get(path)
    if found is not None:
        return found
    found = EXTRA_MAXLEN.get(path)
    if found is not None:
        return found
    parts = path.split("/")
    return EXTRA_MAXLEN.get("/".join(parts[-2:])) if len(parts) >= 2 else None


def position(parent: str, child: str) -> int:
    """Where ``child`` goes among ``parent``'s children; unknown names are a programming error."""
    try:
        return ORDER[parent].index(child)
    except (KeyError, ValueError):
        raise KeyError(f"qbXML element {child!r} is not a child of {parent!r} in the 13.0 schema") from None


# -- checking a request message set against these tables, as QuickBooks' request processor does ---------------


@dataclass
class RequestCheck:
    """What the tables find wrong in one request message set.

    ``fatal`` (element order, unknown or missing elements) makes QuickBooks refuse the whole message set (HRESULT
    0x80040400); ``too_long`` is per request, keyed by (request tag, 1-based position among same-named siblings):
    QuickBooks answers that request alone with status 3070 and goes on.
    """

    fatal: list[str] = field(default_factory=list)
    too_long: dict[tuple[str, int], str] = field(default_factory=dict)


def _elements(el: etree._Element) -> Iterator[etree._Element]:
    return (child for child in el if isinstance(child.tag, str))


def _check_element(el: etree._Element, path: str, key: tuple[str, int], found: RequestCheck) -> None:
    order = ORDER.get(el.tag)
    children = list(_elements(el))
    if order is not None:
        last = -1
        for child in children:
            try:
                at = order.index(child.tag)
            except ValueError:
                found.fatal.append(
                    f"{path}: Element '{child.tag}': This element is not expected in <{el.tag}>."
                )
                continue
            if at < last:
                found.fatal.append(
                    f"{path}: Element '{child.tag}': This element is not expected here "
                    f"(it comes before <{order[last]}> in <{el.tag}>)."
                )
            last = max(last, at)
    present = {child.tag for child in children}
    for group in REQUIRED.get(el.tag, ()):
        if not present.intersection(group):
            found.fatal.append(
                f"{path}: Element '{el.tag}': Missing child element(s). Expected is ( {' | '.join(group)} )."
            )
    for child in children:
        child_path = f"{path}/{child.tag}"
        if len(child):
            _check_element(child, child_path, key, found)
            continue
        limit = max_length(child_path)
        text = child.text or ""
        if limit is not None and len(text) > limit:
            found.too_long.setdefault(key, f'The string "{text}" in the field "{child.tag}" is too long.')


def check_request(root: etree._Element) -> RequestCheck:
    """Check every request under ``QBXML/QBXMLMsgsRq`` for element order, required elements and maximum
    lengths, from ``ORDER``, ``REQUIRED`` and ``MAXLEN`` (messages the tables do not know are not checked)."""
    found = RequestCheck()
    msgs = root.find("QBXMLMsgsRq")
    if msgs is None:
        return found
    seen: dict[str, int] = {}
    for rq in _elements(msgs):
        seen[rq.tag] = seen.get(rq.tag, 0) + 1
        key = (rq.tag, seen[rq.tag])
        if rq.tag in ORDER:  # a query: its children are the message
            _check_element(rq, rq.tag, key, found)
            continue
        for body in _elements(rq):  # an Add/Mod: <CustomerAddRq><CustomerAdd>...
            _check_element(body, body.tag, key, found)
    return found
