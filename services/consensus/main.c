/* wingman-consensus: wingman.requests -> wingman.assessments */
#include <stdlib.h>

#include <curl/curl.h>

#include "audit.h"
#include "consensus.h"
#include "keys.h"
#include "log.h"
#include "service.h"

static int
setup(void *arg, struct service_run *run, char *err, size_t errlen)
{
	struct consensus_ctx *ctx = arg;
	const char *keys = config_str(run->cfg, CFG_KEYS_DIR);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "CONSENSUS_CONFIG: curl_global_init failed");
		return -1;
	}
	if (consensus_load_config(config_str(run->cfg, CFG_CONSENSUS_FILE), &ctx->cfg, err,
	        errlen) != 0)
		return -1;
	for (size_t i = 0; i < ctx->cfg.n_voters; i++)
		log_info("event=voter name=%s kind=%s model=%s timeout_ms=%ld key=%s",
		    ctx->cfg.voters[i].name,
		    ctx->cfg.voters[i].kind == VOTER_RULES        ? "rules"
		        : ctx->cfg.voters[i].kind == VOTER_OPENAI ? "openai"
		                                                  : "anthropic",
		    ctx->cfg.voters[i].kind == VOTER_RULES ? "-" : ctx->cfg.voters[i].model,
		    ctx->cfg.voters[i].timeout_ms,
		    ctx->cfg.voters[i].api_key != NULL ? "yes" : "no");
	if ((ctx->sign_key = key_load_named(keys, "consensus", 1, err, errlen)) == NULL)
		return -1;
	if (trust_keys_init(&ctx->workers, keys) != 0) {
		snprintf(err, errlen, "CONFIG_INVALID: WINGMAN_KEYS_DIR is too long");
		return -1;
	}
	return 0;
}

static void
close_all(void *arg)
{
	struct consensus_ctx *ctx = arg;

	audit_close(ctx->audit);
	EVP_PKEY_free(ctx->sign_key);
	consensus_config_free(&ctx->cfg);
	curl_global_cleanup();
}

int
main(int argc, char **argv)
{
	static struct consensus_ctx ctx;
	static const char *const topics[] = { "wingman.requests", NULL };
	static const struct service svc = {
		.name = "wingman-consensus",
		.process = SVC_CONSENSUS,
		.summary = "Rates the risk of each agent request with its voters and publishes a "
		           "signed assessment.",
		.keys = "consensus.key (private), worker-*.pub",
		.topics = topics,
		.handle = consensus_handle,
		.ctx = &ctx,
		.audit = &ctx.audit,
		.setup = setup,
		.close = close_all,
	};

	return service_main(&svc, argc, argv);
}
