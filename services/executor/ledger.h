/*
 * The single-use ledger (trust rule 4): a token id is claimed in Redis with
 * one atomic SET NX, and an intent row unique on jti is committed to
 * PostgreSQL before anything runs. Redis may lose an acknowledged write;
 * the PostgreSQL row is the durable fence that still refuses a replay.
 */
#ifndef WINGMAN_LEDGER_H
#define WINGMAN_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ledger;

enum ledger_claim {
	LEDGER_CLAIMED,     /* ours to run, intent row committed */
	LEDGER_DONE,        /* already finished: *stored is its result */
	LEDGER_REPLAYED,    /* claimed before, no record of it finishing: refuse */
	LEDGER_INTERRUPTED, /* an intent row without a result: a crash mid-run */
	LEDGER_UNAVAILABLE, /* Redis or PostgreSQL down: nothing claimed, retry later */
};

struct ledger *ledger_open(const char *redis_url, const char *conninfo, char *err, size_t errlen);
void ledger_close(struct ledger *l);

enum ledger_claim ledger_claim(struct ledger *l, const char *jti, const char *request_id,
    size_t index, const char *cmd, int64_t exp, json_t **stored, char *err, size_t errlen);
/* Stores the command's result on its intent row. */
int ledger_finish(struct ledger *l, const char *jti, const json_t *result, char *err, size_t errlen);

#endif
