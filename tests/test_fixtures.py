"""The fixture generator: determinism, money invariants, qbXML validity, answer-key coverage and exactness,
schema source paths, paging, loading with nothing quarantined, the CLI and the checked-in sample."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from qbrecon.entities import PAIRS
from qbrecon.errors import InputError
from qbrecon.fixtures import DISCREPANCIES, generate
from qbrecon.reasons import REASONS
from qbrecon.schemas import TABLES

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "fixtures" / "small"
SAMPLE_ARGS = {
    "projects": 3,
    "seed": 7,
    "commitments_per_project": 4,
    "invoices_per_commitment": 3,
    "lines_per_invoice": 4,
}
# Columns the loader derives rather than reads: status_original (the raw status), cost_code_level (standard
# cost codes have no project_id).
DERIVED = {"status_original", "cost_code_level"}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fx") / "small"
    generate(out, projects=3, seed=7)
    return out


def D(text) -> Decimal:  # noqa: N802
    return Decimal(str(text))


def procore(root: Path, resource: str) -> list[dict]:
    base = root / "procore"
    if (base / f"{resource}.json").exists():
        return json.loads((base / f"{resource}.json").read_text())
    out = []
    for page in sorted((base / resource).glob("page_*.json")):
        out += json.loads(page.read_text())
    return out


def rets(root: Path, pattern: str, tag: str) -> list[etree._Element]:
    out = []
    for f in sorted((root / "quickbooks").glob(pattern)):
        out += etree.parse(str(f)).getroot().iter(tag)
    return out


def answer(root: Path) -> dict:
    return json.loads((root / "answer_key.json").read_text())


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------------ determinism


def test_same_seed_same_bytes_other_seed_differs(tmp_path, small):
    again = tmp_path / "again"
    generate(again, projects=3, seed=7)
    assert all_files(again) == all_files(small)
    other = tmp_path / "other"
    generate(other, projects=3, seed=8)
    assert all_files(other)["answer_key.json"] != all_files(small)["answer_key.json"]


def test_checked_in_sample_matches_the_generator(tmp_path):
    fresh = tmp_path / "sample"
    generate(fresh, **SAMPLE_ARGS)
    assert all_files(fresh) == all_files(SAMPLE), "regenerate fixtures/small (see fixtures/README.md)"
    assert sum(len(b) for b in all_files(SAMPLE).values()) < 1_000_000


# ------------------------------------------------------------------------------------------------ invariants


def test_procore_money_invariants(small):
    ccos = procore(small, "commitment_change_orders")
    approved_by_contract: dict[int, Decimal] = {}
    for cco in ccos:
        assert D(cco["grand_total"]) == sum(D(ln["amount"]) for ln in cco["line_items"])
        assert all(ln["commitment_line_item_id"] for ln in cco["line_items"])
        if cco["status"] == "approved":
            approved_by_contract[cco["contract_id"]] = approved_by_contract.get(cco["contract_id"], 0) + D(
                cco["grand_total"]
            )
    for c in procore(small, "commitments"):
        assert D(c["grand_total"]) == sum(D(ln["amount"]) for ln in c["line_items"])
        assert D(c["approved_change_orders"]) == approved_by_contract.get(c["id"], 0)
        assert D(c["revised_contract"]) == D(c["grand_total"]) + D(c["approved_change_orders"])
        assert all(ln["holder"] == {"id": c["id"], "holder_type": c["type"]} for ln in c["line_items"])
        assert c["status"][0].isupper()  # Title Case, as the API sends commitments
    for inv in procore(small, "requisitions"):
        items, s = inv["contract_items"], inv["summary"]
        gross = sum(D(i["work_completed_this_period"]) + D(i["materials_presently_stored"]) for i in items)
        held = sum(
            D(i["work_completed_retainage_retained_this_period"])
            - D(i["work_completed_retainage_released_this_period"])
            + D(i["materials_stored_retainage_currently_retained"])
            for i in items
        )
        assert D(s["current_payment_due"]) == gross - held
        assert D(inv["total_claimed_amount"]) == gross
        assert D(s["total_earned_less_retainage"]) == D(s["total_completed_and_stored_to_date"]) - D(
            s["total_retainage"]
        )
        assert D(s["current_payment_due"]) == D(s["total_earned_less_retainage"]) - D(
            s["less_previous_certificates_for_payment"]
        )
        assert inv["status"] == inv["status"].lower()
        for i in items:
            assert D(i["total_completed_and_stored_to_date"]) <= D(i["scheduled_value"])
    for bc in procore(small, "budget_changes"):
        assert sum(D(ln["amount"]) for ln in bc["adjustment_line_items"]) == 0  # a transfer nets to zero


def test_quickbooks_totals_and_lengths(small):
    for bill in rets(small, "BillQueryRs_*.xml", "BillRet"):
        lines = [D(a.text) for a in bill.iterfind("ItemLineRet/Amount")] + [
            D(a.text) for a in bill.iterfind("ExpenseLineRet/Amount")
        ]
        assert D(bill.findtext("AmountDue")) == sum(lines)
        assert len(bill.findtext("RefNumber")) <= 20
    for po in rets(small, "PurchaseOrderQueryRs.xml", "PurchaseOrderRet"):
        assert D(po.findtext("TotalAmount")) == sum(
            D(a.text) for a in po.iterfind("PurchaseOrderLineRet/Amount")
        )
        assert len(po.findtext("RefNumber")) <= 11
    for est in rets(small, "EstimateQueryRs.xml", "EstimateRet"):
        assert D(est.findtext("TotalAmount")) == sum(
            D(a.text) for a in est.iterfind("EstimateLineRet/Amount")
        )
    for cust in rets(small, "CustomerQueryRs.xml", "CustomerRet"):
        assert len(cust.findtext("Name")) <= 41


def test_every_quickbooks_file_validates_against_the_xsd(small, qbxml_schema):
    files = sorted((small / "quickbooks").glob("*.xml"))
    assert len(files) >= 9  # 8 responses + at least one bill page
    for f in files:
        doc = etree.parse(str(f))
        assert qbxml_schema.validate(doc), f"{f.name}: {qbxml_schema.error_log.last_error}"


# ------------------------------------------------------------------------------------------------ answer key


def test_answer_key_covers_every_kind_with_valid_codes(small):
    key = answer(small)
    assert key["seed"] == 7 and key["projects"] == 3
    planted = {(d["reason"], d["pair"]) for d in key["discrepancies"]}
    for kind in DISCREPANCIES:
        assert (kind.reason, kind.pair) in planted, kind
    for d in key["discrepancies"]:
        assert d["reason"] in REASONS and d["pair"] in PAIRS
        assert set(d) >= {
            "pair",
            "procore_id",
            "quickbooks_id",
            "field",
            "reason",
            "procore_value",
            "quickbooks_value",
            "note",
            "expect_difference",
        }
        for v in (d["procore_value"], d["quickbooks_value"]):
            assert v is None or isinstance(v, str)
    resent = [d for d in key["discrepancies"] if d["reason"] == "rejected_and_resent"]
    assert resent and all(d["expect_difference"] is False and d["history"] for d in resent)


def _origin_es(record: dict) -> str | None:
    return json.loads(record["origin_data"])["edit_sequence"] if record.get("origin_data") else None


def find_differences(root: Path) -> set[tuple[str, object]]:
    """A small independent reconciler: every difference between the two sides, as (reason, id)."""
    found: set[tuple[str, object]] = set()
    bills = {b.findtext("TxnID"): b for b in rets(root, "BillQueryRs_*.xml", "BillRet")}
    pos = {p.findtext("TxnID"): p for p in rets(root, "PurchaseOrderQueryRs.xml", "PurchaseOrderRet")}
    vendors = {v.findtext("ListID"): v for v in rets(root, "VendorQueryRs.xml", "VendorRet")}
    jobs = {c.findtext("ListID"): c for c in rets(root, "CustomerQueryRs.xml", "CustomerRet")}
    retainage = next(
        i.findtext("ListID")
        for i in rets(root, "ItemQueryRs.xml", "ItemServiceRet")
        if i.findtext("Name") == "Retainage"
    )
    for p in procore(root, "projects"):
        if len(p["name"]) > 41:
            found.add(("name_too_long", p["id"]))
        elif p["origin_id"]:
            assert jobs[p["origin_id"]].findtext("Name") == p["name"]
    for v in procore(root, "vendors"):
        if v["origin_id"]:
            qv = vendors[v["origin_id"]]
            if qv.findtext("Name") != v["name"]:
                found.add(("vendor_renamed", v["id"]))
    ccos = procore(root, "commitment_change_orders")
    for c in procore(root, "commitments"):
        if len(c["number"]) > 11:
            found.add(("name_too_long", c["id"]))
        if not c["origin_id"]:
            continue
        po = pos[c["origin_id"]]
        assert po.findtext("RefNumber") == c["number"]
        exported = [x for x in ccos if x["contract_id"] == c["id"] and x["origin_id"]]
        assert D(po.findtext("TotalAmount")) == D(c["grand_total"]) + sum(
            D(x["grand_total"]) for x in exported
        )
        for x in ccos:
            if x["contract_id"] == c["id"] and x["status"] == "approved" and not x["origin_id"]:
                found.add(("cco_not_exported", x["id"]))
        if po.findtext("EditSequence") != _origin_es(c):
            found.add(("stale_edit_sequence", c["id"]))
    seen_bills = set()
    for inv in procore(root, "requisitions"):
        if inv["erp_status"] == "failed_to_export":
            found.add(("failed_to_export", inv["id"]))
        if inv["erp_status"] != "synced":
            assert inv["origin_id"] is None
            continue
        bill = bills.get(inv["origin_id"])
        if bill is None:
            found.add(("missing_in_quickbooks", inv["id"]))
            continue
        seen_bills.add(inv["origin_id"])
        assert bill.findtext("RefNumber") == inv["invoice_number"]
        lines = list(bill.iterfind("ItemLineRet"))
        ret_lines = [ln for ln in lines if ln.findtext("ItemRef/ListID") == retainage]
        work = [ln for ln in lines if ln.findtext("ItemRef/ListID") != retainage]
        items = inv["contract_items"]
        assert len(work) == len(items)
        if not ret_lines:
            found.add(("retainage_line_missing", inv["id"]))
        else:
            held = sum(
                D(i["work_completed_retainage_retained_this_period"])
                + D(i["materials_stored_retainage_currently_retained"])
                for i in items
            )
            assert D(ret_lines[0].findtext("Amount")) == -held
        for ln, item in zip(work, items, strict=True):
            expected = D(item["work_completed_this_period"]) + D(item["materials_presently_stored"])
            if D(ln.findtext("Amount")) != expected:
                found.add(("amount_changed_in_quickbooks", inv["id"]))
        if ret_lines and D(bill.findtext("AmountDue")) != D(inv["summary"]["current_payment_due"]):
            found.add(("amount_changed_in_quickbooks", inv["id"]))
        if (
            bill.findtext("EditSequence") != _origin_es(inv)
            and ("amount_changed_in_quickbooks", inv["id"]) not in found
        ):
            found.add(("stale_edit_sequence", inv["id"]))
    for txn in bills.keys() - seen_bills:
        found.add(("only_in_quickbooks", txn))
    invoices = {i.findtext("TxnID"): i for i in rets(root, "InvoiceQueryRs.xml", "InvoiceRet")}
    owner = procore(root, "payment_applications")
    assert owner and {o["origin_id"] for o in owner if o["origin_id"]} == invoices.keys()
    for o in owner:
        if not o["origin_id"]:
            continue
        inv = invoices[o["origin_id"]]
        assert inv.findtext("RefNumber") == o["invoice_number"] and _origin_es(o) == inv.findtext(
            "EditSequence"
        )
        lines = list(inv.iterfind("InvoiceLineRet"))
        work = [ln for ln in lines if ln.findtext("ItemRef/ListID") != retainage]
        for ln, item in zip(work, o["line_items"], strict=True):
            assert D(ln.findtext("Amount")) == D(item["work_completed_this_period"]) + D(
                item["materials_presently_stored"]
            )
        held = sum(
            D(i["work_completed_retainage_retained_this_period"])
            + D(i["materials_stored_retainage_currently_retained"])
            for i in o["line_items"]
        )
        assert D(inv.findtext("Subtotal")) == sum(D(ln.findtext("Amount")) for ln in lines)
        if len(work) == len(lines) and held:
            found.add(("retainage_line_missing", o["id"]))
        else:
            assert D(inv.findtext("Subtotal")) == D(o["g702"]["current_payment_due"])
    return found


def test_a_reconciler_finds_exactly_the_answer_key(small):
    key = answer(small)["discrepancies"]
    expected = {
        (d["reason"], d["procore_id"] if d["procore_id"] is not None else d["quickbooks_id"])
        for d in key
        if d["expect_difference"]
    }
    assert find_differences(small) == expected


# ------------------------------------------------------------------------------------------------ shape


def _records_for(root: Path, table: str) -> list[dict]:
    spec = TABLES[table]
    if "resource" in spec.meta:
        recs = procore(root, spec.meta["resource"])
        if table == "budget_changes":
            return [{**r, **ln} for r in recs for ln in r["adjustment_line_items"]]
        return recs
    parent = TABLES[spec.meta["parent"]]
    return [ln for r in procore(root, parent.meta["resource"]) for ln in r.get(spec.meta["nested"], [])]


def _at(record: dict, path: str):
    v = record
    for part in path.split("."):
        if not isinstance(v, dict):
            return None
        v = v.get(part)
    return v


def test_every_procore_column_source_path_has_values(small):
    missing = []
    for table, spec in TABLES.items():
        if spec.side != "procore":
            continue
        records = _records_for(small, table)
        assert records, table
        for col in spec.columns:
            if col.name in DERIVED:
                continue
            if not any(_at(r, col.source) is not None for r in records):
                missing.append(f"{table}.{col.name} <- {col.source}")
    assert not missing, missing


def test_procore_shapes_follow_the_api(small):
    std = [c for c in procore(small, "cost_codes") if "project_id" not in c]
    proj = [c for c in procore(small, "cost_codes") if "project_id" in c]
    assert std and proj
    synced = [c for c in proj if c["origin_id"]]
    assert synced and all(
        "|" in c["origin_id"] and c["origin_id"].split("|")[0] == c["biller_origin_id"] for c in synced
    )
    projects = procore(small, "projects")
    assert any(p["origin_id"] and json.loads(p["origin_data"])["edit_sequence"] for p in projects)
    users = procore(small, "users")
    perms = {u["erp_integrations_permission"] for u in users}
    assert perms == {"none", "read_only", "standard", "admin"}
    assert any(u["can_push_to_accounting"] and u["erp_integrations_permission"] == "standard" for u in users)
    assert isinstance(procore(small, "budget_line_items")[0]["original_budget_amount"], float)
    erp = {i["erp_status"] for i in procore(small, "requisitions")}
    assert {"synced", "not_in_erp", "failed_to_export"} <= erp


# ------------------------------------------------------------------------------------------------ paging


def test_paging_of_requisitions_bills_and_large_resources(tmp_path):
    out = tmp_path / "paged"
    report = generate(
        out,
        projects=3,
        seed=2,
        commitments_per_project=3,
        invoices_per_commitment=2,
        lines_per_invoice=2,
        bills_per_page=3,
        requisitions_per_page=4,
        page_size=5,
    )
    pages = sorted((out / "quickbooks").glob("BillQueryRs_*.xml"))
    assert len(pages) >= 2
    remaining = [
        int(etree.parse(str(p)).getroot().find("QBXMLMsgsRs/BillQueryRs").get("iteratorRemainingCount"))
        for p in pages
    ]
    assert remaining[-1] == 0 and remaining == sorted(remaining, reverse=True)
    assert sum(len(rets(out, p.name, "BillRet")) for p in pages) == report.records["quickbooks/BillQueryRs"]
    assert (out / "procore" / "requisitions" / "page_0002.json").exists()
    assert (
        not (out / "procore" / "vendors.json").exists()
        and (out / "procore" / "vendors" / "page_0002.json").exists()
    )
    assert (out / "procore" / "users" / "page_0002.json").exists()  # 6 users, 5 per page
    assert len(procore(out, "vendors")) == report.records["procore/vendors"]


def test_bad_arguments_and_non_empty_output_are_refused(tmp_path):
    with pytest.raises(InputError, match="projects"):
        generate(tmp_path / "x", projects=0)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        generate(tmp_path / "busy", projects=1)
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"


# ------------------------------------------------------------------------------------------------ loading


def test_generated_data_loads_with_nothing_quarantined(ws, small):
    pr = ws.load_procore(small / "procore")
    qr = ws.load_quickbooks(small / "quickbooks")
    assert pr.ok and qr.ok
    assert len(ws.quarantine()) == 0
    n_inv = len(procore(small, "requisitions"))
    assert ws.frame("SELECT count(*) AS n FROM invoices")["n"][0] == n_inv
    bill_lines = sum(
        len(b.findall("ItemLineRet")) + len(b.findall("ExpenseLineRet"))
        for b in rets(small, "BillQueryRs_*.xml", "BillRet")
    )
    assert ws.frame("SELECT count(*) AS n FROM bill_lines")["n"][0] == bill_lines


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_generate(tmp_path):
    from qbrecon.cli import main

    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(
        main,
        [
            "fixtures",
            "generate",
            "--out",
            str(out),
            "--projects",
            "3",
            "--seed",
            "5",
            "--lines-per-invoice",
            "2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["projects"] == 3 and "answer_key.json" in data["files"]
    again = runner.invoke(main, ["fixtures", "generate", "--out", str(out), "--projects", "3"])
    assert again.exit_code == 2 and "not empty" in again.output
