-- One audit chain per writer (issue 11). Until now every row of every
-- process went through one advisory lock and one chain head, so all the
-- audit appends of the system ran one after another. From here on each
-- writing process lane appends to a chain of its own, named
-- "<service>/<lane>" (wingman-executor/3, wingman-consensus/0): the lock is
-- per chain (pg_advisory_xact_lock(727166, hashtext(chain))), the head is
-- that chain's last row, and seq, still the global order and primary key,
-- comes from a sequence (gaps allowed). The rows written before this
-- migration stay one chain, "legacy", closed: audit_chain_origin records
-- its head at this point, and the first row of every new chain links to
-- that head, so the whole history stays one verifiable tree.

-- Every row names its chain; the old rows form the legacy chain.
ALTER TABLE audit_log ADD COLUMN chain text NOT NULL DEFAULT 'legacy';
ALTER TABLE audit_log ALTER COLUMN chain DROP DEFAULT;
CREATE INDEX audit_log_chain_seq ON audit_log (chain, seq);

-- seq from a sequence: writers of different chains no longer share a head.
CREATE SEQUENCE audit_log_seq OWNED BY audit_log.seq;
SELECT setval('audit_log_seq', coalesce(max(seq), 0) + 1, false) FROM audit_log;

-- Where the per-writer chains begin: the legacy chain's head when they did
-- (seq 0 and the genesis hash for a log that was empty). One row, append-only.
CREATE TABLE audit_chain_origin (
    id           boolean PRIMARY KEY DEFAULT true CHECK (id),
    legacy_seq   bigint NOT NULL,
    legacy_hash  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_chain_origin (legacy_seq, legacy_hash)
SELECT coalesce(max(seq), 0),
       coalesce((SELECT row_hash FROM audit_log ORDER BY seq DESC LIMIT 1), repeat('0', 64))
FROM audit_log;

-- Evidence tables refuse every change and removal, whoever asks, naming
-- the table (sql/998_roles.sql defines the same function again, for
-- audit_checkpoints; it is here too because this file runs first).
CREATE OR REPLACE FUNCTION wingman_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP;
END
$$;
CREATE TRIGGER audit_chain_origin_no_update BEFORE UPDATE OR DELETE ON audit_chain_origin
    FOR EACH ROW EXECUTE FUNCTION wingman_append_only();
CREATE TRIGGER audit_chain_origin_no_truncate BEFORE TRUNCATE ON audit_chain_origin
    FOR EACH STATEMENT EXECUTE FUNCTION wingman_append_only();

-- The chains that exist, so the auditor finds every head without a scan of
-- the log (one index probe per chain). A chain is added by its first row
-- (audit_chain_register below), by no one else: no role may INSERT here,
-- and nobody changes or removes a chain. A chain's name is "<service>/<lane>",
-- the lane a number of 1 to 3 digits (every writer numbers its lanes,
-- common/audit.h), so there are at most a thousand chains per service.
CREATE TABLE audit_chains (
    chain      text PRIMARY KEY
        CHECK (chain = 'legacy' OR chain ~ '^[a-z][a-z0-9-]{0,62}/[0-9]{1,3}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_chains (chain) SELECT 'legacy' WHERE EXISTS (SELECT 1 FROM audit_log);
CREATE TRIGGER audit_chains_no_update BEFORE UPDATE OR DELETE ON audit_chains
    FOR EACH ROW EXECUTE FUNCTION wingman_append_only();
CREATE TRIGGER audit_chains_no_truncate BEFORE TRUNCATE ON audit_chains
    FOR EACH STATEMENT EXECUTE FUNCTION wingman_append_only();

-- A checkpoint signs one chain's head (chain NULL: a checkpoint made
-- before this migration, which signs the head of the one chain then). The
-- index finds a chain's newest checkpoint: the auditor signs only heads
-- that moved since.
ALTER TABLE audit_checkpoints ADD COLUMN chain text;
CREATE INDEX audit_checkpoints_chain ON audit_checkpoints (chain, id);

-- The service name a role writes audit rows as; NULL for roles that are
-- not one of Wingman's processes (the owner). sql/998_roles.sql, which
-- names the roles, defines it again on every migrate; it is here because
-- the writer check below uses it from this file on.
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

-- Every row, by the append below or by a plain INSERT (every writer role
-- has INSERT on audit_log), is checked here, in this migration's
-- transaction, so no row is written between this file and
-- sql/998_roles.sql under the older check.
--
-- Who: an audit row says who wrote it three times, in the service column,
-- in its chain's name ("<service>/<lane>") and in the hashed content
-- (receipts read the content, which also names the chain): all must name
-- the writer, so one process can neither speak in another's name nor write
-- into another's chain. The legacy chain (the rows from before this file)
-- is closed: nobody appends to it.
--
-- Where: the row is the next of its chain, as the append makes it. Its seq
-- is the one audit_log_seq has just given this session (currval), after
-- the chain's head and after the legacy head; prev_hash is the chain's
-- head (the legacy head for its first row); the content says that seq and
-- prev_hash; row_hash is SHA-256(prev_hash "\n" content). So a role cannot
-- choose a seq (one above the sequence makes every later append collide,
-- one near 2^63 hides newer rows from audit tail) nor write a row that
-- `audit verify` would refuse. The chain's lock is taken here too
-- (already held, inside the append): a plain INSERT is serialised with the
-- chain's other writers like an append.
--
-- Every table, sequence and function of ours is named with its schema, so
-- a role's temporary table cannot stand in for one (unqualified, pg_temp
-- is searched first for relations; functions and operators are never
-- looked up there, and no role may create anything in public). That is
-- what SET search_path would give, without its cost: a function with a
-- SET clause sets and restores the GUC on every call, which on this
-- per-row trigger doubled the cost of an append (docs/benchmarks.md).
CREATE OR REPLACE FUNCTION audit_log_writer_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    mine text := public.wingman_service_of(current_user);
    j jsonb;
    said text;
    said_chain text;
    cur bigint;
    head_seq bigint;
    head text;
    origin_seq bigint;
    origin text;
BEGIN
    BEGIN
        j := NEW.content::jsonb;
        cur := currval('public.audit_log_seq');
    EXCEPTION
        WHEN object_not_in_prerequisite_state OR insufficient_privilege THEN
            cur := NULL; -- no nextval in this session (or no right to one): refused below
        WHEN others THEN
            RAISE EXCEPTION 'AUDIT_BAD_ROW: content is not JSON';
    END;
    said := j ->> 'service';
    said_chain := j ->> 'chain';
    IF said IS DISTINCT FROM NEW.service THEN
        RAISE EXCEPTION 'AUDIT_BAD_ROW: content names service %, the row %', said, NEW.service;
    END IF;
    IF NEW.chain IS NULL OR NEW.chain !~ '^[a-z][a-z0-9-]{0,62}/[0-9]{1,3}$' THEN
        RAISE EXCEPTION 'AUDIT_BAD_CHAIN: % is not a chain name (service/lane, lane 0-999)',
            left(NEW.chain, 100);
    END IF;
    IF said_chain IS DISTINCT FROM NEW.chain THEN
        RAISE EXCEPTION 'AUDIT_BAD_ROW: content names chain %, the row %', left(said_chain, 100),
            NEW.chain;
    END IF;
    IF split_part(NEW.chain, '/', 1) IS DISTINCT FROM NEW.service THEN
        RAISE EXCEPTION 'AUDIT_WRONG_WRITER: chain % is not a chain of %', NEW.chain, NEW.service;
    END IF;
    IF mine IS NOT NULL AND NEW.service IS DISTINCT FROM mine THEN
        RAISE EXCEPTION 'AUDIT_WRONG_WRITER: % writes audit rows as %, not % (chain %)',
            current_user, mine, NEW.service, NEW.chain;
    END IF;
    IF NEW.seq IS DISTINCT FROM cur THEN
        RAISE EXCEPTION 'AUDIT_BAD_SEQ: row % of chain % does not have the seq audit_log_seq '
            'gave this session last (%)', NEW.seq, NEW.chain, coalesce(cur::text, 'none');
    END IF;
    IF (j ->> 'seq') IS DISTINCT FROM NEW.seq::text
       OR (j ->> 'prev_hash') IS DISTINCT FROM NEW.prev_hash THEN
        RAISE EXCEPTION 'AUDIT_BAD_CONTENT: row % content does not name its seq and prev_hash',
            NEW.seq;
    END IF;
    PERFORM pg_advisory_xact_lock(727166, hashtext(NEW.chain));
    SELECT o.legacy_seq, o.legacy_hash INTO origin_seq, origin FROM public.audit_chain_origin o;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'AUDIT_NO_ORIGIN: audit_chain_origin is empty';
    END IF;
    SELECT a.seq, a.row_hash INTO head_seq, head FROM public.audit_log a
    WHERE a.chain = NEW.chain ORDER BY a.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        head_seq := origin_seq;
        head := origin;
    END IF;
    IF NEW.seq <= head_seq OR NEW.seq <= origin_seq THEN
        RAISE EXCEPTION 'AUDIT_BAD_SEQ: row % of chain % is not after row %, the chain''s head',
            NEW.seq, NEW.chain, head_seq;
    END IF;
    IF NEW.prev_hash IS DISTINCT FROM head THEN
        RAISE EXCEPTION 'AUDIT_BROKEN_LINK: row % does not point at the head of chain % (row %)',
            NEW.seq, NEW.chain, head_seq;
    END IF;
    IF NEW.row_hash IS DISTINCT FROM
       encode(sha256(convert_to(NEW.prev_hash || E'\n' || NEW.content, 'UTF8')), 'hex') THEN
        RAISE EXCEPTION 'AUDIT_BAD_HASH: row % of chain % has not its content''s hash', NEW.seq,
            NEW.chain;
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS audit_log_writer ON audit_log;
CREATE TRIGGER audit_log_writer BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_writer_check();

-- A chain's first row adds it to audit_chains, with the owner's rights
-- (SECURITY DEFINER: the writers may not INSERT there themselves). Only a
-- first row links to the legacy head (the check above), so the trigger
-- fires for that row alone: the head is written into its WHEN.
CREATE FUNCTION audit_chain_register() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    INSERT INTO audit_chains (chain) VALUES (NEW.chain) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
DO $$
BEGIN
    EXECUTE format('CREATE TRIGGER audit_log_chain_register AFTER INSERT ON audit_log'
        ' FOR EACH ROW WHEN (NEW.prev_hash = %L) EXECUTE FUNCTION audit_chain_register()',
        (SELECT legacy_hash FROM audit_chain_origin));
END
$$;

-- The append, per chain. p_chain is the writer's chain; its service is the
-- part before the "/". Returns every row's seq (not contiguous any more),
-- the head it chained to and the rows' hashes, for the JSONL copy. The
-- functions' result types change, so they are made anew (998_roles.sql,
-- applied after every migration, grants them again). Its tables are named
-- with their schema, as in the writer check.
DROP FUNCTION wingman_ledger_intent(text, text, int, text, text, text[], text[], text[], text[],
    text[]);
DROP FUNCTION wingman_ledger_finish(text, text, text, text, text[], text[], text[], text[],
    text[]);
DROP FUNCTION wingman_audit_append(text, text[], text[], text[], text[], text[]);

CREATE FUNCTION wingman_audit_append(p_chain text, p_request_ids text[],
    p_events text[], p_heads text[], p_mids text[], p_tails text[],
    OUT o_seqs bigint[], OUT o_prev text, OUT o_hashes text[])
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s bigint;
    prev text;
    h text;
    body text;
    svc text := split_part(p_chain, '/', 1);
    n int := coalesce(array_length(p_events, 1), 0);
BEGIN
    IF n = 0 OR array_length(p_request_ids, 1) <> n OR array_length(p_heads, 1) <> n
       OR array_length(p_mids, 1) <> n OR array_length(p_tails, 1) <> n THEN
        RAISE EXCEPTION 'AUDIT_BAD_ROW: % events, arrays of other lengths', n;
    END IF;
    IF p_chain IS NULL OR p_chain !~ '^[a-z][a-z0-9-]{0,62}/[0-9]{1,3}$' THEN
        RAISE EXCEPTION 'AUDIT_BAD_CHAIN: % is not a chain name (service/lane)', p_chain;
    END IF;
    PERFORM pg_advisory_xact_lock(727166, hashtext(p_chain));
    SELECT a.row_hash INTO prev FROM public.audit_log a WHERE a.chain = p_chain
    ORDER BY a.seq DESC LIMIT 1;
    IF prev IS NULL THEN
        SELECT o.legacy_hash INTO prev FROM public.audit_chain_origin o;
        IF prev IS NULL THEN
            RAISE EXCEPTION 'AUDIT_NO_ORIGIN: audit_chain_origin is empty';
        END IF;
    END IF;
    o_seqs := '{}';
    o_prev := prev;
    o_hashes := '{}';
    FOR i IN 1 .. n LOOP
        s := nextval('public.audit_log_seq');
        body := p_heads[i] || prev || p_mids[i] || s || p_tails[i];
        h := encode(sha256(convert_to(prev || E'\n' || body, 'UTF8')), 'hex');
        INSERT INTO public.audit_log (seq, chain, service, request_id, event, content, prev_hash,
            row_hash)
        VALUES (s, p_chain, svc, p_request_ids[i], p_events[i], body, prev, h);
        o_seqs := o_seqs || s;
        o_hashes := o_hashes || h;
        prev := h;
    END LOOP;
END
$$;

-- As in 010_round_trips.sql, with the chain append's new result.
CREATE FUNCTION wingman_ledger_intent(p_jti text, p_request_id text, p_index int,
    p_cmd text, p_chain text, p_request_ids text[], p_events text[], p_heads text[],
    p_mids text[], p_tails text[],
    OUT o_outcome text, OUT o_why text, OUT o_result text, OUT o_verdict text,
    OUT o_seqs bigint[], OUT o_prev text, OUT o_hashes text[])
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    is_frozen boolean;
    why text;
    n bigint;
BEGIN
    SELECT f.frozen, f.reason INTO is_frozen, why FROM freeze_state f WHERE f.id FOR SHARE;
    IF NOT FOUND THEN
        o_outcome := 'unreadable';
        o_why := 'freeze row missing';
        RETURN;
    END IF;
    IF is_frozen THEN
        o_why := 'FROZEN: ' || why;
        o_verdict := 'frozen';
    ELSE
        SELECT r.reason INTO why FROM revocations r WHERE r.request_id = p_request_id;
        IF FOUND THEN
            o_why := 'TOKEN_REVOKED: request ' || p_request_id || ' was revoked: ' || why;
            o_verdict := 'rejected';
        END IF;
    END IF;
    IF o_verdict IS NOT NULL THEN
        o_result := json_build_object('cmd', p_cmd, 'status', 'refused', 'exit_code', -1,
            'output', o_why)::text;
    END IF;
    INSERT INTO executions (jti, request_id, cmd_index, cmd, state, result, verdict, finished_at)
    VALUES (p_jti, p_request_id, p_index, p_cmd,
        CASE WHEN o_verdict IS NULL THEN 'running' ELSE 'void' END, o_result, o_verdict,
        CASE WHEN o_verdict IS NOT NULL THEN now() END)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> 1 THEN
        o_outcome := CASE WHEN EXISTS (SELECT 1 FROM executions e WHERE e.jti = p_jti)
            THEN 'taken' ELSE 'command_taken' END;
        o_result := NULL;
        o_verdict := NULL;
        RETURN;
    END IF;
    o_outcome := CASE WHEN o_verdict IS NULL THEN 'written' ELSE 'void' END;
    IF p_events IS NOT NULL THEN
        SELECT a.o_seqs, a.o_prev, a.o_hashes INTO o_seqs, o_prev, o_hashes
        FROM wingman_audit_append(p_chain, p_request_ids, p_events, p_heads, p_mids,
            p_tails) a;
    END IF;
END
$$;

CREATE FUNCTION wingman_ledger_finish(p_jti text, p_result text, p_verdict text,
    p_chain text, p_request_ids text[], p_events text[], p_heads text[], p_mids text[],
    p_tails text[],
    OUT o_audit_error text, OUT o_seqs bigint[], OUT o_prev text, OUT o_hashes text[])
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    UPDATE executions SET state = 'done', result = p_result, verdict = p_verdict,
        finished_at = now()
    WHERE jti = p_jti AND state = 'running';
    IF p_events IS NOT NULL THEN
        BEGIN
            SELECT a.o_seqs, a.o_prev, a.o_hashes INTO o_seqs, o_prev, o_hashes
            FROM wingman_audit_append(p_chain, p_request_ids, p_events, p_heads, p_mids,
                p_tails) a;
        EXCEPTION WHEN others THEN
            o_audit_error := SQLERRM;
        END;
    END IF;
END
$$;
