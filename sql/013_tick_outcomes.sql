-- An outcome that wingman-approval's own tick decided (an expiry, an early
-- decision counted when its request arrived) has no input message that
-- Kafka would deliver again after a crash between its commit and its
-- publication. It is stored unpublished, marked published once delivered,
-- and every tick sends again what is still unmarked.
ALTER TABLE approval_requests
    ADD COLUMN outcome_published boolean NOT NULL DEFAULT true;
CREATE INDEX approval_requests_unpublished ON approval_requests (decided_at)
    WHERE NOT outcome_published;
