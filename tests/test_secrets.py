"""Secrets at rest and the Web Connector settings (issue 18, finding 10): the SMTP password is encrypted with a
key kept outside the workspace, tickets are kept only as hashes, and ``settings show|set`` know the qbwc_*
settings."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from test_erp_queue import build_world

from qbrecon.erp.settings import read_settings
from qbrecon.errors import InputError
from qbrecon.qbwc.service import QBWCService, ServiceConfig

SMTP_PASSWORD = "smtp-secret-4711"


@pytest.fixture(autouse=True)
def key_file(tmp_path, monkeypatch):
    path = tmp_path / "keys" / "secret.key"
    monkeypatch.setenv("QBRECON_KEY_FILE", str(path))
    return path


def _raw_settings(ws) -> str:
    return " ".join(str(v) for (v,) in ws.store.execute("SELECT value FROM erp_settings").fetchall())


def test_smtp_password_is_encrypted_with_a_key_outside_the_workspace(ws, key_file, monkeypatch, tmp_path):
    build_world(ws)
    ws.update_settings(by="adam", smtp_host="127.0.0.1", smtp_password=SMTP_PASSWORD)
    assert SMTP_PASSWORD not in _raw_settings(ws) and "fernet:" in _raw_settings(ws)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert read_settings(ws.store, mask=False)["smtp_password"] == SMTP_PASSWORD
    assert read_settings(ws.store)["smtp_password"] != SMTP_PASSWORD  # masked as before
    # The workspace without its key: a clear error naming the setting, not a crash or a wrong password.
    monkeypatch.setenv("QBRECON_KEY_FILE", str(tmp_path / "elsewhere.key"))
    with pytest.raises(InputError, match="smtp_password.*not on this machine"):
        read_settings(ws.store, mask=False)


def test_tickets_are_kept_only_as_hashes(ws):
    build_world(ws)
    ws.set_service_credentials("qbwc", "service password")
    ws.store.execute("UPDATE erp_items SET status = 'exporting' WHERE procore_id = 201")
    svc = QBWCService(ws, ServiceConfig())
    ticket, company = svc.authenticate("qbwc", "service password", "127.0.0.1")[:2]
    assert ticket and company == ""
    stored = [t for (t,) in ws.store.execute("SELECT ticket FROM qbwc_sessions").fetchall()]
    assert stored and ticket not in stored and all(t.startswith("sha256:") for t in stored)
    ws.store.execute("CHECKPOINT")
    assert ticket.encode() not in ws.store.path.read_bytes()
    assert svc.get_last_error(ticket) == "No error."  # the ticket itself still opens its session
    assert "Unknown session" in svc.get_last_error(stored[0])  # its hash does not


def test_settings_cli_knows_the_web_connector_settings(tmp_path):
    from qbrecon import Workspace

    path = tmp_path / "company.duckdb"
    with Workspace(path) as ws:
        build_world(ws)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    cli = [sys.executable, "-c", "from qbrecon.cli import main; main()"]
    run = subprocess.run(
        [*cli, "settings", "set", "-w", str(path), "--by", "adam", "qbwc_ticket_ttl_seconds=600"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    shown = subprocess.run(
        [*cli, "settings", "show", "-w", str(path)], capture_output=True, text=True, env=env
    )
    assert shown.returncode == 0 and "qbwc_ticket_ttl_seconds" in shown.stdout and "600" in shown.stdout
    assert "qbwc_max_calls_per_client" in shown.stdout and "qbwc_public_url" in shown.stdout
    with Workspace(path) as ws:
        assert ServiceConfig.from_workspace(ws).ticket_ttl == 600
