"""The thin Workspace (ADR 0016): one class composing services over one store, in pipeline order.

These fail when a mixin comes back, when a service reaches a later stage of the pipeline (through its constructor,
what it holds or what its module imports), when a capability is found with a ``getattr``/``hasattr`` probe again,
or when one of today's public methods goes missing or forwards the wrong thing.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import qbrecon
from qbrecon.erp.budgets import BudgetsService
from qbrecon.erp.companies import CompaniesService
from qbrecon.erp.export import ExportService
from qbrecon.erp.notify import NotificationService
from qbrecon.erp.payroll import PayrollService
from qbrecon.erp.preferences import PreferencesService
from qbrecon.erp.queue import QueueService
from qbrecon.erp.refresh import RefreshService
from qbrecon.erp.reports import ReportsService
from qbrecon.erp.settings import SettingsService
from qbrecon.loaders import LoadingService
from qbrecon.lockout import LockoutService
from qbrecon.qbwc.sessions import ConnectionService
from qbrecon.reconcile import ReconciliationService
from qbrecon.workspace_full import Workspace

PACKAGE = Path(qbrecon.__file__).parent

# The pipeline: load -> decide -> export / deliver -> refresh -> reconcile. A service may hold or import only
# services of an earlier stage (and the store).
LOAD, DECIDE, DELIVER, REFRESH, RECONCILE = range(5)
STAGES: dict[type, int] = {
    LoadingService: LOAD,
    QueueService: DECIDE,
    SettingsService: DECIDE,
    NotificationService: DECIDE,
    ReportsService: DECIDE,
    BudgetsService: DECIDE,
    CompaniesService: DECIDE,
    PayrollService: DECIDE,
    PreferencesService: DECIDE,
    ExportService: DELIVER,
    ConnectionService: DELIVER,
    LockoutService: DELIVER,
    RefreshService: REFRESH,
    ReconciliationService: RECONCILE,
}

# The 85 public methods and properties of the Workspace before it was thin (ten mixins); each must stay.
TODAYS_PUBLIC = """
accept accountant_report add_new_cost_codes_to_budgets apply_export_outcomes apply_export_response
apply_refresh_response apply_response_files archive_erp_companies archived_erp_companies assign_default_cost_types
audit authenticate_user auto_update_vendors budget cancel_refresh check_service_password clear_login_lockouts close
connection_status deliver_mail enable_job_cost_sync erp_job_costs export export_ledger export_pending
export_to_files fail_export_batch fail_refresh_batch frame import_bill_payments import_budget import_job_costs
is_export_message is_refresh_message job_cost_sync_projects job_cost_transactions link_conflicts link_vendors links
load_procore load_query_result load_quickbooks load_runs login_lockouts map_payroll_items mark_batch_sent
next_export_batch next_refresh_batch outbox payroll_item_map qbwc_sessions quarantine queue queue_daily_summaries
quickbooks_preferences ready_to_import reconcile record_host_response record_quickbooks_country
record_service_contact refresh_jobs refresh_now refresh_pending refresh_project_cost_codes refresh_queue reject
request_refresh resend restore_erp_companies retrieve retry send set_direct_costs_tool set_service_credentials
set_tool_permissions set_user_password settings sql sub_jobs tables time_export_iif unlink unsyncable_direct_costs
update_settings vendor_link_suggestions
""".split()

# Workspace's own: store access, and load_procore, the one step that spans two services (load, then the queue).
OWN = {"close", "frame", "sql", "tables", "load_procore", "settings"}


@pytest.fixture(scope="module")
def ws():
    w = Workspace()  # one for the module: each test patches only with monkeypatch, which puts it back
    yield w
    w.close()


def _services(ws: Workspace) -> dict[str, object]:
    return {name: value for name, value in vars(ws).items() if type(value) in STAGES}


def test_the_workspace_is_one_class_and_no_mixin_is_left():
    assert Workspace.__mro__ == (Workspace, object)
    for cls in STAGES:
        assert cls.__mro__ == (cls, object), f"{cls.__name__} inherits: {cls.__mro__}"
    mixins = [
        f"{path.relative_to(PACKAGE)}: {node.name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef) and node.name.endswith("Mixin")
    ]
    assert mixins == []


def test_every_service_is_built_once_over_the_one_store(ws):
    services = _services(ws)
    assert sorted(type(s).__name__ for s in services.values()) == sorted(c.__name__ for c in STAGES)
    assert all(s.store is ws.store for s in services.values())


def test_no_service_holds_or_asks_for_a_later_stage(ws):
    by_type = {type(s): s for s in _services(ws).values()}
    for cls, stage in STAGES.items():
        params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
        assert params[0].name == "store", cls.__name__
        # the collaborators are named, keyword-only constructor arguments, each held under its name
        collaborators = {p.name for p in params[1:]}
        assert all(p.kind is p.KEYWORD_ONLY for p in params[1:]), cls.__name__
        held = {
            name: value
            for name, value in vars(by_type[cls]).items()
            if type(value) in STAGES and name != "store"
        }
        assert set(held) == collaborators, cls.__name__
        for name, value in held.items():
            assert STAGES[type(value)] < stage, (
                f"{cls.__name__}.{name} is {type(value).__name__}: a later stage"
            )


def _imported_modules(path: Path) -> set[str]:
    """Every qbrecon module a file imports, at module level or inside a function, as dotted names."""
    package = "qbrecon." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    if path.name == "__init__.py":
        package = package.removesuffix(".__init__")
    else:
        package = package.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("qbrecon"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.startswith("qbrecon"):
                out.add(module)
                out.update(f"{module}.{a.name}" for a in node.names)
    return out


def test_no_service_module_imports_a_later_stage():
    module_of = {cls: cls.__module__ for cls in STAGES}
    for cls, stage in STAGES.items():
        path = Path(inspect.getsourcefile(cls))
        imported = _imported_modules(path)
        later = {module_of[c] for c, s in STAGES.items() if s > stage and module_of[c] != cls.__module__}
        assert not imported & later, f"{cls.__name__} ({path.name}) imports {sorted(imported & later)}"


def test_todays_public_methods_are_all_still_there_and_nothing_else():
    assert len(TODAYS_PUBLIC) == len(set(TODAYS_PUBLIC)) == 85
    public = {name for name in dir(Workspace) if not name.startswith("_")}
    assert sorted(set(TODAYS_PUBLIC) - public) == []
    # a new capability goes into a service (``ws.<service>.<method>``), not onto the Workspace
    assert sorted(public - set(TODAYS_PUBLIC)) == []


def _owner(ws: Workspace, name: str) -> tuple[str, object]:
    owners = [(attr, s) for attr, s in _services(ws).items() if name in vars(type(s))]
    assert len(owners) == 1, f"{name}: served by {[a for a, _ in owners]}"
    return owners[0]


@pytest.mark.parametrize("name", sorted(set(TODAYS_PUBLIC) - OWN))
def test_each_method_is_one_call_of_its_service(ws, name, monkeypatch):
    """Same signature as the service's method (so notebooks see the real one), every argument forwarded as given,
    the service's answer returned, and the service's docstring."""
    attr, service = _owner(ws, name)
    target = getattr(type(service), name)
    mine = inspect.signature(getattr(Workspace, name))
    assert mine == inspect.signature(target), f"ws.{name} vs ws.{attr}.{name}"
    assert getattr(Workspace, name).__doc__ == target.__doc__
    args, kwargs = [], {}
    for p in list(mine.parameters.values())[1:]:
        token = object()
        if p.kind is p.VAR_KEYWORD:
            kwargs["extra_value"] = token
        elif p.kind is p.VAR_POSITIONAL:
            args.append(token)
        elif p.kind is p.KEYWORD_ONLY:
            kwargs[p.name] = token
        else:
            args.append(token)
    calls = []
    answer = object()

    def record(*a, **k):
        calls.append((a, k))
        return answer

    monkeypatch.setattr(service, name, record)
    assert getattr(ws, name)(*args, **kwargs) is answer
    assert calls == [(tuple(args), kwargs)]


def test_settings_and_load_procore_go_through_the_services(ws, tmp_path, monkeypatch):
    assert ws.settings == ws.erp_settings.settings
    calls = []
    monkeypatch.setattr(ws.loading, "load_procore", lambda path: calls.append(("load", path)) or _Report())
    monkeypatch.setattr(ws.erp_queue, "refresh_queue", lambda: calls.append(("queue",)) or 3)
    report = ws.load_procore(tmp_path)
    assert calls == [("load", tmp_path), ("queue",)]
    assert report.notes == ["ERP queue: 3 item(s) added or newly linked"]


class _Report:
    def __init__(self) -> None:
        self.notes: list[str] = []


def test_no_capability_is_found_by_a_probe():
    """``getattr(ws, "refresh_queue", None)`` and the like found mixins blind; a service is called instead."""
    names = "|".join(sorted(TODAYS_PUBLIC, key=len, reverse=True))
    probe = re.compile(rf"""\b(?:getattr|hasattr)\(\s*[\w.]+\s*,\s*["']({names})["']""")
    found = [
        f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if probe.search(line)
    ]
    assert found == []
