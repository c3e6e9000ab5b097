-- Audit log hardening: append-only, signed checkpoints, receipts.

-- Rows are never changed or removed, whoever asks; an administrator who
-- disables this trigger is still caught by the hash chain and the signed
-- checkpoints (wingman audit verify --pub).
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END
$$;
DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- A checkpoint signs the chain head (seq, row_hash) with the audit key, so
-- deleting the newest rows or rewriting history is detectable offline.
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    id        bigserial PRIMARY KEY,
    seq       bigint NOT NULL,
    row_hash  text NOT NULL,
    ts        text NOT NULL,
    kid       text NOT NULL,
    signature text NOT NULL
);

-- One signed receipt (DSSE envelope of an in-toto Statement) per request.
CREATE TABLE IF NOT EXISTS receipts (
    request_id text PRIMARY KEY,
    envelope   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
