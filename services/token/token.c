/*
 * Handler of wingman.decisions: accepts only decisions signed by
 * wingman-approval, mints one EdDSA JWS per approved command (lifetime from
 * the decision), publishes one signed order.
 */
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include "envelope.h"
#include "failpoint.h"
#include "log.h"
#include "mint.h"
#include "msg.h"
#include "trust.h"
#include "util.h"

int
token_ctx_init_secret(struct token_ctx *ctx)
{
	unsigned char raw[32];
	size_t len = sizeof(raw);
	unsigned char buf[14 + 32];

	if (EVP_PKEY_get_raw_private_key(ctx->sign_key, raw, &len) != 1 || len != 32)
		return -1;
	memcpy(buf, "wingman-jti-v1", 14);
	memcpy(buf + 14, raw, 32);
	sha256(buf, sizeof(buf), ctx->jti_secret);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

void
token_jti(const struct token_ctx *ctx, const char *request_id, const char *decided_at, size_t index,
    const char *cmd, char out[32])
{
	unsigned char mac[32];
	unsigned int maclen = sizeof(mac);
	char *input = NULL, *enc;
	size_t ilen;
	json_t *tuple;

	/* A JSON array keeps the fields apart: no ambiguity between them. */
	tuple = json_pack("[s, s, I, s]", request_id, decided_at, (json_int_t)index, cmd);
	input = tuple ? json_dumps(tuple, JSON_COMPACT) : NULL;
	json_decref(tuple);
	ilen = input ? strlen(input) : 0;
	HMAC(EVP_sha256(), ctx->jti_secret, sizeof(ctx->jti_secret),
	    (const unsigned char *)(input ? input : ""), ilen, mac, &maclen);
	free(input);
	enc = b64url_encode(mac, 16); /* 128 bits, 22 characters */
	snprintf(out, 32, "%s", enc ? enc : "");
	free(enc);
}

enum handler_rc
token_handle(void *ctxp, const struct stage_input *in, struct outbox *out, char *reason,
    size_t reasonlen)
{
	struct token_ctx *ctx = ctxp;
	json_t *d, *order = NULL, *commands, *cmd, *approved;
	const char *approved_by[16];
	const char *rid;
	int64_t decided_ms;
	size_t i, n_approved;
	enum handler_rc rc = HANDLER_TEMPFAIL;

	if ((d = msg_accept(in, "decision", &ctx->approval_key, ctx->audit, reason, reasonlen)) ==
	    NULL)
		return HANDLER_PERMFAIL;
	rid = msg_str(d, "request_id");
	if (parse_ts_ms(msg_str(d, "decided_at"), &decided_ms) != 0) {
		snprintf(reason, reasonlen, "MSG_BAD_VALUE: decided_at");
		json_decref(d);
		return HANDLER_PERMFAIL;
	}
	approved = json_object_get(d, "approved_by");
	n_approved = json_array_size(approved);
	for (i = 0; i < n_approved; i++)
		approved_by[i] = json_string_value(json_array_get(approved, i));
	commands = json_array();
	json_array_foreach(json_object_get(d, "commands"), i, cmd)
	{
		char jti[32], err[256], hash[65];
		struct mint_claims c = {
			.sub = msg_str(d, "worker_id"),
			.env = msg_str(d, "environment"),
			.request_id = rid,
			.cmd = json_string_value(cmd),
			.approved_by = approved_by,
			.n_approved_by = n_approved,
			.jti = jti,
			.iat = decided_ms / 1000,
			.nbf = decided_ms / 1000,
			.exp = decided_ms / 1000 +
			    json_integer_value(json_object_get(d, "token_ttl_s")),
		};
		char *token;

		token_jti(ctx, rid, msg_str(d, "decided_at"), i, c.cmd, jti);
		if ((token = jws_mint(ctx->sign_key, TOKEN_KID, &c, err, sizeof(err))) == NULL) {
			/* The same decision would fail the same way: dead-letter it. */
			snprintf(reason, reasonlen, "MINT_FAILED: %s", err);
			json_decref(commands);
			rc = HANDLER_PERMFAIL;
			goto done;
		}
		sha256_hex(token, strlen(token), hash);
		/* The token itself never reaches a log: its id and hash do. */
		log_info("event=token_minted request_id=%s jti=%s exp=%lld", rid, jti,
		    (long long)c.exp);
		audit_record(ctx->audit, rid, "token_minted",
		    json_pack("{s:s, s:s, s:s, s:I}", "jti", jti, "sha256", hash, "cmd", c.cmd,
		        "exp", (json_int_t)c.exp));
		json_array_append_new(commands,
		    json_pack("{s:s, s:s}", "cmd", c.cmd, "token", token));
		OPENSSL_cleanse(token, strlen(token));
		free(token);
	}
	order = msg_new("order", rid);
	json_object_set_new(order, "worker_id", json_string(msg_str(d, "worker_id")));
	json_object_set_new(order, "environment", json_string(msg_str(d, "environment")));
	json_object_set_new(order, "commands", commands);
	/* The evidence travels on untouched: the executor checks it itself. */
	json_object_set(order, "evidence", json_object_get(d, "evidence"));
	if (envelope_sign(order, TOKEN_KID, ctx->sign_key) != 0) {
		snprintf(reason, reasonlen, "SIGN_FAILED: cannot sign the order");
		goto done;
	}
	(void)FAILPOINT("token.after_mint");
	outbox_add(out, TOPIC_ORDERS, rid, order);
	order = NULL;
	rc = HANDLER_OK;
done:
	json_decref(order);
	json_decref(d);
	return rc;
}
