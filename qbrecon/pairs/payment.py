"""QuickBooks bill payments -> Procore payments issued: the import-only pair, its whole story in one module.

Nothing is exported: with "Sync QuickBooks Bill Payments" on, the refresh reads ``BillPaymentCheckQuery`` /
``BillPaymentCreditCardQuery`` and each payment applied to a bill qbrecon synced becomes a Procore payment issued
on that invoice (``origin_id`` = the payment's TxnID; one per bill paid, never twice). Reconciliation compares
payments issued with bill payments by link, else by check number and vendor, on the amount applied to bills.
"""

from __future__ import annotations

import duckdb

from ..entities import EntityPair
from . import invoice, register_imported
from .base import EXPECTED, Endpoint, Field, ImportedPair, PairRule
from .base import PROCORE_V1 as V1

ITEM_TYPE = "payment"

PAIR = EntityPair(
    ITEM_TYPE,
    "Payments Issued",
    "payments_issued",
    "bill_payments",
    quickbooks_lines="bill_payment_lines",
    query_request="BillPaymentCheckQuery",
    quickbooks_id="TxnID",
    exportable=False,
    export_order=1000,  # after every exported pair: a payment applies to a synced bill
    notes="Imported: QuickBooks bill payments become Procore payments issued.",
)

# -- import: bill payment lines applied to synced bills, not yet imported ----------------------------------------
NEW_PAYMENTS_SQL = f"""
    SELECT bp."TxnID" AS origin_id, i.id AS requisition_id, i.project_id, i.commitment_id AS contract_id,
           pl."Amount" AS amount, bp."TxnDate" AS date, bp."RefNumber" AS check_number,
           i.invoice_number, bp."PaymentKind" AS payment_method, bp."Memo" AS notes,
           json_object('edit_sequence', bp."EditSequence")::VARCHAR AS origin_data
    FROM bill_payment_lines pl
    JOIN bill_payments bp ON bp."TxnID" = pl."TxnID"
    JOIN erp_items e ON e.item_type = '{invoice.ITEM_TYPE}' AND e.status = 'synced' AND e.quickbooks_id = pl."AppliedTxnID"
    JOIN invoices i ON i.id = e.procore_id
    WHERE NOT EXISTS (SELECT 1 FROM payments_issued p
                      WHERE p.origin_id = bp."TxnID" AND p.requisition_id IS NOT DISTINCT FROM i.id)
    ORDER BY bp."TxnDate", bp."TxnID", i.id"""


def import_payments(con: duckdb.DuckDBPyConnection, user: dict, temp_name: str) -> int:
    """Add the new payments issued (and one audit row each) inside the caller's transaction; ``user`` is the
    admin the import runs as (``id``, ``name``). Returns how many were added."""
    new = con.sql(NEW_PAYMENTS_SQL).to_arrow_table()
    if new.num_rows == 0:
        return 0
    con.register(temp_name, new)
    try:
        base = con.execute("SELECT coalesce(max(id), 0) FROM payments_issued").fetchall()[0][0]
        con.execute(
            f"""INSERT INTO payments_issued (id, project_id, contract_id, requisition_id, amount, date,
                       check_number, invoice_number, payment_method, notes, status, origin_id, origin_data,
                       created_at, updated_at, _source_file, _loaded_at)
                SELECT {int(base)} + row_number() OVER (ORDER BY date, origin_id, requisition_id),
                       project_id, contract_id, requisition_id, amount, date, check_number, invoice_number,
                       payment_method, notes, 'synced', origin_id, origin_data, now(), now(),
                       'quickbooks:bill_payments', now()
                FROM {temp_name}"""
        )
        con.execute(
            f"""INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id,
                                       to_status, detail)
                SELECT nextval('erp_audit_seq'), now(), ?, ?, 'import', '{ITEM_TYPE}', p.id, 'imported',
                       'bill payment ' || p.origin_id || ' on invoice ' || p.requisition_id
                FROM payments_issued p JOIN {temp_name} n ON n.origin_id = p.origin_id
                     AND n.requisition_id = p.requisition_id""",
            [user["id"], user["name"]],
        )
    finally:
        con.unregister(temp_name)
    return new.num_rows


# -- reconciliation: payments issued <-> bill payments -----------------------------------------------------------
RULE = PairRule(
    ITEM_TYPE,
    "Payments issued <-> Bill payments",
    f"""SELECT CAST(p.id AS VARCHAR) AS procore_id, nullif(trim(p.origin_id), '') AS link_id,
           qbr_norm_ref(p.check_number) || '|' || coalesce(vm.quickbooks_id, '') AS bkey,
           coalesce(p.check_number, CAST(p.payment_number AS VARCHAR)) AS label, pr.name AS project,
           c.name AS vendor, p.check_number AS number,
           (p.origin_id IS NOT NULL OR coalesce(e.status IN {EXPECTED}, false)) AS expected, true AS eligible, e.status AS erp_status,
           NULL::INTEGER AS name_limit, NULL::VARCHAR AS limit_value, qbr_edit_seq(p.origin_data) AS edit_seq,
           p.amount AS amount
       FROM payments_issued p
       LEFT JOIN commitments k ON k.id = p.contract_id
       LEFT JOIN projects pr ON pr.id = coalesce(p.project_id, k.project_id)
       LEFT JOIN companies c ON c.id = k.vendor_id
       LEFT JOIN _qbr_vendor_map vm ON vm.procore_id = CAST(k.vendor_id AS VARCHAR)
       LEFT JOIN _qbr_erp e ON e.item_type = '{ITEM_TYPE}' AND e.procore_id = CAST(p.id AS VARCHAR)
       WHERE (SELECT as_of FROM _qbr_params) IS NULL OR p.date IS NULL OR p.date <= (SELECT as_of FROM _qbr_params)""",
    # what a bill payment applied to bills is what Procore records as paid
    """WITH applied AS (SELECT "TxnID", sum("Amount") AS applied FROM bill_payment_lines GROUP BY "TxnID")
       SELECT t."TxnID" AS quickbooks_id, qbr_norm_ref(t."RefNumber") || '|' || coalesce(t."PayeeEntityRef_ListID", '') AS bkey,
           t."RefNumber" AS label, NULL::VARCHAR AS project, t."PayeeEntityRef_FullName" AS vendor,
           t."RefNumber" AS number, t."EditSequence" AS edit_seq, coalesce(a.applied, t."Amount") AS amount
       FROM bill_payments t LEFT JOIN applied a ON a."TxnID" = t."TxnID"
       WHERE (SELECT as_of FROM _qbr_params) IS NULL OR t."TxnDate" <= (SELECT as_of FROM _qbr_params)""",
    (Field("amount", "money", "payment_differs"),),
    amount_label="applied amount",
)

PROCORE_ENDPOINTS = (
    Endpoint(
        "contract_payments",
        "contract_payments",
        f"{V1}/contract_payments",
        "project",
        ("project_id",),
        table="payments_issued",
        item_type="contract_payment",
    ),
)

MODULE = register_imported(
    ImportedPair(
        pair=PAIR,
        procore_endpoints=PROCORE_ENDPOINTS,
        reconcile=RULE,
        reconcile_title="Payments issued / Bill payments",
        sheet_name="Payments - Bill payments",
        singular="payment issued",
        plural="payments issued",
    )
)
