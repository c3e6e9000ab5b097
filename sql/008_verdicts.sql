-- What became of each command, in its own column: the executor decides it
-- where it happens and reads it back for a replay, never from the reason
-- text in result (services/executor/ledger.h, enum exec_verdict). Safe to
-- apply again.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema()
                   AND table_name = 'executions' AND column_name = 'verdict') THEN
        ALTER TABLE executions ADD COLUMN verdict text
            CHECK (verdict IN ('executed', 'rejected', 'frozen', 'failed', 'interrupted',
                              'shadow'));
        -- Rows finished before the column: their verdict was implied by
        -- the stored result, read this once, as the executor used to.
        UPDATE executions SET verdict = CASE
                WHEN result IS NULL THEN 'interrupted'
                WHEN result::json->>'status' IN ('ok', 'error') THEN 'executed'
                WHEN result::json->>'status' = 'shadow' THEN 'shadow'
                WHEN result::json->>'status' = 'refused' THEN
                    CASE WHEN result::json->>'output' LIKE 'FROZEN:%' THEN 'frozen' ELSE 'rejected' END
                WHEN result::json->>'output' LIKE 'EXEC_OUTCOME_UNKNOWN:%' THEN 'interrupted'
                ELSE 'failed' END
            WHERE state <> 'running';
        ALTER TABLE executions ADD CONSTRAINT executions_verdict_when_finished
            CHECK (state = 'running' OR verdict IS NOT NULL);
    END IF;
END
$$;
