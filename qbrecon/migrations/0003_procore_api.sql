-- 0003 Procore's REST API (qbrecon.procore): the kept connection per company (the OAuth token encrypted, its key
-- never in the workspace), the link Procore holds per record as far as qbrecon knows (what the last pull read,
-- what Procore accepted since: what a push compares with), every link item pushed. (Imports from QuickBooks: 0002.)

CREATE TABLE IF NOT EXISTS procore_connections (company_id BIGINT PRIMARY KEY, base_url VARCHAR, login_url VARCHAR, client_id VARCHAR, token_encrypted VARCHAR, updated_at TIMESTAMP WITH TIME ZONE);

CREATE TABLE IF NOT EXISTS procore_known_links (table_name VARCHAR NOT NULL, procore_id BIGINT NOT NULL, origin_id VARCHAR, origin_data VARCHAR, origin_code VARCHAR, source VARCHAR NOT NULL, seen_at TIMESTAMP WITH TIME ZONE, PRIMARY KEY (table_name, procore_id));

CREATE TABLE IF NOT EXISTS procore_push_log (push_id BIGINT NOT NULL, "at" TIMESTAMP WITH TIME ZONE NOT NULL, table_name VARCHAR NOT NULL, procore_id BIGINT NOT NULL, endpoint VARCHAR, outcome VARCHAR NOT NULL, origin_id VARCHAR, origin_data VARCHAR, origin_code VARCHAR, error VARCHAR);

