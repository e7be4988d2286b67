"""The qbXML spec tables are the one source of QuickBooks' rules, and what enforces them reads them.

Tests here are generated from ``qbrecon.qbxml.spec``: change a limit, an element order or a required element and
a test fails (the builders, the simulator and the ERP queue read the same tables). With a local copy of Intuit's
XSD the tables are compared with it too; without one those tests skip with a reason.
"""

from __future__ import annotations

import pytest
from conftest import xsd_dir
from lxml import etree

from qbrecon.entities import PAIRS
from qbrecon.qbwc.simulator import QuickBooksCompany, RequestProcessorError
from qbrecon.qbxml import spec

HEAD = '<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n'


def _xsd_tables():
    path = xsd_dir()
    if not (path / "qbxmlops130.xsd").exists():
        pytest.skip(f"official qbXML XSD not found at {path} (set QBRECON_QBXML_XSD)")
    from xsd_tables import XsdTables

    return XsdTables(path)


def _message(body: etree._Element) -> etree._Element:
    """``body`` (an Add/Mod or a query) inside QBXML/QBXMLMsgsRq, as a request message set."""
    root = etree.Element("QBXML")
    msgs = etree.SubElement(root, "QBXMLMsgsRq", onError="continueOnError")
    if body.tag.endswith("Rq"):
        msgs.append(body)
    else:
        etree.SubElement(msgs, body.tag + "Rq").append(body)
    return root


def _minimal(tag: str) -> etree._Element:
    """An element with only its required children (the first of each choice), in schema order."""
    el = etree.Element(tag)
    for group in spec.REQUIRED.get(tag, ()):
        child = _minimal(group[0])
        if not len(child):
            child.text = "1"
        el.append(child)
    return el


def _path_element(path: str, text: str) -> etree._Element:
    """``A/B/C`` -> <A><B><C>text</C></B></A>, returned as A."""
    names = path.split("/")
    top = el = etree.Element(names[0])
    for name in names[1:]:
        el = etree.SubElement(el, name)
    el.text = text
    return top


# -- the tables against Intuit's schema (skipped without it) ---------------------------------------------------


def test_order_matches_the_xsd():
    tables = _xsd_tables()
    assert {name: tables.order(name) for name in spec.ORDER} == spec.ORDER


def test_required_matches_the_xsd():
    tables = _xsd_tables()
    derived = {name: tables.required(name) for name in set(spec.ORDER) | set(spec.REQUIRED)}
    # every element whose order we know has its required children listed, and every listed row is the schema's
    assert {k for k in spec.ORDER if derived[k]} <= set(spec.REQUIRED)
    assert {k: derived[k] for k in spec.REQUIRED} == spec.REQUIRED


def test_maxlen_matches_the_xsd():
    tables = _xsd_tables()
    found: dict[str, int] = {}
    for message in {path.split("/")[0] for path in spec.MAXLEN}:
        found.update(tables.maxlen(message, depth=4))
    assert {path: found.get(path) for path in spec.MAXLEN} == spec.MAXLEN


# -- the checker, generated from the tables -------------------------------------------------------------------


@pytest.mark.parametrize("message", sorted(spec.REQUIRED))
def test_a_minimal_message_passes_and_each_missing_required_element_is_fatal(message):
    assert spec.check_request(_message(_minimal(message))).fatal == []
    for group in spec.REQUIRED[message]:
        body = _minimal(message)
        for child in body.findall(group[0]):
            body.remove(child)
        fatal = spec.check_request(_message(body)).fatal
        assert len(fatal) == 1 and "Missing child" in fatal[0] and group[0] in fatal[0], fatal


@pytest.mark.parametrize("parent", sorted(name for name, order in spec.ORDER.items() if len(order) >= 2))
def test_children_out_of_schema_order_are_fatal(parent):
    first, second = spec.ORDER[parent][0], spec.ORDER[parent][1]
    body = _minimal(parent)
    body[:] = [c for c in body if c.tag not in (first, second)]
    for name in (second, first):  # reversed
        body.append(etree.Element(name))
    fatal = spec.check_request(_message(body)).fatal
    assert any(f"'{first}'" in f and "not expected" in f for f in fatal), fatal


@pytest.mark.parametrize("path", sorted(spec.MAXLEN))
def test_every_limit_is_enforced_at_exactly_its_length(path):
    limit = spec.MAXLEN[path]
    at_limit = spec.check_request(_message(_path_element(path, "x" * limit)))
    assert at_limit.too_long == {}
    over = spec.check_request(_message(_path_element(path, "x" * (limit + 1))))
    (message,) = over.too_long.values()
    assert f'field "{path.rsplit("/", 1)[-1]}" is too long' in message


# -- per pair: the name QuickBooks identifies the record by ---------------------------------------------------


def _name_path(pair) -> str:
    field = "Name" if pair.name_field == "FullName" else pair.name_field
    return f"{pair.add_request}/{field}"


NAMED_PAIRS = sorted(k for k, p in PAIRS.items() if p.add_request and p.name_field)


@pytest.mark.parametrize("item_type", NAMED_PAIRS)
def test_each_pairs_name_field_has_a_limit_in_the_spec(item_type):
    assert spec.max_length(_name_path(PAIRS[item_type])) is not None


@pytest.mark.parametrize(
    ("message", "limit"), [("VendorAdd", 41), ("CustomerAdd", 41), ("ItemServiceAdd", 31)]
)
def test_the_simulator_answers_3070_one_character_over_the_limit(message, limit):
    # the literal limits here are QuickBooks' documented ones: if the table changes, this test says so
    assert spec.max_length(f"{message}/Name") == limit
    extra = "<SalesOrPurchase><Desc>x</Desc></SalesOrPurchase>" if message == "ItemServiceAdd" else ""

    def add(name: str) -> str:
        return f'<{message}Rq requestID="1"><{message}><Name>{name}</Name>{extra}</{message}></{message}Rq>'

    with QuickBooksCompany(clock=1_700_000_000) as qb:
        request = HEAD + '<QBXML><QBXMLMsgsRq onError="continueOnError">{}</QBXMLMsgsRq></QBXML>'
        answers = etree.fromstring(qb.process(request.format(add("a" * limit) + add("b" * (limit + 1)))))
        codes = [rs.get("statusCode") for rs in answers.find("QBXMLMsgsRs")]
        assert codes == ["0", "3070"]


def test_the_simulator_refuses_a_missing_required_element_without_a_schema(monkeypatch):
    monkeypatch.delenv("QBRECON_QBXML_XSD", raising=False)
    with QuickBooksCompany() as qb, pytest.raises(RequestProcessorError) as refused:
        qb.process(
            HEAD + "<QBXML><QBXMLMsgsRq><VendorAddRq><VendorAdd><CompanyName>x</CompanyName></VendorAdd>"
            "</VendorAddRq></QBXMLMsgsRq></QBXML>"
        )
    assert refused.value.hresult == "0x80040400" and "Missing child" in refused.value.detail


LIMITED_PAIRS = sorted(k for k in NAMED_PAIRS if PAIRS[k].business_key)


@pytest.mark.parametrize("item_type", LIMITED_PAIRS)
def test_the_builder_refuses_each_pairs_name_one_character_over_the_spec_limit(item_type):
    from test_qbxml_build import scenario

    from qbrecon.qbxml.build import build_requests

    pair = PAIRS[item_type]
    column = pair.business_key[0]  # the Procore column that becomes the QuickBooks name
    limit = spec.max_length(_name_path(pair))
    context, inputs = scenario()
    rows, lines = inputs[item_type]
    new = rows.index[rows["origin_id"].isna()][0]  # an Add
    for length, refused in ((limit, False), (limit + 1, True)):
        changed = rows.copy()
        changed.loc[new, column] = "7" * length
        errors = build_requests(item_type, changed, lines, context).errors
        mine = errors[(errors["procore_id"] == changed.loc[new, "id"]) & (errors["field"] == column)]
        assert len(mine) == int(refused), (length, errors.to_dict("records"))
        if refused:
            assert f"allows {limit}" in mine["message"].iloc[0]
