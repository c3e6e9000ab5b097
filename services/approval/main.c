/* wingman-approval: wingman.assessments + wingman.human-decisions -> wingman.decisions */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "approval.h"
#include "log.h"
#include "service.h"
#include "util.h"

static volatile sig_atomic_t running = 1;

int
main(int argc, char **argv)
{
	struct config_var vars[] = {
		{ "WINGMAN_KAFKA_BROKERS", "127.0.0.1:19092", "Kafka bootstrap servers", NULL },
		{ "WINGMAN_KEYS_DIR", NULL, "approval.key, consensus.pub, approver-*.pub, telegram.pub, worker-*.pub", NULL },
		{ "WINGMAN_POLICY_FILE", NULL, "the policy (JSON)", NULL },
		{ "WINGMAN_PG_CONNINFO", NULL, "PostgreSQL: approval state and audit log", NULL },
		{ "WINGMAN_AUDIT_JSONL", "", "JSONL copy of the audit log (empty: off)", NULL },
		{ "WINGMAN_EARLY_DECISION_TTL_S", "600",
		    "how long a human decision read before its request waits for it (10..86400)", NULL },
	};
	const size_t n = sizeof(vars) / sizeof(vars[0]);
	static struct approval_ctx ctx;
	struct service_opts opts;
	const char *const topics[] = { "wingman.assessments", "wingman.human-decisions", NULL };
	struct stage st = {
		.name = "wingman-approval",
		.group = "wingman-approval",
		.topics = topics,
		.handle = approval_handle,
		.tick = approval_tick,
		.tick_interval_ms = 1000,
		.ctx = &ctx,
	};
	const char *keys;
	long long ttl;
	char err[512];
	int rc = 1;

	service_init(argc, argv, "wingman-approval",
	    "Applies the policy to each assessment: auto-approves, or waits for humans; "
	    "publishes signed decisions and ends rejected or expired requests.",
	    vars, n, &opts);
	keys = config_get(vars, n, "WINGMAN_KEYS_DIR");
	if (parse_int(config_get(vars, n, "WINGMAN_EARLY_DECISION_TTL_S"), 10, 86400, &ttl) != 0)
		fatalx("CONFIG_INVALID: WINGMAN_EARLY_DECISION_TTL_S must be 10..86400");
	ctx.early_decision_ttl_s = (int)ttl;
	if (policy_load(config_get(vars, n, "WINGMAN_POLICY_FILE"), &ctx.policy, err, sizeof(err)) != 0)
		fatalx("%s", err);
	if ((ctx.sign_key = key_load_named(keys, "approval", 1, err, sizeof(err))) == NULL ||
	    trust_keys_load(&ctx.keys, keys, &ctx.policy, err, sizeof(err)) != 0)
		fatalx("%s", err);
	if (opts.check_only) {
		puts("configuration OK");
		rc = 0;
		goto done;
	}
	if ((ctx.store = store_open(config_get(vars, n, "WINGMAN_PG_CONNINFO"), err, sizeof(err))) == NULL ||
	    (ctx.audit = audit_open("wingman-approval", config_get(vars, n, "WINGMAN_PG_CONNINFO"),
	    config_get(vars, n, "WINGMAN_AUDIT_JSONL"), err, sizeof(err))) == NULL)
		fatalx("%s", err);
	st.audit = ctx.audit;
	service_signals(&running);
	rc = service_run(&st, &opts, config_get(vars, n, "WINGMAN_KAFKA_BROKERS"), &running);
done:
	audit_close(ctx.audit);
	store_close(ctx.store);
	trust_keys_free(&ctx.keys);
	EVP_PKEY_free(ctx.sign_key);
	return rc;
}
