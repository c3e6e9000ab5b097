/* wingman-token: mints one capability token per approved command. */
#ifndef WINGMAN_TOKEN_H
#define WINGMAN_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "keys.h"
#include "stage.h"

#define TOKEN_KID "token"

struct token_ctx {
	EVP_PKEY *sign_key; /* token.key: signs tokens and orders */
	unsigned char jti_secret[32]; /* derived from the key, wiped at exit */
	struct keyring approval_key; /* approval.pub */
	struct audit *audit;
};

/* Derives jti_secret from the private key. Returns 0 on success. */
int token_ctx_init_secret(struct token_ctx *ctx);

/*
 * A token id that is unpredictable (HMAC under a secret only this process
 * holds) yet the same for the same decision and command, so a redelivered
 * decision gets the same token back, never a second one.
 */
void token_jti(const struct token_ctx *ctx, const char *request_id, const char *decided_at,
    size_t index, const char *cmd, char out[32]);

enum handler_rc token_handle(void *ctx, const struct stage_input *in, struct outbox *out,
    char *reason, size_t reasonlen);

#endif
