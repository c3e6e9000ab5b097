/* wingman-approval: wingman.assessments + wingman.human-decisions -> wingman.decisions */
#include <stdio.h>
#include <stdlib.h>

#include "approval.h"
#include "log.h"
#include "service.h"

static int
setup(void *arg, struct service_run *run, char *err, size_t errlen)
{
	struct approval_ctx *ctx = arg;
	const char *keys = config_str(run->cfg, CFG_KEYS_DIR);

	ctx->early_decision_ttl_s = (int)config_int(run->cfg, CFG_EARLY_DECISION_TTL_S);
	if (policy_load(config_str(run->cfg, CFG_POLICY_FILE), &ctx->policy, err, errlen) != 0)
		return -1;
	if ((ctx->sign_key = key_load_named(keys, "approval", 1, err, errlen)) == NULL ||
	    trust_keys_load(&ctx->keys, keys, &ctx->policy, err, errlen) != 0)
		return -1;
	run->st.lane_end = approval_lane_end;
	return 0;
}

static int
open_all(void *arg, struct service_run *run, char *err, size_t errlen)
{
	struct approval_ctx *ctx = arg;

	ctx->store = store_open(config_str(run->cfg, CFG_PG_CONNINFO), err, errlen);
	return ctx->store != NULL ? 0 : -1;
}

static void
close_all(void *arg)
{
	struct approval_ctx *ctx = arg;

	audit_close(ctx->audit);
	store_close(ctx->store);
	trust_keys_free(&ctx->keys);
	EVP_PKEY_free(ctx->sign_key);
	json_decref(ctx->tick_ids);
}

int
main(int argc, char **argv)
{
	static struct approval_ctx ctx;
	static const char *const topics[] = { "wingman.assessments", "wingman.human-decisions",
		NULL };
	static const struct service svc = {
		.name = "wingman-approval",
		.process = SVC_APPROVAL,
		.summary = "Applies the policy to each assessment: auto-approves, or waits for humans; "
		           "publishes signed decisions and ends rejected or expired requests.",
		.keys = "approval.key (private), consensus.pub, approver-*.pub, telegram.pub, "
		        "worker-*.pub",
		.topics = topics,
		.handle = approval_handle,
		.tick = approval_tick,
		.tick_delivered = approval_tick_delivered,
		.tick_interval_ms = 1000,
		.ctx = &ctx,
		.audit = &ctx.audit,
		.setup = setup,
		.open = open_all,
		.close = close_all,
	};

	return service_main(&svc, argc, argv);
}
