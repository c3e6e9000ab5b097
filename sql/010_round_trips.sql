-- Fewer statements per request (issue 11): the audit chain's append and the
-- executor's ledger steps as functions, one statement each instead of one
-- per lock, read and row. Every function runs with its caller's rights
-- (SECURITY INVOKER, the default): it does nothing its caller could not do
-- with the statements it replaces, and the grants (998_roles.sql) and
-- triggers (audit_log_writer, killswitch_admin_only) apply as before.
-- A volatile plpgsql function takes a new snapshot for each statement, so
-- what it reads after taking a lock is what was committed before the lock.

-- The chain append: the lock (held until the caller's transaction ends),
-- the head, then each row. A row's content comes cut around its prev_hash
-- and seq values (heads[i] prev mids[i] seq tails[i]), which only the
-- holder of the lock knows; its hash is common/audit.c's audit_row_hash:
-- SHA-256 of prev_hash "\n" content, hex. Returns the first row's seq, the
-- head it chained to and the rows' hashes, for the JSONL copy.
CREATE OR REPLACE FUNCTION wingman_audit_append(p_service text, p_request_ids text[],
    p_events text[], p_heads text[], p_mids text[], p_tails text[],
    OUT o_seq bigint, OUT o_prev text, OUT o_hashes text[])
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s bigint;
    prev text;
    h text;
    body text;
    n int := coalesce(array_length(p_events, 1), 0);
BEGIN
    IF n = 0 OR array_length(p_request_ids, 1) <> n OR array_length(p_heads, 1) <> n
       OR array_length(p_mids, 1) <> n OR array_length(p_tails, 1) <> n THEN
        RAISE EXCEPTION 'AUDIT_BAD_ROW: % events, arrays of other lengths', n;
    END IF;
    PERFORM pg_advisory_xact_lock(727166);
    SELECT a.seq, a.row_hash INTO s, prev FROM audit_log a ORDER BY a.seq DESC LIMIT 1;
    IF s IS NULL THEN
        s := 0;
        prev := repeat('0', 64);
    END IF;
    o_seq := s + 1;
    o_prev := prev;
    o_hashes := '{}';
    FOR i IN 1 .. n LOOP
        s := s + 1;
        body := p_heads[i] || prev || p_mids[i] || s || p_tails[i];
        h := encode(sha256(convert_to(prev || E'\n' || body, 'UTF8')), 'hex');
        INSERT INTO audit_log (seq, service, request_id, event, content, prev_hash, row_hash)
        VALUES (s, p_service, p_request_ids[i], p_events[i], body, prev, h);
        o_hashes := o_hashes || h;
        prev := h;
    END LOOP;
END
$$;

-- The executor's first step on a token: its advisory lock (session-level,
-- the two-key space of services/executor/ledger.c), then the token's row.
-- Read without the lock too: a finished row never changes, so a copy of an
-- order whose token another executor holds still answers from it.
CREATE OR REPLACE FUNCTION wingman_ledger_lock(p_jti text, OUT o_locked boolean,
    OUT o_state text, OUT o_result text, OUT o_verdict text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    o_locked := pg_try_advisory_lock(727167, hashtext(p_jti));
    SELECT e.state, e.result, e.verdict INTO o_state, o_result, o_verdict
    FROM executions e WHERE e.jti = p_jti;
END
$$;

-- The intent: the kill switch (FOR SHARE on the freeze row, as
-- sql/003_killswitch.sql describes), the intent row ('running', or 'void'
-- holding the refusal), and, when the row is ours, the audit rows, all in
-- the caller's transaction. o_outcome: written, void, taken (this jti has
-- a row), command_taken (another jti has this command), unreadable (no
-- freeze row). Audit arguments NULL: no audit rows.
CREATE OR REPLACE FUNCTION wingman_ledger_intent(p_jti text, p_request_id text, p_index int,
    p_cmd text, p_service text, p_request_ids text[], p_events text[], p_heads text[],
    p_mids text[], p_tails text[],
    OUT o_outcome text, OUT o_why text, OUT o_result text, OUT o_verdict text,
    OUT o_seq bigint, OUT o_prev text, OUT o_hashes text[])
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
        SELECT a.o_seq, a.o_prev, a.o_hashes INTO o_seq, o_prev, o_hashes
        FROM wingman_audit_append(p_service, p_request_ids, p_events, p_heads, p_mids,
            p_tails) a;
    END IF;
END
$$;

-- The result on its intent row, then the audit rows. Should the rows fail,
-- the result is still stored (what ran must not read as interrupted): they
-- are rolled back alone (o_audit_error says why) and the caller fails its
-- batch, so they are redone.
CREATE OR REPLACE FUNCTION wingman_ledger_finish(p_jti text, p_result text, p_verdict text,
    p_service text, p_request_ids text[], p_events text[], p_heads text[], p_mids text[],
    p_tails text[],
    OUT o_audit_error text, OUT o_seq bigint, OUT o_prev text, OUT o_hashes text[])
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    UPDATE executions SET state = 'done', result = p_result, verdict = p_verdict,
        finished_at = now()
    WHERE jti = p_jti AND state = 'running';
    IF p_events IS NOT NULL THEN
        BEGIN
            SELECT a.o_seq, a.o_prev, a.o_hashes INTO o_seq, o_prev, o_hashes
            FROM wingman_audit_append(p_service, p_request_ids, p_events, p_heads, p_mids,
                p_tails) a;
        EXCEPTION WHEN others THEN
            o_audit_error := SQLERRM;
        END;
    END IF;
END
$$;
