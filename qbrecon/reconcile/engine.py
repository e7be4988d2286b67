"""The reconciliation run: match, compare, explain, summarise, all in DuckDB SQL over the stored tables.

One run builds connection-local temp tables (``_qbr_*``) under the store's lock, reads the three result
frames through Arrow (money stays decimal) and drops the temp tables again. Per pair:

1. the Procore and QuickBooks sides (``rules.PairRule``) become ``_qbr_<pair>_p`` / ``_q``;
2. matching: by link (``origin_id`` = ListID/TxnID), then by business key among the unlinked; a key with
   several candidates on either side is ``ambiguous_match`` and never linked;
3. compared fields of matched records, then lines per QuickBooks item under matched headers;
4. records only on one side, explained from the ERP state (``erp_items``/``invoices.erp_status``);
5. explanations refine the generic reason (edit sequences, retainage, CCOs, renamed vendors).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import InputError
from ..reasons import REASONS, reason_text
from ..store import Store
from . import rules
from .lines import line_join_sql, within_sql
from .matching import suggest
from .result import Reconciliation

Tolerance = float | int | str | Decimal | dict[str, Any] | None

DIFF_DDL = """CREATE OR REPLACE TEMP TABLE _qbr_diff (
    pair VARCHAR, level VARCHAR, procore_id VARCHAR, quickbooks_id VARCHAR, project VARCHAR, vendor VARCHAR,
    number VARCHAR, cost_code VARCHAR, field VARCHAR, procore_value VARCHAR, quickbooks_value VARCHAR,
    delta DECIMAL(18,2), reason VARCHAR, matched_by VARCHAR)"""

# One row per pair. The counts split the Procore records: procore_records = matched_equal +
# matched_with_differences + only_in_procore + ambiguous + not_exported (still in the approval queue) +
# explained_elsewhere (job-to-date keys whose money an invoice finding already explains). The money ties out:
# procore_total - quickbooks_total = in_queue_total + explained_elsewhere_total + within_tolerance_total + delta,
# and delta is the sum of the pair's counted finding deltas (abs_delta of their absolute values).
SUMMARY_DDL = """CREATE OR REPLACE TEMP TABLE _qbr_summary (
    pair VARCHAR, label VARCHAR, amount VARCHAR, procore_records BIGINT, quickbooks_records BIGINT,
    matched_equal BIGINT, matched_with_differences BIGINT, only_in_procore BIGINT, only_in_quickbooks BIGINT,
    ambiguous BIGINT, not_exported BIGINT, explained_elsewhere BIGINT, differences BIGINT,
    procore_total DECIMAL(18,2), in_queue_total DECIMAL(18,2), quickbooks_total DECIMAL(18,2),
    explained_elsewhere_total DECIMAL(18,2), within_tolerance_total DECIMAL(18,2),
    delta DECIMAL(18,2), abs_delta DECIMAL(18,2))"""

# A finding's delta adds up to its pair's Delta when it is a whole record or the compared total (``amount``);
# line findings and other money fields (retainage) explain such a delta and are never added again.
COUNTED_SQL = "(delta IS NOT NULL AND (level = 'record' OR (level = 'header' AND field = 'amount')))"

DIFF_COLUMNS = (
    "pair, level, procore_id, quickbooks_id, project, vendor, number, cost_code, field, "
    "procore_value, quickbooks_value, delta, reason, matched_by"
)


# -- tolerances ---------------------------------------------------------------------------------------------
def _dec(value: Any, what: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InputError(f"expected a number, got {value!r}", field=what) from None
    if not d.is_finite() or d < 0:
        raise InputError(f"expected a non-negative number, got {value!r}", field=what)
    return d


def parse_tolerance(tolerance: Tolerance) -> dict[str, tuple[Decimal, Decimal]]:
    """``0.01`` (absolute, every money field) or ``{"amount": {"abs": 0.01, "rel": 0}, "retainage": 0}``.

    Returns ``{field: (abs, rel)}``; the key ``"*"`` is the default for money fields not named. A pair of
    values match when ``|procore - quickbooks| <= abs + rel * |quickbooks|`` (numpy/datacompy's isclose).
    """
    out: dict[str, tuple[Decimal, Decimal]] = {"*": (Decimal(0), Decimal(0))}
    if tolerance is None:
        return out
    if not isinstance(tolerance, dict):
        out["*"] = (_dec(tolerance, "tolerance"), Decimal(0))
        return out
    for name, spec in tolerance.items():
        if isinstance(spec, dict):
            unknown = set(spec) - {"abs", "rel"}
            if unknown:
                raise InputError(f"unknown tolerance keys {sorted(unknown)}; use 'abs' and 'rel'", field=name)
            out[name] = (_dec(spec.get("abs", 0), f"{name}.abs"), _dec(spec.get("rel", 0), f"{name}.rel"))
        else:
            out[name] = (_dec(spec, name), Decimal(0))
    return out


_within = within_sql  # one definition of "equal within tolerance" for fields and lines


# -- the run ------------------------------------------------------------------------------------------------
class Engine:
    """One reconciliation over a store. Use ``run()``; everything happens under the store's lock."""

    def __init__(self, store: Store, tolerance: Tolerance = None, as_of: dt.date | str | None = None):
        self.store = store
        self.tolerance = parse_tolerance(tolerance)
        self.as_of = _as_of(as_of)
        self._temp: list[str] = []

    def tol(self, field: str) -> tuple[Decimal, Decimal]:
        return self.tolerance.get(field, self.tolerance["*"])

    def x(self, sql: str, params: list | None = None) -> None:
        self.store.con.execute(sql, params or [])

    def temp(self, name: str, select: str) -> None:
        self.x(f"CREATE OR REPLACE TEMP TABLE {name} AS {select}")
        self._temp.append(name)

    def run(
        self, pairs: Iterable[str] | None = None, progress: Callable[[str], None] | None = None
    ) -> Reconciliation:
        wanted = _pairs(pairs)
        with self.store._lock:
            try:
                self._setup()
                # the list pairs always run: their matches are the vendor/job/item maps transactions use
                for name in rules.LIST_PAIRS:
                    self.run_pair(rules.RULES[name], report=name in wanted)
                    if name in wanted and progress:
                        progress(name)
                self._maps()
                # a roll-up (job-to-date costs) is built on a pair's findings: that pair runs first whenever needed
                needed = set(wanted) | {
                    rules.RULES[n].extra["after"]
                    for n in wanted
                    if isinstance(rules.RULES.get(n), rules.PairRule) and "after" in rules.RULES[n].extra
                }
                for name in rules.ALL_PAIRS:
                    if name in rules.LIST_PAIRS or name not in needed:
                        continue
                    rule = rules.RULES[name]
                    if isinstance(rule, rules.OwnReport):
                        self._own_report(rule)
                    else:
                        self.run_pair(rule, report=True)
                    if progress and name in wanted:
                        progress(name)
                keep = ", ".join(f"'{p}'" for p in wanted)
                self.x(f"DELETE FROM _qbr_diff WHERE pair NOT IN ({keep})")
                self.x(f"DELETE FROM _qbr_summary WHERE pair NOT IN ({keep})")
                differences = self.store.frame(
                    f"""SELECT {DIFF_COLUMNS}, {COUNTED_SQL} AS counted FROM _qbr_diff
                        ORDER BY list_position({list(rules.ALL_PAIRS)}, pair), project NULLS LAST, vendor NULLS LAST,
                                 procore_id NULLS LAST, quickbooks_id NULLS LAST, level, cost_code NULLS FIRST, field"""
                )
                summary = self.store.frame(
                    f"SELECT * FROM _qbr_summary ORDER BY list_position({list(rules.ALL_PAIRS)}, pair)"
                )
                candidates = {
                    # unmatched Procore records that belong in QuickBooks (reported or pending export)
                    name: (
                        self.store.frame(f"""SELECT procore_id, label FROM _qbr_{name}_p p
                                                WHERE (expected OR eligible) AND label IS NOT NULL
                                                  AND procore_id NOT IN (SELECT procore_id FROM _qbr_{name}_m)
                                                  AND procore_id NOT IN (SELECT procore_id FROM _qbr_{name}_c)"""),
                        self.store.frame(f"""SELECT quickbooks_id, label FROM _qbr_{name}_q q
                                                WHERE label IS NOT NULL AND quickbooks_id IN
                                                (SELECT quickbooks_id FROM _qbr_diff WHERE pair = '{name}'
                                                  AND reason = 'only_in_quickbooks')"""),
                    )
                    for name in rules.LIST_PAIRS
                    if name in wanted
                }
            finally:
                self._cleanup()
        differences["reason_text"] = differences["reason"].map(REASONS).fillna(differences["reason"])
        differences["reason_text"] = differences["reason_text"].astype("string[pyarrow]")
        return Reconciliation(
            summary=summary,
            differences=differences,
            suggestions=suggest(candidates),
            tolerance={k: {"abs": str(a), "rel": str(r)} for k, (a, r) in self.tolerance.items()},
            as_of=self.as_of,
            pairs=wanted,
        )

    # -- set-up -------------------------------------------------------------------------------------------
    def _setup(self) -> None:
        for macro in rules.MACROS:
            self.x(macro)
        tables = self.store.table_names()
        # read once per run: a workspace without open link conflicts needs no conflict query per pair
        self._has_link_conflicts = "qb_link_conflicts" in tables and bool(
            self.x_one("SELECT EXISTS (FROM qb_link_conflicts WHERE resolved_at IS NULL)")[0]
        )
        retainage_setting = None
        if "erp_settings" in tables:
            row = self.x_one("SELECT value FROM erp_settings WHERE key = 'invoice_retainage_item'")
            if row and row[0]:
                retainage_setting = row[0]
        # the retainage item: the ERP setting when there is one, else the service item named "Retainage"
        self.x(
            "CREATE OR REPLACE TEMP TABLE _qbr_params AS SELECT coalesce("
            "CASE WHEN $1::VARCHAR IS NOT NULL AND json_valid($1::VARCHAR) THEN coalesce("
            "json_extract_string($1::VARCHAR, '$.ListID'), (SELECT any_value(\"ListID\") FROM items "
            "WHERE lower(\"FullName\") = lower(json_extract_string($1::VARCHAR, '$.FullName')))) END, "
            '(SELECT min("ListID") FROM items WHERE lower(trim("Name")) = \'retainage\' '
            "AND lower(replace(\"ItemType\", 'Item', '')) = 'service')) AS retainage_item, $2::DATE AS as_of",
            [retainage_setting, self.as_of],
        )
        self._temp.append("_qbr_params")
        if "erp_items" in tables:
            self.temp(
                "_qbr_erp",
                """SELECT item_type, CAST(procore_id AS VARCHAR) AS procore_id, status, quickbooks_id
                                     FROM erp_items""",
            )
        else:
            self.temp(
                "_qbr_erp",
                """SELECT NULL::VARCHAR AS item_type, NULL::VARCHAR AS procore_id,
                                            NULL::VARCHAR AS status, NULL::VARCHAR AS quickbooks_id WHERE false""",
            )
        self.x(DIFF_DDL)
        self.x(SUMMARY_DDL)
        self._temp += ["_qbr_diff", "_qbr_summary"]

    def x_one(self, sql: str, params: list | None = None) -> tuple | None:
        rows = self.store.con.execute(sql, params or []).fetchall()  # fetch all: leave no open result behind
        return rows[0] if rows else None

    def _maps(self) -> None:
        """The list pairs' matches become the maps transactions are matched and compared with (each list pair
        declares its own: ``PairRule.maps``)."""
        for name in rules.LIST_PAIRS:
            for table, select in rules.RULES[name].maps:
                self.temp(table, select)

    def _cleanup(self) -> None:
        for name in reversed(self._temp):
            try:
                self.x(f"DROP TABLE IF EXISTS {name}")
            except Exception:  # noqa: BLE001 - a failed run must still release what it can
                pass
        self._temp.clear()

    # -- one pair -----------------------------------------------------------------------------------------
    def run_pair(self, rule: rules.PairRule, report: bool = True) -> None:
        n = rule.pair
        P, Q, C, M = (f"_qbr_{n}_{s}" for s in "pqcm")  # noqa: N806 - table names
        for name, select in rule.prepare:
            self.temp(name, select)
        self.temp(P, rule.procore_sql)
        self.temp(Q, rule.quickbooks_sql)
        # candidates by business key among records that carry no link (and QuickBooks records nobody links to)
        self.temp(
            C,
            f"""WITH pf AS (SELECT procore_id, bkey FROM {P} WHERE link_id IS NULL AND bkey IS NOT NULL),
                     qf AS (SELECT quickbooks_id, bkey FROM {Q} WHERE bkey IS NOT NULL
                              AND quickbooks_id NOT IN (SELECT link_id FROM {P} WHERE link_id IS NOT NULL))
                SELECT pf.procore_id, qf.quickbooks_id,
                       count(*) OVER (PARTITION BY pf.procore_id) AS n_q,
                       count(*) OVER (PARTITION BY qf.quickbooks_id) AS n_p
                  FROM pf JOIN qf USING (bkey)""",
        )
        self.temp(
            M,
            f"""SELECT *, TRY_CAST(procore_id AS BIGINT) AS procore_num FROM (
                SELECT p.procore_id, q.quickbooks_id, 'link' AS matched_by
                  FROM {P} p JOIN {Q} q ON q.quickbooks_id = p.link_id
                UNION ALL
                SELECT procore_id, quickbooks_id, 'key' FROM {C} WHERE n_q = 1 AND n_p = 1)""",
        )
        if not report:
            return
        # a pair with no record on either side has no field, line, stale or one-sided finding (many workspaces
        # leave pairs unused): only its open link conflicts and its summary row, not ~5 statements of nothing
        empty = self.x_one(f"SELECT NOT EXISTS (FROM {P}) AND NOT EXISTS (FROM {Q})")
        if not (empty and empty[0]):
            self._field_differences(rule, P, Q, M)
            if rule.lines is not None:
                self._line_differences(rule, M)
        # stale edit sequences, open link conflicts and one-sided records in one statement: the stale check reads
        # the field and line findings inserted before it, which is all it read when these were three statements
        selects = [self._link_conflicts_sql(rule.pair, P, M)]
        if not (empty and empty[0]):
            selects += [self._stale_sql(rule, P, Q, M), self._one_sided_sql(rule, P, Q, C, M)]
        self._insert_findings(selects)
        self._summary(rule, P, Q, C, M)

    def _insert_findings(self, selects: list[tuple[str, str] | None]) -> None:
        """One ``INSERT INTO _qbr_diff`` of several finding queries, each ``(with_clauses, select)``."""
        parts = [s for s in selects if s is not None]
        if not parts:
            return
        withs = ", ".join(w for w, _ in parts if w)
        self.x(
            f"INSERT INTO _qbr_diff ({DIFF_COLUMNS}) "
            + (f"WITH {withs} " if withs else "")
            + "\nUNION ALL\n".join(f"({sel})" for _, sel in parts)
        )

    def _field_differences(self, rule: rules.PairRule, P: str, Q: str, M: str) -> None:  # noqa: N803
        selects = []
        for f in rule.fields:
            p, q = f"p.{f.name}", f"q.{f.name}"
            if f.kind == "money":
                differs = f"NOT ({_within(p, q, self.tol(f.name))})"
                delta = f"coalesce({p}, 0) - coalesce({q}, 0)"
                changed = (
                    "WHEN m.matched_by = 'link' AND qbr_newer(q.edit_seq, p.edit_seq) "
                    "THEN 'amount_changed_in_quickbooks'"
                )
            elif f.kind == "text":
                # matched by business key means the normalised names agree: only a linked record's name can differ
                differs = f"m.matched_by = 'link' AND trim({p}) IS DISTINCT FROM trim({q})"
                delta, changed = "NULL", ""
            else:  # id, date: exact; an id Procore does not know (unlinked vendor/job) is not compared
                differs = (
                    f"{p} IS NOT NULL AND {p} IS DISTINCT FROM {q}"
                    if f.kind == "id"
                    else f"{p} IS DISTINCT FROM {q}"
                )
                delta, changed = "NULL", ""
            selects.append(
                f"""SELECT '{rule.pair}', 'header', m.procore_id, m.quickbooks_id, coalesce(p.project, q.project),
                           coalesce(p.vendor, q.vendor), coalesce(p.number, q.number), NULL, '{f.name}',
                           CAST({p} AS VARCHAR), CAST({q} AS VARCHAR), {delta},
                           CASE {f.explain} {changed} WHEN true THEN '{f.reason}' END, m.matched_by
                      FROM mpq m WHERE {differs}"""
            )
        # matched pairs joined once; every field reads the same rows (p.* and q.* as structs)
        self.x(
            f"""INSERT INTO _qbr_diff ({DIFF_COLUMNS})
                   WITH mpq AS MATERIALIZED (SELECT m.procore_id, m.quickbooks_id, m.matched_by, p, q
                                               FROM {M} m JOIN {P} p USING (procore_id) JOIN {Q} q USING (quickbooks_id))
                   """
            + "\nUNION ALL\n".join(selects)
        )

    def _line_differences(self, rule: rules.PairRule, M: str) -> None:  # noqa: N803
        """Lines per QuickBooks item under matched headers, aggregated and joined on integer keys: the Procore
        header id and a 64-bit hash of the item key (QuickBooks lines reach the Procore id through the match).
        Item labels come from a small lookup afterwards, for the differing lines only."""
        assert rule.lines is not None
        tol = self.tol("amount")
        self.x(
            f"""INSERT INTO _qbr_diff ({DIFF_COLUMNS})
            WITH pl AS (SELECT procore_num, hash(item_key) AS ih, sum(amount) AS amount
                          FROM ({rule.lines.procore_sql}) GROUP BY ALL),
                 ql AS (SELECT m.procore_num, hash(l.item_key) AS ih, sum(l.amount) AS amount
                          FROM ({rule.lines.quickbooks_sql}) l JOIN {M} m ON m.quickbooks_id = l.quickbooks_id
                         GROUP BY ALL),
                 j AS ({line_join_sql("pl", "ql", ("procore_num", "ih"), tol)}),
                 jm AS (SELECT m.procore_id, m.quickbooks_id, m.matched_by, il.code, j.pa, j.qa, j.only_q, j.only_p
                          FROM j JOIN {M} m ON m.procore_num = j.procore_num
                          LEFT JOIN _qbr_item_label il ON il.ih = j.ih),
                 hdr AS (SELECT procore_id, quickbooks_id, any_value(reason) AS reason, any_value(project) AS project,
                                any_value(vendor) AS vendor, any_value(number) AS number
                           FROM _qbr_diff WHERE pair = '{rule.pair}' AND level = 'header' AND field = 'amount'
                          GROUP BY ALL)
            SELECT '{rule.pair}', 'line', j.procore_id, j.quickbooks_id, coalesce(hdr.project, p.project, q.project),
                   coalesce(hdr.vendor, p.vendor, q.vendor), coalesce(hdr.number, p.number, q.number), j.code,
                   'amount', CAST(j.pa AS VARCHAR), CAST(j.qa AS VARCHAR), coalesce(j.pa, 0) - coalesce(j.qa, 0),
                   CASE WHEN hdr.reason IS NOT NULL AND hdr.reason <> 'amount_differs' THEN hdr.reason
                        WHEN j.only_p THEN 'line_missing_in_quickbooks'
                        WHEN j.only_q THEN 'line_only_in_quickbooks' ELSE 'amount_differs' END,
                   j.matched_by
              FROM jm j LEFT JOIN hdr USING (procore_id, quickbooks_id)
              LEFT JOIN _qbr_{rule.pair}_p p USING (procore_id) LEFT JOIN _qbr_{rule.pair}_q q USING (quickbooks_id)"""
        )
        # a header total that differs only because of lines takes the lines' explanation
        self.x(
            f"""UPDATE _qbr_diff h SET reason = l.reason
                  FROM (SELECT procore_id, quickbooks_id, min(reason) AS reason FROM _qbr_diff
                         WHERE pair = '{rule.pair}' AND level = 'line' GROUP BY ALL
                        HAVING count(DISTINCT reason) = 1) l
                 WHERE h.pair = '{rule.pair}' AND h.level = 'header' AND h.field = 'amount'
                   AND h.reason = 'amount_differs' AND h.procore_id = l.procore_id
                   AND h.quickbooks_id = l.quickbooks_id"""
        )

    def _stale_sql(self, rule: rules.PairRule, P: str, Q: str, M: str) -> tuple[str, str]:  # noqa: N803
        """Linked, equal, yet QuickBooks was modified after Procore's last sync: the next Mod would be refused."""
        return (
            "",
            f"""SELECT '{rule.pair}', 'header', m.procore_id, m.quickbooks_id, coalesce(p.project, q.project),
                       coalesce(p.vendor, q.vendor), coalesce(p.number, q.number), NULL, 'EditSequence',
                       p.edit_seq, q.edit_seq, NULL, 'stale_edit_sequence', m.matched_by
                  FROM {M} m JOIN {P} p USING (procore_id) JOIN {Q} q USING (quickbooks_id)
                 WHERE m.matched_by = 'link' AND qbr_newer(q.edit_seq, p.edit_seq)
                   AND NOT EXISTS (SELECT 1 FROM _qbr_diff d WHERE d.pair = '{rule.pair}'
                                      AND d.procore_id = m.procore_id AND d.quickbooks_id = m.quickbooks_id)""",
        )

    def _link_conflicts_sql(self, pair: str, P: str, M: str | None) -> tuple[str, str] | None:  # noqa: N803
        """Open link conflicts (a Procore export named another QuickBooks record than qbrecon's link; the link was
        kept): one header finding each, Procore's value against the linked id, for the admin to decide."""
        if not self._has_link_conflicts:
            return None
        match = f"LEFT JOIN {M} m ON m.procore_id = p.procore_id" if M else ""
        return (
            "",
            f"""SELECT '{pair}', 'header', CAST(c.procore_id AS VARCHAR), coalesce({"m.quickbooks_id, " if M else ""}
                       rl.quickbooks_id, c.linked_id), p.project, p.vendor, p.number, NULL,
                       CASE WHEN c.line_table = '' THEN 'origin_id' ELSE c.line_table || ' ' || c.line_id || ' origin_id' END,
                       c.procore_id_value, c.linked_id, NULL, 'link_conflict', 'link'
                  FROM qb_link_conflicts c
                  LEFT JOIN qb_links rl ON rl.item_type = c.item_type AND rl.procore_id = c.procore_id
                       AND rl.line_table = ''
                  LEFT JOIN {P} p ON p.procore_id = CAST(c.procore_id AS VARCHAR) {match}
                 WHERE c.item_type = '{pair}' AND c.resolved_at IS NULL""",
        )

    def _one_sided_sql(self, rule: rules.PairRule, P: str, Q: str, C: str, M: str) -> tuple[str, str]:  # noqa: N803
        """Records on one side only. Procore records count when QuickBooks should have them (linked, synced or
        failed) or when they can never get there (a name over QuickBooks' limit); the normal workflow (not sent,
        Ready to Export, Rejected) is counted as pending export in the summary, not reported."""
        field = "amount" if rule.amount_label else "name"
        rollup = bool(rule.extra.get("rollup"))
        too_long = "p.link_id IS NULL AND p.name_limit IS NOT NULL AND length(p.limit_value) > p.name_limit"
        if rollup:
            p_reason, q_reason = "'job_cost_differs'", "'job_cost_differs'"
            p_where, q_where = "coalesce(p.amount, 0) <> 0", "coalesce(q.amount, 0) <> 0"
        else:
            # linked yet not in QuickBooks is missing there, whatever the queue says (a record deleted in QuickBooks
            # after sync leaves its item Failed to Export with the reason)
            p_reason = f"""CASE WHEN p.link_id IS NOT NULL AND p.erp_status = 'failed_to_export'
                                    THEN 'missing_in_quickbooks'
                               WHEN p.erp_status = 'failed_to_export' THEN 'failed_to_export'
                               WHEN {too_long} THEN 'name_too_long'
                               WHEN p.link_id IS NOT NULL OR p.erp_status IN ('synced', 'imported')
                                    THEN 'missing_in_quickbooks'
                               ELSE 'not_exported' END"""
            q_reason, q_where = "'only_in_quickbooks'", "true"
            p_where = f"(p.expected OR (p.eligible AND {too_long}))"
        value = "coalesce(CAST({0}.amount AS VARCHAR), {0}.label)"
        return (
            # each ambiguous QuickBooks record's money goes to one finding: its first candidate's
            f"""amb AS (SELECT * FROM {C} WHERE n_q > 1 OR n_p > 1),
                owner AS (SELECT a.procore_id, sum(q.amount) AS amount
                            FROM (SELECT quickbooks_id, min(procore_id) AS procore_id FROM amb GROUP BY ALL) a
                            JOIN {Q} q USING (quickbooks_id) GROUP BY ALL)""",
            f"""SELECT '{rule.pair}', 'record', p.procore_id, p.link_id, p.project, p.vendor, p.number, NULL,
                       '{field}', {value.format("p")}, NULL, p.amount, {p_reason}, NULL
                  FROM {P} p
                 WHERE {p_where} AND p.procore_id NOT IN (SELECT procore_id FROM {M})
                   AND p.procore_id NOT IN (SELECT procore_id FROM amb)
                UNION ALL
                SELECT '{rule.pair}', 'record', q.procore_id, q.quickbooks_id, p.project, p.vendor, p.number, NULL,
                       '{field}', {value.format("p")}, q.candidates,
                       CASE WHEN p.amount IS NOT NULL OR o.amount IS NOT NULL
                            THEN coalesce(p.amount, 0) - coalesce(o.amount, 0) END, 'ambiguous_match', NULL
                  FROM (SELECT procore_id, string_agg(quickbooks_id, ',' ORDER BY quickbooks_id) AS candidates,
                               min(quickbooks_id) AS quickbooks_id
                          FROM amb GROUP BY procore_id) q JOIN {P} p USING (procore_id)
                  LEFT JOIN owner o USING (procore_id)
                UNION ALL
                SELECT '{rule.pair}', 'record', NULL, q.quickbooks_id, q.project, q.vendor, q.number, NULL,
                       '{field}', NULL, {value.format("q")}, -q.amount, {q_reason}, NULL
                  FROM {Q} q
                 WHERE {q_where} AND q.quickbooks_id NOT IN (SELECT quickbooks_id FROM {M})
                   AND q.quickbooks_id NOT IN (SELECT quickbooks_id FROM amb)""",
        )

    def _own_report(self, report: rules.OwnReport) -> None:
        """A pair reported by its own SQL (a CCO: new lines on its commitment's purchase order): its temp tables
        (the first is its Procore side), its findings, its open link conflicts and its summary row."""
        for name, select in report.prepare:
            self.temp(name, select)
        self.x(f"INSERT INTO _qbr_diff ({DIFF_COLUMNS}) {report.findings_sql}")
        self._insert_findings([self._link_conflicts_sql(report.pair, report.prepare[0][0], None)])
        self.x(f"INSERT INTO _qbr_summary {report.summary_sql}", [report.label])

    def _summary(self, rule: rules.PairRule, P: str, Q: str, C: str, M: str) -> None:  # noqa: N803
        """One summary row; see ``SUMMARY_DDL`` for how its counts and money tie out.

        Also keeps ``_qbr_<pair>_pending``: the Procore records still in the approval queue (eligible, not yet
        expected in QuickBooks, unmatched), which the job-to-date roll-up reads."""
        total = rule.extra.get("total", "amount")
        rollup = bool(rule.extra.get("rollup"))
        money = bool(rule.amount_label)
        too_long = "link_id IS NULL AND name_limit IS NOT NULL AND length(limit_value) > name_limit"
        self.temp(
            f"_qbr_{rule.pair}_pending",
            f"""SELECT procore_id FROM {P} WHERE eligible AND NOT expected AND NOT ({too_long})
                   AND procore_id NOT IN (SELECT procore_id FROM {M})
                   AND procore_id NOT IN (SELECT procore_id FROM {C} WHERE n_q > 1 OR n_p > 1)""",
        )
        if rollup:
            # every key counts; a key's money in the queue is its ``queued`` amount
            p_all = f"SELECT * FROM {P}"
            queued = "queued"
            unexplained = "(total - amount - queued)"
            q_unexplained = "(total - amount)"
        else:
            p_all = f"""SELECT * FROM {P} WHERE expected OR procore_id IN (SELECT procore_id FROM {M})
                           OR procore_id IN (SELECT procore_id FROM d)
                           OR procore_id IN (SELECT procore_id FROM _qbr_{rule.pair}_pending)"""
            queued = (
                f"CASE WHEN procore_id IN (SELECT procore_id FROM _qbr_{rule.pair}_pending) THEN {total} END"
            )
            unexplained = q_unexplained = "0"
        pending_count = (
            f"""(SELECT count(*) FROM {P} WHERE procore_id NOT IN (SELECT procore_id FROM {M})
                   AND procore_id NOT IN (SELECT procore_id FROM d WHERE procore_id IS NOT NULL)
                   AND coalesce(queued, 0) <> 0)"""
            if rollup
            else f"(SELECT count(*) FROM _qbr_{rule.pair}_pending)"
        )
        # list pairs carry no money: their money columns stay NULL
        money_cols = (
            "pt, queue_total, qt, elsewhere_total, tolerated, net, gross"
            if money
            else ", ".join(["NULL"] * 7)
        )
        self.x(
            f"""INSERT INTO _qbr_summary
                WITH d AS (SELECT * FROM _qbr_diff WHERE pair = '{rule.pair}'),
                     counted AS (SELECT * FROM d WHERE {COUNTED_SQL}),
                     matched_diff AS (SELECT DISTINCT procore_id, quickbooks_id FROM d WHERE level <> 'record'
                                        AND EXISTS (SELECT 1 FROM {M} m WHERE m.procore_id = d.procore_id
                                                    AND m.quickbooks_id = d.quickbooks_id)),
                     p_all AS ({p_all}),
                     mpq AS (SELECT m.procore_id, m.quickbooks_id, p.amount AS pa, q.amount AS qa
                               FROM {M} m JOIN {P} p USING (procore_id) JOIN {Q} q USING (quickbooks_id)),
                     t AS (SELECT (SELECT count(*) FROM p_all) AS np, (SELECT count(*) FROM {Q}) AS nq,
                                  (SELECT count(*) FROM {M}) AS nm, (SELECT count(*) FROM matched_diff) AS nmd,
                                  (SELECT count(*) FROM d WHERE level = 'record' AND procore_id IS NOT NULL
                                      AND reason <> 'ambiguous_match') AS op,
                                  (SELECT count(*) FROM d WHERE level = 'record' AND procore_id IS NULL) AS oq,
                                  (SELECT count(*) FROM d WHERE reason = 'ambiguous_match' AND level = 'record') AS amb,
                                  {pending_count} AS pend,
                                  (SELECT count(*) FROM d) AS nd,
                                  (SELECT coalesce(sum({total}), 0) FROM p_all) AS pt,
                                  (SELECT coalesce(sum({total}), 0) FROM {Q}) AS qt,
                                  (SELECT coalesce(sum({queued}), 0) FROM p_all) AS queue_total,
                                  (SELECT coalesce(sum({unexplained}), 0) FROM p_all)
                                    - (SELECT coalesce(sum({q_unexplained}), 0) FROM {Q}) AS elsewhere_total,
                                  -- matched records whose compared total differs by no more than the tolerance
                                  (SELECT coalesce(sum(coalesce(pa, 0) - coalesce(qa, 0)), 0) FROM mpq
                                    WHERE NOT EXISTS (SELECT 1 FROM counted c WHERE c.level = 'header'
                                          AND c.procore_id = mpq.procore_id AND c.quickbooks_id = mpq.quickbooks_id))
                                      AS tolerated,
                                  (SELECT coalesce(sum(delta), 0) FROM counted) AS net,
                                  (SELECT coalesce(sum(abs(delta)), 0) FROM counted) AS gross)
                SELECT '{rule.pair}', $1, $2, np, nq, nm - nmd, nmd, op, oq, amb, pend,
                       np - nm - op - amb - pend, nd,
                       {money_cols}
                  FROM t""",
            [rule.label, rule.amount_label],
        )


def _pairs(pairs: Iterable[str] | str | None) -> list[str]:
    if pairs is None:
        return list(rules.ALL_PAIRS)
    if isinstance(pairs, str):
        pairs = [p.strip() for p in pairs.split(",") if p.strip()]
    out = []
    for p in pairs:
        if p not in rules.ALL_PAIRS:
            raise InputError(f"unknown pair {p!r}; known: {', '.join(rules.ALL_PAIRS)}", field="pair")
        out.append(p)
    return [p for p in rules.ALL_PAIRS if p in out]


def _as_of(value: dt.date | str | None) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value.date() if isinstance(value, dt.datetime) else value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"expected a date YYYY-MM-DD, got {value!r}", field="as_of") from None


def reconcile(
    store: Store,
    pair: str | Iterable[str] | None = None,
    tolerance: Tolerance = None,
    as_of: dt.date | str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Reconciliation:
    """Reconcile the stored Procore and QuickBooks tables; see ``Engine``."""
    return Engine(store, tolerance, as_of).run(pair, progress)


__all__ = ["Engine", "reconcile", "parse_tolerance", "reason_text"]
