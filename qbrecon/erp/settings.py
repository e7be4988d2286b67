"""ERP Integrations settings ("Configure Advanced Settings") and stored credentials.

Settings live in ``erp_settings`` (one JSON value per key); every change writes an ``erp_audit`` row with the
admin who made it (secrets masked). Passwords are never stored in plain text: the Web Connector service
password and the dashboard sign-in passwords are scrypt hashes with a per-password random salt, checked in
constant time. (The SMTP password is the exception: it has to be replayed to the mail server, so it is stored
as given and masked everywhere it is shown; protect the workspace file accordingly.)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, PermissionDenied, SettingMissing
from ..pairs.cost_code import ITEM_TYPE as COST_CODE
from ..store import Store, register_tables
from ..vault import seal, unseal
from . import permissions
from .states import STATUSES  # noqa: F401  (erp_audit must be registered before settings audit into it)

register_tables(
    """CREATE TABLE IF NOT EXISTS erp_settings (
        key VARCHAR PRIMARY KEY, value VARCHAR, updated_by BIGINT, updated_at TIMESTAMPTZ)""",
    """CREATE TABLE IF NOT EXISTS user_credentials (
        user_id BIGINT PRIMARY KEY, password_hash VARCHAR NOT NULL, updated_at TIMESTAMPTZ)""",
)


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str  # bool | choice | text | int | password_hash | secret | item | system
    default: Any = None
    choices: tuple[str, ...] = ()
    label: str = ""


SCHEDULES = ("every_15_minutes", "hourly", "every_2_hours", "every_4_hours", "daily", "never")
# What each sync schedule makes the Web Connector do: its Scheduler's RunEveryNMinutes in the .qwc (None: no
# automatic updates, only when the QuickBooks user clicks Update Selected).
SCHEDULE_MINUTES: dict[str, int | None] = {
    "every_15_minutes": 15,
    "hourly": 60,
    "every_2_hours": 120,
    "every_4_hours": 240,
    "daily": 1440,
    "never": None,
}
DIRECT_COST_SOURCES = ("read_only_from_quickbooks", "editable_from_procore")

SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in [
        # Connection Settings (the Web Connector service updates the status fields)
        Setting("service_url", "text", None, label="Service URL"),
        Setting("service_user", "text", None, label="Service User"),
        Setting("service_password", "password_hash", None, label="Service Password"),
        Setting("connection_status", "system", "not_connected", ("connected", "not_connected"), "Status"),
        Setting("last_contact", "system", None, label="Last contact"),
        Setting("last_error", "system", None, label="Last error"),
        # General Settings
        Setting("use_procore_contract_number", "bool", True, label="Use Procore Contract #"),
        Setting(
            "auto_add_cost_codes_to_budgets",
            "bool",
            False,
            label="Automatically Add New Cost Codes to Budgets on QuickBooks-Integrated Projects",
        ),
        Setting(
            "budget_direct_cost_source",
            "choice",
            "read_only_from_quickbooks",
            DIRECT_COST_SOURCES,
            "Procore's Budget Direct Cost Columns",
        ),
        Setting("hide_job_to_date_costs", "bool", False, label="Hide Job To Date Costs Column on the Budget"),
        Setting("vendor_auto_update", "bool", True, label="Vendors will be Automatically Updated"),
        Setting("invoice_retainage_item", "item", None, label="Invoice Retainage Item"),
        Setting("sync_schedule", "choice", "hourly", SCHEDULES, "Sync schedule"),
        Setting("direct_export", "bool", False, label="ERP Direct Exports"),
        Setting(
            "sync_bill_payments",
            "bool",
            False,
            label="Sync QuickBooks Bill Payments with Payments Issued in Commitments (US editions only)",
        ),
        Setting("service_item_expense_account", "text", None, label="Expense account for new service items"),
        Setting("service_item_income_account", "text", None, label="Income account for new service items"),
        # Outgoing mail (rejection notices, daily summary)
        Setting("smtp_host", "text", None, label="SMTP host"),
        Setting("smtp_port", "int", 25, label="SMTP port"),
        Setting("smtp_starttls", "bool", False, label="SMTP STARTTLS"),
        Setting("smtp_username", "text", None, label="SMTP user"),
        Setting("smtp_password", "secret", None, label="SMTP password"),
        Setting("smtp_from", "text", "qbrecon@localhost", label="From address"),
        Setting("smtp_timeout", "int", 10, label="SMTP timeout (seconds)"),
    ]
}

MASK = "********"

# -- password hashing --------------------------------------------------------------------------------------
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` with a fresh 16-byte salt."""
    if not isinstance(password, str) or len(password) < 8:
        raise InputError("a password needs at least 8 characters", field="password")
    salt = secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${dk.hex()}"


_DUMMY_HASH = None


def verify_password(password: str, stored: str | None) -> bool:
    """Constant-time check of ``password`` against a stored hash (a missing hash still costs one scrypt)."""
    global _DUMMY_HASH
    if stored is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(secrets.token_hex(8))
        stored, real = _DUMMY_HASH, False
    else:
        real = True
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        dk = hashlib.scrypt(
            str(password).encode(),
            salt=bytes.fromhex(salt),
            dklen=len(expected) // 2,
            n=int(n),
            r=int(r),
            p=int(p),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(dk.hex(), expected) and real


# -- reading and validating ---------------------------------------------------------------------------------
def read_settings(store: Store, *, mask: bool = True) -> dict[str, Any]:
    """Every setting with its default filled in; secrets masked unless ``mask=False``."""
    return settings_from_rows(store.execute("SELECT key, value FROM erp_settings").fetchall(), mask=mask)


def settings_from_rows(rows: Iterable[Sequence[Any]], *, mask: bool = True) -> dict[str, Any]:
    """``read_settings`` from the (key, value) rows of ``erp_settings`` as read (the export ledger reads them with
    its other per-message-set flags, in one statement)."""
    values = {name: s.default for name, s in SETTINGS.items()}
    for key, value in rows:
        if key in SETTINGS:
            values[key] = json.loads(value) if value is not None else None
            if not mask and SETTINGS[key].kind == "secret":
                values[key] = unseal(values[key], key)  # stored encrypted (qbrecon.vault)
    if mask:
        for name, s in SETTINGS.items():
            if s.kind in ("password_hash", "secret") and values[name]:
                values[name] = MASK
    return values


def get_setting(store: Store, name: str) -> Any:
    return read_settings(store, mask=False)[name]


def require_setting(store: Store, name: str, why: str) -> Any:
    value = get_setting(store, name)
    if value in (None, ""):
        raise SettingMissing(
            f"setting {name!r} ({SETTINGS[name].label}) is not set: {why}. "
            f"An ERP admin sets it with: qbrecon settings set {name}=..."
        )
    return value


def _coerce(store: Store, name: str, value: Any) -> Any:
    if name not in SETTINGS:
        raise InputError(f"unknown setting; known: {', '.join(sorted(SETTINGS))}", field=name)
    s = SETTINGS[name]
    if s.kind == "system":
        raise InputError("set by the Web Connector service, not by hand", field=name)
    if value is None or value == "":
        return None
    if s.kind == "bool":
        if isinstance(value, str):
            low = value.strip().lower()
            if low in ("true", "yes", "on", "1"):
                return True
            if low in ("false", "no", "off", "0"):
                return False
            raise InputError(f"expected true/false, got {value!r}", field=name)
        if isinstance(value, bool):
            return value
        raise InputError(f"expected true/false, got {value!r}", field=name)
    if s.kind == "int":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise InputError(f"expected a whole number, got {value!r}", field=name) from None
    if s.kind == "choice":
        text = str(value).strip().lower()
        if text not in s.choices:
            raise InputError(f"expected one of {', '.join(s.choices)}, got {value!r}", field=name)
        return text
    if s.kind == "password_hash":
        return hash_password(str(value))
    if s.kind == "item":
        return _retainage_item(store, str(value), name)
    return str(value)


def _retainage_item(store: Store, ref: str, name: str) -> dict:
    """A plain Service item (by ListID or FullName) that is not a synced cost code."""
    rows = store.execute(
        """SELECT "ListID", "FullName", "ItemType" FROM items WHERE "ListID" = ? OR lower("FullName") = lower(?)""",
        [ref, ref],
    ).fetchall()
    if not rows:
        raise InputError(
            f"no QuickBooks item {ref!r} in the loaded items list; create a Service item "
            "(e.g. 'Retainage') in QuickBooks, then refresh the item list",
            field=name,
        )
    if len(rows) > 1:
        raise InputError(f"{ref!r} matches {len(rows)} items; give its ListID", field=name)
    list_id, full_name, item_type = rows[0]
    if str(item_type or "").lower().removeprefix("item") != "service":
        raise InputError(f"item {full_name!r} is a {item_type}, not a Service item", field=name)
    linked = (
        store.execute(
            """SELECT count(*) FROM cost_codes WHERE origin_id = ? OR origin_id LIKE '%|' || ?""",
            [list_id, list_id],
        ).fetchall()[0][0]
        + store.execute(
            "SELECT count(*) FROM erp_items WHERE item_type = ? AND quickbooks_id = ?", [COST_CODE, list_id]
        ).fetchall()[0][0]
    )
    if linked:
        raise InputError(
            f"item {full_name!r} is a synced cost code; the retainage item must be a plain Service item",
            field=name,
        )
    return {"ListID": list_id, "FullName": full_name}


def write_settings(
    store: Store, values: dict[str, Any], actor: dict | None, action: str = "update_settings"
) -> dict:
    """Validate and store ``values`` in one transaction with an audit row. Returns the masked change."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if key == "smtp" and isinstance(value, dict):  # smtp={"host":..., "port":...}
            flat.update({f"smtp_{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    coerced = {k: _coerce(store, k, v) for k, v in flat.items()}
    if coerced.get("sync_bill_payments") and quickbooks_country(store) not in (None, "US"):
        raise InputError(
            f"syncing QuickBooks Desktop bill payments is supported with the U.S. edition only; this company's "
            f"Web Connector reports the {quickbooks_country(store)} edition",
            field="sync_bill_payments",
        )
    return _store_values(store, coerced, actor, action)


COUNTRY_KEY = "quickbooks.country"  # qbXMLCountry the Web Connector last reported (US, CA, UK)


def quickbooks_country(store: Store) -> str | None:
    """The QuickBooks edition's country as the Web Connector last reported it (None until a session ran)."""
    value = store.scalar("SELECT value FROM qbrecon_meta WHERE key = ?", [COUNTRY_KEY])
    return str(value).upper() if value else None


def _store_values(store: Store, coerced: dict[str, Any], actor: dict | None, action: str) -> dict:
    shown = {
        k: (MASK if SETTINGS[k].kind in ("password_hash", "secret") and v else v) for k, v in coerced.items()
    }
    coerced = {
        k: seal(v) if SETTINGS[k].kind == "secret" else v for k, v in coerced.items()
    }  # encrypted at rest
    with store.transaction() as con:
        for key, value in coerced.items():
            con.execute(
                "INSERT OR REPLACE INTO erp_settings VALUES (?, ?, ?, now())",
                [key, None if value is None else json.dumps(value), actor["id"] if actor else None],
            )
        con.execute(
            """INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id, detail)
               VALUES (nextval('erp_audit_seq'), now(), ?, ?, ?, 'settings', 0, ?)""",
            [
                actor["id"] if actor else None,
                actor["name"] if actor else "qbrecon",
                action,
                json.dumps(shown, default=str),
            ],
        )
    return shown


class SettingsService:
    """ERP settings, the Web Connector service account and dashboard sign-ins over one store (``ws.erp_settings``;
    the Workspace delegates ``ws.settings``, ``ws.update_settings``...)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def settings(self) -> dict[str, Any]:
        """Every ERP setting (defaults filled in, secrets masked)."""
        return read_settings(self.store)

    def update_settings(self, *, by: int | str, **values: Any) -> dict[str, Any]:
        """Change settings (ERP 'Admin' only); all values are validated before any is stored."""
        actor = permissions.require(self.store, by, "settings")
        return write_settings(self.store, values, actor)

    def set_service_credentials(self, user: str, password: str, *, by: int | str | None = None) -> None:
        """The Web Connector service account (password stored as an scrypt hash)."""
        actor = permissions.require(self.store, by, "settings") if by is not None else None
        if not user or not str(user).strip():
            raise InputError("the service user may not be empty", field="service_user")
        _store_values(
            self.store,
            {"service_user": str(user).strip(), "service_password": hash_password(password)},
            actor,
            "set_service_credentials",
        )

    def check_service_password(self, user: str, password: str) -> bool:
        """True when ``user``/``password`` match the stored service account (constant time)."""
        values = read_settings(self.store, mask=False)
        stored_user = values["service_user"] or ""
        user_ok = hmac.compare_digest(str(user or "").encode(), stored_user.encode())
        return verify_password(password or "", values["service_password"]) and user_ok and bool(stored_user)

    def record_quickbooks_country(self, country: str | None) -> None:
        """Remember the edition the Web Connector reports (``qbXMLCountry`` of sendRequestXML)."""
        if country and str(country).strip():
            self.store.execute(
                "INSERT OR REPLACE INTO qbrecon_meta VALUES (?, ?)",
                [COUNTRY_KEY, str(country).strip().upper()],
            ).fetchall()

    def record_service_contact(self, ok: bool, error: str | None = None) -> None:
        """The Web Connector service reports each contact: connected / not connected, and the last error."""
        coerced = {"connection_status": "connected" if ok else "not_connected", "last_error": error}
        with self.store.transaction() as con:
            for key, value in coerced.items():
                con.execute(
                    "INSERT OR REPLACE INTO erp_settings VALUES (?, ?, NULL, now())",
                    [key, None if value is None else json.dumps(value)],
                )
            con.execute("""INSERT OR REPLACE INTO erp_settings
                           SELECT 'last_contact', to_json(strftime(now(), '%Y-%m-%dT%H:%M:%S%z'))::VARCHAR,
                                  NULL, now()""")

    def set_tool_permissions(
        self, user: int | str, levels: dict[str, str], *, by: int | str
    ) -> dict[str, str]:
        """A user's levels on Procore tools other than ERP Integrations (``{"commitments": "admin"}``), which the
        permissions matrix reads for sending items; ERP 'Admin' only. Returns the user's levels now."""
        return permissions.set_tool_permissions(self.store, user, levels, by=by)

    # -- dashboard sign-in ----------------------------------------------------------------------------
    def set_user_password(self, user: int | str, password: str, *, by: int | str | None = None) -> None:
        """Set a dashboard sign-in password for a Company Directory user (scrypt hash)."""
        if by is not None:
            permissions.require(self.store, by, "settings")
        row = permissions.find_user(self.store, user)
        digest = hash_password(password)
        with self.store.transaction() as con:
            con.execute("INSERT OR REPLACE INTO user_credentials VALUES (?, ?, now())", [row["id"], digest])
            con.execute(
                """INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id)
                   VALUES (nextval('erp_audit_seq'), now(), ?, ?, 'set_user_password', 'user', ?)""",
                [row["id"], row["name"], row["id"]],
            )

    def authenticate_user(self, login: str, password: str) -> dict | None:
        """The user's row when ``login``/``password`` are right and the user is active; else None."""
        try:
            row = permissions.find_user(self.store, str(login or "").strip() or "\0")
        except PermissionDenied:  # unknown user: still spend one hash so timing does not reveal it
            verify_password(password or "", None)
            return None
        stored = self.store.execute(
            "SELECT password_hash FROM user_credentials WHERE user_id = ?", [row["id"]]
        ).fetchall()
        ok = verify_password(password or "", stored[0][0] if stored else None)
        return row if ok and row["is_active"] else None
