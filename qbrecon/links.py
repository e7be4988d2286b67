"""The links qbrecon knows: which QuickBooks record (and line) each Procore record (and line) is, owned by qbrecon.

A Procore export carries ``origin_id`` / ``origin_data`` as Procore last knew them; a re-load (of the same export,
an older one, an edited one) must never lose or change a link qbrecon made. So links live here, in ``qb_links``,
written in the same transaction that applies QuickBooks' answer, and the Procore tables' ``origin_id`` /
``origin_data`` are re-derived from them after every Procore load (in the load's transaction). An export that
brings a *different* ``origin_id`` than the link is a conflict (``qb_link_conflicts`` + an ``erp_audit`` row):
the link stays, the admin decides.

Everything pair-specific comes from ``qbrecon.entities.PAIRS`` (tables, row filter, link column, line relations,
the fields that define "changed since sync"); nothing here names a pair.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from .entities import PAIRS, EntityPair, LineRelation
from .schemas import TABLES
from .store import register_tables

LINKS_VERSION = 1  # qbrecon_meta 'qb_links_version' (the migration that fills qb_links is in erp.queue)


def shows_link(line: LineRelation) -> bool:
    """Does the Procore line table show its QuickBooks line (an ``origin_id`` column)?"""
    return line.linked and "origin_id" in TABLES[line.table].column_names


def _null_safe(expr: str) -> str:
    return f"coalesce(({expr})::VARCHAR, '<null>')"


def fingerprint_sql(pair: EntityPair, items: str | None = None) -> str | None:
    """``SELECT item_type, procore_id, fingerprint`` for every item of ``pair`` (or only those in the relation
    ``items``: item_type, procore_id): an md5 of the declared fields and of its lines' declared fields (None when
    the pair declares none). Scoped, it reads only those items' rows and lines: the export ledger asks per
    message set, and the whole view costs a scan of every Procore table."""
    if not (pair.changed_fields or pair.lines):
        return None
    ids = f"(SELECT procore_id FROM {items} WHERE item_type = '{pair.item_type}')" if items else None
    parts = [_row_part(pair)]
    joins = []
    for n, rel in enumerate(pair.lines):
        conds = [c for c in (rel.where, f"{rel.parent_key} IN {ids}" if ids else None) if c]
        where = f"WHERE {' AND '.join(conds)}" if conds else ""
        fields = ", ".join(_null_safe(f) for f in rel.fields)
        joins.append(
            f"""LEFT JOIN (SELECT {rel.parent_key} AS pid,
                                  md5(string_agg(concat_ws('|', {fields}), chr(10) ORDER BY concat_ws('|', {fields})))
                                      AS fp
                           FROM "{rel.table}" {where} GROUP BY 1) l{n} ON l{n}.pid = t.id"""
        )
        parts.append(f"coalesce(l{n}.fp, '')")
    conds = [
        c
        for c in (f"t.{pair.row_filter}" if pair.row_filter else None, f"t.id IN {ids}" if ids else None)
        if c
    ]
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    return f"""SELECT '{pair.item_type}' AS item_type, t.id AS procore_id,
                       md5(concat_ws('#', {", ".join(parts)})) AS fingerprint
                FROM "{pair.procore_table}" t {" ".join(joins)} {where}"""


def _row_part(pair: EntityPair, alias: str = "t") -> str:
    """The fingerprint's part read from the Procore row itself (``alias``): an md5 of its declared fields."""
    if not pair.changed_fields:
        return "''"
    return f"md5(concat_ws('|', {', '.join(_null_safe(alias + '.' + f) for f in pair.changed_fields)}))"


def fingerprint_expr(pair: EntityPair, alias: str = "t") -> str | None:
    """The fingerprint ``fingerprint_sql`` gives, as an expression over the Procore row ``alias`` alone, for a pair
    whose fingerprint reads no lines (None otherwise): a statement that already reads the row takes it there,
    instead of another scan of the Procore table."""
    if pair.lines or not pair.changed_fields:
        return None
    return f"md5(concat_ws('#', {_row_part(pair, alias)}))"


def fingerprints_view() -> str:
    selects = [sql for p in PAIRS.values() if p.exportable and (sql := fingerprint_sql(p))]
    return "CREATE OR REPLACE VIEW erp_fingerprints AS " + "\nUNION ALL\n".join(selects)


register_tables(fingerprints_view())


def fingerprints_of(items: str, item_types: Iterable[str] | None = None) -> str:
    """``erp_fingerprints`` for the items in the relation ``items`` (item_type, procore_id) only, as a
    parenthesised query to join (``item_types``: the types it may hold, when known)."""
    types = set(item_types) if item_types is not None else None
    selects = [
        sql
        for p in PAIRS.values()
        if p.exportable and (types is None or p.item_type in types) and (sql := fingerprint_sql(p, items))
    ]
    if not selects:
        return "(SELECT NULL::VARCHAR AS item_type, NULL::BIGINT AS procore_id, NULL::VARCHAR AS fingerprint WHERE false)"
    return "(" + "\nUNION ALL\n".join(selects) + ")"


def record_links(
    con, rel: str, source: str, item_types: Iterable[str] | None = None, rows: int | None = None
) -> None:
    """Upsert record links from the relation ``rel`` (item_type, procore_id, quickbooks_id, edit_sequence,
    fingerprint, request_message_id, response_message_id); a NULL fingerprint keeps the stored one. Every other
    link to the same QuickBooks record takes its EditSequence (a CCO's PurchaseOrderMod moves the whole PO on);
    ``item_types``, when given, the types ``rel`` holds: no other link can share a record of types whose
    QuickBooks table no other pair uses; ``rows``, when given, how many rows ``rel`` holds."""
    # New links inserted, links already there updated: two plain statements cost DuckDB a fraction of one
    # INSERT ... ON CONFLICT DO UPDATE. The usual answer only adds links, so the UPDATE runs only when some row of
    # ``rel`` was not new (it then also rewrites the rows just inserted, with the same values).
    inserted = con.execute(
        f"""INSERT INTO qb_links (item_type, procore_id, line_table, line_id, quickbooks_id, edit_sequence,
                                  fingerprint, source, linked_at, updated_at, request_message_id, response_message_id)
            SELECT r.item_type, r.procore_id, '', 0, r.quickbooks_id, r.edit_sequence, r.fingerprint, ?, now(), now(),
                   r.request_message_id, r.response_message_id FROM {rel} r
            WHERE NOT EXISTS (SELECT 1 FROM qb_links l WHERE l.item_type = r.item_type AND l.procore_id = r.procore_id
                              AND l.line_table = '' AND l.line_id = 0)
            RETURNING 1""",
        [source],
    ).fetchall()
    if rows is None or len(inserted) < rows:
        con.execute(
            f"""UPDATE qb_links l SET quickbooks_id = r.quickbooks_id, edit_sequence = r.edit_sequence,
                    fingerprint = coalesce(r.fingerprint, l.fingerprint), source = ?, updated_at = now(),
                    request_message_id = r.request_message_id, response_message_id = r.response_message_id
                FROM {rel} r WHERE l.item_type = r.item_type AND l.procore_id = r.procore_id AND l.line_table = ''
                  AND l.line_id = 0""",
            [source],
        )
    if item_types is not None and not any(shares_records(t) for t in item_types):
        return
    con.execute(
        f"""UPDATE qb_links l SET edit_sequence = r.edit_sequence, updated_at = now()
            FROM {rel} r WHERE l.quickbooks_id = r.quickbooks_id AND l.line_table = ''
              AND r.edit_sequence IS NOT NULL AND l.edit_sequence IS DISTINCT FROM r.edit_sequence"""
    )


def record_line_links(con, rel: str, source: str) -> None:
    """The line links of the items in ``rel`` (item_type, procore_id, line_table, line_id, quickbooks_id,
    txn_line_id, request_message_id, response_message_id) replace those items' line links of those tables."""
    con.execute(
        f"""DELETE FROM qb_links l WHERE l.line_table <> '' AND EXISTS (
                SELECT 1 FROM {rel} r WHERE r.item_type = l.item_type AND r.procore_id = l.procore_id
                  AND r.line_table = l.line_table)"""
    )
    con.execute(
        f"""INSERT INTO qb_links (item_type, procore_id, line_table, line_id, quickbooks_id, txn_line_id, source,
                                  linked_at, updated_at, request_message_id, response_message_id)
            SELECT DISTINCT ON (item_type, procore_id, line_table, line_id) item_type, procore_id, line_table, line_id,
                   quickbooks_id, txn_line_id, ?, now(), now(), request_message_id, response_message_id
            FROM {rel}""",
        [source],
    )


def remove(con, rel: str) -> None:
    """Forget the links (record and lines) of the items in ``rel`` (item_type, procore_id) and clear what the
    Procore rows show of them."""
    for pair in PAIRS.values():
        for line in pair.lines:
            if shows_link(line):
                con.execute(
                    f"""UPDATE "{line.table}" t SET origin_id = NULL, origin_data = NULL
                        FROM qb_links l JOIN {rel} r ON r.item_type = l.item_type AND r.procore_id = l.procore_id
                        WHERE l.item_type = ? AND l.line_table = ? AND t.id = l.line_id""",
                    [pair.item_type, line.table],
                )
    con.execute(
        f"""DELETE FROM qb_links l WHERE EXISTS (
                SELECT 1 FROM {rel} r WHERE r.item_type = l.item_type AND r.procore_id = l.procore_id)"""
    )


_LIVE_LINE = "CASE WHEN l.deleted_in_quickbooks_at IS NULL THEN l.txn_line_id END"


def apply_to_procore(
    con, load_id: int | None = None, items: str | None = None, item_types: Iterable[str] | None = None
) -> int:
    """Make every Procore row (and line) show its link as qbrecon knows it. A row whose ``origin_id`` names a
    different QuickBooks record than the link is a conflict: recorded (once per value) and audited, and the link
    wins. Returns the number of new conflicts. Run inside the caller's transaction (a load's).

    ``items`` (a relation: item_type, procore_id, quickbooks_id) limits it to the links an answer just wrote:
    those items' links and every link to the same QuickBooks records (whose EditSequence moved with them);
    ``item_types``, when given, the types ``items`` holds."""
    conflicts = 0
    targets = []
    types = None
    if items is not None:
        types = (
            set(item_types)
            if item_types is not None
            else {r[0] for r in con.execute(f"SELECT DISTINCT item_type FROM {items}").fetchall()}
        )
    for pair in PAIRS.values():
        if not pair.exportable or pair.link_column is None:
            continue
        if types is not None and pair.item_type not in types and not _shares_records(pair, types):
            continue
        filt = f" AND t.{pair.row_filter}" if pair.row_filter else ""
        targets.append((pair, pair.procore_table, "l.quickbooks_id", f"t.id = l.procore_id{filt}", ""))
        for line in pair.lines:
            if shows_link(line):  # a line deleted in QuickBooks shows none: the next Mod adds it again
                targets.append((pair, line.table, _LIVE_LINE, "t.id = l.line_id", line.table))

    # The record's EditSequence is qbrecon's; any other key Procore keeps in origin_data for the same link (a
    # CCO's ``txn_id``: its PO's TxnID) stays, so a re-load of what Procore holds differs in nothing and the
    # push to Procore has nothing to send. A different origin_id starts the data afresh.
    def data_of(line_table: str) -> str:
        return (
            "CASE WHEN l.edit_sequence IS NULL THEN t.origin_data "
            "WHEN t.origin_id IS NOT DISTINCT FROM l.quickbooks_id AND json_valid(t.origin_data) "
            "THEN json_merge_patch(t.origin_data, json_object('edit_sequence', l.edit_sequence))::VARCHAR "
            "ELSE json_object('edit_sequence', l.edit_sequence)::VARCHAR END"
            if not line_table
            else "t.origin_data"
        )

    def only(pair: EntityPair) -> str:
        if items is None:
            return ""
        return (
            f" AND (l.procore_id IN (SELECT procore_id FROM {items} WHERE item_type = '{pair.item_type}')"
            f" OR l.quickbooks_id IN (SELECT quickbooks_id FROM {items}))"
        )

    if not targets:
        _resolve_conflicts(con, targets, load_id)
        return 0
    # One query finds which targets differ at all (usually none: a re-load of what we know changes nothing) and
    # whether any conflict is open (-1); the open conflicts are settled before anything is written.
    differs = con.execute(
        "SELECT -1 FROM (SELECT 1 FROM qb_link_conflicts WHERE resolved_at IS NULL LIMIT 1) UNION ALL "
        + " UNION ALL ".join(
            f"""SELECT {n} FROM (SELECT 1 FROM qb_links l JOIN "{table}" t ON {join}
                WHERE l.item_type = '{pair.item_type}' AND l.line_table = '{line_table}'{only(pair)}
                  AND (t.origin_id IS DISTINCT FROM {linked} OR t.origin_data IS DISTINCT FROM {data_of(line_table)})
                LIMIT 1)"""
            for n, (pair, table, linked, join, line_table) in enumerate(targets)
        )
    ).fetchall()
    if (-1,) in differs:
        _resolve_conflicts(con, targets, load_id, known_open=True)
    for (n,) in sorted(differs):
        if n < 0:
            continue
        pair, table, linked, join, line_table = targets[n]
        line_id = "l.line_id" if line_table else "0"
        params = [pair.item_type, line_table]
        scope = "l.item_type = ? AND l.line_table = ?" + only(pair)
        new = con.execute(
            f"""INSERT INTO qb_link_conflicts (conflict_id, "at", load_id, item_type, procore_id, line_table, line_id,
                                               linked_id, procore_id_value, detail)
                SELECT nextval('qb_link_conflict_seq'), now(), ?, l.item_type, l.procore_id, l.line_table,
                       {line_id}, {linked}, t.origin_id,
                       'the Procore export says ' || t.origin_id || ' but qbrecon linked it to ' || {linked}
                       || ': the link was kept; check both records in QuickBooks, then unlink or correct Procore'
                FROM qb_links l JOIN "{table}" t ON {join}
                WHERE {scope} AND t.origin_id IS NOT NULL AND t.origin_id <> {linked}
                  AND NOT EXISTS (SELECT 1 FROM qb_link_conflicts c WHERE c.item_type = l.item_type
                                  AND c.procore_id = l.procore_id AND c.line_table = l.line_table
                                  AND c.line_id = {line_id} AND c.procore_id_value = t.origin_id
                                  AND c.resolved_at IS NULL)
                RETURNING item_type, procore_id, detail""",
            [load_id, *params],
        ).fetchall()
        for item_type, procore_id, detail in new:
            con.execute(
                """INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id,
                                          detail)
                   VALUES (nextval('erp_audit_seq'), now(), NULL, 'qbrecon', 'link_conflict', ?, ?, ?)""",
                [item_type, procore_id, (f"line {table}: " if line_table else "") + detail],
            )
        conflicts += len(new)
        data = data_of(line_table)
        flags = f", {pair.link_flags}" if pair.link_flags and not line_table else ""
        con.execute(
            f"""UPDATE "{table}" t SET origin_id = {linked}, origin_data = {data}{flags}
                FROM qb_links l WHERE {scope} AND {join}
                  AND (t.origin_id IS DISTINCT FROM {linked} OR t.origin_data IS DISTINCT FROM {data})""",
            params,
        )
    return conflicts


def _shares_records(pair: EntityPair, types: set[str]) -> bool:
    """Can a link of ``pair`` point at the same QuickBooks record as one of ``types`` (a CCO's PO is its
    commitment's)? Then its Procore rows follow that record's EditSequence too."""
    return any(p.quickbooks_table == pair.quickbooks_table for p in PAIRS.values() if p.item_type in types)


def shares_records(item_type: str) -> bool:
    """Can another pair's link point at the same QuickBooks record as one of ``item_type`` (a CCO's PO is its
    commitment's)? Only then does an answer for it move other links' EditSequence."""
    return _shares_records(PAIRS[item_type], set(PAIRS) - {item_type})


def _resolve_conflicts(con, targets: list, load_id: int | None, known_open: bool = False) -> None:
    """Open conflicts end when the link they disputed is gone or changed (unlinked, relinked), or when a Procore
    export loaded now (``load_id``) brings the linked id again (Procore was corrected). Before the rows are made to
    show the link, so what this load brought can still be read. ``known_open``: the caller saw an open one."""
    if (
        not known_open
        and not con.execute("SELECT count(*) FROM qb_link_conflicts WHERE resolved_at IS NULL").fetchall()[0][
            0
        ]
    ):
        return
    con.execute(
        """UPDATE qb_link_conflicts c SET resolved_at = now()
           WHERE c.resolved_at IS NULL AND NOT EXISTS (
               SELECT 1 FROM qb_links l WHERE l.item_type = c.item_type AND l.procore_id = c.procore_id
                 AND l.line_table = c.line_table AND l.line_id = c.line_id
                 AND CASE WHEN c.line_table = '' THEN l.quickbooks_id ELSE l.txn_line_id END = c.linked_id)"""
    )
    if load_id is None:
        return
    for pair, table, linked, join, line_table in targets:
        line_id = "l.line_id" if line_table else "0"
        con.execute(
            f"""UPDATE qb_link_conflicts c SET resolved_at = now()
                FROM qb_links l JOIN "{table}" t ON {join}
                WHERE c.resolved_at IS NULL AND l.item_type = ? AND l.line_table = ? AND c.item_type = l.item_type
                  AND c.procore_id = l.procore_id AND c.line_table = l.line_table AND c.line_id = {line_id}
                  AND t."_load_id" = ? AND t.origin_id = {linked}""",
            [pair.item_type, line_table, load_id],
        )


def _record_word(pair: EntityPair) -> str:
    """The QuickBooks record of a pair in QuickBooks' words: 'bill', 'purchase order', 'vendor' ..."""
    table = pair.quickbooks_table or "record"
    return {"customers": "job", "items": "service item", "time_tracking": "time entry"}.get(
        table, table.replace("_", " ").removesuffix("s")
    )


def deleted_reason(pair: EntityPair, quickbooks_id: str, how: str) -> str:
    """What the approver reads about a linked record gone from the QuickBooks company file."""
    what = _record_word(pair)
    return (
        f"deleted in QuickBooks Desktop: the {what} {quickbooks_id} {how}. The link is kept so nothing is sent "
        f"twice; to send it again as a new {what}, unlink it (nothing else of it is in QuickBooks), or reject it"
    )


def mark_deleted(con, rel: str, source: str) -> int:
    """Links whose QuickBooks record is gone from the company file (``rel``: item_type, procore_id, detail) are
    marked, never dropped: the link keeps its ids (a resend cannot add a second record), a Synced item goes to
    Failed to Export with the plain reason, and the audit says how qbrecon learned it. Returns how many were new."""
    new = con.execute(
        f"""UPDATE qb_links l SET deleted_in_quickbooks_at = now(), deleted_detail = r.detail, updated_at = now()
            FROM {rel} r WHERE l.item_type = r.item_type AND l.procore_id = r.procore_id AND l.line_table = ''
              AND l.deleted_in_quickbooks_at IS NULL
            RETURNING l.item_type, l.procore_id"""
    ).fetchall()
    if not new:
        return 0
    con.execute(
        f"""INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id, from_status,
                                   to_status, detail)
            SELECT nextval('erp_audit_seq'), now(), NULL, ?, 'deleted_in_quickbooks', e.item_type, e.procore_id,
                   e.status, CASE WHEN e.status = 'synced' THEN 'failed_to_export' ELSE e.status END, r.detail
            FROM {rel} r JOIN erp_items e ON e.item_type = r.item_type AND e.procore_id = r.procore_id""",
        [source],
    )
    con.execute(
        f"""UPDATE erp_items e SET status = 'failed_to_export', last_error_code = NULL, last_error_message = r.detail,
                   error_class = 'deleted_in_quickbooks', updated_at = now()
            FROM {rel} r WHERE e.item_type = r.item_type AND e.procore_id = r.procore_id AND e.status = 'synced'"""
    )
    return len(new)


def deleted_line_reason(pair: EntityPair, quickbooks_id: str, txn_line_ids: list[str], how: str) -> str:
    """What the approver reads about lines of a linked record deleted in QuickBooks (the record stays)."""
    what = _record_word(pair)
    ids = ", ".join(sorted(set(txn_line_ids)))
    which = f"line {ids} was" if len(set(txn_line_ids)) == 1 else f"lines {ids} were"
    return (
        f"a line was deleted in QuickBooks Desktop: {which} removed from the {what} {quickbooks_id} ({how}). "
        f"Retry sends the {what} again with the line added back as a new line (nothing is added twice), "
        "or reject it"
    )


def mark_lines_deleted(con, rel: str, source: str) -> int:
    """Line links whose QuickBooks line is gone while its record stays (``rel``: item_type, procore_id, line_table,
    line_id, detail) are marked like records: the link keeps its ids for the audit trail, the Procore line shows
    no ``origin_id`` (the next Mod sends it as a new line, never a Mod of a line QuickBooks no longer has), a
    Synced item goes to Failed to Export with the plain reason, and the audit says how qbrecon learned it.
    Returns how many line links were newly marked."""
    new = con.execute(
        f"""UPDATE qb_links l SET deleted_in_quickbooks_at = now(), deleted_detail = r.detail, updated_at = now()
            FROM {rel} r WHERE l.item_type = r.item_type AND l.procore_id = r.procore_id
              AND l.line_table = r.line_table AND l.line_id = r.line_id AND l.line_table <> ''
              AND l.deleted_in_quickbooks_at IS NULL
            RETURNING l.item_type, l.procore_id"""
    ).fetchall()
    if not new:
        return 0
    for pair in PAIRS.values():
        for line in pair.lines:
            if shows_link(line):
                con.execute(
                    f"""UPDATE "{line.table}" t SET origin_id = NULL FROM {rel} r
                        WHERE r.item_type = ? AND r.line_table = ? AND t.id = r.line_id""",
                    [pair.item_type, line.table],
                )
    items = f"(SELECT item_type, procore_id, any_value(detail) AS detail FROM {rel} GROUP BY 1, 2)"
    con.execute(
        f"""INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id, from_status,
                                   to_status, detail)
            SELECT nextval('erp_audit_seq'), now(), NULL, ?, 'line_deleted_in_quickbooks', e.item_type,
                   e.procore_id, e.status, CASE WHEN e.status = 'synced' THEN 'failed_to_export' ELSE e.status END,
                   r.detail
            FROM {items} r JOIN erp_items e ON e.item_type = r.item_type AND e.procore_id = r.procore_id""",
        [source],
    )
    con.execute(
        f"""UPDATE erp_items e SET status = 'failed_to_export', last_error_code = NULL, last_error_message = r.detail,
                   error_class = 'line_deleted_in_quickbooks', updated_at = now()
            FROM {items} r WHERE e.item_type = r.item_type AND e.procore_id = r.procore_id AND e.status = 'synced'"""
    )
    return len(new)


def live_line_links(con, item_type: str, procore_id: int) -> list[tuple[str, int, str]]:
    """(line_table, line_id, TxnLineID) of the item's line links not marked deleted."""
    return con.execute(
        """SELECT line_table, line_id, txn_line_id FROM qb_links WHERE item_type = ? AND procore_id = ?
             AND line_table <> '' AND txn_line_id IS NOT NULL AND deleted_in_quickbooks_at IS NULL""",
        [item_type, procore_id],
    ).fetchall()


def learn_deleted_lines(con, load_id: int, source: str, tables: Iterable[str] | None = None) -> int:
    """After a read of QuickBooks records with their lines (load ``load_id``, which wrote ``tables``): a linked
    line missing from a record whose lines that read stored is gone from the company file while the record
    stays. Marked with ``mark_lines_deleted``; returns how many line links were marked."""
    rows = []
    read = None if tables is None else set(tables)
    for pair in PAIRS.values():
        if not (pair.exportable and pair.quickbooks_lines and any(x.linked for x in pair.lines)):
            continue
        if read is not None and pair.quickbooks_lines not in read:
            continue
        child, spec = pair.quickbooks_lines, TABLES[pair.quickbooks_lines]
        txn, txn_line = spec.key[0], spec.key[1]
        found = con.execute(
            f"""SELECT l.item_type, l.procore_id, l.line_table, l.line_id, l.quickbooks_id, l.txn_line_id
                FROM qb_links l JOIN qb_links r ON r.item_type = l.item_type AND r.procore_id = l.procore_id
                     AND r.line_table = '' AND r.deleted_in_quickbooks_at IS NULL
                WHERE l.item_type = ? AND l.line_table <> '' AND l.txn_line_id IS NOT NULL
                  AND l.deleted_in_quickbooks_at IS NULL
                  AND l.quickbooks_id IN (SELECT "{txn}" FROM "{child}" WHERE "_load_id" = ?)
                  AND NOT EXISTS (SELECT 1 FROM "{child}" c WHERE c."{txn}" = l.quickbooks_id
                                  AND c."{txn_line}" = l.txn_line_id)""",
            [pair.item_type, load_id],
        ).fetchall()
        rows += [(pair, *r) for r in found]
    if not rows:
        return 0
    gone: dict[tuple[str, int], list[str]] = {}
    for _pair, item_type, pid, _t, _i, _qb, txn_line_id in rows:
        gone.setdefault((item_type, int(pid)), []).append(txn_line_id)
    how = "QuickBooks no longer lists it when qbrecon read the record again"
    found = pa.table(
        {
            "item_type": [r[1] for r in rows],
            "procore_id": pa.array([int(r[2]) for r in rows], pa.int64()),
            "line_table": [r[3] for r in rows],
            "line_id": pa.array([int(r[4]) for r in rows], pa.int64()),
            "detail": [deleted_line_reason(r[0], r[5], gone[(r[1], int(r[2]))], how) for r in rows],
        }
    )
    con.register("_lines_deleted", found)
    try:
        return mark_lines_deleted(con, "_lines_deleted", source)
    finally:
        con.unregister("_lines_deleted")


def learn_deleted(con, table: str, where: str | None, read_since) -> int:
    """After a refresh that read *every* record of a QuickBooks table (with ``where``, the part one query reads):
    rows stored before that read began and not read by it are gone from the company file. They leave the
    workspace's QuickBooks tables (with their lines), so reconciliation reports the Procore side as missing in
    QuickBooks, and the links to them are marked (``mark_deleted``). Returns how many links were marked."""
    key = TABLES[table].key[0]
    cond = f" AND ({where})" if where else ""
    gone = f"""SELECT "{key}" AS quickbooks_id FROM "{table}" WHERE "_loaded_at" < ?{cond}"""
    if not con.execute(f"SELECT count(*) FROM ({gone})", [read_since]).fetchall()[0][0]:
        return 0
    pairs = [p for p in PAIRS.values() if p.exportable and p.quickbooks_table == table]
    day = con.execute("SELECT strftime(now(), '%Y-%m-%d %H:%M UTC')").fetchall()[0][0]
    marked = 0
    if pairs:
        types = ", ".join(f"'{p.item_type}'" for p in pairs)
        rows = con.execute(
            f"""SELECT l.item_type, l.procore_id, l.quickbooks_id FROM qb_links l
                WHERE l.line_table = '' AND l.item_type IN ({types}) AND l.deleted_in_quickbooks_at IS NULL
                  AND l.quickbooks_id IN ({gone})""",
            [read_since],
        ).fetchall()
        if rows:
            how = f"was not in the company file when qbrecon read every one of them ({day})"
            found = pa.table(
                {
                    "item_type": [r[0] for r in rows],
                    "procore_id": pa.array([int(r[1]) for r in rows], pa.int64()),
                    "detail": [deleted_reason(PAIRS[r[0]], r[2], how) for r in rows],
                }
            )
            con.register("_links_deleted", found)
            try:
                marked = mark_deleted(con, "_links_deleted", "QuickBooks Desktop (full refresh)")
            finally:
                con.unregister("_links_deleted")
    for child, spec in TABLES.items():
        if spec.meta.get("parent") == table:
            con.execute(f'DELETE FROM "{child}" WHERE "{key}" IN ({gone})', [read_since])
    con.execute(f'DELETE FROM "{table}" WHERE "{key}" IN ({gone})', [read_since])
    return marked


def link_from_procore(con) -> int:
    """Links for Synced queue items that have none yet (Procore said they were linked, a link made before
    qbrecon kept links, a vendor linked by hand): the record from the queue row, the lines from their
    ``origin_id``, the fingerprint as the data is now. Returns how many record links were added."""
    added = con.execute(
        """INSERT INTO qb_links (item_type, procore_id, line_table, line_id, quickbooks_id, edit_sequence, fingerprint,
                                 source, linked_at, updated_at)
           SELECT e.item_type, e.procore_id, '', 0, e.quickbooks_id, e.edit_sequence, f.fingerprint, 'procore',
                  now(), now()
           FROM erp_items e LEFT JOIN erp_fingerprints f ON f.item_type = e.item_type AND f.procore_id = e.procore_id
           WHERE e.status = 'synced' AND e.quickbooks_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM qb_links l WHERE l.item_type = e.item_type AND l.procore_id = e.procore_id
                             AND l.line_table = '')
           RETURNING 1"""
    ).fetchall()
    for pair in PAIRS.values():  # the EditSequence Procore knew, when the queue row has none
        if pair.exportable and pair.link_column:
            filt = f" AND t.{pair.row_filter}" if pair.row_filter else ""
            con.execute(
                f"""UPDATE qb_links l SET edit_sequence = json_extract_string(t.origin_data, '$.edit_sequence')
                    FROM "{pair.procore_table}" t
                    WHERE l.item_type = ? AND l.line_table = '' AND l.edit_sequence IS NULL AND t.id = l.procore_id
                      AND t.origin_id = l.quickbooks_id{filt}
                      AND json_extract_string(t.origin_data, '$.edit_sequence') IS NOT NULL""",
                [pair.item_type],
            )
    for pair in PAIRS.values():
        for line in pair.lines:
            if not shows_link(line):
                continue
            con.execute(
                f"""INSERT INTO qb_links (item_type, procore_id, line_table, line_id, quickbooks_id, txn_line_id,
                                          source, linked_at, updated_at)
                    SELECT l.item_type, t.{line.parent_key}, ?, t.id, l.quickbooks_id, t.origin_id, 'procore', now(), now()
                    FROM "{line.table}" t JOIN qb_links l ON l.item_type = ? AND l.procore_id = t.{line.parent_key}
                         AND l.line_table = ''
                    WHERE t.origin_id IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM qb_links x WHERE x.item_type = l.item_type
                                      AND x.procore_id = l.procore_id AND x.line_table = ? AND x.line_id = t.id)""",
                [line.table, pair.item_type, line.table],
            )
    return len(added)


_RETURN_COUNTER = iter(range(1, 1 << 62))


def return_updates(con, moved: str | None = None) -> int:
    """Synced items changed in Procore since their link's fingerprint -> Ready to Export (an update, audited
    ``procore_update``), accepted as the pair's Mod request. Run after every load, and for every answer applied:
    the link keeps the fingerprint of what was *sent*, so a change that arrived while the request was out (or in
    doubt after a crash) comes back at once instead of hiding behind Synced until the next load. ``moved``: a
    relation (item_type, procore_id) of the items an answer just synced whose Procore record no longer has the
    fingerprint the request was built from (the export ledger compares them while it links them), so only those
    are looked at."""
    from .entities import EXPORTABLE  # after the pair modules registered

    updatable = [t for t in EXPORTABLE if PAIRS[t].updatable]
    if not updatable:
        return 0
    types = ", ".join(f"'{t}'" for t in updatable)
    if moved is not None:
        rows = con.execute(
            f"""SELECT e.item_type, e.procore_id FROM {moved} m
                JOIN erp_items e ON e.item_type = m.item_type AND e.procore_id = m.procore_id
                WHERE e.status = 'synced' AND e.item_type IN ({types})"""
        ).fetchall()
    else:
        rows = con.execute(
            f"""SELECT e.item_type, e.procore_id FROM erp_items e
                JOIN qb_links l ON l.item_type = e.item_type AND l.procore_id = e.procore_id AND l.line_table = ''
                JOIN erp_fingerprints f ON f.item_type = e.item_type AND f.procore_id = e.procore_id
                WHERE e.status = 'synced' AND e.item_type IN ({types})
                  AND l.fingerprint IS NOT NULL AND f.fingerprint <> l.fingerprint"""
        ).fetchall()
    if not rows:
        return 0
    changed = pa.table(
        {"item_type": [r[0] for r in rows], "procore_id": pa.array([r[1] for r in rows], pa.int64())}
    )
    name = f"_qbr_updates_{next(_RETURN_COUNTER)}"
    con.register(name, changed)
    try:
        mods = (
            "CASE u.item_type "
            + " ".join(f"WHEN '{t}' THEN '{PAIRS[t].mod_request}'" for t in updatable)
            + " END"
        )
        con.execute(
            f"""INSERT INTO erp_audit (audit_id, "at", actor, actor_name, action, item_type, procore_id,
                                       from_status, to_status, detail)
                SELECT nextval('erp_audit_seq'), now(), NULL, 'Procore', 'procore_update', u.item_type,
                       u.procore_id, 'synced', 'ready_to_export',
                       'changed in Procore since it was synced to QuickBooks ' || e.quickbooks_id
                       || ': back for approval as an update (' || {mods} || ')'
                FROM {name} u JOIN erp_items e ON e.item_type = u.item_type AND e.procore_id = u.procore_id"""
        )
        con.execute(
            f"""UPDATE erp_items e SET status = 'ready_to_export', sent_at = now(), sent_by = NULL,
                       decided_by = NULL, decided_at = NULL, reason = NULL, updated_at = now()
                FROM {name} u WHERE e.item_type = u.item_type AND e.procore_id = u.procore_id"""
        )
    finally:
        con.unregister(name)
    return changed.num_rows


__all__ = [
    "LINKS_VERSION",
    "apply_to_procore",
    "deleted_line_reason",
    "deleted_reason",
    "learn_deleted",
    "learn_deleted_lines",
    "live_line_links",
    "mark_deleted",
    "mark_lines_deleted",
    "fingerprint_sql",
    "fingerprints_view",
    "link_from_procore",
    "record_line_links",
    "record_links",
    "remove",
    "return_updates",
    "shares_records",
]
