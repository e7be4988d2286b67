"""The export ledger end to end: fixture data -> send/accept -> ``ws.export(deliver=company.process)`` -> every
item Synced (or Failed with a reason) and exactly one QuickBooks record per item; responses applied twice or out
of order change nothing; per-status-code policy (3180 retried, 3100 checked, 3140 explained, builder refusals)."""

from __future__ import annotations

import pandas as pd
import pytest
from sync_world import admin_id, put_admin

from qbrecon import Workspace
from qbrecon.entities import PAIRS
from qbrecon.errors import BatchRejected
from qbrecon.qbwc.simulator import QuickBooksCompany

fixtures = pytest.importorskip("qbrecon.fixtures")

# item type -> simulator kind of the record its export adds
KIND = {
    "company": "vendor",
    "project": "customer",
    "cost_code": "item",
    "commitment": "purchase_order",
    "invoice": "bill",
    "budget": "estimate",
    "timecard_entry": "time_tracking",
}


def put(ws, table: str, rows: list[dict]) -> None:
    ws.store.put_rows(table, rows)


def accept_everything(ws) -> int:
    """Send and accept every item that can go, level by level (parents first); returns how many are Exporting."""
    admin = admin_id(ws)
    customers = ws.frame("customers")
    top = customers[customers["Sublevel"].fillna(0) == 0]["FullName"].iloc[0]

    def tolerant(fn, frame, **kw):  # the fixtures carry deliberate problems: leave those rows behind
        frame = frame[["item_type", "procore_id"]]
        while len(frame):
            try:
                return fn(frame, by=admin, **kw)
            except BatchRejected as exc:
                bad = {(p["item_type"], p["procore_id"]) for p in exc.problems}
                frame = frame[
                    [(t, p) not in bad for t, p in zip(frame.item_type, frame.procore_id, strict=True)]
                ]

    for order in sorted({p.export_order for p in PAIRS.values() if p.exportable}):
        level = ws.queue()
        level = level[level["item_type"].map(lambda t, o=order: PAIRS[t].export_order == o)]
        tolerant(ws.send, level[(level["status"] == "not_sent") & level["can_send"]])
        ready = ws.queue("ready_to_export")
        tolerant(
            ws.accept,
            ready[ready["item_type"].map(lambda t, o=order: PAIRS[t].export_order == o)],
            customer=top,
        )
    return len(ws.queue("exporting"))


@pytest.fixture()
def world(tmp_path):
    """A workspace file loaded with small fixtures, everything accepted, and the fixtures' QuickBooks company."""
    out = tmp_path / "fx"
    fixtures.generate(out, projects=3, seed=1)
    path = tmp_path / "ws.duckdb"
    ws = Workspace(path)
    ws.load_procore(out / "procore")
    ws.load_quickbooks(out / "quickbooks")
    items = ws.frame("items")
    retainage = [n for n in items["FullName"] if "retain" in str(n).lower()][0]
    ws.update_settings(
        by=admin_id(ws), invoice_retainage_item=retainage, service_item_expense_account="Job Expenses"
    )
    ws.refresh_queue()
    exporting = accept_everything(ws)
    assert exporting >= 5
    company = QuickBooksCompany(tmp_path / "qb.duckdb")
    company.seed_from(out / "quickbooks")
    before = company.counts()
    yield ws, company, path, before
    company.close()
    ws.close()


def assert_exactly_once(ws, company, before: dict) -> None:
    """Every accepted item settled; QuickBooks got exactly one record per exported item (and CCO lines once)."""
    items = ws.frame("erp_items")
    exported = ws.store.frame(
        "SELECT DISTINCT item_type, procore_id FROM export_ledger WHERE outcome IN ('synced', 'linked')"
    )
    assert not (items["status"] == "exporting").any(), items[items["status"] == "exporting"]
    ours = ws.store.frame("SELECT DISTINCT item_type, procore_id FROM export_ledger")
    failed = items[items["status"] == "failed_to_export"].merge(ours, on=["item_type", "procore_id"])
    assert failed["last_error_message"].notna().all(), "a failure without a reason"
    after = company.counts()
    for item_type, kind in KIND.items():
        adds = ws.store.execute(
            "SELECT count(DISTINCT procore_id) FROM export_ledger WHERE item_type = ? AND action = 'add' "
            "AND outcome IN ('synced', 'linked')",
            [item_type],
        ).fetchall()[0][0]
        assert after[kind] - before[kind] == adds, (item_type, before[kind], after[kind], adds)
    synced = items[items["status"] == "synced"].merge(exported, on=["item_type", "procore_id"])
    for it, qb_id in zip(synced["item_type"], synced["quickbooks_id"], strict=True):
        assert qb_id, it
        company.ret(qb_id)  # raises KeyError when QuickBooks does not have it
    # each exported CCO's lines are on its purchase order exactly once
    lines = company.lines("purchase_order")
    for pid in synced.loc[synced["item_type"] == "change_order", "procore_id"]:
        number = ws.store.execute("SELECT number FROM change_orders WHERE id = ?", [int(pid)]).fetchall()[0][
            0
        ]
        sent = ws.store.execute(
            "SELECT request_xml FROM export_ledger WHERE item_type = 'change_order' AND procore_id = ? "
            "AND outcome IN ('synced', 'linked')",
            [int(pid)],
        ).fetchall()[0][0]
        new_lines = sent.count("<TxnLineID>-1</TxnLineID>")
        on_po = lines["Desc"].fillna("").str.startswith(f"CCO #{number} ").sum()
        assert on_po == new_lines, (pid, on_po, new_lines)


def test_end_to_end_every_item_synced_once(world):
    ws, company, _, before = world
    summary = ws.export(company.process, max_requests=5)
    assert summary.messages >= 2 and summary.synced > 0 and summary.stopped is None
    assert_exactly_once(ws, company, before)
    ledger = ws.export_ledger()
    assert set(ledger["state"]) <= {"answered", "refused"}
    # synced items carry their QuickBooks id back to Procore (origin_id) and the audit names the messages
    audit = ws.audit()
    done = audit[audit["action"] == "export_succeeded"]
    assert (
        len(done) and done["request_message_id"].notna().all() and done["response_message_id"].notna().all()
    )
    # nothing left: a second run sends nothing
    again = ws.export(company.process)
    assert again.messages == 0 and company.counts() == company.counts()


def test_response_applied_twice_changes_nothing(world):
    ws, company, _, _ = world
    batch = ws.next_export_batch(max_requests=50)
    ws.mark_batch_sent(batch.message_id)
    response = company.process(batch.xml)
    first = ws.apply_export_response(batch.message_id, response)
    assert (first["decision"] == "synced").any()
    snapshot = (ws.frame("erp_items"), len(ws.audit()), ws.export_ledger())
    second = ws.apply_export_response(batch.message_id, response)
    assert second.empty
    pd.testing.assert_frame_equal(ws.frame("erp_items"), snapshot[0])
    assert len(ws.audit()) == snapshot[1]
    pd.testing.assert_frame_equal(ws.export_ledger(), snapshot[2])
    log = ws.store.frame("SELECT * FROM export_log WHERE event = 'ignored'")
    assert len(log) == 1
    assert ws.apply_export_response(987654, response).empty  # unknown message: ignored, logged
    assert len(ws.store.frame("SELECT * FROM export_log WHERE event = 'ignored'")) == 2


def test_file_handoff_out_of_order_and_twice(world, tmp_path):
    ws, company, _, before = world
    out = tmp_path / "out"
    rounds = 0
    while True:
        files = ws.export_to_files(out / str(rounds), max_requests=2)
        if not files:
            break
        assert rounds or len(files) >= 2
        responses = []
        for f in files:
            r = out / f"{f.stem.replace('request', 'response')}.xml"
            r.write_bytes(company.process(f.read_bytes()))
            responses.append(r)
        ws.apply_response_files(list(reversed(responses)))  # out of order
        applied = ws.apply_response_files(responses)  # and again: nothing changes
        assert applied.empty or applied["decision"].isna().all()
        rounds += 1
        assert rounds < 20
    assert rounds >= 1
    assert_exactly_once(ws, company, before)


def test_3180_faults_are_retried_bounded(world, tmp_path):
    ws, company, _, before = world
    flaky = QuickBooksCompany(tmp_path / "flaky.duckdb", seed=7, fault_rate_3180=0.3)
    flaky.seed_from(tmp_path / "fx" / "quickbooks")
    summary = ws.export(flaky.process, max_requests=4)
    assert summary.retried > 0
    assert_exactly_once(ws, flaky, before)
    flaky.close()


def test_duplicate_name_links_only_a_matching_record(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    put_admin(ws)
    put(
        ws,
        "companies",
        [
            dict(id=1, name="Acme Concrete", legal_name="Acme Concrete LLC", is_active=True),
            dict(id=2, name="Best Electric", legal_name="Best Electric Inc", is_active=True),
        ],
    )
    ws.refresh_queue()
    ids = [("company", 1), ("company", 2)]
    ws.send(ids, by=1)
    ws.accept(ids, by=1)
    company = QuickBooksCompany()
    # Acme is already in QuickBooks exactly as we would create it; Best Electric's name is used by someone else
    head = b'<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="continueOnError">'
    company.process(
        head + b"<VendorAddRq><VendorAdd><Name>Acme Concrete</Name><IsActive>true</IsActive>"
        b"<CompanyName>Acme Concrete LLC</CompanyName></VendorAdd></VendorAddRq>"
        b"<VendorAddRq><VendorAdd><Name>Best Electric</Name><CompanyName>Other Owner</CompanyName>"
        b"</VendorAdd></VendorAddRq></QBXMLMsgsRq></QBXML>"
    )
    summary = ws.export(company.process)
    assert summary.check_messages == 1
    items = ws.frame("erp_items").set_index("procore_id")
    assert items.loc[1, "status"] == "synced"
    assert items.loc[1, "quickbooks_id"] == company.records("vendor")["id"].iloc[0]
    assert items.loc[2, "status"] == "failed_to_export"
    assert "already in use" in items.loc[2, "last_error_message"]
    assert "its details do not match" in items.loc[2, "last_error_message"]  # checked, not assumed ours
    assert company.counts()["vendor"] == 2
    ws.close()


def test_a_procore_change_while_the_request_is_out_comes_back_as_an_update(tmp_path):
    """The ledger keeps the fingerprint of what it built (now read with the rows to build, and handed to the links
    with the answer's ledger rows): a vendor edited between sendRequestXML and the answer is Synced with the link
    of what was sent, then back in Ready to Export as an update; the untouched one stays Synced. (A guard for
    those two paths; the behaviour itself is not new.)"""
    ws = Workspace(tmp_path / "ws.duckdb")
    put_admin(ws)
    rows = [
        dict(id=1, name="Acme Concrete", address="1 Old Road", is_active=True),
        dict(id=2, name="Best Electric", address="2 Old Road", is_active=True),
    ]
    put(ws, "companies", rows)
    ws.refresh_queue()
    ids = [("company", 1), ("company", 2)]
    ws.send(ids, by=1)
    ws.accept(ids, by=1)
    company = QuickBooksCompany()
    batch = ws.next_export_batch(10, sent=True, ticket="t")
    built = ws.store.execute("SELECT procore_id, fingerprint FROM export_ledger ORDER BY 1").fetchall()
    put(ws, "companies", [{**rows[0], "address": "77 New Road"}])  # edited while the VendorAdd is out
    ws.apply_export_response(batch.message_id, company.process(batch.xml))
    items = ws.queue(item_type="company").set_index("procore_id")
    assert items.loc[1, "status"] == "ready_to_export" and bool(items.loc[1, "is_update"])
    assert "procore_update" in set(ws.audit("company", 1)["action"])
    assert items.loc[2, "status"] == "synced" and "procore_update" not in set(
        ws.audit("company", 2)["action"]
    )
    linked = ws.store.execute("SELECT procore_id, fingerprint FROM qb_links ORDER BY 1").fetchall()
    assert linked == built  # the links keep the fingerprint of what was sent
    ws.close()


def test_builder_refusal_fails_at_once_without_sending(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    put_admin(ws)
    put(ws, "companies", [dict(id=1, name="Acme", is_active=True, email_address="x" * 1100)])
    ws.refresh_queue()
    ws.send([("company", 1)], by=1)
    ws.accept([("company", 1)], by=1)
    company = QuickBooksCompany()
    summary = ws.export(company.process)
    assert summary.messages == 0 and summary.refused == 1
    row = ws.frame("erp_items").iloc[0]
    assert row["status"] == "failed_to_export" and "Email" in row["last_error_message"]
    assert company.counts()["vendor"] == 0
    ws.close()


def test_whole_message_parse_failure_isolates_the_bad_request(tmp_path, monkeypatch):
    ws = Workspace(tmp_path / "ws.duckdb")
    put_admin(ws)
    put(ws, "companies", [dict(id=i, name=f"Vendor {i}", is_active=True) for i in range(1, 5)])
    ws.refresh_queue()
    ids = [("company", i) for i in range(1, 5)]
    ws.send(ids, by=1)
    ws.accept(ids, by=1)
    company = QuickBooksCompany()

    def deliver(xml: bytes) -> bytes:  # QuickBooks cannot parse anything that mentions Vendor 3
        if b"Vendor 3" in xml:
            from qbrecon.qbwc.simulator import RequestProcessorError

            raise RequestProcessorError(
                "0x80040400", "QuickBooks found an error when parsing the provided XML"
            )
        return company.process(xml)

    summary = ws.export(deliver)
    items = ws.frame("erp_items").set_index("procore_id")
    assert list(items.loc[[1, 2, 4], "status"]) == ["synced"] * 3
    assert items.loc[3, "status"] == "failed_to_export" and "0x80040400" in items.loc[3, "last_error_message"]
    assert company.counts()["vendor"] == 3 and summary.stopped is None
    ws.close()


def test_cli_export_and_apply_responses(tmp_path):
    from click.testing import CliRunner

    from qbrecon.cli import main

    path = tmp_path / "ws.duckdb"
    ws = Workspace(path)
    put_admin(ws)
    put(ws, "companies", [dict(id=i, name=f"Vendor {i}", is_active=True) for i in range(1, 4)])
    ws.refresh_queue()
    ids = [("company", i) for i in range(1, 4)]
    ws.send(ids, by=1)
    ws.accept(ids, by=1)
    ws.close()
    runner = CliRunner()
    result = runner.invoke(
        main, ["export", "-w", str(path), "--out", str(tmp_path / "out"), "--max-requests", "2"]
    )
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "out").glob("qbxml-request-*.xml"))
    assert len(files) == 2
    company = QuickBooksCompany()
    answers = []
    for f in files:
        answer = tmp_path / f.name.replace("request", "response")
        answer.write_bytes(company.process(f.read_bytes()))
        answers.append(str(answer))
    result = runner.invoke(main, ["apply-responses", "-w", str(path), *answers])
    assert result.exit_code == 0 and "3 synced" in result.output, result.output
    again = runner.invoke(main, ["apply-responses", "-w", str(path), *answers])
    assert again.exit_code == 0 and "nothing new" in again.output
    with Workspace(path) as ws:
        assert set(ws.frame("erp_items")["status"]) == {"synced"}
    assert company.counts()["vendor"] == 3


def test_missing_setting_refuses_the_batch_before_anything_is_written(ws):
    """Accepted invoices need the retainage item, new service items an account: without them the export refuses
    at once, naming the setting and how many items wait, before settling or building anything -- even inside a
    caller's transaction (``store.transaction()`` nests without savepoints, so a half-way refusal would stay)."""
    from qbrecon.errors import SettingMissing

    put(
        ws,
        "cost_codes",
        [
            dict(id=7, cost_code_level="standard", code="100", full_code="01-100", name="General"),
            dict(
                id=8,
                cost_code_level="standard",
                code="200",
                full_code="01-200",
                name="Linked",
                origin_id="80000008-1",
            ),
        ],
    )
    ws.store.execute(
        """INSERT INTO erp_items (item_type, procore_id, status, attempts, updated_at) VALUES
           ('cost_code', 7, 'exporting', 0, now()), ('cost_code', 8, 'exporting', 0, now()),
           ('invoice', 41, 'exporting', 0, now()), ('invoice', 42, 'exporting', 0, now())"""
    )
    # a message sent earlier and never answered: settling would turn it in doubt
    ws.store.execute("""INSERT INTO export_messages (message_id, purpose, transport, state, request_count, built_at,
                            sent_at) VALUES (99, 'export', 'web_connector', 'sent', 1, now(), now())""")

    def written() -> tuple:
        return (
            ws.store.scalar("SELECT state FROM export_messages WHERE message_id = 99"),
            ws.store.count("export_ledger"),
            ws.store.count("qbxml_messages"),
            ws.store.scalar("SELECT count(*) FROM erp_items WHERE status <> 'exporting'"),
        )

    with ws.store.transaction():
        with pytest.raises(SettingMissing) as refused:
            ws.next_export_batch()
        assert written() == ("sent", 0, 0, 0)
    text = str(refused.value)
    assert "'invoice_retainage_item' (Invoice Retainage Item) is not set: 2 accepted invoice(s)" in text
    assert "'service_item_expense_account'" in text and "1 accepted cost code(s)" in text  # 8 is a Mod
    assert "qbrecon settings set invoice_retainage_item=... service_item_expense_account=..." in text

    ws.store.execute("DELETE FROM erp_items WHERE item_type = 'invoice'")
    ws.store.execute("UPDATE erp_items SET status = 'synced' WHERE procore_id = 7")
    ws.store.execute("DELETE FROM export_messages")
    # only the linked code is left: a Mod needs no account, so the builder gets it (and refuses it for its own
    # reason: the EditSequence of the linked item is unknown)
    assert ws.next_export_batch() is None
    status, error = ws.store.execute(
        "SELECT status, last_error_message FROM erp_items WHERE procore_id = 8"
    ).fetchall()[0]
    assert status == "failed_to_export" and "EditSequence" in error


def test_each_response_is_parsed_once(world, monkeypatch):
    """The apply path reads statuses, echoed Rets and request ids from one tree: the ledger parses a response
    once, and not at all when the Web Connector service hands it the document it parsed to match requestIDs."""
    from lxml import etree

    from qbrecon.qbwc.service import read_response_document

    ws, company, _, _ = world
    parses: list[str] = []
    for name in ("fromstring", "XML", "iterparse", "parse"):
        original = getattr(etree, name)

        def counted(*args, __name=name, __fn=original, **kwargs):
            parses.append(__name)
            return __fn(*args, **kwargs)

        monkeypatch.setattr(etree, name, counted)
    batch = ws.next_export_batch(max_requests=3)
    ws.mark_batch_sent(batch.message_id)
    response = company.process(batch.xml)
    assert b"Ret>" in response  # adds echo their records: these are read from the same tree
    parses.clear()
    outcomes = ws.apply_export_response(batch.message_id, response)
    assert (outcomes["decision"] == "synced").any() and parses == ["fromstring"]

    batch = ws.next_export_batch(max_requests=3)
    ws.mark_batch_sent(batch.message_id)
    doc = read_response_document(company.process(batch.xml))
    assert doc is not None and doc.request_ids()
    parses.clear()
    outcomes = ws.apply_export_response(batch.message_id, doc)
    assert (outcomes["decision"] == "synced").any() and parses == []
