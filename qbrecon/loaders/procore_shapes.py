"""Procore's documented shapes, turned into the records ``loaders.procore`` reads, before any column is read.

Three kinds of input reach the loader besides plain API arrays:

* an API page kept with its request (what ``qbrecon pull procore`` writes):
  ``{"request": {"method", "url", "params", "json"}, "context": {...}, "data": [...]}``. The request tells what
  the body leaves out: ``GET /rest/v1.0/requisitions?project_id=7`` returns requisitions without
  ``project_id``; ``POST /rest/v1.0/requisitions`` returns the invoice with ``g702`` and no ``project_id``.
  A page folder named ``project_<id>`` gives the project too.
* line pages of their own (``requisition_contract_items/...``) whose context names the parent; they are nested
  into the parent record as the show endpoint would, so lines of a parent that came without any are removed.
* Procore's ERP request payloads, ``{"request_name": ..., "request_data": ...}`` (ERP events dictionary), in
  ``erp_requests.json`` or ``erp_requests/*.json``: exports become rows of the same tables, links / unlinks /
  deletes become ``ErpAction`` rows the load applies, requests that carry no data become notes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from .. import pairs as _pairs
from ..schemas import TABLES, TableSpec
from ..schemas.procore import PROCORE_TOOLS
from ..schemas.types import normalise_status


def _line_resources() -> dict[str, tuple[str, str, str]]:
    """The pairs' line endpoints (``PairModule.procore_endpoints`` with a ``parent``) as line resources: page
    folder -> (the parent endpoint's folder, the lines' array in the parent record, the key naming the parent)."""
    endpoints = _pairs.procore_endpoints()
    folders = {e.name: e.folder for e in endpoints}
    return {e.folder: (folders[e.parent], e.lines_key, e.parent_key) for e in endpoints if e.parent}


# line resource folder -> (parent resource, array key in the parent record, context key naming the parent)
LINE_RESOURCES: dict[str, tuple[str, str, str]] = _line_resources()
ERP_REQUESTS = "erp_requests"
# Procore's permission templates (``GET /companies/{id}/permission_templates?view=with_permissions``): each
# user's level per tool is read from the templates the user holds.
PERMISSION_TEMPLATES = "permission_templates"
# Procore's legacy budget transfers (``/rest/v1.0/projects/{id}/budget_modifications``), read as budget changes.
BUDGET_MODIFICATIONS = "budget_modifications"

# Path segments of a request URL that name a record (``/projects/7/...``, ``/requisitions/9/contract_items``).
_PATH_IDS = {
    "projects": "project_id",
    "companies": "company_id",
    "requisitions": "requisition_id",
    "work_order_contracts": "commitment_id",
    "purchase_order_contracts": "commitment_id",
    "commitments": "commitment_id",
    "commitment_change_orders": "change_order_id",
    "budget_changes": "budget_change_id",
}
# The commitment type a list endpoint implies when its records leave ``type`` out.
_ENDPOINT_TYPE = {
    "work_order_contracts": "WorkOrderContract",
    "purchase_order_contracts": "PurchaseOrderContract",
}
_FOLDER_PROJECT = re.compile(r"project_(\d+)$")


# -- API pages ---------------------------------------------------------------------------------------------------
def unwrap_page(value: Any, path: Path) -> tuple[Any, dict]:
    """A file's body and the context its request and folder give (``{}`` for a plain array)."""
    context: dict = {}
    m = _FOLDER_PROJECT.fullmatch(path.parent.name)
    if m:
        context["project_id"] = int(m.group(1))
    if isinstance(value, dict) and "data" in value and ("request" in value or "context" in value):
        request = value.get("request") or {}
        if isinstance(request, dict):
            context.update(request_context(request))
        if isinstance(value.get("context"), dict):
            context.update(value["context"])
        return value["data"], context
    return value, context


def request_context(request: dict) -> dict:
    """Ids a request names: ``*_id`` query parameters and body fields, and ``/<resource>/<id>/`` path segments."""
    context: dict = {}
    url = str(request.get("url") or request.get("path") or "")
    parts = [p for p in url.split("?", 1)[0].split("/") if p]
    for i, part in enumerate(parts):
        if part in _ENDPOINT_TYPE:
            context["type"] = _ENDPOINT_TYPE[part]
        if part in _PATH_IDS and i + 1 < len(parts) and parts[i + 1].isdigit():
            context[_PATH_IDS[part]] = int(parts[i + 1])
    query = dict(parse_qsl(url.split("?", 1)[1])) if "?" in url else {}  # ids in the URL's own query too
    for source in (request.get("params"), query, request.get("json")):
        if isinstance(source, dict):
            for k, v in source.items():
                if k.endswith("_id") and isinstance(v, int | str) and not isinstance(v, bool):
                    context.setdefault(k, v)
    return context


def normalise_records(spec: TableSpec, records: list, context: dict) -> list:
    """Records of one resource in the shape the column reading expects (a new list; input left as it was)."""
    sources = {c.name: c.source or c.name for c in spec.columns}
    out = []
    for rec in records:
        if type(rec) is not dict:
            out.append(rec)  # the reader reports it
            continue
        rec = dict(rec)
        if "g702" in rec and rec.get("summary") is None:  # POST /requisitions answers with g702
            rec["summary"] = rec["g702"]
        if "parent_id" in rec and "parent" not in rec:  # standard cost codes in ERP payloads: flat parent_id
            rec["parent"] = {"id": rec["parent_id"]}
        for name, value in context.items():
            source = sources.get(name)
            if source is not None and value is not None and _get(rec, source) is None:
                _set(rec, source, value)
        if "approval_status" in rec and isinstance(rec["approval_status"], str):
            rec["approval_status"] = normalise_status(rec["approval_status"])
        out.append(rec)
    return out


def nest_lines(parent_resource: str, records: list, lines: dict[str, dict[Any, list]]) -> list:
    """Put line pages (by parent id) into their parent records, as the show endpoints return them. Nested
    groups are taken out of ``lines``: what is left at the end names parents the export does not hold."""
    for line_resource, (parent, key, _fk) in LINE_RESOURCES.items():
        if parent != parent_resource or line_resource not in lines:
            continue
        by_parent = lines[line_resource]
        for i, rec in enumerate(records):
            if type(rec) is dict and rec.get(key) is None:
                found = by_parent.pop(str(rec.get("id")), None)
                if found is not None:
                    records[i] = {**rec, key: found}
    return records


def orphan_notes(lines: dict[str, dict[Any, list]]) -> list[str]:
    """Notes for line pages whose parent record was not in the export (nothing of them is stored)."""
    notes = []
    for line_resource, by_parent in lines.items():
        orphans = [pid for pid, recs in by_parent.items() if recs]
        if orphans:
            n = sum(len(by_parent[p]) for p in orphans)
            parent = LINE_RESOURCES[line_resource][0]
            shown = ", ".join(orphans[:5]) + (" ..." if len(orphans) > 5 else "")
            notes.append(
                f"{line_resource}: {n} line(s) of {len(orphans)} {parent} record(s) not in this "
                f"export ({shown}); not loaded"
            )
    return notes


def group_lines(
    line_resource: str, records: list, context: dict, label: str
) -> tuple[dict[str, list], list[str]]:
    """Line records of one page by the id of their parent (from the page context or the line itself)."""
    _parent, _key, fk = LINE_RESOURCES[line_resource]
    groups: dict[str, list] = {}
    problems: list[str] = []
    default = context.get(fk)
    for i, rec in enumerate(records):
        pid = rec.get(fk) if type(rec) is dict else None
        if pid is None and type(rec) is dict and isinstance(rec.get("holder"), dict):
            pid = rec["holder"].get("id")
        pid = pid if pid is not None else default
        if pid is None:
            problems.append(
                f"{label} row {i + 1}: {fk}: missing value (no parent in the line or its request)"
            )
            continue
        groups.setdefault(str(pid), []).append(rec)
    if not records and default is not None:
        groups.setdefault(str(default), [])  # the parent has no lines now: stored lines go
    return groups, problems


def _get(rec: dict, path: str) -> Any:
    v: Any = rec
    for part in path.split("."):
        if not isinstance(v, dict):
            return None
        v = v.get(part)
    return v


def _set(rec: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    target = rec
    for part in parts[:-1]:
        nxt = target.get(part)
        if nxt is None:
            nxt = {}
        elif not isinstance(nxt, dict):
            return  # a wrong shape stays for the reader to report
        else:
            nxt = dict(nxt)
        target[part] = nxt
        target = nxt
    target[parts[-1]] = value


# -- ERP request payloads ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ErpAction:
    """A change an ERP request makes to stored Procore rows: ``link`` sets origin_id, ``unlink`` clears the
    link, ``delete`` removes the row. ``level`` narrows cost codes to 'standard' or 'project'.
    ``cost_code_of_budget_line`` fills a budget change row's cost code from the budget line item
    ``budget_line_item_id`` (a legacy budget modification names budget lines, not cost codes)."""

    action: str
    table: str
    id: int | str
    origin_id: str | None = None
    level: str | None = None
    request: str = ""
    budget_line_item_id: int | str | None = None


# -- users and their permission templates ------------------------------------------------------------------------
# Procore's access levels by name, and by number in a template's ``user_access_levels`` (0-3 in the order of
# Procore's UI: None, Read Only, Standard, Admin; the numbering is qbrecon's reading of the documented examples).
_LEVELS = ["none", "read_only", "standard", "admin"]
_TOOL_NAMES = {"prime_contracts": "prime_contract", "company_directory": "directory", "portfolio": "projects"}
ERP_TOOL = "erp_integrations"  # kept on the user (users.erp_integrations_permission), not per tool
_TEMPLATE_KEYS = ("company_permission_template_id", "default_permission_template_id")


def access_level(value: Any) -> Any:
    """A template's level (number or name, any case) as qbrecon names it; anything else as it came (reported)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and 0 <= value < len(_LEVELS):
        return _LEVELS[value]
    if isinstance(value, str):
        name = normalise_status(value)
        if name in _LEVELS:
            return name
        if value.strip().isdigit() and int(value) < len(_LEVELS):
            return _LEVELS[int(value)]
    return value


def templates_by_id(records: list) -> dict[str, dict]:
    """Permission templates by id (a template listed twice keeps its last copy)."""
    return {str(t.get("id")): t for t in records if isinstance(t, dict) and t.get("id") is not None}


def users_with_templates(users: list, templates: dict[str, dict]) -> tuple[list, list[dict], list[str]]:
    """Procore's company users with what qbrecon reads from their templates: the ERP Integrations level and the
    accounting privilege on the user (``erp_integrated_accountant``; the login is the email address when the
    record has none), and one ``user_tool_permissions`` record per user and tool (the higher level where both of
    a user's templates name a tool). Values a user already carries are kept."""
    out: list = []
    rows: list[dict] = []
    missing: set[str] = set()
    for rec in users:
        if type(rec) is not dict:
            out.append(rec)
            continue
        rec = dict(rec)
        if rec.get("login") is None and rec.get("email_address") is not None:
            rec["login"] = rec["email_address"]
        if rec.get("can_push_to_accounting") is None and "erp_integrated_accountant" in rec:
            rec["can_push_to_accounting"] = rec["erp_integrated_accountant"]
        levels: dict[str, Any] = {}
        for key in _TEMPLATE_KEYS:
            tid = rec.get(key)
            if tid is None:
                continue
            template = templates.get(str(tid))
            if template is None:
                missing.add(str(tid))
                continue
            access = template.get("user_access_levels")
            for tool, raw in access.items() if isinstance(access, dict) else ():
                name, level = _TOOL_NAMES.get(str(tool), str(tool)), access_level(raw)
                before = levels.get(name)
                if before is None or (
                    level in _LEVELS
                    and (before not in _LEVELS or _LEVELS.index(level) > _LEVELS.index(before))
                ):
                    levels[name] = level
        if ERP_TOOL in levels and rec.get("erp_integrations_permission") is None:
            rec["erp_integrations_permission"] = levels[ERP_TOOL]
        rows += [
            {"user": {"id": rec.get("id")}, "tool": tool, "level": level}
            for tool, level in levels.items()
            if tool in _PROCORE_TOOLS
        ]
        out.append(rec)
    notes = (
        [
            f"{PERMISSION_TEMPLATES}: users name permission template(s) {', '.join(sorted(missing))} the pull does "
            "not hold; their tool levels are not read"
        ]
        if missing
        else []
    )
    return out, rows, notes


_PROCORE_TOOLS = set(PROCORE_TOOLS)


# -- legacy budget modifications ---------------------------------------------------------------------------------
def budget_modifications_as_changes(records: list, label: str) -> tuple[list, list[ErpAction]]:
    """Budget modifications (``{id, from_budget_line_item_id, to_budget_line_item_id, transfer_amount, notes,
    origin_id, origin_data, ...}``) as budget change records, and the actions that give their lines a cost code.

    A modification is a transfer that Procore applied when it was made (it has no status: stored as approved).
    Procore represents the same transfer in budget changes as two adjustment lines sharing an adjustment number,
    +amount on the receiving line and -amount on the giving one; that is what is stored. A modification has one
    Procore id for both sides: the receiving line keeps it and the giving line is stored under its negative
    (Procore ids are positive, so it cannot meet a real adjustment line's id). The cost code of each side is the
    budget line item's, filled after the rows are written (``apply_erp_actions``)."""
    out: list = []
    actions: list[ErpAction] = []
    for i, rec in enumerate(records):
        if type(rec) is not dict:
            out.append(rec)  # the reader reports it
            continue
        mid = rec.get("id")
        try:
            from_id: Any = -int(mid) if not isinstance(mid, bool) else mid
        except (TypeError, ValueError):
            from_id = mid  # the reader reports the id
        amount = rec.get("transfer_amount")
        try:
            negative: Any = (
                str(-Decimal(str(amount).strip())) if type(amount) in (str, int, float) else amount
            )
        except (InvalidOperation, ValueError):
            negative = amount  # left as sent: the reader names the field
        header = {k: v for k, v in rec.items() if k not in _MODIFICATION_ONLY}
        notes = rec.get("notes")
        header.update(
            {
                "title": header.get("title", notes),
                "description": header.get("description", notes),
                "status": header.get("status") or "approved",
                "adjustment_line_items": [
                    {"id": mid, "adjustment_number": 1, "amount": amount, "description": notes},
                    {"id": from_id, "adjustment_number": 1, "amount": negative, "description": notes},
                ],
            }
        )
        out.append(header)
        where = f"{label} row {i + 1} (budget modification {mid})"
        for line_id, key in ((mid, "to_budget_line_item_id"), (from_id, "from_budget_line_item_id")):
            if rec.get(key) is not None:
                actions.append(
                    ErpAction(
                        "cost_code_of_budget_line",
                        "budget_changes",
                        line_id,
                        request=where,
                        budget_line_item_id=rec[key],
                    )
                )
    return out, actions


_MODIFICATION_ONLY = {"from_budget_line_item_id", "to_budget_line_item_id", "transfer_amount", "notes"}


@dataclass
class ErpPayloads:
    """Rows per API resource, actions and notes read from ERP request payloads."""

    records: dict[str, list[dict]] = field(default_factory=dict)
    contexts: dict[str, dict] = field(default_factory=dict)
    actions: list[ErpAction] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, resource: str, recs: list[dict]) -> None:
        self.records.setdefault(resource, []).extend(r for r in recs if isinstance(r, dict))


# Requests that ask the integrator to send data to Procore (nothing in them to load).
_ASKS = {
    "sync_standard_cost_codes",
    "sync_standard_categories",
    "sync_vendors",
    "sync_jobs",
    "sync_sub_jobs",
    "sync_commitments",
    "sync_commitment_change_orders",
    "sync_contract_payments",
    "sync_prime_contracts",
    "sync_metadata",
}
# Objects QuickBooks Desktop does not take (no table here): kept out with the reason.
_NOT_FOR_QBD = {
    "sub_job": "sub jobs are not supported for QuickBooks-integrated projects",
    "standard_categor": "only the 'Other' cost type is used with QuickBooks Desktop; cost types are not stored",
    "cost_type_assignment": "only the 'Other' cost type is used with QuickBooks Desktop; cost types are not stored",
    "prime_contract": "prime contracts do not sync with QuickBooks Desktop",
    "company_level_direct_cost": "direct costs (expenses) do not sync with QuickBooks Desktop",
    "budget": "budget exports carry QuickBooks-side ids only; budgets load from budget_line_items",
    # and what a pair declares of its own ERP payloads (``PairModule.erp_payload_notes``)
    **{marker: why for m in _pairs.registered() for marker, why in m.erp_payload_notes},
}


def is_erp_request(value: Any) -> bool:
    return isinstance(value, dict) and "request_name" in value


def read_erp_requests(payloads: list, label: str, out: ErpPayloads, context: dict | None = None) -> None:
    """Sort ERP request payloads into table rows, actions and notes (unknown request names become notes)."""
    for i, payload in enumerate(payloads):
        where = f"{label} request {i + 1}"
        if not is_erp_request(payload):
            out.notes.append(f"{where}: not an ERP request (no request_name); ignored")
            continue
        name = str(payload.get("request_name"))
        data = payload.get("request_data")
        ctx = dict(context or {})
        for k in ("project_id", "company_id"):
            if payload.get(k) is not None:
                ctx[k] = payload[k]
        _one_request(name, data, f"{where} ({name})", ctx, out)


def _one_request(name: str, data: Any, where: str, ctx: dict, out: ErpPayloads) -> None:
    d = data if isinstance(data, dict) else {}
    if name in _ASKS:
        out.notes.append(f"{where}: asks for data from QuickBooks; nothing to load")
        return
    for marker, reason in _NOT_FOR_QBD.items():
        if marker in name:
            out.notes.append(f"{where}: {reason}; skipped")
            return
    handler = _HANDLERS.get(name)
    if handler is None:
        out.notes.append(f"{where}: request not used by qbrecon; ignored")
        return
    handler(data, d, where, ctx, out)


def _project_with_context(rec: dict, ctx: dict) -> dict:
    return (
        rec
        if rec.get("project_id") is not None or "project_id" not in ctx
        else {**rec, "project_id": ctx["project_id"]}
    )


def _standard_cost_codes(data: Any, d: dict, where: str, ctx: dict, out: ErpPayloads) -> None:
    rows = data if isinstance(data, list) else d.get("standard_cost_codes") or []
    out.add(
        "cost_codes",
        [{**r, "cost_code_level": "standard", "project_id": None} for r in rows if isinstance(r, dict)],
    )


def _drop_standard_cost_codes(action: str):
    def handler(data: Any, d: dict, where: str, ctx: dict, out: ErpPayloads) -> None:
        rows = d.get("standard_cost_code_data_array") or d.get("standard_cost_codes") or []
        for r in rows:
            if isinstance(r, dict) and r.get("id") is not None:
                out.actions.append(ErpAction(action, "cost_codes", r["id"], level="standard", request=where))

    return handler


def _vendor(data: Any, d: dict, where: str, ctx: dict, out: ErpPayloads) -> None:
    if isinstance(d.get("vendor"), dict):
        out.add("vendors", [d["vendor"]])


def _link(table: str, key: str, many: str | None = None, level: str | None = None):
    def handler(data: Any, d: dict, where: str, ctx: dict, out: ErpPayloads) -> None:
        rows = d.get(many) if many else [d.get(key)]
        for r in rows or []:
            if isinstance(r, dict) and r.get("id") is not None:
                out.actions.append(ErpAction("link", table, r["id"], r.get("origin_id"), level, where))

    return handler


def _unlink(table: str, key: str, id_field: str = "id", level: str | None = None):
    def handler(data: Any, d: dict, where: str, ctx: dict, out: ErpPayloads) -> None:
        r = d.get(key) if key else d
        if isinstance(r, dict) and r.get(id_field) is not None:
            out.actions.append(ErpAction("unlink", table, r[id_field], level=level, request=where))

    return handler


def _merge_vendors(data: Any, d: dict, where: str, ctx: dict, out: ErpPayloads) -> None:
    _link("companies", "master_vendor")(data, d, where, ctx, out)
    merged = [str(r.get("id")) for r in d.get("source_vendors") or [] if isinstance(r, dict)]
    if merged:
        out.notes.append(
            f"{where}: vendors {', '.join(merged)} were merged into {d['master_vendor'].get('id')}"
        )


def _job(data: Any, d: dict, where: str, ctx: dict, out: ErpPayloads) -> None:
    job = d.get("job") if isinstance(d.get("job"), dict) else d.get("project")
    if not isinstance(job, dict):
        return
    out.add("projects", [job])
    codes = [
        {**c, "project_id": job.get("id"), "cost_code_level": "project"}
        for c in d.get("all_cost_codes") or []
        if isinstance(c, dict)
    ]
    out.add("cost_codes", codes)


def _sync_single_job(data: Any, d: dict, where: str, ctx: dict, out: ErpPayloads) -> None:
    extra = d.get("additional_job_data") or {}
    pid = extra.get("procore_project_id") if isinstance(extra, dict) else None
    if pid is not None and d.get("id") is not None:
        out.actions.append(ErpAction("link", "projects", pid, str(d["id"]), request=where))


def _delete_cost_codes(data: Any, d: dict, where: str, ctx: dict, out: ErpPayloads) -> None:
    if d.get("sub_job"):
        out.notes.append(f"{where}: {_NOT_FOR_QBD['sub_job']}; sub job cost codes are not stored")
    for r in d.get("cost_codes") or []:
        if isinstance(r, dict) and r.get("id") is not None:
            out.actions.append(ErpAction("delete", "cost_codes", r["id"], level="project", request=where))


def _requisitions(data: Any, d: dict, where: str, ctx: dict, out: ErpPayloads) -> None:
    """``create_requisitions``: the export batch of approved invoices, in the requisition API's field names."""
    rows = []
    for r in d.get("requisitions") or []:
        if not isinstance(r, dict):
            continue
        lines = [
            {
                "id": li.get("procore_requisition_item_id"),
                "item_type": _ITEM_TYPES.get(li.get("requisition_item_type")),
                "cost_code_id": li.get("cost_code_id"),
                "description_of_work": li.get("description"),
                "scheduled_value": li.get("scheduled_total_amount"),
                "work_completed_this_period": li.get("amount"),
                "work_completed_retainage_retained_this_period": li.get("retainage_this_period"),
                "work_completed_retainage_released_this_period": li.get(
                    "released_work_completed_this_period"
                ),
            }
            for li in r.get("line_items") or []
            if isinstance(li, dict)
        ]
        rec = {
            "id": r.get("procore_requisition_id"),
            "commitment_id": r.get("contract_id"),
            "invoice_number": r.get("invoice_number"),
            "billing_date": r.get("billing_date"),
            "created_at": r.get("created_at"),
            "project_id": r.get("project_id"),
            # only approved invoices are exported (Procore's ERP rule), and the payload has no status
            "status": r.get("status") or "approved",
            "contract_items": lines,
        }
        rows.append(_project_with_context(rec, ctx))
    out.add("requisitions", rows)


_ITEM_TYPES = {
    "Billings::ContractItem": "contract_item",
    "Billings::ContractDetailItem": "contract_detail_item",
    "Billings::ChangeOrderItem": "change_order_item",
}


def _commitment(data: Any, d: dict, where: str, ctx: dict, out: ErpPayloads) -> None:
    c = d.get("commitment")
    if not isinstance(c, dict):
        return
    items = d.get("commitment_items")
    rec = dict(c)
    if isinstance(items, list) and "line_items" not in rec:
        rec["line_items"] = items
    if "id" not in rec:  # create_commitment_in_procore: not in Procore yet
        out.notes.append(f"{where}: commitment without a Procore id (not created yet); nothing to load")
        return
    out.add("commitments", [rec])


def _change_order(data: Any, d: dict, where: str, ctx: dict, out: ErpPayloads) -> None:
    co = d.get("change_order")
    if not isinstance(co, dict):
        return
    commitment = d.get("commitment") if isinstance(d.get("commitment"), dict) else {}
    project = commitment.get("project") if isinstance(commitment.get("project"), dict) else {}
    rec = {**co, "line_items": d.get("change_order_items") or []}
    rec.setdefault("project_id", project.get("id", ctx.get("project_id")))
    out.add("commitment_change_orders", [rec])


def _payment(data: Any, d: dict, where: str, ctx: dict, out: ErpPayloads) -> None:
    p = next(
        (d[k] for k in ("contract_payment", "payment") if isinstance(d.get(k), dict)),
        d if "amount" in d else None,
    )
    if isinstance(p, dict):
        out.add("contract_payments", [_project_with_context(p, ctx)])


_HANDLERS = {
    "create_standard_cost_codes": _standard_cost_codes,
    "delete_standard_cost_codes": _drop_standard_cost_codes("delete"),
    "unlink_standard_cost_codes": _drop_standard_cost_codes("unlink"),
    "create_vendor": _vendor,
    "create_vendor_in_procore": _link("companies", "vendor"),
    "link_vendor": _link("companies", "vendor"),
    "link_all_vendors": _link("companies", "", many="vendors"),
    "merge_vendors": _merge_vendors,
    "unlink_vendor": _unlink("companies", "vendor"),
    "create_job_in_procore": _job,
    "create_or_update_job": _job,
    "reset_job": _unlink("projects", "project"),
    "sync_single_job": _sync_single_job,
    "delete_cost_codes": _delete_cost_codes,
    "create_requisitions": _requisitions,
    "reset_requisition": _unlink("invoices", "", "requisition_id"),
    "create_commitment": _commitment,
    "create_commitment_in_procore": _commitment,
    "unlink_commitment": _unlink("commitments", "", "procore_commitment_id"),
    "reset_commitment": _unlink("commitments", "", "procore_commitment_id"),
    "create_commitment_change_order": _change_order,
    "unlink_commitment_change_order": _unlink("change_orders", "", "procore_commitment_change_order_id"),
    "create_payment": _payment,
    "create_contract_payment": _payment,
    "reset_payment": _unlink("payments_issued", "", "payment_id"),
}

# API resource of each table (what ERP actions name) for the reader.
TABLE_OF_RESOURCE = {spec.meta["resource"]: name for name, spec in TABLES.items() if "resource" in spec.meta}


def _item_type(table: str, level: str | None) -> str | None:
    """The ERP queue item type of a table's rows (None: not a queue item, e.g. project cost codes)."""
    from ..entities import PAIRS

    for key, pair in PAIRS.items():
        if pair.procore_table == table and pair.link_column:
            if pair.row_filter and "standard" in pair.row_filter and level != "standard":
                continue
            return key
    return None


def apply_erp_actions(con: Any, actions: list[ErpAction]) -> list[str]:
    """Apply ERP request actions to the stored Procore rows (inside the load's transaction); what changed.

    ``link`` sets origin_id (a new origin_id clears the old origin_data: it described another QuickBooks
    record) and records qbrecon's link; ``unlink`` clears origin_id and origin_data, forgets qbrecon's link and
    shows the item as Unlinked (Procore unlinked it); ``delete`` removes the row and its link, for cost codes only
    at the level the request names. Rows not stored are reported, never invented. Each change is audited.
    """
    from .. import links

    notes: list[str] = []
    for a in actions:
        if a.action == "cost_code_of_budget_line":
            notes += _cost_code_of_budget_line(con, a)
            continue
        level = " AND cost_code_level = ?" if a.table == "cost_codes" and a.level else ""
        try:
            key = int(a.id)
        except (TypeError, ValueError):
            notes.append(f"{a.request}: {a.table} id {a.id!r} is not a Procore id; ignored")
            continue
        params: list = [key] + ([a.level] if level else [])
        where = f"id = ?{level}"
        found = con.execute(f'SELECT count(*) FROM "{a.table}" WHERE {where}', params).fetchall()[0][0]
        if not found:
            notes.append(f"{a.request}: {a.table} {key} is not in the workspace; nothing to {a.action}")
            continue
        item_type = _item_type(a.table, a.level)
        if item_type is not None and a.action in ("unlink", "delete"):
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _qbrecon_erp_rel AS SELECT ? AS item_type, ?::BIGINT AS procore_id",
                [item_type, key],
            )
            links.remove(con, "_qbrecon_erp_rel")
            con.execute("DROP TABLE _qbrecon_erp_rel")
        if a.action == "delete":
            con.execute(f'DELETE FROM "{a.table}" WHERE {where}', params)
        elif a.action == "unlink":
            con.execute(f'UPDATE "{a.table}" SET origin_id = NULL, origin_data = NULL WHERE {where}', params)
        else:
            con.execute(
                f'UPDATE "{a.table}" SET origin_data = CASE WHEN origin_id IS DISTINCT FROM ? THEN NULL '
                f"ELSE origin_data END, origin_id = ? WHERE {where}",
                [a.origin_id, a.origin_id, *params],
            )
        if item_type is not None:
            _queue_follows(con, a, item_type, key)
        notes.append(f"{a.request}: {a.action} {a.table} {key}")
    return notes


def _cost_code_of_budget_line(con: Any, a: ErpAction) -> list[str]:
    """A budget modification's side takes the cost code of the budget line item it moves money to or from."""
    try:
        line_id, item_id = int(a.id), int(a.budget_line_item_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return []  # the row itself was reported
    found = con.execute(
        "SELECT cost_code_id, cost_code_full_code FROM budget_line_items WHERE id = ?", [item_id]
    ).fetchall()
    if not found:
        return [
            f"{a.request}: budget line item {item_id} is not in the workspace; the cost code of budget change "
            f"line {line_id} is left empty (load the budget line items with or before the modifications)"
        ]
    con.execute(
        "UPDATE budget_changes SET cost_code_id = ?, cost_code_full_code = coalesce(cost_code_full_code, ?) "
        "WHERE id = ? AND cost_code_id IS NULL",
        [found[0][0], found[0][1], line_id],
    )
    return []


def _queue_follows(con: Any, a: ErpAction, item_type: str, key: int) -> None:
    """The ERP queue shows what Procore did: an unlinked item is Unlinked, a linked one Synced with its record."""
    from .. import links

    before = con.execute(
        "SELECT status FROM erp_items WHERE item_type = ? AND procore_id = ?", [item_type, key]
    ).fetchall()
    if a.action == "link" and a.origin_id:
        to = "synced"
        con.execute(
            """INSERT INTO erp_items (item_type, procore_id, status, quickbooks_id, attempts, updated_at)
               VALUES (?, ?, 'synced', ?, 0, now())
               ON CONFLICT (item_type, procore_id) DO UPDATE SET status = 'synced', quickbooks_id = excluded.quickbooks_id,
                   updated_at = now()""",
            [item_type, key, a.origin_id],
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _qbrecon_erp_rel AS SELECT ? AS item_type, ?::BIGINT AS procore_id,
                   ? AS quickbooks_id, NULL::VARCHAR AS edit_sequence, NULL::VARCHAR AS fingerprint,
                   NULL::BIGINT AS request_message_id, NULL::BIGINT AS response_message_id""",
            [item_type, key, a.origin_id],
        )
        links.record_links(con, "_qbrecon_erp_rel", "procore")
        con.execute("DROP TABLE _qbrecon_erp_rel")
    elif a.action in ("unlink", "delete") and before and before[0][0] == "synced":
        to = "unlinked"
        con.execute(
            "UPDATE erp_items SET status = 'unlinked', updated_at = now() WHERE item_type = ? AND procore_id = ?",
            [item_type, key],
        )
    else:
        return
    con.execute(
        """INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id, from_status,
                                  to_status, detail)
           VALUES (nextval('erp_audit_seq'), now(), NULL, 'Procore', ?, ?, ?, ?, ?, ?)""",
        [a.action, item_type, key, before[0][0] if before else None, to, f"Procore ERP request: {a.request}"],
    )
