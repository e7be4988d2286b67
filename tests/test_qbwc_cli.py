"""``qbrecon service-user set``, ``qbrecon qwc``, ``qbrecon simulate`` (passwords never on the command line)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from lxml import etree

from qbrecon import Workspace

cli = pytest.importorskip("qbrecon.cli")


def run(args: list[str], **kw):
    result = CliRunner().invoke(cli.main, args, catch_exceptions=False, **kw)
    return result


def test_service_user_from_stdin_and_env(tmp_path, monkeypatch):
    path = str(tmp_path / "w.duckdb")
    monkeypatch.delenv("QBRECON_SERVICE_PASSWORD", raising=False)
    r = run(["service-user", "set", "--workspace", path, "--user", "qbwc"], input="stdin secret 1\n")
    assert r.exit_code == 0, r.output
    with Workspace(path) as ws:
        assert ws.check_service_password("qbwc", "stdin secret 1")
        assert not ws.check_service_password("qbwc", "stdin secret")
    monkeypatch.setenv("QBRECON_SERVICE_PASSWORD", "env secret 22")
    assert run(["service-user", "set", "-w", path, "-u", "other"], input="").exit_code == 0
    with Workspace(path) as ws:
        assert ws.check_service_password("other", "env secret 22")
        row = ws.store.execute("SELECT value FROM erp_settings WHERE key = 'service_password'").fetchone()
        stored = row[0]
        assert "env secret" not in stored
    monkeypatch.delenv("QBRECON_SERVICE_PASSWORD")
    r = run(["service-user", "set", "-w", path, "-u", "x"], input="")
    assert r.exit_code != 0 and "no password given" in r.output


def test_qwc_command(tmp_path, monkeypatch):
    path = str(tmp_path / "w.duckdb")
    Workspace(path).close()
    r = run(["qwc", "-w", path, "--url", "http://localhost:8080/qbwc"])
    assert r.exit_code != 0 and "service_user" in r.output  # the .qwc needs the service user first
    monkeypatch.setenv("QBRECON_SERVICE_PASSWORD", "a long password")
    run(["service-user", "set", "-w", path, "-u", "qbwc"])
    out = tmp_path / "app.qwc"
    r = run(["qwc", "-w", path, "--url", "http://localhost:8080/qbwc", "--out", str(out)])
    assert r.exit_code == 0, r.output
    root = etree.parse(str(out)).getroot()
    assert root.findtext("UserName") == "qbwc" and root.findtext("AppURL") == "http://localhost:8080/qbwc"
    assert b"a long password" not in out.read_bytes()
    r = run(["qwc", "-w", path, "--url", "http://example.com/qbwc"])
    assert r.exit_code != 0 and "https" in r.output
    r = run(["qwc", "-w", path])  # no --url and no Service URL setting
    assert r.exit_code != 0 and "service_url" in r.output
    with Workspace(path) as ws:  # (no users in this workspace: set as its owner, without an ERP admin)
        from qbrecon.erp.settings import write_settings

        write_settings(
            ws.store, {"service_url": "https://qb.example.com/qbwc", "sync_schedule": "daily"}, None
        )
    r = run(["qwc", "-w", path])
    root = etree.fromstring(r.output.encode())
    assert root.findtext("AppURL") == "https://qb.example.com/qbwc"
    assert root.findtext("Scheduler/RunEveryNMinutes") == "1440"


def test_simulate_against_a_server_with_nothing_queued(tmp_path, monkeypatch):
    from qbrecon.server import start_server

    path = tmp_path / "w.duckdb"
    with Workspace(path) as ws:
        ws.set_service_credentials("qbwc", "a long password")
        with start_server(ws, port=0) as srv:
            monkeypatch.setenv("QBRECON_SERVICE_PASSWORD", "a long password")
            r = run(["simulate", "--url", srv.url, "--user", "qbwc", "--until-idle"])
            assert r.exit_code == 0, r.output
            assert "update 1: none" in r.output
            monkeypatch.setenv("QBRECON_SERVICE_PASSWORD", "wrong password")
            r = run(["simulate", "--url", srv.url, "--user", "qbwc"])
            assert r.exit_code == 1 and "nvu" in r.output
