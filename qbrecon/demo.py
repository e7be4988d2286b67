"""The end-to-end demo: every step of the pipeline on generated fixtures, narrated.

load -> validate -> decide -> build qbXML -> deliver through the Web Connector (to the QuickBooks Desktop
simulator, over HTTP on loopback) -> apply responses -> reconcile -> reports.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .display import queue_counts
from .entities import EXPORTABLE, PAIRS
from .errors import BatchRejected, QbreconError
from .formats import cell_text, money_text

DEMO_MARK = "demo_workspace"
DEMO_PASSWORDS = {"admin": "demo-admin", "approver": "demo-approver", "read_only": "demo-readonly"}
SERVICE_USER = "qbrecon-demo"


@dataclass
class DemoResult:
    """What ``run_demo`` did: the steps narrated, the sign-ins it created, and where it wrote the reports."""

    workspace: Path
    out_dir: Path
    steps: list[str] = field(default_factory=list)
    sign_in: dict[str, tuple[str, str]] = field(default_factory=dict)
    service_user: tuple[str, str] = ("", "")
    queue_counts: pd.DataFrame | None = None  # display.queue_counts at the end
    reconciliation: object | None = None
    report_html: Path | None = None
    report_xlsx: Path | None = None


def _prepare_workspace(path: Path) -> None:
    """Replace a previous demo workspace; refuse to touch anything else."""
    if not path.exists():
        return
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            mark = con.execute("SELECT value FROM qbrecon_meta WHERE key = ?", [DEMO_MARK]).fetchall()
        finally:
            con.close()
    except duckdb.Error:
        mark = None
    if not mark:
        raise QbreconError(
            f"{path} exists and is not a demo workspace; choose another --workspace (the demo never overwrites "
            "a real workspace)"
        )
    path.unlink()
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        wal.unlink()


def run_demo(
    workspace: str | Path = "demo.duckdb",
    out_dir: str | Path = "demo-out",
    *,
    projects: int = 4,
    seed: int = 7,
    echo: Callable[[str], None] = print,
    procore_api: bool = False,
) -> DemoResult:
    """Run the whole flow on generated fixtures and return what happened (also narrated through ``echo``).

    ``procore_api``: the Procore side comes through Procore's REST API from a local fake Procore serving the
    fixtures (with a rate limit, a server error and an expiring token on the way), and the links go back to it
    with sync actions at the end."""
    from . import Workspace
    from .fixtures import generate
    from .qbwc.connector import WebConnectorClient
    from .qbwc.simulator import QuickBooksCompany
    from .server import start_server

    ws_path, out = Path(workspace), Path(out_dir)
    result = DemoResult(ws_path, out)

    def step(title: str) -> None:
        result.steps.append(title)
        echo(f"\n== {len(result.steps)}. {title}")

    step(f"Generate fixtures ({projects} projects, seed {seed})")
    fixtures = out / "fixtures"
    if fixtures.exists():
        shutil.rmtree(fixtures)
    report = generate(fixtures, projects=projects, seed=seed)
    echo(report.summary())

    _prepare_workspace(ws_path)
    ws = Workspace(ws_path)
    procore = None
    try:
        ws.store.execute("INSERT OR REPLACE INTO qbrecon_meta VALUES (?, 'true')", [DEMO_MARK])

        if procore_api:
            procore = _start_procore(ws, fixtures / "procore", out, step, echo)
        else:
            step("Load the Procore export and the QuickBooks Desktop responses")
            echo(str(ws.load_procore(fixtures / "procore")))
        echo(str(ws.load_quickbooks(fixtures / "quickbooks")))

        step("The ERP queue built from the loaded Procore data")
        echo(queue_counts(ws).to_string(index=False))

        step("Demo users and the Web Connector service user")
        users = ws.frame("users")
        admin = _pick_user(users, "admin", True)
        approver = _pick_user(users, "standard", True)
        read_only = _pick_user(users, "read_only", False)
        for role, user in (("admin", admin), ("approver", approver), ("read_only", read_only)):
            ws.set_user_password(user, DEMO_PASSWORDS[role], by=admin)
            result.sign_in[role] = (user, DEMO_PASSWORDS[role])
            echo(f"  dashboard sign-in ({role}): {user} / {DEMO_PASSWORDS[role]}")
        service_password = secrets.token_urlsafe(12)
        ws.set_service_credentials(SERVICE_USER, service_password, by=admin)
        result.service_user = (SERVICE_USER, service_password)
        echo(f"  Web Connector service user: {SERVICE_USER} / {service_password}")

        step("Admin settings: retainage item and 'Use Procore Contract #'")
        retainage = _retainage_item(ws)
        accounts = _service_item_accounts(ws)
        ws.update_settings(
            by=admin,
            invoice_retainage_item=retainage,
            use_procore_contract_number=True,
            service_item_income_account=accounts[0],
            service_item_expense_account=accounts[1],
        )
        echo(
            f"  invoice_retainage_item = {retainage}; new service items post to {accounts[0]} / {accounts[1]}"
        )

        step("Send to ERP, then accept as the accounting approver (one batch per item type)")
        customer = _first_customer(ws)
        rejected_invoice = None
        retried: list[int] = []
        for item_type in EXPORTABLE:
            sent = _send_eligible(ws, item_type, by=approver, echo=echo)
            ids = [int(i) for i in ws.queue(status="ready_to_export", item_type=item_type)["procore_id"]]
            if not ids:
                continue
            if item_type == "invoice" and len(ids) > 1:
                rejected_invoice = ids[-1]
                ws.reject(
                    [rejected_invoice],
                    item_type="invoice",
                    by=approver,
                    reason="Retainage percent does not match the subcontract; please correct and re-send.",
                )
                echo(
                    f"  invoice {rejected_invoice}: rejected with a reason (mail queued to creator and sender)"
                )
                ids = ids[:-1]
            options = {"customer": customer} if item_type == "project" else {}
            accepted = _all_or_report(
                lambda batch, t=item_type, o=options: ws.accept(batch, item_type=t, by=approver, **o),
                ids,
                f"{item_type} not accepted",
                echo,
            )
            echo(f"  {PAIRS[item_type].label}: sent {len(sent)}, accepted {len(accepted)}")
        # Procore says these invoices failed to export, with no QuickBooks answer of ours behind it: the approver
        # sends them again, so what QuickBooks says about them is what the queue keeps (their purchase order is
        # closed in QuickBooks meanwhile, below: QuickBooks refuses the bill and says why)
        retried = _procore_failed(ws)
        if retried:
            ws.retry(retried, item_type="invoice", by=approver)
            echo(f"  invoice {', '.join(map(str, retried))}: marked failed in Procore; sent again (Retry)")
        echo(queue_counts(ws).to_string(index=False))

        step("Export through the QuickBooks Web Connector (SOAP over loopback) to the QuickBooks simulator")
        company_file = out / "simulated-company.duckdb"
        for stale in (company_file, company_file.with_name(company_file.name + ".wal")):
            stale.unlink(missing_ok=True)  # a new demo starts from the fixtures' company, not the last run's
        company = QuickBooksCompany(company_file, seed=seed)
        try:
            company.seed_from(fixtures / "quickbooks")
            for number in _close_purchase_orders(ws, company, retried):
                echo(
                    f"  in QuickBooks, the accountant closes purchase order {number} (a bill against it is refused)"
                )
            with start_server(ws, port=0, dashboard=False) as server:
                echo(f"  service listening on {server.url}")
                client = WebConnectorClient(server.url, SERVICE_USER, service_password, company)
                _run_sessions(client, echo)
                echo("  refresh the QuickBooks side (queries with iterators, incremental by TimeModified)")
                ws.request_refresh(by=admin)
                _run_sessions(client, echo)
                updated = ws.store.scalar(
                    "SELECT count(*) FROM erp_audit WHERE action = 'vendor_auto_update'"
                )
                if updated:  # setting vendor_auto_update: a vendor changed in QuickBooks updates its company
                    echo(f"  {updated} Procore company record(s) updated from their QuickBooks vendor")
            echo(f"  QuickBooks company now holds: {company.counts()}")
        finally:
            company.close()
        echo(queue_counts(ws).to_string(index=False))
        failed = ws.queue(status="failed_to_export")
        for row in failed.head(10).itertuples():
            message = cell_text(getattr(row, "last_error_message", None)) or "(no QuickBooks message)"
            code = cell_text(getattr(row, "last_error_code", None))
            echo(
                f"  failed: {row.item_type} {row.procore_id} after {int(row.attempts or 0)} attempt(s): "
                f"{code + ': ' if code else ''}{message}"
            )

        step("Reconcile Procore with QuickBooks")
        recon = ws.reconcile()
        result.reconciliation = recon
        from .formats import render_table
        from .reconcile.labels import PAIR_TITLES, SUMMARY_LABELS

        cols = [
            "label",
            "matched_equal",
            "matched_with_differences",
            "only_in_procore",
            "only_in_quickbooks",
            "ambiguous",
            "not_exported",
            "differences",
            "in_queue_total",
            "delta",
        ]
        shown = recon.summary.assign(label=[PAIR_TITLES.get(p, p) for p in recon.summary["pair"]])[cols]
        echo(render_table(shown, SUMMARY_LABELS))
        echo(
            f"  {recon.n_differences} finding(s), delta {money_text(recon.total_delta)}, "
            f"absolute {money_text(recon.total_abs_delta)}; why:"
        )
        reasons = recon.reasons()
        reasons["pair"] = [PAIR_TITLES.get(p, p) for p in reasons["pair"]]
        echo(
            render_table(
                reasons[["pair", "reason_text", "count"]],
                {"pair": "Pair", "reason_text": "Why", "count": "Findings"},
            )
        )
        out.mkdir(parents=True, exist_ok=True)
        result.report_html = Path(recon.to_html(out / "report.html") and out / "report.html")
        result.report_xlsx = recon.to_excel(out / "report.xlsx")
        echo(f"  wrote {result.report_html} and {result.report_xlsx}")

        if procore is not None:
            _push_to_procore(ws, procore, out, approver, step, echo)

        step("Mail and audit")
        outbox = ws.frame("outbox")
        echo(f"  outbox: {len(outbox)} message(s) queued (deliver with SMTP settings: qbrecon settings set)")
        echo(
            f"  audit log: {ws.store.count('erp_audit')} row(s); qbXML archive: "
            f"{ws.store.count('qbxml_messages')} message(s)"
        )
        result.queue_counts = queue_counts(ws)
    finally:
        if procore is not None:
            procore[1].close()
            procore[0].stop()
        ws.close()

    echo(
        "\nNext: open the approver dashboard and the Web Connector endpoint on this workspace with\n"
        f"  qbrecon serve --workspace {ws_path}\n"
        f"then sign in as {result.sign_in['approver'][0]} / {result.sign_in['approver'][1]} "
        "(a real Web Connector can use the .qwc from `qbrecon qwc`)."
    )
    return result


def _start_procore(ws, export: Path, out: Path, step: Callable[[str], None], echo: Callable[[str], None]):
    """Serve the fixtures as a local Procore (loopback), sign in, pull the company and load it."""
    from .procore import open_client
    from .procore.fake_server import FakeProcore, Faults
    from .procore.pull import pull_into

    faults = Faults(
        rate_limit=("/rest/v1.0/vendors",), server_error=("/rest/v1.0/projects",), expire_token_after=12
    )
    fake = FakeProcore(export, faults=faults).start()
    step("Pull the Procore company through Procore's REST API (a local Procore on loopback)")
    echo(
        f"  Procore API at {fake.url} (company {fake.company_id}); OAuth 2 client credentials, token kept "
        "encrypted in the workspace"
    )
    client = open_client(
        ws, fake.company_id, base_url=fake.url, client_id=fake.client_id, client_secret=fake.client_secret
    )
    pulled = pull_into(ws, client, out / "procore-pull", per_page=50)
    echo(pulled.summary())
    echo(
        f"  every page kept as received in {pulled.out_dir} (replay: qbrecon load --procore {pulled.out_dir})"
    )
    echo(str(pulled.report))
    step("Load the QuickBooks Desktop responses")
    return fake, client


def _push_to_procore(
    ws, procore, out: Path, approver: str, step: Callable[[str], None], echo: Callable[[str], None]
) -> None:
    """Import what QuickBooks has and Procore lacks, push every link back, push again, pull to check."""
    from .procore.imports import accept_imports
    from .procore.pull import pull_into
    from .procore.push import pending_links, push

    fake, client = procore
    step("Import from QuickBooks into Procore (Ready to Import)")
    ready = ws.ready_to_import()
    if ready.empty:
        echo("  Ready to Import: nothing (Procore has every QuickBooks vendor and job)")
    else:
        for row in ready.itertuples():
            echo(f"  ready: {row.kind} {row.full_name} ({row.list_id})")
        done = accept_imports(
            ws,
            list(ready["list_id"]),
            by=approver,
            company_id=fake.company_id,
            client=client,
            out_dir=out / "procore-import",
        )
        echo(f"  {done.summary()}")
        for c in done.created:
            echo(
                f"    {c['kind']} {c['list_id']} -> Procore {'company' if c['kind'] == 'vendor' else 'project'} "
                f"{c['procore_id']}"
            )
    step("Push the links back to Procore (sync actions), twice, then pull to check")
    first = push(ws, client, company_id=fake.company_id)
    echo(f"  {first.summary()}")
    second = push(ws, client, company_id=fake.company_id)
    echo(f"  again: {second.summary()}")
    pulled = pull_into(ws, client, out / "procore-pull-after-push", per_page=50)
    echo(f"  {pulled.summary().splitlines()[0]}")
    missing = len(pending_links(ws))
    linked = ws.store.scalar(
        "SELECT (SELECT count(*) FROM projects WHERE origin_id IS NOT NULL) + "
        "(SELECT count(*) FROM companies WHERE origin_id IS NOT NULL) + "
        "(SELECT count(*) FROM commitments WHERE origin_id IS NOT NULL) + "
        "(SELECT count(*) FROM invoices WHERE origin_id IS NOT NULL)"
    )
    echo(
        f"  Procore now shows {linked} synced projects, companies, commitments and invoices; "
        f"{'every link is in Procore' if missing == 0 else f'{missing} link(s) still missing'}"
    )
    if client.events or fake.faults.fired:
        echo("  on the way, Procore answered like a busy server and qbrecon coped:")
        for e in dict.fromkeys(client.events):
            echo(f"    {e}")


def _run_sessions(client, echo: Callable[[str], None], limit: int = 10) -> None:
    """Scheduled Web Connector updates until the service has nothing more to send."""
    for session in range(1, limit + 1):
        rep = client.run_once()
        echo(
            f"  session {session}: auth={rep.auth_status or 'ok'} message sets={rep.messages} "
            f"requests={rep.requests} progress={rep.percents[-1] if rep.percents else '-'}% "
            f"{('error: ' + rep.last_error) if rep.last_error else ''}"
        )
        if rep.auth_status == "none" or rep.messages == 0:
            break


def _procore_failed(ws) -> list[int]:
    """Invoices Procore reports as Failed to Export that no QuickBooks answer of ours explains."""
    failed = ws.queue(status="failed_to_export", item_type="invoice")
    unexplained = failed["last_error_code"].isna() & (failed["attempts"].fillna(0) == 0)  # never sent by us
    return [int(i) for i in failed.loc[unexplained, "procore_id"]]


def _close_purchase_orders(ws, company, invoices: list[int]) -> list[str]:
    """Close, in the simulated QuickBooks (as an accountant would, with a PurchaseOrderMod), the purchase orders the
    given invoices bill against; their PO numbers."""
    if not invoices:
        return []
    from .qbxml import spec

    rows = ws.store.frame(
        f"""SELECT DISTINCT c.origin_id, c.number FROM invoices i JOIN commitments c ON c.id = i.commitment_id
            WHERE i.id IN ({", ".join(str(int(i)) for i in invoices)}) AND c.origin_id IS NOT NULL ORDER BY 2"""
    )
    closed = []
    for txn_id, number in zip(rows["origin_id"], rows["number"], strict=True):
        po = company.ret(str(txn_id))
        company.process(
            f'<?xml version="1.0" encoding="utf-8"?><?qbxml version="{spec.QBXML_VERSION}"?><QBXML>'
            '<QBXMLMsgsRq onError="stopOnError"><PurchaseOrderModRq><PurchaseOrderMod>'
            f"<TxnID>{po.findtext('TxnID')}</TxnID><EditSequence>{po.findtext('EditSequence')}</EditSequence>"
            "<IsManuallyClosed>true</IsManuallyClosed></PurchaseOrderMod></PurchaseOrderModRq></QBXMLMsgsRq></QBXML>"
        )
        closed.append(str(number))
    return closed


def _pick_user(users: pd.DataFrame, permission: str, can_push: bool) -> str:
    rows = users[
        (users["erp_integrations_permission"] == permission)
        & (users["can_push_to_accounting"].fillna(False) == can_push)
    ]
    if rows.empty:
        raise QbreconError(f"the fixtures have no user with ERP permission {permission!r}")
    return str(rows.iloc[0]["login"])


def _retainage_item(ws) -> str:
    items = ws.store.frame(
        "SELECT FullName FROM items WHERE ItemType = 'Service' AND lower(Name) LIKE '%retainage%'"
    )
    if items.empty:
        raise QbreconError("the QuickBooks side has no 'Retainage' service item")
    return str(items.iloc[0]["FullName"])


def _service_item_accounts(ws) -> tuple[str, str]:
    """The income and expense accounts the company's existing service items already use."""
    (row,) = ws.store.execute(
        """SELECT mode(IncomeAccountRef_FullName), mode(ExpenseAccountRef_FullName) FROM items
           WHERE ItemType = 'Service'"""
    ).fetchall()
    return (row[0] or "Construction Income", row[1] or "Job Expenses:Subcontractors")


def _first_customer(ws) -> str:
    rows = ws.store.frame(
        "SELECT FullName FROM customers WHERE coalesce(Sublevel, 0) = 0 ORDER BY FullName LIMIT 1"
    )
    if rows.empty:
        raise QbreconError("the QuickBooks side has no top-level customer to parent new jobs")
    return str(rows.iloc[0]["FullName"])


def _send_eligible(ws, item_type: str, *, by: str, echo: Callable[[str], None]) -> list[int]:
    """Send every Not Sent item of a type; items whose prerequisites fail are reported and left behind."""
    ids = [int(i) for i in ws.queue(status="not_sent", item_type=item_type)["procore_id"]]
    return _all_or_report(
        lambda batch: ws.send(batch, item_type=item_type, by=by), ids, f"{item_type} not sent", echo
    )


def _all_or_report(
    action: Callable[[list[int]], object], ids: list[int], label: str, echo: Callable[[str], None]
) -> list[int]:
    """Batches are all-or-nothing: on refusal, report the refused rows and apply the batch to the rest."""
    refused: list[dict] = []
    while ids:
        try:
            action(ids)
            break
        except BatchRejected as exc:
            bad = {int(p["procore_id"]) for p in exc.problems}
            refused += exc.problems
            ids = [i for i in ids if i not in bad]
    for p in refused[:4]:
        echo(f"  {label}: {p['procore_id']} ({p.get('name', '')}): {p['problem']}")
    if len(refused) > 4:
        echo(f"  ... and {len(refused) - 4} more")
    return ids
