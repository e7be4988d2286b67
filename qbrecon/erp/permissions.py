"""Who may do what, as Procore's ERP Integrations permissions matrix (seed 001) says, held as data.

``MATRIX`` is the matrix: one row per action, naming the tool whose permission level counts, the levels that
may act, whether the "Can Push to Accounting" privilege is also needed, and the additional tool permissions
some rows accept instead (the reports). Every path (Python API, CLI, dashboard, Web Connector service) reaches
the workspace methods, and those call ``require`` / ``require_items`` here, so the matrix is enforced once.

- An *accounting approver* has 'Standard' or 'Admin' on the company's ERP Integrations tool **and** the
  "Can Push to Accounting" privilege. Rows checked for 'Standard' and 'Admin' are approver actions.
- Sending, retrieving and re-sending need no ERP Integrations permission but 'Admin' on the tool where the
  item lives (``ITEM_TOOL``: Projects for a project, Commitments for a commitment, CCO or invoice, ...).
- The ERP Integrations level and the privilege are columns of Procore's ``users`` table; the other tools'
  levels (Procore keeps them per permission template) are in ``user_tool_permissions``, loaded with the Procore
  export (``user_tool_permissions.json``) or set by an ERP admin (``ws.set_tool_permissions`` / ``qbrecon user
  tools``). A tool with no row is 'None'.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .. import pairs as _pairs
from ..errors import InputError, PermissionDenied
from ..schemas.procore import PROCORE_TOOLS
from ..store import Store

LEVELS = ("none", "read_only", "standard", "admin")  # ordered: a higher level includes the lower ones
LEVEL_LABELS = {"none": "None", "read_only": "Read Only", "standard": "Standard", "admin": "Admin"}

ERP = "erp_integrations"
ITEM = "item"  # "the tool where the item is located"
TOOLS = {
    ERP: "ERP Integrations",
    "directory": "Directory",
    "admin": "Admin",
    "projects": "Projects",
    "budget": "Budget",
    "commitments": "Commitments",
    "prime_contract": "Prime Contract",
    "reports": "Reports",
    "timesheets": "Timesheets",
}
assert set(TOOLS) - {ERP} == set(PROCORE_TOOLS)
# The Procore tool each exportable item lives in (where "send to ERP" is done).
ITEM_TOOL: dict[str, str] = {}  # filled from the pair modules below

ANY = ("none", "read_only", "standard", "admin")
READ = ("read_only", "standard", "admin")
APPROVER = ("standard", "admin")
ADMIN = ("admin",)
# Project-level report access: 'Read Only' or above on Reports AND ('Admin' on Budget OR on Prime Contract).
PROJECT_REPORTS = (
    (("reports", "read_only"), ("budget", "admin")),
    (("reports", "read_only"), ("prime_contract", "admin")),
)


@dataclass(frozen=True)
class Rule:
    """One row of the permissions matrix."""

    label: str  # the action in the matrix's words
    tool: str | None  # whose level counts: ERP, ITEM (the item's own tool) or None (only ``alternatives``)
    levels: tuple[str, ...]  # levels of that tool that may act
    can_push: bool = False  # also needs the "Can Push to Accounting" privilege
    alternatives: tuple[
        tuple[tuple[str, str], ...], ...
    ] = ()  # or: all of (tool, at least level) in any group
    applies: str = "yes"  # "yes", or why a toolkit for QuickBooks Desktop has no such action


def _approver(label: str, applies: str = "yes") -> Rule:
    return Rule(label, ERP, APPROVER, True, applies=applies)


def _admin(label: str, applies: str = "yes") -> Rule:
    return Rule(label, ERP, ADMIN, applies=applies)


_NO_PRIME = "QuickBooks Desktop has no prime contracts or owner invoices in this connector"
_NO_SUB_JOBS = (
    "Procore's QuickBooks Desktop connector does not support sub jobs (see refresh: sub jobs kept out)"
)
MATRIX: dict[str, Rule] = {
    "accept_pcco": _approver("Accept or Reject a PCCO for Export to ERP", _NO_PRIME),
    "accept_sub_job": _approver("Accept or Reject a Sub Job for Export to ERP", _NO_SUB_JOBS),
    "add_project_to_erp": _approver("Add a Procore Project to your ERP System"),
    "import_company": _approver("Add an ERP Company to the Procore Company Directory"),
    "import_job": _admin("Add an ERP Job to Procore"),
    "archive_company": _approver("Archive an ERP Company in Procore"),
    "assign_cost_types": _approver("Assign Default Cost Types To ERP Standard Cost Codes"),
    "settings": _admin("Configure Advanced Settings: ERP Integrations"),
    "sync_schedule": _admin("Configure the Sync Schedule for your ERP Integration"),
    "direct_export": _admin("Enable or Disable ERP Direct Exports"),
    "import_budget": _approver("Import a Budget from ERP"),
    "import_prime_contract": _approver(
        "Import a Prime Contract from an Integrated ERP System into Procore", _NO_PRIME
    ),
    "import_sub_job": _approver("Import an ERP Sub Job to a Procore Project", _NO_SUB_JOBS),
    "link_vendor": _admin("Link ERP Companies to Procore Companies"),
    "refresh_companies": _admin("Refresh the Companies List for ERP"),
    "refresh_cost_codes": _admin("Refresh the Cost Codes on an ERP Integrated Project"),
    "send": Rule(
        "Send, Retrieve, or Resend Items to ERP Integrations for Accounting Acceptance", ITEM, ADMIN
    ),
    "sync_job_costs": _admin("Sync Job Cost Transactions from an Integrated ERP into Procore"),
    "sync_paid_invoices": _admin("Sync Paid Invoice Notifications from ERP into Procore"),
    "unlink_pcco": _approver("Unlink PCCOs Synced with ERP", _NO_PRIME),
    "view_sub_jobs": Rule("View a List of Synced Sub Jobs", ERP, APPROVER, applies=_NO_SUB_JOBS),
    "view_accountant_report": _admin("View an Accountant Report for ERP"),
    "view_job_costs": _admin("View an ERP Job Costs Report"),  # company level
    "view_job_costs_project": Rule("View an ERP Job Costs Report", ERP, ADMIN, alternatives=PROJECT_REPORTS),
    "view_unsyncable": Rule(
        "View an ERP Unsyncable Direct Costs Report", None, (), alternatives=PROJECT_REPORTS
    ),
    "view_archived_companies": Rule("View the Archived Companies List for ERP", ERP, READ),
}
# A pair module's item lives in its Procore tool, and the pair declares its own rows of the matrix (accept or
# reject, unlink: approver actions). The matrix stays in Procore's order, by label.
for _m in _pairs.registered():
    ITEM_TOOL[_m.item_type] = _m.procore_tool
    for _key, _label in _m.approver_rows:
        if _key in MATRIX:
            raise ValueError(f"permissions matrix row {_key!r} is declared twice (pair {_m.item_type!r})")
        MATRIX[_key] = _approver(_label)
MATRIX = dict(sorted(MATRIX.items(), key=lambda row: row[1].label))

_DECISION = {
    "accept": _approver("Accept or Reject items for Export to ERP"),
    "unlink": _approver("Unlink items Synced with ERP"),
}
# The decision verbs of the queue: one matrix row per item type (accept and reject share a row; so do
# send, retrieve and resend).
_PER_ITEM = {"accept": "accept", "reject": "accept", "retry": "accept", "unlink": "unlink"}
ALIASES = {"resend": "send", "retrieve": "send", "import": "import_company"}
VERB_LABELS = {
    "send": "send",
    "resend": "re-send",
    "retrieve": "retrieve",
    "accept": "accept",
    "reject": "reject",
    "retry": "retry the export of",
    "unlink": "unlink",
}


def rule_for(action: str, item_type: str | None = None) -> tuple[str, Rule]:
    """The matrix row for ``action`` (a matrix key, an alias, or a queue verb with its item type)."""
    if action in _PER_ITEM:
        key = f"{_PER_ITEM[action]}_{item_type}"
        # time entries (and a check before the selection is known) have no row of their own: approver rule
        return (key, MATRIX[key]) if key in MATRIX else (_PER_ITEM[action], _DECISION[_PER_ITEM[action]])
    key = ALIASES.get(action, action)
    if key not in MATRIX:
        raise InputError(f"unknown action; known: {', '.join(sorted(MATRIX))}", field="action")
    return key, MATRIX[key]


def find_user(store: Store, by: int | str) -> dict:
    """The ``users`` row for a user id, login or e-mail address (case-insensitive), with its tool levels
    (``tools``); ``PermissionDenied`` if unknown or ambiguous."""
    if by is None:
        raise PermissionDenied("no user given: pass by=<user id or login>")
    if isinstance(by, dict):
        by = by["id"]
    if isinstance(by, int) or (isinstance(by, str) and by.strip().isdigit()):
        where, param = "id = ?", int(by)
    else:
        where, param = "lower(login) = lower($1) OR lower(email_address) = lower($1)", str(by).strip()
    rows = store.frame(
        f"""SELECT id, name, login, email_address, coalesce(is_active, true) AS is_active,
                   coalesce(erp_integrations_permission, 'none') AS erp_integrations_permission,
                   coalesce(can_push_to_accounting, false) AS can_push_to_accounting
            FROM users WHERE {where}""",
        [param],
    )
    if rows.empty:
        raise PermissionDenied(f"unknown user {by!r}: not in the Company Directory (users table)")
    if len(rows) > 1:
        raise PermissionDenied(f"user {by!r} matches {len(rows)} users; give the user id")
    user = {k: (None if v is None else v) for k, v in rows.iloc[0].to_dict().items()}
    user["id"] = int(user["id"])
    user["is_active"] = bool(user["is_active"])
    user["can_push_to_accounting"] = bool(user["can_push_to_accounting"])
    user["tools"] = dict(
        store.execute(
            "SELECT tool, level FROM user_tool_permissions WHERE user_id = ?", [user["id"]]
        ).fetchall()
    )
    return user


def level(user: dict, tool: str) -> str:
    """The user's permission level on ``tool`` ('none' when not granted)."""
    if tool == ERP:
        return user.get("erp_integrations_permission") or "none"
    return (user.get("tools") or {}).get(tool, "none")


def _at_least(user: dict, tool: str, minimum: str) -> bool:
    return LEVELS.index(level(user, tool)) >= LEVELS.index(minimum)


def _levels_text(levels: tuple[str, ...]) -> str:
    return " or ".join(f"'{LEVEL_LABELS[lv]}'" for lv in levels)


def missing(user: dict, action: str, item_type: str | None = None) -> list[str]:
    """What ``user`` lacks for ``action`` on an item of ``item_type`` (empty when allowed)."""
    _, rule = rule_for(action, item_type)
    lacks = []
    if not user["is_active"]:
        lacks.append("an active Company Directory account")
    tool = ITEM_TOOL.get(item_type or "", None) if rule.tool == ITEM else rule.tool
    if rule.tool == ITEM and tool is None:
        raise InputError(f"no Procore tool is known for item type {item_type!r}", field="item_type")
    main: list[str] = []
    if tool is not None and level(user, tool) not in rule.levels:
        have = LEVEL_LABELS.get(level(user, tool), level(user, tool))
        main.append(f"{_levels_text(rule.levels)} on the {TOOLS[tool]} tool (has '{have}')")
    if rule.can_push and not user["can_push_to_accounting"]:
        main.append("the 'Can Push to Accounting' privilege")
    if tool is None or (main and rule.alternatives):
        if any(all(_at_least(user, t, lv) for t, lv in group) for group in rule.alternatives):
            main = []
        elif rule.alternatives:
            options = [
                " and ".join(f"at least '{LEVEL_LABELS[lv]}' on the {TOOLS[t]} tool" for t, lv in group)
                for group in rule.alternatives
            ]
            main = [(" and ".join(main) + ", or " if main else "") + " or ".join(f"({o})" for o in options)]
    return lacks + main


def _denied(user: dict, what: str, lacks: list[str]) -> PermissionDenied:
    return PermissionDenied(
        f"user {user['login']} (id {user['id']}, {user['name']}) may not {what}: needs {' and '.join(lacks)}"
    )


def require(store: Store, by: int | str, action: str, item_type: str | None = None) -> dict:
    """The acting user's row if they may do ``action``; otherwise ``PermissionDenied`` naming what is missing.

    For the queue verbs (send, accept, ...) without ``item_type`` only the account is checked here: the
    items' own rows are checked by ``require_items`` once the selection is known."""
    user = find_user(store, by)
    if action in _PER_ITEM or MATRIX.get(ALIASES.get(action, action), Rule("", None, ())).tool == ITEM:
        if item_type is None:
            if not user["is_active"]:
                raise _denied(user, VERB_LABELS.get(action, action), ["an active Company Directory account"])
            return user
    key, rule = rule_for(action, item_type)
    lacks = missing(user, action, item_type)
    if lacks:
        raise _denied(
            user, rule.label[0].lower() + rule.label[1:] + (f" ({item_type})" if item_type else ""), lacks
        )
    return user


def require_items(user: dict, action: str, item_types: Iterable[str]) -> None:
    """Refuse a queue decision (send, resend, retrieve, accept, reject, retry, unlink) unless ``user`` may do
    it for every item type in the selection; the message names each type and what is missing."""
    problems = []
    for item_type in sorted({str(t) for t in item_types}):
        lacks = missing(user, action, item_type)
        if lacks:
            problems.append(f"{item_type}s: {' and '.join(lacks)}")
    if problems:
        raise _denied(user, f"{VERB_LABELS.get(action, action)} these items", ["; ".join(problems)])


def is_approver(user: dict) -> bool:
    return user["is_active"] and level(user, ERP) in APPROVER and user["can_push_to_accounting"]


def set_tool_permissions(store: Store, user: int | str, levels: dict[str, str], *, by: int | str) -> dict:
    """Set ``user``'s level on Procore tools (``{"commitments": "admin", ...}``; 'none' removes the grant);
    ERP Integrations 'Admin' only. The ERP Integrations level itself comes from the Procore users table."""
    actor = require(store, by, "settings")
    target = find_user(store, user)
    for tool, lv in levels.items():
        if tool not in TOOLS or tool == ERP:
            known = ", ".join(t for t in TOOLS if t != ERP)
            raise InputError(
                f"unknown tool {tool!r}; known: {known} (ERP Integrations comes from Procore)", field="tool"
            )
        if lv not in LEVELS:
            raise InputError(f"level for {tool} must be one of {', '.join(LEVELS)}, got {lv!r}", field=tool)
    with store.transaction() as con:
        for tool, lv in levels.items():
            con.execute(
                "DELETE FROM user_tool_permissions WHERE user_id = ? AND tool = ?", [target["id"], tool]
            )
            if lv != "none":
                con.execute(
                    "INSERT INTO user_tool_permissions (user_id, tool, level, _source_file, _loaded_at) "
                    "VALUES (?, ?, ?, 'qbrecon user tools', now())",
                    [target["id"], tool, lv],
                )
        con.execute(
            """INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id, detail)
               VALUES (nextval('erp_audit_seq'), now(), ?, ?, 'set_tool_permissions', 'user', ?, ?)""",
            [
                actor["id"],
                actor["name"],
                target["id"],
                ", ".join(f"{t}={lv}" for t, lv in sorted(levels.items())),
            ],
        )
    return find_user(store, target["id"])["tools"]
