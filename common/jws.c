#include "jws.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util.h"

#define JTI_MIN_LEN 22 /* 128 bits of base64url */
#define JTI_MAX_LEN 64 /* a ledger key, not a payload */

const char *
jws_verdict_code(enum jws_verdict v)
{
	switch (v) {
	case TOKEN_OK:
		return "TOKEN_OK";
	case TOKEN_MALFORMED:
		return "TOKEN_MALFORMED";
	case TOKEN_BAD_HEADER:
		return "TOKEN_BAD_HEADER";
	case TOKEN_BAD_ALG:
		return "TOKEN_BAD_ALG";
	case TOKEN_UNKNOWN_KID:
		return "TOKEN_UNKNOWN_KID";
	case TOKEN_BAD_SIGNATURE:
		return "TOKEN_BAD_SIGNATURE";
	case TOKEN_BAD_CLAIMS:
		return "TOKEN_BAD_CLAIMS";
	case TOKEN_WRONG_ISSUER:
		return "TOKEN_WRONG_ISSUER";
	case TOKEN_WRONG_AUDIENCE:
		return "TOKEN_WRONG_AUDIENCE";
	case TOKEN_WRONG_ENV:
		return "TOKEN_WRONG_ENV";
	case TOKEN_EXPIRED:
		return "TOKEN_EXPIRED";
	case TOKEN_NOT_YET_VALID:
		return "TOKEN_NOT_YET_VALID";
	case TOKEN_LIFETIME:
		return "TOKEN_LIFETIME";
	case TOKEN_CMD_MISMATCH:
		return "TOKEN_CMD_MISMATCH";
	case TOKEN_REQUEST_MISMATCH:
		return "TOKEN_REQUEST_MISMATCH";
	}
	return "TOKEN_UNKNOWN_VERDICT";
}

/*
 * Detail goes to logs: it holds fixed words and numbers only, never a string
 * taken from the token, so a hostile token cannot write into the log line.
 */
static enum jws_verdict verdict(enum jws_verdict, char *, size_t, const char *, ...)
    __attribute__((format(printf, 4, 5)));

static enum jws_verdict
verdict(enum jws_verdict v, char *detail, size_t detaillen, const char *fmt, ...)
{
	va_list ap;

	if (detail != NULL && detaillen > 0) {
		va_start(ap, fmt);
		/* Truncated words are still words: the verdict is what counts. */
		if (vsnprintf(detail, detaillen, fmt, ap) < 0)
			detail[0] = '\0';
		va_end(ap);
	}
	return v;
}

static int
is_b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '_';
}

/*
 * A JSON object, strictly: duplicate members are refused (which one would a
 * second parser pick?), so is anything after the closing brace.
 */
static json_t *
parse_object(const unsigned char *buf, size_t len, int *duplicate)
{
	json_error_t jerr;
	json_t *obj;

	*duplicate = 0;
	obj = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL) {
		/* An integer too big for int64 is a claim of the wrong type too. */
		if (json_error_code(&jerr) == json_error_duplicate_key ||
		    json_error_code(&jerr) == json_error_numeric_overflow)
			*duplicate = 1;
		return NULL;
	}
	if (!json_is_object(obj)) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

static enum jws_verdict
check_header(const json_t *hdr, const struct keyring *ring, const char **kid_out, char *detail,
    size_t detaillen)
{
	const char *name;
	json_t *val, *alg, *kid, *typ;

	*kid_out = NULL;
	if (json_object_get(hdr, "crit") != NULL)
		return verdict(TOKEN_BAD_HEADER, detail, detaillen,
		    "header carries crit: no extensions are understood");
	json_object_foreach((json_t *)hdr, name, val)
	{
		if (strcmp(name, "alg") != 0 && strcmp(name, "kid") != 0 && strcmp(name, "typ") != 0)
			return verdict(TOKEN_BAD_HEADER, detail, detaillen,
			    "header has a member other than alg, kid, typ");
	}
	typ = json_object_get(hdr, "typ");
	if (typ != NULL &&
	    (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0 ||
	        json_string_length(typ) != 3))
		return verdict(TOKEN_BAD_HEADER, detail, detaillen, "typ is not JWT");

	/* The algorithm is ours to choose, not the token's: decided before any key. */
	alg = json_object_get(hdr, "alg");
	if (alg == NULL || !json_is_string(alg) || json_string_length(alg) != 5 ||
	    memcmp(json_string_value(alg), "EdDSA", 5) != 0)
		return verdict(TOKEN_BAD_ALG, detail, detaillen, "alg is not EdDSA");

	/* kid only ever selects an entry already in the ring; it is never a path. */
	kid = json_object_get(hdr, "kid");
	if (kid == NULL || !json_is_string(kid) ||
	    strlen(json_string_value(kid)) != json_string_length(kid) ||
	    keyring_find(ring, json_string_value(kid)) == NULL)
		return verdict(TOKEN_UNKNOWN_KID, detail, detaillen,
		    "kid does not name a trusted key");
	*kid_out = json_string_value(kid);
	return TOKEN_OK;
}

static int
get_string(const json_t *claims, const char *name, const char **out)
{
	json_t *v = json_object_get(claims, name);

	/* jansson refuses \u0000 by default; the length check says so here too. */
	if (v == NULL || !json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	*out = json_string_value(v);
	return 0;
}

static int
get_time(const json_t *claims, const char *name, int64_t *out)
{
	json_t *v = json_object_get(claims, name);

	/* Non-negative keeps every later subtraction free of overflow. */
	if (v == NULL || !json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (int64_t)json_integer_value(v);
	return 0;
}

static enum jws_verdict
check_claims(const json_t *claims, const struct jws_expect *expect, char *detail, size_t detaillen)
{
	static const char *const known[] = { "iss", "aud", "sub", "jti", "iat", "nbf", "exp", "env",
		"request_id", "cmd", "approved_by" };
	const char *iss, *aud, *sub, *jti, *env, *request_id, *cmd, *name;
	int64_t iat, nbf, exp;
	json_t *val, *approvers;
	size_t i, n;

	json_object_foreach((json_t *)claims, name, val)
	{
		for (i = 0; i < ARRAY_LEN(known); i++)
			if (strcmp(name, known[i]) == 0)
				break;
		if (i == ARRAY_LEN(known))
			return verdict(TOKEN_BAD_CLAIMS, detail, detaillen,
			    "claims hold an unknown member");
	}
	if (get_string(claims, "iss", &iss) != 0 || get_string(claims, "aud", &aud) != 0 ||
	    get_string(claims, "sub", &sub) != 0 || get_string(claims, "jti", &jti) != 0 ||
	    get_string(claims, "env", &env) != 0 ||
	    get_string(claims, "request_id", &request_id) != 0 ||
	    get_string(claims, "cmd", &cmd) != 0)
		return verdict(TOKEN_BAD_CLAIMS, detail, detaillen,
		    "a string claim is missing or not a string");
	if (get_time(claims, "iat", &iat) != 0 || get_time(claims, "nbf", &nbf) != 0 ||
	    get_time(claims, "exp", &exp) != 0)
		return verdict(TOKEN_BAD_CLAIMS, detail, detaillen,
		    "iat, nbf or exp is missing or not a non-negative integer");
	approvers = json_object_get(claims, "approved_by");
	if (approvers == NULL || !json_is_array(approvers) || json_array_size(approvers) == 0)
		return verdict(TOKEN_BAD_CLAIMS, detail, detaillen,
		    "approved_by is missing or not a non-empty array");
	json_array_foreach(approvers, i, val)
	{
		if (!json_is_string(val) || json_string_length(val) == 0)
			return verdict(TOKEN_BAD_CLAIMS, detail, detaillen,
			    "approved_by holds something other than a name");
	}
	/* jti is the single-use ledger key: it must be unguessable. */
	n = strlen(jti);
	if (n < JTI_MIN_LEN || n > JTI_MAX_LEN)
		return verdict(TOKEN_BAD_CLAIMS, detail, detaillen,
		    "jti is not %d to %d characters", JTI_MIN_LEN, JTI_MAX_LEN);
	for (i = 0; i < n; i++)
		if (!is_b64url_char(jti[i]))
			return verdict(TOKEN_BAD_CLAIMS, detail, detaillen, "jti is not base64url");

	if (strcmp(iss, JWS_ISSUER) != 0)
		return verdict(TOKEN_WRONG_ISSUER, detail, detaillen, "iss is not " JWS_ISSUER);
	if (strcmp(aud, JWS_AUDIENCE) != 0)
		return verdict(TOKEN_WRONG_AUDIENCE, detail, detaillen, "aud is not " JWS_AUDIENCE);
	if (strcmp(env, expect->env) != 0)
		return verdict(TOKEN_WRONG_ENV, detail, detaillen,
		    "token is for another environment");

	if (exp <= iat || nbf < iat || exp - iat > JWS_MAX_LIFETIME_S)
		return verdict(TOKEN_LIFETIME, detail, detaillen,
		    "iat %lld, nbf %lld, exp %lld: lifetime not in (0, %d] s", (long long)iat,
		    (long long)nbf, (long long)exp, JWS_MAX_LIFETIME_S);

	if (expect->request_id != NULL && strcmp(request_id, expect->request_id) != 0)
		return verdict(TOKEN_REQUEST_MISMATCH, detail, detaillen,
		    "token was minted for another request");
	/* Byte for byte: no trimming, no normalising, no prefix matches. */
	n = strlen(expect->cmd);
	if (n != strlen(cmd) || memcmp(cmd, expect->cmd, n) != 0)
		return verdict(TOKEN_CMD_MISMATCH, detail, detaillen,
		    "command is not the approved command");
	/* Time last: a token that is wrong in any other way says so, not that a clock is off. */
	if (expect->ignore_time)
		return verdict(TOKEN_OK, detail, detaillen, "ok");
	return jws_check_time(claims, expect->now, detail, detaillen);
}

/* Written as differences of non-negative values so nothing overflows. */
enum jws_verdict
jws_check_time(const json_t *claims, int64_t now, char *detail, size_t detaillen)
{
	int64_t nbf, exp;

	if (get_time(claims, "nbf", &nbf) != 0 || get_time(claims, "exp", &exp) != 0)
		return verdict(TOKEN_BAD_CLAIMS, detail, detaillen,
		    "nbf or exp is missing or not a non-negative integer");
	if (exp < now && now - exp > JWS_LEEWAY_S)
		return verdict(TOKEN_EXPIRED, detail, detaillen, "expired %lld s ago",
		    (long long)(now - exp));
	if (nbf > now && nbf - now > JWS_LEEWAY_S)
		return verdict(TOKEN_NOT_YET_VALID, detail, detaillen,
		    "not valid for another %lld s", (long long)(nbf - now));
	return verdict(TOKEN_OK, detail, detaillen, "ok");
}

/*
 * The order is the point: size, shape and encoding; header, alg and kid
 * (before any crypto); signature; only then is the payload parsed as JSON,
 * so jansson never sees unauthenticated claims.
 */
enum jws_verdict
jws_verify(const char *token, size_t len, const struct keyring *ring,
    const struct jws_expect *expect, json_t **claims_out, char *detail, size_t detaillen)
{
	unsigned char *seg[3] = { NULL, NULL, NULL };
	size_t seglen[3] = { 0, 0, 0 };
	const char *start[3], *dot1, *dot2;
	size_t rawlen[3];
	json_t *hdr = NULL, *claims = NULL;
	const char *kid = NULL;
	enum jws_verdict v;
	int dup, i;

	if (claims_out != NULL)
		*claims_out = NULL;
	if (detail != NULL && detaillen > 0)
		detail[0] = '\0';
	if (ring == NULL || expect == NULL || expect->env == NULL || expect->cmd == NULL) {
		v = verdict(TOKEN_MALFORMED, detail, detaillen,
		    "verifier called without expectations");
		goto fail;
	}
	if (token == NULL || len == 0 || len > JWS_MAX_LEN) {
		v = verdict(TOKEN_MALFORMED, detail, detaillen, "token length %zu not in [1, %d]",
		    token == NULL ? 0 : len, JWS_MAX_LEN);
		goto fail;
	}

	/* Exactly two dots; memchr so len, not a NUL, bounds the token. */
	dot1 = memchr(token, '.', len);
	dot2 = dot1 == NULL ? NULL : memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
	if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL) {
		v = verdict(TOKEN_MALFORMED, detail, detaillen, "token is not three segments");
		goto fail;
	}
	start[0] = token;
	rawlen[0] = (size_t)(dot1 - token);
	start[1] = dot1 + 1;
	rawlen[1] = (size_t)(dot2 - start[1]);
	start[2] = dot2 + 1;
	rawlen[2] = len - (size_t)(start[2] - token);
	for (i = 0; i < 3; i++) {
		if (rawlen[i] == 0 ||
		    b64url_decode(start[i], rawlen[i], &seg[i], &seglen[i]) != 0 || seglen[i] == 0) {
			v = verdict(TOKEN_MALFORMED, detail, detaillen,
			    "segment %d is empty or not strict base64url", i + 1);
			goto fail;
		}
	}

	if ((hdr = parse_object(seg[0], seglen[0], &dup)) == NULL) {
		v = verdict(dup ? TOKEN_BAD_HEADER : TOKEN_MALFORMED, detail, detaillen,
		    dup ? "header has a duplicate member or an oversized number"
		        : "header is not a JSON object");
		goto fail;
	}
	if ((v = check_header(hdr, ring, &kid, detail, detaillen)) != TOKEN_OK)
		goto fail;

	if (seglen[2] != 64) {
		v = verdict(TOKEN_BAD_SIGNATURE, detail, detaillen,
		    "signature is %zu bytes, not 64", seglen[2]);
		goto fail;
	}
	/*
	 * The signing input is the ASCII text as received, header.payload;
	 * any generation of the kid's key may have signed it (rotation).
	 */
	if (keyring_verify(ring, kid, token, (size_t)(dot2 - token), seg[2], seglen[2]) != 1) {
		v = verdict(TOKEN_BAD_SIGNATURE, detail, detaillen, "signature does not verify");
		goto fail;
	}

	if ((claims = parse_object(seg[1], seglen[1], &dup)) == NULL) {
		v = verdict(dup ? TOKEN_BAD_CLAIMS : TOKEN_MALFORMED, detail, detaillen,
		    dup ? "claims have a duplicate member or an oversized number"
		        : "claims are not a JSON object");
		goto fail;
	}
	if ((v = check_claims(claims, expect, detail, detaillen)) != TOKEN_OK)
		goto fail;
	if (claims_out != NULL) {
		*claims_out = claims;
		claims = NULL;
	}
fail:
	json_decref(claims);
	json_decref(hdr);
	for (i = 0; i < 3; i++) {
		/* A token is a bearer capability: leave no decoded copies behind. */
		if (seg[i] != NULL)
			OPENSSL_cleanse(seg[i], seglen[i]);
		free(seg[i]);
	}
	return v;
}
