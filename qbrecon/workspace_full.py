"""``Workspace``: the one object analysts, the CLI, the dashboard and the Web Connector service share.

A thin composition: it owns the DuckDB store and builds one service per capability over it, once, in pipeline
order (load -> decide -> export -> refresh -> reconcile). Each service gets the store and the earlier services
it calls as constructor arguments, so what calls what is written down and nothing reaches a later stage. The
services are the way in for new code (``ws.erp_queue``, ``ws.export_service``, ``ws.reconciliation``...); the
methods below keep ``ws.accept(...)``, ``ws.export(...)``, ``ws.reconcile(...)`` and the rest working, each a
one-line call of its service ([ADR 0016](docs/adr/0016-thin-workspace.md)).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .erp.budgets import BudgetsService
from .erp.companies import CompaniesService
from .erp.export import ExportService
from .erp.notify import NotificationService
from .erp.payroll import PayrollService
from .erp.preferences import PreferencesService
from .erp.queue import QueueService
from .erp.refresh import DEFAULT_MAX_RETURNED, DEFAULT_OVERLAP, RefreshService
from .erp.reports import ReportsService
from .erp.settings import SettingsService
from .loaders import LoadingService
from .lockout import LockoutService
from .qbwc.sessions import ConnectionService
from .reconcile import ReconciliationService
from .store import Store

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from datetime import date, datetime, timedelta

    import duckdb
    import pandas as pd
    import pyarrow as pa

    from .erp.export import ExportBatch, ExportSummary
    from .erp.queue import BatchResult
    from .erp.refresh import RefreshBatch, RefreshOutcome
    from .loaders import LoadReport
    from .loaders.service import QueryRows
    from .qbxml.responses import ResponseDocument
    from .reconcile import Reconciliation
    from .reconcile.engine import Tolerance


class Workspace:
    """A qbrecon workspace: ``Workspace("company.duckdb")``, or in memory with no path."""

    def __init__(self, path: str | Path | None = None, *, busy_timeout: float = 10.0):
        self.path = None if path is None or str(path) == ":memory:" else Path(path)
        self.store = Store(self.path, busy_timeout=busy_timeout)
        store = self.store
        # built once, in pipeline order; each gets the store and the earlier services it calls, nothing later
        self.loading = LoadingService(store)
        self.erp_queue = QueueService(store)
        self.erp_settings = SettingsService(store)
        self.notifications = NotificationService(store)
        self.reports = ReportsService(store)
        self.budgets = BudgetsService(store)
        self.companies = CompaniesService(store)
        self.payroll = PayrollService(store)
        self.preferences = PreferencesService(store)
        self.export_service = ExportService(store, queue=self.erp_queue)
        self.refresh_service = RefreshService(
            store, loading=self.loading, queue=self.erp_queue, budgets=self.budgets
        )
        self.web_connector = ConnectionService(store)
        self.lockouts = LockoutService(store)
        self.reconciliation = ReconciliationService(store)

    # -- reading -----------------------------------------------------------------------------------------
    def frame(self, name: str, where: str | None = None) -> pd.DataFrame:
        """A stored table (or any SELECT) as a pandas frame with exact (Arrow decimal) money columns."""
        if where:
            from .erp.filters import check_filter  # a filter is only a condition on the table's columns

            return self.store.frame(f'SELECT * FROM "{name}" WHERE {check_filter(where, self.store, name)}')
        return self.store.frame(name)

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        """A DuckDB relation over the workspace: ``ws.sql("select ...").df()`` / ``.arrow()`` / ``.show()``."""
        return self.store.sql(query)

    @property
    def tables(self) -> list[str]:
        return sorted(self.store.table_names())

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.path) if self.path else ':memory:'})"

    def _repr_html_(self) -> str:
        """Jupyter: rows per table on both sides, loads, quarantine, the ERP queue by status (``display.py``)."""
        from .display import workspace_html

        return workspace_html(self)

    # -- the one step that spans two services ------------------------------------------------------------
    def load_procore(self, path: str | Path) -> LoadReport:
        """Load a Procore export and, in the same transaction, give new exportable records their ERP queue rows
        (decisions already taken are kept)."""
        with self.loading.bounded_memory(), self.store.transaction():
            report = self.loading.load_procore(path)
            added = self.erp_queue.refresh_queue()
        if added:
            report.notes.append(f"ERP queue: {added} item(s) added or newly linked")
        return report

    # -- today's methods, each a call of its service (their docstrings are the services', copied below) ------
    @property
    def settings(self) -> dict[str, Any]:
        """Every ERP setting (defaults filled in, secrets masked)."""
        return self.erp_settings.settings

    # -- loading ---------------------------------------------------------------------------------------------
    def load_query_result(
        self,
        result: QueryRows,
        *,
        source: str,
        files: Sequence[str] | None = None,
        started: datetime | None = None,
    ) -> LoadReport:
        return self.loading.load_query_result(result, source=source, files=files, started=started)

    def load_quickbooks(self, path: str | Path) -> LoadReport:
        return self.loading.load_quickbooks(path)

    def load_runs(self) -> pd.DataFrame:
        return self.loading.load_runs()

    def quarantine(self, load_id: int | None = None) -> pd.DataFrame:
        return self.loading.quarantine(load_id)

    # -- erp_queue -------------------------------------------------------------------------------------------
    def accept(
        self, selection: Any, *, by: int | str, item_type: str | None = None, **options: str | None
    ) -> BatchResult:
        return self.erp_queue.accept(selection, by=by, item_type=item_type, **options)

    def apply_export_outcomes(
        self,
        outcomes: pd.DataFrame | pa.Table,
        request_message_id: int | None = None,
        response_message_id: int | None = None,
        *,
        line_links: list[dict] | None = None,
    ) -> BatchResult:
        return self.erp_queue.apply_export_outcomes(
            outcomes, request_message_id, response_message_id, line_links=line_links
        )

    def audit(self, item_type: str | None = None, procore_id: int | None = None) -> pd.DataFrame:
        return self.erp_queue.audit(item_type, procore_id)

    def auto_update_vendors(self, load_ids: Iterable[int] | None = None) -> int:
        return self.erp_queue.auto_update_vendors(load_ids)

    def import_bill_payments(self, *, by: int | str) -> int:
        return self.erp_queue.import_bill_payments(by=by)

    def import_job_costs(self, project_id: int | None = None, *, by: int | str) -> int:
        return self.erp_queue.import_job_costs(project_id, by=by)

    def link_conflicts(self) -> pd.DataFrame:
        return self.erp_queue.link_conflicts()

    def link_vendors(self, pairs: pd.DataFrame | list[tuple[str, int]], *, by: int | str) -> BatchResult:
        return self.erp_queue.link_vendors(pairs, by=by)

    def links(self, item_type: str | None = None, procore_id: int | None = None) -> pd.DataFrame:
        return self.erp_queue.links(item_type, procore_id)

    def queue(
        self, status: str | list[str] | None = None, item_type: str | list[str] | None = None
    ) -> pd.DataFrame:
        return self.erp_queue.queue(status, item_type)

    def ready_to_import(self, kind: str | None = None) -> pd.DataFrame:
        return self.erp_queue.ready_to_import(kind)

    def refresh_queue(self) -> int:
        return self.erp_queue.refresh_queue()

    def reject(
        self, selection: Any, *, by: int | str, reason: str | None = None, item_type: str | None = None
    ) -> BatchResult:
        return self.erp_queue.reject(selection, by=by, reason=reason, item_type=item_type)

    def resend(self, selection: Any, *, by: int | str, item_type: str | None = None) -> BatchResult:
        return self.erp_queue.resend(selection, by=by, item_type=item_type)

    def retrieve(self, selection: Any, *, by: int | str, item_type: str | None = None) -> BatchResult:
        return self.erp_queue.retrieve(selection, by=by, item_type=item_type)

    def retry(self, selection: Any, *, by: int | str, item_type: str | None = None) -> BatchResult:
        return self.erp_queue.retry(selection, by=by, item_type=item_type)

    def send(self, selection: Any, *, by: int | str, item_type: str | None = None) -> BatchResult:
        return self.erp_queue.send(selection, by=by, item_type=item_type)

    def unlink(self, selection: Any, *, by: int | str, item_type: str | None = None) -> BatchResult:
        return self.erp_queue.unlink(selection, by=by, item_type=item_type)

    def vendor_link_suggestions(self, min_score: float = 85.0) -> pd.DataFrame:
        return self.erp_queue.vendor_link_suggestions(min_score)

    # -- erp_settings ----------------------------------------------------------------------------------------
    def authenticate_user(self, login: str, password: str) -> dict | None:
        return self.erp_settings.authenticate_user(login, password)

    def check_service_password(self, user: str, password: str) -> bool:
        return self.erp_settings.check_service_password(user, password)

    def record_quickbooks_country(self, country: str | None) -> None:
        return self.erp_settings.record_quickbooks_country(country)

    def record_service_contact(self, ok: bool, error: str | None = None) -> None:
        return self.erp_settings.record_service_contact(ok, error)

    def set_service_credentials(self, user: str, password: str, *, by: int | str | None = None) -> None:
        return self.erp_settings.set_service_credentials(user, password, by=by)

    def set_tool_permissions(
        self, user: int | str, levels: dict[str, str], *, by: int | str
    ) -> dict[str, str]:
        return self.erp_settings.set_tool_permissions(user, levels, by=by)

    def set_user_password(self, user: int | str, password: str, *, by: int | str | None = None) -> None:
        return self.erp_settings.set_user_password(user, password, by=by)

    def update_settings(self, *, by: int | str, **values: Any) -> dict[str, Any]:
        return self.erp_settings.update_settings(by=by, **values)

    # -- notifications ---------------------------------------------------------------------------------------
    def deliver_mail(self, limit: int | None = None, max_attempts: int = 50) -> dict:
        return self.notifications.deliver_mail(limit, max_attempts)

    def outbox(self, status: str | None = None) -> pd.DataFrame:
        return self.notifications.outbox(status)

    def queue_daily_summaries(self, day: dt.date | None = None) -> int:
        return self.notifications.queue_daily_summaries(day)

    # -- reports ---------------------------------------------------------------------------------------------
    def accountant_report(
        self, start: dt.date | str | None = None, end: dt.date | str | None = None, *, by: int | str
    ) -> pd.DataFrame:
        return self.reports.accountant_report(start, end, by=by)

    def erp_job_costs(self, project_id: int | None = None, *, by: int | str) -> pd.DataFrame:
        return self.reports.erp_job_costs(project_id, by=by)

    def job_cost_transactions(self, project_id: int | None = None, *, by: int | str) -> pd.DataFrame:
        return self.reports.job_cost_transactions(project_id, by=by)

    def unsyncable_direct_costs(self, project_id: int | None = None, *, by: int | str) -> pd.DataFrame:
        return self.reports.unsyncable_direct_costs(project_id, by=by)

    # -- budgets ---------------------------------------------------------------------------------------------
    def add_new_cost_codes_to_budgets(self, load_ids: list[int] | None = None) -> int:
        return self.budgets.add_new_cost_codes_to_budgets(load_ids)

    def assign_default_cost_types(self, assignments: dict[Any, str] | pd.DataFrame, *, by: int | str) -> int:
        return self.budgets.assign_default_cost_types(assignments, by=by)

    def budget(self, project_id: int, *, by: int | str) -> pd.DataFrame:
        return self.budgets.budget(project_id, by=by)

    def enable_job_cost_sync(self, project_id: int, enabled: bool = True, *, by: int | str) -> None:
        return self.budgets.enable_job_cost_sync(project_id, enabled, by=by)

    def import_budget(self, project_id: int, *, by: int | str) -> int:
        return self.budgets.import_budget(project_id, by=by)

    def job_cost_sync_projects(self) -> pd.DataFrame:
        return self.budgets.job_cost_sync_projects()

    def refresh_project_cost_codes(self, project_id: int, *, by: int | str) -> int:
        return self.budgets.refresh_project_cost_codes(project_id, by=by)

    def set_direct_costs_tool(self, project_id: int, active: bool = True, *, by: int | str) -> None:
        return self.budgets.set_direct_costs_tool(project_id, active, by=by)

    # -- companies -------------------------------------------------------------------------------------------
    def archive_erp_companies(self, list_ids: Iterable[str], *, by: int | str) -> int:
        return self.companies.archive_erp_companies(list_ids, by=by)

    def archived_erp_companies(self, *, by: int | str) -> pd.DataFrame:
        return self.companies.archived_erp_companies(by=by)

    def restore_erp_companies(self, list_ids: Iterable[str], *, by: int | str) -> int:
        return self.companies.restore_erp_companies(list_ids, by=by)

    def sub_jobs(self) -> pd.DataFrame:
        return self.companies.sub_jobs()

    # -- payroll ---------------------------------------------------------------------------------------------
    def map_payroll_items(
        self, mapping: Mapping[tuple[str, str], str] | pd.DataFrame, *, by: int | str
    ) -> int:
        return self.payroll.map_payroll_items(mapping, by=by)

    def payroll_item_map(self) -> pd.DataFrame:
        return self.payroll.payroll_item_map()

    def time_export_iif(self, out: str | Path | None = None, *, project_id: int | None = None, by: int | str):
        return self.payroll.time_export_iif(out, project_id=project_id, by=by)

    # -- preferences -----------------------------------------------------------------------------------------
    def quickbooks_preferences(self) -> dict[str, object]:
        return self.preferences.quickbooks_preferences()

    def record_host_response(self, hcp_response: str | bytes | None) -> dict[str, str]:
        return self.preferences.record_host_response(hcp_response)

    # -- export_service --------------------------------------------------------------------------------------
    def apply_export_response(
        self, message_id: int, response_xml: bytes | str | ResponseDocument, *, frame: bool = True
    ) -> pd.DataFrame | pa.Table:
        return self.export_service.apply_export_response(message_id, response_xml, frame=frame)

    def apply_response_files(self, paths: list[str | Path]) -> pd.DataFrame:
        return self.export_service.apply_response_files(paths)

    def export(
        self,
        deliver: Callable[[bytes], bytes],
        max_requests: int = 50,
        *,
        max_messages: int | None = None,
        company_file: str | None = None,
    ) -> ExportSummary:
        return self.export_service.export(
            deliver, max_requests, max_messages=max_messages, company_file=company_file
        )

    def export_ledger(self, item_type: str | None = None, procore_id: int | None = None) -> pd.DataFrame:
        return self.export_service.export_ledger(item_type, procore_id)

    def export_pending(self) -> dict[str, int]:
        return self.export_service.export_pending()

    def export_to_files(
        self, out_dir: str | Path, max_requests: int = 50, company_file: str | None = None
    ) -> list[Path]:
        return self.export_service.export_to_files(out_dir, max_requests, company_file)

    def fail_export_batch(self, message_id: int, hresult: str | None, message: str | None) -> pd.DataFrame:
        return self.export_service.fail_export_batch(message_id, hresult, message)

    def is_export_message(self, message_id: int) -> bool:
        return self.export_service.is_export_message(message_id)

    def mark_batch_sent(self, message_id: int, *, ticket: str | None = None) -> None:
        return self.export_service.mark_batch_sent(message_id, ticket=ticket)

    def next_export_batch(
        self,
        max_requests: int = 50,
        company_file: str | None = None,
        transport: str = "web_connector",
        *,
        sent: bool = False,
        ticket: str | None = None,
    ) -> ExportBatch | None:
        return self.export_service.next_export_batch(
            max_requests, company_file, transport, sent=sent, ticket=ticket
        )

    # -- refresh_service -------------------------------------------------------------------------------------
    def apply_refresh_response(self, message_id: int, response_xml: bytes | str) -> RefreshOutcome:
        return self.refresh_service.apply_refresh_response(message_id, response_xml)

    def cancel_refresh(self, kinds: Iterable[str] | str | None = None) -> int:
        return self.refresh_service.cancel_refresh(kinds)

    def fail_refresh_batch(self, message_id: int, hresult: str | None, message: str | None) -> RefreshOutcome:
        return self.refresh_service.fail_refresh_batch(message_id, hresult, message)

    def is_refresh_message(self, message_id: int) -> bool:
        return self.refresh_service.is_refresh_message(message_id)

    def next_refresh_batch(
        self,
        max_returned: int = DEFAULT_MAX_RETURNED,
        *,
        ticket: str | None = None,
        company_file: str | None = None,
    ) -> RefreshBatch | None:
        return self.refresh_service.next_refresh_batch(max_returned, ticket=ticket, company_file=company_file)

    def refresh_jobs(self, kinds: Iterable[str] | str | None = None) -> pd.DataFrame:
        return self.refresh_service.refresh_jobs(kinds)

    def refresh_now(
        self,
        deliver: Callable[[bytes], bytes | str],
        max_returned: int = DEFAULT_MAX_RETURNED,
        max_messages: int = 100_000,
    ) -> pd.DataFrame:
        return self.refresh_service.refresh_now(deliver, max_returned, max_messages)

    def refresh_pending(self, max_returned: int = DEFAULT_MAX_RETURNED) -> dict[str, int]:
        return self.refresh_service.refresh_pending(max_returned)

    def request_refresh(
        self,
        kinds: Iterable[str] | str | None = None,
        full: bool = False,
        *,
        since: datetime | date | str | None = None,
        overlap: timedelta = DEFAULT_OVERLAP,
        by: int | str | None = None,
        import_payments: bool = False,
    ) -> pd.DataFrame:
        return self.refresh_service.request_refresh(
            kinds, full, since=since, overlap=overlap, by=by, import_payments=import_payments
        )

    # -- web_connector ---------------------------------------------------------------------------------------
    def connection_status(self) -> dict:
        return self.web_connector.connection_status()

    def qbwc_sessions(self, limit: int = 100):
        return self.web_connector.qbwc_sessions(limit)

    # -- lockouts --------------------------------------------------------------------------------------------
    def clear_login_lockouts(
        self, who: str | None = None, channel: str | None = None, *, by: int | str | None = None
    ) -> int:
        return self.lockouts.clear_login_lockouts(who, channel, by=by)

    def login_lockouts(self, include_expired: bool = False) -> pd.DataFrame:
        return self.lockouts.login_lockouts(include_expired)

    # -- reconciliation --------------------------------------------------------------------------------------
    def reconcile(
        self,
        pair: str | Iterable[str] | None = None,
        tolerance: Tolerance = None,
        as_of: dt.date | str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> Reconciliation:
        return self.reconciliation.reconcile(pair, tolerance, as_of, progress)


# ``help(ws.accept)`` shows the service's own docstring (one source for each).
_SERVICE_CLASSES = (
    LoadingService,
    QueueService,
    SettingsService,
    NotificationService,
    ReportsService,
    BudgetsService,
    CompaniesService,
    PayrollService,
    PreferencesService,
    ExportService,
    RefreshService,
    ConnectionService,
    LockoutService,
    ReconciliationService,
)
for _name, _member in list(vars(Workspace).items()):
    if _name.startswith("_") or _member.__doc__:
        continue
    for _cls in _SERVICE_CLASSES:
        if _name in vars(_cls):
            _member.__doc__ = vars(_cls)[_name].__doc__
            break
