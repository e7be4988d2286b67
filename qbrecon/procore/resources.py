"""The Procore REST endpoints qbrecon reads and writes links to: one list, read by the pull, the push and the
local fake server (``fake_server``). Each pair module declares its own endpoints (``PairModule.procore_endpoints``,
``pairs.base.Endpoint``); this module adds the ones no pair owns (users, permission templates).

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

from .. import pairs as _pairs
from ..pairs.base import PROCORE_V1 as V1
from ..pairs.base import Endpoint

__all__ = ["BY_NAME", "ENDPOINTS", "EXTERNAL_DATA_SYNC", "V1", "Endpoint", "fill"]

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
    # the pairs' own endpoints (``PairModule.procore_endpoints``): companies, projects, cost codes, budgets,
    # commitments, change orders, subcontractor and owner invoices, timecard entries, payments
    *_pairs.procore_endpoints(),
)
BY_NAME = {e.name: e for e in ENDPOINTS}


def fill(template: str, **values: object) -> str:
    """A path with its placeholders filled (``{project_id}``, ``{id}``, ``{company_id}``)."""
    return template.format(**{k: v for k, v in values.items() if v is not None})
