-- 0002: the tables the branches merged after 0.1 created at import (links qbrecon owns, login lockouts, imports
-- from QuickBooks into Procore, what Procore holds of the links, Procore connections) and the export ledger's
-- columns for line-by-line links. IF NOT EXISTS: a workspace written between the merge and this migration
-- already has them.

CREATE SEQUENCE IF NOT EXISTS qb_link_conflict_seq START 1;

-- the export ledger: what a request stands for, so the answer can be linked line by line
-- line_sources: JSON, the Procore lines each line element stands for; fingerprint: the item as built
ALTER TABLE export_ledger ADD COLUMN IF NOT EXISTS line_sources VARCHAR;
ALTER TABLE export_ledger ADD COLUMN IF NOT EXISTS fingerprint VARCHAR;

-- qbrecon.links: which QuickBooks record (and line) each Procore record (and line) is
CREATE TABLE IF NOT EXISTS qb_links (
    item_type VARCHAR NOT NULL,          -- qbrecon.entities.PAIRS key
    procore_id BIGINT NOT NULL,          -- the item (budget: the project id)
    line_table VARCHAR NOT NULL,         -- '' for the record itself, else the Procore line table
    line_id BIGINT NOT NULL,             -- 0 for the record, else the Procore line id
    quickbooks_id VARCHAR NOT NULL,      -- ListID / TxnID (a line: its transaction's TxnID)
    txn_line_id VARCHAR,                 -- a line's TxnLineID
    edit_sequence VARCHAR,               -- the record's EditSequence as qbrecon last saw it
    fingerprint VARCHAR,                 -- the item's declared fields as last sent (changed since sync?)
    source VARCHAR NOT NULL,             -- export | check | procore | link_vendor | migration
    linked_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL,
    request_message_id BIGINT, response_message_id BIGINT,
    PRIMARY KEY (item_type, procore_id, line_table, line_id));

CREATE TABLE IF NOT EXISTS qb_link_conflicts (
    conflict_id BIGINT PRIMARY KEY, "at" TIMESTAMPTZ NOT NULL, load_id BIGINT,
    item_type VARCHAR NOT NULL, procore_id BIGINT NOT NULL, line_table VARCHAR NOT NULL, line_id BIGINT NOT NULL,
    linked_id VARCHAR NOT NULL,          -- what qbrecon's link says (kept)
    procore_id_value VARCHAR NOT NULL,   -- the different origin_id the export brought (not applied)
    detail VARCHAR);

-- qbrecon.lockout: accounts and addresses locked after failed sign-ins
CREATE TABLE IF NOT EXISTS login_lockouts (
    channel VARCHAR NOT NULL,            -- dashboard | qbwc
    kind VARCHAR NOT NULL,               -- user | address
    who VARCHAR NOT NULL,                -- the login / the remote address
    failures INTEGER NOT NULL,           -- failed attempts that led to the lockout
    locked_at TIMESTAMPTZ NOT NULL,
    locked_until TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel, kind, who));

-- qbrecon.erp.imports: QuickBooks vendors and jobs imported into Procore
CREATE TABLE IF NOT EXISTS procore_imports (
    list_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, status VARCHAR NOT NULL,  -- created | payload_written
    procore_id BIGINT, payload_file VARCHAR, "at" TIMESTAMPTZ, by_user BIGINT);

-- qbrecon.procore.push: the links Procore holds, and every push
CREATE TABLE IF NOT EXISTS procore_known_links (
    table_name VARCHAR NOT NULL, procore_id BIGINT NOT NULL,
    origin_id VARCHAR, origin_data VARCHAR, origin_code VARCHAR,
    source VARCHAR NOT NULL, seen_at TIMESTAMPTZ,  -- 'pull' (Procore said so) or 'push' (Procore accepted it)
    PRIMARY KEY (table_name, procore_id));

CREATE TABLE IF NOT EXISTS procore_push_log (
    push_id BIGINT NOT NULL, "at" TIMESTAMPTZ NOT NULL, table_name VARCHAR NOT NULL, procore_id BIGINT NOT NULL,
    endpoint VARCHAR, outcome VARCHAR NOT NULL, origin_id VARCHAR, origin_data VARCHAR, origin_code VARCHAR,
    error VARCHAR);

-- qbrecon.procore.tokens: the Procore company connections (the token encrypted)
CREATE TABLE IF NOT EXISTS procore_connections (
    company_id BIGINT PRIMARY KEY, base_url VARCHAR, login_url VARCHAR, client_id VARCHAR,
    token_encrypted VARCHAR, updated_at TIMESTAMPTZ);
