-- Wingman's durable state. Applied by scripts/stack in file order; every
-- statement is safe to run again.

-- Audit log: append-only hash chain. content is the canonical JSON of the
-- row; row_hash = SHA-256(prev_hash || "\n" || content), hex.
CREATE TABLE IF NOT EXISTS audit_log (
    seq        bigint PRIMARY KEY,
    ts         timestamptz NOT NULL DEFAULT now(),
    service    text NOT NULL,
    request_id text NOT NULL,
    event      text NOT NULL,
    content    text NOT NULL,
    prev_hash  text NOT NULL,
    row_hash   text NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_request ON audit_log (request_id);

-- Approval state: one row per request, the first final decision wins.
CREATE TABLE IF NOT EXISTS approval_requests (
    request_id         text PRIMARY KEY,
    environment        text NOT NULL,
    worker_id          text NOT NULL,
    state              text NOT NULL
        CHECK (state IN ('pending', 'approved', 'rejected', 'expired', 'invalid')),
    assessment         text NOT NULL,
    approvers_required int NOT NULL,
    token_ttl_s        int NOT NULL,
    expires_at         timestamptz NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    decided_at         timestamptz,
    reason             text NOT NULL DEFAULT '',
    -- what was published when the state was last set, re-sent on redelivery
    outcome_topic      text NOT NULL,
    outcome            text NOT NULL
);
CREATE INDEX IF NOT EXISTS approval_requests_pending
    ON approval_requests (expires_at) WHERE state = 'pending';

CREATE TABLE IF NOT EXISTS approval_votes (
    request_id text NOT NULL REFERENCES approval_requests (request_id),
    approver   text NOT NULL,
    decision   text NOT NULL CHECK (decision IN ('approve', 'reject')),
    channel    text NOT NULL,
    ts         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, approver)
);

-- Execution fence (trust rule 4): a row per token, written before the
-- Docker call; unique on jti, so a token can run at most once even if the
-- Redis ledger lost its data.
CREATE TABLE IF NOT EXISTS executions (
    jti         text PRIMARY KEY,
    request_id  text NOT NULL,
    cmd_index   int NOT NULL,
    cmd         text NOT NULL,
    state       text NOT NULL CHECK (state IN ('running', 'done')),
    result      text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS executions_request ON executions (request_id);
