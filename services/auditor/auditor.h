/*
 * wingman-auditor: keeps the audit log honest. It signs checkpoints of the
 * chain head, records every dead letter, and issues one signed receipt per
 * request once the request has ended. It holds the audit key and nothing else.
 */
#ifndef WINGMAN_AUDITOR_H
#define WINGMAN_AUDITOR_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "audit.h"
#include "audit_verify.h"
#include "keys.h"
#include "pg.h"
#include "stage.h"

#define AUDIT_KID "audit"
/* Every checkpoint is published here too (a copy PostgreSQL cannot lose). */

struct auditor_ctx {
	EVP_PKEY *key; /* audit.key */
	struct audit *audit; /* rows this process writes */
	struct pg_link db;
};

/*
 * Pure: the in-toto statement of a request from its audit rows (an array of
 * {seq, service, event, details, row_hash} in chain order). NULL when the
 * rows show no end yet. New reference.
 */
json_t *receipt_statement(const char *request_id, const json_t *rows);

enum handler_rc auditor_handle(void *ctx, const struct stage_input *in, struct outbox *out,
    char *reason, size_t reasonlen);
/* Signs a checkpoint of the chain head and publishes it. */
void auditor_tick(void *ctx, struct outbox *out);
/* The same, on demand; out may be NULL (shutdown: not published). 0 on success. */
int auditor_checkpoint(struct auditor_ctx *ctx, struct outbox *out);

#endif
