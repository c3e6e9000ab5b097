-- Human approval over Telegram. Applied by scripts/stack after 001; every
-- statement is safe to run again.
SET client_min_messages = warning;

-- approval: what a redelivered or late human decision needs to publish
-- again. final_update is the approval_update sent when the request ended;
-- decided_msg the sig value of the human decision that ended it.
ALTER TABLE approval_requests ADD COLUMN IF NOT EXISTS final_update text;
ALTER TABLE approval_requests ADD COLUMN IF NOT EXISTS decided_msg text;

-- wingman-telegram: one row per approval prompt, with the chat message that
-- shows it. handle is the short request reference carried in callback_data
-- (base64url of 12 bytes of SHA-256 of the request id); the HMAC tag next to
-- it in callback_data is bound to the full request id.
CREATE TABLE IF NOT EXISTS telegram_prompts (
    request_id         text PRIMARY KEY,
    handle             text NOT NULL UNIQUE,
    prompt             text NOT NULL,            -- the signed approval_prompt as received
    worker_id          text NOT NULL,
    approvers_required int NOT NULL,
    expires_at         timestamptz NOT NULL,
    chat_id            bigint NOT NULL,
    message_id         bigint,                   -- NULL until sendMessage succeeded
    state              text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'approved', 'rejected', 'expired')),
    approvals          text NOT NULL DEFAULT '[]', -- JSON array of approver names
    decided_by         text NOT NULL DEFAULT '[]', -- JSON array of approver names
    reason             text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- The presses the bot forwarded as signed human decisions: each approver
-- once per request (wingman-approval counts once as well).
CREATE TABLE IF NOT EXISTS telegram_votes (
    request_id text NOT NULL REFERENCES telegram_prompts (request_id),
    approver   text NOT NULL,
    decision   text NOT NULL CHECK (decision IN ('approve', 'reject')),
    from_id    bigint NOT NULL,
    ts         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, approver)
);

-- getUpdates offset per bot (the bot id is the number before ':' in the
-- token, public): the next update_id to ask for, stored after each update
-- is handled, so a restart neither loses nor repeats a press.
CREATE TABLE IF NOT EXISTS telegram_offsets (
    bot_id      text PRIMARY KEY,
    next_offset bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
