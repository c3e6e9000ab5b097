/* wingman-executor: wingman.orders -> wingman.results. The only process that reaches Docker. */
#include <stdio.h>
#include <stdlib.h>

#include "executor.h"
#include "log.h"
#include "service.h"

/*
 * GET /healthz checks Redis and the Docker engine with handles of its own
 * (the status thread must not share the lanes'); made in setup, which
 * connects nothing, and used only by executor_health.
 */
static struct ledger *health_ledger;
static struct docker *health_docker;

#define HEALTH_DOCKER_TIMEOUT_MS 2000

static int
executor_health(void *arg, char *reason, size_t reasonlen)
{
	char why[256];

	(void)arg;
	if (ledger_ping_redis(health_ledger, reason, reasonlen) != 0)
		return -1;
	if (docker_ping(health_docker, why, sizeof(why)) != 0) {
		snprintf(reason, reasonlen, "docker: %s", why);
		return -1;
	}
	return 0;
}

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
	if ((health_ledger = ledger_open(config_str(run->cfg, CFG_REDIS_URL), "", err, errlen)) ==
	        NULL ||
	    (health_docker = docker_open(config_str(run->cfg, CFG_DOCKER_SOCKET),
	         HEALTH_DOCKER_TIMEOUT_MS, err, errlen)) == NULL)
		return -1;
	return 0;
}

/*
 * Lanes 1..n-1: the policy and keys of ctx, shared read-only, and
 * connections of their own. Lane 0 is ctx itself.
 */
static struct executor_ctx lanes[STAGE_LANES_MAX];
static void *lane_ctx[STAGE_LANES_MAX];
static struct audit *lane_audit[STAGE_LANES_MAX];
static size_t nlanes;

static int
open_lanes(void *arg, struct service_run *run, char *err, size_t errlen)
{
	struct executor_ctx *ctx = arg;
	size_t n = (size_t)config_int(run->cfg, CFG_EXECUTOR_LANES);

	lane_ctx[0] = ctx;
	lane_audit[0] = ctx->audit;
	for (nlanes = 1; nlanes < n; nlanes++) {
		struct executor_ctx *lane = &lanes[nlanes];

		*lane = *ctx;
		lane->ledger = NULL;
		lane->docker = NULL;
		lane->audit = NULL;
		lane_ctx[nlanes] = lane;
		if ((lane->ledger = ledger_open(config_str(run->cfg, CFG_REDIS_URL),
		         config_str(run->cfg, CFG_PG_CONNINFO), err, errlen)) == NULL ||
		    (lane->docker = docker_open(config_str(run->cfg, CFG_DOCKER_SOCKET),
		         (long)config_int(run->cfg, CFG_DOCKER_TIMEOUT_MS), err, errlen)) == NULL ||
		    (lane->audit = audit_open("wingman-executor",
		         config_str(run->cfg, CFG_PG_CONNINFO),
		         config_str(run->cfg, CFG_AUDIT_JSONL), err, errlen)) == NULL ||
		    audit_set_lane(lane->audit, (unsigned)nlanes) != 0) {
			nlanes++; /* close what this lane opened */
			return -1;
		}
		lane_audit[nlanes] = lane->audit;
	}
	run->st.lanes = nlanes;
	run->st.lane_ctx = lane_ctx;
	run->st.lane_audit = lane_audit;
	return 0;
}

static void
close_all(void *arg)
{
	struct executor_ctx *ctx = arg;

	for (size_t k = 1; k < nlanes; k++) {
		audit_close(lanes[k].audit);
		docker_close(lanes[k].docker);
		ledger_close(lanes[k].ledger);
	}
	docker_close(health_docker);
	ledger_close(health_ledger);
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
		.summary =
		    "Verifies each order and capability token, claims it once, runs exactly the "
		    "approved command through the Docker Engine API and publishes the result.",
		.keys = "executor.key (private: signs results); token.pub, consensus.pub, "
		        "approver-*.pub, telegram.pub, worker-*.pub (public only)",
		.topics = topics,
		.handle = executor_handle,
		.ctx = &ctx,
		.audit = &ctx.audit,
		.setup = setup,
		.open = open_lanes,
		.health = executor_health,
		.close = close_all,
	};

	return service_main(&svc, argc, argv);
}
