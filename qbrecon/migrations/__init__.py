"""The workspace schema, declared explicitly and upgraded by numbered migrations.

Two kinds of tables live in a workspace:

- the tables of both sides (Procore and QuickBooks rows): declared by their ``qbrecon.schemas`` models. The store
  creates each from its model and adds a column the model gained since the workspace was written
  (``model_columns_to_add``), so a new field reaches old workspaces without a migration;
- every other table (the ERP queue, the export ledger, the message archive, Web Connector sessions, settings,
  the outbox ...): declared here, in numbered SQL files ``NNNN_what.sql`` beside this module. ``0001_baseline``
  is the schema of qbrecon 0.1; each later file changes it (``ALTER TABLE ... ADD COLUMN``, ``CREATE TABLE``).

A workspace records the number of the last migration applied (``qbrecon_meta.schema_version``; a workspace
written before migrations existed says 1, the baseline) and the store applies the missing ones in order, all in
one transaction with the rest of the upgrade, when it opens the file (a failure leaves the file as it was); a
workspace newer than this qbrecon is refused.

To change the schema: add the next file (``0002_export_ledger_note.sql``), change the module that uses the table,
and run ``tests/test_migrations.py`` (it proves a workspace written by qbrecon 0.1 upgrades to exactly the schema
of a new one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    statements: tuple[str, ...]


def _statements(sql: str) -> tuple[str, ...]:
    """Split a migration file on ``;`` at line ends (no statement here holds one inside a string)."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return tuple(s.strip() for s in re.split(r";\s*$", "\n".join(lines), flags=re.M) if s.strip())


def _load() -> tuple[Migration, ...]:
    found = []
    for entry in resources.files(__name__).iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(
                Migration(int(m.group(1)), m.group(2), _statements(entry.read_text(encoding="utf-8")))
            )
    found.sort(key=lambda mg: mg.number)
    numbers = [mg.number for mg in found]
    if numbers != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1, 2, 3 ... without gaps; found {numbers}")
    return tuple(found)


MIGRATIONS: tuple[Migration, ...] = _load()
LATEST = MIGRATIONS[-1].number


def pending(version: int | None) -> list[Migration]:
    """The migrations a workspace at ``version`` (None: a new, empty one) still needs, in order."""
    return [m for m in MIGRATIONS if version is None or m.number > version]


def model_columns_to_add(have: set[tuple[str, str]], table: str, columns: list[tuple[str, str]]) -> list[str]:
    """``ALTER TABLE ... ADD COLUMN`` for each ``(name, duckdb type)`` a model has and the table lacks; ``have``
    holds the workspace's ``(table, column)`` pairs (one catalog read for all tables)."""
    return [
        f'ALTER TABLE "{table}" ADD COLUMN "{name}" {kind}'
        for name, kind in columns
        if (table, name) not in have
    ]
