"""Why two sides differ: one vocabulary shared by the fixture generator's answer key, reconciliation, the
reports and the dashboard. The code is stable (tests and answer keys compare it); the text is for people.
"""

from __future__ import annotations

REASONS: dict[str, str] = {
    "missing_in_quickbooks": "In Procore (synced or accepted) but not found in QuickBooks",
    "only_in_quickbooks": "In QuickBooks with no matching Procore record",
    "not_exported": "Not yet exported from Procore (not sent, rejected, or still Ready to Export)",
    "failed_to_export": "Export failed: the item carries QuickBooks' error, or says it was marked failed in Procore",
    "amount_changed_in_quickbooks": "Amount changed in QuickBooks after sync",
    "amount_differs": "Amounts differ beyond tolerance",
    "vendor_renamed": "Vendor renamed in QuickBooks after linking",
    "name_differs": "Names differ",
    "stale_edit_sequence": "QuickBooks record was modified after Procore's last sync (stale EditSequence)",
    "name_too_long": "Name longer than QuickBooks allows; it cannot be exported until shortened",
    "cco_not_exported": "Approved CCO not exported: the purchase order lacks its lines",
    "retainage_line_missing": "The QuickBooks bill or invoice has no line on the retainage item",
    "retainage_differs": "Retainage in QuickBooks differs from Procore's",
    "line_missing_in_quickbooks": "A Procore line has no QuickBooks line",
    "line_only_in_quickbooks": "A QuickBooks line has no Procore line",
    "date_differs": "Dates differ",
    "vendor_differs": "Bill or PO is on a different vendor",
    "job_differs": "Line is on a different job",
    "rejected_and_resent": "Rejected, corrected and re-sent; the latest version is what QuickBooks holds",
    "ambiguous_match": "More than one QuickBooks record could match; not linked automatically",
    "payment_differs": "Payment amount differs",
    "job_cost_differs": "Job-to-date cost differs from QuickBooks job cost",
    "link_conflict": "A Procore export names a different QuickBooks record than qbrecon's link; the link was kept: "
    "check both records in QuickBooks, then unlink or correct Procore",
}


def reason_text(code: str) -> str:
    return REASONS.get(code, code.replace("_", " "))
