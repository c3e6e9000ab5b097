-- No two rows of a per-writer chain link to the same row (second review of
-- the chains, M2). The writer check (sql/014_chains.sql) reads a chain's
-- head under the chain's lock, but a transaction in REPEATABLE READ or
-- SERIALIZABLE reads it from its snapshot, which can be older than the
-- lock: a role could append after a head that already has a successor, a
-- fork that `audit verify` would report for ever and nobody could repair.
-- A unique index sees every committed and in-progress row, whatever the
-- snapshot. (The legacy chain is closed and was verified as one chain.)
CREATE UNIQUE INDEX audit_log_chain_link ON audit_log (chain, prev_hash) WHERE chain <> 'legacy';
