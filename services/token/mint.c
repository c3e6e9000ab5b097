#include "mint.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jws.h"
#include "keys.h"
#include "util.h"

#define JTI_MIN_LEN 22 /* 128 bits of base64url */

static void mint_err(char *, size_t, const char *, ...) __attribute__((format(printf, 3, 4)));

static void
mint_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	if (vsnprintf(err, errlen, fmt, ap) < 0)
		err[0] = '\0';
	va_end(ap);
}

static int
valid_jti(const char *jti)
{
	size_t n = strlen(jti);

	if (n < JTI_MIN_LEN)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = jti[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		        c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/*
 * A token the executor would refuse is a bug here, not there: refuse to mint
 * it, with words the token service can put in the result.
 */
static int
check_claims(const char *kid, const struct mint_claims *c, char *err, size_t errlen)
{
	if (kid == NULL || !valid_name(kid)) {
		mint_err(err, errlen, "MINT_BAD_KID: kid is not a valid key name");
		return -1;
	}
	if (c->sub == NULL || c->env == NULL || c->request_id == NULL || c->cmd == NULL ||
	    c->jti == NULL) {
		mint_err(err, errlen, "MINT_BAD_CLAIMS: a required claim is missing");
		return -1;
	}
	if (!valid_jti(c->jti)) {
		mint_err(err, errlen, "MINT_BAD_CLAIMS: jti is not %d+ base64url characters",
		    JTI_MIN_LEN);
		return -1;
	}
	if (c->approved_by == NULL || c->n_approved_by == 0) {
		mint_err(err, errlen, "MINT_BAD_CLAIMS: nobody approved");
		return -1;
	}
	for (size_t i = 0; i < c->n_approved_by; i++) {
		if (c->approved_by[i] == NULL || c->approved_by[i][0] == '\0') {
			mint_err(err, errlen, "MINT_BAD_CLAIMS: empty approver name");
			return -1;
		}
	}
	if (c->iat < 0 || c->nbf < c->iat || c->exp <= c->iat ||
	    c->exp - c->iat > JWS_MAX_LIFETIME_S) {
		mint_err(err, errlen,
		    "MINT_BAD_CLAIMS: iat/nbf/exp do not give a lifetime in (0, %d] s",
		    JWS_MAX_LIFETIME_S);
		return -1;
	}
	return 0;
}

/* Member order is fixed so the same decision always yields the same bytes. */
static json_t *
build_payload(const struct mint_claims *c)
{
	json_t *payload = NULL, *approvers = NULL;

	if ((approvers = json_array()) == NULL)
		goto fail;
	for (size_t i = 0; i < c->n_approved_by; i++)
		if (json_array_append_new(approvers, json_string(c->approved_by[i])) != 0)
			goto fail;
	if ((payload = json_object()) == NULL ||
	    json_object_set_new(payload, "iss", json_string(JWS_ISSUER)) != 0 ||
	    json_object_set_new(payload, "aud", json_string(JWS_AUDIENCE)) != 0 ||
	    json_object_set_new(payload, "sub", json_string(c->sub)) != 0 ||
	    json_object_set_new(payload, "jti", json_string(c->jti)) != 0 ||
	    json_object_set_new(payload, "iat", json_integer(c->iat)) != 0 ||
	    json_object_set_new(payload, "nbf", json_integer(c->nbf)) != 0 ||
	    json_object_set_new(payload, "exp", json_integer(c->exp)) != 0 ||
	    json_object_set_new(payload, "env", json_string(c->env)) != 0 ||
	    json_object_set_new(payload, "request_id", json_string(c->request_id)) != 0 ||
	    json_object_set_new(payload, "cmd", json_string(c->cmd)) != 0)
		goto fail;
	/* Stolen by the object, even on failure. */
	if (json_object_set_new(payload, "approved_by", approvers) != 0) {
		approvers = NULL;
		goto fail;
	}
	return payload;
fail:
	json_decref(approvers);
	json_decref(payload);
	return NULL;
}

char *
jws_mint(EVP_PKEY *key, const char *kid, const struct mint_claims *claims, char *err, size_t errlen)
{
	json_t *header = NULL, *payload = NULL;
	char *header_json = NULL, *payload_json = NULL;
	char *header_b64 = NULL, *payload_b64 = NULL, *sig_b64 = NULL;
	char *token = NULL, *out = NULL;
	unsigned char sig[64];
	size_t hlen, plen, slen, inlen, total;

	if (key == NULL || claims == NULL) {
		mint_err(err, errlen, "MINT_BAD_ARGS: no key or no claims");
		return NULL;
	}
	if (check_claims(kid, claims, err, errlen) != 0)
		return NULL;

	if ((header = json_object()) == NULL ||
	    json_object_set_new(header, "alg", json_string("EdDSA")) != 0 ||
	    json_object_set_new(header, "kid", json_string(kid)) != 0 ||
	    json_object_set_new(header, "typ", json_string("JWT")) != 0) {
		mint_err(err, errlen, "MINT_INTERNAL: cannot build header");
		goto fail;
	}
	/* json_string() refuses invalid UTF-8, so a NULL member lands here too. */
	if ((payload = build_payload(claims)) == NULL) {
		mint_err(err, errlen,
		    "MINT_BAD_CLAIMS: a claim is not valid UTF-8 (or out of memory)");
		goto fail;
	}
	if ((header_json = json_dumps(header, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL ||
	    (payload_json = json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL ||
	    (header_b64 = b64url_encode((unsigned char *)header_json, strlen(header_json))) == NULL ||
	    (payload_b64 = b64url_encode((unsigned char *)payload_json, strlen(payload_json))) ==
	        NULL) {
		mint_err(err, errlen, "MINT_INTERNAL: out of memory");
		goto fail;
	}
	hlen = strlen(header_b64);
	plen = strlen(payload_b64);
	slen = 86; /* 64 bytes in unpadded base64url */
	inlen = hlen + 1 + plen;
	total = inlen + 1 + slen;
	if (total > JWS_MAX_LEN) {
		mint_err(err, errlen, "MINT_TOO_LONG: token would be %zu bytes, limit %d", total,
		    JWS_MAX_LEN);
		goto fail;
	}
	if ((token = malloc(total + 1)) == NULL) {
		mint_err(err, errlen, "MINT_INTERNAL: out of memory");
		goto fail;
	}
	memcpy(token, header_b64, hlen);
	token[hlen] = '.';
	memcpy(token + hlen + 1, payload_b64, plen);
	token[inlen] = '\0';
	if (ed25519_sign(key, token, inlen, sig) != 0) {
		mint_err(err, errlen, "MINT_SIGN: Ed25519 signing failed");
		goto fail;
	}
	if ((sig_b64 = b64url_encode(sig, sizeof(sig))) == NULL || strlen(sig_b64) != slen) {
		mint_err(err, errlen, "MINT_INTERNAL: cannot encode signature");
		goto fail;
	}
	token[inlen] = '.';
	memcpy(token + inlen + 1, sig_b64, slen);
	token[total] = '\0';
	out = token;
	token = NULL;
fail:
	json_decref(header);
	json_decref(payload);
	free(header_json);
	free(payload_json);
	free(header_b64);
	free(payload_b64);
	free(sig_b64);
	free(token);
	return out;
}
