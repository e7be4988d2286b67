-- 0004 the Procore workflows of issue 16 (docs/seed-rules.md): default cost types of ERP standard cost codes,
-- per-project ERP settings (job cost transaction syncing, Direct Costs tool), archived ERP companies, and the
-- payroll item map of the time export.

CREATE TABLE IF NOT EXISTS cost_code_default_cost_types(cost_code_id BIGINT PRIMARY KEY, line_item_type_id BIGINT, line_item_type_name VARCHAR NOT NULL, updated_by BIGINT, updated_at TIMESTAMP WITH TIME ZONE);

CREATE TABLE IF NOT EXISTS erp_project_settings(project_id BIGINT PRIMARY KEY, job_cost_sync BOOLEAN NOT NULL DEFAULT(false), direct_costs_tool BOOLEAN NOT NULL DEFAULT(false), updated_by BIGINT, updated_at TIMESTAMP WITH TIME ZONE);

CREATE TABLE IF NOT EXISTS erp_archived_companies(list_id VARCHAR PRIMARY KEY, archived_by BIGINT, archived_at TIMESTAMP WITH TIME ZONE);

CREATE TABLE IF NOT EXISTS payroll_item_map(worker VARCHAR NOT NULL, classification VARCHAR NOT NULL, payroll_item VARCHAR NOT NULL, updated_by BIGINT, updated_at TIMESTAMP WITH TIME ZONE, PRIMARY KEY(worker, classification));
