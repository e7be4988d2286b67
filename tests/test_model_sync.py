"""The life of synced records, as a stateful model test (issue 12): hypothesis drives random sequences of what
users and QuickBooks do, and after every step the workspace and the simulated QuickBooks company file are checked
against a plain-Python model of what must be true.

Steps: load a Procore export (the same again, an older one, one edited in Procore), send + accept, reject, export
in process and through the Web Connector service (its SOAP operations, in process), edit or delete a record, or
delete one line of a record, directly in the QuickBooks file (another QuickBooks user), refresh the QuickBooks
side, unlink, resend, retry, and a crash: a separate process killed (SIGKILL) after QuickBooks stored its message
and before the answer was applied.

Invariants (written against ``qbrecon.entities.PAIRS``, so a new pair is covered by declaring it):
- each Procore record / line is linked to at most one QuickBooks record / line, and every record or PO line
  qbrecon created in QuickBooks is linked to exactly one Procore record / line (nothing posted twice); while a
  crash leaves requests in doubt, no more records are unlinked than Adds in doubt, and the next export links them
  (checked at the end of every example that crashed);
- every Synced item's link resolves in the QuickBooks file, with the amount its pair declares equal on both
  sides, unless the model changed it in QuickBooks; so does every line link, unless the model deleted the line and
  qbrecon has not read it since (a full refresh marks it);
- re-loads never change a link;
- reconciliation reports the model's own QuickBooks edits on qbrecon's records and nothing on the others.

Budget: ``QBRECON_MODEL_EXAMPLES`` examples (200 in CI, i.e. with ``CI`` set; 30 otherwise) of up to
``QBRECON_MODEL_STEPS`` (default 6) steps, in ``QBRECON_MODEL_SHARDS`` (default 2) tests that pytest-xdist runs
side by side; the crash rule is on unless ``QBRECON_MODEL_CRASH=0``. The long run:
``QBRECON_MODEL_EXAMPLES=1000 python -m pytest tests/test_model_sync.py -n 2 -p no:cacheprovider``.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, seed, settings
from hypothesis import core as hypothesis_core
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from lxml import etree
from sync_world import admin_id, company_for, fixture_dir, open_world, sync_all, top_customer

from qbrecon import Workspace, links
from qbrecon.entities import PAIRS
from qbrecon.erp import settings as qbrecon_settings
from qbrecon.errors import BatchRejected
from qbrecon.qbwc.service import QBWCService, ServiceConfig
from qbrecon.qbwc.simulator import KINDS, QuickBooksCompany

# CI (``CI`` set) runs 200 examples; a developer's run 30; the long run sets QBRECON_MODEL_EXAMPLES=1000
EXAMPLES = int(os.environ.get("QBRECON_MODEL_EXAMPLES", "200" if os.environ.get("CI") else "30"))
STEPS = int(os.environ.get("QBRECON_MODEL_STEPS", "6"))
# the crash rule (a forked process killed mid-export, well under a second) is on unless QBRECON_MODEL_CRASH=0
CRASH = os.environ.get("QBRECON_MODEL_CRASH", "1") == "1"
# QBRECON_MODEL_PROGRESS=FILE appends a JSON line per example run (shard, steps, crashed, time)
PROGRESS = os.environ.get("QBRECON_MODEL_PROGRESS")
SERVICE_USER, SERVICE_PASSWORD = "qbwc", "model test password"
REPO = Path(__file__).resolve().parents[1]
SIZES = {
    "commitments_per_project": 3,
    "invoices_per_commitment": 2,
    "lines_per_invoice": 3,
}  # a small company

# item type -> the simulator's kind of its QuickBooks record (from the pair's QuickBooks table)
_KIND_OF_TABLE = {
    "vendors": "vendor",
    "customers": "customer",
    "items": "item",
    "estimates": "estimate",
    "purchase_orders": "purchase_order",
    "bills": "bill",
    "time_tracking": "time_tracking",
}

PAIR_TABLES = sorted({p.quickbooks_table for p in PAIRS.values() if p.exportable and p.quickbooks_table})


def _synced_with_amounts_sql() -> str:
    """Every Synced item qbrecon exported (item_type, procore_id, quickbooks_id) with, from the pair declarations,
    the Procore amount, the amount field as the workspace last read it from QuickBooks, and whether its QuickBooks
    record is shared with an item that has a Procore change not sent yet: one statement for all pairs."""
    amount_pairs = [(t, p) for t, p in PAIRS.items() if p.exportable and p.amount is not None]
    ours = " UNION ALL ".join(
        f"SELECT '{t}' AS item_type, t.id AS procore_id, ({p.amount[0]})::VARCHAR AS amount "
        f'FROM "{p.procore_table}" t'
        for t, p in amount_pairs
    )
    read = " UNION ALL ".join(
        f"""SELECT '{t}' AS item_type, q."{p.quickbooks_id}" AS quickbooks_id, q."{p.amount[1]}"::VARCHAR AS amount
            FROM "{p.quickbooks_table}" q"""
        for t, p in amount_pairs
    )
    return f"""
        WITH synced AS (
            SELECT e.item_type, e.procore_id, l.quickbooks_id FROM erp_items e
            JOIN qb_links l ON l.item_type = e.item_type AND l.procore_id = e.procore_id AND l.line_table = ''
            WHERE e.status = 'synced' AND l.source IN ('export', 'check')),
        shared AS (
            SELECT DISTINCT l.quickbooks_id FROM qb_links l JOIN erp_items e ON e.item_type = l.item_type
            AND e.procore_id = l.procore_id WHERE l.line_table = '' AND e.status <> 'synced'),
        ours AS ({ours}),
        read AS ({read})
        SELECT s.item_type, s.procore_id, s.quickbooks_id, o.amount, r.amount,
               s.quickbooks_id IN (SELECT quickbooks_id FROM shared)
        FROM synced s
        LEFT JOIN ours o ON o.item_type = s.item_type AND o.procore_id = s.procore_id
        LEFT JOIN read r ON r.item_type = s.item_type AND r.quickbooks_id = s.quickbooks_id
        ORDER BY 1, 2"""


_SYNCED_WITH_AMOUNTS = _synced_with_amounts_sql()


def _line_ids(company: QuickBooksCompany, kind: str) -> set[str]:
    """The TxnLineIDs of every transaction of ``kind`` in the company file (``company.lines`` without the frame)."""
    tags = tuple(KINDS[kind].lines.values())
    return {
        line.findtext("TxnLineID")
        for rid in company._by_kind[KINDS[kind].name]
        for tag in tags
        for line in company._recs[rid].iter(tag)
    }


_TEMPLATE: dict[str, Path] = {}


def template() -> dict[str, Path]:
    """Once per process: fixtures, a workspace and a company file synced as far as the fixtures allow (the
    starting point of every example; copying two files is much cheaper than loading and exporting again)."""
    if _TEMPLATE:
        return _TEMPLATE
    base = Path(tempfile.mkdtemp(prefix="qbrecon-model-"))
    atexit.register(shutil.rmtree, base, True)  # the template's files (tens of MB) go with the process
    fx = fixture_dir(base, projects=1, seed=3, **SIZES)
    ws = open_world(base / "ws.duckdb", fx)
    # The service password's scrypt hash with a small work factor (the hash names its parameters, and the check
    # uses those): each Web Connector session of the model signs in through the same code, without the ~0.1 s of
    # CPU a production-strength hash costs on purpose.
    with mock.patch.dict(qbrecon_settings._SCRYPT, n=2**4):
        ws.set_service_credentials(SERVICE_USER, SERVICE_PASSWORD)
    company = company_for(base / "qb.duckdb", fx)
    seed_ids = set(company._recs)
    seed_lines = set(company.lines("purchase_order").get("TxnLineID", []))
    sync_all(ws, company)
    people = {"admin": admin_id(ws), "customer": top_customer(ws)}  # the same in every copy: read once
    ws.close()
    company.close()
    (base / "seed.json").write_text(
        json.dumps({"ids": sorted(seed_ids), "po_lines": sorted(seed_lines), **people})
    )
    _TEMPLATE.update(base=base, fx=fx)
    return _TEMPLATE


# -- Procore edits the model can make (each as the next export brings it) ------------------------------------------
def _edit_vendor(records, n):
    r = records[n % len(records)]
    r["address"] = f"{100 + n} Model Street"


def _edit_project(records, n):
    r = records[0]
    r["city"] = ["Kirkland", "Renton", "Everett"][n % 3]


def _edit_commitment_line(records, n):
    r = records[n % len(records)]
    line, more = r["line_items"][0], Decimal(100 * (n + 1))
    line["amount"] = str(Decimal(str(line["amount"])) + more)
    for total in ("grand_total", "revised_contract"):  # Procore's totals follow its lines
        if r.get(total) is not None:
            r[total] = str(Decimal(str(r[total])) + more)


def _edit_budget(records, n):
    r = records[n % len(records)]
    r["original_budget_amount"] = float(r["original_budget_amount"]) + 250.0 * (n + 1)


def _edit_change_order_line(records, n):
    approved = [c for c in records if c.get("status") == "approved" and c.get("line_items")]
    r = approved[n % len(approved)]
    line, more = r["line_items"][0], Decimal(50 * (n + 1))
    line["amount"] = str(Decimal(str(line["amount"])) + more)
    r["grand_total"] = str(Decimal(str(r["grand_total"])) + more)


PROCORE_EDITS = {
    "commitment_change_orders": _edit_change_order_line,
    "vendors": _edit_vendor,
    "projects": _edit_project,
    "commitments": _edit_commitment_line,
    "budget_line_items": _edit_budget,
}


def _mod_request(kind: str, rid: str, edit_sequence: str, body: str) -> bytes:
    """A *Mod another QuickBooks user's application would send."""
    name = {
        "vendor": "VendorMod",
        "customer": "CustomerMod",
        "purchase_order": "PurchaseOrderMod",
        "bill": "BillMod",
        "estimate": "EstimateMod",
    }[kind]
    id_field = KINDS[kind].id_field
    return (
        f'<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
        f'<{name}Rq requestID="model"><{name}><{id_field}>{rid}</{id_field}><EditSequence>{edit_sequence}'
        f"</EditSequence>{body}</{name}></{name}Rq></QBXMLMsgsRq></QBXML>"
    ).encode()


# The crash: a real process, killed (SIGKILL) after QuickBooks stored its message and before the answer was applied.
# A new interpreter per crash would cost seconds of imports, so one helper process per test process imports qbrecon
# once and forks a fresh child for each crash; the helper itself never opens a workspace (nothing to share across
# the fork) and only reports each child's exit (-9: killed as planned; 3: nothing to send).
_CRASH_SERVER = """
import os, signal, sys, traceback
from qbrecon import Workspace
from qbrecon.qbwc.simulator import QuickBooksCompany

def export_and_die(ws_path, qb_path):
    ws = Workspace(ws_path)
    company = QuickBooksCompany(qb_path, validate=False)
    batch = ws.next_export_batch(max_requests=50)
    if batch is None:
        os._exit(3)
    ws.mark_batch_sent(batch.message_id)
    company.process(batch.xml)  # QuickBooks stores it ...
    company.close()
    os.kill(os.getpid(), signal.SIGKILL)  # ... and the process dies before the answer is applied

for line in sys.stdin:
    ws_path, qb_path = line.rstrip("\\n").split("\\t")
    child = os.fork()
    if child == 0:
        try:
            export_and_die(ws_path, qb_path)
        except BaseException:
            traceback.print_exc()
        os._exit(4)
    _, status = os.waitpid(child, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    print(code, flush=True)
"""
_CRASHER: list[subprocess.Popen] = []


def _stop_crasher(server: subprocess.Popen) -> None:
    server.stdin.close()  # its loop ends; waiting reaps it (its CPU time counts in the run's)
    server.wait(timeout=30)


def crash_export(ws_path: Path, qb_path: Path) -> int:
    """Run one export in a forked process that is killed mid-way; its exit code (-9 killed, 3 nothing to send)."""
    if not _CRASHER or _CRASHER[0].poll() is not None:
        _CRASHER[:] = [
            subprocess.Popen(
                [sys.executable, "-c", _CRASH_SERVER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
        ]
        atexit.register(_stop_crasher, _CRASHER[0])
    server = _CRASHER[0]
    server.stdin.write(f"{ws_path}\t{qb_path}\n")
    server.stdin.flush()
    return int(server.stdout.readline())


class SyncModel(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        tpl = template()
        self.dir = Path(tempfile.mkdtemp(prefix="ex-", dir=tpl["base"]))
        shutil.copy(tpl["base"] / "ws.duckdb", self.dir / "ws.duckdb")
        shutil.copy(tpl["base"] / "qb.duckdb", self.dir / "qb.duckdb")
        seed = json.loads((tpl["base"] / "seed.json").read_text())
        self.seed_ids, self.seed_po_lines = set(seed["ids"]), set(seed["po_lines"])
        self._open()
        self.admin, self.customer = seed["admin"], seed["customer"]
        # the model
        self.export_edits: dict[
            str, int
        ] = {}  # Procore resource -> how many edits the current export carries
        self.qb_changed: set[str] = set()  # QuickBooks records the model changed (amount or other fields)
        self.qb_deleted: set[str] = set()
        self.qb_deleted_lines: set[str] = set()  # TxnLineIDs the model removed from records that stay
        self.crashed = False
        self.checks = 0  # invariant rounds: one after the start, one after every step

    def _open(self) -> None:
        self.ws = Workspace(self.dir / "ws.duckdb")
        self.company = QuickBooksCompany(self.dir / "qb.duckdb", validate=False)
        # a small company: DuckDB's second thread only adds hand-over costs to each of the many tiny statements
        self.ws.store.execute("SET threads = 1")
        self.company.con.execute("SET threads = 1")

    def teardown(self) -> None:
        if not hasattr(self, "ws"):
            return
        if PROGRESS:  # one line per example, so a long run shows how far it got
            with open(PROGRESS, "a") as log:
                line = {
                    "shard": type(self).__name__,
                    "steps": getattr(self, "checks", 1) - 1,
                    "crashed": self.crashed,
                }
                log.write(json.dumps({**line, "at": round(time.time(), 1)}) + "\n")
        try:
            if self._in_doubt():  # a crash left requests unanswered: the next export's check must settle them
                self.ws.export(self.company.process)
                assert not self._in_doubt(), "the export after a crash left requests in doubt"
                self.nothing_posted_twice()  # now with nothing in doubt: every record it stored is linked
                event("after a crash, the next export linked what QuickBooks stored")
        finally:
            # both files are deleted next: closing need not fold their logs into them first
            self.ws.store.execute("PRAGMA disable_checkpoint_on_shutdown")
            self.company.con.execute("PRAGMA disable_checkpoint_on_shutdown")
            self.ws.close()
            self.company.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers ------------------------------------------------------------------------------------------------
    def _in_doubt(self, adds: bool = False) -> int:
        """Requests a crash left unanswered (``sent``: the next export's first step makes them in doubt) or
        whose check has not answered yet; ``adds``: only Adds (each may have stored one record)."""
        return int(
            self.ws.store.scalar(
                "SELECT count(*) FROM export_ledger WHERE (state IN ('sent', 'in_doubt') "
                "OR check_state IN ('pending', 'sent'))" + (" AND action = 'add'" if adds else "")
            )
        )

    def _links(self) -> set[tuple]:
        return set(
            self.ws.store.execute(
                "SELECT item_type, procore_id, line_table, line_id, quickbooks_id, txn_line_id FROM qb_links"
            ).fetchall()
        )

    def _export_dir(self, edits: dict[str, int], only: tuple[str, ...] = ()) -> Path:
        """The Procore export with the model's edits; ``only`` some resources (an export of part of the company)."""
        out = self.dir / "export"
        if out.exists():
            shutil.rmtree(out)
        source = template()["fx"] / "procore"
        if only:
            out.mkdir()
            for resource in only:
                shutil.copy(source / f"{resource}.json", out)
        else:
            shutil.copytree(source, out)
        for resource, count in edits.items():
            if only and resource not in only:
                continue
            path = out / f"{resource}.json"
            records = json.loads(path.read_text())
            for n in range(count):
                PROCORE_EDITS[resource](records, n)
            path.write_text(json.dumps(records))
        return out

    def _load(self, edits: dict[str, int], only: tuple[str, ...] = ()) -> None:
        before = self._links()
        updates = self.ws.store.scalar("SELECT count(*) FROM erp_audit WHERE action = 'procore_update'")
        self.ws.load_procore(self._export_dir(edits, only))
        updates = (
            self.ws.store.scalar("SELECT count(*) FROM erp_audit WHERE action = 'procore_update'") - updates
        )
        event(f"load: {'some' if updates else 'no'} items back as updates")
        assert self._links() == before, "a Procore load changed a link"
        shown = self.ws.store.execute(
            """SELECT l.item_type, l.procore_id FROM qb_links l JOIN commitment_lines t ON t.id = l.line_id
               WHERE l.line_table = 'commitment_lines' AND t.origin_id IS DISTINCT FROM
                     CASE WHEN l.deleted_in_quickbooks_at IS NULL THEN l.txn_line_id END"""
        ).fetchall()
        assert not shown, f"commitment lines do not show their links after a load: {shown}"

    def _synced_exported(self, item_type: str | None = None) -> list[tuple[str, int, str]]:
        sql = """SELECT e.item_type, e.procore_id, l.quickbooks_id FROM erp_items e
                 JOIN qb_links l ON l.item_type = e.item_type AND l.procore_id = e.procore_id AND l.line_table = ''
                 WHERE e.status = 'synced' AND l.source IN ('export', 'check')"""
        rows = self.ws.store.execute(sql + " ORDER BY 1, 2").fetchall()
        return [r for r in rows if item_type is None or r[0] == item_type]

    def _deleted_links(self, unlinkable: bool = False) -> list[tuple[str, int, str]]:
        """Items whose link qbrecon marked deleted in QuickBooks (a full refresh or a Mod found nothing);
        ``unlinkable``: only those in a state unlink takes (Synced, Failed to Export, Rejected)."""
        state = "AND e.status IN ('synced', 'failed_to_export', 'rejected')" if unlinkable else ""
        return self.ws.store.execute(
            f"""SELECT l.item_type, l.procore_id, l.quickbooks_id FROM qb_links l JOIN erp_items e
                ON e.item_type = l.item_type AND e.procore_id = l.procore_id
               WHERE l.line_table = '' AND l.deleted_in_quickbooks_at IS NOT NULL {state} ORDER BY 1, 2"""
        ).fetchall()

    def _synced_with_amounts(self) -> list[tuple]:
        """``_synced_exported`` in one query, each row with the amount its pair declares (None for a pair without
        one): Procore's, and the QuickBooks field as the workspace last read it (text, so any numeric type
        compares as a Decimal), and whether another item shares its QuickBooks record while that item waits to
        send a Procore change (a PO whose CCO is not sent yet)."""
        return self.ws.store.execute(_SYNCED_WITH_AMOUNTS).fetchall()

    # -- Procore -------------------------------------------------------------------------------------------------
    @rule(
        part=st.sampled_from(
            [(), ("vendors",), ("commitments", "commitment_change_orders"), ("projects", "budget_line_items")]
        )
    )
    def reload_same_export(self, part: tuple[str, ...]) -> None:
        self._load(self.export_edits, part)

    @rule()
    def load_older_export(self) -> None:
        self._load({})
        self.export_edits = {}

    @rule(resource=st.sampled_from(sorted(PROCORE_EDITS)))
    def load_edited_export(self, resource: str) -> None:
        edits = dict(self.export_edits)
        edits[resource] = edits.get(resource, 0) + 1
        self._load(edits, (resource,))  # the export of what changed
        self.export_edits = edits

    # -- the approver ------------------------------------------------------------------------------------------------
    @rule()
    def send_and_accept(self) -> None:
        from sync_world import approve

        approve(self.ws, admin=self.admin, customer=self.customer)

    @rule(n=st.integers(0, 5))
    def reject_one(self, n: int) -> None:
        ready = self.ws.queue(["ready_to_export", "failed_to_export"])
        if len(ready):
            row = ready.iloc[n % len(ready)]
            self.ws.reject(
                [(row["item_type"], int(row["procore_id"]))], by=self.admin, reason="model: not now"
            )

    @rule()
    def resend_rejected(self) -> None:
        rejected = self.ws.queue("rejected")
        for item_type, pid in zip(rejected["item_type"], rejected["procore_id"], strict=True):
            try:
                self.ws.resend([(item_type, int(pid))], by=self.admin)
            except BatchRejected:
                pass  # its prerequisites do not hold (a paid bill, a blocked record): refused, nothing changed

    @rule()
    def retry_failed(self) -> None:
        failed = self.ws.queue("failed_to_export")
        for item_type, pid in zip(failed["item_type"], failed["procore_id"], strict=True):
            try:
                self.ws.retry([(item_type, int(pid))], by=self.admin)
            except BatchRejected:
                pass

    @rule(n=st.integers(0, 20))
    def unlink_one(self, n: int) -> None:
        rows = [r for r in self._synced_exported() if PAIRS[r[0]].can_unlink] + self._deleted_links(True)
        if not rows:
            return
        item_type, pid, qb_id = rows[n % len(rows)]
        try:
            self.ws.unlink([(item_type, pid)], by=self.admin)
        except BatchRejected as exc:
            assert "still in QuickBooks Desktop" in str(exc), exc
            event("unlink refused: QuickBooks still holds it")
            return
        event("unlinked")
        # allowed only when QuickBooks (as last read) no longer has it
        assert qb_id in self.qb_deleted, f"{item_type} {pid} unlinked while QuickBooks has {qb_id}"

    # -- exporting -------------------------------------------------------------------------------------------------
    @rule(max_requests=st.sampled_from([1, 5, 50]))
    def export_in_process(self, max_requests: int) -> None:
        summary = self.ws.export(self.company.process, max_requests=max_requests)
        self._note_exports()
        event(
            f"export in process: {'some' if summary.synced else 'none'} synced, "
            f"{'some' if summary.failed else 'none'} failed"
        )

    def _note_exports(self) -> None:
        for name, action in self.ws.store.execute(
            "SELECT DISTINCT request_name, action FROM export_ledger WHERE outcome IN ('synced', 'linked')"
        ).fetchall():
            event(f"synced by {name}" if action == "mod" else "synced by an Add")

    @rule()
    def export_through_web_connector(self) -> None:
        service = QBWCService(self.ws, ServiceConfig.from_workspace(self.ws, max_requests=5))
        ticket, status = service.authenticate(SERVICE_USER, SERVICE_PASSWORD)[:2]
        if status in ("none", "nvu", "busy"):
            return
        for _ in range(200):
            xml = service.send_request_xml(ticket, "", "", "US", 13, 0)
            if not xml:
                break
            percent = service.receive_response_xml(ticket, self.company.process(xml).decode(), "", "")
            if percent >= 100 or percent < 0:
                break
        service.close_connection(ticket)
        self._note_exports()

    @precondition(lambda self: CRASH and not self.crashed)
    @rule()
    def crash_mid_export(self) -> None:
        from sync_world import approve

        self.load_edited_export("vendors")  # something to send: a vendor update
        approve(self.ws, admin=self.admin, customer=self.customer)
        self.ws.close()
        self.company.close()
        code = crash_export(self.dir / "ws.duckdb", self.dir / "qb.duckdb")
        assert code in (-9, 3), f"the exporting process ended with {code}, not killed"
        event("crash: killed after QuickBooks stored the message" if code == -9 else "crash: nothing to send")
        self.crashed = True
        self._open()

    # -- QuickBooks, outside qbrecon ----------------------------------------------------------------------------------
    @rule(n=st.integers(0, 20), what=st.sampled_from(["memo", "amount"]))
    def edit_in_quickbooks(self, n: int, what: str) -> None:
        rows = [
            r
            for r in self._synced_exported()
            if r[0] in ("invoice", "commitment", "company", "project") and r[2] not in self.qb_deleted
        ]
        if not rows:
            return
        item_type, _pid, qb_id = rows[n % len(rows)]
        kind = _KIND_OF_TABLE[PAIRS[item_type].quickbooks_table]
        ret = self.company.ret(qb_id)
        es = ret.findtext("EditSequence")
        if kind in ("vendor", "customer"):
            body = "<Phone>555-0199</Phone>"
        elif what == "memo" or kind == "purchase_order":
            body = "<Memo>changed in QuickBooks</Memo>"
        else:  # a bill line's amount: the bill total changes outside qbrecon
            line = ret.find("ItemLineRet")
            if line is None:
                return
            amount = Decimal(line.findtext("Amount")) + Decimal("1.00")
            body = (
                f"<ItemLineMod><TxnLineID>{line.findtext('TxnLineID')}</TxnLineID><Amount>{amount:.2f}"
                "</Amount></ItemLineMod>"
            )  # other lines are kept only if listed: list them
            for other in ret.findall("ItemLineRet")[1:]:
                body += f"<ItemLineMod><TxnLineID>{other.findtext('TxnLineID')}</TxnLineID></ItemLineMod>"
        answer = etree.fromstring(self.company.process(_mod_request(kind, qb_id, es, body)))
        rs = answer.find("QBXMLMsgsRs")[0]
        assert rs.get("statusCode") == "0", etree.tostring(rs)
        self.qb_changed.add(qb_id)

    @rule(n=st.integers(0, 20))
    def delete_bill_in_quickbooks(self, n: int) -> None:
        rows = [r for r in self._synced_exported("invoice") if r[2] not in self.qb_deleted]
        if not rows:
            return
        qb_id = rows[n % len(rows)][2]
        request = (
            '<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
            f'<TxnDelRq requestID="del"><TxnDelType>Bill</TxnDelType><TxnID>{qb_id}</TxnID></TxnDelRq>'
            "</QBXMLMsgsRq></QBXML>"
        )
        rs = etree.fromstring(self.company.process(request.encode())).find("QBXMLMsgsRs")[0]
        assert rs.get("statusCode") == "0", etree.tostring(rs)
        self.qb_deleted.add(qb_id)

    @rule(n=st.integers(0, 20))
    def delete_bill_line_in_quickbooks(self, n: int) -> None:
        """Another QuickBooks user removes one linked line of a bill qbrecon made (the bill stays)."""
        rows = [r for r in self._synced_exported("invoice") if r[2] not in self.qb_deleted]
        if not rows:
            return
        _, pid, qb_id = rows[n % len(rows)]
        live = {r[2] for r in links.live_line_links(self.ws.store.con, "invoice", pid)}
        ret = self.company.ret(qb_id)
        lines = ret.findall("ItemLineRet")
        gone = next((x for x in lines if x.findtext("TxnLineID") in live), None)
        if gone is None or len(lines) < 2:
            return
        body = "".join(
            f"<ItemLineMod><TxnLineID>{x.findtext('TxnLineID')}</TxnLineID></ItemLineMod>"
            for x in lines
            if x is not gone
        )  # a BillMod keeps only the lines it lists
        request = _mod_request("bill", qb_id, ret.findtext("EditSequence"), body)
        rs = etree.fromstring(self.company.process(request)).find("QBXMLMsgsRs")[0]
        if rs.get("statusCode") == "3210":  # QuickBooks refuses a bill whose total would not be positive
            event("a bill line deletion refused by QuickBooks (total not positive)")
            return
        assert rs.get("statusCode") == "0", etree.tostring(rs)
        self.qb_changed.add(qb_id)
        self.qb_deleted_lines.add(gone.findtext("TxnLineID"))
        event("a bill line deleted in QuickBooks")

    @rule(full=st.booleans())
    def refresh_quickbooks_side(self, full: bool) -> None:
        # the QuickBooks tables the pairs export to (the other kinds hold nothing qbrecon makes: not read, to save
        # time); incremental: what changed since the newest record stored
        self.ws.request_refresh(PAIR_TABLES, full=full)
        self.ws.refresh_now(self.company.process)
        learned = {qb for _, _, qb in self._deleted_links()}
        assert learned <= self.qb_deleted, (
            f"links marked deleted that QuickBooks still has: {learned - self.qb_deleted}"
        )
        if full:  # a full read learns every deletion of a linked record, and of a linked line of a record that stays
            linked = {qb for _, _, qb in self._synced_exported()}
            assert not (linked & self.qb_deleted), "a full refresh left Synced an item deleted in QuickBooks"
            live = self.ws.store.scalar(
                """SELECT count(*) FROM qb_links WHERE line_table <> '' AND deleted_in_quickbooks_at IS NULL
                   AND list_contains(?, txn_line_id)""",
                [sorted(self.qb_deleted_lines)],
            )
            assert not live, "a full refresh left a line link to a line deleted in QuickBooks"
            if self.qb_deleted_lines:
                event("full refresh: learned a line deletion")
            event("full refresh" + (": learned a deletion" if learned else ""))

    # -- invariants ---------------------------------------------------------------------------------------------------
    # Each is a few set-based queries over the workspace (one statement per invariant) and a look at the simulated
    # company file's records in memory: checked after every step, so their cost is paid ~7 times per example.
    @invariant()
    def each_procore_record_and_line_linked_once(self) -> None:
        if not hasattr(self, "ws"):
            return
        self.checks += 1
        twice, lines, unlinked_synced = self.ws.store.execute(
            """SELECT
                 (SELECT list((item_type, quickbooks_id, n)) FROM (
                    SELECT item_type, quickbooks_id, count(*) AS n FROM qb_links WHERE line_table = ''
                    GROUP BY 1, 2 HAVING count(*) > 1 AND item_type <> 'change_order')),
                 (SELECT list((txn_line_id, n)) FROM (
                    SELECT txn_line_id, count(DISTINCT (item_type, procore_id)) AS n FROM qb_links
                    WHERE line_table <> '' GROUP BY 1 HAVING count(DISTINCT (item_type, procore_id)) > 1)),
                 (SELECT list((e.item_type, e.procore_id)) FROM erp_items e
                  WHERE e.status = 'synced' AND e.quickbooks_id IS NOT NULL
                    AND NOT EXISTS (SELECT 1 FROM qb_links l WHERE l.item_type = e.item_type
                                    AND l.procore_id = e.procore_id AND l.line_table = ''))"""
        ).fetchall()[0]
        assert not twice, f"one QuickBooks record linked to several Procore records: {twice}"
        assert not lines, f"one QuickBooks line linked to several Procore records: {lines}"
        assert not unlinked_synced, f"Synced without a link: {unlinked_synced}"

    @invariant()
    def nothing_posted_twice(self) -> None:
        if not hasattr(self, "ws"):
            return
        linked, line_links, in_doubt, adds_in_doubt = self.ws.store.execute(
            """SELECT
                 (SELECT list(DISTINCT quickbooks_id) FROM qb_links),
                 (SELECT list(DISTINCT txn_line_id) FROM qb_links
                  WHERE line_table IN ('commitment_lines', 'change_order_lines')),
                 count(*), count(*) FILTER (WHERE action = 'add')
               FROM export_ledger WHERE state IN ('sent', 'in_doubt') OR check_state IN ('pending', 'sent')"""
        ).fetchall()[0]
        created = set(self.company._recs) - self.seed_ids
        orphans = created - set(linked or ())
        if in_doubt:
            # a crash left a message whose answer was never applied: each unanswered Add may have stored one record,
            # which the next export's check links (teardown exports once more and checks it)
            assert len(orphans) <= adds_in_doubt, (
                f"more unlinked QuickBooks records than Adds in doubt: {orphans}"
            )
            return
        assert not orphans, (
            f"QuickBooks records qbrecon created that no Procore record is linked to: {orphans}"
        )
        stray = _line_ids(self.company, "purchase_order") - self.seed_po_lines - set(line_links or ())
        assert not stray, f"purchase order lines qbrecon added that no Procore line is linked to: {stray}"

    @invariant()
    def synced_links_resolve_with_equal_amounts(self) -> None:
        if not hasattr(self, "ws"):
            return
        recs = self.company._recs  # read, never changed: the records as the company file holds them
        for item_type, pid, qb_id, ours, _read, shared in self._synced_with_amounts():
            if qb_id in self.qb_deleted:
                continue
            assert qb_id in recs, f"Synced {item_type} {pid}: QuickBooks has no {qb_id}"
            pair = PAIRS[item_type]
            if pair.amount is None or qb_id in self.qb_changed or item_type == "change_order":
                continue
            if shared:  # a PO whose CCO waits to send its change
                continue
            theirs = recs[qb_id].findtext(pair.amount[1])
            assert Decimal(str(ours)) == Decimal(theirs), (item_type, pid, qb_id, ours, theirs)

    @invariant()
    def synced_line_links_resolve(self) -> None:
        """Every line link of a Synced item names a line its QuickBooks record still has, unless the model deleted
        that line and qbrecon has not read it since (then the link is marked once it does)."""
        if not hasattr(self, "ws"):
            return
        rows = self.ws.store.execute(
            """SELECT l.item_type, l.procore_id, l.quickbooks_id, l.txn_line_id FROM qb_links l
               JOIN erp_items e ON e.item_type = l.item_type AND e.procore_id = l.procore_id
               WHERE e.status = 'synced' AND l.line_table <> '' AND l.txn_line_id IS NOT NULL
                 AND l.deleted_in_quickbooks_at IS NULL"""
        ).fetchall()
        recs = self.company._recs
        have: dict[str, set[str]] = {}
        for item_type, pid, qb_id, txn_line in rows:
            if qb_id in self.qb_deleted or txn_line in self.qb_deleted_lines:
                continue
            if qb_id not in have:
                ret = recs.get(qb_id)
                have[qb_id] = (
                    set()
                    if ret is None
                    else {x.findtext("TxnLineID") for x in ret.iter() if str(x.tag).endswith("LineRet")}
                )
            assert txn_line in have[qb_id], f"Synced {item_type} {pid}: {qb_id} has no line {txn_line}"

    @rule()
    def reconcile(self) -> None:
        """Reconciliation names the model's QuickBooks edits on qbrecon's records and nothing else of them."""
        rec = self.ws.reconcile()
        diffs = rec.differences
        synced = self._synced_with_amounts()
        ours = {qb for _, _, qb, *_ in synced}
        flagged = set(diffs["quickbooks_id"].dropna().astype(str)) & ours
        # a purchase order still waits for an approved CCO's lines: a Procore change not sent yet, rightly reported
        waiting = {
            r[0]
            for r in self.ws.store.execute(
                """SELECT l.quickbooks_id FROM change_orders o JOIN qb_links l ON l.item_type = 'commitment'
                 AND l.procore_id = o.contract_id AND l.line_table = ''
               LEFT JOIN erp_items e ON e.item_type = 'change_order' AND e.procore_id = o.id
               WHERE o.status = 'approved' AND coalesce(e.status, '') <> 'synced'"""
            ).fetchall()
        }
        # a record another item shares (a PO: its commitment and CCOs) with a Procore change not sent yet
        unsent = {qb for _, _, qb, _, _, shared in synced if shared}
        unexpected = flagged - self.qb_changed - self.qb_deleted - waiting - unsent
        assert not unexpected, diffs[diffs["quickbooks_id"].isin(unexpected)].to_dict("records")
        # ... and no fewer: an amount that differs in the QuickBooks file, as the workspace last read it, is reported
        recs = self.company._recs
        for item_type, pid, qb_id, ours, read, shared in synced:
            pair = PAIRS[item_type]
            if pair.amount is None or qb_id in self.qb_deleted or item_type == "change_order":
                continue
            if shared:
                continue
            ours = Decimal(str(ours))
            theirs = Decimal(recs[qb_id].findtext(pair.amount[1]))
            if ours != theirs and read is not None and Decimal(str(read)) == theirs:
                assert qb_id in flagged, (
                    f"{item_type} {pid}: {ours} in Procore, {theirs} in QuickBooks, not reported"
                )


# The budget runs as SHARDS tests of EXAMPLES / SHARDS examples each, every shard from its own fixed seed (or
# from QBRECON_MODEL_SEED + shard; QBRECON_MODEL_SEED=random for a new run each time), so that the slow tier's
# pytest-xdist workers run them side by side: 200 examples in CI take half the wall time on two cores.
SHARDS = max(1, int(os.environ.get("QBRECON_MODEL_SHARDS", "2")))
PER_SHARD = -(-EXAMPLES // SHARDS)
# pytest's --hypothesis-seed=N (set before this module is imported) seeds the shards N, N+1, ... as well
_SEED = os.environ.get("QBRECON_MODEL_SEED", str(hypothesis_core.global_force_seed or 0))
for _shard in range(SHARDS):
    _machine = type(f"SyncModelShard{_shard}", (SyncModel,), {"__doc__": SyncModel.__doc__})
    if _SEED != "random":
        _machine = seed(int(_SEED) + _shard)(_machine)
    _case = _machine.TestCase
    _case.settings = settings(
        max_examples=PER_SHARD,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
        database=None,
    )
    globals()[f"TestSyncModelShard{_shard}"] = _case
del _shard, _machine, _case  # only the TestSyncModelShard* classes are tests
# the run's length is set by the example budget, not by the suite's per-test timeout
pytestmark = [pytest.mark.slow, pytest.mark.timeout(max(600, PER_SHARD * STEPS * 5))]
