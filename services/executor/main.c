/* wingman-executor: wingman.orders -> wingman.results. The only process that reaches Docker. */
#include <stdio.h>
#include <stdlib.h>

#include "executor.h"
#include "log.h"
#include "service.h"

/* -n checks the ledger and the Docker socket too: they are what it acts with. */
static int
setup(void *arg, struct service_run *run, char *err, size_t errlen)
{
	struct executor_ctx *ctx = arg;
	const char *keys = config_str(run->cfg, CFG_KEYS_DIR);

	if (policy_load(config_str(run->cfg, CFG_POLICY_FILE), &ctx->policy, err, errlen) != 0)
		return -1;
	/* keyring_add loads public keys only: a private key here is refused. */
	if (keyring_add(&ctx->token_keys, keys, "token", err, errlen) != 0 ||
	    trust_keys_load(&ctx->trust, keys, &ctx->policy, err, errlen) != 0 ||
	    (ctx->sign_key = key_load_named(keys, "executor", 1, err, errlen)) == NULL)
		return -1;
	if ((ctx->ledger = ledger_open(config_str(run->cfg, CFG_REDIS_URL),
	    config_str(run->cfg, CFG_PG_CONNINFO), err, errlen)) == NULL ||
	    (ctx->docker = docker_open(config_str(run->cfg, CFG_DOCKER_SOCKET),
	    (long)config_int(run->cfg, CFG_DOCKER_TIMEOUT_MS), err, errlen)) == NULL)
		return -1;
	return 0;
}

static void
close_all(void *arg)
{
	struct executor_ctx *ctx = arg;

	audit_close(ctx->audit);
	docker_close(ctx->docker);
	ledger_close(ctx->ledger);
	EVP_PKEY_free(ctx->sign_key);
	keyring_free(&ctx->token_keys);
	trust_keys_free(&ctx->trust);
}

int
main(int argc, char **argv)
{
	static struct executor_ctx ctx;
	static const char *const topics[] = { "wingman.orders", NULL };
	static const struct service svc = {
		.name = "wingman-executor",
		.process = SVC_EXECUTOR,
		.summary = "Verifies each order and capability token, claims it once, runs exactly the "
		    "approved command through the Docker Engine API and publishes the result.",
		.keys = "executor.key (private: signs results); token.pub, consensus.pub, "
		    "approver-*.pub, telegram.pub, worker-*.pub (public only)",
		.topics = topics,
		.handle = executor_handle,
		.ctx = &ctx,
		.audit = &ctx.audit,
		.setup = setup,
		.close = close_all,
	};

	return service_main(&svc, argc, argv);
}
