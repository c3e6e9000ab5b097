/* Minting capability tokens: links into wingman-token only. */
#ifndef WINGMAN_MINT_H
#define WINGMAN_MINT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

struct mint_claims {
	const char *sub; /* worker id */
	const char *env;
	const char *request_id;
	const char *cmd; /* the exact approved command */
	const char *const *approved_by;
	size_t n_approved_by;
	const char *jti; /* >= 128 bits, base64url */
	int64_t iat, nbf, exp;
};

/*
 * Returns a new JWS compact string (header {"alg":"EdDSA","kid":kid,"typ":"JWT"},
 * iss wingman-token, aud wingman-executor), or NULL with err set.
 */
char *jws_mint(EVP_PKEY *key, const char *kid, const struct mint_claims *claims, char *err,
    size_t errlen);

#endif
