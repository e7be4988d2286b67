"""ERP settings: validation, audit, hashed credentials."""

from __future__ import annotations

import pytest
from test_erp_queue import build_world

from qbrecon.erp.settings import hash_password, verify_password
from qbrecon.errors import InputError


@pytest.fixture()
def world(ws):
    build_world(ws)
    return ws


def test_defaults_and_update_with_audit(world):
    s = world.settings
    assert s["use_procore_contract_number"] is True and s["sync_schedule"] == "hourly"
    assert s["connection_status"] == "not_connected" and s["invoice_retainage_item"] is None
    world.update_settings(
        by="adam",
        sync_schedule="Every_4_Hours",
        direct_export="yes",
        budget_direct_cost_source="editable_from_procore",
        smtp={"host": "127.0.0.1", "port": "2525", "password": "mail-secret"},
    )
    s = world.settings
    assert (s["sync_schedule"], s["direct_export"], s["smtp_port"]) == ("every_4_hours", True, 2525)
    assert s["smtp_password"] == "********"
    log = world.audit("settings")
    assert log.iloc[-1]["action"] == "update_settings" and log.iloc[-1]["actor"] == 2
    assert "mail-secret" not in log.iloc[-1]["detail"] and "every_4_hours" in log.iloc[-1]["detail"]


@pytest.mark.parametrize(
    "values, field",
    [
        ({"sync_schedule": "weekly"}, "sync_schedule"),
        ({"direct_export": "maybe"}, "direct_export"),
        ({"no_such_setting": 1}, "no_such_setting"),
        ({"connection_status": "connected"}, "connection_status"),
        ({"invoice_retainage_item": "Nothing"}, "invoice_retainage_item"),
        ({"invoice_retainage_item": "Widget"}, "invoice_retainage_item"),  # not a Service item
        ({"invoice_retainage_item": "03-300"}, "invoice_retainage_item"),  # a synced cost code
        ({"smtp_port": "abc"}, "smtp_port"),
    ],
)
def test_invalid_values_refused_and_nothing_stored(world, values, field):
    before = world.settings
    with pytest.raises(InputError) as exc:
        world.update_settings(by="adam", **{"vendor_auto_update": False, **values})
    assert exc.value.field == field
    assert world.settings == before


def test_retainage_item_by_list_id_or_name(world):
    world.update_settings(by="adam", invoice_retainage_item="retainage")
    assert world.settings["invoice_retainage_item"] == {"ListID": "I-RET", "FullName": "Retainage"}


def test_service_credentials_hashed_and_checked(world):
    world.set_service_credentials("qbwc", "correct horse battery", by="adam")
    raw = world.store.execute("SELECT value FROM erp_settings WHERE key = 'service_password'").fetchall()[0][
        0
    ]
    assert "correct horse" not in raw and raw.startswith('"scrypt$')
    assert world.settings["service_password"] == "********"
    assert world.check_service_password("qbwc", "correct horse battery")
    assert not world.check_service_password("qbwc", "wrong password!")
    assert not world.check_service_password("other", "correct horse battery")
    with pytest.raises(InputError):
        world.set_service_credentials("qbwc", "short")


def test_service_contact_status(world):
    world.record_service_contact(False, "connection refused")
    s = world.settings
    assert s["connection_status"] == "not_connected" and s["last_error"] == "connection refused"
    world.record_service_contact(True)
    s = world.settings
    assert s["connection_status"] == "connected" and s["last_error"] is None and s["last_contact"]


def test_dashboard_sign_in(world):
    world.set_user_password("ann", "ann's long password")
    raw = world.store.execute("SELECT password_hash FROM user_credentials").fetchall()[0][0]
    assert "long password" not in raw
    assert world.authenticate_user("ANN", "ann's long password")["id"] == 1
    assert world.authenticate_user("ann", "wrong password") is None
    assert world.authenticate_user("nobody", "ann's long password") is None
    assert world.authenticate_user("pat", "anything at all") is None  # no password set
    world.set_user_password("gone", "gone's long password")
    assert world.authenticate_user("gone", "gone's long password") is None  # inactive


def test_hash_roundtrip_and_salt():
    a, b = hash_password("same password"), hash_password("same password")
    assert a != b and verify_password("same password", a) and not verify_password("other", a)
    assert not verify_password("x", "garbage")
