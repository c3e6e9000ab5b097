-- The kill switch (wingman freeze / thaw / revoke). Written by the CLI,
-- read by the executor for every command in the same transaction that
-- writes the command's intent row, so once `wingman freeze` or `wingman
-- revoke` has returned, no new command of the affected scope starts.
-- Safe to apply again.

-- One row, always there (freeze_state: FREEZE is an SQL keyword). Deleting
-- it thaws nothing: the executor then fails closed (KILLSWITCH_UNAVAILABLE)
-- until the row is back.
CREATE TABLE IF NOT EXISTS freeze_state (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    frozen     boolean NOT NULL DEFAULT false,
    reason     text NOT NULL DEFAULT '',
    changed_by text NOT NULL DEFAULT '',
    changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO freeze_state (id) VALUES (true) ON CONFLICT (id) DO NOTHING;

-- A revoked request's tokens that have not run yet never will.
CREATE TABLE IF NOT EXISTS revocations (
    request_id text PRIMARY KEY,
    reason     text NOT NULL DEFAULT '',
    revoked_by text NOT NULL DEFAULT '',
    revoked_at timestamptz NOT NULL DEFAULT now()
);

-- A token the kill switch refused is burnt: its row is 'void' and holds the
-- refusal, so a redelivery after a thaw answers the same instead of running.
-- Changed only once, so re-applying takes no lock on a busy table.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'executions_state_check'
                   AND pg_get_constraintdef(oid) LIKE '%void%') THEN
        ALTER TABLE executions DROP CONSTRAINT IF EXISTS executions_state_check;
        ALTER TABLE executions ADD CONSTRAINT executions_state_check
            CHECK (state IN ('running', 'done', 'void'));
    END IF;
END
$$;
