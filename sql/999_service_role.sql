-- Applied last. wingman_service is the older shared role the services
-- once connected as; each has a role of its own now (sql/998_roles.sql), and
-- this one is no longer used: drop it. Where it still exists it may only
-- read. It maps to no service, so the audit writer check could not tell
-- whose rows it wrote, nor the kill switch's trigger whether it may write:
-- a role that may INSERT audit rows or touch the kill switch must be one of
-- the per-service roles.
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
        EXECUTE format('GRANT SELECT ON %I TO wingman_service', t);
    END LOOP;
    REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM wingman_service;
END
$$;
