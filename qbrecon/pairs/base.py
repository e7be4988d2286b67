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


def unsynced_cost_codes_sql(lines: str, coded: str | None = None) -> str:
    """Aggregates over a pair's lines (alias ``lines``, joined to ``erp_cost_code_state s``) for its "cost code(s) not
    synced" blocker: ``unsynced`` (how many lines) and ``unsynced_codes`` (the codes, once each, in code order).
    ``coded``: which lines carry a cost code at all (every line when None)."""
    code = f"coalesce({lines}.cost_code_full_code, s.full_code, {lines}.cost_code_id::VARCHAR)"
    waiting = (
        "NOT coalesce(s.accepted, false)" if coded is None else f"{coded} AND NOT coalesce(s.accepted, false)"
    )
    return (
        f"count(*) FILTER (WHERE {waiting}) AS unsynced, "
        f"string_agg(DISTINCT {code}, ', ' ORDER BY {code}) FILTER (WHERE {waiting}) AS unsynced_codes"
    )


def unsyncable_lines_sql(
    source: str, lines: str, header: str, parent_key: str, amount: str, date: str
) -> str:
    """The unsyncable direct costs report's rows for a pair's lines (``PairModule.unsyncable_sql``): each line
    with no cost code, or whose cost code is not synced to a QuickBooks item. ``source`` names the row kind
    (``invoice_line``); the lines ``l`` join their header ``h`` on ``l.<parent_key>``."""
    noun = source.replace("_", " ")
    return f"""SELECT '{source}', l.id, h.project_id, p.name, coalesce(l.cost_code_full_code, s.full_code),
           l.{amount}, NULL, h.{date},
           CASE WHEN l.cost_code_id IS NULL THEN '{noun} has no cost code'
                ELSE 'cost code ' || coalesce(l.cost_code_full_code, s.full_code, l.cost_code_id::VARCHAR)
                     || ' is not synced to a QuickBooks item' END
    FROM {lines} l JOIN {header} h ON h.id = l.{parent_key} LEFT JOIN projects p ON p.id = h.project_id
    LEFT JOIN erp_cost_code_state s ON s.cost_code_id = l.cost_code_id
    WHERE NOT coalesce(s.synced, false)"""


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
    procore_endpoints: tuple[Endpoint, ...] = ()  # the Procore endpoints its records are read from

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


@dataclass(frozen=True)
class AcceptOption:
    """An option the accounting approver gives when accepting an item (Procore's accept dialog: the job's parent
    customer, the vendor type, the QuickBooks PO number). The ERP queue checks it and stores it in
    ``erp_items.export_options`` for the build; the CLI offers it as ``--<name>`` (dashes for underscores), the
    dashboard as a field of the accept controls, ``ws.accept`` as a keyword and a selection frame as a column.

    SQL is read over the selection row ``s`` (the given value is ``s.<name>``), the item's ``erp_items`` row ``e``
    and its queue row ``q``, with ``{value}`` (the value, ``fallback`` applied), ``{o}`` (the alias of ``join``),
    ``{fallback_on}`` (``true`` when the fallback's setting is on), ``{sel}`` and ``{item_type}`` filled in.
    """

    name: str
    label: str  # the dashboard field's words
    help: str  # the CLI's help
    # (key, SQL) members of the JSON stored for the build; default: the value under the option's name
    stored: tuple[tuple[str, str], ...] = ()
    # SQL giving the problem (or NULL) for an item about to be exported (accepted, or directly exported on send)
    check: str = ""
    # a SELECT over the selection ``{sel}`` keyed by (item_type, procore_id), LEFT JOINed as ``{o}``
    join: str = ""
    # (setting, SQL): the value when the approver gives none and the setting is on
    fallback: tuple[str, str] | None = None
    # the dashboard: a SELECT of the values to choose from (empty: a text field), of examples shown in the empty
    # text field, its placeholder, what to say when a required field is empty, and when the value is for one item
    # only (then the field is emptied once the item is accepted)
    choices_sql: str = ""
    examples_sql: str = ""
    placeholder: str = ""
    required: str = ""
    one_item: str = ""

    @property
    def flag(self) -> str:
        """The CLI flag: ``--vendor-type``."""
        return "--" + self.name.replace("_", "-")

    def sql(self, template: str, *, sel: str, item_type: str, fallback_on: bool) -> str:
        """One of this option's SQL fragments with its placeholders filled in."""
        value = f"s.{self.name}"
        if self.fallback is not None:
            value = (
                f"coalesce(s.{self.name}, CASE WHEN {str(fallback_on).lower()} THEN {self.fallback[1]} END)"
            )
        return template.format(
            value=value,
            o=f"_opt_{item_type}_{self.name}",
            fallback_on=str(fallback_on).lower(),
            sel=sel,
            item_type=item_type,
        )

    @property
    def stored_members(self) -> tuple[tuple[str, str], ...]:
        return self.stored or ((self.name, "{value}"),)


# Procore's REST API v1.0, where every endpoint qbrecon reads lives
PROCORE_V1 = "/rest/v1.0"


@dataclass(frozen=True)
class Endpoint:
    """A Procore REST endpoint qbrecon reads and writes links to (``procore.resources``: the pull, the push, the
    local fake server). A pair module declares its own (``PairModule.procore_endpoints``); a line endpoint
    (``parent`` set) is also a line resource of the loader (``loaders.procore_shapes.LINE_RESOURCES``)."""

    name: str  # short name, also the page folder under ``folder``
    folder: str
    path: str  # may hold {project_id} and {id} (the parent record of a line endpoint)
    scope: str  # "company" (once), "project" (per project) or "lines" (per record of ``parent``)
    params: tuple[str, ...] = ()  # query parameters filled from the scope: company_id / project_id
    parent: str | None = None  # the endpoint whose records own these lines
    table: str | None = None  # the workspace table whose links these records carry
    sync: str | None = None  # the resource's own sync action (Procore lists which resources have one)
    item_type: str | None = None  # else: the ERP External Data item_type its link is written with
    incremental: bool = True  # accepts filters[updated_at]
    query: tuple[tuple[str, str], ...] = ()  # fixed query parameters
    optional: bool = False  # a 403 / 404 means the company does not use this tool: skipped, not an error
    # a line endpoint: the key naming its parent record in a line page's context (and in the lines themselves)
    parent_key: str = ""

    @property
    def lines_key(self) -> str:
        """A line endpoint's array in its parent record, as the show endpoint returns it: the path's last part."""
        return self.path.rsplit("/", 1)[-1]


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
    landing_tab: bool = False  # the queue tab the dashboard opens on (one pair: the approver's daily work)
    plural: str = ""  # the dashboard's words for several items, when not the tab's label in lower case
    mail_noun: str = ""  # the item in Procore's rejection mails, when not ``singular`` ("project", not "job")
    accept_options: tuple[AcceptOption, ...] = ()
    # SELECT (procore_id, quickbooks_id, edit_sequence): where a loaded item's QuickBooks id and EditSequence are
    # read when its Procore row holds none (``pair.link_column`` is None: a budget's estimate, in its lines)
    loaded_link_sql: str = ""
    # the parent item type whose QuickBooks record this pair's items modify (a CCO adds lines to its commitment's
    # PO): a synced item takes the record's id, the record's new EditSequence goes to the parent and its other
    # children, a check query never looks the record up by that id, and the id may be linked to several items
    shares_parent_record: str = ""
    # a parent item type: its children go out one at a time per parent (each Mod needs the EditSequence the
    # previous one returns); the parent is read from the pair's declared ``parents``
    serial_per_parent: str = ""
    # (store, the rows about to be built) -> the rows with what the build needs from the workspace's own tables
    # (time: each entry's payroll item, "Set Up Your Payroll Export")
    before_build: Callable[[Any, Any], Any] | None = None
    # (store, the rows built, their requests) -> (the requests to send, refusals: item_type, procore_id, field,
    # message): what the QuickBooks company's own setup cannot take (purchase orders while inventory is off)
    after_build: Callable[[Any, Any, list], tuple[list, Any]] | None = None
    # SELECTs of (source, procore_id, project_id, project, cost_code, amount, hours, date, reason): the pair's
    # Procore costs that cannot sync to QuickBooks Desktop (the unsyncable direct costs report)
    unsyncable_sql: tuple[str, ...] = ()
    # the QuickBooks list names (lower case) a 3140 "reference not found" uses for this pair's records
    referenced_as: tuple[str, ...] = ()
    # queue columns only this pair fills (the dashboard's queue page; the others show NULL there): (column, SQL
    # expression over ``queue_join``'s tables), and the join from the queue row ``e`` (time: the entry's hours)
    queue_columns: tuple[tuple[str, str], ...] = ()
    queue_join: str = ""
    # the Procore endpoints the pair's records (and their lines) are read from, in the order they are pulled
    # (a line endpoint after its parent); ``procore.resources.ENDPOINTS`` holds them
    procore_endpoints: tuple[Endpoint, ...] = ()
    # the pair's rows of Procore's ERP permissions matrix, approver actions on its items: (matrix key, Procore's
    # label), e.g. ("accept_invoice", "Accept or Reject Subcontractor Invoices for Export to ERP"); read by
    # ``erp.permissions.MATRIX``
    approver_rows: tuple[tuple[str, str], ...] = ()
    # ERP request payloads (Procore's ERP events) about this pair's object that QuickBooks Desktop does not take:
    # (marker in the request name, why), kept out of the load with the reason (``loaders.procore_shapes``)
    erp_payload_notes: tuple[tuple[str, str], ...] = ()

    @property
    def item_type(self) -> str:
        return self.pair.item_type

    @property
    def shows_total(self) -> bool:
        """The dashboard tab shows the money total of its view: the tab has an amount in money."""
        return any(c.key == "amount" and c.kind == "money" for c in self.columns)

    def serial_parent_sql(self) -> str:
        """(procore_id, parent_id) of ``serial_per_parent``, from the declared parents."""
        return next(sql for parent, sql in self.pair.parents if parent == self.serial_per_parent)

    @property
    def line_keys(self) -> list[tuple[str, str]]:
        """(line table, the column pointing at the item) for the build and the dashboard's details."""
        return [(rel.table, rel.parent_key) for rel in self.pair.lines]
