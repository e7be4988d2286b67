"""Every JSON payload example quoted in the reference notes (``../shared/reference/procore-data-model.md``) loads
without quarantine, in the place Procore's API returns it.

The examples are copied into ``tests/data/procore_reference_examples/examples.json`` (they are Procore's field
shapes); the product never reads ``../shared``. A second test checks the copy against the reference file when it
is there, so an example added to the reference fails here until it is placed (and loads).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from qbrecon import Workspace

EXAMPLES = Path(__file__).parent / "data" / "procore_reference_examples" / "examples.json"
REFERENCE = Path("reference") / "procore-data-model.md"
PROJECT = 86  # the project of Procore's documented QuickBooks examples


def _copied() -> list[dict]:
    return [json.loads(e["json"]) for e in json.loads(EXAMPLES.read_text(encoding="utf-8"))["examples"]]


def _page(url: str, data: list, **json_body: object) -> dict:
    request: dict = {"method": "POST" if json_body else "GET", "url": url}
    if json_body:
        request["json"] = json_body
    return {"request": request, "data": data}


def _place(example: dict, root: Path) -> str:
    """Write the example where Procore returns it; the kind of example it is."""
    root.mkdir(parents=True, exist_ok=True)
    if "transfer_amount" in example:  # GET /rest/v1.0/projects/{id}/budget_modifications
        page = _page(f"https://api.procore.com/rest/v1.0/projects/{PROJECT}/budget_modifications", [example])
        (root / "budget_modifications").mkdir()
        (root / "budget_modifications" / "page_0001.json").write_text(json.dumps(page), encoding="utf-8")
        return "budget_modification"
    if "total_retainage" in example:  # a requisition's G702: under g702 (POST answer) and summary (v1.0 list)
        posted = _page(
            "https://api.procore.com/rest/v1.0/requisitions",
            [{"id": 1280646, "commitment_id": 786001, "number": 19, "status": "draft", "g702": example}],
            project_id=786001,
            commitment_id=786001,
        )
        listed = _page(
            "https://api.procore.com/rest/v1.0/requisitions?project_id=786001",
            [{"id": 1280647, "commitment_id": 786001, "number": 20, "status": "draft", "summary": example}],
        )
        (root / "requisitions").mkdir()
        (root / "requisitions" / "post.json").write_text(json.dumps(posted), encoding="utf-8")
        (root / "requisitions" / "page_0001.json").write_text(json.dumps(listed), encoding="utf-8")
        return "g702"
    raise AssertionError(
        f"no place for this reference example yet (teach the loader and this test): {example}"
    )


def _load_without_quarantine(example: dict, tmp: Path) -> tuple[str, Workspace]:
    kind = _place(example, tmp / "export")
    ws = Workspace(tmp / "w.duckdb")
    report = ws.load_procore(tmp / "export")
    q = ws.quarantine()
    assert q.empty, q[["table_name", "field", "failure_case"]].to_string()
    assert report.ok
    return kind, ws


@pytest.mark.parametrize("n", range(len(_copied())))
def test_every_reference_example_loads_without_quarantine(n, tmp_path):
    example = _copied()[n]
    kind, ws = _load_without_quarantine(example, tmp_path)
    with ws:
        if kind == "budget_modification":
            rows = ws.store.frame(
                "SELECT id, budget_change_id, project_id, status, amount, adjustment_number, origin_id, title "
                "FROM budget_changes ORDER BY amount"
            )
            # the transfer, as budget changes hold one: -amount on the giving line, +amount on the receiving one
            assert list(rows["amount"]) == [Decimal("-4500.00"), Decimal("4500.00")]
            assert set(rows["budget_change_id"]) == {75414} and set(rows["project_id"]) == {PROJECT}
            assert list(rows["id"]) == [-75414, 75414]
            assert set(rows["status"]) == {"approved"} and set(rows["adjustment_number"]) == {1}
            assert set(rows["origin_id"]) == {"4903400"}
            assert set(rows["title"]) == {"Transfer money for extra concrete."}
        else:
            inv = ws.store.frame("SELECT * FROM invoices ORDER BY id")
            assert list(inv["id"]) == [1280646, 1280647]
            assert set(inv["project_id"]) == {786001}
            assert set(inv["total_retainage"]) == {Decimal("5300.00")}
            assert set(inv["current_payment_due"]) == {Decimal("0.00")}


def test_the_copied_examples_are_every_example_of_the_reference(shared_dir):
    path = shared_dir / REFERENCE
    if not path.exists():
        pytest.skip(f"{path} not found")
    quoted = [
        json.loads(m.group(1)) for m in re.finditer(r"```json\n(.*?)```", path.read_text("utf-8"), re.S)
    ]
    assert quoted, "no JSON examples found in the reference: has its format changed?"
    copied = _copied()
    assert [e for e in quoted if e not in copied] == [], (
        "examples in the reference not copied into tests/data"
    )


def test_budget_modification_sides_take_the_cost_codes_of_their_budget_lines(tmp_path):
    example = next(e for e in _copied() if "transfer_amount" in e)
    _place(example, tmp_path / "export")
    lines = [
        {"id": 348383, "cost_code": {"id": 11, "full_code": "03-300"}, "original_budget_amount": 10000},
        {"id": 4034034, "cost_code": {"id": 12, "full_code": "03-310"}, "original_budget_amount": 2000},
    ]
    page = _page(f"https://api.procore.com/rest/v1.0/budget_line_items?project_id={PROJECT}", lines)
    (tmp_path / "export" / "budget_line_items.json").write_text(json.dumps(page), encoding="utf-8")
    with Workspace(tmp_path / "w.duckdb") as ws:
        ws.load_procore(tmp_path / "export")
        assert ws.quarantine().empty
        rows = ws.store.frame(
            "SELECT id, cost_code_id, cost_code_full_code, amount FROM budget_changes ORDER BY id"
        )
        assert rows.values.tolist() == [
            [-75414, 11, "03-300", Decimal("-4500.00")],
            [75414, 12, "03-310", Decimal("4500.00")],
        ]
        # the budget total is unchanged by a transfer
        assert ws.store.scalar("SELECT sum(amount) FROM budget_changes") == 0
