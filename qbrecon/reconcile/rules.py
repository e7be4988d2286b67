"""What each Procore <-> QuickBooks pair compares, written as DuckDB SQL over the stored tables.

Every pair is two SELECTs with the same shape, one per side, plus the fields to compare:

Procore side: ``procore_id, link_id, bkey, label, project, vendor, number, expected, erp_status, name_limit,
limit_value, edit_seq, amount`` and one column per field. ``link_id`` is the QuickBooks id Procore recorded
(``origin_id``); ``bkey`` the business key matched when there is no link; ``expected`` says whether the record
should be in QuickBooks at all (approved, ERP-integrated, or already linked/sent); ``name_limit`` the QBD
length limit that ``limit_value`` must respect.

QuickBooks side: ``quickbooks_id, bkey, label, project, vendor, number, edit_seq, amount`` and the fields.

Line comparisons (budget, commitment, invoice) aggregate both sides per QuickBooks item (cost code) under a
matched header: ``procore_id|quickbooks_id, item_key, code, amount``.

The SQL reads helper tables the engine builds first (``_qbr_erp``, ``_qbr_params``), the maps the list pairs
declare (``PairRule.maps``: ``_qbr_vendor_map``, ``_qbr_job_map``, ``_qbr_cc_item``, ``_qbr_item_label``), built
after every list pair has run, and the macros in ``MACROS``.
"""

from __future__ import annotations

from .. import pairs as _pairs
from ..entities import PAIRS
from ..pairs.base import OwnReport, PairRule
from ..schemas.types import NORMALISE_NAME_MACRO

MACROS = [
    NORMALISE_NAME_MACRO,  # the one name rule (schemas.types.normalise_name), as a DuckDB macro
    # identifiers are compared as text, exactly (never as numbers: "00123" is not "123")
    r"""CREATE OR REPLACE TEMP MACRO qbr_norm_ref(s) AS nullif(upper(trim(s)), '')""",
    # a project cost code's origin_id is "job ListID|item ListID"; a standard cost code's is the item ListID
    r"""CREATE OR REPLACE TEMP MACRO qbr_item_part(o) AS
        CASE WHEN o IS NULL OR trim(o) = '' THEN NULL WHEN contains(o, '|') THEN split_part(o, '|', 2) ELSE o END""",
    r"""CREATE OR REPLACE TEMP MACRO qbr_edit_seq(d) AS
        CASE WHEN d IS NOT NULL AND json_valid(d) THEN json_extract_string(d, '$.edit_sequence') END""",
    # QBD EditSequence values grow with every modification (they are Unix-time based)
    r"""CREATE OR REPLACE TEMP MACRO qbr_newer(q, p) AS
        coalesce(TRY_CAST(q AS HUGEINT) > TRY_CAST(p AS HUGEINT), false)""",
]

SYNCED = "('synced', 'imported')"


# Lists first: their matches become the vendor/job/item maps the transactions use. Then the transactions in
# export order (a change order's report reads its commitment's tables), the payments, and the roll-ups of a pair's
# findings last. Pair modules declare their rule.
_RECONCILED = [m for m in _pairs.registered() if m.reconcile]
LIST_PAIRS = tuple(m.item_type for m in _RECONCILED if m.pair.quickbooks_id == "ListID")
RULES: dict[str, PairRule | OwnReport] = {m.item_type: m.reconcile for m in _RECONCILED}
RULES.update({m.item_type: m.reconcile for m in _pairs.imported()})
RULES.update({r.rule.pair: r.rule for m in _pairs.registered() for r in m.rollups})
ALL_PAIRS = (
    *LIST_PAIRS,
    *sorted(
        (m.item_type for m in _RECONCILED if m.item_type not in LIST_PAIRS),
        key=lambda t: PAIRS[t].export_order,
    ),
    *(m.item_type for m in _pairs.imported()),
    *(r.rule.pair for m in _pairs.registered() for r in m.rollups),
)
