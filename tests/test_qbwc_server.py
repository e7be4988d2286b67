"""The /qbwc endpoint over HTTP on loopback: zeep through the WSDL, ?wsdl, and hostile input.

Every bad request must get a SOAP fault or a protocol value, and the server must still answer afterwards.
"""

from __future__ import annotations

import json
import socket

import pytest
import requests
import zeep

from qbrecon.erp import settings as erp_settings
from qbrecon.qbwc.connector import BINDING, wsdl_path
from qbrecon.qbwc.service import ServiceConfig
from qbrecon.qbwc.soap import SOAP_ENV, write_call
from qbrecon.server import start_server

PASSWORD = "correct horse"


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


def _zeep(url: str):
    return zeep.Client(wsdl_path()).create_service(BINDING, url)


def _alive(url: str) -> None:
    r = _http().post(
        url,
        data=write_call("serverVersion", strVersion=""),
        timeout=10,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": '"http://developer.intuit.com/serverVersion"',
        },
    )
    assert r.status_code == 200 and b"qbrecon" in r.content


def test_zeep_through_the_wsdl(server):
    svc = _zeep(server.url)
    assert "qbrecon" in svc.serverVersion(strVersion="")
    assert svc.clientVersion(strVersion="2.3.0.215") in (None, "")
    assert svc.authenticate(strUserName="qbwc", strPassword="wrong")[1] == "nvu"
    status = server.workspace.connection_status()
    assert not status["connected"] and "login refused" in status["last_error"] and status["last_contact"]
    assert svc.authenticate(strUserName="qbwc", strPassword=PASSWORD)[1] == "none"  # nothing queued
    status = server.workspace.connection_status()
    assert status["connected"] and status["last_error"] is None and not status["session_open"]
    assert svc.sendRequestXML(
        ticket="nope",
        strHCPResponse="",
        strCompanyFileName="",
        qbXMLCountry="US",
        qbXMLMajorVers=13,
        qbXMLMinorVers=0,
    ) in (None, "")
    assert svc.receiveResponseXML(ticket="nope", response="", hresult="", message="") == -1
    assert "Unknown session" in svc.getLastError(ticket="nope")
    assert svc.connectionError(ticket="nope", hresult="0x80040401", message="x") == "done"
    assert svc.closeConnection(ticket="nope")


def test_wsdl_served_with_this_servers_address(server):
    r = _http().get(server.url + "?wsdl", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/xml")
    assert f'location="{server.url}"'.encode() in r.content
    # zeep can load the service description from the server itself and use it as is.
    client = zeep.Client(server.url + "?wsdl")
    assert "qbrecon" in client.service.serverVersion(strVersion="")
    assert _http().get(server.url, timeout=10).status_code == 200


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">'.encode() for i in range(1, 10)
    ).replace(b"&lol0;", b"&lol;")
    + b']><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<getLastError xmlns="http://developer.intuit.com/"><ticket>&lol9;</ticket></getLastError>'
    b"</soap:Body></soap:Envelope>"
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<getLastError xmlns="http://developer.intuit.com/"><ticket>&xxe;</ticket></getLastError>'
    b"</soap:Body></soap:Envelope>"
)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml at all",
        b"<soap:Envelope xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'><soap:Body>",
        write_call("getLastError", ticket="x").replace(b"getLastError", b"deleteEverything"),
        BILLION_LAUGHS,
        XXE,
        b"\xff\xfe\x00<",
        b"<a>" * 100_000,
    ],
    ids=["empty", "text", "truncated", "unknown-op", "billion-laughs", "xxe", "binary", "deep"],
)
def test_bad_bodies_get_faults_and_server_survives(server, body):
    r = _http().post(server.url, data=body, headers={"Content-Type": "text/xml"}, timeout=10)
    assert r.status_code == 500
    assert SOAP_ENV.encode() in r.content and b"Fault" in r.content
    assert b"root:" not in r.content  # /etc/passwd never leaks
    _alive(server.url)


def test_huge_body_by_length_and_chunked(server):
    big = b"<a>" + b"x" * 1_500_000 + b"</a>"  # over the 1 MB cap: read, discarded, answered with a fault
    r = _http().post(server.url, data=big, timeout=20)
    assert r.status_code == 413 and b"exceeds the limit" in r.content
    try:  # far over the cap: answered at once from the Content-Length, connection closed
        r = _http().post(server.url, data=b"z" * 5_000_000, timeout=20)
        assert r.status_code == 413
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
        pass

    def chunks():
        for _ in range(30):
            yield b"y" * 100_000

    try:  # without Content-Length the server reads up to twice the cap, then stops
        r = _http().post(server.url, data=chunks(), timeout=20)
        assert r.status_code in (400, 413)
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
        pass  # the server may drop a stream that goes on past its limit
    _alive(server.url)


def test_garbage_on_the_socket_and_unknown_ticket_calls(server):
    with socket.create_connection((server.host, server.port), timeout=5) as s:
        s.sendall(b"\x16\x03\x01 this is not http\r\n\r\n")
        s.recv(1024)
    svc = _zeep(server.url)
    assert svc.receiveResponseXML(ticket="x" * 10_000, response="<QBXML/>", hresult="", message="") == -1
    _alive(server.url)


def test_tickets_survive_a_restart(tmp_path):
    from qbrecon import Workspace

    path = tmp_path / "restart.duckdb"
    with Workspace(path) as ws:
        _credentials(ws)
        ws.store.execute(
            "INSERT INTO erp_items (item_type, procore_id, status) VALUES ('company', 1, 'exporting')"
        )
    first = start_server(path, port=0)
    ticket, status = _zeep(first.url).authenticate(strUserName="qbwc", strPassword=PASSWORD)[:2]
    assert status in (None, "")
    first.stop()
    second = start_server(path, port=0)  # a new process would do the same: sessions live in the workspace
    try:
        assert _zeep(second.url).getLastError(ticket=ticket) == "No error."
        # Same machine logging in again after the restart supersedes the old session instead of "busy".
        assert _zeep(second.url).authenticate(strUserName="qbwc", strPassword=PASSWORD)[1] in (None, "")
    finally:
        second.stop()


def test_dashboard_and_web_connector_in_one_process(ws):
    pytest.importorskip("qbrecon.dashboard")
    with start_server(ws, port=0, dashboard=True) as srv:
        page = _http().get(srv.base_url + "/", timeout=30)
        assert page.status_code == 200 and b"<html" in page.content.lower()
        _alive(srv.url)
        assert f'location="{srv.url}"'.encode() in _http().get(srv.url + "?wsdl", timeout=10).content
