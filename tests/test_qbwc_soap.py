"""SOAP envelopes of the Web Connector protocol: reading hostile input safely, writing results and faults."""

from __future__ import annotations

import pytest
from lxml import etree

from qbrecon.qbwc import soap
from qbrecon.qbwc.soap import SoapFault, parse_call, read_result, write_call, write_fault, write_result


def test_round_trip_every_operation():
    args = {
        "serverVersion": {"strVersion": ""},
        "clientVersion": {"strVersion": "2.3.0.215"},
        "authenticate": {"strUserName": "qbwc", "strPassword": "p<&>w"},
        "sendRequestXML": {
            "ticket": "t",
            "strHCPResponse": "<QBXML/>",
            "strCompanyFileName": r"C:\a.qbw",
            "qbXMLCountry": "US",
            "qbXMLMajorVers": 13,
            "qbXMLMinorVers": 0,
        },
        "receiveResponseXML": {
            "ticket": "t",
            "response": '<?xml version="1.0"?><QBXML a="&amp;"/>',
            "hresult": "",
            "message": "",
        },
        "connectionError": {"ticket": "t", "hresult": "0x80040401", "message": "could not access"},
        "getLastError": {"ticket": "t"},
        "closeConnection": {"ticket": "t"},
    }
    assert set(args) == set(soap.OPERATIONS)
    for op, params in args.items():
        call = parse_call(write_call(op, **params))
        assert call.operation == op
        for name, value in params.items():
            assert call.params[name] == value


def test_missing_parameters_are_none():
    call = parse_call(write_call("receiveResponseXML", ticket="abc"))
    assert call.params == {"ticket": "abc", "response": None, "hresult": None, "message": None}


def test_results_are_read_back():
    assert read_result(write_result("authenticate", ["tkt", "none", "30"])) == ["tkt", "none", "30"]
    assert read_result(write_result("receiveResponseXML", -1)) == -1
    assert read_result(write_result("sendRequestXML", "<QBXML>&</QBXML>")) == "<QBXML>&</QBXML>"
    assert read_result(write_result("getLastError", "bad\x00char")) == "badchar"


def test_fault_is_soap11():
    root = etree.fromstring(write_fault("nope", "Client"))
    fault = root.find(f"{{{soap.SOAP_ENV}}}Body/{{{soap.SOAP_ENV}}}Fault")
    assert fault.findtext("faultcode") == "soap:Client"
    assert fault.findtext("faultstring") == "nope"
    with pytest.raises(SoapFault, match="nope"):
        read_result(write_fault("nope"))


ENV = (
    '<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soap:Body>{}</soap:Body></soap:Envelope>"
)


@pytest.mark.parametrize(
    "body, match",
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"<not xml", "malformed"),
        (b"<a/>", "expected a SOAP"),
        (ENV.format("").encode(), "exactly one"),
        (ENV.format('<x:nope xmlns:x="http://developer.intuit.com/"/>').encode(), "unknown operation"),
        (ENV.format("<getLastError/>").encode(), "namespace"),
        (
            ENV.format(
                '<sendRequestXML xmlns="http://developer.intuit.com/"><qbXMLMajorVers>x</qbXMLMajorVers>'
                "</sendRequestXML>"
            ).encode(),
            "integer",
        ),
        (
            ENV.format(
                '<getLastError xmlns="http://developer.intuit.com/"><ticket><b/></ticket></getLastError>'
            ).encode(),
            "must be text",
        ),
        (b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>', "SOAP 1.2"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            + ENV.format(
                '<getLastError xmlns="http://developer.intuit.com/"><ticket>&lol2;</ticket></getLastError>'
            )
            .split("?>", 1)[1]
            .encode(),
            "DOCTYPE",
        ),
        (b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><x>&xxe;</x>', "DOCTYPE"),
    ],
)
def test_bad_envelopes_are_client_faults(body, match):
    with pytest.raises(SoapFault, match=match) as info:
        parse_call(body)
    assert info.value.code in ("Client", "VersionMismatch")


def test_external_entity_without_doctype_is_not_resolved():
    body = ENV.format(
        '<getLastError xmlns="http://developer.intuit.com/"><ticket>&xxe;</ticket></getLastError>'
    )
    with pytest.raises(SoapFault, match="malformed"):
        parse_call(body.encode())


def test_body_size_cap():
    big = write_call("getLastError", ticket="x" * 2000)
    with pytest.raises(SoapFault, match="exceeds the limit"):
        parse_call(big, max_bytes=1000)


def test_wsdl_address_is_replaced():
    from qbrecon.server import packaged_wsdl

    out = soap.wsdl_with_address(packaged_wsdl(), "http://127.0.0.1:1234/qbwc")
    root = etree.fromstring(out)
    addresses = [e.get("location") for e in root.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address")]
    assert addresses == ["http://127.0.0.1:1234/qbwc"]
    assert root.get("targetNamespace") == soap.QBWC_NS
