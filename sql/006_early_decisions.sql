-- Human decisions read before their request (issue 15): Kafka gives no
-- order between wingman.assessments and wingman.human-decisions, so after a
-- restart wingman-approval may read an approval first. It is kept here, the
-- signed message as received, and counted with every usual check when the
-- request arrives; one that waits too long is dead-lettered and audited.
CREATE TABLE IF NOT EXISTS early_decisions (
    request_id  text NOT NULL,
    approver    text NOT NULL,
    message     text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, approver)
);
