"""Who is signed in to a dashboard session, and what the page lets them do.

Users, permissions and password hashes live in the workspace (Procore's Company Directory ``users`` table and
the settings module's password store); ``ws.authenticate_user`` checks the password. The page only hides or
disables what a user may not do: the ERP queue refuses it again (``PermissionDenied``), so the page is a
convenience, never the safeguard.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..lockout import LoginThrottle


@dataclass(frozen=True)
class DashboardUser:
    """A signed-in Procore user as the dashboard sees them."""

    id: int
    name: str
    login: str
    permission: str  # ERP Integrations tool permission: none / read_only / standard / admin
    can_push_to_accounting: bool

    @property
    def can_decide(self) -> bool:
        """An accounting approver: 'Standard' or 'Admin' on the ERP tool plus 'Can Push to Accounting'."""
        return self.permission in ("standard", "admin") and self.can_push_to_accounting

    @property
    def is_admin(self) -> bool:
        return self.permission == "admin"

    @property
    def role(self) -> str:
        label = {"admin": "Admin", "standard": "Standard", "read_only": "Read Only"}.get(
            self.permission, "None"
        )
        return f"{label}, accounting approver" if self.can_decide else f"{label}, read-only"

    @classmethod
    def from_row(cls, row: Any) -> DashboardUser:
        """From what ``ws.authenticate_user`` returns: a mapping, a pandas Series or a one-row frame."""
        if isinstance(row, pd.DataFrame):
            row = row.iloc[0]
        get = row.get if isinstance(row, Mapping | pd.Series) else lambda k, d=None: getattr(row, k, d)
        push = get("can_push_to_accounting", False)
        return cls(
            id=int(get("id")),
            name=str(get("name") or get("login")),
            login=str(get("login")),
            permission=str(get("erp_integrations_permission") or "none"),
            can_push_to_accounting=bool(push) if push is not None and push == push else False,
        )


def sign_in(ws: Any, login: str, password: str) -> DashboardUser | None:
    """The user when ``login``/``password`` match an active user of the workspace, else None."""
    if not login or not password:
        return None
    row = LoginThrottle.of(ws.store).attempt(  # brute-force throttling per login and per address
        "dashboard", login.strip(), _client_address(), lambda: ws.authenticate_user(login.strip(), password)
    )
    if row is None or (isinstance(row, pd.DataFrame | pd.Series) and row.empty):
        return None
    return DashboardUser.from_row(row)


def _client_address() -> str | None:
    """The signed-in browser's address (the Bokeh session's HTTP request), when served."""
    try:
        import panel as pn

        return pn.state.curdoc.session_context.request.remote_ip
    except Exception:  # not served (tests, notebooks): no address to count
        return None
