-- At most one token ever runs per command of a request (trust rule 8). The
-- intent row is unique on jti; a second token for the same request command
-- (a compromised wingman-token minting anew for old, genuine evidence, or a
-- compromised approval re-deciding with a new decided_at) has another jti,
-- and is refused here: REQUEST_ALREADY_RUN.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM executions GROUP BY request_id, cmd_index HAVING count(*) > 1) THEN
        RAISE EXCEPTION 'executions holds two tokens for one command of a request: '
            'SELECT request_id, cmd_index FROM executions GROUP BY 1, 2 HAVING count(*) > 1';
    END IF;
END
$$;
CREATE UNIQUE INDEX IF NOT EXISTS executions_one_per_command ON executions (request_id, cmd_index);
