"""The Procore REST client and pull, run against the local fake Procore (127.0.0.1 only, no internet)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from click.testing import CliRunner

from qbrecon import Workspace, pairs
from qbrecon.cli import main
from qbrecon.procore import open_client
from qbrecon.procore.client import ProcoreApiError, ProcoreClient, retry_after
from qbrecon.procore.fake_server import FakeProcore, Faults
from qbrecon.procore.pull import pull
from qbrecon.schemas import TABLES

FIXTURE = Path(__file__).parents[1] / "fixtures" / "small" / "procore"


def client_for(fake: FakeProcore, **kw) -> ProcoreClient:
    waits: list[float] = []
    c = ProcoreClient(
        fake.company_id,
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        base_url=fake.url,
        login_url=fake.url,
        sleep=waits.append,
        **kw,
    )
    c.waits = waits  # type: ignore[attr-defined]
    return c


def procore_tables(ws: Workspace) -> dict:
    out = {}
    for name, spec in TABLES.items():
        if spec.side == "procore":
            cols = ", ".join(f'"{c}"' for c in spec.column_names)
            out[name] = ws.store.frame(f'SELECT {cols} FROM "{name}" ORDER BY ALL')
    return out


@pytest.fixture
def loopback_only(monkeypatch):
    """Every connection the test makes goes to 127.0.0.1 (the local Procore), never the internet."""
    import socket

    real = socket.socket.connect
    seen: list = []

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        assert host in ("127.0.0.1", "::1"), f"a connection outside loopback: {address}"
        seen.append(address)
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


def test_pull_through_the_api_gives_the_tables_of_the_export(tmp_path, loopback_only):
    faults = Faults(
        rate_limit=("/rest/v1.0/vendors",),
        server_error=("/rest/v1.0/projects",),
        expire_token_after=6,
        retry_after="3",
    )
    with FakeProcore(FIXTURE, faults=faults) as fake:
        client = client_for(fake)
        result = pull(client, tmp_path / "pull", per_page=7)
        assert fake.statuses(429) == ["/rest/v1.0/vendors"]
        assert fake.statuses(500) == ["/rest/v1.0/projects"]
        assert len(fake.statuses(401)) == 1
        assert 3.0 in client.waits  # waited what Retry-After said
        assert any("429" in e for e in result.events) and any("expired" in e for e in result.events)
        assert loopback_only  # the client's connections went through the guard
        # pagination: 18 vendors at 7 a page -> 3 pages, each kept with its request
        vendor_pages = sorted((tmp_path / "pull" / "vendors" / "vendors").glob("page_*.json"))
        assert len(vendor_pages) == 3
        page = json.loads(vendor_pages[0].read_text())
        assert (
            page["request"]["params"]["company_id"] == fake.company_id
            and page["response"]["headers"]["Total"] == "18"
        )
        # the body is kept exactly as received (an audit compares bytes, no number is re-printed)
        raw = client.request("GET", "/rest/v1.0/vendors", params=page["request"]["params"]).text
        assert vendor_pages[0].read_text(encoding="utf-8").endswith('"data": ' + raw + "}")
    with Workspace(tmp_path / "pulled.duckdb") as a, Workspace(tmp_path / "direct.duckdb") as b:
        assert a.load_procore(tmp_path / "pull").ok
        b.load_procore(FIXTURE)
        pulled, direct = procore_tables(a), procore_tables(b)
        # every table has rows, the pair modules' tables (owner invoices and their lines) too
        assert {
            t for m in pairs.registered() for t in (m.pair.procore_table, m.pair.procore_lines) if t
        } <= set(direct)
        for name in direct:
            assert len(direct[name]) > 0, name
            assert pulled[name].equals(direct[name]), name


def test_incremental_pull_asks_for_records_updated_since(tmp_path):
    with FakeProcore(FIXTURE) as fake:
        result = pull(client_for(fake), tmp_path / "pull", since="2024-09-01")
    records = json.loads((FIXTURE / "vendors.json").read_text())
    newer = [r for r in records if r["updated_at"] >= "2024-09-01"]
    assert result.records["vendors"] == len(newer) < len(records)
    assert result.records["projects"] == 3  # projects are always listed: their records are pulled per project
    page = json.loads(next((tmp_path / "pull" / "vendors").rglob("page_0001.json")).read_text())
    assert page["request"]["params"]["filters[updated_at]"].startswith("2024-09-01T00:00:00Z...")


def test_authorization_code_then_refresh_token_kept_encrypted(tmp_path, monkeypatch):
    monkeypatch.delenv("QBRECON_PROCORE_KEY", raising=False)
    with FakeProcore(FIXTURE, faults=Faults(expire_token_after=1)) as fake:
        ws = Workspace(tmp_path / "w.duckdb")
        client = open_client(
            ws,
            fake.company_id,
            base_url=fake.url,
            client_id=fake.client_id,
            client_secret=fake.client_secret,
            sleep=lambda s: None,
        )
        answer = requests.get(client.authorization_url(), allow_redirects=False, timeout=10)
        code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
        client.fetch_token_from_code(code)
        first = client.session.token["access_token"]
        list(client.pages("/rest/v1.0/vendors", {"company_id": fake.company_id}))
        list(
            client.pages("/rest/v1.0/projects", {"company_id": fake.company_id})
        )  # token refused -> refreshed
        assert client.events == ["access token expired: refreshed with the refresh token"]
        second = client.session.token["access_token"]
        assert second != first
        ws.close()
        raw = (tmp_path / "w.duckdb").read_bytes()
        assert second.encode() not in raw and client.session.token["refresh_token"].encode() not in raw
        assert (tmp_path / "w.duckdb.procore-key").stat().st_mode & 0o077 == 0
        # a later run uses the kept token: no new sign-in
        with Workspace(tmp_path / "w.duckdb") as ws2:
            again = open_client(
                ws2, fake.company_id, client_id=fake.client_id, client_secret=fake.client_secret
            )
            assert again.session.token["access_token"] == second
            list(again.pages("/rest/v1.0/vendors", {"company_id": fake.company_id}))
        assert "/oauth/token" not in [p for m, p, s in fake.log[-1:]]


def test_refusals_name_the_request_never_the_token(tmp_path):
    with FakeProcore(FIXTURE) as fake:
        client = client_for(fake)
        with pytest.raises(ProcoreApiError) as err:
            list(client.pages("/rest/v1.0/no_such_thing"))
        assert "404" in str(err.value) and client.session.token["access_token"] not in str(err.value)
        # every call names its company (Procore-Company-Id); the local Procore refuses another company's
        other = ProcoreClient(
            10,
            client_id=fake.client_id,
            client_secret=fake.client_secret,
            base_url=fake.url,
            login_url=fake.url,
        )
        with pytest.raises(ProcoreApiError, match="HTTP 403") as err:
            other.request("GET", "/rest/v1.0/projects", params={"company_id": 10})
        assert err.value.status == 403
        assert "token" not in repr(client)
        bad = ProcoreClient(
            fake.company_id,
            client_id=fake.client_id,
            client_secret="wrong",
            base_url=fake.url,
            login_url=fake.url,
        )
        with pytest.raises(ProcoreApiError, match="refused the sign-in"):
            bad.request("GET", "/rest/v1.0/projects", params={"company_id": fake.company_id})
        with FakeProcore(FIXTURE, faults=Faults(server_error=("/rest/v1.0/companies/9/users",))) as busy:
            c = client_for(busy, max_attempts=1)
            with pytest.raises(ProcoreApiError, match="gave up after 1 attempts"):
                c.request("GET", f"/rest/v1.0/companies/{busy.company_id}/users")


def test_retry_after_reads_seconds_dates_and_rate_limit_reset():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after({"Retry-After": "7"}, now) == 7
    assert retry_after({"Retry-After": "Thu, 01 Jan 2026 12:00:30 GMT"}, now) == 30
    assert retry_after({"X-Rate-Limit-Reset": str(now.timestamp() + 12)}, now) == 12
    assert retry_after({}, now) == 1
    assert retry_after({"Retry-After": "99999"}, now) == 300


def test_cli_pull_procore_loads_what_it_pulled(tmp_path, monkeypatch):
    monkeypatch.setenv("QBRECON_PROCORE_KEY", "kJ7JwYbDUNw0n0fTfCq2m1m3mJ0Ew3oKX1nqvG0QkU4=")
    with FakeProcore(FIXTURE) as fake:
        monkeypatch.setenv("PROCORE_CLIENT_ID", fake.client_id)
        monkeypatch.setenv("PROCORE_CLIENT_SECRET", fake.client_secret)
        projects = json.loads((FIXTURE / "projects.json").read_text())
        one = projects[0]["id"]
        res = CliRunner().invoke(
            main,
            [
                "pull",
                "procore",
                "-w",
                str(tmp_path / "w.duckdb"),
                "--company-id",
                str(fake.company_id),
                "--base-url",
                fake.url,
                "--project",
                str(one),
                "--out",
                str(tmp_path / "pull"),
            ],
        )
        assert res.exit_code == 0, res.output
        assert "(1 project(s))" in res.output and fake.client_secret not in res.output
        res = CliRunner().invoke(
            main,
            [
                "pull",
                "procore",
                "-w",
                str(tmp_path / "w.duckdb"),
                "--company-id",
                str(fake.company_id),
                "--project",
                "1",
                "--out",
                str(tmp_path / "p2"),
            ],
        )
        assert res.exit_code == 2 and "no such project in company 9: 1" in res.output
    with Workspace(tmp_path / "w.duckdb") as ws:
        assert set(ws.store.frame("SELECT DISTINCT project_id FROM invoices")["project_id"]) == {one}


def test_cli_sign_in_keeps_a_refreshable_token(tmp_path, monkeypatch):
    monkeypatch.setenv("QBRECON_PROCORE_KEY", "kJ7JwYbDUNw0n0fTfCq2m1m3mJ0Ew3oKX1nqvG0QkU4=")
    with FakeProcore(FIXTURE) as fake:
        monkeypatch.setenv("PROCORE_CLIENT_ID", fake.client_id)
        monkeypatch.setenv("PROCORE_CLIENT_SECRET", fake.client_secret)
        one = json.loads((FIXTURE / "projects.json").read_text())[0]["id"]
        args = [
            "pull",
            "procore",
            "-w",
            str(tmp_path / "w.duckdb"),
            "--company-id",
            str(fake.company_id),
            "--base-url",
            fake.url,
            "--project",
            str(one),
            "--out",
            str(tmp_path / "pull"),
            "--sign-in",
        ]
        res = CliRunner().invoke(main, args, input=fake.new_code() + "\n")
        assert res.exit_code == 0, res.output
        assert "/oauth/authorize?" in res.output  # the address to open (on stderr)
        with Workspace(tmp_path / "w.duckdb") as ws:
            from qbrecon.procore.tokens import load_connection

            with ws.store.transaction() as con:
                kept = load_connection(con, ws.path, fake.company_id)
        assert kept["token"]["refresh_token"] and kept["base_url"] == fake.url
        assert kept["token"]["access_token"] not in res.output


def test_pull_reads_documented_paths_and_tool_levels_from_permission_templates(tmp_path):
    """Users' levels come from Procore's company users and permission templates (no invented endpoint)."""
    with FakeProcore(FIXTURE) as fake:
        pull(client_for(fake), tmp_path / "pull")
        asked = {p for m, p, s in fake.log if m == "GET"}
    assert "/rest/v1.0/companies/9/users" in asked
    assert "/rest/v1.0/companies/9/permission_templates" in asked
    assert not any("user_tool_permissions" in p for p in asked)
    kinds = set()
    for page in (tmp_path / "pull" / "permission_templates").rglob("page_*.json"):
        params = json.loads(page.read_text())["request"]["params"]
        assert params["view"] == "with_permissions"
        kinds.add(params["filters[type]"])
    assert kinds == {"company_tools", "project_tools"}
    users = json.loads(next((tmp_path / "pull" / "users").rglob("page_0001.json")).read_text())["data"]
    assert all("erp_integrations_permission" not in u and "erp_integrated_accountant" in u for u in users)


def test_tool_levels_from_procore_shaped_users_and_templates(tmp_path):
    root = tmp_path / "export"
    (root / "users").mkdir(parents=True)
    (root / "permission_templates").mkdir()
    users = [
        {
            "id": 381006,
            "name": "Leah Russell",
            "email_address": "leah@example.com",
            "is_active": True,
            "erp_integrated_accountant": True,
            "company_permission_template_id": 28,
            "default_permission_template_id": 27,
        },
        {"id": 381007, "name": "No Template", "login": "nt@example.com", "erp_integrated_accountant": False},
    ]
    templates = [
        {
            "id": 28,
            "name": "Accounting",
            "type": "company_tools",
            "user_access_levels": {"directory": 3, "erp_integrations": "Standard", "images": 3},
        },
        {
            "id": 27,
            "name": "General Contractor",
            "type": "global",
            "user_access_levels": {"budget": 1, "prime_contracts": "admin", "directory": 1},
        },
    ]
    url = "https://api.procore.com/rest/v1.0/companies/9/"
    (root / "users" / "page_0001.json").write_text(
        json.dumps({"request": {"url": url + "users"}, "data": users})
    )
    (root / "permission_templates" / "page_0001.json").write_text(
        json.dumps({"request": {"url": url + "permission_templates"}, "data": templates})
    )
    with Workspace(tmp_path / "w.duckdb") as ws:
        report = ws.load_procore(root)
        assert report.ok and ws.quarantine().empty
        u = ws.store.frame("SELECT * FROM users ORDER BY id")
        assert list(u["login"]) == ["leah@example.com", "nt@example.com"]
        erp = u["erp_integrations_permission"]
        assert erp.iloc[0] == "standard" and erp.isna().iloc[1]
        assert list(u["can_push_to_accounting"]) == [True, False]
        levels = ws.store.frame("SELECT user_id, tool, level FROM user_tool_permissions ORDER BY ALL")
        # the higher level where both templates name a tool; tools qbrecon does not use are left out
        assert levels.values.tolist() == [
            [381006, "budget", "read_only"],
            [381006, "directory", "admin"],
            [381006, "prime_contract", "admin"],
        ]
    # a template the users name but the pull lacks is reported, never guessed
    (root / "permission_templates" / "page_0001.json").write_text(
        json.dumps({"data": templates[:1], "request": {"url": url}})
    )
    with Workspace(tmp_path / "w2.duckdb") as ws:
        report = ws.load_procore(root)
        assert any("permission template(s) 27" in n for n in report.notes)


def test_rate_limit_reset_header_and_5xx_backoff_through_the_local_server(tmp_path):
    faults = Faults(
        rate_limit=("/rest/v1.0/vendors",),
        retry_after=None,  # the 429 names only X-Rate-Limit-Reset
        reset_in=4,
        server_error=("/rest/v1.0/projects",),
    )
    with FakeProcore(FIXTURE, faults=faults) as fake:
        client = client_for(fake, backoff=0.25)
        vendors = [r for p in client.pages("/rest/v1.0/vendors", {"company_id": 9}) for r in p.records]
        projects = [r for p in client.pages("/rest/v1.0/projects", {"company_id": 9}) for r in p.records]
        assert fake.statuses(429) == ["/rest/v1.0/vendors"] and fake.statuses(500) == ["/rest/v1.0/projects"]
    assert len(vendors) == 18 and len(projects) == 3  # both answered in the end
    rate_wait, backoff_wait = client.waits
    assert 2.5 <= rate_wait <= 4  # until X-Rate-Limit-Reset (whole seconds)
    assert backoff_wait == 0.25  # the first retry after a 5xx waits the base backoff, then doubles
    assert any("rate limited (429)" in e for e in client.events)
    assert any("HTTP 500; retrying" in e for e in client.events)


def test_cli_pull_shows_a_progress_bar_of_pages(tmp_path, monkeypatch):
    monkeypatch.setenv("QBRECON_PROCORE_KEY", "kJ7JwYbDUNw0n0fTfCq2m1m3mJ0Ew3oKX1nqvG0QkU4=")
    with FakeProcore(FIXTURE) as fake:
        monkeypatch.setenv("PROCORE_CLIENT_ID", fake.client_id)
        monkeypatch.setenv("PROCORE_CLIENT_SECRET", fake.client_secret)
        one = str(json.loads((FIXTURE / "projects.json").read_text())[0]["id"])
        base = ["pull", "procore", "--company-id", "9", "--base-url", fake.url, "--project", one]
        shown = CliRunner().invoke(
            main, [*base, "-w", str(tmp_path / "a.duckdb"), "--out", str(tmp_path / "a"), "--progress"]
        )
        quiet = CliRunner().invoke(
            main, [*base, "-w", str(tmp_path / "b.duckdb"), "--out", str(tmp_path / "b"), "--no-progress"]
        )
    assert shown.exit_code == 0 and quiet.exit_code == 0, shown.output + quiet.output
    assert "Procore: " in shown.stderr and " page" in shown.stderr  # tqdm: "Procore: 12 page [..., vendors]"
    assert "Procore: " not in quiet.stderr


def test_tokens_and_secrets_are_never_printed_logged_or_kept_in_clear(tmp_path, monkeypatch, caplog):
    """Sign in, pull, push and a refused refresh: no token, refresh token, code or secret in any output,
    message, log record, repr, page file or the workspace file."""
    import logging

    monkeypatch.delenv("QBRECON_PROCORE_KEY", raising=False)
    caplog.set_level(logging.DEBUG)
    secrets_seen: list[str] = []
    with FakeProcore(FIXTURE, faults=Faults(expire_token_after=5)) as fake:
        issue = fake.issue_token

        def recorded(with_refresh: bool) -> dict:
            token = issue(with_refresh)
            secrets_seen.extend(v for k, v in token.items() if k in ("access_token", "refresh_token"))
            return token

        monkeypatch.setattr(fake, "issue_token", recorded)
        monkeypatch.setenv("PROCORE_CLIENT_ID", fake.client_id)
        monkeypatch.setenv("PROCORE_CLIENT_SECRET", fake.client_secret)
        one = str(json.loads((FIXTURE / "projects.json").read_text())[0]["id"])
        ws = str(tmp_path / "w.duckdb")
        code = fake.new_code()
        common = ["--company-id", "9", "-w", ws]
        outputs = [
            CliRunner().invoke(
                main,
                [
                    "pull",
                    "procore",
                    *common,
                    "--base-url",
                    fake.url,
                    "--project",
                    one,
                    "--out",
                    str(tmp_path / "p"),
                ]
                + ["--sign-in", "--progress"],
                input=code + "\n",
            ),
            CliRunner().invoke(main, ["push", "procore", *common]),
        ]
        assert [r.exit_code for r in outputs] == [0, 0], [r.output for r in outputs]
        assert any("refreshed" in r.output for r in outputs)  # the expired token was refreshed on the way
        fake._refresh.clear()  # Procore revokes the refresh token: the next refusal cannot be repaired
        for t in list(fake._tokens):
            fake._tokens[t] = False
        refused = CliRunner().invoke(main, ["pull", "procore", *common, "--out", str(tmp_path / "q")])
        assert refused.exit_code != 0 and "Procore refused the sign-in" in refused.output
        with Workspace(tmp_path / "w.duckdb") as w:
            client = open_client(w, 9)
            shown = [repr(client), str(client.__dict__), repr(w)]
    assert len(secrets_seen) >= 3
    texts = [r.output + r.stderr for r in [*outputs, refused]] + [caplog.text, *shown]
    texts += [p.read_text() for p in (tmp_path / "p").rglob("*.json")]
    for secret in [*secrets_seen, code, fake.client_secret]:
        for text in texts:
            assert secret not in text
        assert secret.encode() not in (tmp_path / "w.duckdb").read_bytes()


class _Keyring:
    """A stand-in for the optional ``keyring`` package (its functions and one backend)."""

    def __init__(self, priority: float = 5, fail: bool = False) -> None:
        self.items: dict[tuple[str, str], str] = {}
        self.backend = type("Backend", (), {"priority": priority})()
        self.fail = fail

    def get_keyring(self):
        return self.backend

    def get_password(self, service: str, name: str) -> str | None:
        if self.fail:
            raise RuntimeError("the keyring is locked")
        return self.items.get((service, name))

    def set_password(self, service: str, name: str, value: str) -> None:
        self.items[(service, name)] = value


@pytest.mark.parametrize("kind", ["keyring", "no backend", "failing", "not installed"])
def test_token_key_in_the_os_keyring_when_there_is_one_else_a_key_file(tmp_path, monkeypatch, kind):
    import sys

    from qbrecon.procore.tokens import KEYRING_SERVICE, load_connection, save_connection

    monkeypatch.delenv("QBRECON_PROCORE_KEY", raising=False)
    ring = {"keyring": _Keyring(), "no backend": _Keyring(priority=0), "failing": _Keyring(fail=True)}.get(
        kind
    )
    monkeypatch.setitem(sys.modules, "keyring", ring)  # None: "import keyring" fails as when not installed
    token = {"access_token": "a-secret-access-token", "refresh_token": "a-secret-refresh-token"}
    path = tmp_path / "w.duckdb"
    with Workspace(path) as ws, ws.store.transaction() as con:
        save_connection(con, ws.path, 9, base_url="u", login_url="u", client_id="c", token=token)
        assert load_connection(con, ws.path, 9)["token"] == token
    key_file = tmp_path / "w.duckdb.procore-key"
    if kind == "keyring":
        assert not key_file.exists()
        assert list(ring.items) == [(KEYRING_SERVICE, str(path.resolve()))]
    else:
        assert key_file.exists() and key_file.stat().st_mode & 0o077 == 0
    assert b"a-secret" not in path.read_bytes()
    # the key stays where it was made: a key file keeps working once a keyring appears
    monkeypatch.setitem(sys.modules, "keyring", ring if kind == "keyring" else _Keyring())
    with Workspace(path) as ws, ws.store.transaction() as con:
        assert load_connection(con, ws.path, 9)["token"] == token


def test_pull_brings_legacy_budget_modifications_in_as_budget_changes(tmp_path):
    import shutil

    export = tmp_path / "export"
    shutil.copytree(FIXTURE, export)
    # Procore's documented budget modification, moved onto two budget lines of the fixture's first project
    modification = {
        "id": 75414,
        "created_at": "2016-10-23T21:39:40Z",
        "from_budget_line_item_id": 7868001,
        "notes": "Transfer money for extra concrete.",
        "origin_data": "OD-3483830-2",
        "origin_id": 4903400,
        "to_budget_line_item_id": 7868002,
        "transfer_amount": "4500.0",
        "updated_at": "2016-11-23T21:39:40Z",
        "project_id": 598134325001,
    }
    (export / "budget_modifications.json").write_text(json.dumps([modification]))
    with FakeProcore(export) as fake:
        result = pull(client_for(fake), tmp_path / "pull")
    assert result.records["budget_modifications"] == 1
    with Workspace(tmp_path / "w.duckdb") as ws:
        report = ws.load_procore(tmp_path / "pull")
        assert report.ok and ws.quarantine().empty
        rows = ws.store.frame(
            "SELECT id, project_id, cost_code_full_code, amount FROM budget_changes WHERE budget_change_id = 75414 "
            "ORDER BY id"
        )
        assert rows.values.tolist() == [
            [-75414, 598134325001, "01-100", Decimal("-4500.00")],
            [75414, 598134325001, "01-500", Decimal("4500.00")],
        ]


def test_a_company_without_budget_modifications_is_pulled_all_the_same(tmp_path):
    with FakeProcore(FIXTURE) as fake:
        listed = fake.collection

        def without_the_tool(e, project_id, parent_id):
            return None if e.name == "budget_modifications" else listed(e, project_id, parent_id)

        fake.collection = without_the_tool  # Procore answers 404 for the legacy tool
        result = pull(client_for(fake), tmp_path / "pull")
        assert len(fake.statuses(404)) == 3  # once per project
    assert sum("budget_modifications: not available in project" in e for e in result.events) == 3
    assert result.records["requisitions"] > 0
    with FakeProcore(FIXTURE) as fake:  # a required resource refused still stops the pull
        listed = fake.collection
        fake.collection = lambda e, p, i: None if e.name == "budget_changes" else listed(e, p, i)
        with pytest.raises(ProcoreApiError, match="HTTP 404"):
            pull(client_for(fake), tmp_path / "pull2")
