"""Issue 18 against the real server on loopback, through HTTP: what a caller without a ticket can do to /qbwc,
the security headers, where the WSDL's address comes from, and the denial-of-service limits."""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from qbrecon.erp import settings as erp_settings
from qbrecon.qbwc.service import ServiceConfig
from qbrecon.qbwc.soap import read_result, write_call
from qbrecon.server import start_server

PASSWORD = "correct horse"
SCRIPT = "<img src=x onerror=alert(document.cookie)><script>alert(1)</script>"


def _credentials(ws) -> None:
    ws.store.execute(
        "INSERT OR REPLACE INTO erp_settings VALUES ('service_user', ?, NULL, now()), "
        "('service_password', ?, NULL, now())",
        [json.dumps("qbwc"), json.dumps(erp_settings.hash_password(PASSWORD))],
    )


@pytest.fixture()
def server(ws):
    _credentials(ws)
    srv = start_server(ws, port=0, config=ServiceConfig(max_body_bytes=1_000_000))
    yield srv
    srv.stop()


def _http() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def _soap(url: str, operation: str, session: requests.Session | None = None, **params):
    r = (session or _http()).post(
        url, data=write_call(operation, **params), headers={"Content-Type": "text/plain"}, timeout=30
    )
    return r


def _snapshot(ws) -> dict:
    tables = ["erp_settings", "qbwc_sessions", "qbwc_session_messages", "qbrecon_meta"]
    return {t: ws.store.frame(f'SELECT * FROM "{t}" ORDER BY ALL').to_dict("records") for t in tables}


def test_calls_without_a_valid_ticket_store_nothing(server):
    """connectionError with a made-up ticket used to store the caller's text as the connection's last error,
    which every signed-in user's dashboard then showed (a cross-site POST as text/plain needs no preflight)."""
    ws = server.workspace
    before = _snapshot(ws)
    calls = [
        ("connectionError", {"ticket": "made-up", "hresult": "0x80040408", "message": SCRIPT}),
        ("connectionError", {"ticket": "", "hresult": SCRIPT, "message": SCRIPT}),
        (
            "sendRequestXML",
            {
                "ticket": "made-up",
                "strHCPResponse": SCRIPT,
                "strCompanyFileName": SCRIPT,
                "qbXMLCountry": "US",
                "qbXMLMajorVers": 13,
                "qbXMLMinorVers": 0,
            },
        ),
        (
            "receiveResponseXML",
            {"ticket": "made-up", "response": SCRIPT, "hresult": "0x1", "message": SCRIPT},
        ),
        ("getLastError", {"ticket": "made-up"}),
        ("closeConnection", {"ticket": "made-up"}),
    ]
    for operation, params in calls:
        r = _soap(server.url, operation, **params)
        assert r.status_code == 200, (operation, r.text)
    assert _snapshot(ws) == before
    status = ws.connection_status()
    assert status["last_error"] is None and status["last_contact"] is None


def test_an_ended_ticket_cannot_write_either(server):
    ws = server.workspace
    ws.store.execute(
        "INSERT INTO erp_items (item_type, procore_id, status) VALUES ('company', 1, 'exporting')"
    )
    ticket, company = read_result(
        _soap(server.url, "authenticate", strUserName="qbwc", strPassword=PASSWORD).content
    )[:2]
    assert company == "" and ticket
    assert "OK" in read_result(_soap(server.url, "closeConnection", ticket=ticket).content)
    before = _snapshot(ws)
    _soap(server.url, "connectionError", ticket=ticket, hresult="0x1", message=SCRIPT)
    _soap(server.url, "closeConnection", ticket=ticket)
    assert _snapshot(ws) == before


def test_a_live_ticket_still_records_its_connection_error(server):
    ws = server.workspace
    ws.store.execute(
        "INSERT INTO erp_items (item_type, procore_id, status) VALUES ('company', 1, 'exporting')"
    )
    ticket = read_result(_soap(server.url, "authenticate", strUserName="qbwc", strPassword=PASSWORD).content)[
        0
    ]
    assert (
        read_result(
            _soap(
                server.url,
                "connectionError",
                ticket=ticket,
                hresult="0x80040408",
                message="QuickBooks is not running",
            ).content
        )
        == "done"
    )
    status = ws.connection_status()
    assert not status["connected"] and "QuickBooks is not running" in status["last_error"]


def test_security_headers_on_the_web_connector_endpoint(server):
    for r in (
        _http().get(server.url, timeout=10),
        _http().get(server.url + "?wsdl", timeout=10),
        _soap(server.url, "serverVersion", strVersion=""),
    ):
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        csp = r.headers["Content-Security-Policy"]
        assert (
            "default-src 'self'" in csp
            and "frame-ancestors 'none'" in csp
            and "unsafe-inline" not in csp.split("style-src")[0]
        )


def test_wsdl_address_ignores_the_host_header(server):
    r = _http().get(server.url + "?wsdl", headers={"Host": "evil.example:443"}, timeout=10)
    assert r.status_code == 200
    assert b"evil.example" not in r.content
    assert f'location="{server.url}"'.encode() in r.content


def test_wsdl_address_from_the_configured_public_url(ws):
    _credentials(ws)
    cfg = ServiceConfig(public_url="https://qb.example.com/qbwc")
    with start_server(ws, port=0, config=cfg) as srv:
        r = _http().get(srv.url + "?wsdl", headers={"Host": "evil.example"}, timeout=10)
        assert b'location="https://qb.example.com/qbwc"' in r.content


@pytest.mark.timeout(120)
def test_dashboard_pages_carry_a_strict_policy(ws):
    pytest.importorskip("qbrecon.dashboard")
    with start_server(ws, port=0, dashboard=True) as srv:
        page = _http().get(srv.base_url + "/", timeout=60)
        assert page.status_code == 200
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        csp = page.headers["Content-Security-Policy"]
        script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
        # The page's own inline scripts are allowed by hash; nothing else inline, no eval, no other origin.
        assert (
            "'sha256-" in script_src and "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
        )
        assert "http" not in csp
        static = _http().get(srv.base_url + "/static/js/bokeh.min.js", timeout=30)
        assert static.headers["X-Content-Type-Options"] == "nosniff"


# -- denial of service ---------------------------------------------------------------------------------------
def _post_raw(host: str, port: int, body: bytes, length: int | None = None) -> socket.socket:
    s = socket.create_connection((host, port), timeout=10)
    head = (
        f"POST /qbwc HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: text/xml\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    ).encode()
    s.sendall(head + body)
    return s


def test_envelope_of_many_deep_elements_is_refused_while_reading(ws):
    """A large body of deep subtrees used to be built into a tree on the event loop (seconds, hundreds of MB)."""
    _credentials(ws)
    with start_server(ws, port=0, config=ServiceConfig(max_body_bytes=30_000_000)) as srv:
        inner = b"<a><b><c><d>x</d></c></b></a>" * 600_000  # 18 MB, 2.4 million elements
        body = (
            b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            b'<getLastError xmlns="http://developer.intuit.com/"><ticket>'
            + inner
            + b"</ticket></getLastError>"
            b"</soap:Body></soap:Envelope>"
        )
        r = _http().post(srv.url, data=body, headers={"Content-Type": "text/xml"}, timeout=60)
        assert r.status_code == 500 and b"more than 200 elements" in r.content
        assert _soap(srv.url, "serverVersion", strVersion="").status_code == 200


def test_soap_parsing_runs_off_the_event_loop(server, monkeypatch):
    import threading

    import qbrecon.server as server_module

    seen: list[str] = []
    original = server_module.parse_call

    def recording(*args, **kwargs):
        seen.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(server_module, "parse_call", recording)
    assert _soap(server.url, "serverVersion", strVersion="").status_code == 200
    assert seen and all(name.startswith("qbwc") for name in seen), seen


def test_a_request_that_stalls_is_cut_off(ws):
    _credentials(ws)
    with start_server(ws, port=0, config=ServiceConfig(body_timeout=1.0)) as srv:
        s = _post_raw(srv.host, srv.port, b"<soap:Envelope", length=10_000)  # then nothing more
        s.settimeout(8)
        started = time.monotonic()
        try:
            data = s.recv(4096)
        except (ConnectionResetError, TimeoutError):
            data = None
        finally:
            s.close()
        assert data == b"" and time.monotonic() - started < 6  # closed by the server, not by our timeout
        assert _soap(srv.url, "serverVersion", strVersion="").status_code == 200


def test_calls_in_progress_per_client_are_capped(ws):
    _credentials(ws)
    with start_server(ws, port=0, config=ServiceConfig(max_calls_per_client=2, body_timeout=30)) as srv:
        held = [_post_raw(srv.host, srv.port, b"<soap:", length=1000) for _ in range(2)]
        time.sleep(0.3)
        try:
            r = _soap(srv.url, "serverVersion", strVersion="")
            assert r.status_code == 503 and r.headers.get("Retry-After")
        finally:
            for s in held:
                s.close()
        deadline = time.monotonic() + 5
        while _soap(srv.url, "serverVersion", strVersion="").status_code != 200:
            assert time.monotonic() < deadline, "the cap was not released when the clients went away"
            time.sleep(0.1)
