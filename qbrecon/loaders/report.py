"""``LoadReport``: what one load read, stored, updated and held back, per table."""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd


@dataclass
class TableCounts:
    table: str
    read: int = 0  # rows read from the files
    loaded: int = 0  # new rows stored
    updated: int = 0  # stored rows replaced by this load (same key)
    quarantined: int = 0  # rows held back in the quarantine table
    removed: int = 0  # lines no longer on a reloaded parent, deleted
    merged: int = 0  # identical copies of a record (e.g. overlapping pages) stored once


@dataclass
class LoadReport:
    """The outcome of ``Workspace.load_procore`` / ``load_quickbooks``; also stored in ``load_runs``."""

    load_id: int
    side: str
    source: str
    started_at: datetime
    finished_at: datetime | None = None
    tables: dict[str, TableCounts] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(
        default_factory=list
    )  # qbXML status of each *Rs (QuickBooks side)
    response_errors: list[dict[str, Any]] = field(default_factory=list)  # statuses that are real errors
    notes: list[str] = field(default_factory=list)
    quarantine_sample: list[dict[str, Any]] = field(default_factory=list)  # first rows held back

    # -- totals ---------------------------------------------------------------------------------------------------
    @property
    def loaded(self) -> int:
        return sum(t.loaded for t in self.tables.values())

    @property
    def updated(self) -> int:
        return sum(t.updated for t in self.tables.values())

    @property
    def quarantined(self) -> int:
        return sum(t.quarantined for t in self.tables.values())

    @property
    def ok(self) -> bool:
        """Nothing held back and no error status from QuickBooks."""
        return self.quarantined == 0 and not self.response_errors

    @property
    def status(self) -> str:
        if self.response_errors:
            return "errors"
        return "quarantined" if self.quarantined else "ok"

    @property
    def seconds(self) -> float | None:
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else None

    # -- views ----------------------------------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """One row per table: read, loaded, updated, quarantined, removed, merged."""
        cols = ["table", "read", "loaded", "updated", "quarantined", "removed", "merged"]
        rows = [asdict(t) for t in self.tables.values()]
        return pd.DataFrame(rows, columns=cols).astype({c: "int64" for c in cols[1:]})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["started_at"] = self.started_at.isoformat()
        d["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        d["tables"] = [asdict(t) for t in self.tables.values()]
        d["status"] = self.status
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=str, indent=2)

    def _headline(self) -> str:
        secs = f" in {self.seconds:.1f} s" if self.seconds is not None else ""
        return (
            f"load {self.load_id} ({self.side}) from {self.source}: {self.loaded} loaded, {self.updated} updated, "
            f"{self.quarantined} quarantined{secs}"
        )

    def __str__(self) -> str:
        lines = [self._headline()]
        frame = self.to_frame()
        if len(frame):
            lines.append(frame.to_string(index=False))
        for r in self.response_errors:
            lines.append(
                f"QuickBooks error {r.get('statusCode')} in {r.get('file')} {r.get('response')}: "
                f"{r.get('statusMessage')}"
            )
        benign = [
            r
            for r in self.responses
            if r.get("statusCode") not in (0, None) and r not in self.response_errors
        ]
        for r in benign:
            lines.append(
                f"QuickBooks status {r.get('statusCode')} ({r.get('statusSeverity')}) in {r.get('file')} "
                f"{r.get('response')}: {r.get('statusMessage')} (no rows)"
            )
        if self.quarantine_sample:
            lines.append(
                f"held back (first {len(self.quarantine_sample)}; see the quarantine table, load_id "
                f"{self.load_id}):"
            )
            for q in self.quarantine_sample:
                lines.append(
                    f"  {q['table_name']} {q['source_file']} row {q['source_row']} field {q['field']}: "
                    f"{q['check']}: {q['failure_case']}"
                )
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<LoadReport {self._headline()}>"

    def _repr_html_(self) -> str:
        parts = [f"<p><b>{html.escape(self._headline())}</b></p>", self.to_frame().to_html(index=False)]
        if self.response_errors:
            items = "".join(
                f"<li>{html.escape(str(r.get('statusCode')))} in {html.escape(str(r.get('file')))}: "
                f"{html.escape(str(r.get('statusMessage')))}</li>"
                for r in self.response_errors
            )
            parts.append(f"<p>QuickBooks errors:</p><ul>{items}</ul>")
        if self.quarantine_sample:
            parts.append(
                f"<p>Held back (first rows; query <code>quarantine</code> where load_id = {self.load_id}):</p>"
            )
            parts.append(
                pd.DataFrame(self.quarantine_sample)[
                    ["table_name", "source_file", "source_row", "field", "check", "failure_case"]
                ].to_html(index=False)
            )
        if self.notes:
            parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in self.notes) + "</ul>")
        return "\n".join(parts)
