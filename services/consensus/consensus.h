/* wingman-consensus: rates the risk of a request with its voters. */
#ifndef WINGMAN_CONSENSUS_H
#define WINGMAN_CONSENSUS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "audit.h"
#include "keys.h"
#include "llm.h"
#include "rules.h"
#include "stage.h"
#include "tally.h"
#include "trust.h"
#include "vote.h"
#include "voters.h"

struct consensus_ctx {
	struct audit *audit;
	EVP_PKEY *sign_key; /* consensus.key */
	struct trust_keys workers; /* worker-<id>.pub: signed requests */
	struct consensus_config cfg;
};

/*
 * The assessment (unsigned) of a validated request: parse every command
 * (no vote for what is outside the grammar), ask every voter at once, tally.
 * Never fails open: a voter that errs abstains. New reference.
 */
json_t *consensus_assess(const json_t *request, const struct consensus_config *cfg);

enum handler_rc consensus_handle(void *ctx, const struct stage_input *in, struct outbox *out,
    char *reason, size_t reasonlen);

#endif
