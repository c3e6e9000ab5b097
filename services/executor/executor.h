/* wingman-executor: the only process that acts. */
#ifndef WINGMAN_EXECUTOR_H
#define WINGMAN_EXECUTOR_H

#include <stddef.h>

#include "audit.h"
#include "docker.h"
#include "keys.h"
#include "ledger.h"
#include "policy.h"
#include "stage.h"
#include "trust.h"

struct executor_ctx {
	struct policy policy; /* re-checked here, whatever was approved */
	struct keyring token_keys; /* token.pub: orders and tokens */
	struct trust_keys trust; /* consensus, approvers, telegram, workers: the evidence */
	EVP_PKEY *sign_key; /* executor.key: signs results */
	struct ledger *ledger;
	struct docker *docker;
	struct audit *audit;
};

enum handler_rc executor_handle(void *ctx, const struct stage_input *in, struct outbox *out,
    char *reason, size_t reasonlen);

#endif
