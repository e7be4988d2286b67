"""The ``qbrecon`` command as a whole: every command has help with an example and the same option names,
listing commands print table/csv/json, exit codes a scheduler can act on (0 ok, 1 data problems, 2 usage or
bad input, 3 differences over a threshold, 75 busy, 77 permission denied, 70 a bug), errors in one line
without a traceback (``--debug`` shows it), and the file-based flow end to end:
fixtures -> load -> send/accept -> export -> QuickBooks (simulator) -> apply-responses -> reconcile."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pandas as pd
import pytest
from click.testing import CliRunner

from qbrecon.cli import COMMAND_ORDER, main

ADMIN = "maria.alvarez@example-builders.com"
APPROVER = "james.bennett@example-builders.com"
SENDER = "carlos.delgado@example-builders.com"
READ_ONLY = "aisha.okafor@example-builders.com"

# Commands that do not open a workspace: the Web Connector player talks to a URL; fixtures write files.
NO_WORKSPACE = {"simulate", "fixtures generate"}
LISTING = {"queue", "load", "settings show", "erp-report"}


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def leaf_commands() -> dict[str, click.Command]:
    """Every runnable command by its full name ('settings show', 'accept', ...)."""
    out = {}

    def walk(group: click.Group, prefix: str) -> None:
        for name, cmd in group.commands.items():
            full = f"{prefix}{name}"
            if isinstance(cmd, click.Group):
                walk(cmd, full + " ")
            else:
                out[full] = cmd

    walk(main, "")
    return out


@pytest.fixture(scope="module")
def fixtures_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "fx"
    r = run("fixtures", "generate", "--out", out, "--projects", 3, "--seed", 1)
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def loaded(fixtures_dir) -> Path:
    """A workspace loaded through the CLI (each test works on its own copy)."""
    path = fixtures_dir.parent / "loaded.duckdb"
    r = run(
        "load", "-w", path, "--procore", fixtures_dir / "procore", "--quickbooks", fixtures_dir / "quickbooks"
    )
    assert r.exit_code == 0, r.output
    assert "quarantined" in r.output
    return path


@pytest.fixture()
def ws_file(loaded, tmp_path) -> Path:
    path = tmp_path / "company.duckdb"
    shutil.copy(loaded, path)
    return path


# -- coherence ---------------------------------------------------------------------------------------------
def test_the_command_set_covers_the_whole_flow():
    names = set(leaf_commands()) | set(main.commands)
    for wanted in [
        "load",
        "queue",
        "send",
        "accept",
        "reject",
        "retry",
        "export",
        "apply-responses",
        "serve",
        "simulate",
        "reconcile",
        "fixtures generate",
        "qwc",
        "dashboard",
        "demo",
    ]:
        assert wanted in names, wanted
    listed = main.list_commands(click.Context(main))
    assert set(listed) == set(main.commands)
    assert listed.index("load") < listed.index("accept") < listed.index("export") < listed.index("reconcile")
    missing = set(main.commands) - set(COMMAND_ORDER)
    assert not missing, f"add {missing} to qbrecon.cli.COMMAND_ORDER (the order --help lists commands in)"


@pytest.mark.parametrize("name", sorted(leaf_commands()))
def test_every_command_has_help_with_an_example_and_the_common_options(name):
    cmd = leaf_commands()[name]
    r = run(*name.split(), "--help")
    assert r.exit_code == 0, r.output
    assert "Example" in r.output, f"{name} --help has no example"
    options = {opt: p for p in cmd.params if isinstance(p, click.Option) for opt in p.opts}
    if name not in NO_WORKSPACE:
        assert "--workspace" in options and "-w" in options, name
        assert options["--workspace"].help, f"{name}: --workspace has no help"
    if name in LISTING:
        fmt = options["--format"]
        assert list(fmt.type.choices) == ["table", "csv", "json"] and fmt.default == "table", name
    for p in cmd.params:
        if isinstance(p, click.Option) and "--host" in p.opts:
            assert p.default == "127.0.0.1", name  # loopback unless asked
    host_names = {o for o in options if o in ("--host", "--address")}
    assert not host_names or "--host" in host_names, name


def test_listing_formats(ws_file):
    table = run("queue", "-w", ws_file, "--type", "company")
    assert table.exit_code == 0 and "Petrov Painting Partners" in table.output
    as_csv = run("queue", "-w", ws_file, "--type", "company", "--format", "csv")
    frame = pd.read_csv(io.StringIO(as_csv.output))
    assert as_csv.exit_code == 0 and set(frame["item_type"]) == {"company"} and len(frame) == 18
    as_json = run("queue", "-w", ws_file, "--status", "not_sent", "--format", "json")
    rows = json.loads(as_json.output)
    assert {r["status"] for r in rows} == {"not_sent"} and all("blockers" in r for r in rows)
    settings = json.loads(run("settings", "show", "-w", ws_file, "--format", "json").output)
    assert {"setting": "service_password", "value": None} in settings  # secrets never printed


# -- exit codes and errors ------------------------------------------------------------------------------------
def test_quarantined_rows_exit_1_and_name_file_row_and_field(fixtures_dir, tmp_path):
    edited = tmp_path / "procore"
    shutil.copytree(fixtures_dir / "procore", edited)
    page = edited / "requisitions" / "page_0001.json"
    invoices = json.loads(page.read_text())
    invoices[4]["billing_date"] = "2024-13-01"
    page.write_text(json.dumps(invoices))
    r = run("load", "-w", tmp_path / "w.duckdb", "--procore", edited)
    assert r.exit_code == 1, r.output
    assert "requisitions/page_0001.json row 5 field billing_date" in r.output
    r = run("load", "-w", tmp_path / "w.duckdb", "--procore", edited, "--format", "json")
    assert r.exit_code == 1 and json.loads(r.output)[0]["status"] == "quarantined"


def test_bad_input_exits_2_in_one_line(ws_file, tmp_path, fixtures_dir):
    r = run("load", "-w", ws_file)
    assert r.exit_code == 2 and r.output.startswith("error: nothing to load")
    r = run("load", "-w", ws_file, "--procore", fixtures_dir / "answer_key.json")
    assert r.exit_code == 2 and "file " in r.output and "Traceback" not in r.output
    r = run("queue", "-w", tmp_path / "typo.duckdb")  # a typo never creates an empty workspace
    assert r.exit_code == 2 and not (tmp_path / "typo.duckdb").exists()
    r = run("queue", "-w", ws_file, "--status", "bogus")
    assert r.exit_code == 2 and "field 'status'" in r.output
    r = run("accept", "-w", ws_file, "--by", APPROVER, "--where", "no_such_column > 1")
    assert r.exit_code == 2 and "field 'where'" in r.output
    not_a_workspace = tmp_path / "notes.duckdb"
    not_a_workspace.write_text("hello")
    r = run("queue", "-w", not_a_workspace)
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "not a valid DuckDB database" in r.output
    r = run("reconcile", "-w", ws_file, "--out", tmp_path / "missing" / "dir" / "r.html", "-q")
    assert r.exit_code == 2 and "No such file or directory" in r.output and "Traceback" not in r.output
    r = run("reconcile", "-w", ws_file, "--out", tmp_path / "r.html", "--fail-over", "lots")
    assert r.exit_code == 2 and "expected an amount" in r.output


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "notes.duckdb"
    bad.write_text("hello")
    r = CliRunner().invoke(main, ["--debug", "queue", "-w", str(bad)])
    assert r.exit_code != 0 and r.exception is not None and not isinstance(r.exception, SystemExit)


def test_refused_batches_and_permissions(ws_file):
    r = run("accept", "-w", ws_file, "--by", READ_ONLY, "--where", "status = 'ready_to_export'")
    assert r.exit_code == 77 and "Can Push to Accounting" in r.output
    r = run("accept", "-w", ws_file, "--by", "nobody@example.com", "--where", "status = 'ready_to_export'")
    assert r.exit_code == 77 and "unknown user" in r.output
    r = run("accept", "-w", ws_file, "--by", APPROVER, "--where", "item_type = 'invoice'")  # mostly Not Sent
    assert r.exit_code == 2 and "nothing was changed" in r.output and "procore_id=" in r.output
    with_queue = json.loads(run("queue", "-w", ws_file, "--status", "exporting", "--format", "json").output)
    assert with_queue == []  # the refused batch changed nothing


def test_reconcile_threshold_exit_3(ws_file, tmp_path):
    r = run("reconcile", "-w", ws_file, "--out", tmp_path / "r.html", "-q", "--fail-over", "0.00")
    assert r.exit_code == 3 and "differences exceed the threshold" in r.output
    r = run("reconcile", "-w", ws_file, "--out", tmp_path / "r.html", "-q", "--fail-over", "100000000")
    assert r.exit_code == 0 and "finding(s)" in r.output
    r = run("reconcile", "-w", ws_file, "--out", tmp_path / "r.html", "-q", "--max-differences", "0")
    assert r.exit_code == 3


def test_busy_workspace_exits_75(ws_file, monkeypatch):
    import qbrecon.workspace_full as workspace_module

    real_store = workspace_module.Store
    monkeypatch.setattr(
        workspace_module, "Store", lambda path, busy_timeout=10.0: real_store(path, busy_timeout=0.3)
    )
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
            "sys.stdin.read()",
            str(ws_file),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        r = run("queue", "-w", ws_file)
        assert r.exit_code == 75, r.output
        assert "busy" in r.output and str(holder.pid) in r.output
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_unexpected_errors_and_os_permissions_map_to_their_codes():
    from qbrecon.cli import _describe
    from qbrecon.errors import PermissionDenied, WorkspaceLocked

    assert _describe(PermissionError(13, "Permission denied", "/srv/out.html")) == (
        "Permission denied: /srv/out.html",
        77,
    )
    assert _describe(FileNotFoundError(2, "No such file or directory", "x.xml"))[1] == 2
    assert _describe(WorkspaceLocked("busy"))[1] == 75
    assert _describe(PermissionDenied("no"))[1] == 77
    message, code = _describe(ZeroDivisionError("division by zero"))
    assert code == 70 and "--debug" in message


def test_user_set_password_for_the_dashboard(ws_file, monkeypatch):
    from qbrecon import Workspace

    monkeypatch.delenv("QBRECON_USER_PASSWORD", raising=False)
    args = ["user", "set-password", "-w", ws_file, "--user", APPROVER]
    r = run(*args, "--by", SENDER, input="a good password\n")
    assert r.exit_code == 77  # only an ERP Integrations admin
    r = run(*args, "--by", ADMIN, input="short\n")
    assert r.exit_code == 2 and "8 characters" in r.output
    r = run(*args, "--by", ADMIN, input="")
    assert r.exit_code == 2 and "no password given" in r.output
    r = run(*args, "--by", ADMIN, input="a good password\n")
    assert r.exit_code == 0, r.output
    monkeypatch.setenv("QBRECON_USER_PASSWORD", "from the environment")
    assert run("user", "set-password", "-w", ws_file, "-u", READ_ONLY, "--by", ADMIN, input="").exit_code == 0
    with Workspace(ws_file) as ws:
        assert ws.authenticate_user(APPROVER, "a good password")["login"] == APPROVER
        assert ws.authenticate_user(READ_ONLY, "from the environment") is not None
        assert ws.authenticate_user(APPROVER, "short") is None


# -- the whole flow through the command line ------------------------------------------------------------------
def test_file_based_export_end_to_end(ws_file, fixtures_dir, tmp_path):
    from qbrecon.qbwc.simulator import QuickBooksCompany

    r = run(
        "settings",
        "set",
        "-w",
        ws_file,
        "--by",
        ADMIN,
        "invoice_retainage_item=Retainage",
        "service_item_expense_account=Job Expenses",
    )
    assert r.exit_code == 0, r.output
    r = run("send", "-w", ws_file, "--by", SENDER, "--where", "status = 'not_sent' AND can_send")
    # 8 Procore records plus one owner invoice (payment application) per synced project not sent yet
    assert r.exit_code == 0 and "10 item(s)" in r.output, r.output
    r = run(
        "accept",
        "-w",
        ws_file,
        "--by",
        APPROVER,
        "--vendor-type",
        "Subcontractors",
        "--format",
        "json",
        "--where",
        "status = 'ready_to_export' AND item_type IN ('company', 'cost_code')",
    )
    assert r.exit_code == 0 and json.loads(r.output)["count"] == 5, r.output
    outbox, inbox = tmp_path / "outbox", tmp_path / "inbox"
    r = run("export", "-w", ws_file, "--out", outbox)
    assert r.exit_code == 0, r.output
    requests = sorted(outbox.glob("qbxml-request-*.xml"))
    assert len(requests) == 1 and str(requests[0]) in r.output
    assert run("export", "-w", ws_file, "--out", outbox).output.startswith("0 message set(s)")  # never twice

    inbox.mkdir()
    with QuickBooksCompany(tmp_path / "company-file.duckdb") as company:  # QuickBooks answers the files
        company.seed_from(fixtures_dir / "quickbooks")
        for request in requests:
            answer = inbox / request.name.replace("request", "response")
            answer.write_bytes(company.process(request.read_bytes()))
        vendors = company.counts()["vendor"]
    r = run("apply-responses", "-w", ws_file, *sorted(inbox.glob("*.xml")))
    assert r.exit_code == 0 and "5 synced" in r.output, r.output
    r = run("apply-responses", "-w", ws_file, *sorted(inbox.glob("*.xml")))
    assert r.exit_code == 0 and "nothing new" in r.output  # applying twice changes nothing
    synced = json.loads(
        run("queue", "-w", ws_file, "--type", "company", "--status", "synced", "--format", "json").output
    )
    assert len(synced) == vendors == 18 and all(row["quickbooks_id"] for row in synced)

    r = run("reconcile", "-w", ws_file, "--out", tmp_path / "r.html", "--xlsx", tmp_path / "r.xlsx", "-q")
    assert r.exit_code == 0 and (tmp_path / "r.html").exists() and (tmp_path / "r.xlsx").exists()
    r = run("apply-responses", "-w", ws_file, fixtures_dir / "answer_key.json")
    assert r.exit_code == 2 and "answer_key.json" in r.output


def test_the_console_script(tmp_path):
    """The installed ``qbrecon`` script, as a scheduler runs it: exit codes and one-line errors."""
    exe = shutil.which("qbrecon") or pytest.skip("the qbrecon console script is not on PATH")
    env = {**os.environ, "COLUMNS": "120"}

    def sh(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [exe, *map(str, args)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
        )

    assert sh("--version").returncode == 0
    helped = sh("--help")
    assert helped.returncode == 0 and "Exit status" in helped.stdout
    assert sh("fixtures", "generate", "--out", "fx", "--projects", 1, "--seed", 2).returncode == 0
    loaded = sh("load", "-w", "w.duckdb", "--procore", "fx/procore", "--quickbooks", "fx/quickbooks")
    assert loaded.returncode == 0, loaded.stderr
    listed = sh("queue", "-w", "w.duckdb", "--format", "json")
    assert listed.returncode == 0 and json.loads(listed.stdout)
    broken = sh("queue", "-w", "w.duckdb", "--status", "nope")
    assert broken.returncode == 2 and broken.stderr.startswith("error: ") and "Traceback" not in broken.stderr
    usage = sh("queue")
    assert usage.returncode == 2 and "Missing option" in usage.stderr


# -- output for people and for programs (issue 14 point 12, issue 18 finding 6) ------------------------------
def test_table_output_is_for_people(ws_file):
    import re

    listed = json.loads(run("queue", "-w", ws_file, "--format", "json").output)
    blocker = max((r["blockers"] or "" for r in listed), key=len)
    assert len(blocker) > 60  # a reason long enough that the old table cut it with "..."
    r = run("queue", "-w", ws_file)
    assert r.exit_code == 0, r.output
    words = r.output.split()
    assert not {"<NA>", "None", "nan", "NaN", "NaT"} & set(words)
    assert "..." not in r.output
    assert all(w in words for w in blocker.split()), "every word of a blocker is printed"
    header = r.output.splitlines()[0]
    assert "Item type" in header and "Blocked by" in header and "QuickBooks error" in header
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", header), header  # no snake_case codes as headers
    amounts = [row["amount"] for row in listed if row["amount"] and float(row["amount"]) >= 1000]
    assert amounts and re.search(r"\b\d{1,3}(,\d{3})+\.\d{2}\b", r.output)
    # programs keep the raw values
    raw = pd.read_csv(io.StringIO(run("queue", "-w", ws_file, "--format", "csv").output))
    assert {"item_type", "status_label", "blockers"} <= set(raw.columns)


def test_csv_output_neutralises_formulas(ws_file):
    import csv

    from qbrecon import Workspace
    from qbrecon.formats import write_csv

    hostile = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\tTab Co", "\rCR Co"]
    with Workspace(ws_file) as ws:
        ids = [r[0] for r in ws.sql("SELECT id FROM companies ORDER BY id LIMIT 6").fetchall()]
        for company_id, name in zip(ids, hostile, strict=True):
            ws.store.execute("UPDATE companies SET name = ? WHERE id = ?", [name, company_id])
    r = run("queue", "-w", ws_file, "--type", "company", "--format", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.output)))
    names = {row["name"] for row in rows}
    for name in hostile:
        assert "'" + name in names and name not in names, name
    assert not [row for row in rows for v in row.values() if v and v[0] in "=+-@\t\r"]
    # one writer for every CSV: numbers (negative ones too) stay numbers
    out = io.StringIO()
    write_csv(
        pd.DataFrame({"text": ["=1+1", "ok"], "amount": [__import__("decimal").Decimal("-1.50"), None]}), out
    )
    assert out.getvalue().splitlines() == ["text,amount", "'=1+1,-1.50", "ok,"]


def test_reconcile_prints_reasons_in_words(ws_file, tmp_path):
    r = run("reconcile", "-w", ws_file, "--out", tmp_path / "r.html", "-q")
    assert r.exit_code == 0, r.output
    assert "Why they differ" in r.output and "In the queue" in r.output
    from qbrecon.reasons import REASONS

    words = r.output.split()
    codes = [code for code in REASONS if code in words]
    assert codes, r.output
    for code in codes:  # each reason printed with its whole text (wrapped, never cut)
        assert all(w in words for w in REASONS[code].split()), code
    assert "<NA>" not in r.output and "None" not in words and "..." not in r.output


def test_queue_where_and_empty_selection_is_success(ws_file):
    r = run(
        "queue", "-w", ws_file, "--where", "amount > 1000000 AND item_type = 'commitment'", "--format", "json"
    )
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert rows and all(row["item_type"] == "commitment" and float(row["amount"]) > 1_000_000 for row in rows)
    everything = json.loads(run("queue", "-w", ws_file, "--type", "commitment", "--format", "json").output)
    assert len(rows) < len(everything)
    r = run("queue", "-w", ws_file, "--where", "no_such_column = 1")
    assert r.exit_code == 2 and "field 'where'" in r.output
    r = run("queue", "-w", ws_file, "--where", "procore_id = -1")
    assert r.exit_code == 0 and "no item matches" in r.output
    # a nightly job on a quiet day: nothing to accept is success, not a usage error
    r = run("accept", "-w", ws_file, "--by", APPROVER, "--where", "procore_id = -1")
    assert r.exit_code == 0 and "nothing to do" in r.output, r.output
    r = run("send", "-w", ws_file, "--by", SENDER, "--where", "procore_id = -1", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.output)["count"] == 0


def test_debug_works_after_the_command(tmp_path):
    bad = tmp_path / "notes.duckdb"
    bad.write_text("hello")
    r = CliRunner().invoke(main, ["queue", "-w", str(bad), "--debug"])
    assert r.exit_code != 0 and r.exception is not None and not isinstance(r.exception, SystemExit)
    r = CliRunner().invoke(main, ["queue", "-w", str(bad)])
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit)


def test_serve_and_dashboard_are_one_command_and_check_the_port(ws_file):
    import socket

    serve, dashboard = main.commands["serve"], main.commands["dashboard"]
    assert serve.callback is dashboard.callback
    defaults = {p.name: p.default for p in serve.params}
    assert defaults == {p.name: p.default for p in dashboard.params} and defaults["port"] == 8080
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for name in ("serve", "dashboard"):
            r = run(name, "-w", ws_file, "--port", port)
            assert r.exit_code == 2, r.output
            assert f"port {port} on 127.0.0.1 is already in use" in r.output
            assert "http://" not in r.output  # no URL printed for a server that cannot start


def test_busy_workspace_wait_option(ws_file):
    import time

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
            "sys.stdin.read()",
            str(ws_file),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        for args in (["queue", "-w", ws_file, "--wait", "0.5"], ["--wait", "0.5", "queue", "-w", ws_file]):
            started = time.monotonic()
            r = run(*args)
            assert r.exit_code == 75, r.output
            assert time.monotonic() - started < 5
            assert "busy" in r.output and "Waited 0.5 s" in r.output and "--wait SECONDS" in r.output
        assert run("queue", "-w", ws_file, "--wait", "soon").exit_code == 2
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
