"""The Procore REST endpoints qbrecon reads and writes links to: one declaration, read by the pull, the push
and the local fake server (``fake_server``).

``folder`` is the export-layout folder a page goes to (a loader resource or a line resource of
``loaders.procore_shapes.LINE_RESOURCES``), so a pull is replayed by loading the folder. Links go back with the
resource's own sync action where Procore has one (``PATCH .../sync`` with ``{"updates": [...]}``: projects,
vendors, cost codes, standard cost codes, work order and purchase order contracts), else with the ERP External
Data sync by ``item_type``.
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
    table: str | None = None  # the workspace table whose links these records carry
    sync: str | None = None  # the resource's own sync action (Procore lists which resources have one)
    item_type: str | None = None  # else: the ERP External Data item_type its link is written with
    incremental: bool = True  # accepts filters[updated_at]


V1 = "/rest/v1.0"
# Procore's ERP External Data Sync ("every synced Procore object has an associated External Data record"), for
# the objects without a sync action of their own. Procore gates the ERP reference; the path and the update
# shape ({item_type, item_id, origin_id, origin_data}) follow its guides and are an inference.
EXTERNAL_DATA_SYNC = f"{V1}/companies/{{company_id}}/erp_external_data/sync"
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("users", "users", f"{V1}/companies/{{company_id}}/users", "company"),
    # Each user's level per Procore tool, from their permission template (read by the permissions matrix).
    # The path is qbrecon's reading of the company permission templates: an inference, not a documented route.
    Endpoint(
        "user_tool_permissions",
        "user_tool_permissions",
        f"{V1}/companies/{{company_id}}/user_tool_permissions",
        "company",
        incremental=False,
    ),
    Endpoint(
        "vendors",
        "vendors",
        f"{V1}/vendors",
        "company",
        ("company_id",),
        table="companies",
        sync=f"{V1}/vendors/sync",
    ),
    Endpoint(
        "projects",
        "projects",
        f"{V1}/projects",
        "company",
        ("company_id",),
        table="projects",
        sync=f"{V1}/projects/sync",
    ),
    Endpoint(
        "standard_cost_codes",
        "cost_codes",
        f"{V1}/standard_cost_codes",
        "company",
        ("company_id",),
        table="cost_codes",
        sync=f"{V1}/standard_cost_codes/sync",
    ),
    Endpoint(
        "cost_codes",
        "cost_codes",
        f"{V1}/cost_codes",
        "project",
        ("project_id",),
        table="cost_codes",
        sync=f"{V1}/cost_codes/sync",
    ),
    # Budget links live on Procore's budget and its ERP transactions, which qbrecon does not hold: not pushed.
    Endpoint("budget_line_items", "budget_line_items", f"{V1}/budget_line_items", "project", ("project_id",)),
    Endpoint("budget_changes", "budget_changes", f"{V1}/projects/{{project_id}}/budget_changes", "project"),
    Endpoint(
        "adjustment_line_items",
        "budget_change_adjustment_line_items",
        f"{V1}/projects/{{project_id}}/budget_changes/{{id}}/adjustment_line_items",
        "lines",
        parent="budget_changes",
        incremental=False,
    ),
    Endpoint(
        "work_order_contracts",
        "commitments",
        f"{V1}/work_order_contracts",
        "project",
        ("project_id",),
        table="commitments",
        sync=f"{V1}/work_order_contracts/sync",
    ),
    Endpoint(
        "purchase_order_contracts",
        "commitments",
        f"{V1}/purchase_order_contracts",
        "project",
        ("project_id",),
        table="commitments",
        sync=f"{V1}/purchase_order_contracts/sync",
    ),
    Endpoint(
        "work_order_contract_line_items",
        "commitment_line_items",
        f"{V1}/work_order_contracts/{{id}}/line_items",
        "lines",
        ("project_id",),
        parent="work_order_contracts",
        incremental=False,
        table="commitment_lines",
        item_type="line_item",
    ),
    Endpoint(
        "purchase_order_contract_line_items",
        "commitment_line_items",
        f"{V1}/purchase_order_contracts/{{id}}/line_items",
        "lines",
        ("project_id",),
        parent="purchase_order_contracts",
        incremental=False,
        table="commitment_lines",
        item_type="line_item",
    ),
    Endpoint(
        "commitment_change_orders",
        "commitment_change_orders",
        f"{V1}/projects/{{project_id}}/commitment_change_orders",
        "project",
        table="change_orders",
        item_type="change_order",
    ),
    Endpoint(
        "commitment_change_order_line_items",
        "commitment_change_order_line_items",
        f"{V1}/projects/{{project_id}}/commitment_change_orders/{{id}}/line_items",
        "lines",
        parent="commitment_change_orders",
        incremental=False,
        table="change_order_lines",
        item_type="line_item",
    ),
    Endpoint(
        "requisitions",
        "requisitions",
        f"{V1}/requisitions",
        "project",
        ("project_id",),
        table="invoices",
        item_type="requisition",
    ),
    Endpoint(
        "contract_items",
        "requisition_contract_items",
        f"{V1}/requisitions/{{id}}/contract_items",
        "lines",
        ("project_id",),
        parent="requisitions",
        incremental=False,
    ),
    Endpoint(
        "contract_payments",
        "contract_payments",
        f"{V1}/contract_payments",
        "project",
        ("project_id",),
        table="payments_issued",
        item_type="contract_payment",
    ),
    Endpoint(
        "timecard_entries", "timecard_entries", f"{V1}/projects/{{project_id}}/timecard_entries", "project"
    ),
)
BY_NAME = {e.name: e for e in ENDPOINTS}


def fill(template: str, **values: object) -> str:
    """A path with its placeholders filled (``{project_id}``, ``{id}``, ``{company_id}``)."""
    return template.format(**{k: v for k, v in values.items() if v is not None})
