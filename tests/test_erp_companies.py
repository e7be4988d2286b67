"""Archive ERP companies, view the archived list, and sub jobs kept out of "Ready to Import" (seed 001)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from test_erp_queue import build_world, put

from qbrecon.errors import BatchRejected, PermissionDenied


@pytest.fixture()
def world(ws):
    build_world(ws)
    put(
        ws,
        "vendors",
        [
            dict(ListID="V-1", Name="Old Supplier"),
            dict(ListID="V-2", Name="New Supplier"),
            dict(ListID="80000200-1", Name="Acme Concrete"),
        ],
    )
    put(
        ws,
        "customers",
        [
            dict(ListID="C-1", Name="Owner", FullName="Owner", Sublevel=0),
            dict(ListID="C-2", Name="Tower", FullName="Owner:Tower", Sublevel=1, ParentRef_FullName="Owner"),
            dict(
                ListID="C-3",
                Name="Lobby",
                FullName="Owner:Tower:Lobby",
                Sublevel=2,
                ParentRef_FullName="Owner:Tower",
            ),
        ],
    )
    return ws


def ready(ws) -> set[str]:
    return set(ws.ready_to_import()["list_id"])


def test_archive_and_restore_an_erp_company(world):
    assert {"V-1", "V-2"} <= ready(world)
    with pytest.raises(PermissionDenied, match="Can Push to Accounting"):
        world.archive_erp_companies(["V-1"], by="sam")
    with pytest.raises(BatchRejected) as exc:
        world.archive_erp_companies(["V-1", "80000200-1", "nope"], by="ann")
    assert "linked to a Procore company" in str(exc.value) and "no QuickBooks vendor" in str(exc.value)
    assert "V-1" in ready(world)  # nothing archived by the refused batch
    assert world.archive_erp_companies(["V-1"], by="ann") == 1
    assert "V-1" not in ready(world) and "V-2" in ready(world)
    archived = world.archived_erp_companies(by="carl")  # 'Read Only' may view the list
    assert archived[["list_id", "name", "archived_by"]].values.tolist() == [
        ["V-1", "Old Supplier", "Ann Approver"]
    ]
    with pytest.raises(PermissionDenied):
        world.archived_erp_companies(by="pat")  # 'None'
    assert world.restore_erp_companies(["V-1"], by="ann") == 1
    assert "V-1" in ready(world) and world.archived_erp_companies(by="carl").empty
    assert set(world.audit()["action"]) >= {"archive_erp_company", "restore_erp_company"}


def test_sub_jobs_are_kept_out_with_the_reason(world):
    assert "C-2" in ready(world) and "C-3" not in ready(world)
    subs = world.sub_jobs()
    assert subs["list_id"].tolist() == ["C-3"] and "not supported" in subs["reason"].iloc[0]


def test_cli(world):
    from qbrecon.cli import main

    path = str(world.path)
    world.close()
    run = CliRunner().invoke
    r = run(main, ["erp-companies", "archive", "-w", path, "--list-id", "V-2", "--by", "ann"])
    assert r.exit_code == 0, r.output
    r = run(main, ["erp-companies", "archived", "-w", path, "--by", "adam", "--format", "csv"])
    assert r.exit_code == 0 and "V-2,New Supplier" in r.output, r.output
    r = run(main, ["erp-companies", "sub-jobs", "-w", path])
    assert r.exit_code == 0 and "Owner:Tower:Lobby" in r.output


def test_adding_an_erp_job_needs_erp_admin(world, tmp_path):
    from qbrecon.procore.imports import accept_imports

    with pytest.raises(PermissionDenied, match="add an ERP Job to Procore"):
        accept_imports(
            world, ["C-2"], by="ann", company_id=9, out_dir=tmp_path / "out"
        )  # approver, 'Standard'
    result = accept_imports(world, ["C-2"], by="adam", company_id=9, out_dir=tmp_path / "out")
    assert result is not None
