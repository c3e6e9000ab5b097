/* wingman-consensus: wingman.requests -> wingman.assessments */
#include <stdlib.h>

#include <curl/curl.h>

#include "audit.h"
#include "consensus.h"
#include "keys.h"
#include "log.h"
#include "service.h"

static volatile sig_atomic_t running = 1;

int
main(int argc, char **argv)
{
	struct config_var vars[] = {
		{ "WINGMAN_KAFKA_BROKERS", "127.0.0.1:19092", "Kafka bootstrap servers", NULL },
		{ "WINGMAN_KEYS_DIR", NULL, "directory holding consensus.key (and worker-*.pub)", NULL },
		{ "WINGMAN_CONSENSUS_FILE", NULL, "threshold, voters (rules, openai, anthropic) and the "
		    "rules table (JSON); API keys in the files it names", NULL },
		{ "WINGMAN_PG_CONNINFO", "", "PostgreSQL for the audit log (empty: off)", NULL },
		{ "WINGMAN_AUDIT_JSONL", "", "JSONL copy of the audit log (empty: off)", NULL },
	};
	const size_t n = sizeof(vars) / sizeof(vars[0]);
	static struct consensus_ctx ctx;
	struct service_opts opts;
	const char *const topics[] = { "wingman.requests", NULL };
	struct stage st = {
		.name = "wingman-consensus",
		.group = "wingman-consensus",
		.topics = topics,
		.handle = consensus_handle,
		.ctx = &ctx,
	};
	char err[512];
	int rc = 1;

	service_init(argc, argv, "wingman-consensus",
	    "Rates the risk of each agent request with its voters and publishes a signed assessment.",
	    vars, n, &opts);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("CONSENSUS_CONFIG: curl_global_init failed");
	if (consensus_load_config(config_get(vars, n, "WINGMAN_CONSENSUS_FILE"), &ctx.cfg,
	    err, sizeof(err)) != 0) {
		consensus_config_free(&ctx.cfg);
		fatalx("%s", err);
	}
	for (size_t i = 0; i < ctx.cfg.n_voters; i++)
		log_info("event=voter name=%s kind=%s model=%s timeout_ms=%ld key=%s",
		    ctx.cfg.voters[i].name, ctx.cfg.voters[i].kind == VOTER_RULES ? "rules" :
		    ctx.cfg.voters[i].kind == VOTER_OPENAI ? "openai" : "anthropic",
		    ctx.cfg.voters[i].kind == VOTER_RULES ? "-" : ctx.cfg.voters[i].model,
		    ctx.cfg.voters[i].timeout_ms, ctx.cfg.voters[i].api_key != NULL ? "yes" : "no");
	if ((ctx.sign_key = key_load_named(config_get(vars, n, "WINGMAN_KEYS_DIR"), "consensus", 1,
	    err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if (trust_keys_init(&ctx.workers, config_get(vars, n, "WINGMAN_KEYS_DIR")) != 0)
		fatalx("CONFIG_INVALID: WINGMAN_KEYS_DIR is too long");
	if (opts.check_only) {
		puts("configuration OK");
		rc = 0;
		goto done;
	}
	if ((ctx.audit = audit_open("wingman-consensus", config_get(vars, n, "WINGMAN_PG_CONNINFO"),
	    config_get(vars, n, "WINGMAN_AUDIT_JSONL"), err, sizeof(err))) == NULL)
		fatalx("%s", err);
	st.audit = ctx.audit;
	service_signals(&running);
	rc = service_run(&st, &opts, config_get(vars, n, "WINGMAN_KAFKA_BROKERS"), &running);
done:
	audit_close(ctx.audit);
	EVP_PKEY_free(ctx.sign_key);
	consensus_config_free(&ctx.cfg);
	curl_global_cleanup();
	return rc;
}
