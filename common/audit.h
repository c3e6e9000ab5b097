/*
 * Audit events from every process: rows in PostgreSQL chained by SHA-256
 * (each row carries the hash of the previous row of its chain), and the
 * same rows as JSONL in WINGMAN_AUDIT_JSONL. Each writer appends to a chain
 * of its own, "<service>/<lane>" (sql/014_chains.sql); the row's content
 * names the chain, so a row cannot be moved to another. Callers that must fail closed check the
 * return value (the executor does not run what it cannot audit).
 */
#ifndef WINGMAN_AUDIT_H
#define WINGMAN_AUDIT_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#define AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"
/* The chain of the rows written before per-writer chains (sql/014_chains.sql). */
#define AUDIT_LEGACY_CHAIN "legacy"
#define AUDIT_CHAIN_MAX 100
/* A lane is a number of 1 to 3 digits (the database's writer check and audit_chains say so). */
#define AUDIT_LANE_MAX 999

struct audit;

/*
 * conninfo "" turns the PostgreSQL sink off (NULL is an error: a failed
 * lookup must not silently stop auditing); jsonl_path NULL or "" turns the
 * JSONL copy off.
 */
struct audit *audit_open(const char *service, const char *conninfo, const char *jsonl_path,
    char *err, size_t errlen);
void audit_close(struct audit *a);
/*
 * The chain this writer appends to: "<service>/<lane>", lane 0 from
 * audit_open. A process with several lanes (the executor) gives each lane's
 * audit its own number, so the lanes do not wait for each other's chain
 * lock. Processes of one service that share a lane number (two replicas)
 * share that chain: the chain lock serialises them. Call before any row is
 * queued; returns 0, or -1 (a row queued, or lane above AUDIT_LANE_MAX).
 */
int audit_set_lane(struct audit *a, unsigned lane);
const char *audit_chain(const struct audit *a);
/*
 * The service a chain belongs to: the part of "<service>/<lane>" before the
 * "/" (service: [a-z][a-z0-9-]{0,62}, lane: 1 to 3 digits, as the
 * database's writer check says). Returns 0, or -1 when chain is not such a
 * name (the legacy chain is not) or service is too small.
 */
int audit_chain_service(const char *chain, char *service, size_t len);

/*
 * Appends one event. details is stolen (may be NULL). Returns 0 when every
 * configured sink took the row, -1 otherwise.
 */
int audit_record(struct audit *a, const char *request_id, const char *event, json_t *details);

/*
 * Group commit. Between begin and commit, audit_record only queues its row
 * (and returns 0); audit_flush writes what is queued in one transaction,
 * audit_batch_commit flushes and ends the batch. A failed flush loses the
 * queued rows and returns -1, and so does the batch's commit: the caller
 * redoes all the work that made them.
 * Without a batch, audit_record writes at once.
 */
void audit_batch_begin(struct audit *a);
int audit_flush(struct audit *a);
int audit_batch_commit(struct audit *a);
/* 1 while a batch is open: audit_record queues instead of writing. */
int audit_batching(const struct audit *a);
/*
 * The batch's work is lost (its state rolled back): the queued rows are
 * dropped, and its commit will fail, so all of it is done again.
 */
void audit_batch_fail(struct audit *a);
/*
 * The queue as it is now, and the rows queued since: a handler that
 * undoes its work (a rolled-back transaction, to be redone) drops the
 * rows that told of it, and the redo queues them again. Rows written or
 * dropped in between are not touched.
 */
struct audit_mark {
	unsigned long takes;
	size_t rows;
};
struct audit_mark audit_mark(const struct audit *a);
void audit_drop_since(struct audit *a, struct audit_mark m);
/*
 * Writes what is queued on c, inside the transaction the caller has open
 * there (same database, a role allowed to write audit rows), so that state
 * and the audit rows saying so commit together or not at all. The chain
 * lock is held until the caller's transaction ends. A failure returns -1 and
 * fails the batch, as audit_flush does; the caller rolls back.
 */
int audit_flush_within(struct audit *a, PGconn *c);

/*
 * The queued rows as the arguments of wingman_audit_append
 * (sql/010_round_trips.sql), for a statement that appends them along with
 * its own work (the executor's ledger): the writer's service and five
 * PostgreSQL array literals. A row's content is its JSON with the
 * prev_hash and seq values cut out (heads, mids, tails): only the database,
 * holding the chain lock, knows them; it completes the content, hashes it
 * (audit_row_hash's formula) and inserts the row.
 */
struct audit_args {
	json_t *rows; /* the rows taken (a reference); NULL: none queued */
	const char *chain; /* the writer's chain, the function's first argument */
	char *request_ids, *events, *heads, *mids, *tails; /* NULL when rows is NULL */
};
/*
 * Takes the queued rows; they stay queued until audit_args_done. a NULL
 * (no audit) or no PostgreSQL sink takes none. Returns 0, or -1 out of
 * memory (x is then empty).
 */
int audit_args_take(struct audit *a, struct audit_args *x);
/* wingman_audit_append's arguments: chain, request_ids, events, heads, mids, tails. */
#define AUDIT_ARGS_N 6
/* Sets params[0..AUDIT_ARGS_N) from x (NULLs when x has no rows). */
void audit_args_params(const struct audit_args *x, const char **params);
/*
 * What became of the rows taken, and frees x:
 *   AUDIT_ARGS_WRITTEN: appended (seqs, prev and hashes are the function's
 *     o_seqs, o_prev, o_hashes as text); the JSONL copy is written now and
 *     the rows leave the queue. Returns -1 (the batch fails) if the copy
 *     or the answer was bad.
 *   AUDIT_ARGS_FAILED: the append failed: the rows leave the queue and the
 *     batch fails, as with audit_flush_within.
 *   AUDIT_ARGS_UNUSED: the statement did not append them: they stay queued.
 */
enum audit_args_fate { AUDIT_ARGS_WRITTEN, AUDIT_ARGS_FAILED, AUDIT_ARGS_UNUSED };
int audit_args_done(struct audit *a, struct audit_args *x, enum audit_args_fate fate,
    const char *seqs, const char *prev, const char *hashes);

/*
 * A row's content cut around its prev_hash and seq values: the content
 * with prev_hash P and seq N is head P mid N tail (JSON, keys sorted,
 * compact). Sets the row's seq to 0 and prev_hash to "". Returns 0 with
 * three new strings, or -1.
 */
int audit_row_split(json_t *row, char **head, char **mid, char **tail);

/* The chain hash of a row: SHA-256(prev_hash "\n" content), hex. */
void audit_row_hash(const char *prev_hash, const char *content, char out[65]);

#endif
