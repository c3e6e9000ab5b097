-- /exec from the approvers' chat (docs/telegram.md). Applied by
-- scripts/stack after 002; every statement is safe to run again.
SET client_min_messages = warning;

-- wingman-telegram: one row per request a person made with /exec, written
-- before the request is published. The Telegram message it came from is
-- unique, so an update handled twice (a crash before the getUpdates offset
-- was stored) publishes the same signed request again, never a second one.
-- The replies (acknowledgement, result) are recorded so each is sent once.
CREATE TABLE IF NOT EXISTS telegram_execs (
    request_id        text PRIMARY KEY,
    chat_id           bigint NOT NULL,
    message_id        bigint NOT NULL,          -- the /exec message
    from_id           bigint NOT NULL,
    requester         text NOT NULL,            -- the approver name; worker telegram-<requester>
    request           text NOT NULL,            -- the signed request as published
    ack_message_id    bigint,
    result_status     text,
    result_message_id bigint,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chat_id, message_id)
);
