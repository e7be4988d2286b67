""".qwc files: the elements QBWC needs, GUIDs stable per workspace, the https rule."""

from __future__ import annotations

import pytest
from lxml import etree

from qbrecon.errors import InputError
from qbrecon.qbwc.qwc import check_app_url, workspace_guids, workspace_qwc


def test_qwc_elements_and_stable_guids(ws, tmp_path):
    out = tmp_path / "app.qwc"
    first = workspace_qwc(ws.store, "http://localhost:8080/qbwc", "qbwc", out=out)
    assert out.read_bytes() == first
    root = etree.fromstring(first)
    assert root.tag == "QBWCXML"
    text = {el.tag: (el.text or "") for el in root}
    assert text["AppURL"] == "http://localhost:8080/qbwc"
    assert text["AppSupport"].startswith("http://localhost:8080/")
    assert text["UserName"] == "qbwc"
    assert text["QBType"] == "QBFS"
    assert text["IsReadOnly"] == "false"
    assert root.findtext("Scheduler/RunEveryNMinutes") == "60"  # the default sync schedule: hourly
    assert text["AppName"] == "qbrecon ws"
    for tag in ("OwnerID", "FileID"):
        assert text[tag].startswith("{") and text[tag].endswith("}") and len(text[tag]) == 38
    assert text["OwnerID"] != text["FileID"]
    # Re-generating never changes the GUIDs (QBWC would take it for another application / file).
    again = etree.fromstring(workspace_qwc(ws.store, "https://qb.example.com/qbwc", "qbwc"))
    assert again.findtext("OwnerID") == text["OwnerID"] and again.findtext("FileID") == text["FileID"]
    assert workspace_guids(ws.store) == (text["OwnerID"], text["FileID"])


def test_guids_differ_between_workspaces(tmp_path):
    from qbrecon import Workspace

    with Workspace(tmp_path / "a.duckdb") as a, Workspace(tmp_path / "b.duckdb") as b:
        assert set(workspace_guids(a.store)).isdisjoint(workspace_guids(b.store))


@pytest.mark.parametrize("url", ["http://qb.example.com/qbwc", "ftp://localhost/x", "localhost:8080"])
def test_app_url_rules(url):
    with pytest.raises(InputError):
        check_app_url(url)


def test_https_and_localhost_accepted():
    assert check_app_url("https://qb.example.com/qbwc")
    assert check_app_url("http://127.0.0.1:8080/qbwc")


@pytest.mark.parametrize(
    "schedule, minutes",
    [
        ("every_15_minutes", "15"),
        ("hourly", "60"),
        ("every_2_hours", "120"),
        ("every_4_hours", "240"),
        ("daily", "1440"),
        ("never", None),
    ],
)
def test_sync_schedule_setting_drives_the_scheduler(ws, schedule, minutes):
    from qbrecon.erp.settings import write_settings

    write_settings(ws.store, {"sync_schedule": schedule, "service_url": "https://qb.example.com/qbwc"}, None)
    root = etree.fromstring(workspace_qwc(ws.store, None, "qbwc"))
    assert root.findtext("Scheduler/RunEveryNMinutes") == minutes
    assert root.findtext("AppURL") == "https://qb.example.com/qbwc"  # the Service URL setting
    assert (
        etree.fromstring(workspace_qwc(ws.store, None, "qbwc", run_every_minutes=5)).findtext(
            "Scheduler/RunEveryNMinutes"
        )
        == "5"
    )
