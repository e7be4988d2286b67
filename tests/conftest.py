"""Shared test fixtures: the official qbXML schema (skipped with a reason when absent) and workspaces."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("QBRECON_SHARED", REPO.parent / "shared"))


def xsd_dir() -> Path:
    return Path(os.environ.get("QBRECON_QBXML_XSD", SHARED / "qbxml" / "xsd" / "13.0"))


# The product never reads the reference folder; the tests do when it is there: the simulator (in this process and
# in the CLI/server subprocesses) then also validates every message set against Intuit's XSD, an extra check on
# top of the spec tables it always enforces.
if "QBRECON_QBXML_XSD" not in os.environ and (xsd_dir() / "qbxmlops130.xsd").exists():
    os.environ["QBRECON_QBXML_XSD"] = str(xsd_dir())


@pytest.fixture(scope="session")
def qbxml_schema():
    """lxml XMLSchema for qbXML 13.0 requests/responses, built once (its includes resolve relative to the path)."""
    from lxml import etree

    path = xsd_dir() / "qbxmlops130.xsd"
    if not path.exists():
        pytest.skip(f"official qbXML XSD not found at {path} (set QBRECON_QBXML_XSD)")
    return etree.XMLSchema(etree.parse(str(path)))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip(f"shared reference data not found at {SHARED}")
    return SHARED


@pytest.fixture()
def ws(tmp_path):
    from qbrecon import Workspace

    w = Workspace(tmp_path / "ws.duckdb")
    yield w
    w.close()
