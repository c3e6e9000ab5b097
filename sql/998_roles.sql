-- One database role per process (trust rule 8): a process taken over with
-- its role still touches only its own tables, with only the verbs it uses.
-- The roles are cluster-wide, so whoever may create roles makes them
-- (scripts/stack, deploy/postgres/start.sh), each with its own password;
-- this file, applied by the owner after every table exists, only grants.
-- Safe to apply again: every role's rights are revoked and granted anew.
--
--   role               tables (verbs)
--   wingman_consensus  audit rows only
--   wingman_token      audit rows only
--   wingman_approval   approval_requests (S I U), approval_votes (S I),
--                      early_decisions (S I D)
--   wingman_telegram   telegram_prompts (S I U), telegram_votes (S I),
--                      telegram_offsets (S I U), telegram_execs (S I U)
--   wingman_executor   executions (S I U), freeze_state and revocations
--                      (read; the id column of freeze_state is granted only
--                      because SELECT ... FOR SHARE needs an UPDATE right)
--   wingman_auditor    audit rows; audit_log and audit_chains (S),
--                      audit_checkpoints (S I), receipts (S I)
--   wingman_admin      the CLI: reads everything; writes freeze_state and
--                      revocations (the kill switch) and its own audit rows
--
-- "audit rows" is INSERT on audit_log plus SELECT of (seq, chain, row_hash),
-- which the chain append reads, the next value of audit_log_seq and reading
-- audit_chain_origin (sql/014_chains.sql); a chain's first row adds it to
-- audit_chains through a trigger, no role INSERTs there. Nobody may UPDATE,
-- DELETE or TRUNCATE audit_log, audit_chains or audit_chain_origin.
SET client_min_messages = warning;

-- The service name a role writes audit rows as; NULL for roles that are
-- not one of Wingman's processes (the owner). sql/014_chains.sql has a
-- copy, for its writer check before this file runs: keep the two the same.
CREATE OR REPLACE FUNCTION wingman_service_of(r name) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE r
        WHEN 'wingman_consensus' THEN 'wingman-consensus'
        WHEN 'wingman_approval' THEN 'wingman-approval'
        WHEN 'wingman_telegram' THEN 'wingman-telegram'
        WHEN 'wingman_token' THEN 'wingman-token'
        WHEN 'wingman_executor' THEN 'wingman-executor'
        WHEN 'wingman_auditor' THEN 'wingman-auditor'
        WHEN 'wingman_admin' THEN 'wingman'
    END
$$;

-- The writer check on every audit row (who wrote it, in which chain, at
-- which place) and the chain registry's trigger are in sql/014_chains.sql,
-- installed in that migration's transaction.

-- Checkpoints are evidence too: never changed or removed, whoever asks.
CREATE OR REPLACE FUNCTION wingman_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP;
END
$$;
DROP TRIGGER IF EXISTS audit_checkpoints_no_update ON audit_checkpoints;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION wingman_append_only();
DROP TRIGGER IF EXISTS audit_checkpoints_no_truncate ON audit_checkpoints;
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION wingman_append_only();

-- The kill switch answers to the CLI's role alone. The grants already say
-- so; the trigger also covers the executor's UPDATE right on the id column,
-- which exists only for its FOR SHARE read.
CREATE OR REPLACE FUNCTION killswitch_admin_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF wingman_service_of(current_user) IS NOT NULL AND current_user <> 'wingman_admin' THEN
        RAISE EXCEPTION 'KILLSWITCH_ADMIN_ONLY: % may not % %', current_user, TG_OP, TG_TABLE_NAME;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
DROP TRIGGER IF EXISTS freeze_state_admin_only ON freeze_state;
CREATE TRIGGER freeze_state_admin_only BEFORE INSERT OR UPDATE OR DELETE ON freeze_state
    FOR EACH ROW EXECUTE FUNCTION killswitch_admin_only();
DROP TRIGGER IF EXISTS revocations_admin_only ON revocations;
CREATE TRIGGER revocations_admin_only BEFORE INSERT OR UPDATE OR DELETE ON revocations
    FOR EACH ROW EXECUTE FUNCTION killswitch_admin_only();

-- Nobody but the owner creates anything in the schema or the database.
-- The writer check (sql/014_chains.sql) names our tables and functions with
-- their schema but calls built-in functions and operators unqualified, for
-- speed: an object in public of the same name and signature could stand in
-- for one of them. PostgreSQL 15 gives PUBLIC no CREATE on public; a
-- database upgraded from an older one still has it: taken away here.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DO $$
BEGIN
    EXECUTE format('REVOKE CREATE ON DATABASE %I FROM PUBLIC', current_database());
END
$$;

DO $$
DECLARE
    roles text[] := ARRAY['wingman_consensus', 'wingman_approval', 'wingman_telegram',
        'wingman_token', 'wingman_executor', 'wingman_auditor', 'wingman_admin'];
    r text;
    t text;
    missing text[] := '{}';
BEGIN
    FOREACH r IN ARRAY roles LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            missing := missing || r;
            CONTINUE;
        END IF;
        FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
            EXECUTE format('REVOKE ALL ON %I FROM %I', t, r);
        END LOOP;
        EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM %I', r);
        EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', r);
        -- Every process appends audit rows in its own name.
        EXECUTE format('GRANT SELECT (seq, chain, row_hash), INSERT ON audit_log TO %I', r);
        EXECUTE format('GRANT SELECT ON audit_chain_origin TO %I', r);
        EXECUTE format('GRANT USAGE ON SEQUENCE audit_log_seq TO %I', r);
    END LOOP;
    IF array_length(missing, 1) > 0 THEN
        RAISE WARNING 'roles missing, not granted: %', array_to_string(missing, ', ');
    END IF;

    IF NOT 'wingman_approval' = ANY (missing) THEN
        GRANT SELECT, INSERT, UPDATE ON approval_requests TO wingman_approval;
        GRANT SELECT, INSERT ON approval_votes TO wingman_approval;
        GRANT SELECT, INSERT, DELETE ON early_decisions TO wingman_approval;
    END IF;
    IF NOT 'wingman_telegram' = ANY (missing) THEN
        GRANT SELECT, INSERT, UPDATE ON telegram_prompts, telegram_offsets, telegram_execs
            TO wingman_telegram;
        GRANT SELECT, INSERT ON telegram_votes TO wingman_telegram;
    END IF;
    IF NOT 'wingman_executor' = ANY (missing) THEN
        GRANT SELECT, INSERT, UPDATE ON executions TO wingman_executor;
        GRANT SELECT ON freeze_state, revocations TO wingman_executor;
        GRANT UPDATE (id) ON freeze_state TO wingman_executor;
    END IF;
    IF NOT 'wingman_auditor' = ANY (missing) THEN
        GRANT SELECT ON audit_log, audit_chains TO wingman_auditor;
        GRANT SELECT, INSERT ON audit_checkpoints, receipts TO wingman_auditor;
        GRANT USAGE ON SEQUENCE audit_checkpoints_id_seq TO wingman_auditor;
    END IF;
    IF NOT 'wingman_admin' = ANY (missing) THEN
        FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
            EXECUTE format('GRANT SELECT ON %I TO wingman_admin', t);
        END LOOP;
        GRANT INSERT, UPDATE ON freeze_state TO wingman_admin;
        GRANT INSERT ON revocations TO wingman_admin;
    END IF;
END
$$;

-- The functions of sql/010_round_trips.sql run with their caller's rights
-- (SECURITY INVOKER): through them a role does nothing its grants above do
-- not allow. EXECUTE goes only to the roles that use them all the same: the
-- chain append to every writer of audit rows, the ledger's to the executor.
DO $$
DECLARE
    r text;
BEGIN
    IF to_regprocedure('wingman_audit_append(text, text[], text[], text[], text[], text[])')
       IS NULL THEN
        RETURN;
    END IF;
    REVOKE ALL ON FUNCTION wingman_audit_append(text, text[], text[], text[], text[], text[]),
        wingman_ledger_lock(text),
        wingman_ledger_intent(text, text, int, text, text, text[], text[], text[], text[], text[]),
        wingman_ledger_finish(text, text, text, text, text[], text[], text[], text[], text[])
        FROM PUBLIC;
    FOREACH r IN ARRAY ARRAY['wingman_consensus', 'wingman_approval', 'wingman_telegram',
        'wingman_token', 'wingman_executor', 'wingman_auditor', 'wingman_admin'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION wingman_audit_append(text, text[], text[],'
                ' text[], text[], text[]) TO %I', r);
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wingman_executor') THEN
        GRANT EXECUTE ON FUNCTION wingman_ledger_lock(text),
            wingman_ledger_intent(text, text, int, text, text, text[], text[], text[], text[],
                text[]),
            wingman_ledger_finish(text, text, text, text, text[], text[], text[], text[], text[])
            TO wingman_executor;
    END IF;
END
$$;
