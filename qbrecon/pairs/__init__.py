"""Pair modules: a Procore <-> QuickBooks pair's whole story in one module (ADR 0005).

A pair module (``owner_invoice.py``) builds one ``PairModule`` and calls ``register``; the engines (the ERP
queue's item view and blockers, the export's line tables and required settings, the qbXML build, refresh,
reconciliation, the dashboard's tabs and columns, the simulator's record kinds) iterate ``registered()``.
Registering also adds the pair to ``entities.PAIRS``, so everything already generic over the declarations (the
queue's decisions, links and fingerprints, dependency order, message-set order) knows it.

Every pair is a module here, the import-only payments pair too (``register_imported``: reconciled and shown,
never exported); ``entities.PAIRS`` declares none itself.
"""

from __future__ import annotations

import importlib
import pkgutil

from .. import links as _links
from ..entities import EXPORTABLE, PAIRS, EntityPair
from ..qbxml import build as _build
from ..store import redeclare
from .base import (
    PROCORE_V1,
    AcceptOption,
    Column,
    Endpoint,
    Field,
    ImportedPair,
    Lines,
    PairModule,
    PairRule,
    Rollup,
)

__all__ = [
    "PROCORE_V1",
    "AcceptOption",
    "Column",
    "Endpoint",
    "Field",
    "ImportedPair",
    "Lines",
    "PairModule",
    "PairRule",
    "Rollup",
    "accept_options",
    "imported",
    "module",
    "procore_endpoints",
    "register",
    "register_imported",
    "registered",
]

_MODULES: dict[str, PairModule] = {}
_IMPORTED: dict[str, ImportedPair] = {}


def _declare(pair: EntityPair) -> None:
    """Add a pair to ``entities.PAIRS``, which stays in export order (exportable pairs first, ties in the order
    declared) whatever the order the modules are imported in."""
    if pair.item_type in PAIRS and pair.item_type not in _MODULES and pair.item_type not in _IMPORTED:
        raise ValueError(f"item type {pair.item_type!r} is already declared in entities.PAIRS")
    PAIRS[pair.item_type] = pair
    ordered = sorted(PAIRS.values(), key=lambda p: (not p.exportable, p.export_order))
    PAIRS.clear()
    PAIRS.update({p.item_type: p for p in ordered})


def register(module: PairModule) -> PairModule:
    """Declare a pair to every engine. Called once by each pair module when it is imported."""
    pair = module.pair
    _declare(pair)
    _MODULES[pair.item_type] = module
    EXPORTABLE[:] = [
        p.item_type for p in sorted(PAIRS.values(), key=lambda p: p.export_order) if p.exportable
    ]
    _build.register_builder(pair.item_type, module.prepare)
    # the fingerprints view (what "changed since sync" compares) was declared when ``links`` was imported (with
    # the pairs known then, maybe none): declare it again, in its place, with this pair in it
    redeclare("CREATE OR REPLACE VIEW erp_fingerprints AS", _links.fingerprints_view())
    if pair.query_request:
        _build.QUERIES.setdefault(pair.query_request, (module.query_kind, module.query_line_items))
    return module


def register_imported(module: ImportedPair) -> ImportedPair:
    """Declare an import-only pair (QuickBooks -> Procore): known to ``entities.PAIRS``, reconciled, shown; the
    export engines never see it."""
    _declare(module.pair)
    _IMPORTED[module.item_type] = module
    return module


def imported() -> list[ImportedPair]:
    """The import-only pairs, in declaration order."""
    return list(_IMPORTED.values())


def registered() -> list[PairModule]:
    """The pair modules, in export order."""
    return sorted(_MODULES.values(), key=lambda m: m.pair.export_order)


def module(item_type: str) -> PairModule | None:
    return _MODULES.get(item_type)


def accept_options() -> dict[str, list[tuple[str, AcceptOption]]]:
    """Every declared accept option by name: [(item type, option)] (one name may serve several pairs)."""
    found: dict[str, list[tuple[str, AcceptOption]]] = {}
    for m in registered():
        for option in m.accept_options:
            found.setdefault(option.name, []).append((m.item_type, option))
    return found


def procore_endpoints() -> list[Endpoint]:
    """The Procore endpoints every pair reads from: the pair modules' in export order, then the import-only
    pairs' (``procore.resources.ENDPOINTS`` adds the ones no pair owns: users, permission templates)."""
    return [e for m in [*registered(), *imported()] for e in m.procore_endpoints]


def _import_pair_modules() -> None:
    """Every module of this package but ``base`` is a pair module; importing it registers it. A new pair is a
    new file here, nothing to add to a list."""
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


_import_pair_modules()
