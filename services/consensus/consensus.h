/* wingman-consensus: rates the risk of a request with its voters. */
#ifndef WINGMAN_CONSENSUS_H
#define WINGMAN_CONSENSUS_H

#include <stddef.h>

#include <jansson.h>

#include "audit.h"
#include "keys.h"
#include "stage.h"

struct consensus_ctx {
	struct audit *audit;
	EVP_PKEY *sign_key;  /* consensus.key */
	int threshold;       /* approving votes needed for auto-approval */
};

/* Loads WINGMAN_CONSENSUS_FILE. Returns 0, or -1 with err. */
int consensus_load_config(const char *path, int *threshold, char *err, size_t errlen);

/*
 * Pure decision: the assessment (unsigned) of a validated request. Never
 * fails open: an unparsable command makes the assessment invalid.
 * New reference.
 */
json_t *consensus_assess(const json_t *request, int threshold);

/* The rules voter: one vote for the parsed commands. New reference. */
json_t *rules_vote(const json_t *request, const json_t *actions);

enum handler_rc consensus_handle(void *ctx, const struct stage_input *in, struct outbox *out,
    char *reason, size_t reasonlen);

#endif
