"""Shared test fixtures: the official qbXML schema (skipped with a reason when absent) and workspaces."""

from __future__ import annotations

import os
import shutil
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


# The slow tier (docs/adr/0010-test-tiers.md): `pytest -m "slow or browser"`. The fast tier is everything else and
# must stay under a minute: a module that builds fixtures, runs end to end over HTTP, starts processes, servers or
# browsers, fuzzes or executes notebooks goes here; a single slow test is marked @pytest.mark.slow (or named in
# SLOW_TESTS when its module belongs to another helper).
SLOW_MODULES = {
    "test_benchmarks_small.py",
    "test_browser_dashboard.py",
    "test_cli.py",
    "test_concurrency.py",
    "test_crash_recovery.py",
    "test_dashboard.py",
    "test_demo.py",
    "test_erp_queue.py",
    "test_export_ledger.py",
    "test_fixtures.py",
    "test_hostile_input.py",
    "test_ingest_parts.py",  # loads in parts on a pool of forked worker processes
    "test_notebooks.py",
    "test_procore_api.py",  # the real client against a local Procore over HTTP
    "test_procore_imports.py",
    "test_procore_push.py",
    "test_qbwc_cli.py",
    "test_qbwc_e2e.py",
    "test_qbwc_fixtures_e2e.py",
    "test_qbwc_server.py",
    "test_reconcile.py",
    "test_refresh.py",
    "test_sync_trust.py",  # the life of synced records end to end: generated fixtures, sync, reload, export
}
SLOW_TESTS = {
    "test_filters.py::test_cli_where_refuses_read_text_with_a_clear_error",  # the CLI in a subprocess
    "test_lockout.py::test_dashboard_sign_in_locks_out_and_an_admin_lifts_it_from_the_cli",  # server + CLI
    "test_notify.py::test_mail_command_continues_past_a_bad_row_and_exits_1",  # the CLI in a subprocess
    "test_secrets.py::test_settings_cli_knows_the_web_connector_settings",  # the CLI in subprocesses
    "test_store.py::test_threads_sharing_a_store_each_get_their_own_results",  # 12 threads x 150 rounds
    "test_loaders.py::test_cli_load_exit_codes_and_formats",  # runs the CLI in subprocesses
    "test_qbxml_build.py::test_builds_from_generated_fixtures",  # generates and loads fixtures
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--tier",
        choices=("fast", "slow"),
        help="run one test tier: fast (not slow, not browser; slow modules are not even imported) or slow",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if config.getoption("--tier") == "fast" and collection_path.name in SLOW_MODULES:
        return True  # importing them (Panel, Playwright, ...) alone would cost the fast tier seconds
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        name = item.path.name
        if name in SLOW_MODULES or f"{name}::{item.originalname}" in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
    tier = config.getoption("--tier")
    if tier:
        want_slow = tier == "slow"
        slow = [bool(i.get_closest_marker("slow") or i.get_closest_marker("browser")) for i in items]
        keep = [i for i, s in zip(items, slow, strict=True) if s == want_slow]
        dropped = [i for i, s in zip(items, slow, strict=True) if s != want_slow]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep


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


@pytest.fixture(scope="session")
def empty_workspace_file(tmp_path_factory) -> Path:
    """A new workspace file, made once per test process (per xdist worker): creating the schema costs several
    times more than copying the file and opening it (an up-to-date workspace opens without DDL)."""
    from qbrecon import Workspace

    path = tmp_path_factory.mktemp("template") / "ws.duckdb"
    Workspace(path).close()
    return path


@pytest.fixture(scope="session")
def small_loaded_file(tmp_path_factory) -> Path:
    """A workspace with ``fixtures/small`` loaded on both sides, made once per test process: copy it with
    ``copy_workspace`` instead of loading the same files again for each test."""
    from qbrecon import Workspace

    path = tmp_path_factory.mktemp("small") / "ws.duckdb"
    ws = Workspace(path)
    ws.load_procore(REPO / "fixtures" / "small" / "procore")
    ws.load_quickbooks(REPO / "fixtures" / "small" / "quickbooks")
    ws.close()
    return path


def copy_workspace(source: Path, directory: Path):
    """A workspace of the test's own: a copy of ``source`` in ``directory``, opened."""
    from qbrecon import Workspace

    path = directory / "ws.duckdb"
    shutil.copyfile(source, path)
    path.chmod(0o600)  # as the store makes a new workspace file: the owner's only
    return Workspace(path)


@pytest.fixture()
def ws(tmp_path, empty_workspace_file):
    """A new, empty workspace of this test's own (a copy of the session's new workspace file)."""
    w = copy_workspace(empty_workspace_file, tmp_path)
    yield w
    w.close()
