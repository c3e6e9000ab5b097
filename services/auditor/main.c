/* wingman-auditor: wingman.results + wingman.dlq -> receipts, checkpoints, dead-letter rows */
#include <stdio.h>
#include <stdlib.h>

#include "auditor.h"
#include "log.h"
#include "service.h"

static int
setup(void *arg, struct service_run *run, char *err, size_t errlen)
{
	struct auditor_ctx *ctx = arg;

	run->st.tick_interval_ms = (int)config_int(run->cfg, CFG_AUDIT_CHECKPOINT_S) * 1000;
	ctx->key = key_load_named(config_str(run->cfg, CFG_KEYS_DIR), AUDIT_KID, 1, err, errlen);
	return ctx->key != NULL ? 0 : -1;
}

static int
open_all(void *arg, struct service_run *run, char *err, size_t errlen)
{
	struct auditor_ctx *ctx = arg;

	if (pg_link_init(&ctx->db, config_str(run->cfg, CFG_PG_CONNINFO)) != 0) {
		snprintf(err, errlen, "AUDITOR_OPEN: out of memory");
		return -1;
	}
	return 0;
}

/* A last checkpoint at shutdown covers the newest rows. */
static void
stop(void *arg, struct service_run *run)
{
	if (auditor_checkpoint(arg, NULL) != 0)
		log_warnx("event=final_checkpoint_failed");
}

static void
close_all(void *arg)
{
	struct auditor_ctx *ctx = arg;

	audit_close(ctx->audit);
	pg_link_close(&ctx->db);
	EVP_PKEY_free(ctx->key);
}

int
main(int argc, char **argv)
{
	static struct auditor_ctx ctx;
	static const char *const topics[] = { "wingman.results", "wingman.dlq", NULL };
	static const struct service svc = {
		.name = "wingman-auditor",
		.process = SVC_AUDITOR,
		.summary = "Signs checkpoints of the audit chain, records dead letters, and issues one "
		           "signed receipt per finished request.",
		.keys = "audit.key (private: signs checkpoints and receipts)",
		.topics = topics,
		.handle = auditor_handle,
		.tick = auditor_tick,
		.ctx = &ctx,
		.audit = &ctx.audit,
		.setup = setup,
		.open = open_all,
		.stop = stop,
		.close = close_all,
	};

	return service_main(&svc, argc, argv);
}
