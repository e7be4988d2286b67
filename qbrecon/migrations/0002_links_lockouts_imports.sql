-- 0002: what the link lifecycle (core), sign-in lockouts (sec) and imports from QuickBooks (procore) added after
-- 0.1: the QuickBooks links of each item and line, link conflicts, login lockouts, Procore imports, and two
-- export ledger columns (the Procore lines each line element stands for; the item as built).

ALTER TABLE export_ledger ADD COLUMN IF NOT EXISTS line_sources VARCHAR;
ALTER TABLE export_ledger ADD COLUMN IF NOT EXISTS fingerprint VARCHAR;

CREATE SEQUENCE IF NOT EXISTS qb_link_conflict_seq START 1;

CREATE TABLE IF NOT EXISTS qb_links(item_type VARCHAR, procore_id BIGINT, line_table VARCHAR, line_id BIGINT, quickbooks_id VARCHAR NOT NULL, txn_line_id VARCHAR, edit_sequence VARCHAR, fingerprint VARCHAR, "source" VARCHAR NOT NULL, linked_at TIMESTAMP WITH TIME ZONE NOT NULL, updated_at TIMESTAMP WITH TIME ZONE NOT NULL, request_message_id BIGINT, response_message_id BIGINT, PRIMARY KEY(item_type, procore_id, line_table, line_id));

CREATE TABLE IF NOT EXISTS qb_link_conflicts(conflict_id BIGINT PRIMARY KEY, "at" TIMESTAMP WITH TIME ZONE NOT NULL, load_id BIGINT, item_type VARCHAR NOT NULL, procore_id BIGINT NOT NULL, line_table VARCHAR NOT NULL, line_id BIGINT NOT NULL, linked_id VARCHAR NOT NULL, procore_id_value VARCHAR NOT NULL, detail VARCHAR);

CREATE TABLE IF NOT EXISTS login_lockouts(channel VARCHAR, kind VARCHAR, who VARCHAR, failures INTEGER NOT NULL, locked_at TIMESTAMP WITH TIME ZONE NOT NULL, locked_until TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY(channel, kind, who));

CREATE TABLE IF NOT EXISTS procore_imports(list_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, status VARCHAR NOT NULL, procore_id BIGINT, payload_file VARCHAR, "at" TIMESTAMP WITH TIME ZONE, by_user BIGINT);
