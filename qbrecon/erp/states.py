"""ERP Integrations item states and the allowed transitions, as Procore's ERP tool defines them.

One row per (item_type, procore_id) in ``erp_items``; every change of a row also writes an ``erp_audit`` row
(who, when, action, from -> to, reason, qbXML request/response message ids). Nothing changes without a log row.
"""

from __future__ import annotations

from ..store import register_tables

# status (stored) -> the filter users see in the ERP Integrations tool
STATUSES: dict[str, str] = {
    "not_sent": "Not Sent",
    "ready_to_export": "Ready to Export",
    "retrieved": "Retrieved",  # taken back by the sender before a decision (editable, yellow)
    "exporting": "Exporting",  # accepted; queued for / in flight to QuickBooks
    "synced": "Synced",
    "failed_to_export": "Failed to Export",
    "rejected": "Rejected",  # returned to its owner with a reason (editable, yellow)
    "unlinked": "Unlinked",
    "ready_to_import": "Ready to Import",
    "imported": "Imported",
}

# action -> (allowed from-statuses, to-status). Export outcomes ("synced"/"failed") are applied by the
# export ledger, never by a user.
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "send": (("not_sent", "retrieved", "unlinked"), "ready_to_export"),
    "resend": (("rejected",), "ready_to_export"),
    "retrieve": (("ready_to_export",), "retrieved"),
    "accept": (("ready_to_export",), "exporting"),
    "reject": (("ready_to_export", "failed_to_export"), "rejected"),
    "retry": (("failed_to_export",), "exporting"),
    "export_succeeded": (("exporting",), "synced"),
    "export_failed": (("exporting",), "failed_to_export"),
    # Failed to Export / Rejected: only an item whose QuickBooks record was deleted there (qbrecon.links)
    "unlink": (("synced", "failed_to_export", "rejected"), "unlinked"),
    "import": (("ready_to_import",), "imported"),
}


def item_where(item_type: str | None = None, procore_id: int | None = None) -> tuple[str, list]:
    """``("WHERE item_type = ? AND procore_id = ?", params)`` for the per-item tables (``erp_audit``,
    ``export_ledger``), ``("", [])`` without a filter; None leaves that part out."""
    clauses, params = [], []
    if item_type is not None:
        clauses.append("item_type = ?")
        params.append(item_type)
    if procore_id is not None:
        clauses.append("procore_id = ?")
        params.append(int(procore_id))
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


register_tables(
    """CREATE TABLE IF NOT EXISTS erp_items (
        item_type VARCHAR NOT NULL,          -- qbrecon.entities.PAIRS key
        procore_id BIGINT NOT NULL,          -- id in the item's Procore table (budget: the project id)
        status VARCHAR NOT NULL,             -- qbrecon.erp.states.STATUSES key
        sent_by BIGINT, sent_at TIMESTAMPTZ,
        decided_by BIGINT, decided_at TIMESTAMPTZ,
        reason VARCHAR,                      -- rejection reason
        export_options VARCHAR,              -- JSON chosen at accept: parent customer, vendor type, QB number
        quickbooks_id VARCHAR, edit_sequence VARCHAR,
        last_error_code INTEGER, last_error_message VARCHAR, error_class VARCHAR,
        attempts INTEGER DEFAULT 0,
        updated_at TIMESTAMPTZ,
        PRIMARY KEY (item_type, procore_id))""",
    """CREATE SEQUENCE IF NOT EXISTS erp_audit_seq START 1""",
    """CREATE TABLE IF NOT EXISTS erp_audit (
        audit_id BIGINT PRIMARY KEY, "at" TIMESTAMPTZ NOT NULL, actor BIGINT, actor_name VARCHAR,
        action VARCHAR NOT NULL, item_type VARCHAR NOT NULL, procore_id BIGINT NOT NULL,
        from_status VARCHAR, to_status VARCHAR, reason VARCHAR,
        request_message_id BIGINT, response_message_id BIGINT, detail VARCHAR)""",
)
