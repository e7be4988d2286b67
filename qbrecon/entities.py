"""What a Procore <-> QuickBooks Desktop pair is (``EntityPair``), and the pairs known (``PAIRS``).

Everything that needs to know "a commitment becomes a purchase order" reads it from ``PAIRS``: the ERP queue
(item types, prerequisites, dependency order), the qbXML builders and parsers (request names), the Web
Connector service (what to send first) and reconciliation (which tables and keys to compare). Each exported pair
is declared in its pair module (``qbrecon/pairs/<pair>.py``), which registers it here; only the import-only
payments pair is declared below.
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


# Filled by the pair modules (``qbrecon.pairs``) as they are imported, in export order.
PAIRS: dict[str, EntityPair] = {}


def _parents(types: Iterable[str] | None) -> list[tuple[str, str, str]]:
    """``(item type, parent type, SQL of its (procore_id, parent_id))`` for each declared parent (``types``: both
    of these types)."""
    only = set(types) if types is not None else None
    return [
        (p.item_type, parent, sql)
        for p in PAIRS.values()
        for parent, sql in p.parents
        if only is None or (p.item_type in only and parent in only)
    ]


def has_dependencies(types: Iterable[str] | None = None) -> bool:
    """Whether some item type declares a parent (``types``: both of these types): ``dependencies_sql`` has rows
    to give."""
    return bool(_parents(types))


def dependencies_sql(types: Iterable[str] | None = None) -> str:
    """``(item_type, procore_id, parent_type, parent_id)`` for every declared parent of every item (``types``:
    only where both the item and its parent are of these types; a query of no rows when none is)."""
    parts = [
        f"SELECT '{item_type}' AS item_type, d.procore_id, '{parent}' AS parent_type, d.parent_id "
        f"FROM ({sql}) AS d(procore_id, parent_id)"
        for item_type, parent, sql in _parents(types)
    ]
    if not parts:
        return "SELECT NULL::VARCHAR AS item_type, NULL::BIGINT AS procore_id, NULL::VARCHAR AS parent_type, NULL::BIGINT AS parent_id WHERE false"
    return "\nUNION ALL ".join(parts)


EXPORTABLE = [p.item_type for p in sorted(PAIRS.values(), key=lambda p: p.export_order) if p.exportable]


def pairs_of_request(request_name: str) -> list[EntityPair]:
    """The pairs whose Add or Mod ``request_name`` is (``PurchaseOrderMod``: a commitment's and a change order's)."""
    return [p for p in PAIRS.values() if request_name in (p.add_request, p.mod_request)]


def pair(item_type: str) -> EntityPair:
    try:
        return PAIRS[item_type]
    except KeyError:
        raise KeyError(f"unknown item type {item_type!r}; known: {', '.join(PAIRS)}") from None
