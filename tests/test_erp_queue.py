"""The ERP queue: every item type through every transition, the refusals, export outcomes, imports, reports."""

from __future__ import annotations

import json
from decimal import Decimal

import pandas as pd
import pytest

from qbrecon.entities import EXPORTABLE
from qbrecon.erp import permissions
from qbrecon.errors import BatchRejected, InputError, PermissionDenied, SettingMissing

D = Decimal


def put(ws, table: str, rows: list[dict]) -> None:
    """Upsert plain dict rows into a declared table (typed by its TableSpec)."""
    ws.store.put_rows(table, rows)


def build_world(ws) -> None:
    """A small company: users with each permission, two projects, vendors, cost codes, and one record of each
    exportable type in a state where it can be sent (plus a few that cannot)."""
    put(
        ws,
        "users",
        [
            dict(
                id=1,
                name="Ann Approver",
                login="ann",
                email_address="ann@example.com",
                is_active=True,
                erp_integrations_permission="standard",
                can_push_to_accounting=True,
            ),
            dict(
                id=2,
                name="Adam Admin",
                login="adam",
                email_address="adam@example.com",
                is_active=True,
                erp_integrations_permission="admin",
                can_push_to_accounting=True,
            ),
            dict(
                id=3,
                name="Pat Projectmanager",
                login="pat",
                email_address="pat@example.com",
                is_active=True,
                erp_integrations_permission="none",
                can_push_to_accounting=False,
            ),
            dict(
                id=4,
                name="Sam Standard",
                login="sam",
                email_address="sam@example.com",
                is_active=True,
                erp_integrations_permission="standard",
                can_push_to_accounting=False,
            ),
            dict(
                id=5,
                name="Carl Creator",
                login="carl",
                email_address="carl@example.com",
                is_active=True,
                erp_integrations_permission="read_only",
                can_push_to_accounting=False,
            ),
            dict(
                id=6,
                name="Gone User",
                login="gone",
                email_address="gone@example.com",
                is_active=False,
                erp_integrations_permission="admin",
                can_push_to_accounting=True,
            ),
        ],
    )
    # sending needs 'Admin' on the item's own Procore tool: pat has it everywhere, carl on the Directory
    ws.set_tool_permissions(
        "pat", dict.fromkeys(sorted(set(permissions.ITEM_TOOL.values())), "admin"), by="adam"
    )
    ws.set_tool_permissions("carl", {"directory": "admin"}, by="adam")
    put(
        ws,
        "projects",
        [
            dict(
                id=100,
                name="Main Street Office",
                address="12 Main Street",
                budget_locked=True,
                created_by_id=5,
                origin_id="80000100-1600000000",
                origin_data='{"edit_sequence": "1"}',
            ),
            dict(id=101, name="Harbor Clinic", address="5 Harbor Road", budget_locked=False, created_by_id=5),
            dict(
                id=102,
                name="A project name that is far too long for QuickBooks",
                address="1 Road, Town",
                created_by_id=5,
            ),
        ],
    )
    put(
        ws,
        "companies",
        [
            dict(id=200, name="Acme Concrete", created_by_id=5, origin_id="80000200-1", is_active=True),
            dict(id=201, name="Best Electric", created_by_id=5, is_active=True),
        ],
    )
    put(
        ws,
        "cost_codes",
        [
            dict(
                id=300,
                cost_code_level="standard",
                code="03-300",
                full_code="03-300",
                name="Concrete",
                origin_id="80000300-1",
            ),
            dict(id=301, cost_code_level="standard", code="16-100", full_code="16-100", name="Electrical"),
            dict(
                id=310,
                cost_code_level="project",
                project_id=100,
                code="03-300",
                full_code="03-300",
                standard_cost_code_id=300,
            ),
            dict(
                id=311,
                cost_code_level="project",
                project_id=100,
                code="16-100",
                full_code="16-100",
                standard_cost_code_id=301,
            ),
        ],
    )
    put(
        ws,
        "budget_line_items",
        [
            dict(id=400, project_id=100, cost_code_id=310, original_budget_amount=D("50000.00")),
            dict(id=401, project_id=101, cost_code_id=310, original_budget_amount=D("1000.00")),
        ],
    )
    put(
        ws,
        "commitments",
        [
            dict(
                id=500,
                project_id=100,
                type="WorkOrderContract",
                number="SC-001",
                title="Foundations",
                status="approved",
                vendor_id=200,
                grand_total=D("25000.00"),
                created_by_id=5,
            ),
            dict(
                id=501,
                project_id=100,
                type="PurchaseOrderContract",
                number="PO-002",
                title="Wiring",
                status="approved",
                vendor_id=201,
                grand_total=D("9000.00"),
                created_by_id=5,
            ),
            dict(
                id=502,
                project_id=100,
                type="WorkOrderContract",
                number="SC-003",
                title="Draft",
                status="draft",
                vendor_id=200,
                grand_total=D("100.00"),
                created_by_id=5,
            ),
            dict(
                id=503,
                project_id=100,
                type="WorkOrderContract",
                number="SC-004",
                title="Synced one",
                status="approved",
                vendor_id=200,
                grand_total=D("700.00"),
                created_by_id=5,
                origin_id="TXN-503",
            ),
        ],
    )
    put(
        ws,
        "commitment_lines",
        [
            dict(id=550, commitment_id=500, cost_code_id=310, amount=D("25000.00")),
            dict(id=551, commitment_id=501, cost_code_id=311, amount=D("9000.00")),
            dict(id=552, commitment_id=502, cost_code_id=310, amount=D("100.00")),
            dict(id=553, commitment_id=503, cost_code_id=310, amount=D("700.00")),
        ],
    )
    put(
        ws,
        "change_orders",
        [
            dict(
                id=600,
                project_id=100,
                contract_id=503,
                number="CCO-1",
                title="Extra rebar",
                status="approved",
                grand_total=D("1200.00"),
                created_by_id=5,
            ),
            dict(
                id=601,
                project_id=100,
                contract_id=501,
                number="CCO-2",
                title="More wire",
                status="approved",
                grand_total=D("50.00"),
                created_by_id=5,
            ),
        ],
    )
    put(
        ws,
        "invoices",
        [
            dict(
                id=700,
                project_id=100,
                commitment_id=503,
                invoice_number="INV-7",
                number=1,
                status="approved",
                current_payment_due=D("630.00"),
                total_retainage=D("70.00"),
                created_by_id=5,
                vendor_id=200,
            ),
            dict(
                id=701,
                project_id=100,
                commitment_id=500,
                invoice_number="INV-8",
                number=1,
                status="approved",
                current_payment_due=D("900.00"),
                created_by_id=5,
                vendor_id=200,
            ),
            dict(
                id=702,
                project_id=100,
                commitment_id=503,
                invoice_number="INV-9",
                number=2,
                status="under_review",
                current_payment_due=D("10.00"),
                created_by_id=5,
                vendor_id=200,
                erp_status="Ready to Export",
            ),
        ],
    )
    put(
        ws,
        "timecard_entries",
        [
            dict(
                id=800,
                project_id=100,
                date=pd.Timestamp("2026-01-05").date(),
                hours=D("8"),
                approval_status="approved",
                party_name="Joe Worker",
                created_by_id=5,
            ),
        ],
    )
    put(
        ws,
        "customers",
        [
            dict(ListID="C-1", Name="Big Owner LLC", FullName="Big Owner LLC", Sublevel=0, IsActive=True),
            dict(
                ListID="C-2",
                Name="Main Street Office",
                FullName="Big Owner LLC:Main Street Office",
                Sublevel=1,
                ParentRef_ListID="C-1",
                IsActive=True,
            ),
        ],
    )
    put(
        ws,
        "items",
        [
            dict(ListID="I-RET", Name="Retainage", FullName="Retainage", ItemType="ItemService"),
            dict(ListID="80000300-1", Name="03-300", FullName="03-300", ItemType="ItemService"),
            dict(ListID="I-PART", Name="Widget", FullName="Widget", ItemType="ItemInventory"),
        ],
    )
    ws.refresh_queue()


@pytest.fixture()
def world(ws):
    build_world(ws)
    return ws


def status(ws, item_type: str, procore_id: int) -> str:
    q = ws.queue(item_type=item_type)
    return q.loc[q.procore_id == procore_id, "status"].iloc[0]


def test_refresh_initial_states_and_idempotent(world):
    q = world.queue()
    st = {(r.item_type, r.procore_id): r.status for r in q.itertuples()}
    assert st[("project", 100)] == "synced"
    assert st[("project", 101)] == "not_sent"
    assert st[("company", 200)] == "synced"
    assert st[("cost_code", 300)] == "synced"
    assert ("cost_code", 310) not in st  # project cost codes are not queue items
    assert st[("commitment", 503)] == "synced"
    assert st[("invoice", 702)] == "ready_to_export"  # from Procore's erp_status
    assert st[("budget", 100)] == "not_sent"
    assert st[("timecard_entry", 800)] == "not_sent"
    # a second refresh adds nothing and keeps decisions
    world.send([201], item_type="company", by="pat")
    assert world.refresh_queue() == 0
    assert status(world, "company", 201) == "ready_to_export"
    assert world.audit("company", 201)["action"].tolist() == ["refresh", "send"]


def test_queue_view_columns_and_blockers(world):
    q = world.queue(status="Not Sent")
    row = q[(q.item_type == "commitment") & (q.procore_id == 501)].iloc[0]
    assert row["vendor"] == "Best Electric" and row["project"] == "Main Street Office"
    assert row["amount"] == D("9000.00")
    assert "vendor Best Electric is not synced" in row["blockers"]
    assert "16-100" in row["blockers"]  # cost code not synced
    assert not row["can_send"]
    long_project = q[(q.item_type == "project") & (q.procore_id == 102)].iloc[0]
    assert "41 characters" in long_project["blockers"] and "comma" in long_project["blockers"]
    assert str(q["amount"].dtype) == "decimal128(18, 2)[pyarrow]"


def test_one_item_type_reads_the_same_rows_as_the_queue_view(world):
    """``queue_sql(t)`` (what the dashboard pages and a one-type batch read) is ``erp_queue`` of item type t: same
    columns, types and values, for every pair."""
    from qbrecon.erp.queue import queue_sql

    for item_type in EXPORTABLE:
        whole = world.store.frame(
            f"SELECT * FROM erp_queue WHERE item_type = '{item_type}' ORDER BY procore_id"
        )
        one = world.store.frame(f"SELECT * FROM ({queue_sql(item_type)}) q ORDER BY procore_id")
        pd.testing.assert_frame_equal(one, whole, check_exact=True)
    assert len(world.store.frame(f"SELECT * FROM ({queue_sql('commitment')}) q")) > 0
    with pytest.raises(KeyError, match="no ERP queue"):
        queue_sql("payment")


def test_commitment_full_walk_send_accept_synced(world):
    r = world.send([500], item_type="commitment", by="pat")
    assert r.count == 1 and r.to_status == {"ready_to_export": 1}
    assert status(world, "commitment", 500) == "ready_to_export"
    world.accept([("commitment", 500)], by="ann")
    q = world.queue(item_type="commitment")
    row = q[q.procore_id == 500].iloc[0]
    assert row["status"] == "exporting" and row["decided_by_name"] == "Ann Approver"
    assert json.loads(row["export_options"]) == {"quickbooks_number": "SC-001"}
    out = world.apply_export_outcomes(
        pd.DataFrame(
            {
                "item_type": ["commitment"],
                "procore_id": [500],
                "outcome": ["synced"],
                "quickbooks_id": ["TXN-500"],
                "edit_sequence": ["123"],
            }
        ),
        request_message_id=7,
        response_message_id=8,
    )
    assert out.to_status == {"synced": 1}
    assert status(world, "commitment", 500) == "synced"
    proc = world.frame("commitments", "id = 500").iloc[0]
    assert proc["origin_id"] == "TXN-500" and json.loads(proc["origin_data"]) == {"edit_sequence": "123"}
    log = world.audit("commitment", 500)
    assert log["action"].tolist() == ["refresh", "send", "accept", "export_succeeded"]
    assert log.iloc[-1]["request_message_id"] == 7 and log.iloc[-1]["response_message_id"] == 8
    # replaying the same outcome is a no-op, not an error
    again = world.apply_export_outcomes(
        pd.DataFrame(
            {
                "item_type": ["commitment"],
                "procore_id": [500],
                "outcome": ["synced"],
                "quickbooks_id": ["TXN-500"],
            }
        )
    )
    assert again.count == 0 and len(world.audit("commitment", 500)) == 4


def test_failed_export_retry_and_reject_then_resend(world):
    world.send([500], item_type="commitment", by="pat")
    world.accept([500], item_type="commitment", by="ann")
    world.apply_export_outcomes(
        pd.DataFrame(
            {
                "item_type": ["commitment"],
                "procore_id": [500],
                "outcome": ["failed"],
                "status_code": [3100],
                "status_message": ["The name is already in use"],
                "error_class": ["duplicate"],
            }
        )
    )
    row = world.queue(status="failed_to_export").iloc[0]
    assert (row["procore_id"], row["last_error_code"], row["attempts"]) == (500, 3100, 1)
    world.retry([500], item_type="commitment", by="ann")
    assert status(world, "commitment", 500) == "exporting"
    world.apply_export_outcomes(
        pd.DataFrame(
            {"item_type": ["commitment"], "procore_id": [500], "outcome": ["failed"], "status_code": [3100]}
        )
    )
    with pytest.raises(BatchRejected, match="a reason is required"):
        world.reject([500], item_type="commitment", by="ann", reason="   ")
    r = world.reject([500], item_type="commitment", by="ann", reason="Vendor name clashes in QuickBooks")
    assert r.mails_queued == 1
    row = world.queue(item_type="commitment").set_index("procore_id").loc[500]
    assert row["status"] == "rejected" and row["reason"] == "Vendor name clashes in QuickBooks"
    with pytest.raises(BatchRejected, match="send needs"):
        world.send([500], item_type="commitment", by="pat")
    world.resend([500], item_type="commitment", by="pat")
    assert status(world, "commitment", 500) == "ready_to_export"
    assert world.audit("commitment", 500)["action"].tolist() == [
        "refresh",
        "send",
        "accept",
        "export_failed",
        "retry",
        "export_failed",
        "reject",
        "resend",
    ]


def test_retrieve_before_decision_then_send_again(world):
    world.send([201], item_type="company", by="pat")
    world.retrieve([201], item_type="company", by="pat")
    assert status(world, "company", 201) == "retrieved"
    with pytest.raises(BatchRejected, match="accept needs Ready to Export"):
        world.accept([201], item_type="company", by="ann")
    world.send([201], item_type="company", by="pat")
    world.accept([201], item_type="company", by="ann", vendor_type="Subcontractors")
    q = world.queue(item_type="company").set_index("procore_id")
    assert json.loads(q.loc[201, "export_options"]) == {"vendor_type": "Subcontractors"}


def test_project_accept_needs_known_top_level_customer(world):
    world.send([101], item_type="project", by="pat")
    with pytest.raises(BatchRejected, match="choose the QuickBooks customer"):
        world.accept([101], item_type="project", by="ann")
    with pytest.raises(BatchRejected, match="unknown QuickBooks customer Nobody"):
        world.accept([101], item_type="project", by="ann", customer="Nobody")
    with pytest.raises(BatchRejected, match="is a job"):
        world.accept([101], item_type="project", by="ann", customer="C-2")
    world.accept([101], item_type="project", by="ann", customer="big owner llc")
    opts = json.loads(world.queue(item_type="project").set_index("procore_id").loc[101, "export_options"])
    assert opts == {"parent_customer_list_id": "C-1", "parent_customer_full_name": "Big Owner LLC"}


def test_project_prerequisites_block_send(world):
    with pytest.raises(BatchRejected) as exc:
        world.send([102], item_type="project", by="pat")
    assert "41 characters" in str(exc.value) and "comma" in str(exc.value)


def test_budget_walk_and_lock_prerequisite(world):
    with pytest.raises(BatchRejected, match="budget is not locked"):
        world.send([101], item_type="budget", by="pat")
    world.send([100], item_type="budget", by="pat")
    world.accept([100], item_type="budget", by="ann")
    world.apply_export_outcomes(
        pd.DataFrame(
            {
                "item_type": ["budget"],
                "procore_id": [100],
                "outcome": ["synced"],
                "quickbooks_id": ["EST-1"],
                "edit_sequence": ["9"],
            }
        )
    )
    q = world.queue(item_type="budget").set_index("procore_id")
    assert q.loc[100, "status"] == "synced" and q.loc[100, "quickbooks_id"] == "EST-1"
    # the estimate TxnID is not written onto the project
    assert world.frame("projects", "id = 100").iloc[0]["origin_id"] == "80000100-1600000000"


def test_dependencies_company_then_commitment_then_cco_and_invoice(world):
    # commitment 501 needs vendor 201 and cost code 301: send is refused, listing both
    with pytest.raises(BatchRejected) as exc:
        world.send([501], item_type="commitment", by="pat")
    assert "vendor Best Electric is not synced" in str(exc.value) and "16-100" in str(exc.value)
    # accepting (not yet synced) the vendor and cost code is enough for the commitment
    world.send([("company", 201), ("cost_code", 301)], by="pat")
    world.accept([("company", 201), ("cost_code", 301)], by="ann")
    world.send([501], item_type="commitment", by="pat")
    # the CCO on 501 may go once 501 is accepted
    with pytest.raises(BatchRejected, match="commitment PO-002 is not synced"):
        world.send([601], item_type="change_order", by="pat")
    world.accept([501], item_type="commitment", by="ann")
    world.send([601], item_type="change_order", by="pat")
    # an invoice needs its commitment *synced*: 701's commitment 500 is not
    with pytest.raises(BatchRejected, match="commitment SC-001 is not synced"):
        world.send([701], item_type="invoice", by="pat")
    world.send([700], item_type="invoice", by="pat")
    # a draft commitment never goes
    with pytest.raises(BatchRejected, match="only Approved commitments"):
        world.send([502], item_type="commitment", by="pat")


def test_invoice_accept_needs_retainage_item(world):
    world.send([700], item_type="invoice", by="pat")
    with pytest.raises(SettingMissing, match="invoice_retainage_item"):
        world.accept([700], item_type="invoice", by="ann")
    assert status(world, "invoice", 700) == "ready_to_export"
    world.update_settings(by="adam", invoice_retainage_item="Retainage")
    world.accept([700], item_type="invoice", by="ann")
    assert status(world, "invoice", 700) == "exporting"


def test_unlink_synced_items(world):
    with pytest.raises(BatchRejected, match="cannot be unlinked"):
        world.unlink([100], item_type="project", by="ann")
    with pytest.raises(BatchRejected, match="unlink needs Synced"):
        world.unlink([201], item_type="company", by="ann")
    put(world, "purchase_orders", [dict(TxnID="TXN-503", RefNumber="SC-004")])
    with pytest.raises(BatchRejected, match="still in QuickBooks Desktop"):
        world.unlink([503], item_type="commitment", by="ann")
    world.store.execute("DELETE FROM purchase_orders")
    world.unlink([503], item_type="commitment", by="ann")
    assert status(world, "commitment", 503) == "unlinked"
    assert world.frame("commitments", "id = 503").iloc[0]["origin_id"] is None or pd.isna(
        world.frame("commitments", "id = 503").iloc[0]["origin_id"]
    )
    assert "TXN-503" in world.audit("commitment", 503).iloc[-1]["detail"]
    world.send([503], item_type="commitment", by="pat")  # can go again after unlinking
    assert status(world, "commitment", 503) == "ready_to_export"


def test_timecard_entry_and_cost_code_walk(world):
    world.send([("timecard_entry", 800), ("cost_code", 301)], by="pat")
    world.accept([("timecard_entry", 800), ("cost_code", 301)], by="ann")
    world.apply_export_outcomes(
        pd.DataFrame(
            {
                "item_type": ["timecard_entry", "cost_code"],
                "procore_id": [800, 301],
                "outcome": ["synced", "synced"],
                "quickbooks_id": ["TT-1", "80000301-1"],
                "edit_sequence": ["1", "2"],
            }
        )
    )
    assert world.frame("timecard_entries", "id = 800").iloc[0]["origin_id"] == "TT-1"
    cc = world.frame("cost_codes", "id = 301").iloc[0]
    assert cc["origin_id"] == "80000301-1" and cc["cost_code_level"] == "standard"


def test_direct_export_skips_the_approver(world):
    world.update_settings(by="adam", direct_export=True, invoice_retainage_item="I-RET")
    r = world.send([("invoice", 700), ("company", 201)], by="pat")
    assert r.to_status == {"exporting": 1, "ready_to_export": 1}
    log = world.audit("invoice", 700)
    assert log.iloc[-1]["action"] == "send_direct_export" and "direct export" in log.iloc[-1]["detail"]
    assert status(world, "company", 201) == "ready_to_export"  # companies always need an approver


def test_batch_is_all_or_nothing_and_lists_every_offender(world):
    world.send([("company", 201), ("cost_code", 301)], by="pat")
    before = len(world.audit())
    with pytest.raises(BatchRejected) as exc:
        world.accept(
            [("company", 201), ("cost_code", 301), ("commitment", 502), ("invoice", 99999)], by="ann"
        )
    problems = exc.value.problems
    assert {(p["item_type"], p["procore_id"]) for p in problems} == {("commitment", 502), ("invoice", 99999)}
    assert status(world, "company", 201) == "ready_to_export"  # nothing moved
    assert len(world.audit()) == before


def test_permissions_on_decisions(world):
    world.send(
        [201], item_type="company", by="carl"
    )  # sending needs no ERP tool permission (Directory Admin)
    with pytest.raises(PermissionDenied, match="Can Push to Accounting"):
        world.accept([201], item_type="company", by="sam")
    with pytest.raises(PermissionDenied, match="'Standard' or 'Admin'"):
        world.reject([201], item_type="company", by="carl", reason="no")
    with pytest.raises(PermissionDenied, match="active"):
        world.accept([201], item_type="company", by="gone")
    with pytest.raises(PermissionDenied, match="unknown user"):
        world.accept([201], item_type="company", by="nobody")
    world.accept([201], item_type="company", by=2)  # admin by id


def test_selection_forms(world):
    q = world.queue()
    # boolean mask aligned to the last queue frame
    mask = (q.item_type == "company") & (q.status == "not_sent")
    assert world.send(mask, by="pat").count == 1
    # a frame with per-row options
    frame = pd.DataFrame({"item_type": ["company"], "procore_id": [201], "vendor_type": ["Suppliers"]})
    world.accept(frame, by="ann")
    assert "Suppliers" in world.queue(item_type="company").set_index("procore_id").loc[201, "export_options"]
    # a SQL filter against the queue view
    r = world.send("item_type = 'cost_code' AND status = 'not_sent'", by="pat")
    assert r.count == 1
    with pytest.raises(InputError, match="no_such_column"):
        world.send("no_such_column = 1", by="pat")
    with pytest.raises(InputError, match="one SQL condition"):
        world.send("true); DROP TABLE erp_items; SELECT (1", by="pat")
    with pytest.raises(InputError, match="cannot read the filter"):
        world.send("true; DROP TABLE erp_items", by="pat")
    assert "erp_items" in world.tables
    with pytest.raises(InputError, match="empty"):
        world.send("item_type = 'nothing'", by="pat")
    with pytest.raises(InputError, match="item_type"):
        world.send([1, 2], by="pat")


def test_filter_example_from_the_docs(world):
    world.update_settings(by="adam", invoice_retainage_item="I-RET")
    world.send([700], item_type="invoice", by="pat")
    where = "item_type = 'invoice' AND amount < 10000 AND vendor_synced AND status = 'ready_to_export'"
    # 702 came in as Ready to Export from Procore's erp_status but is under review: the batch is refused
    with pytest.raises(BatchRejected) as exc:
        world.accept(where, by="ann")
    assert [p["procore_id"] for p in exc.value.problems] == [702]
    r = world.accept(where + " AND can_send", by="ann")
    assert r.count == 1 and status(world, "invoice", 700) == "exporting"


def test_export_outcomes_refuse_items_not_exporting(world):
    with pytest.raises(BatchRejected, match="not exporting"):
        world.apply_export_outcomes(
            pd.DataFrame(
                {
                    "item_type": ["company"],
                    "procore_id": [201],
                    "outcome": ["synced"],
                    "quickbooks_id": ["V-1"],
                }
            )
        )
    with pytest.raises(InputError, match="outcome"):
        world.apply_export_outcomes(pd.DataFrame({"item_type": ["company"], "procore_id": [201]}))


def test_reports(world):
    world.send([201], item_type="company", by="pat")
    world.accept([201], item_type="company", by="ann")
    world.apply_export_outcomes(
        pd.DataFrame(
            {
                "item_type": ["company"],
                "procore_id": [201],
                "outcome": ["synced"],
                "quickbooks_id": ["V-201"],
                "edit_sequence": ["1"],
            }
        )
    )
    rep = world.accountant_report(by="adam")
    assert rep[["item_type", "procore_id", "quickbooks_id"]].values.tolist() == [["company", 201, "V-201"]]
    assert world.accountant_report("2000-01-01", "2000-12-31", by="adam").empty
    with pytest.raises(PermissionDenied):
        world.accountant_report(by="ann")
    put(world, "bills", [dict(TxnID="B-1", VendorRef_ListID="80000200-1")])
    put(
        world,
        "bill_lines",
        [
            dict(
                TxnID="B-1",
                TxnLineID="L1",
                LineKind="item",
                ItemRef_ListID="80000300-1",
                Amount=D("400.00"),
                CustomerRef_ListID="80000100-1600000000",
            ),
            dict(
                TxnID="B-1",
                TxnLineID="L2",
                LineKind="item",
                ItemRef_ListID="80000300-1",
                Amount=D("100.50"),
                CustomerRef_ListID="80000100-1600000000",
            ),
        ],
    )
    jc = world.erp_job_costs(100, by="adam")
    row = jc[jc.item_list_id == "80000300-1"].iloc[0]
    assert row["quickbooks_costs"] == D("500.50") and row["original_budget_amount"] == D("50000.00")
    world.set_tool_permissions("sam", {"reports": "read_only", "budget": "admin"}, by="adam")
    un = world.unsyncable_direct_costs(by="sam")
    assert ("commitment_line", 551) in set(zip(un.source, un.procore_id, strict=True))


def test_vendor_suggestions_and_linking(world):
    put(
        world,
        "vendors",
        [
            dict(ListID="V-9", Name="BEST ELECTRIC, INC.", EditSequence="77", IsActive=True),
            dict(ListID="V-8", Name="Best Electrc", IsActive=True),
            dict(ListID="V-7", Name="Zeta Glass", IsActive=True),
            dict(ListID="80000200-1", Name="Acme Concrete", IsActive=True),
        ],
    )
    ready = world.ready_to_import("vendor")
    assert set(ready["list_id"]) == {"V-9", "V-8", "V-7"}  # Acme is linked already
    sug = world.vendor_link_suggestions()
    exact = sug[sug.match == "exact"]
    assert exact[["list_id", "company_id"]].values.tolist() == [["V-9", 201]]
    fuzzy = sug[sug.match == "suggested"]
    assert fuzzy["list_id"].tolist() == ["V-8"] and fuzzy["score"].iloc[0] < 100
    with pytest.raises(PermissionDenied):
        world.link_vendors([("V-9", 201)], by="pat")
    with pytest.raises(BatchRejected) as exc:
        world.link_vendors([("V-9", 201), ("V-8", 201), ("NOPE", 200)], by="adam")
    text = str(exc.value)
    assert "company listed twice" in text and "no QuickBooks vendor NOPE" in text and "already linked" in text
    world.link_vendors([("V-9", 201)], by="adam")
    c = world.frame("companies", "id = 201").iloc[0]
    assert c["origin_id"] == "V-9" and json.loads(c["origin_data"]) == {"edit_sequence": "77"}
    assert status(world, "company", 201) == "synced"
    assert world.audit("company", 201).iloc[-1]["action"] == "link_vendor"
    assert "V-9" not in set(world.ready_to_import()["list_id"])
    link = world.links("company", 201)
    assert list(link["quickbooks_id"]) == ["V-9"] and list(link["edit_sequence"]) == ["77"]


def test_import_bill_payments_and_job_costs(world):
    # invoice 700 synced as bill B-700
    world.update_settings(by="adam", invoice_retainage_item="I-RET")
    world.send([700], item_type="invoice", by="pat")
    world.accept([700], item_type="invoice", by="ann")
    world.apply_export_outcomes(
        pd.DataFrame(
            {"item_type": ["invoice"], "procore_id": [700], "outcome": ["synced"], "quickbooks_id": ["B-700"]}
        )
    )
    put(
        world,
        "bill_payments",
        [
            dict(
                TxnID="P-1",
                PaymentKind="check",
                RefNumber="1001",
                Amount=D("630.00"),
                TxnDate=pd.Timestamp("2026-02-01").date(),
            )
        ],
    )
    put(
        world,
        "bill_payment_lines",
        [
            dict(TxnID="P-1", AppliedTxnID="B-700", Amount=D("630.00")),
            dict(TxnID="P-1", AppliedTxnID="B-UNSYNCED", Amount=D("5.00")),
        ],
    )
    assert world.import_bill_payments(by="adam") == 1
    assert world.import_bill_payments(by="adam") == 0  # idempotent
    pay = world.frame("payments_issued").iloc[0]
    assert (pay["origin_id"], pay["requisition_id"], pay["contract_id"], pay["amount"]) == (
        "P-1",
        700,
        503,
        D("630.00"),
    )
    put(
        world,
        "bill_lines",
        [
            dict(
                TxnID="B-700",
                TxnLineID="L1",
                LineKind="item",
                ItemRef_ListID="80000300-1",
                Amount=D("630.00"),
                CustomerRef_ListID="80000100-1600000000",
            ),
        ],
    )
    assert world.import_job_costs(by="adam") == 0  # Job Cost Transaction Syncing is off on the project
    world.enable_job_cost_sync(100, by="adam")
    assert world.import_job_costs(by="adam") == 1
    line = world.frame("budget_line_items", "id = 400").iloc[0]
    assert line["job_to_date_costs"] == D("630.00") and line["direct_costs"] == D("630.00")
    assert world.import_job_costs(by="adam") == 0
    with pytest.raises(PermissionDenied):
        world.import_job_costs(by="pat")


def test_cli_queue_decisions_and_settings(tmp_path):
    from click.testing import CliRunner

    from qbrecon import Workspace
    from qbrecon.cli import main

    path = str(tmp_path / "cli.duckdb")
    with Workspace(path) as ws:
        build_world(ws)
    run = CliRunner().invoke
    r = run(main, ["queue", "-w", path, "--type", "company", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert {row["procore_id"] for row in json.loads(r.output)} == {200, 201}
    r = run(main, ["send", "-w", path, "--by", "pat", "--ids", "201", "--type", "company"])
    assert r.exit_code == 0 and "1 item(s)" in r.output
    r = run(main, ["accept", "-w", path, "--by", "sam", "--ids", "201", "--type", "company"])
    assert r.exit_code == 77 and "Can Push to Accounting" in r.output
    r = run(main, ["accept", "-w", path, "--by", "ann", "--where", "item_type = 'commitment'"])
    assert r.exit_code == 2 and "nothing was changed" in r.output and "procore_id=500" in r.output
    r = run(
        main,
        [
            "reject",
            "-w",
            path,
            "--by",
            "ann",
            "--ids",
            "201",
            "--type",
            "company",
            "--reason",
            "Dup",
            "--format",
            "json",
        ],
    )
    assert r.exit_code == 0 and json.loads(r.output)["to_status"] == {"rejected": 1}
    r = run(main, ["queue", "-w", path, "--status", "rejected", "--format", "csv"])
    assert r.exit_code == 0 and "Best Electric" in r.output and "Dup" in r.output
    r = run(
        main, ["settings", "set", "-w", path, "--by", "adam", "direct_export=true", "sync_schedule=daily"]
    )
    assert r.exit_code == 0 and "sync_schedule" in r.output
    r = run(main, ["settings", "set", "-w", path, "--by", "adam", "smtp_password=hunter22"])
    assert r.exit_code == 2 and "command line" in r.output
    r = run(main, ["settings", "show", "-w", path, "--format", "json"])
    shown = {row["setting"]: row["value"] for row in json.loads(r.output)}
    assert shown["direct_export"] is True and shown["sync_schedule"] == "daily"
    r = run(main, ["send", "-w", path, "--by", "pat", "--ids", "x", "--type", "company"])
    assert r.exit_code == 2 and "--ids" in r.output


def test_on_generated_fixtures_reload_keeps_decisions(ws, tmp_path):
    from qbrecon.fixtures import generate

    out = tmp_path / "fx"
    generate(
        out, projects=2, seed=3, commitments_per_project=3, invoices_per_commitment=2, lines_per_invoice=3
    )
    report = ws.load_procore(out / "procore")
    ws.load_quickbooks(out / "quickbooks")
    q = ws.queue()
    # loading gave every exportable record its queue row, in the load's transaction
    assert len(q) > 0 and f"ERP queue: {len(q)} item(s) added or newly linked" in report.notes
    assert ws.refresh_queue() == 0
    assert set(q["item_type"]) >= {"company", "project", "cost_code", "commitment", "invoice"}
    assert (q["status"] == "synced").any() and (q["status"] == "not_sent").any()
    approver = ws.sql("""SELECT login FROM users WHERE erp_integrations_permission IN ('standard', 'admin')
                         AND can_push_to_accounting AND coalesce(is_active, true) LIMIT 1""").fetchall()[0][0]
    anyone = ws.sql("SELECT login FROM users WHERE coalesce(is_active, true) LIMIT 1").fetchall()[0][0]
    sendable = q[(q.status == "not_sent") & q.can_send.astype(bool)]
    assert not sendable.empty
    ws.send(sendable[["item_type", "procore_id"]], by=anyone)
    blocked = q[(q.status == "not_sent") & ~q.can_send.astype(bool)]
    if not blocked.empty:
        with pytest.raises(BatchRejected) as exc:
            ws.send(blocked[["item_type", "procore_id"]], by=anyone)
        assert len({(p["item_type"], p["procore_id"]) for p in exc.value.problems}) == len(blocked)
    first = sendable.iloc[0]
    ws.reject([(first.item_type, int(first.procore_id))], by=approver, reason="check the amounts")
    # loading the same export again and refreshing must not clobber decisions
    ws.load_procore(out / "procore")
    assert ws.refresh_queue() == 0
    after = ws.queue().set_index(["item_type", "procore_id"])
    assert after.loc[(first.item_type, int(first.procore_id)), "status"] == "rejected"
    rest = sendable.iloc[1:]
    assert (
        after.loc[list(zip(rest.item_type, rest.procore_id, strict=True)), "status"] == "ready_to_export"
    ).all()


def test_mask_finds_its_own_frame_after_other_queue_calls(world):
    q = world.queue()
    mask = (q.item_type == "company") & (q.procore_id == 201)
    world.queue(status="synced")  # another caller (e.g. another dashboard session) asks for another frame
    assert world.send(mask, by="pat").count == 1
    assert status(world, "company", 201) == "ready_to_export"
    with pytest.raises(InputError, match="recent ws.queue"):
        world.send(pd.Series([True, False]), by="pat")
