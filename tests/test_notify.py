"""Notifications through a real SMTP server (aiosmtpd on 127.0.0.1), via the outbox."""

from __future__ import annotations

import datetime as dt
import socket
from email import message_from_bytes

import pytest
from test_erp_queue import build_world


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collect:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture()
def smtp_port():
    return free_port()


@pytest.fixture()
def smtp_server(smtp_port):
    from aiosmtpd.controller import Controller

    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield handler
    controller.stop()


@pytest.fixture()
def world(ws, smtp_port):
    build_world(ws)
    ws.update_settings(
        by="adam", smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_from="erp@example.com", smtp_timeout=3
    )
    return ws


def test_rejection_mail_goes_to_creator_and_sender(world, smtp_server):
    world.send([201], item_type="company", by="pat")
    world.reject([201], item_type="company", by="ann", reason="Duplicate of an existing vendor")
    queued = world.outbox("queued")
    assert len(queued) == 1 and queued.iloc[0]["kind"] == "rejection"
    assert world.deliver_mail()["sent"] == 1
    ((rcpts, msg),) = smtp_server.messages
    assert set(rcpts) == {"carl@example.com", "pat@example.com"}  # creator and sender
    assert "Best Electric" in msg["Subject"] and msg["From"] == "erp@example.com"
    body = msg.get_payload(decode=True).decode()
    assert "Your company " in body
    assert "Duplicate of an existing vendor" in body and "Ann Approver" in body
    assert world.outbox("sent").iloc[0]["attempts"] == 1
    assert world.deliver_mail()["sent"] == 0  # nothing sent twice


def test_refused_rejection_queues_no_mail(world):
    world.send([201], item_type="company", by="pat")
    from qbrecon.errors import BatchRejected

    with pytest.raises(BatchRejected, match="reason is required"):
        world.reject([201], item_type="company", by="ann", reason="")
    assert world.outbox().empty  # the outbox row rolls back with the refused decision


def test_daily_summary_once_per_approver_per_day(world, smtp_server):
    assert world.queue_daily_summaries() == 2  # invoice 702 is Ready to Export from the Procore data
    world.send([("company", 201), ("cost_code", 301)], by="pat")
    day = dt.date(2026, 3, 2)
    n = world.queue_daily_summaries(day)
    assert n == 2  # ann and adam are approvers with e-mail; gone is inactive, sam cannot push
    assert world.queue_daily_summaries(day) == 0  # idempotent for the day
    assert world.deliver_mail()["sent"] == 4
    summaries = [(r, m) for r, m in smtp_server.messages if m["Subject"] == "ERP Integrations Daily Summary"]
    assert sorted(r[0] for r, _ in summaries[2:]) == ["adam@example.com", "ann@example.com"]
    body = summaries[-1][1].get_payload(decode=True).decode()
    assert "Best Electric" in body and "16-100" in body and "INV-9" in body and "3 item(s)" in body


def test_nothing_waiting_no_summary(ws, smtp_port):
    build_world(ws)
    ws.store.execute("UPDATE erp_items SET status = 'not_sent' WHERE status = 'ready_to_export'")
    assert ws.queue_daily_summaries() == 0


def test_server_down_keeps_mail_queued_then_delivers(world, smtp_port):
    world.send([201], item_type="company", by="pat")
    world.reject([201], item_type="company", by="ann", reason="Wrong address")
    result = world.deliver_mail()
    assert result["sent"] == 0 and result["queued"] == 1
    row = world.outbox().iloc[0]
    assert row["status"] == "queued" and row["attempts"] == 1 and "cannot connect" in row["last_error"]
    world.deliver_mail()
    assert world.outbox().iloc[0]["attempts"] == 2
    from aiosmtpd.controller import Controller

    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        assert world.deliver_mail()["sent"] == 1
    finally:
        controller.stop()
    assert len(handler.messages) == 1
    row = world.outbox().iloc[0]
    assert (
        row["status"] == "sent"
        and row["attempts"] == 3
        and row["last_error"] is None
        or pd_na(row["last_error"])
    )


def pd_na(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_deliver_without_smtp_host_names_the_setting(ws):
    from qbrecon.errors import SettingMissing

    build_world(ws)
    ws.send([201], item_type="company", by="pat")
    ws.reject([201], item_type="company", by="ann", reason="x")
    with pytest.raises(SettingMissing, match="smtp_host"):
        ws.deliver_mail()
    assert ws.outbox("queued").shape[0] == 1


INJECTED = "Best\r\nBcc: victim@example.com"  # fits the 41-character vendor name


def test_line_breaks_in_a_procore_name_are_encoded_at_queueing(world, smtp_server):
    world.store.execute("UPDATE companies SET name = ? WHERE id = 201", [INJECTED])
    world.send([201], item_type="company", by="pat")
    world.reject([201], item_type="company", by="ann", reason="Duplicate")
    subject = world.outbox("queued").iloc[0]["subject"]
    assert "\r" not in subject and "\n" not in subject and "Bcc: victim@example.com" in subject
    assert world.deliver_mail()["sent"] == 1
    ((rcpts, msg),) = smtp_server.messages
    assert "victim@example.com" not in rcpts and msg["Bcc"] is None
    assert set(rcpts) == {"carl@example.com", "pat@example.com"}


def _queue_raw(ws, subject: str) -> int:
    (mail_id,) = ws.store.execute(
        "INSERT INTO outbox (mail_id, created_at, kind, recipients, subject, body, status) "
        "VALUES (nextval('outbox_seq'), now(), 'rejection', 'carl@example.com', ?, 'body', 'queued') "
        "RETURNING mail_id",
        [subject],
    ).fetchall()[0]
    return int(mail_id)


def test_one_unsendable_message_does_not_block_the_others(world, smtp_server, tmp_path):
    """A row with a line break in a header (queued before the fix) used to stop every delivery with a crash."""
    bad = _queue_raw(world, "Rejected: " + INJECTED)
    good = _queue_raw(world, "Rejected: Fine Name")
    result = world.deliver_mail()
    assert result["sent"] == 1 and result["gave_up"] == 1 and result["queued"] == 0
    assert f"mail {bad}" in result["given_up"][0]
    statuses = dict(world.outbox()[["mail_id", "status"]].values.tolist())
    assert statuses[bad] == "failed" and statuses[good] == "sent"
    assert [m["Subject"] for _, m in smtp_server.messages] == ["Rejected: Fine Name"]


def test_mail_command_continues_past_a_bad_row_and_exits_1(world, smtp_server):
    import os
    import subprocess
    import sys

    bad = _queue_raw(world, "Rejected: " + INJECTED)
    _queue_raw(world, "Rejected: Fine Name")
    path = world.store.path
    world.close()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    run = subprocess.run(
        [sys.executable, "-c", "from qbrecon.cli import main; main()", "mail", "-w", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 1, (run.returncode, run.stdout, run.stderr)
    assert "sent 1" in run.stdout and f"mail {bad}" in run.stderr
    assert len(smtp_server.messages) == 1
