/*
 * libFuzzer target for the token verifier (common/jws.c). Each input is
 * tried three ways: as a token as it stands; as the claims of a token
 * signed here with a fixed key, so the claim checks are reached (a random
 * token never gets past the signature); and as the header of such a token.
 * Whatever the input, jws_verify must return a verdict, never crash, leak
 * or read out of bounds, and only TOKEN_OK may hand back claims.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "jws.h"
#include "keys.h"
#include "util.h"

#define FUZZ_NOW 1795000000

static struct keyring ring;
static EVP_PKEY *signer;

/* RFC 8037 A.1's private key: fixed, so any crash reproduces. */
static const unsigned char seed_key[32] = {
	0x9d,
	0x61,
	0xb1,
	0x9d,
	0xef,
	0xfd,
	0x5a,
	0x60,
	0xba,
	0x84,
	0x4a,
	0xf4,
	0x92,
	0xec,
	0x2c,
	0xc4,
	0x44,
	0x49,
	0xc5,
	0x69,
	0x7b,
	0x32,
	0x69,
	0x70,
	0x3b,
	0xf7,
	0x03,
	0x1c,
	0xae,
	0x7f,
	0x60,
	0x19,
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned char pub[32];
	size_t publen = sizeof(pub);

	(void)argc;
	(void)argv;
	signer = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed_key, sizeof(seed_key));
	if (signer == NULL || EVP_PKEY_get_raw_public_key(signer, pub, &publen) != 1)
		abort();
	keyring_init(&ring);
	ring.keys[0].key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, publen);
	if (ring.keys[0].key == NULL)
		abort();
	memcpy(ring.keys[0].name, "token", 6);
	ring.n = 1;
	return 0;
}

static void
check(const char *token, size_t len)
{
	struct jws_expect ex = { "test", "docker restart wingman-test-api", NULL, FUZZ_NOW, 0 };
	json_t *claims = NULL;
	char detail[256];
	enum jws_verdict v;

	v = jws_verify(token, len, &ring, &ex, &claims, detail, sizeof(detail));
	if ((v == TOKEN_OK) != (claims != NULL) || jws_verdict_code(v) == NULL)
		abort();
	json_decref(claims);
	ex.request_id = "r1";
	v = jws_verify(token, len, &ring, &ex, NULL, detail, sizeof(detail));
	(void)v;
}

/* header.payload signed with the fixed key, both segments from raw bytes. */
static void
check_signed(const uint8_t *hdr, size_t hlen, const uint8_t *payload, size_t plen)
{
	char *h = b64url_encode(hdr, hlen), *p = b64url_encode(payload, plen), *s = NULL,
	     *tok = NULL;
	unsigned char sig[64];
	size_t n;

	if (h == NULL || p == NULL)
		goto done;
	n = strlen(h) + 1 + strlen(p);
	if ((tok = malloc(n + 1 + 87)) == NULL)
		goto done;
	memcpy(tok, h, strlen(h));
	tok[strlen(h)] = '.';
	memcpy(tok + strlen(h) + 1, p, strlen(p));
	if (ed25519_sign(signer, tok, n, sig) != 0 || (s = b64url_encode(sig, sizeof(sig))) == NULL)
		goto done;
	tok[n] = '.';
	memcpy(tok + n + 1, s, strlen(s) + 1);
	check(tok, strlen(tok));
done:
	free(h);
	free(p);
	free(s);
	free(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char header[] = "{\"alg\":\"EdDSA\",\"kid\":\"token\",\"typ\":\"JWT\"}";
	static const char claims[] =
	    "{\"iss\":\"wingman-token\",\"aud\":\"wingman-executor\","
	    "\"sub\":\"agent-7\",\"jti\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"iat\":1795000000,"
	    "\"nbf\":1795000000,\"exp\":1795000060,\"env\":\"test\",\"request_id\":\"r1\","
	    "\"cmd\":\"docker restart wingman-test-api\",\"approved_by\":[\"alice\"]}";

	check((const char *)data, size);
	if (size > JWS_MAX_LEN)
		return 0;
	check_signed((const uint8_t *)header, sizeof(header) - 1, data, size);
	check_signed(data, size, (const uint8_t *)claims, sizeof(claims) - 1);
	return 0;
}
