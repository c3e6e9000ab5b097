/* wingman-token: wingman.decisions -> wingman.orders. Holds the private token key. */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>

#include "log.h"
#include "service.h"
#include "token.h"

static volatile sig_atomic_t running = 1;

int
main(int argc, char **argv)
{
	struct config_var vars[] = {
		{ "WINGMAN_KAFKA_BROKERS", "127.0.0.1:19092", "Kafka bootstrap servers", NULL },
		{ "WINGMAN_KEYS_DIR", NULL, "token.key (private) and approval.pub", NULL },
		{ "WINGMAN_PG_CONNINFO", "", "PostgreSQL for the audit log (empty: off)", NULL },
		{ "WINGMAN_AUDIT_JSONL", "", "JSONL copy of the audit log (empty: off)", NULL },
	};
	const size_t n = sizeof(vars) / sizeof(vars[0]);
	static struct token_ctx ctx;
	struct service_opts opts;
	const char *const topics[] = { "wingman.decisions", NULL };
	struct stage st = {
		.name = "wingman-token",
		.group = "wingman-token",
		.topics = topics,
		.handle = token_handle,
		.ctx = &ctx,
	};
	const char *keys;
	char err[512];
	int rc = 1;

	service_init(argc, argv, "wingman-token",
	    "Mints one short-lived, single-use EdDSA capability token per approved command "
	    "and publishes a signed order.", vars, n, &opts);
	keys = config_get(vars, n, "WINGMAN_KEYS_DIR");
	keyring_init(&ctx.approval_key);
	if ((ctx.sign_key = key_load_named(keys, "token", 1, err, sizeof(err))) == NULL ||
	    keyring_add(&ctx.approval_key, keys, "approval", err, sizeof(err)) != 0)
		fatalx("%s", err);
	if (token_ctx_init_secret(&ctx) != 0)
		fatalx("cannot derive the token id secret");
	if (opts.check_only) {
		puts("configuration OK");
		rc = 0;
		goto done;
	}
	if ((ctx.audit = audit_open("wingman-token", config_get(vars, n, "WINGMAN_PG_CONNINFO"),
	    config_get(vars, n, "WINGMAN_AUDIT_JSONL"), err, sizeof(err))) == NULL)
		fatalx("%s", err);
	st.audit = ctx.audit;
	service_signals(&running);
	rc = service_run(&st, &opts, config_get(vars, n, "WINGMAN_KAFKA_BROKERS"), &running);
done:
	audit_close(ctx.audit);
	keyring_free(&ctx.approval_key);
	OPENSSL_cleanse(ctx.jti_secret, sizeof(ctx.jti_secret));
	EVP_PKEY_free(ctx.sign_key);
	return rc;
}
