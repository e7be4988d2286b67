"""Reconciliation: matching, explanations, tolerances, the answer key, datacompy agreement, reports, CLI."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal as D

import pandas as pd
import pytest

from qbrecon.errors import InputError
from qbrecon.reconcile import parse_tolerance
from qbrecon.reconcile.reports import safe_cell


def put(ws, table: str, rows: list[dict]) -> None:
    ws.store.put_rows(table, rows)


def world(ws) -> None:
    """One job, two cost codes, a linked vendor, a commitment with an unexported CCO, four invoices."""
    put(
        ws,
        "companies",
        [
            dict(
                id=1,
                name="Acme Concrete, Inc.",
                origin_id="V1",
                origin_data='{"edit_sequence":"100"}',
                synced_to_erp=True,
            ),
            dict(id=2, name="Bolt Electric LLC"),
            dict(
                id=3,
                name="Cedar Framing Co",
                origin_id="V3",
                origin_data='{"edit_sequence":"100"}',
                synced_to_erp=True,
            ),
            dict(id=4, name="Delta Drywall Partners"),
        ],
    )
    put(
        ws,
        "vendors",
        [
            dict(ListID="V1", Name="Acme Concrete, Inc.", EditSequence="100"),
            dict(ListID="V2", Name="BOLT ELECTRIC", EditSequence="5"),
            dict(ListID="V3", Name="Cedar Framing Company of Tacoma", EditSequence="200"),
            dict(ListID="V5", Name="Delta Drywal Partners Inc", EditSequence="1"),
        ],
    )
    put(
        ws,
        "projects",
        [
            dict(
                id=10,
                name="Main St Tower",
                origin_id="J1",
                origin_data='{"edit_sequence":"1"}',
                is_erp_integrated=True,
            ),
            dict(id=11, name="Harbor View Medical Office Building Phase Two", is_erp_integrated=True),
        ],
    )
    put(
        ws,
        "customers",
        [
            dict(ListID="C0", Name="Owner", FullName="Owner", Sublevel=0),
            dict(
                ListID="J1",
                Name="Main St Tower",
                FullName="Owner:Main St Tower",
                Sublevel=1,
                EditSequence="1",
            ),
        ],
    )
    put(
        ws,
        "cost_codes",
        [
            dict(id=100, cost_code_level="standard", code="100", full_code="01-100", origin_id="I1"),
            dict(id=101, cost_code_level="standard", code="200", full_code="01-200", origin_id="I2"),
            dict(
                id=500,
                cost_code_level="project",
                project_id=10,
                code="100",
                full_code="01-100",
                origin_id="J1|I1",
                standard_cost_code_id=100,
            ),
            dict(
                id=501,
                cost_code_level="project",
                project_id=10,
                code="200",
                full_code="01-200",
                origin_id="J1|I2",
                standard_cost_code_id=101,
            ),
        ],
    )
    put(
        ws,
        "items",
        [
            dict(ListID="I1", Name="01-100", FullName="01-100", ItemType="ItemService"),
            dict(ListID="I2", Name="01-200", FullName="01-200", ItemType="ItemService"),
            dict(ListID="IR", Name="Retainage", FullName="Retainage", ItemType="ItemService"),
        ],
    )
    put(
        ws,
        "commitments",
        [
            dict(
                id=20,
                project_id=10,
                type="WorkOrderContract",
                number="SC-001",
                status="approved",
                vendor_id=1,
                grand_total=D("1000.00"),
                origin_id="PO1",
                origin_data='{"edit_sequence":"50"}',
                contract_date=dt.date(2024, 1, 5),
            )
        ],
    )
    put(
        ws,
        "commitment_lines",
        [
            dict(id=200, commitment_id=20, cost_code_id=500, amount=D("600.00")),
            dict(id=201, commitment_id=20, cost_code_id=501, amount=D("400.00")),
        ],
    )
    put(
        ws,
        "change_orders",
        [dict(id=30, project_id=10, contract_id=20, number="001", status="approved", grand_total=D("50.00"))],
    )
    put(ws, "change_order_lines", [dict(id=300, change_order_id=30, cost_code_id=500, amount=D("50.00"))])
    put(
        ws,
        "purchase_orders",
        [
            dict(
                TxnID="PO1",
                RefNumber="SC-001",
                VendorRef_ListID="V1",
                TotalAmount=D("1000.00"),
                EditSequence="60",
                TxnDate=dt.date(2024, 1, 5),
            )
        ],
    )
    put(
        ws,
        "purchase_order_lines",
        [
            dict(TxnID="PO1", TxnLineID="1", ItemRef_ListID="I1", Amount=D("600.00")),
            dict(TxnID="PO1", TxnLineID="2", ItemRef_ListID="I2", Amount=D("400.00")),
        ],
    )
    inv = dict(project_id=10, commitment_id=20, vendor_id=1, status="approved")
    put(
        ws,
        "invoices",
        [
            dict(
                inv,
                id=40,
                invoice_number="INV-1",
                current_payment_due=D("900.00"),
                billing_date=dt.date(2024, 3, 1),
                origin_id="B1",
                origin_data='{"edit_sequence":"10"}',
                erp_status="synced",
            ),
            dict(
                inv,
                id=41,
                invoice_number="INV-2",
                current_payment_due=D("90.00"),
                erp_status="failed_to_export",
                billing_date=dt.date(2024, 4, 1),
            ),
            dict(
                inv,
                id=42,
                invoice_number="INV-3",
                current_payment_due=D("90.00"),
                origin_id="B3",
                origin_data='{"edit_sequence":"10"}',
                erp_status="synced",
                billing_date=dt.date(2024, 5, 1),
            ),
            dict(
                inv,
                id=43,
                invoice_number="INV-4",
                current_payment_due=D("90.00"),
                erp_status="ready_to_export",
                billing_date=dt.date(2024, 6, 1),
            ),
        ],
    )
    put(
        ws,
        "invoice_lines",
        [
            dict(id=400, requisition_id=40, cost_code_id=500, work_completed_this_period=D("600.00")),
            dict(id=401, requisition_id=40, cost_code_id=501, work_completed_this_period=D("400.00")),
            dict(id=402, requisition_id=42, cost_code_id=500, work_completed_this_period=D("100.00")),
        ],
    )
    put(
        ws,
        "bills",
        [
            dict(
                TxnID="B1",
                RefNumber="INV-1",
                VendorRef_ListID="V1",
                AmountDue=D("905.00"),
                TxnDate=dt.date(2024, 3, 1),
                EditSequence="20",
            ),
            dict(
                TxnID="B3",
                RefNumber="INV-3",
                VendorRef_ListID="V1",
                AmountDue=D("100.00"),
                EditSequence="10",
                TxnDate=dt.date(2024, 5, 1),
            ),
            dict(
                TxnID="B9",
                RefNumber='=HYPERLINK("http://x")',
                VendorRef_ListID="V2",
                AmountDue=D("77.00"),
                TxnDate=dt.date(2024, 7, 1),
            ),
        ],
    )
    line = dict(LineKind="item", CustomerRef_ListID="J1")
    put(
        ws,
        "bill_lines",
        [
            dict(line, TxnID="B1", TxnLineID="1", ItemRef_ListID="I1", Amount=D("605.00")),
            dict(line, TxnID="B1", TxnLineID="2", ItemRef_ListID="I2", Amount=D("400.00")),
            dict(line, TxnID="B1", TxnLineID="3", ItemRef_ListID="IR", Amount=D("-100.00")),
            dict(line, TxnID="B3", TxnLineID="1", ItemRef_ListID="I1", Amount=D("100.00")),
            dict(line, TxnID="B9", TxnLineID="1", ItemRef_ListID="I1", Amount=D("77.00")),
        ],
    )


def findings(rec) -> set[tuple]:
    d = rec.differences
    return {
        (
            r.pair,
            r.procore_id if r.procore_id is not pd.NA else None,
            r.quickbooks_id if r.quickbooks_id is not pd.NA else None,
            r.reason,
        )
        for r in d.itertuples(index=False)
    }


def test_every_difference_is_found_and_explained(ws):
    world(ws)
    rec = ws.reconcile()
    assert findings(rec) == {
        ("company", "3", "V3", "vendor_renamed"),  # linked, renamed in QuickBooks
        ("company", None, "V5", "only_in_quickbooks"),  # near-miss name: a suggestion, never a link
        ("project", "11", None, "name_too_long"),
        ("commitment", "20", "PO1", "stale_edit_sequence"),  # PO equal, but modified after Procore's sync
        ("change_order", "30", "PO1", "cco_not_exported"),
        ("invoice", "40", "B1", "amount_changed_in_quickbooks"),  # header and line
        ("invoice", "41", None, "failed_to_export"),
        ("invoice", "42", "B3", "retainage_line_missing"),  # amount and retainage fields
        ("invoice", None, "B9", "only_in_quickbooks"),
    }
    d = rec.differences
    line = d[(d["pair"] == "invoice") & (d["level"] == "line")]
    assert line[["cost_code", "procore_value", "quickbooks_value"]].values.tolist() == [
        ["01-100", "600.00", "605.00"]
    ]
    assert line["delta"].tolist() == [D("-5.00")]
    # money stays decimal; identifiers stay strings
    assert str(d["delta"].dtype).startswith("decimal128(18, 2)")
    assert all(isinstance(x, str) for x in d["procore_id"].dropna())
    # Bolt Electric LLC = BOLT ELECTRIC by normalised name: matched by key, no difference
    s = rec.summary.set_index("pair")
    assert s.loc["company", "matched_equal"] == 2 and s.loc["company", "only_in_quickbooks"] == 1
    assert s.loc["invoice", "not_exported"] == 1  # INV-4 Ready to Export: pending, not a difference
    assert rec.suggestions[["procore_id", "quickbooks_id"]].values.tolist() == [["4", "V5"]]
    assert_ties_out(rec)
    assert rec.suggestions["score"].iloc[0] >= 80
    assert set(d["reason_text"]) <= set(__import__("qbrecon.reasons", fromlist=["REASONS"]).REASONS.values())


def test_ambiguous_business_key_is_never_linked(ws):
    put(ws, "companies", [dict(id=1, name="Summit Roofing")])
    put(
        ws,
        "vendors",
        [dict(ListID="A", Name="Summit Roofing Inc"), dict(ListID="B", Name="SUMMIT ROOFING, LLC")],
    )
    rec = ws.reconcile(pair="company")
    d = rec.differences
    assert d["reason"].tolist() == ["ambiguous_match"] and d["procore_id"].tolist() == ["1"]
    assert d["quickbooks_value"].tolist() == ["A,B"]
    assert rec.summary["ambiguous"].tolist() == [1] and rec.summary["only_in_quickbooks"].tolist() == [0]


def test_ambiguous_money_is_explained_once(ws):
    """An invoice two bills could match: one finding carries both sides' money, so the pair still ties out."""
    put(ws, "companies", [dict(id=1, name="Acme", origin_id="V1")])
    put(ws, "vendors", [dict(ListID="V1", Name="Acme")])
    put(
        ws,
        "invoices",
        [
            dict(
                id=40,
                invoice_number="INV-1",
                vendor_id=1,
                status="approved",
                erp_status="synced",
                current_payment_due=D("100.00"),
            )
        ],
    )
    put(
        ws,
        "bills",
        [
            dict(TxnID="B1", RefNumber="INV-1", VendorRef_ListID="V1", AmountDue=D("60.00")),
            dict(TxnID="B2", RefNumber="INV-1", VendorRef_ListID="V1", AmountDue=D("30.00")),
        ],
    )
    rec = ws.reconcile(pair=["company", "invoice"])
    d = rec.differences
    assert d[["reason", "quickbooks_value", "delta"]].values.tolist() == [
        ["ambiguous_match", "B1,B2", D("10.00")]
    ]
    s = rec.summary.set_index("pair").loc["invoice"]
    assert s["ambiguous"] == 1 and s["only_in_quickbooks"] == 0 and s["delta"] == D("10.00")
    assert_ties_out(rec)


def test_tie_out_for_any_selection(tmp_path):
    from qbrecon import Workspace
    from qbrecon.fixtures.generator import generate

    generate(tmp_path / "fx", projects=3, seed=3)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ws.load_procore(tmp_path / "fx" / "procore")
        ws.load_quickbooks(tmp_path / "fx" / "quickbooks")
        for options in [
            dict(pair=["job_cost"]),
            dict(pair="invoice"),
            dict(pair=["company", "commitment"]),
            dict(as_of="2024-06-30"),
            dict(tolerance={"amount": {"abs": 100, "rel": 0.01}}),
        ]:
            rec = ws.reconcile(**options)
            assert_ties_out(rec)
            assert_reports_tie_out(rec, tmp_path)


def test_identifiers_compare_exactly_as_text(ws):
    put(ws, "companies", [dict(id=1, name="Acme", origin_id="V1")])
    put(ws, "vendors", [dict(ListID="V1", Name="Acme")])
    put(
        ws,
        "commitments",
        [
            dict(
                id=5,
                project_id=1,
                type="WorkOrderContract",
                number="00123",
                status="approved",
                vendor_id=1,
                grand_total=D("10.00"),
            )
        ],
    )
    put(
        ws,
        "purchase_orders",
        [dict(TxnID="T1", RefNumber="123", VendorRef_ListID="V1", TotalAmount=D("10.00"))],
    )
    rec = ws.reconcile(pair="commitment")
    # "00123" is not "123": no key match, so nothing pairs up (the commitment is not yet sent: pending)
    assert findings(rec) == {("commitment", None, "T1", "only_in_quickbooks")}
    assert rec.summary["not_exported"].tolist() == [1]


def test_tolerances_absolute_relative_and_per_field(ws):
    world(ws)
    # the changed line is 5.00 off: inside abs 5, outside abs 4.99; rel 0.01 of 905 = 9.05 covers it
    assert ("invoice", "40", "B1", "amount_changed_in_quickbooks") not in findings(ws.reconcile(tolerance=5))
    assert ("invoice", "40", "B1", "amount_changed_in_quickbooks") in findings(ws.reconcile(tolerance="4.99"))
    rel = ws.reconcile(pair="invoice", tolerance={"amount": {"abs": 0, "rel": 0.01}})
    assert ("invoice", "40", "B1", "amount_changed_in_quickbooks") not in findings(rel)
    # retainage keeps its own (exact) tolerance
    assert ("invoice", "42", "B3", "retainage_line_missing") in findings(rel)
    assert parse_tolerance({"amount": 0.01})["amount"] == (D("0.01"), D(0))
    with pytest.raises(InputError, match="abs"):
        parse_tolerance({"amount": {"absolute": 1}})
    with pytest.raises(InputError, match="non-negative"):
        parse_tolerance(-1)


def test_as_of_ignores_later_transactions(ws):
    world(ws)
    rec = ws.reconcile(pair="invoice", as_of="2024-03-31")
    assert findings(rec) == {("invoice", "40", "B1", "amount_changed_in_quickbooks")}
    with pytest.raises(InputError, match="as_of"):
        ws.reconcile(as_of="yesterday")


def test_erp_state_explains_missing_records(ws):
    world(ws)
    ws.store.execute("""INSERT INTO erp_items (item_type, procore_id, status) VALUES
                        ('invoice', 43, 'synced'), ('company', 4, 'failed_to_export')""")
    got = findings(ws.reconcile(pair=["company", "invoice"]))
    assert ("invoice", "43", None, "missing_in_quickbooks") in got
    assert ("company", "4", None, "failed_to_export") in got


def test_retainage_item_comes_from_the_erp_setting(ws):
    world(ws)
    # with another service item as the retainage item, B1's -100 line is an unknown item line
    put(ws, "items", [dict(ListID="IR2", Name="Retention", FullName="Retention", ItemType="ItemService")])
    ws.store.execute("""INSERT INTO erp_settings VALUES ('invoice_retainage_item',
                        '{"ListID": "IR2", "FullName": "Retention"}', NULL, now())""")
    got = findings(ws.reconcile(pair="invoice"))
    assert ("invoice", "40", "B1", "retainage_line_missing") in got


def test_unknown_pair_is_a_clear_error(ws):
    with pytest.raises(InputError, match="unknown pair 'bills'"):
        ws.reconcile(pair="bills")


# -- the generated fixtures ---------------------------------------------------------------------------------
@pytest.mark.parametrize("projects,seed", [(5, 1), (4, 7)])
def test_answer_key(tmp_path, projects, seed):
    """Every planted discrepancy is found with its reason, and nothing else is reported."""
    from qbrecon import Workspace
    from qbrecon.fixtures.generator import generate

    out = tmp_path / "fx"
    generate(out, projects=projects, seed=seed)
    key = json.loads((out / "answer_key.json").read_text())["discrepancies"]
    with Workspace(tmp_path / "ws.duckdb") as ws:
        assert ws.load_procore(out / "procore").ok and ws.load_quickbooks(out / "quickbooks").ok
        rec = ws.reconcile()
    expected = {
        (k["pair"], str(k["procore_id"]) if k["procore_id"] is not None else k["quickbooks_id"], k["reason"])
        for k in key
        if k.get("expect_difference", True)
    }
    got = {
        (p, pid, r)
        for p, pid, qid, r in ((a, b, c, d) for a, b, c, d in findings(rec))
        for pid in [pid if pid is not None else qid]
    }
    assert expected and got == expected
    # documented history that must not be reported (rejected, corrected and re-sent)
    quiet = {str(k["procore_id"]) for k in key if not k.get("expect_difference", True)}
    assert not quiet & set(rec.differences["procore_id"].dropna())


def assert_ties_out(rec) -> None:
    """Summary = findings = headline: every Procore record in one column, every money difference explained."""
    s, d = rec.summary.set_index("pair"), rec.differences
    assert int(s["differences"].sum()) == rec.n_differences == len(d)
    counted = d[d["counted"]]
    for pair, row in s.iterrows():
        mine = d[d["pair"] == pair]
        assert row["differences"] == len(mine), pair
        # each Procore record (or job-to-date key) is counted in exactly one column
        columns = [
            "matched_equal",
            "matched_with_differences",
            "only_in_procore",
            "ambiguous",
            "not_exported",
            "explained_elsewhere",
        ]
        assert row["procore_records"] == sum(int(row[c]) for c in columns), pair
        assert row["matched_with_differences"] == len(
            mine[mine["level"] != "record"][["procore_id", "quickbooks_id"]].drop_duplicates()
        ), pair
        if pd.isna(row["procore_total"]):  # lists: no money
            assert mine["delta"].isna().all(), pair
            continue
        deltas = counted[counted["pair"] == pair]["delta"].tolist()
        assert row["delta"] == sum(deltas, D(0)), pair
        assert row["abs_delta"] == sum((abs(x) for x in deltas), D(0)), pair
        # the money difference is explained: queue + other pairs' findings + tolerance + this pair's findings
        explained = (
            row["in_queue_total"]
            + row["explained_elsewhere_total"]
            + row["within_tolerance_total"]
            + row["delta"]
        )
        assert row["procore_total"] - row["quickbooks_total"] == explained, pair
        if pair != "job_cost":
            assert row["explained_elsewhere"] == 0 and row["explained_elsewhere_total"] == 0, pair
    # the headline is the sum of the Delta column (and of the absolute column)
    assert rec.total_delta == s["delta"].dropna().sum()
    assert rec.total_abs_delta == s["abs_delta"].dropna().sum()
    assert rec.variance("project")["delta"].sum() == rec.total_delta == rec.variance("vendor")["delta"].sum()
    # no finding's money counts twice: a record/amount finding per matched pair or record, at most
    keys = counted[["pair", "procore_id", "quickbooks_id", "level"]].astype(str)
    assert not keys.duplicated().any()


def test_fixtures_tie_out(tmp_path):
    """On the generated fixtures the summary, the findings and the headline agree, and with a tolerance too."""
    from qbrecon import Workspace
    from qbrecon.fixtures.generator import generate

    out = tmp_path / "fx"
    generate(out, projects=4, seed=7)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        assert ws.load_procore(out / "procore").ok and ws.load_quickbooks(out / "quickbooks").ok
        rec = ws.reconcile()
        loose = ws.reconcile(tolerance="10000")
    assert_ties_out(rec)
    s = rec.summary.set_index("pair")
    # invoices still in the approval queue are their own column, never a delta (nor a job-cost delta)
    assert s.loc["invoice", "not_exported"] > 0 and s.loc["invoice", "in_queue_total"] > 0
    assert s.loc["job_cost", "in_queue_total"] > 0 and s.loc["job_cost", "delta"] == 0
    assert (s["within_tolerance_total"].dropna() == 0).all()  # exact run: nothing hidden by a tolerance
    # one missing retainage line: its money once in the totals
    d = rec.differences
    # one planted on a subcontractor invoice's bill, one on an owner invoice
    for pair in ("invoice", "owner_invoice"):
        missing = d[(d["reason"] == "retainage_line_missing") & (d["pair"] == pair)]
        assert len(missing) == 2 and missing["counted"].tolist().count(True) == 1, pair
    assert_ties_out(loose)
    assert (loose.summary["within_tolerance_total"].dropna() != 0).any()
    assert_reports_tie_out(rec, tmp_path)


def _visible_text(html: str) -> str:
    import html as html_module

    text = re.sub(r"<(style|svg)\b.*?</\1>", " ", html, flags=re.S)
    return html_module.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)))


def assert_reports_tie_out(rec, tmp_path) -> None:
    """The HTML and the Excel workbook show the same totals as the summary and the headline, in people's words."""
    from openpyxl import load_workbook

    from qbrecon.formats import money_text

    s = rec.summary.set_index("pair")
    # HTML: the headline and the summary's Total row are the sum of the Delta column; money formatted
    html = rec.to_html(tmp_path / "r.html")
    text = _visible_text(html)
    headline = re.search(r'<p id="headline">(.*?)</p>', html, flags=re.S).group(1)
    assert money_text(rec.total_delta) in headline and money_text(rec.total_abs_delta) in headline

    def row(row_id: str) -> list[str]:
        return _visible_text(
            re.search(rf'<tr class="total" id="{row_id}">(.*?)</tr>', html, flags=re.S).group(1)
        ).split()

    assert row("records-total") == ["Total", "(headline)", str(rec.n_differences)]
    assert row("money-total") == [
        "Total",
        "(headline)",
        money_text(rec.total_delta),
        money_text(rec.total_abs_delta),
    ]
    for pair, row in s.iterrows():
        if not pd.isna(row["delta"]):
            assert money_text(row["delta"]) in text and money_text(row["in_queue_total"]) in text, pair
    from qbrecon.reconcile.labels import PAIR_TITLES

    assert "In the queue" in text and all(PAIR_TITLES[p] in text for p in rec.pairs)
    assert ("Whole record" in text) == (rec.differences["level"] == "record").any()
    for code in ["matched_with_differences", "abs_delta", "not_exported", "retainage_line_missing", "<NA>"]:
        assert code not in text, code
    assert not {"None", "nan", "NaN", "None."} & set(text.split())
    # printing shows the differences: every group is open, and print CSS keeps them displayed
    assert html.count("<details") == html.count("<details open>")
    assert (html.count("<details") > 0) == (rec.n_differences > 0)
    assert "@media print" in html

    # Excel: a cover, the summary, one sheet per pair with findings; human headers; filters, frozen headers
    wb = load_workbook(rec.to_excel(tmp_path / "r.xlsx"))
    with_findings = [p for p in rec.pairs if (rec.differences["pair"] == p).any()]
    assert len(wb.sheetnames) == 2 + len(with_findings) + (0 if rec.suggestions.empty else 1)
    assert wb.sheetnames[:2] == ["Cover", "Summary"]
    snake = re.compile(r"^[a-z]+(_[a-z]+)+$")
    for sheet in wb.worksheets:
        assert sheet.max_row > 1, f"empty sheet {sheet.title}"
        assert not snake.match(sheet.title)
        if sheet.title == "Cover":
            continue
        header = [c.value for c in sheet[1]]
        assert not [h for h in header if snake.match(str(h))], (sheet.title, header)
        assert sheet.auto_filter.ref and sheet.freeze_panes == "B2", sheet.title
        widths = [sheet.column_dimensions[c.column_letter].width for c in sheet[1]]
        assert min(widths) >= 12, (sheet.title, widths)
    cover = {r[0]: r[1] for r in wb["Cover"].iter_rows(values_only=True)}
    assert cover["Run at"] == rec.created_at.strftime("%Y-%m-%d %H:%M UTC")
    assert "0 absolute" in cover["Tolerance"] and cover["As of"]
    assert cover["Findings"] == rec.n_differences
    assert D(str(cover["Delta (Procore - QuickBooks)"])) == rec.total_delta
    assert D(str(cover["Absolute difference"])) == rec.total_abs_delta
    summary = list(wb["Summary"].iter_rows(values_only=True))
    header, body, total = summary[0], summary[1:-1], summary[-1]
    col = {h: i for i, h in enumerate(header)}
    assert total[0] == "Total (headline)"
    assert D(str(total[col["Delta (Procore - QuickBooks)"]])) == rec.total_delta
    assert D(str(total[col["Absolute difference"]])) == rec.total_abs_delta
    assert [r[col["Findings"]] for r in body] == s["differences"].tolist()
    from qbrecon.reconcile.labels import SHEET_NAMES

    for pair in with_findings:
        sheet = list(wb[SHEET_NAMES[pair]].iter_rows(values_only=True))
        i = sheet[0].index("Difference (in the totals)")
        counted = sum((D(str(r[i])) for r in sheet[1:] if r[i] is not None), D(0))
        expected = s.loc[pair, "delta"]
        assert counted == (0 if pd.isna(expected) else expected), pair
        assert "QuickBooks id (ListID / TxnID)" in sheet[0]


# -- agreement with datacompy -----------------------------------------------------------------------------
def test_line_differences_agree_with_datacompy():
    """Same 20k lines, same tolerance: qbrecon's line findings = datacompy's mismatches + one-sided rows."""
    pytest.importorskip("datacompy")
    import sys

    from conftest import REPO

    if str(REPO) not in sys.path:  # benchmarks/ is a package at the repo root, not installed
        sys.path.insert(0, str(REPO))
    from benchmarks.bench_reconcile import datacompy_differences, line_frames, synthesize
    from qbrecon import Workspace

    with Workspace() as ws:
        synthesize(ws.store.con, 20_000)
        item_of = dict(ws.store.execute('SELECT "FullName", "ListID" FROM items').fetchall())
        p, q = line_frames(ws.store.con)
        rec = ws.reconcile(pair="invoice", tolerance=D("0.02"))
    d = rec.differences
    lines = d[d["level"] == "line"]
    ours = {(t, item_of[c]) for t, c in zip(lines["quickbooks_id"], lines["cost_code"], strict=True)}
    theirs = datacompy_differences(p, q, 0.02)
    assert len(ours) > 100 and ours == theirs
    # one-sided lines are named as such
    assert {"line_missing_in_quickbooks", "line_only_in_quickbooks", "amount_differs"} <= set(lines["reason"])


# -- reports -----------------------------------------------------------------------------------------------
def test_html_report_is_self_contained_and_escaped(ws, tmp_path):
    world(ws)
    put(ws, "companies", [dict(id=9, name="<script>alert(1)</script> & Sons", origin_id="V9")])
    rec = ws.reconcile()
    html = rec.to_html(tmp_path / "r.html")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Sons" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # no CDN, no external asset
    assert "<svg" in html and "Variance by project" in html
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == html
    fragment = rec._repr_html_()
    assert "<html" not in fragment and "Summary" in fragment


def test_excel_is_formula_safe_with_numeric_money(ws, tmp_path):
    from openpyxl import load_workbook

    world(ws)
    rec = ws.reconcile()
    path = rec.to_excel(tmp_path / "r.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames[:2] == ["Cover", "Summary"] and {"Invoices - Bills", "Companies - Vendors"} <= set(
        wb.sheetnames
    )
    sheet = wb["Invoices - Bills"]
    header = [c.value for c in sheet[1]]
    rows = [dict(zip(header, [c for c in r], strict=True)) for r in sheet.iter_rows(min_row=2)]
    numbers = [r["Number"].value for r in rows]
    assert '\'=HYPERLINK("http://x")' in numbers  # formula text neutralised
    deltas = [
        r["Difference (in the totals)"] for r in rows if r["Difference (in the totals)"].value is not None
    ]
    assert deltas and all(isinstance(c.value, int | float | D) for c in deltas)
    assert all(c.number_format == "#,##0.00;-#,##0.00" for c in deltas)
    for v in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"]:
        assert safe_cell(v) == "'" + v
    assert safe_cell("ok") == "ok" and safe_cell(D("-1.00")) == D("-1.00")


def test_variance_and_thresholds(ws):
    world(ws)
    rec = ws.reconcile()
    by_vendor = rec.variance("vendor")
    assert by_vendor["vendor"].iloc[0] == "Acme Concrete, Inc."
    d = rec.differences
    # INV-3's missing retainage line shows on the amount and on the retainage field: its money counts once
    inv3 = d[(d["procore_id"] == "42")].set_index("field")
    assert inv3.loc["amount", "counted"] and not inv3.loc["retainage", "counted"]
    counted = d[(d["level"] == "record") | ((d["level"] == "header") & (d["field"] == "amount"))]
    assert rec.total_abs_delta == sum(abs(x) for x in counted["delta"].dropna())
    assert rec.total_delta == rec.summary["delta"].dropna().sum() == rec.variance("project")["delta"].sum()
    assert rec.exceeds(fail_over=1) and not rec.exceeds(fail_over=10**6)
    assert rec.exceeds(max_differences=0) and not rec.exceeds(max_differences=10**6)


# -- CLI ----------------------------------------------------------------------------------------------------
def test_cli_writes_reports_and_exits_3_over_threshold(tmp_path):
    from click.testing import CliRunner

    from qbrecon import Workspace
    from qbrecon.cli import main

    path = tmp_path / "ws.duckdb"
    with Workspace(path) as w:
        world(w)
    runner = CliRunner()
    args = [
        "reconcile",
        "-w",
        str(path),
        "--out",
        str(tmp_path / "r.html"),
        "--xlsx",
        str(tmp_path / "r.xlsx"),
    ]
    ok = runner.invoke(main, args + ["--quiet", "--fail-over", "1000000"])
    assert ok.exit_code == 0, ok.output
    assert "amount_changed_in_quickbooks" in ok.output and (tmp_path / "r.xlsx").exists()
    over = runner.invoke(main, args + ["--quiet", "--max-differences", "3"])
    assert over.exit_code == 3
    one = runner.invoke(main, args + ["--pair", "project", "--quiet", "--max-differences", "1"])
    assert one.exit_code == 0, one.output
    bad = runner.invoke(main, args + ["--pair", "nope"])
    assert bad.exit_code == 2 and "unknown pair" in bad.output


@pytest.mark.browser
def test_html_report_prints_every_difference_in_a_browser(ws, tmp_path):
    """Chromium prints the differences even of groups a reader collapsed, and loads nothing from elsewhere."""
    import shutil

    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright Python package is not installed"
    )
    chromium = shutil.which("chromium") or pytest.skip("Debian's chromium is not installed")
    world(ws)
    rec = ws.reconcile()
    path = tmp_path / "report.html"
    rec.to_html(path)
    reasons = rec.differences["reason_text"].tolist()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri())
            rows = page.locator("details tr:has(td)")
            assert rows.count() == len(reasons)
            page.evaluate("document.querySelectorAll('details').forEach(d => d.removeAttribute('open'))")
            assert not rows.first.is_visible()  # collapsed on screen...
            page.emulate_media(media="print")
            assert all(rows.nth(i).is_visible() for i in range(rows.count()))  # ...and printed all the same
            text = " ".join(rows.all_inner_texts())
            assert all(reason in text for reason in reasons)
            assert len(page.pdf()) > 1000
        finally:
            browser.close()
    assert requests == [path.as_uri()]  # no stylesheet, font or script from anywhere else
