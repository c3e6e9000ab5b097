/*
 * Audit events from every process: rows in PostgreSQL chained by SHA-256
 * (each row carries the hash of the previous one), and the same rows as
 * JSONL in WINGMAN_AUDIT_JSONL. Callers that must fail closed check the
 * return value (the executor does not run what it cannot audit).
 */
#ifndef WINGMAN_AUDIT_H
#define WINGMAN_AUDIT_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#define AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

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
/*
 * Writes what is queued on c, inside the transaction the caller has open
 * there (same database, a role allowed to write audit rows), so that state
 * and the audit rows saying so commit together or not at all. The chain
 * lock is held until the caller's transaction ends. A failure returns -1 and
 * fails the batch, as audit_flush does; the caller rolls back.
 */
int audit_flush_within(struct audit *a, PGconn *c);

/* The chain hash of a row: SHA-256(prev_hash "\n" content), hex. */
void audit_row_hash(const char *prev_hash, const char *content, char out[65]);

#endif
