"""The Procore REST endpoints qbrecon reads and writes links to: one declaration, read by the pull, the push
and the local fake server (``fake_server``).

``folder`` is the export-layout folder a page goes to (a loader resource or a line resource of
``loaders.procore_shapes.LINE_RESOURCES``), so a pull is replayed by loading the folder. Links go back with the
resource's own sync action where Procore has one (``PATCH .../sync`` with ``{"updates": [...]}``: projects,
vendors, cost codes, standard cost codes, work order and purchase order contracts), else with the ERP External
Data sync by ``item_type``.

Where each path comes from ("ref" = the Procore REST API reference, developers.procore.com, as the team's
data-model notes summarise it; "SDK" = Procore's OpenAPI as generated into
github.com/weigandconstruction/procore_python_sdk, README endpoint table;
"ERP dictionary" = github.com/procore/documentation ``erp_integration/erp_events_dictionary.md``):

* projects, vendors, cost_codes, standard_cost_codes, budget_line_items, budget_changes, work order / purchase
  order contracts and their ``line_items``, commitment_change_orders, requisitions and their ``contract_items``,
  contract_payments, timecard_entries: ref sections 2.1-2.10 (``[spec]``).
* legacy budget modifications ``GET /rest/v1.0/projects/{project_id}/budget_modifications``: ref 2.4 and SDK
  ("List Budget Modifications").
* budget change adjustment line items per change (``/budget_changes/{id}/adjustment_line_items``) and change
  order line items on v1.0 (``/commitment_change_orders/{id}/line_items``): inferences. Ref 2.4 / 2.6 name the
  lines; the SDK lists them on v2.0 only (``/rest/v2.0/companies/{company_id}/projects/{project_id}/
  budget_changes/adjustment_line_items``, project-wide).
* sync actions ``PATCH /rest/v1.0/{projects,vendors,cost_codes,standard_cost_codes,work_order_contracts,
  purchase_order_contracts}/sync``: SDK ("Sync projects", "Sync company vendors", "Sync Cost Codes", "Sync
  Standard Cost Codes", "Sync work order contracts"); body and answer from Procore's "Using Sync Actions" (ref 1).
* ERP External Data sync ``PATCH /rest/v1.0/companies/{company_id}/external_data/sync``: ERP dictionary
  (create_requisitions and create_commitment "Required Actions"), item types from ``erp_external_data_details.md``.
  The dictionary abbreviates the body to the array of updates; qbrecon sends it as every sync action takes it,
  ``{"updates": [...]}``.
* company users ``GET /rest/v1.0/companies/{company_id}/users`` (each with ``company_permission_template_id``,
  ``default_permission_template_id`` and ``erp_integrated_accountant``) and permission templates ``GET
  /rest/v1.0/companies/{company_id}/permission_templates?filters[type]=company_tools|project_tools
  &view=with_permissions`` (each with ``user_access_levels`` per tool): SDK, "List permission templates", and
  "List company users" (the template ids are documented on the v1.3 user; ``erp_integrated_accountant`` in ref
  4.2; that v1.0 returns the same fields is an inference). A user's level per tool is read from their templates
  (``loaders.procore_shapes``); the numbering of the levels (0-3) is an inference from the documented examples.
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
    query: tuple[tuple[str, str], ...] = ()  # fixed query parameters
    optional: bool = False  # a 403 / 404 means the company does not use this tool: skipped, not an error


V1 = "/rest/v1.0"
# Procore's ERP External Data sync ("every synced Procore Object has an associated External Data record"): the
# link of the objects without a sync action of their own, by item_type and item_id (see the module notes).
EXTERNAL_DATA_SYNC = f"{V1}/companies/{{company_id}}/external_data/sync"
_WITH_PERMISSIONS = ("view", "with_permissions")
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("users", "users", f"{V1}/companies/{{company_id}}/users", "company"),
    # Each user's level per Procore tool comes from their permission templates (read by the permissions matrix):
    # company tools from the company template, project tools from the default project template.
    Endpoint(
        "company_permission_templates",
        "permission_templates",
        f"{V1}/companies/{{company_id}}/permission_templates",
        "company",
        incremental=False,
        query=(("filters[type]", "company_tools"), _WITH_PERMISSIONS),
    ),
    Endpoint(
        "project_permission_templates",
        "permission_templates",
        f"{V1}/companies/{{company_id}}/permission_templates",
        "company",
        incremental=False,
        query=(("filters[type]", "project_tools"), _WITH_PERMISSIONS),
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
    # Legacy budget transfers (companies that have not moved to budget changes); loaded as budget changes.
    Endpoint(
        "budget_modifications",
        "budget_modifications",
        f"{V1}/projects/{{project_id}}/budget_modifications",
        "project",
        incremental=False,
        optional=True,
    ),
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
    # Owner invoices (the owner-invoice pair): payment applications on the prime contract, ref "Payment
    # application" (``/rest/v1.0/payment_applications?project_id=``); their lines are read per record like the
    # requisitions' contract items (the lines path is an inference, named after the ERP payload's line_items).
    Endpoint(
        "payment_applications",
        "payment_applications",
        f"{V1}/payment_applications",
        "project",
        ("project_id",),
    ),
    Endpoint(
        "payment_application_line_items",
        "payment_application_line_items",
        f"{V1}/payment_applications/{{id}}/line_items",
        "lines",
        ("project_id",),
        parent="payment_applications",
        incremental=False,
    ),
    Endpoint(
        "timecard_entries", "timecard_entries", f"{V1}/projects/{{project_id}}/timecard_entries", "project"
    ),
)
BY_NAME = {e.name: e for e in ENDPOINTS}


def fill(template: str, **values: object) -> str:
    """A path with its placeholders filled (``{project_id}``, ``{id}``, ``{company_id}``)."""
    return template.format(**{k: v for k, v in values.items() if v is not None})
