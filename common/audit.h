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
#include <openssl/evp.h>

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

/* The chain hash of a row: SHA-256(prev_hash "\n" content), hex. */
void audit_row_hash(const char *prev_hash, const char *content, char out[65]);

/*
 * Walks the whole chain in PostgreSQL from the first row and reports every
 * break, one line each ("AUDIT_GAP: row 7 ...") in report (bounded; a last
 * line says when more did not fit). Returns the number of breaks (0:
 * intact), or -1 when the log cannot be read (report says why). *rows gets
 * the number of rows read.
 */
int audit_verify_chain(PGconn *conn, long long *rows, char *report, size_t reportlen);

/*
 * Signs the current chain head with key (kid names it) and stores it in
 * audit_checkpoints. *seq gets the row signed (0: empty log, nothing signed).
 * When made is not NULL it gets the stored checkpoint as a message
 * ({v, type: "audit_checkpoint", id, seq, row_hash, ts, kid, signature};
 * new reference, NULL when nothing was signed).
 */
int audit_checkpoint(PGconn *conn, EVP_PKEY *key, const char *kid, long long *seq,
    json_t **made, char *err, size_t errlen);

/*
 * Checks every checkpoint against pub and against the chain: a checkpoint
 * whose row is gone (newest rows deleted) or whose hash differs (history
 * rewritten) is a break. Reports and returns like audit_verify_chain (lines
 * appended to report). *count gets the number of good checkpoints,
 * newest_ts the signed time of the newest good one ("" when none): the
 * caller decides whether it is recent enough.
 */
/*
 * The checkpoints published on wingman.audit-checkpoints (an array of the
 * messages): each must verify, fit the chain, and still be in
 * audit_checkpoints (AUDIT_CHECKPOINT_MISSING: deleted from PostgreSQL, seen
 * from the second copy). Reports and returns like audit_verify_checkpoints.
 */
int audit_verify_published(PGconn *conn, EVP_PKEY *pub, const json_t *published, long long *count,
    char *report, size_t reportlen);
int audit_verify_checkpoints(PGconn *conn, EVP_PKEY *pub, long long *count, char newest_ts[32],
    char *report, size_t reportlen);

#endif
