"""The Procore REST endpoints qbrecon reads and writes links to: one declaration, read by the pull, the push
and the local fake server (``fake_server``).

``folder`` is the export-layout folder a page goes to (a loader resource or a line resource of
``loaders.procore_shapes.LINE_RESOURCES``), so a pull is replayed by loading the folder. ``sync`` is the path
of Procore's sync action for that record type (``PATCH .../sync`` with ``{"updates": [...]}``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    name: str  # short name, also the page folder under ``folder``
    folder: str
    path: str  # may hold {project_id} and {id} (the parent record of a line endpoint)
    scope: str  # "company" (once), "project" (per project) or "lines" (per record of ``parent``)
    params: tuple[str, ...] = ()  # query parameters filled from the scope: company_id / project_id
    parent: str | None = None  # the endpoint whose records own these lines
    sync: str | None = None  # sync action path (same placeholders)
    table: str | None = None  # the workspace table whose links ``sync`` writes
    incremental: bool = True  # accepts filters[updated_at]


V1 = "/rest/v1.0"
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("users", "users", f"{V1}/companies/{{company_id}}/users", "company"),
    Endpoint("vendors", "vendors", f"{V1}/vendors", "company", ("company_id",),
             sync=f"{V1}/vendors/sync", table="companies"),
    Endpoint("projects", "projects", f"{V1}/projects", "company", ("company_id",),
             sync=f"{V1}/projects/sync", table="projects"),
    Endpoint("standard_cost_codes", "cost_codes", f"{V1}/standard_cost_codes", "company", ("company_id",),
             sync=f"{V1}/standard_cost_codes/sync", table="cost_codes"),
    Endpoint("cost_codes", "cost_codes", f"{V1}/cost_codes", "project", ("project_id",),
             sync=f"{V1}/cost_codes/sync", table="cost_codes"),
    Endpoint("budget_line_items", "budget_line_items", f"{V1}/budget_line_items", "project", ("project_id",),
             sync=f"{V1}/budget_line_items/sync", table="budget_line_items"),
    Endpoint("budget_changes", "budget_changes", f"{V1}/projects/{{project_id}}/budget_changes", "project"),
    Endpoint("adjustment_line_items", "budget_change_adjustment_line_items",
             f"{V1}/projects/{{project_id}}/budget_changes/{{id}}/adjustment_line_items", "lines",
             parent="budget_changes", incremental=False,
             sync=f"{V1}/projects/{{project_id}}/budget_changes/adjustment_line_items/sync", table="budget_changes"),
    Endpoint("work_order_contracts", "commitments", f"{V1}/work_order_contracts", "project", ("project_id",),
             sync=f"{V1}/work_order_contracts/sync", table="commitments"),
    Endpoint("purchase_order_contracts", "commitments", f"{V1}/purchase_order_contracts", "project",
             ("project_id",), sync=f"{V1}/purchase_order_contracts/sync", table="commitments"),
    Endpoint("work_order_contract_line_items", "commitment_line_items", f"{V1}/work_order_contracts/{{id}}/line_items",
             "lines", ("project_id",), parent="work_order_contracts", incremental=False,
             sync=f"{V1}/work_order_contracts/{{id}}/line_items/sync", table="commitment_lines"),
    Endpoint("purchase_order_contract_line_items", "commitment_line_items",
             f"{V1}/purchase_order_contracts/{{id}}/line_items", "lines", ("project_id",),
             parent="purchase_order_contracts", incremental=False,
             sync=f"{V1}/purchase_order_contracts/{{id}}/line_items/sync", table="commitment_lines"),
    Endpoint("commitment_change_orders", "commitment_change_orders",
             f"{V1}/projects/{{project_id}}/commitment_change_orders", "project",
             sync=f"{V1}/projects/{{project_id}}/commitment_change_orders/sync", table="change_orders"),
    Endpoint("commitment_change_order_line_items", "commitment_change_order_line_items",
             f"{V1}/projects/{{project_id}}/commitment_change_orders/{{id}}/line_items", "lines",
             parent="commitment_change_orders", incremental=False,
             sync=f"{V1}/projects/{{project_id}}/commitment_change_orders/{{id}}/line_items/sync",
             table="change_order_lines"),
    Endpoint("requisitions", "requisitions", f"{V1}/requisitions", "project", ("project_id",),
             sync=f"{V1}/requisitions/sync", table="invoices"),
    Endpoint("contract_items", "requisition_contract_items", f"{V1}/requisitions/{{id}}/contract_items", "lines",
             ("project_id",), parent="requisitions", incremental=False),
    Endpoint("contract_payments", "contract_payments", f"{V1}/contract_payments", "project", ("project_id",),
             sync=f"{V1}/contract_payments/sync", table="payments_issued"),
    Endpoint("timecard_entries", "timecard_entries", f"{V1}/projects/{{project_id}}/timecard_entries", "project"),
)  # fmt: skip
BY_NAME = {e.name: e for e in ENDPOINTS}


def fill(template: str, **values: object) -> str:
    """A path with its placeholders filled (``{project_id}``, ``{id}``, ``{company_id}``)."""
    return template.format(**{k: v for k, v in values.items() if v is not None})
