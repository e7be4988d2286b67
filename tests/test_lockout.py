"""Brute-force throttling: the Web Connector's authenticate (through HTTP) and the dashboard sign-in, with the
lockout an admin sees and lifts (library and CLI)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from test_dashboard import seed, seed_users
from test_security_server import PASSWORD, _credentials, _soap

from qbrecon.lockout import MAX_FAILURES_PER_ADDRESS, MAX_FAILURES_PER_USER
from qbrecon.qbwc.soap import read_result
from qbrecon.server import start_server


@pytest.fixture()
def server(ws):
    _credentials(ws)
    ws.store.execute(
        "INSERT INTO erp_items (item_type, procore_id, status) VALUES ('company', 1, 'exporting')"
    )
    srv = start_server(ws, port=0)
    yield srv
    srv.stop()


def _login(url: str, user: str, password: str) -> list[str]:
    return read_result(_soap(url, "authenticate", strUserName=user, strPassword=password).content)


def test_web_connector_guesses_lock_the_account_and_write_settings_once(server):
    ws = server.workspace
    assert _login(server.url, "qbwc", "wrong-0")[1] == "nvu"
    settings_after_first = ws.store.frame("SELECT * FROM erp_settings ORDER BY ALL").to_dict("records")
    for i in range(1, MAX_FAILURES_PER_USER):
        assert _login(server.url, "qbwc", f"wrong-{i}")[1] == "nvu"
    # Repeated failures do not rewrite the settings (the first one recorded why logins are refused).
    assert (
        ws.store.frame("SELECT * FROM erp_settings ORDER BY ALL").to_dict("records") == settings_after_first
    )
    assert "login refused" in ws.connection_status()["last_error"]
    # Locked: even the right password is refused, without being checked.
    assert _login(server.url, "qbwc", PASSWORD) == ["", "nvu"]
    locks = ws.login_lockouts()
    assert locks[["channel", "kind", "who"]].values.tolist() == [["qbwc", "user", "qbwc"]]
    assert int(locks["failures"].iloc[0]) == MAX_FAILURES_PER_USER
    assert ws.clear_login_lockouts("qbwc") == 1
    ticket, company = _login(server.url, "qbwc", PASSWORD)[:2]
    assert ticket and company == ""
    assert ws.login_lockouts().empty


def test_guessing_many_accounts_from_one_address_locks_the_address(server):
    for i in range(MAX_FAILURES_PER_ADDRESS):
        assert _login(server.url, f"user{i}", "guess")[1] == "nvu"
    assert _login(server.url, "qbwc", PASSWORD) == ["", "nvu"]
    locks = server.workspace.login_lockouts()
    assert ["qbwc", "address", "127.0.0.1"] in locks[["channel", "kind", "who"]].values.tolist()


def test_dashboard_sign_in_locks_out_and_an_admin_lifts_it_from_the_cli(tmp_path):
    from qbrecon import Workspace
    from qbrecon.dashboard.auth import sign_in

    path = tmp_path / "company.duckdb"
    ws = Workspace(path)
    seed(ws, invoices=1)
    seed_users(ws, "correct horse battery")
    for _ in range(MAX_FAILURES_PER_USER):
        assert sign_in(ws, "ann@example.com", "wrong password") is None
    assert sign_in(ws, "ann@example.com", "correct horse battery") is None  # locked out
    assert sign_in(ws, "vic@example.com", "correct horse battery") is not None  # only that account
    ws.close()

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    cli = [sys.executable, "-c", "from qbrecon.cli import main; main()"]
    shown = subprocess.run(
        [*cli, "lockouts", "list", "-w", str(path)], capture_output=True, text=True, env=env
    )
    assert shown.returncode == 0, shown.stderr
    assert "dashboard\tuser\t'ann@example.com'\t5 failed" in shown.stdout
    refused = subprocess.run(
        [*cli, "lockouts", "clear", "-w", str(path), "--who", "ann@example.com", "--by", "vic@example.com"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert refused.returncode != 0 and "may not" in refused.stderr
    cleared = subprocess.run(
        [*cli, "lockouts", "clear", "-w", str(path), "--who", "ann@example.com", "--by", "ada@example.com"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert cleared.returncode == 0 and "1 lockout(s) lifted" in cleared.stdout, cleared.stderr

    ws = Workspace(path)
    try:
        assert sign_in(ws, "ann@example.com", "correct horse battery") is not None
    finally:
        ws.close()
