/* wingman-auditor: wingman.results + wingman.dlq -> receipts, checkpoints, dead-letter rows */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditor.h"
#include "log.h"
#include "service.h"
#include "util.h"

static volatile sig_atomic_t running = 1;

int
main(int argc, char **argv)
{
	struct config_var vars[] = {
		{ "WINGMAN_KAFKA_BROKERS", "127.0.0.1:19092", "Kafka bootstrap servers", NULL },
		{ "WINGMAN_KEYS_DIR", NULL, "audit.key (signs checkpoints and receipts)", NULL },
		{ "WINGMAN_PG_CONNINFO", NULL, "PostgreSQL: audit log, checkpoints, receipts", NULL },
		{ "WINGMAN_AUDIT_JSONL", "", "JSONL copy of the audit log (empty: off)", NULL },
		{ "WINGMAN_AUDIT_CHECKPOINT_S", "60", "seconds between signed checkpoints", NULL },
	};
	const size_t n = sizeof(vars) / sizeof(vars[0]);
	static struct auditor_ctx ctx;
	struct service_opts opts;
	const char *const topics[] = { "wingman.results", "wingman.dlq", NULL };
	struct stage st = {
		.name = "wingman-auditor",
		.group = "wingman-auditor",
		.topics = topics,
		.handle = auditor_handle,
		.tick = auditor_tick,
		.tick_interval_ms = 60000,
		.ctx = &ctx,
	};
	long long interval;
	char err[512];
	int rc = 1;

	service_init(argc, argv, "wingman-auditor",
	    "Signs checkpoints of the audit chain, records dead letters, and issues one signed "
	    "receipt per finished request.", vars, n, &opts);
	if (parse_int(config_get(vars, n, "WINGMAN_AUDIT_CHECKPOINT_S"), 1, 86400, &interval) != 0)
		fatalx("CONFIG_INVALID: WINGMAN_AUDIT_CHECKPOINT_S must be 1..86400");
	st.tick_interval_ms = (int)interval * 1000;
	if ((ctx.key = key_load_named(config_get(vars, n, "WINGMAN_KEYS_DIR"), AUDIT_KID, 1, err,
	    sizeof(err))) == NULL)
		fatalx("%s", err);
	if (opts.check_only) {
		puts("configuration OK");
		rc = 0;
		goto done;
	}
	if (pg_link_init(&ctx.db, config_get(vars, n, "WINGMAN_PG_CONNINFO")) != 0 ||
	    (ctx.audit = audit_open("wingman-auditor", ctx.db.conninfo,
	    config_get(vars, n, "WINGMAN_AUDIT_JSONL"), err, sizeof(err))) == NULL)
		fatalx("%s", err);
	st.audit = ctx.audit;
	service_signals(&running);
	rc = service_run(&st, &opts, config_get(vars, n, "WINGMAN_KAFKA_BROKERS"), &running);
	/* A last checkpoint at shutdown covers the newest rows. */
	if (auditor_checkpoint(&ctx, NULL) != 0)
		log_warnx("event=final_checkpoint_failed");
done:
	audit_close(ctx.audit);
	pg_link_close(&ctx.db);
	EVP_PKEY_free(ctx.key);
	return rc;
}
