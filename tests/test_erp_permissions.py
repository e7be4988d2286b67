"""Who may do what: the ERP Integrations permissions matrix, enforced in the library."""

from __future__ import annotations

import pytest
from test_erp_queue import build_world

from qbrecon.erp import permissions
from qbrecon.errors import PermissionDenied


@pytest.fixture()
def world(ws):
    build_world(ws)
    return ws


@pytest.mark.parametrize(
    "login, action, allowed",
    [
        ("ann", "accept", True), ("adam", "accept", True), ("sam", "accept", False), ("carl", "accept", False),
        ("pat", "accept", False), ("gone", "accept", False),
        ("ann", "reject", True), ("sam", "unlink", False), ("ann", "link_vendor", True), ("ann", "import", True),
        ("pat", "send", True), ("carl", "retrieve", True), ("pat", "resend", True), ("gone", "send", False),
        ("adam", "settings", True), ("ann", "settings", False), ("sam", "settings", False),
    ],
)  # fmt: skip
def test_matrix(world, login, action, allowed):
    user = permissions.find_user(world.store, login)
    assert (not permissions.missing(user, action)) is allowed


def test_denial_names_user_and_what_is_missing(world):
    with pytest.raises(PermissionDenied) as exc:
        permissions.require(world.store, "sam", "accept")
    text = str(exc.value)
    assert "sam" in text and "Sam Standard" in text and "Can Push to Accounting" in text
    with pytest.raises(PermissionDenied) as exc:
        permissions.require(world.store, "carl", "reject")
    assert "'Standard' or 'Admin'" in str(exc.value) and "has 'Read Only'" in str(exc.value)
    assert exc.value.exit_code == 77


def test_user_lookup_by_id_login_and_case(world):
    assert permissions.find_user(world.store, 1)["login"] == "ann"
    assert permissions.find_user(world.store, "ANN")["id"] == 1
    assert permissions.find_user(world.store, "2")["login"] == "adam"
    with pytest.raises(PermissionDenied, match="unknown user"):
        permissions.find_user(world.store, "nobody")
    with pytest.raises(PermissionDenied, match="no user"):
        permissions.find_user(world.store, None)


def test_settings_need_admin(world):
    with pytest.raises(PermissionDenied, match="Admin"):
        world.update_settings(by="ann", direct_export=True)
    world.update_settings(by="adam", direct_export=True)
    assert world.settings["direct_export"] is True
