-- Applied last. The services connect as wingman_service (scripts/stack
-- creates it; a deployment creates it the same way): it reads and adds
-- audit rows, checkpoints and receipts, and can never change or remove
-- them (the chain registry and origin it only reads); on the working tables it may do what the services need. The owner
-- (wingman) applies the schema and is still stopped by the append-only
-- trigger of sql/004_audit.sql.
DO $$
DECLARE
    t text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wingman_service') THEN
        RAISE NOTICE 'role wingman_service does not exist: no grants made';
        RETURN;
    END IF;
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
        EXECUTE format('REVOKE ALL ON %I FROM wingman_service', t);
        IF t IN ('audit_chains', 'audit_chain_origin') THEN
            -- Written by the migration and the audit_log trigger alone.
            EXECUTE format('GRANT SELECT ON %I TO wingman_service', t);
        ELSIF t IN ('audit_log', 'audit_checkpoints', 'receipts') THEN
            EXECUTE format('GRANT SELECT, INSERT ON %I TO wingman_service', t);
        ELSE
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO wingman_service', t);
        END IF;
    END LOOP;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO wingman_service;
END
$$;
