/* wingman-token: wingman.decisions -> wingman.orders. Holds the private token key. */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>

#include "log.h"
#include "service.h"
#include "token.h"

static int
setup(void *arg, struct service_run *run, char *err, size_t errlen)
{
	struct token_ctx *ctx = arg;
	const char *keys = config_str(run->cfg, CFG_KEYS_DIR);

	if ((ctx->sign_key = key_load_named(keys, "token", 1, err, errlen)) == NULL ||
	    keyring_add(&ctx->approval_key, keys, "approval", err, errlen) != 0)
		return -1;
	if (token_ctx_init_secret(ctx) != 0) {
		snprintf(err, errlen, "cannot derive the token id secret");
		return -1;
	}
	return 0;
}

static void
close_all(void *arg)
{
	struct token_ctx *ctx = arg;

	audit_close(ctx->audit);
	keyring_free(&ctx->approval_key);
	OPENSSL_cleanse(ctx->jti_secret, sizeof(ctx->jti_secret));
	EVP_PKEY_free(ctx->sign_key);
}

int
main(int argc, char **argv)
{
	static struct token_ctx ctx;
	static const char *const topics[] = { "wingman.decisions", NULL };
	static const struct service svc = {
		.name = "wingman-token",
		.process = SVC_TOKEN,
		.summary = "Mints one short-lived, single-use EdDSA capability token per approved "
		           "command and publishes a signed order.",
		.keys = "token.key (private: signs tokens and orders), approval.pub",
		.topics = topics,
		.handle = token_handle,
		.ctx = &ctx,
		.audit = &ctx.audit,
		.setup = setup,
		.close = close_all,
	};

	return service_main(&svc, argc, argv);
}
