"""Import from QuickBooks: accepting a Ready to Import vendor or job (``erp.imports``) creates the Procore
record, through the API when connected, as a payload file otherwise, linked to its QuickBooks record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ..erp import permissions
from ..erp.imports import ITEM_TYPE, import_candidates, link_project_to_job, ready_to_import
from ..erp.states import TRANSITIONS
from ..errors import BatchRejected, InputError
from .client import ProcoreClient


@dataclass
class ImportResult:
    created: list[dict] = field(default_factory=list)  # {kind, list_id, procore_id}
    files: list[str] = field(default_factory=list)  # payloads written (not connected)

    def summary(self) -> str:
        if self.files:
            return f"import from QuickBooks: {len(self.files)} payload file(s) written (not connected to Procore)"
        return (
            f"import from QuickBooks: {len(self.created)} record(s) created in Procore, linked to QuickBooks"
        )


def _vendor_payload(v: dict) -> dict:
    return {
        "name": v["Name"],
        "address": v.get("VendorAddress_Addr1"),
        "city": v.get("VendorAddress_City"),
        "state_code": v.get("VendorAddress_State"),
        "zip": v.get("VendorAddress_PostalCode"),
        "business_phone": v.get("Phone"),
        "fax_number": v.get("Fax"),
        "email_address": v.get("Email"),
        "is_active": True,
        "origin_id": v["ListID"],
        "origin_data": json.dumps({"edit_sequence": v.get("EditSequence")}, separators=(",", ":")),
    }


def _project_payload(c: dict) -> dict:
    return {
        "name": c["Name"],
        "address": c.get("BillAddress_Addr1"),
        "city": c.get("BillAddress_City"),
        "state_code": c.get("BillAddress_State"),
        "zip": c.get("BillAddress_PostalCode"),
        "active": True,
        "start_date": c.get("JobStartDate"),
        "description": c.get("JobDesc"),
        "origin_id": c["ListID"],
        "origin_data": json.dumps({"edit_sequence": c.get("EditSequence")}, separators=(",", ":")),
        "erp_integrated": True,
    }


def accept_imports(
    ws: Any,
    list_ids: list[str],
    *,
    by: int | str,
    company_id: int,
    client: ProcoreClient | None = None,
    out_dir: str | Path,
) -> ImportResult:
    """Import the given QuickBooks vendors / jobs into Procore, linked to them (origin_id = ListID).

    Connected (``client``): each record is created through the API (``POST /rest/v1.0/vendors`` or
    ``/projects``), Procore's answers are kept in ``out_dir`` in the export layout and loaded, and the new
    records show as imported in the ERP queue. Not connected: the POST payloads go to ``out_dir`` and the
    records leave Ready to Import until Procore has them. The whole list is checked first; a refusal names
    every row and changes nothing.
    """
    user = permissions.require(ws.store, by, "import")
    if not list_ids:
        raise InputError("nothing to import", field="list_ids")
    cands = import_candidates(ws).set_index("list_id")
    if any(lid in cands.index and cands.loc[lid, "kind"] == "job" for lid in list_ids):
        permissions.require(ws.store, by, "import_job")  # "Add an ERP Job to Procore": ERP 'Admin' (matrix)
    problems = []
    for lid in list_ids:
        if lid not in cands.index:
            problems.append({"list_id": lid, "problem": "not a QuickBooks vendor or job Procore lacks"})
        elif not pd.isna(cands.loc[lid, "reason"]):
            problems.append({"list_id": lid, "problem": cands.loc[lid, "reason"]})
    if len(set(list_ids)) != len(list_ids):
        problems.append({"list_id": "", "problem": "a record is listed twice"})
    if problems:
        raise BatchRejected("import", problems)
    quoted = ", ".join("'" + lid.replace("'", "''") + "'" for lid in list_ids)
    vendors = ws.store.frame(f'SELECT * FROM vendors WHERE "ListID" IN ({quoted})')
    jobs = ws.store.frame(f'SELECT * FROM customers WHERE "ListID" IN ({quoted})')
    out = Path(out_dir)
    now = datetime.now(UTC)
    result = ImportResult()
    requests_: list[tuple[str, str, dict]] = []  # (kind, list_id, POST)
    for row in _records(vendors):
        body = {"company_id": company_id, "vendor": _vendor_payload(row)}
        requests_.append(
            (
                "vendor",
                row["ListID"],
                {"url": "/rest/v1.0/vendors", "params": {"company_id": company_id}, "json": body},
            )
        )
    for row in _records(jobs):
        body = {"company_id": company_id, "project": _project_payload(row)}
        requests_.append(
            (
                "job",
                row["ListID"],
                {"url": "/rest/v1.0/projects", "params": {"company_id": company_id}, "json": body},
            )
        )
    rows: list[tuple] = []
    if client is None:
        for kind, lid, req in requests_:
            file = out / ("vendors" if kind == "vendor" else "projects") / f"import_{_safe(lid)}.json"
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(json.dumps({"method": "POST", **req}, indent=1, default=str), encoding="utf-8")
            result.files.append(str(file))
            rows.append((lid, kind, "payload_written", None, str(file), now, user["id"]))
        _record(ws, rows)
        return result
    pages: dict[str, list[dict]] = {"vendors": [], "projects": []}
    for kind, lid, req in requests_:
        resp = client.request(
            "POST",
            req["url"],
            params=req["params"],
            json_body=json.loads(json.dumps(req["json"], default=str)),
        )
        record = resp.json()
        folder = "vendors" if kind == "vendor" else "projects"
        pages[folder].append(record)
        result.created.append({"kind": kind, "list_id": lid, "procore_id": int(record["id"])})
        rows.append((lid, kind, "created", int(record["id"]), None, now, user["id"]))
    for folder, records in pages.items():
        if records:
            page = out / folder / "import" / "page_0001.json"
            page.parent.mkdir(parents=True, exist_ok=True)
            body = {
                "request": {
                    "method": "POST",
                    "url": f"/rest/v1.0/{folder}",
                    "params": {"company_id": company_id},
                },
                "data": records,
            }
            page.write_text(json.dumps(body), encoding="utf-8")
    ws.load_procore(out)
    _record(ws, rows)
    _mark_imported(ws, result.created, user)
    from .push import remember_links

    remember_links(
        ws,
        [
            {
                "table_name": "companies" if c["kind"] == "vendor" else "projects",
                "procore_id": c["procore_id"],
                "origin_id": c["list_id"],
                "origin_data": _origin_data_of(ws, c),
                "origin_code": None,
            }
            for c in result.created
        ],
        "push",
    )
    return result


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def _safe(list_id: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in list_id)


def _origin_data_of(ws: Any, created: dict) -> str | None:
    table = "companies" if created["kind"] == "vendor" else "projects"
    return ws.store.scalar(f"SELECT origin_data FROM {table} WHERE id = ?", [created["procore_id"]])


def _record(ws: Any, rows: list[tuple]) -> None:
    with ws.store.transaction() as con:
        con.executemany("INSERT OR REPLACE INTO procore_imports VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def _mark_imported(ws: Any, created: list[dict], user: dict) -> None:
    """The new Procore records show in the ERP queue as imported from QuickBooks, with an audit row each."""
    to_status = TRANSITIONS["import"][1]
    with ws.store.transaction() as con:
        for c in created:
            item_type = ITEM_TYPE[c["kind"]]
            con.execute(
                """INSERT OR REPLACE INTO erp_items (item_type, procore_id, status, quickbooks_id, decided_by,
                                                     decided_at, attempts, updated_at)
                   VALUES (?, ?, ?, ?, ?, now(), 0, now())""",
                [item_type, c["procore_id"], to_status, c["list_id"], user["id"]],
            )
            con.execute(
                """INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id,
                                          from_status, to_status, detail)
                   VALUES (nextval('erp_audit_seq'), now(), ?, ?, 'import', ?, ?, 'ready_to_import', ?, ?)""",
                [
                    user["id"],
                    user["name"],
                    item_type,
                    c["procore_id"],
                    to_status,
                    f"created in Procore from QuickBooks {c['kind']} {c['list_id']}",
                ],
            )


__all__ = ["ImportResult", "accept_imports", "import_candidates", "link_project_to_job", "ready_to_import"]
