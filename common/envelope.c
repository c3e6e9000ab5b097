#include "envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define ENVELOPE_CONTEXT "wingman-msg-v1\n"

static const char *const verdict_codes[] = {
	[SIG_OK] = "SIG_OK",
	[SIG_MISSING] = "SIG_MISSING",
	[SIG_MALFORMED] = "SIG_MALFORMED",
	[SIG_UNTRUSTED_KID] = "SIG_UNTRUSTED_KID",
	[SIG_BAD] = "SIG_BAD",
};

const char *
envelope_verdict_code(enum envelope_verdict v)
{
	if ((size_t)v >= ARRAY_LEN(verdict_codes))
		return "SIG_UNKNOWN";
	return verdict_codes[v];
}

/*
 * The signed bytes: a context string, then the message without "sig",
 * compact with sorted keys. A context prefix keeps these signatures from
 * ever being valid JWS signing inputs, and the reverse.
 */
static char *
signing_input(const json_t *msg, size_t *len)
{
	json_t *copy;
	char *body, *out;
	size_t body_len, ctx_len = strlen(ENVELOPE_CONTEXT);

	if ((copy = json_copy((json_t *)msg)) == NULL)
		return NULL;
	json_object_del(copy, "sig");
	body = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(copy);
	if (body == NULL)
		return NULL;
	body_len = strlen(body);
	if ((out = malloc(ctx_len + body_len + 1)) != NULL) {
		memcpy(out, ENVELOPE_CONTEXT, ctx_len);
		memcpy(out + ctx_len, body, body_len + 1);
		*len = ctx_len + body_len;
	}
	free(body);
	return out;
}

int
envelope_sign(json_t *msg, const char *kid, EVP_PKEY *key)
{
	unsigned char sig[64];
	char *input, *value;
	size_t len;
	json_t *sigobj;

	if ((input = signing_input(msg, &len)) == NULL)
		return -1;
	if (ed25519_sign(key, input, len, sig) != 0) {
		free(input);
		return -1;
	}
	free(input);
	if ((value = b64url_encode(sig, sizeof(sig))) == NULL)
		return -1;
	sigobj = json_pack("{s:s, s:s, s:s}", "alg", "EdDSA", "kid", kid, "value", value);
	free(value);
	if (sigobj == NULL)
		return -1;
	return json_object_set_new(msg, "sig", sigobj);
}

enum envelope_verdict
envelope_verify(const json_t *msg, const struct keyring *trusted, char *kid_out, size_t kid_len)
{
	const json_t *sigobj = json_object_get(msg, "sig");
	const char *alg, *kid, *value;
	unsigned char *sig = NULL;
	size_t siglen = 0, len;
	char *input;
	int ok;

	if (sigobj == NULL)
		return SIG_MISSING;
	if (!json_is_object(sigobj) || json_object_size(sigobj) != 3)
		return SIG_MALFORMED;
	alg = json_string_value(json_object_get(sigobj, "alg"));
	kid = json_string_value(json_object_get(sigobj, "kid"));
	value = json_string_value(json_object_get(sigobj, "value"));
	if (alg == NULL || kid == NULL || value == NULL || strcmp(alg, "EdDSA") != 0)
		return SIG_MALFORMED;
	/* The key id is checked before any signature work. */
	if (keyring_find(trusted, kid) == NULL)
		return SIG_UNTRUSTED_KID;
	if (b64url_decode(value, strlen(value), &sig, &siglen) != 0 || siglen != 64) {
		free(sig);
		return SIG_MALFORMED;
	}
	if ((input = signing_input(msg, &len)) == NULL) {
		free(sig);
		return SIG_MALFORMED;
	}
	/* Any generation of the kid's key (rotation), never another kid's. */
	ok = keyring_verify(trusted, kid, input, len, sig, siglen);
	free(input);
	free(sig);
	if (!ok)
		return SIG_BAD;
	if (kid_out != NULL)
		snprintf(kid_out, kid_len, "%s", kid);
	return SIG_OK;
}
