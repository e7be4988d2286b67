"""People's words for the reconciliation's codes: one place for the HTML report, the Excel workbook, the CLI
and the dashboard (column headers, pair names, levels, fields), so that no snake_case code reaches a reader.
"""

from __future__ import annotations

from typing import Any

from .. import pairs as _pairs
from ..formats import is_missing as missing

# Pair titles (both systems' terms) and Excel sheet names (at most 31 characters, no / \ ? * [ ] :).
PAIR_TITLES: dict[str, str] = {}
SHEET_NAMES: dict[str, str] = {}
for _m in [*_pairs.registered(), *_pairs.imported()]:  # pair modules name their own pair
    if _m.reconcile:
        PAIR_TITLES[_m.item_type] = _m.reconcile_title
        SHEET_NAMES[_m.item_type] = _m.sheet_name
for _r in (r for m in _pairs.registered() for r in m.rollups):  # reports built on a pair's findings
    PAIR_TITLES[_r.rule.pair] = _r.title
    SHEET_NAMES[_r.rule.pair] = _r.sheet_name

SUMMARY_LABELS = {
    "label": "Pair",
    "amount": "Totals of",
    "procore_records": "Procore records",
    "quickbooks_records": "QuickBooks records",
    "matched_equal": "Equal",
    "matched_with_differences": "With differences",
    "only_in_procore": "Only in Procore",
    "only_in_quickbooks": "Only in QuickBooks",
    "ambiguous": "Ambiguous",
    "not_exported": "In the queue",
    "explained_elsewhere": "Explained by invoice findings",
    "differences": "Findings",
    "procore_total": "Procore total",
    "in_queue_total": "In the queue (amount)",
    "quickbooks_total": "QuickBooks total",
    "explained_elsewhere_total": "Explained by invoice findings (amount)",
    "within_tolerance_total": "Within tolerance",
    "delta": "Delta (Procore - QuickBooks)",
    "abs_delta": "Absolute difference",
}
SUMMARY_MONEY = [
    "procore_total",
    "in_queue_total",
    "quickbooks_total",
    "explained_elsewhere_total",
    "within_tolerance_total",
    "delta",
    "abs_delta",
]
SUMMARY_COUNTS = [
    "procore_records",
    "quickbooks_records",
    "matched_equal",
    "matched_with_differences",
    "only_in_procore",
    "only_in_quickbooks",
    "ambiguous",
    "not_exported",
    "explained_elsewhere",
    "differences",
]

DIFFERENCE_LABELS = {
    "pair": "Pair",
    "level": "Level",
    "project": "Project",
    "vendor": "Vendor",
    "number": "Number",
    "cost_code": "Cost code",
    "field": "Field",
    "procore_value": "Procore",
    "quickbooks_value": "QuickBooks",
    "delta": "Delta (Procore - QuickBooks)",
    "counted_delta": "Difference (in the totals)",
    "detail_delta": "Detail (explains a difference)",
    "reason_text": "Reason",
    "reason": "Reason code",
    "matched_by": "Matched by",
    "procore_id": "Procore id",
    "quickbooks_id": "QuickBooks id (ListID / TxnID)",
    "counted": "In the totals",
}
LEVEL_LABELS = {"record": "Whole record", "header": "Header", "line": "Line"}
FIELD_LABELS = {
    "amount": "Amount",
    "retainage": "Retainage",
    "date": "Date",
    "vendor_id": "Vendor",
    "job_id": "Job",
    "name": "Name",
    "EditSequence": "Edit sequence",
}
MATCHED_BY_LABELS = {
    "link": "Linked (QuickBooks id)",
    "key": "Same number / name",
    "commitment": "Commitment's PO",
}
SUGGESTION_LABELS = {
    "pair": "Pair",
    "procore_id": "Procore id",
    "procore_name": "Procore name",
    "quickbooks_id": "QuickBooks id (ListID)",
    "quickbooks_name": "QuickBooks name",
    "score": "Score (0-100)",
}


def label(mapping: dict[str, str], code: Any) -> str:
    """The label of a code, the code itself when it has none, and "" for a missing value."""
    if missing(code):
        return ""
    return mapping.get(str(code), str(code))


__all__ = [
    "PAIR_TITLES",
    "SHEET_NAMES",
    "SUMMARY_LABELS",
    "SUMMARY_MONEY",
    "SUMMARY_COUNTS",
    "DIFFERENCE_LABELS",
    "LEVEL_LABELS",
    "FIELD_LABELS",
    "MATCHED_BY_LABELS",
    "SUGGESTION_LABELS",
    "missing",
    "label",
]
