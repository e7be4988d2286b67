"""Filters are filters: ``--where`` conditions and ``ws.frame(where=...)`` may not call file, table or system
functions (they used to be spliced into SQL as given, so ``read_text('/etc/passwd')`` read the file)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from test_erp_queue import build_world

from qbrecon.errors import InputError

HOSTILE = [
    "length(read_text('/etc/passwd')) > 0",
    "name IN (SELECT content FROM read_text('/etc/passwd'))",
    "(SELECT count(*) FROM read_csv('/etc/passwd')) > 0",
    "1 = 1) UNION SELECT 'company', 1 FROM read_text('/etc/passwd') --",
    "getenv('HOME') IS NOT NULL",
    "procore_id IN (SELECT id FROM users)",
    "status = 'not_sent' AND glob('/etc/*') IS NOT NULL",
]


@pytest.mark.parametrize("where", HOSTILE)
def test_where_refuses_file_table_and_system_functions(ws, where):
    build_world(ws)
    before = ws.store.frame("SELECT item_type, procore_id, status FROM erp_items ORDER BY ALL")
    with pytest.raises(InputError) as err:
        ws.send(where, by="pat")
    assert err.value.field == "where"
    assert "may not" in str(err.value) or "must be one SQL condition" in str(err.value)
    assert ws.store.frame("SELECT item_type, procore_id, status FROM erp_items ORDER BY ALL").equals(before)


def test_where_still_takes_conditions_and_plain_functions(ws):
    build_world(ws)
    result = ws.send("status = 'not_sent' AND lower(name) LIKE '%electric%' AND can_send", by="pat")
    assert result.count >= 1


def test_where_names_an_unknown_column(ws):
    build_world(ws)
    with pytest.raises(InputError, match="'colour', which is not a column of erp_queue"):
        ws.send("colour = 'red'", by="pat")


def test_frame_filter_is_guarded_too(ws):
    with pytest.raises(InputError, match=r"may not call read_text\(\)"):
        ws.frame("erp_settings", where="read_text('/etc/passwd') IS NOT NULL")
    assert ws.frame("erp_settings", where="key = 'no such setting'").empty


def test_cli_where_refuses_read_text_with_a_clear_error(tmp_path):
    from qbrecon import Workspace

    path = tmp_path / "company.duckdb"
    with Workspace(path) as ws:
        build_world(ws)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "from qbrecon.cli import main; main()",
            "send",
            "-w",
            str(path),
            "--by",
            "pat",
            "--where",
            "length(read_text('/etc/passwd')) > 0",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "may not call read_text()" in run.stderr and "root:" not in run.stdout + run.stderr
