"""Loading both sides: Procore export layout, upsert idempotency, quarantine, money exactness, atomicity, CLI."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from qbrecon import Workspace
from qbrecon.cli import main
from qbrecon.errors import InputError


def write_export(root: Path, files: dict[str, object]) -> Path:
    """An export folder: ``{"commitments": [...], "requisitions/page_0001": [...]}`` -> JSON files."""
    root.mkdir(parents=True, exist_ok=True)
    for name, value in files.items():
        path = root / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")
    return root


def export_files() -> dict[str, object]:
    return {
        "projects": [
            {
                "id": 1,
                "name": "Tower",
                "project_number": "P-1",
                "active": True,
                "start_date": "2025-01-02",
                "total_value": "1000000.00",
                "created_at": "2025-01-01T10:00:00Z",
                "updated_at": "2025-01-02T10:00:00-05:00",
                "budget": {"locked": True},
                "created_by": {"id": 9},
                "an_unknown_field": {"nested": [1, 2]},
            },
            {"id": "2", "name": "Annex", "total_value": 12.5},
        ],
        "vendors": [{"id": 5, "name": "Acme Concrete", "is_active": True}],
        "cost_codes": [
            {"id": 3, "code": "100", "full_code": "01-100", "name": "General"},
            {"id": 3, "project_id": 1, "code": "100", "full_code": "01-100", "name": "General"},
        ],
        "commitments": [
            {
                "id": 10,
                "project": {"id": 1},
                "type": "WorkOrderContract",
                "number": "SC-1",
                "status": "Approved",
                "vendor": {"id": 5, "company": "Acme Concrete"},
                "grand_total": "0.30",
                "line_items": [
                    {"id": 100, "amount": "0.1", "cost_code": {"id": 3, "full_code": "01-100"}},
                    {"id": 101, "amount": "0.2", "holder": {"id": 10}},
                ],
            },
            {
                "id": 11,
                "project": {"id": 1},
                "type": "WorkOrderContract",
                "status": "Out For Signature",
                "line_items": [{"id": 110, "amount": 0.1}, {"id": 111, "amount": 0.2}],
            },
        ],
        "budget_changes": [
            {
                "id": 7,
                "project_id": 1,
                "number": 1,
                "status": "Approved",
                "title": "Transfer",
                "adjustment_line_items": [
                    {
                        "id": 70,
                        "type": "change_event",
                        "adjustment_number": 1,
                        "amount": "10.00",
                        "wbs_code": {"flat_code": "01-100"},
                    },
                    {"id": 71, "type": "budget_change", "adjustment_number": 1, "amount": "-10.00"},
                ],
            },
            {"id": 8, "project_id": 1, "status": "Draft", "adjustment_line_items": []},
        ],
        "requisitions/page_0001": [
            {
                "id": 50,
                "project_id": 1,
                "commitment_id": 10,
                "status": "Under Review",
                "summary": {"current_payment_due": "90.00"},
                "contract_items": [
                    {"id": 500, "work_completed_this_period": "90.00", "wbs_code": {"flat_code": "01-100"}}
                ],
            },
        ],
        "requisitions/page_0002": [
            {
                "id": 51,
                "project_id": 1,
                "commitment_id": 10,
                "status": "approved",
                "contract_items": [{"id": 501, "work_completed_this_period": "$1,087.80"}],
            },
        ],
    }


def counts(ws: Workspace) -> dict[str, int]:
    return {t: ws.store.count(t) for t in ws.tables}


def test_procore_export_loads_every_table(ws, tmp_path):
    report = ws.load_procore(write_export(tmp_path / "procore", export_files()))
    assert report.ok, str(report)
    got = report.to_frame().set_index("table")["loaded"].to_dict()
    assert got == {
        "projects": 2,
        "companies": 1,
        "cost_codes": 2,
        "budget_changes": 2,
        "commitments": 2,
        "commitment_lines": 4,
        "invoices": 2,
        "invoice_lines": 2,
    }
    commitments = ws.frame("commitments").set_index("id")
    assert commitments.loc[11, "status"] == "out_for_signature"
    assert commitments.loc[11, "status_original"] == "Out For Signature"
    assert commitments.loc[10, "vendor_id"] == 5 and commitments.loc[10, "project_id"] == 1
    lines = ws.frame("commitment_lines").set_index("id")
    assert lines.loc[100, "commitment_id"] == 10  # filled from the parent
    assert lines.loc[110, "commitment_id"] == 11
    assert dict(ws.sql("select cost_code_level, project_id from cost_codes order by 1").fetchall()) == {
        "project": 1,
        "standard": None,
    }
    bc = ws.frame("budget_changes").set_index("id")
    assert list(bc.index) == [70, 71] and set(bc["budget_change_id"]) == {7}
    assert bc.loc[70, "title"] == "Transfer" and bc.loc[71, "status"] == "approved"
    assert bc.loc[70, "cost_code_full_code"] == "01-100"
    assert any("without adjustment lines" in n for n in report.notes)
    projects = ws.frame("projects").set_index("id")
    assert projects.loc[2, "total_value"] == Decimal("12.50")  # id "2" read as a number
    assert str(projects.loc[1, "updated_at"]) == "2025-01-02 15:00:00+00:00"
    inv = ws.frame("invoice_lines").set_index("id")
    assert inv.loc[501, "work_completed_this_period"] == Decimal("1087.80")
    assert inv.loc[501, "_source_file"] == "requisitions/page_0002.json"
    runs = ws.frame("load_runs")
    assert list(runs["status"]) == ["ok"] and json.loads(runs["report_json"][0])["load_id"] == report.load_id


def test_money_is_exact_in_sql(ws, tmp_path):
    ws.load_procore(write_export(tmp_path / "procore", export_files()))
    (total,) = ws.sql("select sum(amount) from commitment_lines where commitment_id = 10").fetchall()[0]
    assert total == Decimal("0.30")
    (total,) = ws.sql("select sum(amount) from commitment_lines where commitment_id = 11").fetchall()[0]
    assert total == Decimal("0.30")  # floats 0.1 + 0.2 too
    assert str(ws.frame("commitment_lines")["amount"].dtype) == "decimal128(18, 2)[pyarrow]"


def test_loading_twice_updates_and_never_duplicates(ws, tmp_path):
    root = write_export(tmp_path / "procore", export_files())
    first = ws.load_procore(root)
    before = counts(ws)
    second = ws.load_procore(root)
    after = counts(ws)
    assert {t: n for t, n in after.items() if t not in ("load_runs",)} == {
        t: n for t, n in before.items() if t not in ("load_runs",)
    }
    assert second.loaded == 0 and second.updated == first.loaded
    assert ws.store.count("load_runs") == 2


def test_quarantine_holds_parent_with_its_lines(ws, tmp_path):
    files = export_files()
    files["commitments"][1]["line_items"][1]["amount"] = "12.345"  # three decimals
    files["projects"][1]["name"] = ""  # fails the name check (min length 1)
    report = ws.load_procore(write_export(tmp_path / "procore", files))
    assert not report.ok
    t = report.to_frame().set_index("table")
    assert t.loc["commitments", "quarantined"] == 1 and t.loc["commitments", "loaded"] == 1
    assert t.loc["commitment_lines", "quarantined"] == 2 and t.loc["commitment_lines", "loaded"] == 2
    assert t.loc["projects", "quarantined"] == 1
    # nothing of the failing commitment is stored, neither header nor its good line
    assert set(ws.frame("commitments")["id"]) == {10}
    assert set(ws.frame("commitment_lines")["id"]) == {100, 101}
    q = ws.quarantine(report.load_id)
    own = q[q["check"] == "amount"].iloc[0]
    assert own["table_name"] == "commitment_lines" and own["field"] == "amount"
    assert own["source_file"] == "commitments.json" and own["source_row"] == 2
    assert "12.345" in own["failure_case"] and json.loads(own["source_record"])["id"] == 111
    held = q[(q["table_name"] == "commitments")].iloc[0]
    assert held["check"] == "record_quarantined" and held["source_row"] == 2
    assert json.loads(held["source_record"])["line_items"] == "[2 items]"
    name = q[q["table_name"] == "projects"].iloc[0]
    assert name["field"] == "name" and name["source_row"] == 2 and "str_length" in name["check"]
    assert "quarantined" in str(report) and "commitment_lines" in report._repr_html_()


def test_every_failing_cell_is_recorded(ws, tmp_path):
    files = {
        "projects": [
            {
                "id": "x1",
                "name": None,
                "start_date": "31/12/2025",
                "total_value": {"a": 1},
                "active": "maybe",
                "created_at": "noon",
            }
        ]
    }
    report = ws.load_procore(write_export(tmp_path / "p", files))
    q = ws.quarantine(report.load_id)
    assert set(q["field"]) == {"id", "name", "start_date", "total_value", "active", "created_at"}
    assert set(q["source_row"]) == {1}


def test_reload_removes_lines_dropped_from_a_parent(ws, tmp_path):
    files = export_files()
    ws.load_procore(write_export(tmp_path / "a", files))
    files["commitments"][0]["line_items"] = files["commitments"][0]["line_items"][:1]
    del files["commitments"][1]["line_items"]  # a record without its array keeps its stored lines
    report = ws.load_procore(write_export(tmp_path / "b", files))
    assert report.tables["commitment_lines"].removed == 1
    assert set(ws.frame("commitment_lines")["id"]) == {100, 110, 111}


def test_duplicate_keys(ws, tmp_path):
    v = {"id": 5, "name": "Acme"}
    report = ws.load_procore(write_export(tmp_path / "a", {"vendors": [v, dict(v)]}))
    assert report.ok and report.tables["companies"].merged == 1 and ws.store.count("companies") == 1
    report = ws.load_procore(write_export(tmp_path / "b", {"vendors": [v, {"id": 5, "name": "Other"}]}))
    assert report.tables["companies"].quarantined == 2
    assert set(ws.quarantine(report.load_id)["check"]) == {"duplicate_key"}


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        ('[{"id": 1, "name": "x"}', "not valid JSON"),
        ('{"id": 1}', "expected a JSON array"),
        ('[{"id": 1, "name": "x"}, 7]', "row 2"),
        ("", "not valid JSON"),
    ],
)
def test_malformed_file_is_an_input_error_and_writes_nothing(ws, tmp_path, content, expect):
    ws.load_procore(write_export(tmp_path / "good", export_files()))
    before = {t: ws.frame(t) for t in ("projects", "commitments", "quarantine", "load_runs")}
    files = export_files()
    files["vendors"] = content
    with pytest.raises(InputError) as exc:
        ws.load_procore(write_export(tmp_path / "bad", files))
    assert expect in str(exc.value) and "vendors.json" in str(exc.value)
    for t, frame in before.items():
        assert ws.frame(t).equals(frame)


def test_unexpected_error_rolls_back_the_whole_load(ws, tmp_path, monkeypatch):
    root = write_export(tmp_path / "procore", export_files())
    real = ws.store.upsert
    calls = []

    def failing(table, data, key, **how):
        calls.append(table)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real(table, data, key, **how)

    monkeypatch.setattr(ws.store, "upsert", failing)
    with pytest.raises(RuntimeError):
        ws.load_procore(root)
    assert all(
        ws.store.count(t) == 0 for t in ("projects", "companies", "cost_codes", "load_runs", "quarantine")
    )


def test_missing_folder_and_empty_folder(ws, tmp_path):
    with pytest.raises(InputError, match="no such"):
        ws.load_procore(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no Procore export files"):
        ws.load_procore(tmp_path / "empty")


def test_quickbooks_samples_load(ws, shared_dir, tmp_path):
    samples = shared_dir / "qbxml" / "samples"
    report = ws.load_quickbooks(samples)
    t = report.to_frame().set_index("table")["loaded"].to_dict()
    assert t == {"customers": 2, "purchase_orders": 1, "purchase_order_lines": 1, "bills": 3}
    assert ws.store.count("bill_lines") == 0
    codes = sorted(r["statusCode"] for r in report.response_errors)
    assert codes == [3120, 3180]
    assert any(r["statusCode"] == 500 for r in report.responses) and report.status == "errors"
    assert "3120" in str(report) and "no rows" in str(report)
    again = ws.load_quickbooks(samples)
    assert again.loaded == 0 and again.updated == 7
    # one file
    one = Workspace()
    try:
        r = one.load_quickbooks(samples / "05_qbwc-qbxml_purchase_order_query_rs.xml")
        assert r.ok and one.store.count("purchase_order_lines") == 1
    finally:
        one.close()


def test_quickbooks_lines_of_a_requeried_bill_are_replaced(ws, tmp_path):
    def bill(lines: str) -> bytes:
        return (
            f'<?xml version="1.0"?><QBXML><QBXMLMsgsRs><BillQueryRs statusCode="0"><BillRet><TxnID>T</TxnID>'
            f"<AmountDue>1.00</AmountDue>{lines}</BillRet></BillQueryRs></QBXMLMsgsRs></QBXML>"
        ).encode()

    a, b, c = (tmp_path / n for n in "abc")
    for d in (a, b, c):
        d.mkdir()
    line = "<ItemLineRet><TxnLineID>{}</TxnLineID><Amount>1.00</Amount></ItemLineRet>"
    (a / "BillQueryRs.xml").write_bytes(bill(line.format("L1") + line.format("L2")))
    (b / "BillQueryRs.xml").write_bytes(bill(line.format("L2")))
    (c / "BillQueryRs.xml").write_bytes(bill(""))  # queried without line items
    ws.load_quickbooks(a)
    assert ws.load_quickbooks(b).tables["bill_lines"].removed == 1
    ws.load_quickbooks(c)
    assert list(ws.frame("bill_lines")["TxnLineID"]) == ["L2"]


def test_invalid_qbxml_row_is_quarantined_with_its_lines(ws, tmp_path):
    xml = (
        b'<QBXML><QBXMLMsgsRs><BillQueryRs statusCode="0"><BillRet><TxnID>T</TxnID>'
        b"<ItemLineRet><TxnLineID>L1</TxnLineID><Amount>1.001</Amount></ItemLineRet></BillRet>"
        b"<BillRet><TxnID>U</TxnID></BillRet></BillQueryRs></QBXMLMsgsRs></QBXML>"
    )
    (tmp_path / "BillQueryRs_0001.xml").write_bytes(xml)
    report = ws.load_quickbooks(tmp_path)
    assert report.tables["bills"].loaded == 1 and report.tables["bills"].quarantined == 1
    q = ws.quarantine(report.load_id)
    row = q[q["check"] == "amount"].iloc[0]
    assert row["table_name"] == "bill_lines" and row["field"] == "Amount" and row["source_row"] == 1
    assert row["source_file"] == "BillQueryRs_0001.xml"
    assert list(ws.frame("bills")["TxnID"]) == ["U"]


def test_an_already_parsed_response_loads_through_the_same_path(ws, tmp_path):
    """``ws.load_query_result``: the public entry for qbXML already read (a Web Connector refresh page) -- the
    same validation, quarantine, stale-line removal and load_runs row as ``load_quickbooks``."""
    from qbrecon.qbxml.parse import read_query_response

    def bill(lines: str, amount: str = "2.00") -> bytes:
        return (
            f'<QBXML><QBXMLMsgsRs><BillQueryRs requestID="r" statusCode="0"><BillRet><TxnID>T</TxnID>'
            f"<AmountDue>{amount}</AmountDue>{lines}</BillRet><BillRet><TxnID>U</TxnID><AmountDue>x</AmountDue>"
            "</BillRet></BillQueryRs></QBXMLMsgsRs></QBXML>"
        ).encode()

    line = "<ItemLineRet><TxnLineID>{}</TxnLineID><Amount>1.00</Amount></ItemLineRet>"
    (tmp_path / "BillQueryRs.xml").write_bytes(bill(line.format("L1") + line.format("L2")))
    from_file = ws.load_quickbooks(tmp_path)
    parsed = read_query_response(bill(line.format("L2"), "1.00"), name="qbxml message 7")
    report = ws.load_query_result(parsed, source="Web Connector refresh: BillQuery page")
    assert (report.side, report.source, report.files) == (
        "quickbooks",
        "Web Connector refresh: BillQuery page",
        ["Web Connector refresh: BillQuery page"],
    )
    assert report.load_id > from_file.load_id
    assert (report.tables["bills"].updated, report.tables["bills"].quarantined) == (1, 1)  # U: AmountDue 'x'
    assert report.tables["bill_lines"].removed == 1 and list(ws.frame("bill_lines")["TxnLineID"]) == ["L2"]
    assert ws.store.scalar('SELECT "AmountDue" FROM bills WHERE "TxnID" = \'T\'') == Decimal("1.00")
    assert ws.quarantine(report.load_id)["field"].tolist() == ["AmountDue"]
    assert [r["requestID"] for r in report.responses] == ["r"]
    runs = ws.load_runs().set_index("load_id")
    assert runs.loc[report.load_id, "source"] == "Web Connector refresh: BillQuery page"


def test_cli_load_exit_codes_and_formats(tmp_path, shared_dir):
    runner = CliRunner()
    w = str(tmp_path / "w.duckdb")
    good = write_export(tmp_path / "procore", export_files())
    one = str(shared_dir / "qbxml" / "samples" / "03_qbwc-qbxml_customer_query_rs.xml")
    r = runner.invoke(main, ["load", "-w", w, "--procore", str(good), "--quickbooks", one])
    assert r.exit_code == 0, r.output
    assert "commitment_lines" in r.output and "customers" in r.output
    r = runner.invoke(main, ["load", "-w", w, "--quickbooks", one, "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.output)[0]["tables"][0]["updated"] == 1
    r = runner.invoke(main, ["load", "-w", w, "--quickbooks", one, "--format", "csv"])
    assert r.exit_code == 0 and r.output.splitlines()[0].startswith("load_id,side,table,read,loaded")
    bad = tmp_path / "bad"
    shutil.copytree(good, bad)
    (bad / "vendors.json").write_text('[{"id": 5, "name": ""}]')
    r = runner.invoke(main, ["load", "-w", w, "--procore", str(bad)])
    assert r.exit_code == 1 and "quarantined" in r.output
    (bad / "vendors.json").write_text("[{")
    r = runner.invoke(main, ["load", "-w", w, "--procore", str(bad)])
    assert r.exit_code == 2 and "vendors.json" in r.output
    r = runner.invoke(main, ["load", "-w", w])
    assert r.exit_code == 2
