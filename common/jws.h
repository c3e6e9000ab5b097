/*
 * Capability tokens: JWS compact serialization (RFC 7515), alg EdDSA
 * (RFC 8037) over Ed25519. Verification lives here (the executor and the
 * CLI need it); minting lives in services/token/ only, next to the private key.
 */
#ifndef WINGMAN_JWS_H
#define WINGMAN_JWS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "keys.h"

#define JWS_MAX_LEN 8192
#define JWS_ISSUER "wingman-token"
#define JWS_AUDIENCE "wingman-executor"
#define JWS_LEEWAY_S 30
#define JWS_MAX_LIFETIME_S 3600

enum jws_verdict {
	TOKEN_OK = 0,
	TOKEN_MALFORMED, /* size, segments, base64url, JSON */
	TOKEN_BAD_HEADER, /* typ, crit, duplicate or unknown members */
	TOKEN_BAD_ALG, /* anything but EdDSA, checked before any crypto */
	TOKEN_UNKNOWN_KID,
	TOKEN_BAD_SIGNATURE,
	TOKEN_BAD_CLAIMS, /* a claim missing or of the wrong type */
	TOKEN_WRONG_ISSUER,
	TOKEN_WRONG_AUDIENCE,
	TOKEN_WRONG_ENV,
	TOKEN_EXPIRED,
	TOKEN_NOT_YET_VALID,
	TOKEN_LIFETIME, /* exp - iat beyond JWS_MAX_LIFETIME_S */
	TOKEN_CMD_MISMATCH, /* presented command is not byte-for-byte cmd */
	TOKEN_REQUEST_MISMATCH,
};

/* "TOKEN_EXPIRED" and so on. */
const char *jws_verdict_code(enum jws_verdict v);

struct jws_expect {
	const char *env; /* required */
	const char *cmd; /* required: the command presented for execution */
	const char *request_id; /* NULL: not checked */
	int64_t now; /* unix seconds */
	int ignore_time; /* skip exp/nbf: only to look up a token that already ran */
};

/*
 * Verifies token against the public keys in ring (kid must name one of them)
 * and the expectations. On TOKEN_OK, *claims_out (if not NULL) receives a new
 * reference to the claims object. detail gets words for the log.
 */
enum jws_verdict jws_verify(const char *token, size_t len, const struct keyring *ring,
    const struct jws_expect *expect, json_t **claims_out, char *detail, size_t detaillen);
/*
 * The exp/nbf check jws_verify makes last, alone, for claims that
 * jws_verify returned with ignore_time set: checking the time later costs
 * no second signature verification. TOKEN_OK, TOKEN_EXPIRED or
 * TOKEN_NOT_YET_VALID (TOKEN_BAD_CLAIMS for claims it did not return).
 */
enum jws_verdict jws_check_time(const json_t *claims, int64_t now, char *detail, size_t detaillen);

#endif
