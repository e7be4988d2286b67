"""The analysts' notebooks run top to bottom on generated fixtures (nbclient, kernel python3), are committed
without outputs, and the Jupyter display helpers they use (``qbrecon.display``) show exact amounts."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["01_load_and_explore", "02_approve_and_export", "03_reconcile"]


def _outputs(nb) -> list[dict]:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]


def _text(nb) -> str:
    """Everything the notebook displayed, as one string (plain text, HTML, streams)."""
    parts = []
    for o in _outputs(nb):
        parts.append(o.get("text", ""))
        for key in ("text/plain", "text/html"):
            parts.append(o.get("data", {}).get(key, ""))
    return "\n".join(parts)


def test_the_notebooks_are_committed_without_outputs():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == NAMES
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(nb)
        assert nb.metadata["kernelspec"]["name"] == "python3", name
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (name, cell.source[:60])


def run_notebook(name: str, workdir: Path):
    """Execute a copy in ``workdir`` (its data/ folder lands there); fails with the failing cell's error."""
    shutil.copy(NOTEBOOKS / f"{name}.ipynb", workdir / f"{name}.ipynb")
    nb = nbformat.read(workdir / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{name} failed:\n{str(exc)[-4000:]}")
    errors = [o for o in _outputs(nb) if o.get("output_type") == "error"]
    assert not errors, errors
    return nb


@pytest.mark.slow
def test_01_load_and_explore(tmp_path):
    nb = run_notebook("01_load_and_explore", tmp_path)
    text = _text(nb)
    assert "qbrecon workspace" in text and "ERP queue" in text  # Workspace._repr_html_
    # the quarantine names file, row and field
    assert "expected an amount" in text and "requisitions/page_0001.json" in text
    assert "percent_invoiced" in text
    assert (tmp_path / "data" / "explore.duckdb").exists()


@pytest.mark.slow
def test_02_approve_and_export(tmp_path):
    nb = run_notebook("02_approve_and_export", tmp_path)
    text = _text(nb)
    assert "Can Push to Accounting" in text  # the sender's accept was refused
    assert "4 synced" in text and "<ExportSummary" in text
    from qbrecon import Workspace

    with Workspace(tmp_path / "data" / "export.duckdb") as ws:
        statuses = dict(ws.store.execute("SELECT status, count(*) FROM erp_items GROUP BY ALL").fetchall())
        assert statuses.get("exporting", 0) == 0 and statuses.get("failed_to_export", 0) == 0
        assert statuses["rejected"] == 2
        directions = ws.store.execute(
            "SELECT direction, count(*) FROM qbxml_messages GROUP BY ALL"
        ).fetchall()
        assert dict(directions) == {"request": 3, "response": 3}


@pytest.mark.slow
def test_03_reconcile(tmp_path):
    nb = run_notebook("03_reconcile", tmp_path)
    text = _text(nb)
    assert "Amount changed in QuickBooks after sync" in text
    # the charts carry BokehJS inline: they draw on a closed network (no CDN loader in any output)
    # (BokehJS's own source mentions other CDNs for optional extras it never loads here; the CDN loader of
    # ``output_notebook()`` is what would leave the charts blank offline.)
    outputs = json.dumps([o.get("data", {}) for o in _outputs(nb)])
    loads_bokeh_from_cdn = "cdn.bokeh.org" in outputs
    assert not loads_bokeh_from_cdn
    report = tmp_path / "data" / "reconciliation.html"
    assert report.exists() and "<script" not in report.read_text()
    from openpyxl import load_workbook

    sheets = load_workbook(tmp_path / "data" / "reconciliation.xlsx", read_only=True).sheetnames
    assert "Invoices - Bills" in sheets  # sheets are named in the users' words


# -- the display helpers --------------------------------------------------------------------------------------
def test_workspace_html_empty_and_loaded(tmp_path):
    from qbrecon import Workspace
    from qbrecon.fixtures import generate

    with Workspace() as ws:
        assert "Nothing loaded yet" in ws._repr_html_()
    out = tmp_path / "fx"
    generate(out, projects=1, seed=3)
    with Workspace(tmp_path / "w.duckdb") as ws:
        ws.load_procore(out / "procore")
        ws.refresh_queue()
        html = ws._repr_html_()
        projects = ws.store.execute("SELECT count(*) FROM projects").fetchone()[0]
    assert "<b>Procore</b>" in html and "<td>projects</td>" in html and f"<td>{projects}</td>" in html
    assert "<b>QuickBooks</b><p>nothing loaded</p>" in html
    assert "ERP queue" in html and "Not Sent" in html and "1 load(s)" in html


def test_style_queue_shows_exact_amounts_and_tints_by_status():
    import pandas as pd
    import pyarrow as pa

    from qbrecon.display import STATUS_COLOURS, money_text, style_queue

    money = pd.ArrowDtype(pa.decimal128(18, 2))
    frame = pd.DataFrame(
        {
            "item_label": ["Subcontractor Invoices", "Companies"],
            "procore_id": [1280001, 2300001],
            "name": ["INV-1", "Acme"],
            "amount": pd.array([Decimal("1234567.89"), None], dtype=money),
            "status": ["failed_to_export", "synced"],
            "status_label": ["Failed to Export", "Synced"],
        }
    )
    html = style_queue(frame).to_html()
    assert "1,234,567.89" in html  # straight from Decimal, no float rounding
    assert STATUS_COLOURS["failed_to_export"] in html and STATUS_COLOURS["synced"] in html
    assert ">status<" not in html  # the raw status column is not shown, only its label
    assert money_text(Decimal("0.10")) == "0.10" and money_text(None) == "" and money_text(pd.NA) == ""
    assert money_text(Decimal("90071992547409.93")) == "90,071,992,547,409.93"
