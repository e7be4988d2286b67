"""``qbrecon push procore``: tell Procore which QuickBooks record each item became, with Procore's sync actions.

Each link is the triple Procore's own connectors write: ``origin_id`` = the QuickBooks ListID / TxnID (TxnLineID
for lines), ``origin_data`` = ``{"edit_sequence": ...}``, ``origin_code`` where Procore shows one. Links are read
from the Procore tables (where the export writes them); a link cleared since the last push is pushed as an
unlink (``origin_id: null``). Idempotent: ``procore_known_links`` holds the link Procore holds per record as
far as qbrecon knows (what the last pull read, what Procore accepted since), and only differences are sent, so a
second push sends nothing. ``procore_push_log`` keeps every item sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .client import SYNC_LIMIT, ProcoreClient
from .resources import BY_NAME, EXTERNAL_DATA_SYNC, fill

# procore_known_links and procore_push_log are declared in migrations/0002_procore_api.sql.


# One row per linkable record: the table, its id, its endpoint (resources.ENDPOINTS name: the sync action or
# the External Data item_type), the project and parent the path needs, and the link. Budget lines are not
# here: their link lives on Procore's budget and its ERP transactions.
_LINKS = """
SELECT 'companies' AS table_name, id, 'vendors' AS endpoint, NULL::BIGINT AS project_id,
       NULL::BIGINT AS parent_id, origin_id, origin_data, origin_code FROM companies
UNION ALL SELECT 'projects', id, 'projects', NULL, NULL, origin_id, origin_data, origin_code FROM projects
UNION ALL SELECT 'cost_codes', id, CASE WHEN cost_code_level = 'standard' THEN 'standard_cost_codes'
       ELSE 'cost_codes' END, project_id, NULL, origin_id, origin_data, NULL FROM cost_codes
UNION ALL SELECT 'commitments', id, CASE WHEN type = 'PurchaseOrderContract' THEN 'purchase_order_contracts'
       ELSE 'work_order_contracts' END, project_id, NULL, origin_id, origin_data, origin_code FROM commitments
UNION ALL SELECT 'commitment_lines', l.id, CASE WHEN c.type = 'PurchaseOrderContract'
       THEN 'purchase_order_contract_line_items' ELSE 'work_order_contract_line_items' END,
       c.project_id, l.commitment_id, l.origin_id, l.origin_data, NULL
       FROM commitment_lines l JOIN commitments c ON c.id = l.commitment_id
UNION ALL SELECT 'change_orders', id, 'commitment_change_orders', project_id, NULL, origin_id, origin_data,
       origin_code FROM change_orders
UNION ALL SELECT 'change_order_lines', l.id, 'commitment_change_order_line_items', co.project_id,
       l.change_order_id, l.origin_id, l.origin_data, NULL
       FROM change_order_lines l JOIN change_orders co ON co.id = l.change_order_id
UNION ALL SELECT 'invoices', id, 'requisitions', project_id, NULL, origin_id, origin_data, NULL FROM invoices
UNION ALL SELECT 'payments_issued', id, 'contract_payments', project_id, NULL, origin_id, origin_data, origin_code
       FROM payments_issued
"""
_ERROR_TEXT = 2000  # characters of Procore's reasons kept per refused item (a reply is never stored whole)
# origin_code is sent only where Procore shows one (vendors, projects, commitments, CCOs, payments).
_WITH_CODE = {"companies", "projects", "commitments", "change_orders", "payments_issued"}


@dataclass
class PushResult:
    push_id: int
    dry_run: bool = False
    sent: int = 0  # items in sync calls (or payload files)
    synced: int = 0  # items Procore accepted
    unlinked: int = 0  # of those, links cleared
    calls: int = 0
    errors: list[dict] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    by_table: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        if self.sent == 0:
            return "push to Procore: every link is already in Procore; nothing to send"
        tables = ", ".join(f"{n} {t}" for t, n in self.by_table.items())
        if self.dry_run:
            return f"push to Procore (dry run): {self.sent} link(s) ({tables}) written to {len(self.files)} file(s)"
        lines = [
            f"push to Procore: {self.sent} link(s) sent in {self.calls} sync call(s) ({tables}); "
            f"{self.synced} accepted ({self.unlinked} unlinked), {len(self.errors)} refused"
        ]
        lines += [f"  refused: {e['table_name']} {e['procore_id']}: {e['error']}" for e in self.errors[:20]]
        return "\n".join(lines)


def _edit_sequence(col: str) -> str:
    """What a link's origin_data says about the QuickBooks record: its EditSequence when it is the JSON qbrecon
    and Procore's QuickBooks connector write, else the text itself (origin_data is free text in Procore)."""
    return (
        f"CASE WHEN {col} IS NULL THEN NULL WHEN json_valid({col}) AND json_type({col}) = 'OBJECT' "
        f"THEN coalesce(json_extract_string({col}, '$.edit_sequence'), {col}) ELSE {col} END"
    )


def pending_links(ws: Any) -> pd.DataFrame:
    """Links that differ from what Procore holds (new, changed or cleared), one row per record.

    origin_data is compared by the EditSequence it carries, and what is sent keeps the other keys Procore holds
    (``{"txn_id": ..., "edit_sequence": ...}`` stays whole; only the EditSequence moves)."""
    frame = ws.store.frame(
        f"""SELECT k.table_name, k.id, k.endpoint, k.project_id, k.parent_id, k.origin_id,
                   CASE WHEN k.origin_id IS NOT DISTINCT FROM p.origin_id AND json_valid(p.origin_data)
                             AND json_valid(k.origin_data) AND json_type(p.origin_data) = 'OBJECT'
                             AND json_type(k.origin_data) = 'OBJECT'
                        THEN json_merge_patch(p.origin_data, k.origin_data)::VARCHAR
                        ELSE k.origin_data END AS origin_data,
                   k.origin_code
            FROM ({_LINKS}) k
            LEFT JOIN procore_known_links p ON p.table_name = k.table_name AND p.procore_id = k.id
            WHERE (p.procore_id IS NULL AND k.origin_id IS NOT NULL)
               OR (p.procore_id IS NOT NULL AND (p.origin_id IS DISTINCT FROM k.origin_id
                   OR {_edit_sequence("p.origin_data")} IS DISTINCT FROM {_edit_sequence("k.origin_data")}
                   OR (k.table_name IN {tuple(_WITH_CODE)} AND p.origin_code IS DISTINCT FROM k.origin_code)))
            ORDER BY k.table_name, k.project_id NULLS FIRST, k.parent_id NULLS FIRST, k.id"""
    )
    return frame.astype(object).where(frame.notna(), None)  # plain None for JSON, never pd.NA


def push(
    ws: Any, client: ProcoreClient | None, *, company_id: int, dry_run_dir: str | Path | None = None
) -> PushResult:
    """Write every pending link to Procore (``client``), or with ``dry_run_dir`` the sync payloads to files."""
    pending = pending_links(ws)
    push_id = int(ws.store.scalar("SELECT coalesce(max(push_id), 0) + 1 FROM procore_push_log"))
    result = PushResult(push_id, dry_run=dry_run_dir is not None)
    if client is None and dry_run_dir is None:
        raise ValueError("push needs a Procore client, or dry_run_dir for payload files")
    log: list[dict] = []
    accepted: list[dict] = []
    now = datetime.now(UTC)
    # (path, query) -> [(update, row)]: one call per resource sync action, the rest through ERP External Data
    calls: dict[tuple[str, str], list[tuple[dict, Any]]] = {}
    for r in pending.itertuples(index=False):
        e = BY_NAME[r.endpoint]
        project = None if r.project_id is None else int(r.project_id)
        if e.sync:
            path = fill(e.sync, project_id=project, id=None if r.parent_id is None else int(r.parent_id))
            params = {"company_id": company_id} if e.scope == "company" else {"project_id": project}
            update = _update(r)
        else:
            path, params = fill(EXTERNAL_DATA_SYNC, company_id=company_id), {}
            link = {k: v for k, v in _update(r).items() if k != "id"}
            update = {"item_type": e.item_type, "item_id": int(r.id), **link}
        calls.setdefault((path, json.dumps(params)), []).append((update, r))
        result.sent += 1
        result.by_table[r.table_name] = result.by_table.get(r.table_name, 0) + 1
    for n_call, ((path, params_json), batch) in enumerate(sorted(calls.items()), start=1):
        params = json.loads(params_json)
        if dry_run_dir is not None:
            for n, start in enumerate(range(0, len(batch), SYNC_LIMIT), start=1):
                file = Path(dry_run_dir) / f"{n_call:03d}{path.replace('/', '_')}_{n:04d}.json"
                file.parent.mkdir(parents=True, exist_ok=True)
                updates = [u for u, _r in batch[start : start + SYNC_LIMIT]]
                body = {"method": "PATCH", "url": path, "params": params, "json": {"updates": updates}}
                file.write_text(json.dumps(body, indent=1), encoding="utf-8")
                result.files.append(str(file))
            log += [_log(push_id, now, r, "dry_run", None) for _u, r in batch]
            continue
        entities, errors = client.sync(path, [u for u, _r in batch], params=params or None)
        result.calls += -(-len(batch) // SYNC_LIMIT)
        refused = {
            _key(err): json.dumps(err.get("errors", err), sort_keys=True, default=str)[:_ERROR_TEXT]
            for err in errors
        }
        done = {_key(x) for x in entities}
        for update, r in batch:
            key = _key(update)
            if key in done and key not in refused:
                result.synced += 1
                result.unlinked += r.origin_id is None
                accepted.append(
                    {
                        "table_name": r.table_name,
                        "procore_id": int(r.id),
                        "origin_id": r.origin_id,
                        "origin_data": r.origin_data,
                        "origin_code": r.origin_code,
                    }
                )
                log.append(_log(push_id, now, r, "synced", None))
            else:
                why = refused.get(key) or "Procore did not return the record"
                result.errors.append({"table_name": r.table_name, "procore_id": int(r.id), "error": why})
                log.append(_log(push_id, now, r, "refused", why))
    _record(ws, accepted, log, now)
    return result


def _key(d: dict) -> tuple:
    """What identifies an update in Procore's answer: (item_type, item_id) for External Data, else the id."""
    if "item_id" in d or "item_type" in d:
        return (d.get("item_type"), _int(d.get("item_id")))
    return (None, _int(d.get("id")))


def remember_links(ws: Any, rows: list[dict], source: str) -> None:
    """Record the links Procore holds (``rows`` of table_name, procore_id, origin_id, origin_data, origin_code)."""
    _record(ws, rows, [], datetime.now(UTC), source)


def _update(r: Any) -> dict:
    item = {"id": int(r.id), "origin_id": r.origin_id, "origin_data": r.origin_data}
    if r.table_name in _WITH_CODE:
        item["origin_code"] = r.origin_code
    return item


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _log(push_id: int, at: datetime, r: Any, outcome: str, error: str | None) -> dict:
    return {
        "push_id": push_id,
        "at": at,
        "table_name": r.table_name,
        "procore_id": int(r.id),
        "endpoint": r.endpoint,
        "outcome": outcome,
        "origin_id": r.origin_id,
        "origin_data": r.origin_data,
        "origin_code": r.origin_code,
        "error": error,
    }


def _record(ws: Any, accepted: list[dict], log: list[dict], at: datetime, source: str = "push") -> None:
    """What Procore accepted (or a pull read) becomes the known state; every item sent goes to the log."""
    cols = [
        "push_id",
        "at",
        "table_name",
        "procore_id",
        "endpoint",
        "outcome",
        "origin_id",
        "origin_data",
        "origin_code",
        "error",
    ]
    known = ["table_name", "procore_id", "origin_id", "origin_data", "origin_code"]
    with ws.store.transaction() as con:
        if accepted:
            frame = pd.DataFrame(accepted, columns=known).astype(object)
            frame["source"], frame["seen_at"] = source, at
            con.register("_procore_accepted", frame)
            try:
                con.execute(
                    "INSERT OR REPLACE INTO procore_known_links SELECT table_name, procore_id::BIGINT, "
                    "origin_id::VARCHAR, origin_data::VARCHAR, origin_code::VARCHAR, source, seen_at "
                    "FROM _procore_accepted"
                )
            finally:
                con.unregister("_procore_accepted")
        if log:
            frame = pd.DataFrame(log, columns=cols)
            con.register("_procore_log", frame)
            try:
                con.execute(
                    f"INSERT INTO procore_push_log SELECT {', '.join(chr(34) + c + chr(34) for c in cols)} "
                    "FROM _procore_log"
                )
            finally:
                con.unregister("_procore_log")
