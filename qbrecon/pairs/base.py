"""What a pair module declares: the pair itself (``entities.EntityPair``) and what each generic engine reads
from it (ADR 0005). The reconciliation's rule shapes (``Field``, ``Lines``, ``PairRule``) live here so that a
pair module can declare its rule without importing the reconciliation engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..entities import EntityPair

# ERP states that mean "this record is (or should already be) in QuickBooks"; Ready to Export, Rejected,
# Exporting and Not Sent are the normal workflow, counted as pending rather than reported as differences.
EXPECTED = "('synced', 'imported', 'failed_to_export', 'unlinked')"

# erp_status strings Procore puts on requisitions and budget changes -> our status
_ERP_STATUS_MAP = {
    "synced": "synced",
    "ready_to_export": "ready_to_export",
    "exporting": "exporting",
    "exportging": "exporting",
    "failed_to_export": "failed_to_export",
    "rejected": "rejected",
    "retrieved": "retrieved",
}


def case_sql(expr: str, mapping: dict[str, str], default: str = "NULL") -> str:
    """``CASE expr WHEN 'k' THEN 'v' ... ELSE default END``."""
    whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in mapping.items())
    return f"CASE {expr} {whens} ELSE {default} END"


def erp_status_sql(expr: str) -> str:
    """The ERP status Procore shows on a record (``erp_status`` text, any spelling) as one of ours, or NULL."""
    return case_sql(f"regexp_replace(lower(trim({expr})), '[^0-9a-z]+', '_', 'g')", _ERP_STATUS_MAP)


def blockers_sql(*parts: str) -> str:
    """What keeps an item from being sent (the ``blockers`` column of ``erp_item_details``): the non-NULL
    reasons joined with '; ', NULL when there is none."""
    return "NULLIF(concat_ws('; ', {}), '')".format(", ".join(parts))


# Procore address column <- the leaf of a QuickBooks address (BillAddress, VendorAddress)
ADDRESS_FIELDS = {
    "Addr1": "address",
    "City": "city",
    "State": "state_code",
    "PostalCode": "zip",
    "Country": "country_code",
}

# The amount an invoice line (subcontractor or owner) puts on its QuickBooks transaction: work completed this
# period plus materials stored (the period value); the retainage held goes on its own negative line.
INVOICE_LINE_AMOUNT = (
    "(coalesce(l.work_completed_this_period, 0) + coalesce(l.materials_presently_stored, 0))"
)


@dataclass(frozen=True)
class Field:
    """One compared field: ``kind`` is money (tolerance applies), text, date or id (exact)."""

    name: str
    kind: str
    reason: str
    # optional SQL CASE branches (``WHEN ... THEN 'code'``) tried before the generic explanation; may use
    # p.*, q.* and the pair's extra columns
    explain: str = ""


@dataclass(frozen=True)
class Lines:
    procore_sql: str  # raw lines: procore_num (the header's Procore id, BIGINT), item_key, amount
    quickbooks_sql: str  # raw lines: quickbooks_id, item_key, amount


@dataclass(frozen=True)
class PairRule:
    pair: str
    label: str
    procore_sql: str
    quickbooks_sql: str
    fields: tuple[Field, ...]
    lines: Lines | None = None
    amount_label: str = ""  # what the summary's money totals add up (empty for lists)
    extra: dict = field(default_factory=dict)
    # (temp table, SELECT) built before the sides: line aggregates read once, used by headers and lines
    prepare: tuple[tuple[str, str], ...] = ()
    # (temp table, SELECT) built from a list pair's matches (``_qbr_<pair>_m``) once every list pair has run:
    # the vendor / job / item maps transaction pairs are matched and compared with
    maps: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ImportedPair:
    """A pair QuickBooks feeds into Procore and qbrecon never exports (bill payments -> payments issued): the
    pair, its reconciliation rule and titles, and its words for the dashboard. Its import is its module's code."""

    pair: EntityPair
    reconcile: PairRule
    reconcile_title: str
    sheet_name: str
    singular: str
    plural: str

    @property
    def item_type(self) -> str:
        return self.pair.item_type


@dataclass(frozen=True)
class OwnReport:
    """A pair the reconciliation reports by its own SQL rather than by matching two sides (a CCO: new lines on
    its commitment's purchase order). ``prepare``: (temp table, SELECT) built in order, the first being the
    pair's Procore side (``procore_id``, ``project``, ``vendor``, ``number``: link conflicts are reported
    against it); ``findings_sql``: a SELECT of the ``_qbr_diff`` columns; ``summary_sql``: the
    ``(column list) SELECT`` of its ``_qbr_summary`` row, ``$1`` being ``label``."""

    pair: str
    label: str
    prepare: tuple[tuple[str, str], ...]
    findings_sql: str
    summary_sql: str


@dataclass(frozen=True)
class Rollup:
    """A reconciliation report built on a pair's findings (job-to-date costs on the invoice/bill findings): its
    rule (``extra["after"]`` names the pair that runs first), its report title and Excel sheet name."""

    rule: PairRule
    title: str
    sheet_name: str


@dataclass(frozen=True)
class Column:
    """A dashboard queue column: the ``erp_queue`` column, its title, how its cells read, its width."""

    key: str
    title: str
    kind: str = "text"
    width: int = 140


# every queue tab starts with the item's Procore id
PROCORE_ID = Column("procore_id", "Procore ID", "id", 115)

# (Procore rows, their lines, BuildContext) -> (prepared message kinds, per-row errors); see ``qbxml.build``
Prepare = Callable[[Any, Any, Any], tuple[list, list[dict]]]


@dataclass(frozen=True)
class PairModule:
    """One pair's whole story; the engines iterate ``qbrecon.pairs.registered()``.

    - ``pair``: tables, keys, parents (dependencies), line relations, qbXML requests, business key.
    - ``details_sql``: one SELECT with the columns of the ``erp_item_details`` view (what users see in the ERP
      queue and, in ``blockers``, what keeps an item from being sent).
    - ``prepare``: the qbXML build (frames of qbXML paths; the build engine checks lengths from the spec tables
      and writes the elements in schema order).
    - ``required_settings``: (setting, why[, SQL counting the items that need it; default: the pair's Exporting
      items]) the build cannot do without;
      ``accept_requires``: (setting, what cannot export without it) checked when items are accepted, retried or
      directly exported.
    - ``reconcile``: the reconciliation rule, with its titles (report, Excel sheet).
    - ``rollups``: reconciliation reports built on this pair's findings, run after it.
    - ``singular``, ``columns``, ``tab_order``: the dashboard tab's words, columns and place among the tabs
      (Procore's tab order).
    - ``query_label``: the refresh page's words for the pair's query (``pair.query_request`` into
      ``pair.quickbooks_table``; the QuickBooks model names its Ret).
    """

    pair: EntityPair
    details_sql: str
    prepare: Prepare
    singular: str
    columns: tuple[Column, ...]
    # the reconciliation (None: the pair is not reconciled, e.g. time) and its report title and Excel sheet name
    reconcile: PairRule | OwnReport | None = None
    reconcile_title: str = ""
    sheet_name: str = ""
    procore_tool: str = "projects"  # where the item lives in Procore (whose level "send" needs)
    required_settings: tuple[tuple[str, ...], ...] = ()
    accept_requires: tuple[tuple[str, str], ...] = ()
    query_label: str = ""  # the refresh table's words for what the query reads ("Invoices")
    query_kind: str = "txn"  # the query's shape (``qbxml.build.QUERIES``): list | txn
    query_line_items: bool = True
    rollups: tuple[Rollup, ...] = ()
    tab_order: int = 100

    @property
    def item_type(self) -> str:
        return self.pair.item_type

    @property
    def line_keys(self) -> list[tuple[str, str]]:
        """(line table, the column pointing at the item) for the build and the dashboard's details."""
        return [(rel.table, rel.parent_key) for rel in self.pair.lines]
