-- A chain's head is read by every append and again by the writer check:
-- the chain's row with the highest seq (sql/014_chains.sql). The index for
-- that is audit_log_chain_seq (chain, seq), but with a few chains the
-- planner takes each chain for a large share of the table and prefers
-- walking the primary key backwards, keeping the rows of that chain: cheap
-- for a chain that just wrote, a walk through every row written since for
-- one that did not (the auditor's, the CLI's, an executor lane after a
-- pause), and through the whole table for a chain's first row. Measured on
-- 960,000 rows: 320-560 ms a lookup, under the chain's lock; by the index,
-- 0.02-0.2 ms. The plan a session keeps for the functions (the generic
-- one, after five calls) is made for no chain in particular, from the
-- column's number of distinct values: so many, each chain a small share,
-- that the walk never looks cheaper than the index. ANALYZE, which
-- autovacuum repeats as the table grows, keeps this number.
ALTER TABLE audit_log ALTER COLUMN chain SET (n_distinct = 10000);
ANALYZE audit_log;
