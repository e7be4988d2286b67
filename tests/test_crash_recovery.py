"""A crash at each step of an export, then a rerun from the workspace file in a new ``Workspace``: exactly one
QuickBooks record per item, every item settled. Steps: after building; after mark_batch_sent but before
delivery; after delivery but before the response was applied (response lost); an exception inside delivery."""

from __future__ import annotations

import pytest
from test_export_ledger import assert_exactly_once, world  # noqa: F401  (fixture)

from qbrecon import Workspace


def reopen(ws, path):
    ws.close()
    return Workspace(path)


def test_crash_after_building(world):  # noqa: F811
    ws, company, path, before = world
    batch = ws.next_export_batch(max_requests=5)
    assert batch is not None
    ws = reopen(ws, path)  # the process died: the message never left
    ws.export(company.process, max_requests=5)
    ledger = ws.export_ledger()
    assert (ledger.loc[ledger["message_id"] == batch.message_id, "state"] == "discarded").all()
    assert_exactly_once(ws, company, before)
    with pytest.raises(Exception, match="discarded"):
        ws.mark_batch_sent(batch.message_id)  # a discarded message can never be sent later
    ws.close()


def test_crash_after_mark_sent_before_delivery(world):  # noqa: F811
    ws, company, path, before = world
    batch = ws.next_export_batch(max_requests=5)
    ws.mark_batch_sent(batch.message_id)
    ws = reopen(ws, path)
    summary = ws.export(company.process, max_requests=5)
    assert summary.check_messages >= 1  # QuickBooks was asked first
    ledger = ws.export_ledger()
    first = ledger[ledger["message_id"] == batch.message_id]
    assert set(first["state"]) == {"resolved"} and set(first["outcome"]) == {"not_added"}
    assert_exactly_once(ws, company, before)
    ws.close()


def test_crash_after_delivery_response_lost(world):  # noqa: F811
    ws, company, path, before = world
    batch = ws.next_export_batch(max_requests=5)
    ws.mark_batch_sent(batch.message_id)
    company.process(batch.xml)  # QuickBooks stored everything; the answer never came back
    ws = reopen(ws, path)
    summary = ws.export(company.process, max_requests=5)
    assert summary.linked_after_check == len(batch)  # every one found and linked, none sent again
    ledger = ws.export_ledger()
    first = ledger[ledger["message_id"] == batch.message_id]
    assert set(first["outcome"]) == {"linked"}
    assert_exactly_once(ws, company, before)
    ws.close()


def test_exception_inside_delivery_then_rerun(world):  # noqa: F811
    ws, company, path, before = world
    calls = {"n": 0}

    def flaky(xml: bytes) -> bytes:
        calls["n"] += 1
        response = company.process(xml)
        if calls["n"] == 2:
            raise ConnectionError("connection reset after QuickBooks processed the message")
        return response

    with pytest.raises(ConnectionError):
        ws.export(flaky, max_requests=3)
    ws = reopen(ws, path)
    ws.export(company.process, max_requests=3)
    assert_exactly_once(ws, company, before)
    ws.close()


def test_late_response_after_being_marked_in_doubt(world):  # noqa: F811
    """A response that arrives after the message was declared in doubt is still authoritative, once."""
    ws, company, path, before = world
    batch = ws.next_export_batch(max_requests=5)
    ws.mark_batch_sent(batch.message_id)
    response = company.process(batch.xml)
    check = ws.next_export_batch(max_requests=5)  # the next run: in doubt, a check goes out first
    assert check.purpose == "check"
    outcomes = ws.apply_export_response(batch.message_id, response)  # ...and then the late answer arrives
    assert (outcomes["decision"] == "synced").all()
    ws.mark_batch_sent(check.message_id)
    ws.apply_export_response(check.message_id, company.process(check.xml))  # the check changes nothing
    ws.export(company.process, max_requests=5)
    assert_exactly_once(ws, company, before)
    ws.close()


def test_built_as_sent_for_the_web_connector_then_crash(world):  # noqa: F811
    """sendRequestXML's batch is recorded as sent in the step that builds it (``sent=True``): the message, its
    requests, its archive copy (with the session's ticket) and, for a check message, its checks. A crash before the
    answer then leaves it in doubt, as after ``mark_batch_sent``: QuickBooks is asked before anything is sent again,
    and each item is stored once."""
    ws, company, path, before = world
    batch = ws.export_service.next_export_batch(5, sent=True, ticket="ticket-1")
    state = ws.store.execute(
        "SELECT state, sent_at IS NOT NULL FROM export_messages WHERE message_id = ?", [batch.message_id]
    ).fetchall()
    assert state == [("sent", True)]
    rows = ws.store.execute(
        "SELECT DISTINCT state, sent_at IS NOT NULL FROM export_ledger WHERE message_id = ?",
        [batch.message_id],
    ).fetchall()
    assert rows == [("sent", True)]
    archived = ws.store.execute(
        "SELECT status, ticket FROM qbxml_messages WHERE message_id = ?", [batch.message_id]
    ).fetchall()
    assert archived == [("sent", "ticket-1")]
    ws.mark_batch_sent(batch.message_id, ticket="ticket-1")  # already sent: nothing more to record
    company.process(batch.xml)  # QuickBooks stored everything; the answer never came back
    ws = reopen(ws, path)
    check = ws.export_service.next_export_batch(5, sent=True, ticket="ticket-2")
    assert check.purpose == "check"
    checks = ws.store.execute(
        "SELECT DISTINCT check_state FROM export_ledger WHERE check_message_id = ?", [check.message_id]
    ).fetchall()
    assert checks == [("sent",)]
    ws.apply_export_response(check.message_id, company.process(check.xml))
    ws.export(company.process, max_requests=5)
    ledger = ws.export_ledger()
    assert set(ledger.loc[ledger["message_id"] == batch.message_id, "outcome"]) == {"linked"}
    assert_exactly_once(ws, company, before)
    ws.close()


def test_a_check_message_built_but_not_sent_is_recorded_as_built(world):  # noqa: F811
    """Built without ``sent`` (the in-process path sends, then marks it sent), a check message and its checks
    stay 'built' until they are marked sent: a crash before delivery leaves nothing recorded as asked."""
    ws, company, path, before = world
    batch = ws.export_service.next_export_batch(5)
    ws.mark_batch_sent(batch.message_id)
    company.process(batch.xml)  # QuickBooks stored everything; the answer never came back
    ws = reopen(ws, path)
    check = ws.export_service.next_export_batch(5)
    assert check.purpose == "check"
    state = ws.store.execute(
        "SELECT state, sent_at IS NULL FROM export_messages WHERE message_id = ?", [check.message_id]
    ).fetchall()
    assert state == [("built", True)]
    ws.mark_batch_sent(check.message_id)
    assert ws.store.execute(
        "SELECT state FROM export_messages WHERE message_id = ?", [check.message_id]
    ).fetchall() == [("sent",)]
