"""Who may do what in the ERP Integrations tool, as Procore's permissions matrix says.

An *accounting approver* has 'Standard' or 'Admin' on the company's ERP Integrations tool **and** the
"Can Push to Accounting" privilege. Approvers accept, reject, retry and unlink items, link vendors and import.
Configuring settings needs 'Admin'. Sending, retrieving and re-sending need no ERP tool permission at all
(any active user). Checks live here, in the library, so the CLI, the dashboard and notebooks all obey them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import PermissionDenied
from ..store import Store

LEVEL_LABELS = {"none": "None", "read_only": "Read Only", "standard": "Standard", "admin": "Admin"}


@dataclass(frozen=True)
class Requirement:
    levels: tuple[str, ...] | None  # ERP Integrations tool levels that may act; None = any active user
    can_push: bool  # also needs the "Can Push to Accounting" privilege
    label: str  # the action in the permissions matrix's words


APPROVER = ("standard", "admin")
ACTIONS: dict[str, Requirement] = {
    "send": Requirement(None, False, "Send items to ERP Integrations"),
    "resend": Requirement(None, False, "Re-send items to ERP Integrations"),
    "retrieve": Requirement(None, False, "Retrieve items from ERP Integrations"),
    "accept": Requirement(APPROVER, True, "Accept items for export to ERP"),
    "reject": Requirement(APPROVER, True, "Reject items for export to ERP"),
    "retry": Requirement(APPROVER, True, "Retry a failed export"),
    "unlink": Requirement(APPROVER, True, "Unlink items synced with ERP"),
    "link_vendor": Requirement(APPROVER, True, "Link ERP companies to Procore companies"),
    "import": Requirement(APPROVER, True, "Import from ERP"),
    "settings": Requirement(("admin",), False, "Configure Advanced Settings: ERP Integrations"),
    "view_accountant_report": Requirement(("admin",), False, "View an Accountant Report for ERP"),
}


def find_user(store: Store, by: int | str) -> dict:
    """The ``users`` row for a user id, login or e-mail address (case-insensitive); ``PermissionDenied`` if
    unknown or ambiguous."""
    if by is None:
        raise PermissionDenied("no user given: pass by=<user id or login>")
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
    return user


def missing(user: dict, action: str) -> list[str]:
    """What ``user`` lacks for ``action`` (empty when allowed)."""
    req = ACTIONS[action]
    lacks = []
    if not user["is_active"]:
        lacks.append("an active Company Directory account")
    if req.levels is not None and user["erp_integrations_permission"] not in req.levels:
        wanted = " or ".join(f"'{LEVEL_LABELS[lv]}'" for lv in req.levels)
        have = LEVEL_LABELS.get(user["erp_integrations_permission"], user["erp_integrations_permission"])
        lacks.append(f"{wanted} on the ERP Integrations tool (has '{have}')")
    if req.can_push and not user["can_push_to_accounting"]:
        lacks.append("the 'Can Push to Accounting' privilege")
    return lacks


def require(store: Store, by: int | str, action: str) -> dict:
    """The acting user's row if they may do ``action``; otherwise ``PermissionDenied`` naming what is missing."""
    user = find_user(store, by)
    lacks = missing(user, action)
    if lacks:
        raise PermissionDenied(
            f"user {user['login']} (id {user['id']}, {user['name']}) may not {ACTIONS[action].label.lower()}: "
            f"needs {' and '.join(lacks)}"
        )
    return user


def is_approver(user: dict) -> bool:
    return not missing(user, "accept")
