"""Links back to Procore with its sync actions, against the local fake Procore (127.0.0.1 only)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from qbrecon import Workspace
from qbrecon.cli import main
from qbrecon.procore.client import ProcoreClient
from qbrecon.procore.fake_server import FakeProcore
from qbrecon.procore.pull import pull, pull_into
from qbrecon.procore.push import _LINKS, push

FIXTURE = Path(__file__).parents[1] / "fixtures" / "small" / "procore"


def client_for(fake: FakeProcore) -> ProcoreClient:
    return ProcoreClient(
        fake.company_id,
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        base_url=fake.url,
        login_url=fake.url,
        sleep=lambda s: None,
    )


def links(ws: Workspace) -> list[tuple]:
    frame = ws.store.frame(f"SELECT table_name, id, origin_id, origin_data FROM ({_LINKS}) ORDER BY ALL")
    return [tuple(None if pd.isna(v) else v for v in row) for row in frame.itertuples(index=False)]


def link_everything(ws: Workspace) -> None:
    """What an export to QuickBooks leaves behind: ListIDs / TxnIDs and EditSequences on Procore rows."""
    for table in [
        "projects",
        "commitments",
        "commitment_lines",
        "change_orders",
        "change_order_lines",
        "invoices",
        "payments_issued",
    ]:
        ws.store.execute(
            f"""UPDATE "{table}" SET origin_id = printf('%X-1730000000', id % 1000000 + 4096),
                origin_data = '{{"edit_sequence":"1730000000"}}' WHERE origin_id IS NULL"""
        )
    # an unlinked vendor (deleted in QuickBooks, unlinked in qbrecon)
    ws.store.execute("UPDATE companies SET origin_id = NULL, origin_data = NULL WHERE id = 2300001")


def test_push_then_pull_shows_every_link_and_a_second_push_changes_nothing(tmp_path):
    with FakeProcore(FIXTURE) as fake, Workspace(tmp_path / "w.duckdb") as ws:
        client = client_for(fake)
        pull_into(ws, client, tmp_path / "first")  # what Procore holds now
        assert push(ws, client, company_id=fake.company_id).sent == 0
        link_everything(ws)
        expected = links(ws)
        first = push(ws, client, company_id=fake.company_id)
        assert first.errors == [] and first.synced == first.sent > 0 and first.unlinked == 1
        assert first.by_table["projects"] >= 1 and first.by_table["companies"] == 1
        changed = fake.changes
        assert changed > 0
        patches = len([m for m, _p, _s in fake.log if m == "PATCH"])
        second = push(ws, client, company_id=fake.company_id)
        assert (second.sent, second.calls) == (0, 0)
        assert fake.changes == changed
        assert len([m for m, _p, _s in fake.log if m == "PATCH"]) == patches
        pull(client, tmp_path / "pull")
    with Workspace(tmp_path / "pulled.duckdb") as pulled:
        pulled.load_procore(tmp_path / "pull")
        assert links(pulled) == expected
        assert pd.isna(pulled.store.frame("SELECT origin_id FROM companies WHERE id = 2300001").iloc[0, 0])


def test_refused_links_are_kept_for_the_next_push(tmp_path):
    with FakeProcore(FIXTURE) as fake, Workspace(tmp_path / "w.duckdb") as ws:
        ws.load_procore(FIXTURE)
        # a project Procore no longer has
        ws.store.put_rows(
            "projects", [{"id": 42, "name": "Gone", "origin_id": "80000042-1", "origin_data": "{}"}]
        )
        result = push(ws, client_for(fake), company_id=fake.company_id)
        assert [(e["table_name"], e["procore_id"]) for e in result.errors] == [("projects", 42)]
        assert "Entity with this ID not found" in result.errors[0]["error"]
        again = push(ws, client_for(fake), company_id=fake.company_id)
        assert again.sent == 1 and len(again.errors) == 1
        log = ws.store.frame("SELECT outcome, count(*) AS n FROM procore_push_log GROUP BY 1 ORDER BY 1")
        assert dict(zip(log["outcome"], log["n"], strict=True))["refused"] == 2


def test_sync_calls_carry_at_most_1000_items(tmp_path):
    with FakeProcore(FIXTURE) as fake:
        client = client_for(fake)
        updates = [{"id": 10_000_000 + i, "origin_id": f"X-{i}"} for i in range(2345)]
        entities, errors = client.sync(
            "/rest/v1.0/vendors/sync", updates, params={"company_id": fake.company_id}
        )
        assert entities == [] and len(errors) == 2345
        assert [p for m, p, s in fake.log if m == "PATCH"] == ["/rest/v1.0/vendors/sync"] * 3


def test_cli_dry_run_writes_the_payloads_and_changes_nothing(tmp_path):
    with Workspace(tmp_path / "w.duckdb") as ws:
        ws.load_procore(FIXTURE)
        link_everything(ws)
    out = tmp_path / "dry"
    args = [
        "push",
        "procore",
        "-w",
        str(tmp_path / "w.duckdb"),
        "--company-id",
        "9",
        "--dry-run",
        "--out",
        str(out),
    ]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "(dry run)" in res.output
    files = sorted(out.rglob("*.json"))
    bodies = {json.loads(f.read_text())["url"]: json.loads(f.read_text()) for f in files}
    project = bodies["/rest/v1.0/projects/sync"]
    assert project["method"] == "PATCH" and project["params"] == {"company_id": 9}
    assert {"id", "origin_id", "origin_data", "origin_code"} <= set(project["json"]["updates"][0])
    # objects without a sync action of their own: ERP External Data by item_type
    external = bodies["/rest/v1.0/companies/9/external_data/sync"]["json"]["updates"]
    assert {u["item_type"] for u in external} >= {"requisition", "change_order", "line_item"}
    assert all(len(json.loads(f.read_text())["json"]["updates"]) <= 1000 for f in files)
    # nothing was recorded as pushed: the same payloads again
    res = CliRunner().invoke(main, [*args[:-1], str(tmp_path / "dry2")])
    assert len(sorted((tmp_path / "dry2").rglob("*.json"))) == len(files)


def test_free_text_origin_data_is_compared_and_sent_as_it_is(tmp_path):
    with FakeProcore(FIXTURE) as fake, Workspace(tmp_path / "w.duckdb") as ws:
        client = client_for(fake)
        pull_into(ws, client, tmp_path / "first")
        ws.store.execute("UPDATE companies SET origin_data = 'OD-3483830-2' WHERE id = 2300001")
        first = push(ws, client, company_id=fake.company_id)
        assert (first.sent, first.synced) == (1, 1)
        vendor = next(r for r in fake.data["vendors"] if r["id"] == 2300001)
        assert vendor["origin_data"] == "OD-3483830-2"
        assert push(ws, client, company_id=fake.company_id).sent == 0


def test_a_vendor_updated_from_quickbooks_keeps_its_edit_sequence_through_a_procore_load(tmp_path):
    """Push sends the EditSequence the auto-update took; a later pull must not bring the old one back."""
    with Workspace(tmp_path / "w.duckdb") as ws:
        ws.load_procore(FIXTURE)
        ws.load_quickbooks(FIXTURE.parent / "quickbooks")
        vendor = ws.store.frame("""SELECT c.id, c.origin_id FROM companies c JOIN vendors v ON v."ListID" = c.origin_id
                                   ORDER BY c.id LIMIT 1""").iloc[0]
        ws.store.execute(
            """UPDATE vendors SET "Name" = 'Renamed In QuickBooks', "EditSequence" = '1799999999'
               WHERE "ListID" = ?""",
            [vendor.origin_id],
        )
        assert ws.auto_update_vendors() >= 1
        ws.load_procore(FIXTURE)  # Procore still shows the old EditSequence
        data = ws.store.scalar("SELECT origin_data FROM companies WHERE id = ?", [int(vendor.id)])
        assert json.loads(data)["edit_sequence"] == "1799999999"
