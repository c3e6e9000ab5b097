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

/* conninfo or jsonl_path may be NULL (that sink is then off). */
struct audit *audit_open(const char *service, const char *conninfo, const char *jsonl_path,
    char *err, size_t errlen);
void audit_close(struct audit *a);

/*
 * Appends one event. details is stolen (may be NULL). Returns 0 when every
 * configured sink took the row, -1 otherwise.
 */
int audit_record(struct audit *a, const char *request_id, const char *event, json_t *details);

/* The chain hash of a row: SHA-256(prev_hash "\n" content), hex. */
void audit_row_hash(const char *prev_hash, const char *content, char out[65]);

/*
 * Walks the chain in PostgreSQL from the first row. Returns 0 when intact;
 * -1 with err naming the first row that does not fit.
 */
int audit_verify_chain(PGconn *conn, long long *rows, char *err, size_t errlen);

#endif
