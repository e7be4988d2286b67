"""Set Up Your Payroll Export (seed 001): workers and classifications mapped to QuickBooks payroll items, in
TimeTrackingAdd (PayrollItemWageRef) and the IIF time-activity file (PITEM)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from qbrecon import Workspace
from qbrecon.errors import BatchRejected, PermissionDenied

SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "small"
ADMIN = "maria.alvarez@example-builders.com"
PM = "carlos.delgado@example-builders.com"  # 'Admin' on Timesheets, no ERP 'Admin'


@pytest.fixture()
def world(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.load_procore(SMALL / "procore")
    ws.load_quickbooks(SMALL / "quickbooks")
    ws.store.execute(
        "UPDATE projects SET origin_id = coalesce(origin_id, '80000056-1721478924')"
    )  # all synced
    yield ws
    ws.close()


def pitems(result) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for line in result.text.split("\r\n"):
        cells = line.split("\t")
        if cells[0] == "TIMEACT":
            out.setdefault(cells[3], set()).add(cells[5])
    return out


def test_mapping_most_specific_wins_in_iif(world):
    with pytest.raises(PermissionDenied):
        world.map_payroll_items({("*", "Regular Time"): "Hourly Regular"}, by=PM)
    with pytest.raises(BatchRejected, match="longer than 31"):
        world.map_payroll_items({("*", "Overtime"): "x" * 32}, by=ADMIN)
    world.map_payroll_items(
        {
            ("*", "Regular Time"): "Hourly Regular",
            ("*", "Overtime"): "Overtime Hourly",
            ("Tom Reyes", "*"): "Salary Tom",
            ("Ben Carter", "Overtime"): "Overtime Ben",
        },
        by=ADMIN,
    )
    result = world.time_export_iif(by=PM)
    assert result.rows > 0
    got = pitems(result)
    assert got["Ben Carter"] == {"Hourly Regular", "Overtime Ben"}
    assert got["Tom Reyes"] == {"Hourly Regular", "Overtime Hourly"}  # classification rows beat worker + any
    assert got["Sam Whitfield"] == {"Hourly Regular"}
    with pytest.raises(PermissionDenied, match="Timesheets"):
        world.time_export_iif(by="wei.nakamura@example-builders.com")  # 'None' on every tool


def test_time_tracking_add_carries_the_payroll_item(world):
    world.map_payroll_items({("*", "Overtime"): "Overtime Hourly"}, by=ADMIN)
    entry = int(
        world.store.scalar(
            "SELECT min(id) FROM timecard_entries WHERE payroll_item = 'Overtime' AND approval_status = 'approved'"
        )
    )
    world.refresh_queue()
    world.send([entry], item_type="timecard_entry", by=PM)
    world.accept([entry], item_type="timecard_entry", by="james.bennett@example-builders.com")
    batch = world.next_export_batch(50)
    xml = batch.xml.decode() if isinstance(batch.xml, bytes) else str(batch.xml)
    assert "<TimeTrackingAdd>" in xml
    assert "<PayrollItemWageRef><FullName>Overtime Hourly</FullName></PayrollItemWageRef>" in xml


def test_cli(world, tmp_path):
    from qbrecon.cli import main

    path = str(world.path)
    world.close()
    run = CliRunner().invoke
    r = run(
        main,
        [
            "payroll",
            "map",
            "-w",
            path,
            "--classification",
            "Regular Time",
            "--item",
            "Hourly Regular",
            "--by",
            ADMIN,
        ],
    )
    assert r.exit_code == 0 and "Hourly Regular" in r.output, r.output
    out = tmp_path / "time.iif"
    r = run(main, ["payroll", "export-iif", "-w", path, "--out", str(out), "--by", PM])
    assert r.exit_code in (0, 1), r.output
    assert "\tHourly Regular\t" in out.read_bytes().decode("cp1252")
