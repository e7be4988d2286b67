-- 0001 baseline: the workspace tables of qbrecon 0.1 (main a09c121) that are not declared by a
-- qbrecon.schemas model (those are created and widened from their models). Sequences first: tables use them.

CREATE SEQUENCE IF NOT EXISTS erp_audit_seq START 1;
CREATE SEQUENCE IF NOT EXISTS export_log_seq START 1;
CREATE SEQUENCE IF NOT EXISTS load_id_seq START 1;
CREATE SEQUENCE IF NOT EXISTS outbox_seq START 1;
CREATE SEQUENCE IF NOT EXISTS qbxml_message_seq START 1;
CREATE SEQUENCE IF NOT EXISTS refresh_request_seq START 1;

CREATE TABLE IF NOT EXISTS erp_audit(audit_id BIGINT PRIMARY KEY, "at" TIMESTAMP WITH TIME ZONE NOT NULL, actor BIGINT, actor_name VARCHAR, "action" VARCHAR NOT NULL, item_type VARCHAR NOT NULL, procore_id BIGINT NOT NULL, from_status VARCHAR, to_status VARCHAR, reason VARCHAR, request_message_id BIGINT, response_message_id BIGINT, detail VARCHAR);

CREATE TABLE IF NOT EXISTS erp_items(item_type VARCHAR, procore_id BIGINT, status VARCHAR NOT NULL, sent_by BIGINT, sent_at TIMESTAMP WITH TIME ZONE, decided_by BIGINT, decided_at TIMESTAMP WITH TIME ZONE, reason VARCHAR, export_options VARCHAR, quickbooks_id VARCHAR, edit_sequence VARCHAR, last_error_code INTEGER, last_error_message VARCHAR, error_class VARCHAR, attempts INTEGER DEFAULT(0), updated_at TIMESTAMP WITH TIME ZONE, PRIMARY KEY(item_type, procore_id));

CREATE TABLE IF NOT EXISTS erp_settings("key" VARCHAR PRIMARY KEY, "value" VARCHAR, updated_by BIGINT, updated_at TIMESTAMP WITH TIME ZONE);

CREATE TABLE IF NOT EXISTS export_ledger(item_type VARCHAR, procore_id BIGINT, attempt INTEGER, request_id VARCHAR, message_id BIGINT, "action" VARCHAR, request_name VARCHAR, state VARCHAR NOT NULL, built_at TIMESTAMP WITH TIME ZONE, sent_at TIMESTAMP WITH TIME ZONE, answered_at TIMESTAMP WITH TIME ZONE, resolved_at TIMESTAMP WITH TIME ZONE, outcome VARCHAR, status_code INTEGER, status_message VARCHAR, error_class VARCHAR, quickbooks_id VARCHAR, edit_sequence VARCHAR, request_xml VARCHAR, check_reason VARCHAR, check_state VARCHAR, check_message_id BIGINT, check_request_id VARCHAR, PRIMARY KEY(item_type, procore_id, attempt));

CREATE TABLE IF NOT EXISTS export_log(log_id BIGINT PRIMARY KEY, "at" TIMESTAMP WITH TIME ZONE NOT NULL, message_id BIGINT, "level" VARCHAR NOT NULL, "event" VARCHAR NOT NULL, detail VARCHAR);

CREATE TABLE IF NOT EXISTS export_messages(message_id BIGINT PRIMARY KEY, purpose VARCHAR NOT NULL, transport VARCHAR NOT NULL, company_file VARCHAR, state VARCHAR NOT NULL, request_count INTEGER NOT NULL, built_at TIMESTAMP WITH TIME ZONE NOT NULL, sent_at TIMESTAMP WITH TIME ZONE, answered_at TIMESTAMP WITH TIME ZONE, hresult VARCHAR, error_message VARCHAR, response_message_id BIGINT);

CREATE TABLE IF NOT EXISTS load_runs(load_id BIGINT PRIMARY KEY, side VARCHAR, "source" VARCHAR, started_at TIMESTAMP WITH TIME ZONE, finished_at TIMESTAMP WITH TIME ZONE, status VARCHAR, report_json VARCHAR);

CREATE TABLE IF NOT EXISTS outbox(mail_id BIGINT PRIMARY KEY, created_at TIMESTAMP WITH TIME ZONE NOT NULL, kind VARCHAR NOT NULL, dedupe_key VARCHAR UNIQUE, recipients VARCHAR NOT NULL, subject VARCHAR NOT NULL, body VARCHAR NOT NULL, item_type VARCHAR, procore_id BIGINT, status VARCHAR NOT NULL, attempts INTEGER DEFAULT(0) NOT NULL, last_error VARCHAR, last_attempt_at TIMESTAMP WITH TIME ZONE, sent_at TIMESTAMP WITH TIME ZONE, message_id VARCHAR);

CREATE TABLE IF NOT EXISTS qbrecon_meta("key" VARCHAR PRIMARY KEY, "value" VARCHAR);

CREATE TABLE IF NOT EXISTS qbwc_session_messages(message_id BIGINT PRIMARY KEY, ticket VARCHAR NOT NULL, company_file VARCHAR NOT NULL, request_ids VARCHAR NOT NULL, sent_at TIMESTAMP WITH TIME ZONE NOT NULL, answered_at TIMESTAMP WITH TIME ZONE, outcome VARCHAR);

CREATE TABLE IF NOT EXISTS qbwc_sessions(ticket VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL, company_file VARCHAR NOT NULL, status VARCHAR NOT NULL, remote_addr VARCHAR, client_version VARCHAR, qbxml_version VARCHAR, created_at TIMESTAMP WITH TIME ZONE NOT NULL, last_seen_at TIMESTAMP WITH TIME ZONE NOT NULL, expires_at TIMESTAMP WITH TIME ZONE NOT NULL, closed_at TIMESTAMP WITH TIME ZONE, in_flight_message_id BIGINT, in_flight_request_ids VARCHAR, messages_sent INTEGER DEFAULT(0) NOT NULL, messages_applied INTEGER DEFAULT(0) NOT NULL, items_total INTEGER DEFAULT(0) NOT NULL, items_done INTEGER DEFAULT(0) NOT NULL, last_error VARCHAR);

CREATE TABLE IF NOT EXISTS qbxml_messages(message_id BIGINT PRIMARY KEY, direction VARCHAR NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL, updated_at TIMESTAMP WITH TIME ZONE, request_ids VARCHAR[], status VARCHAR NOT NULL, company_file VARCHAR, ticket VARCHAR, qbxml_version VARCHAR, hresult VARCHAR, message VARCHAR, "xml" VARCHAR, related_message_id BIGINT, CHECK((direction IN ('request', 'response'))), CHECK((status IN ('built', 'sent', 'received', 'failed'))));

CREATE TABLE IF NOT EXISTS quarantine(load_id BIGINT, table_name VARCHAR, source_file VARCHAR, source_row BIGINT, field VARCHAR, "check" VARCHAR, failure_case VARCHAR, source_record VARCHAR, quarantined_at TIMESTAMP WITH TIME ZONE);

CREATE TABLE IF NOT EXISTS refresh_jobs(query VARCHAR PRIMARY KEY, state VARCHAR NOT NULL, full_refresh BOOLEAN NOT NULL, from_modified TIMESTAMP WITH TIME ZONE, from_modified_text VARCHAR, max_returned INTEGER, iterator_id VARCHAR, remaining INTEGER, ticket VARCHAR, in_flight_message_id BIGINT, pages INTEGER DEFAULT(0) NOT NULL, restarts INTEGER DEFAULT(0) NOT NULL, rows_read INTEGER DEFAULT(0) NOT NULL, rows_loaded INTEGER DEFAULT(0) NOT NULL, rows_updated INTEGER DEFAULT(0) NOT NULL, rows_quarantined INTEGER DEFAULT(0) NOT NULL, requested_at TIMESTAMP WITH TIME ZONE NOT NULL, requested_by VARCHAR, import_payments BOOLEAN DEFAULT(false) NOT NULL, started_at TIMESTAMP WITH TIME ZONE, finished_at TIMESTAMP WITH TIME ZONE, last_request_message_id BIGINT, last_response_message_id BIGINT, last_load_id BIGINT, status_code INTEGER, status_message VARCHAR);

CREATE TABLE IF NOT EXISTS refresh_messages(message_id BIGINT PRIMARY KEY, query VARCHAR NOT NULL, request_id VARCHAR NOT NULL, iterator VARCHAR NOT NULL, iterator_id VARCHAR, ticket VARCHAR, state VARCHAR NOT NULL, sent_at TIMESTAMP WITH TIME ZONE NOT NULL, answered_at TIMESTAMP WITH TIME ZONE, response_message_id BIGINT, load_id BIGINT, status_code INTEGER, status_message VARCHAR, rows_read INTEGER, remaining INTEGER);

CREATE TABLE IF NOT EXISTS user_credentials(user_id BIGINT PRIMARY KEY, password_hash VARCHAR NOT NULL, updated_at TIMESTAMP WITH TIME ZONE);
