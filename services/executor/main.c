/* wingman-executor: wingman.orders -> wingman.results. The only process that reaches Docker. */
#include <stdio.h>
#include <stdlib.h>

#include "executor.h"
#include "log.h"
#include "service.h"
#include "util.h"

static volatile sig_atomic_t running = 1;

int
main(int argc, char **argv)
{
	struct config_var vars[] = {
		{ "WINGMAN_KAFKA_BROKERS", "127.0.0.1:19092", "Kafka bootstrap servers", NULL },
		{ "WINGMAN_KEYS_DIR", NULL, "token.pub, consensus.pub, approver-*.pub, telegram.pub, worker-*.pub (public only) and executor.key", NULL },
		{ "WINGMAN_POLICY_FILE", NULL, "the policy (JSON), re-checked before acting", NULL },
		{ "WINGMAN_REDIS_URL", "redis://127.0.0.1:6379/0", "single-use token ledger", NULL },
		{ "WINGMAN_PG_CONNINFO", NULL, "PostgreSQL: execution fence and audit log", NULL },
		{ "WINGMAN_DOCKER_SOCKET", "/var/run/docker.sock", "Docker Engine API unix socket", NULL },
		{ "WINGMAN_DOCKER_TIMEOUT_MS", "30000", "timeout of one Docker API call", NULL },
		{ "WINGMAN_AUDIT_JSONL", "", "JSONL copy of the audit log (empty: off)", NULL },
		{ "WINGMAN_EXECUTOR_LANES", "8", "orders handled at once (1..64), each lane with its own PostgreSQL, Redis and Docker connections", NULL },
	};
	const size_t n = sizeof(vars) / sizeof(vars[0]);
	static struct executor_ctx ctx;
	static struct executor_ctx lanes[STAGE_LANES_MAX];
	static void *lane_ctx[STAGE_LANES_MAX];
	static struct audit *lane_audit[STAGE_LANES_MAX];
	struct service_opts opts;
	const char *const topics[] = { "wingman.orders", NULL };
	struct stage st = {
		.name = "wingman-executor",
		.group = "wingman-executor",
		.topics = topics,
		.handle = executor_handle,
		.ctx = &ctx,
	};
	const char *keys, *pg, *jsonl;
	long long timeout_ms, nlanes;
	char err[512];
	int rc = 1;

	service_init(argc, argv, "wingman-executor",
	    "Verifies each order and capability token, claims it once, runs exactly the approved "
	    "command through the Docker Engine API and publishes the result.", vars, n, &opts);
	keys = config_get(vars, n, "WINGMAN_KEYS_DIR");
	pg = config_get(vars, n, "WINGMAN_PG_CONNINFO");
	keyring_init(&ctx.token_keys);
	if (parse_int(config_get(vars, n, "WINGMAN_DOCKER_TIMEOUT_MS"), 100, 600000, &timeout_ms) != 0)
		fatalx("CONFIG_INVALID: WINGMAN_DOCKER_TIMEOUT_MS must be 100..600000");
	if (parse_int(config_get(vars, n, "WINGMAN_EXECUTOR_LANES"), 1, STAGE_LANES_MAX, &nlanes) != 0)
		fatalx("CONFIG_INVALID: WINGMAN_EXECUTOR_LANES must be 1..%d", STAGE_LANES_MAX);
	if (policy_load(config_get(vars, n, "WINGMAN_POLICY_FILE"), &ctx.policy, err, sizeof(err)) != 0)
		fatalx("%s", err);
	/* keyring_add loads public keys only: a private key here is refused. */
	if (keyring_add(&ctx.token_keys, keys, "token", err, sizeof(err)) != 0 ||
	    trust_keys_load(&ctx.trust, keys, &ctx.policy, err, sizeof(err)) != 0 ||
	    (ctx.sign_key = key_load_named(keys, "executor", 1, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	/*
	 * Each lane shares the policy and the keys (read-only) and owns its
	 * connections: lane 0 is ctx itself.
	 */
	jsonl = config_get(vars, n, "WINGMAN_AUDIT_JSONL");
	for (long long k = 0; k < nlanes; k++) {
		struct executor_ctx *lane = k == 0 ? &ctx : &lanes[k];

		if (k > 0)
			*lane = (struct executor_ctx){ ctx.policy, ctx.token_keys, ctx.trust, ctx.sign_key,
				NULL, NULL, NULL };
		lane_ctx[k] = lane;
		if ((lane->ledger = ledger_open(config_get(vars, n, "WINGMAN_REDIS_URL"), pg, err,
		    sizeof(err))) == NULL ||
		    (lane->docker = docker_open(config_get(vars, n, "WINGMAN_DOCKER_SOCKET"),
		    (long)timeout_ms, err, sizeof(err))) == NULL)
			fatalx("%s", err);
		if (!opts.check_only && (lane->audit = audit_open("wingman-executor", pg,
		    jsonl, err, sizeof(err))) == NULL)
			fatalx("%s", err);
		lane_audit[k] = lane->audit;
	}
	if (opts.check_only) {
		puts("configuration OK");
		rc = 0;
		goto done;
	}
	st.audit = ctx.audit;
	st.lanes = (size_t)nlanes;
	st.lane_ctx = lane_ctx;
	st.lane_audit = lane_audit;
	service_signals(&running);
	rc = service_run(&st, &opts, config_get(vars, n, "WINGMAN_KAFKA_BROKERS"), &running);
done:
	for (long long k = 0; k < nlanes; k++) {
		struct executor_ctx *lane = lane_ctx[k];
		audit_close(lane->audit);
		docker_close(lane->docker);
		ledger_close(lane->ledger);
	}
	EVP_PKEY_free(ctx.sign_key);
	keyring_free(&ctx.token_keys);
	trust_keys_free(&ctx.trust);
	return rc;
}
