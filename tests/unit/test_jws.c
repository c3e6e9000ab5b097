/*
 * Capability tokens: RFC 8037 vectors, mint/verify round trip, and the
 * forgeries the executor must refuse, each with its exact verdict. Hostile
 * tokens are built by hand and, where it matters, signed with the trusted
 * key, so each one fails for the reason it was written for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "jws.h"
#include "keygen.h"
#include "keys.h"
#include "mint.h"
#include "util.h"

/*
 * RFC 8037 Appendix A.1 and A.4. RFC_SIG_WRONG differs from the RFC in its
 * last 22 characters (a mistyped copy once circulated here): it must fail.
 */
#define RFC_D "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define RFC_X "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define RFC_INPUT "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
#define RFC_SIG \
	"hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
#define RFC_SIG_WRONG \
	"hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPVERcggaNCJuH8zUgAw"

#define KID "wingman-token"
#define HDR "{\"alg\":\"EdDSA\",\"kid\":\"" KID "\",\"typ\":\"JWT\"}"
#define NOW ((int64_t)1764158400) /* 2025-11-26T12:00:00Z */
#define JTI "q3Zr8vN1xT0yW5bK7mP2sA"
#define REQ "7d0c2a9e-4b1f-4c3a-9d2e-0f6a1b2c3d4e"
#define CMD "docker restart wingman-test-api"
#define ENV "test"

struct fx {
	char dir[256];
	EVP_PKEY *key; /* RFC 8037 key, in the ring as KID */
	EVP_PKEY *rotated; /* a second ring key, "rotated" */
	EVP_PKEY *outsider; /* not in the ring */
	unsigned char pub_raw[32];
	char *pub_pem;
	struct keyring ring;
};

static EVP_PKEY *
rfc_key(void)
{
	unsigned char *d = NULL;
	size_t dlen = 0;
	EVP_PKEY *key;

	assert_int_equal(b64url_decode(RFC_D, strlen(RFC_D), &d, &dlen), 0);
	assert_int_equal(dlen, 32);
	key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, d, dlen);
	OPENSSL_cleanse(d, dlen);
	free(d);
	assert_non_null(key);
	return key;
}

static char *
pem_public(EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PUBKEY(bio, key), 1);
	n = BIO_get_mem_data(bio, &data);
	assert_true(n > 0);
	out = malloc((size_t)n + 1);
	assert_non_null(out);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	BIO_free(bio);
	return out;
}

static void
write_text(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	assert_true(xsnprintf(path, sizeof(path), "%s/%s", dir, name) > 0);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void
remove_file(const char *dir, const char *name)
{
	char path[512];

	if (xsnprintf(path, sizeof(path), "%s/%s", dir, name) > 0)
		unlink(path);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	size_t publen = sizeof(f->pub_raw);
	char err[256];

	assert_non_null(f);
	assert_true(xsnprintf(f->dir, sizeof(f->dir), "%s/wingman-test-jws.XXXXXX",
	                tmp != NULL && *tmp != '\0' ? tmp : "/tmp") > 0);
	assert_non_null(mkdtemp(f->dir));

	f->key = rfc_key();
	assert_int_equal(EVP_PKEY_get_raw_public_key(f->key, f->pub_raw, &publen), 1);
	assert_int_equal(publen, 32);
	f->pub_pem = pem_public(f->key);
	write_text(f->dir, KID ".pub", f->pub_pem);

	assert_int_equal(key_generate(f->dir, "rotated", err, sizeof(err)), 0);
	assert_non_null(f->rotated = key_load_named(f->dir, "rotated", 1, err, sizeof(err)));
	assert_non_null(f->outsider = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));

	keyring_init(&f->ring);
	assert_int_equal(keyring_add(&f->ring, f->dir, KID, err, sizeof(err)), 0);
	assert_int_equal(keyring_add(&f->ring, f->dir, "rotated", err, sizeof(err)), 0);

	/* Everything is in memory now: no files outlive a failed test. */
	remove_file(f->dir, KID ".pub");
	remove_file(f->dir, "rotated.key");
	remove_file(f->dir, "rotated.pub");
	assert_int_equal(rmdir(f->dir), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	keyring_free(&f->ring);
	EVP_PKEY_free(f->key);
	EVP_PKEY_free(f->rotated);
	EVP_PKEY_free(f->outsider);
	free(f->pub_pem);
	free(f);
	return 0;
}

/* --- building tokens by hand ------------------------------------------- */

static char *
b64(const void *data, size_t len)
{
	char *s = b64url_encode(data, len);

	assert_non_null(s);
	return s;
}

static char *
join3(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *s = malloc(la + lb + lc + 3);

	assert_non_null(s);
	memcpy(s, a, la);
	s[la] = '.';
	memcpy(s + la + 1, b, lb);
	s[la + 1 + lb] = '.';
	memcpy(s + la + 2 + lb, c, lc);
	s[la + lb + lc + 2] = '\0';
	return s;
}

/* b64(header).b64(payload) */
static char *
signing_input(const char *hdr, size_t hlen, const char *payload, size_t plen)
{
	char *h = b64(hdr, hlen), *p = b64(payload, plen);
	size_t lh = strlen(h), lp = strlen(p);
	char *s = malloc(lh + lp + 2);

	assert_non_null(s);
	memcpy(s, h, lh);
	s[lh] = '.';
	memcpy(s + lh + 1, p, lp + 1);
	free(h);
	free(p);
	return s;
}

static char *
append_sig(char *input, const unsigned char *sig, size_t siglen)
{
	char *sb = b64(sig, siglen);
	size_t li = strlen(input), ls = strlen(sb);
	char *s = malloc(li + ls + 2);

	assert_non_null(s);
	memcpy(s, input, li);
	s[li] = '.';
	memcpy(s + li + 1, sb, ls + 1);
	free(sb);
	free(input);
	return s;
}

/* Any header and payload bytes, signed with signer over the real signing input. */
static char *
token_raw(const char *hdr, size_t hlen, const char *payload, size_t plen, EVP_PKEY *signer)
{
	char *input = signing_input(hdr, hlen, payload, plen);
	unsigned char sig[64];

	assert_int_equal(ed25519_sign(signer, input, strlen(input), sig), 0);
	return append_sig(input, sig, sizeof(sig));
}

static json_t *
default_claims(void)
{
	json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:[s]}", "iss",
	    JWS_ISSUER, "aud", JWS_AUDIENCE, "sub", "agent-7", "jti", JTI, "iat", (json_int_t)NOW,
	    "nbf", (json_int_t)NOW, "exp", (json_int_t)(NOW + 300), "env", ENV, "request_id", REQ,
	    "cmd", CMD, "approved_by", "alice");

	assert_non_null(c);
	return c;
}

/* Steals claims. */
static char *
token_claims(json_t *claims, EVP_PKEY *signer)
{
	char *p = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *t;

	assert_non_null(p);
	t = token_raw(HDR, strlen(HDR), p, strlen(p), signer);
	free(p);
	json_decref(claims);
	return t;
}

static char *
token_header(const char *hdr, EVP_PKEY *signer)
{
	json_t *c = default_claims();
	char *p = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *t;

	assert_non_null(p);
	t = token_raw(hdr, strlen(hdr), p, strlen(p), signer);
	free(p);
	json_decref(c);
	return t;
}

static char *
token_payload_text(const char *payload, EVP_PKEY *signer)
{
	return token_raw(HDR, strlen(HDR), payload, strlen(payload), signer);
}

static enum jws_verdict
verify_len(struct fx *f, const char *tok, size_t len, const char *cmd, const char *req)
{
	struct jws_expect ex = { .env = ENV, .cmd = cmd, .request_id = req, .now = NOW };
	json_t *claims = (json_t *)&claims; /* poison: must come back NULL */
	char detail[256];
	enum jws_verdict v;

	v = jws_verify(tok, len, &f->ring, &ex, &claims, detail, sizeof(detail));
	assert_true(strlen(detail) > 0);
	if (v == TOKEN_OK)
		assert_non_null(claims);
	else
		assert_null(claims);
	json_decref(claims);
	return v;
}

static enum jws_verdict
verify(struct fx *f, const char *tok)
{
	return verify_len(f, tok, strlen(tok), CMD, REQ);
}

#define assert_verdict(got, want) assert_string_equal(jws_verdict_code(got), jws_verdict_code(want))

/* Verifies and frees. */
static void
expect_verdict(struct fx *f, char *tok, enum jws_verdict want)
{
	assert_verdict(verify(f, tok), want);
	free(tok);
}

/* --- (a) RFC 8037 ------------------------------------------------------ */

static void
test_rfc8037_vectors(void **state)
{
	static const char payload[] = "Example of Ed25519 signing";
	static const char hdr[] = "{\"alg\":\"EdDSA\"}";
	unsigned char sig[64], *x = NULL, *want = NULL;
	size_t xlen = 0, wantlen = 0;
	EVP_PKEY *pub;
	char *s;

	(void)state;
	/* A.1: the public key follows from d. */
	{
		EVP_PKEY *key = rfc_key();
		unsigned char raw[32];
		size_t rawlen = sizeof(raw);

		assert_int_equal(EVP_PKEY_get_raw_public_key(key, raw, &rawlen), 1);
		s = b64(raw, rawlen);
		assert_string_equal(s, RFC_X);
		free(s);

		/* A.4: the encodings and the signature, byte for byte. */
		s = signing_input(hdr, strlen(hdr), payload, strlen(payload));
		assert_string_equal(s, RFC_INPUT);
		free(s);
		assert_int_equal(ed25519_sign(key, RFC_INPUT, strlen(RFC_INPUT), sig), 0);
		s = b64(sig, sizeof(sig));
		assert_string_equal(s, RFC_SIG);
		free(s);
		EVP_PKEY_free(key);
	}

	/* A.5: the public key alone verifies it. */
	assert_int_equal(b64url_decode(RFC_X, strlen(RFC_X), &x, &xlen), 0);
	assert_non_null(pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen));
	assert_int_equal(b64url_decode(RFC_SIG, strlen(RFC_SIG), &want, &wantlen), 0);
	assert_int_equal(wantlen, 64);
	assert_int_equal(ed25519_verify(pub, RFC_INPUT, strlen(RFC_INPUT), want, wantlen), 1);

	/* One flipped bit, in the signature or the message, and it fails. */
	want[0] ^= 0x01;
	assert_int_equal(ed25519_verify(pub, RFC_INPUT, strlen(RFC_INPUT), want, wantlen), 0);
	want[0] ^= 0x01;
	want[63] ^= 0x80;
	assert_int_equal(ed25519_verify(pub, RFC_INPUT, strlen(RFC_INPUT), want, wantlen), 0);
	want[63] ^= 0x80;
	{
		char msg[] = RFC_INPUT;
		msg[5] ^= 0x01;
		assert_int_equal(ed25519_verify(pub, msg, strlen(msg), want, wantlen), 0);
	}
	assert_int_equal(ed25519_verify(pub, RFC_INPUT, strlen(RFC_INPUT), want, 63), 0);
	assert_int_equal(ed25519_verify(pub, RFC_INPUT, strlen(RFC_INPUT), want, wantlen), 1);
	free(want);
	assert_int_equal(b64url_decode(RFC_SIG_WRONG, strlen(RFC_SIG_WRONG), &want, &wantlen), 0);
	assert_int_equal(wantlen, 64);
	assert_int_equal(ed25519_verify(pub, RFC_INPUT, strlen(RFC_INPUT), want, wantlen), 0);

	EVP_PKEY_free(pub);
	free(x);
	free(want);
}

/* The A.4 JWS passes alg but carries no kid: our verifier wants one. */
static void
test_rfc8037_jws_needs_kid(void **state)
{
	struct fx *f = *state;

	assert_verdict(verify(f, RFC_INPUT "." RFC_SIG), TOKEN_UNKNOWN_KID);
}

/* --- (b) mint and verify ----------------------------------------------- */

static const char *const approvers[] = { "alice", "bob" };

static struct mint_claims
mint_defaults(void)
{
	struct mint_claims c = {
		.sub = "agent-7",
		.env = ENV,
		.request_id = REQ,
		.cmd = CMD,
		.approved_by = approvers,
		.n_approved_by = 2,
		.jti = JTI,
		.iat = NOW,
		.nbf = NOW,
		.exp = NOW + 300,
	};
	return c;
}

static void
test_mint_verify_round_trip(void **state)
{
	struct fx *f = *state;
	struct mint_claims mc = mint_defaults();
	struct jws_expect ex = { .env = ENV, .cmd = CMD, .request_id = REQ, .now = NOW };
	char err[256], detail[256];
	json_t *claims = NULL;
	char *tok, *tok2;

	assert_non_null(tok = jws_mint(f->key, KID, &mc, err, sizeof(err)));
	assert_verdict(jws_verify(tok, strlen(tok), &f->ring, &ex, &claims, detail, sizeof(detail)),
	    TOKEN_OK);
	assert_non_null(claims);
	assert_string_equal(json_string_value(json_object_get(claims, "cmd")), CMD);
	assert_string_equal(json_string_value(json_object_get(claims, "jti")), JTI);
	assert_string_equal(json_string_value(json_object_get(claims, "sub")), "agent-7");
	assert_string_equal(json_string_value(json_object_get(claims, "iss")), JWS_ISSUER);
	assert_string_equal(json_string_value(json_object_get(claims, "aud")), JWS_AUDIENCE);
	assert_int_equal(json_integer_value(json_object_get(claims, "exp")), NOW + 300);
	assert_int_equal(json_array_size(json_object_get(claims, "approved_by")), 2);
	assert_string_equal(json_string_value(
	                        json_array_get(json_object_get(claims, "approved_by"), 1)),
	    "bob");
	json_decref(claims);

	/* Ed25519 is deterministic: the same decision, the same token. */
	assert_non_null(tok2 = jws_mint(f->key, KID, &mc, err, sizeof(err)));
	assert_string_equal(tok, tok2);
	free(tok2);

	/* No request id expected, no claims wanted: still fine. */
	ex.request_id = NULL;
	assert_verdict(jws_verify(tok, strlen(tok), &f->ring, &ex, NULL, NULL, 0), TOKEN_OK);
	free(tok);

	/* A token from the second ring key verifies under its own kid. */
	assert_non_null(tok = jws_mint(f->rotated, "rotated", &mc, err, sizeof(err)));
	assert_verdict(verify(f, tok), TOKEN_OK);
	free(tok);
}

/* The exact bytes: member order, compact separators. */
static void
test_mint_exact_layout(void **state)
{
	struct fx *f = *state;
	struct mint_claims mc = mint_defaults();
	const char *dot1, *dot2;
	unsigned char *h = NULL, *p = NULL;
	size_t hlen = 0, plen = 0;
	char err[256], want[1024];
	char *tok;

	assert_non_null(tok = jws_mint(f->key, KID, &mc, err, sizeof(err)));
	assert_non_null(dot1 = strchr(tok, '.'));
	assert_non_null(dot2 = strchr(dot1 + 1, '.'));
	assert_null(strchr(dot2 + 1, '.'));
	assert_int_equal(strlen(dot2 + 1), 86);
	assert_int_equal(b64url_decode(tok, (size_t)(dot1 - tok), &h, &hlen), 0);
	assert_int_equal(b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &p, &plen), 0);
	assert_int_equal(hlen, strlen(HDR));
	assert_memory_equal(h, HDR, hlen);
	assert_true(
	    xsnprintf(want, sizeof(want),
	        "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"agent-7\",\"jti\":\"%s\","
	        "\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld,\"env\":\"%s\",\"request_id\":\"%s\","
	        "\"cmd\":\"%s\",\"approved_by\":[\"alice\",\"bob\"]}",
	        JWS_ISSUER, JWS_AUDIENCE, JTI, (long long)NOW, (long long)NOW,
	        (long long)(NOW + 300), ENV, REQ, CMD) > 0);
	assert_int_equal(plen, strlen(want));
	assert_memory_equal(p, want, plen);
	free(h);
	free(p);
	free(tok);
}

static void
test_mint_refuses(void **state)
{
	struct fx *f = *state;
	struct mint_claims mc;
	char err[256];
	char big[JWS_MAX_LEN];

	mc = mint_defaults();
	mc.jti = "q3Zr8vN1xT0yW5bK7mP2s"; /* 21 characters */
	assert_null(jws_mint(f->key, KID, &mc, err, sizeof(err)));
	assert_non_null(strstr(err, "jti"));

	mc = mint_defaults();
	mc.jti = "q3Zr8vN1xT0yW5bK7mP2sA+/";
	assert_null(jws_mint(f->key, KID, &mc, err, sizeof(err)));

	mc = mint_defaults();
	mc.n_approved_by = 0;
	assert_null(jws_mint(f->key, KID, &mc, err, sizeof(err)));

	mc = mint_defaults();
	mc.exp = mc.iat + JWS_MAX_LIFETIME_S + 1;
	assert_null(jws_mint(f->key, KID, &mc, err, sizeof(err)));

	mc = mint_defaults();
	mc.exp = mc.iat;
	assert_null(jws_mint(f->key, KID, &mc, err, sizeof(err)));

	mc = mint_defaults();
	mc.cmd = NULL;
	assert_null(jws_mint(f->key, KID, &mc, err, sizeof(err)));

	mc = mint_defaults();
	mc.cmd = "docker restart \xff";
	assert_null(jws_mint(f->key, KID, &mc, err, sizeof(err)));

	mc = mint_defaults();
	assert_null(jws_mint(f->key, "../../etc/passwd", &mc, err, sizeof(err)));
	assert_null(jws_mint(NULL, KID, &mc, err, sizeof(err)));

	/* Longer than any verifier accepts. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mc.cmd = big;
	assert_null(jws_mint(f->key, KID, &mc, err, sizeof(err)));
	assert_non_null(strstr(err, "MINT_TOO_LONG"));
}

/* Leeway is inclusive at the edges and not one second more. */
static void
test_time_edges(void **state)
{
	struct fx *f = *state;
	struct jws_expect ex = { .env = ENV, .cmd = CMD, .request_id = REQ };
	char *tok = token_claims(default_claims(), f->key);

	ex.now = NOW + 300 + JWS_LEEWAY_S;
	assert_verdict(jws_verify(tok, strlen(tok), &f->ring, &ex, NULL, NULL, 0), TOKEN_OK);
	ex.now++;
	assert_verdict(jws_verify(tok, strlen(tok), &f->ring, &ex, NULL, NULL, 0), TOKEN_EXPIRED);
	ex.now = NOW - JWS_LEEWAY_S;
	assert_verdict(jws_verify(tok, strlen(tok), &f->ring, &ex, NULL, NULL, 0), TOKEN_OK);
	ex.now--;
	assert_verdict(jws_verify(tok, strlen(tok), &f->ring, &ex, NULL, NULL, 0),
	    TOKEN_NOT_YET_VALID);
	free(tok);
}

/*
 * The executor verifies once with ignore_time and checks the time later on
 * the claims it got: jws_check_time must give jws_verify's time verdict at
 * every edge.
 */
static void
test_check_time_matches_verify(void **state)
{
	struct fx *f = *state;
	struct jws_expect ex = { .env = ENV, .cmd = CMD, .request_id = REQ, .ignore_time = 1 };
	char *tok = token_claims(default_claims(), f->key);
	const int64_t at[] = { NOW - JWS_LEEWAY_S - 1, NOW - JWS_LEEWAY_S, NOW,
		NOW + 300 + JWS_LEEWAY_S, NOW + 300 + JWS_LEEWAY_S + 1 };
	json_t *claims = NULL;

	assert_verdict(jws_verify(tok, strlen(tok), &f->ring, &ex, &claims, NULL, 0), TOKEN_OK);
	ex.ignore_time = 0;
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		ex.now = at[i];
		assert_verdict(jws_check_time(claims, at[i], NULL, 0),
		    jws_verify(tok, strlen(tok), &f->ring, &ex, NULL, NULL, 0));
	}
	assert_verdict(jws_check_time(claims, NOW + 300 + JWS_LEEWAY_S + 1, NULL, 0), TOKEN_EXPIRED);
	assert_verdict(jws_check_time(claims, NOW - JWS_LEEWAY_S - 1, NULL, 0), TOKEN_NOT_YET_VALID);
	json_object_del(claims, "exp");
	assert_verdict(jws_check_time(claims, NOW, NULL, 0), TOKEN_BAD_CLAIMS);
	json_decref(claims);
	free(tok);
}

/* ignore_time skips only exp/nbf: a forged or re-scoped token still fails. */
static void
test_ignore_time_only_skips_time(void **state)
{
	struct fx *f = *state;
	struct jws_expect ex = { .env = ENV, .cmd = CMD, .request_id = REQ, .ignore_time = 1 };
	char *tok = token_claims(default_claims(), f->key);

	ex.now = NOW + 100000;
	assert_verdict(jws_verify(tok, strlen(tok), &f->ring, &ex, NULL, NULL, 0), TOKEN_OK);
	ex.cmd = "docker restart wingman-test-other";
	assert_verdict(jws_verify(tok, strlen(tok), &f->ring, &ex, NULL, NULL, 0),
	    TOKEN_CMD_MISMATCH);
	ex.cmd = CMD;
	tok[strlen(tok) - 2] = tok[strlen(tok) - 2] == 'A' ? 'B' : 'A';
	assert_verdict(jws_verify(tok, strlen(tok), &f->ring, &ex, NULL, NULL, 0),
	    TOKEN_BAD_SIGNATURE);
	ex.ignore_time = 0;
	tok[strlen(tok) - 2] = tok[strlen(tok) - 2] == 'A' ? 'B' : 'A';
	assert_verdict(jws_verify(tok, strlen(tok), &f->ring, &ex, NULL, NULL, 0), TOKEN_EXPIRED);
	free(tok);
}

/* --- (c) hostile: shape and encoding ----------------------------------- */

static void
test_size_limits(void **state)
{
	struct fx *f = *state;
	size_t mb = 1024 * 1024;
	char *big = malloc(mb + 1);
	char *tok;

	assert_non_null(big);
	memset(big, 'A', mb);
	big[mb] = '\0';
	big[100] = '.';
	big[200] = '.';
	assert_verdict(verify_len(f, big, JWS_MAX_LEN + 1, CMD, REQ), TOKEN_MALFORMED);
	assert_verdict(verify_len(f, big, mb, CMD, REQ), TOKEN_MALFORMED);
	free(big);

	assert_verdict(verify(f, ""), TOKEN_MALFORMED);
	assert_verdict(verify_len(f, NULL, 0, CMD, REQ), TOKEN_MALFORMED);
	assert_verdict(verify(f, ".."), TOKEN_MALFORMED);
	assert_verdict(verify(f, "..."), TOKEN_MALFORMED);

	/* A valid token padded with claims past the limit is refused unread. */
	{
		json_t *c = default_claims();
		char pad[JWS_MAX_LEN];

		memset(pad, 'x', sizeof(pad) - 1);
		pad[sizeof(pad) - 1] = '\0';
		json_object_set_new(c, "sub", json_string(pad));
		tok = token_claims(c, f->key);
		assert_true(strlen(tok) > JWS_MAX_LEN);
		expect_verdict(f, tok, TOKEN_MALFORMED);
	}
}

static void
test_segments(void **state)
{
	struct fx *f = *state;
	char *tok = token_claims(default_claims(), f->key);
	size_t n = strlen(tok);
	char *dot2 = strrchr(tok, '.');
	char *buf = malloc(n + 16);

	assert_non_null(buf);
	assert_verdict(verify(f, tok), TOKEN_OK);

	/* Four segments. */
	assert_true(xsnprintf(buf, n + 16, "%s.AAAA", tok) > 0);
	assert_verdict(verify(f, buf), TOKEN_MALFORMED);
	/* Two segments. */
	assert_verdict(verify_len(f, tok, (size_t)(dot2 - tok), CMD, REQ), TOKEN_MALFORMED);
	/* Empty signature. */
	assert_verdict(verify_len(f, tok, (size_t)(dot2 - tok) + 1, CMD, REQ), TOKEN_MALFORMED);
	/* Empty header. */
	assert_verdict(verify(f, strchr(tok, '.')), TOKEN_MALFORMED);
	/* Padding. */
	assert_true(xsnprintf(buf, n + 16, "%s==", tok) > 0);
	assert_verdict(verify(f, buf), TOKEN_MALFORMED);
	assert_true(xsnprintf(buf, n + 16, "%.*s=%s", (int)(strchr(tok, '.') - tok), tok,
	                strchr(tok, '.')) > 0);
	assert_verdict(verify(f, buf), TOKEN_MALFORMED);
	/* Standard base64 characters. */
	memcpy(buf, tok, n + 1);
	buf[dot2 - tok + 1] = '+';
	assert_verdict(verify(f, buf), TOKEN_MALFORMED);
	buf[dot2 - tok + 1] = '/';
	assert_verdict(verify(f, buf), TOKEN_MALFORMED);
	buf[1] = '+';
	assert_verdict(verify(f, buf), TOKEN_MALFORMED);
	/* Whitespace, a trailing newline, a NUL inside. */
	assert_true(xsnprintf(buf, n + 16, "%s\n", tok) > 0);
	assert_verdict(verify(f, buf), TOKEN_MALFORMED);
	assert_true(xsnprintf(buf, n + 16, " %s", tok) > 0);
	assert_verdict(verify(f, buf), TOKEN_MALFORMED);
	memcpy(buf, tok, n + 1);
	buf[10] = '\0';
	assert_verdict(verify_len(f, buf, n, CMD, REQ), TOKEN_MALFORMED);

	/*
	 * Non-canonical trailing bits: 64 bytes are 86 characters, the last
	 * carrying 4 unused bits. Setting one decodes to the same bytes in a
	 * lax decoder; a strict one refuses.
	 */
	memcpy(buf, tok, n + 1);
	assert_int_equal(strlen(dot2 + 1), 86);
	{
		static const char alphabet[] =
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		const char *pos = strchr(alphabet, buf[n - 1]);
		assert_non_null(pos);
		assert_int_equal((pos - alphabet) & 15, 0);
		buf[n - 1] = alphabet[(pos - alphabet) | 1];
	}
	assert_verdict(verify(f, buf), TOKEN_MALFORMED);
	/* Signature chopped by one character: 85 is no base64url length. */
	assert_verdict(verify_len(f, tok, n - 1, CMD, REQ), TOKEN_MALFORMED);
	/* Chopped by two: valid encoding of 63 bytes. */
	assert_verdict(verify_len(f, tok, n - 2, CMD, REQ), TOKEN_BAD_SIGNATURE);

	free(buf);
	free(tok);
}

/* --- (c) hostile: header and alg --------------------------------------- */

static void
test_alg_none(void **state)
{
	struct fx *f = *state;
	static const char hdr[] = "{\"alg\":\"none\",\"kid\":\"" KID "\",\"typ\":\"JWT\"}";
	json_t *c = default_claims();
	char *p = json_dumps(c, JSON_COMPACT);
	char *input, *tok;

	/* Unsecured JWS: empty signature segment. */
	input = signing_input(hdr, strlen(hdr), p, strlen(p));
	tok = join3(input, "", "");
	tok[strlen(tok) - 1] = '\0'; /* "h.p." */
	assert_verdict(verify(f, tok), TOKEN_MALFORMED);
	free(tok);
	free(input);

	/* With a real signature by the trusted key: alg still decides. */
	expect_verdict(f, token_header(hdr, f->key), TOKEN_BAD_ALG);
	expect_verdict(f, token_header("{\"alg\":\"none\"}", f->key), TOKEN_BAD_ALG);
	expect_verdict(f, token_header("{\"alg\":\"none\",\"kid\":\"nope\"}", f->key),
	    TOKEN_BAD_ALG);
	free(p);
	json_decref(c);
}

/* The classic confusion: HS256 keyed with what the verifier knows is public. */
static void
test_alg_hs256_public_key_as_secret(void **state)
{
	struct fx *f = *state;
	static const char hdr[] = "{\"alg\":\"HS256\",\"kid\":\"" KID "\",\"typ\":\"JWT\"}";
	json_t *c = default_claims();
	char *p = json_dumps(c, JSON_COMPACT);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *input;

	assert_non_null(p);
	input = signing_input(hdr, strlen(hdr), p, strlen(p));
	assert_non_null(HMAC(EVP_sha256(), f->pub_raw, sizeof(f->pub_raw), (unsigned char *)input,
	    strlen(input), mac, &maclen));
	assert_int_equal(maclen, 32);
	expect_verdict(f, append_sig(input, mac, maclen), TOKEN_BAD_ALG);

	input = signing_input(hdr, strlen(hdr), p, strlen(p));
	assert_non_null(HMAC(EVP_sha256(), f->pub_pem, (int)strlen(f->pub_pem),
	    (unsigned char *)input, strlen(input), mac, &maclen));
	expect_verdict(f, append_sig(input, mac, maclen), TOKEN_BAD_ALG);

	/* A 64-byte HMAC-SHA512 has the Ed25519 size: alg stops it before length does. */
	input = signing_input("{\"alg\":\"HS512\",\"kid\":\"" KID "\"}",
	    strlen("{\"alg\":\"HS512\",\"kid\":\"" KID "\"}"), p, strlen(p));
	assert_non_null(HMAC(EVP_sha512(), f->pub_raw, sizeof(f->pub_raw), (unsigned char *)input,
	    strlen(input), mac, &maclen));
	assert_int_equal(maclen, 64);
	expect_verdict(f, append_sig(input, mac, maclen), TOKEN_BAD_ALG);

	free(p);
	json_decref(c);
}

static void
test_alg_variants(void **state)
{
	struct fx *f = *state;
	static const char *const hdrs[] = {
		"{\"alg\":\"eddsa\",\"kid\":\"" KID "\",\"typ\":\"JWT\"}",
		"{\"alg\":\"EDDSA\",\"kid\":\"" KID "\"}",
		"{\"alg\":\"EdDSA \",\"kid\":\"" KID "\"}",
		"{\"alg\":\" EdDSA\",\"kid\":\"" KID "\"}",
		"{\"alg\":\"Ed25519\",\"kid\":\"" KID "\"}",
		"{\"alg\":\"ES256\",\"kid\":\"" KID "\"}",
		"{\"alg\":\"RS256\",\"kid\":\"" KID "\"}",
		"{\"alg\":\"\",\"kid\":\"" KID "\"}",
		"{\"alg\":null,\"kid\":\"" KID "\"}",
		"{\"alg\":[\"EdDSA\"],\"kid\":\"" KID "\"}",
		"{\"alg\":1,\"kid\":\"" KID "\"}",
		"{\"kid\":\"" KID "\",\"typ\":\"JWT\"}", /* missing alg */
		"{}",
	};

	for (size_t i = 0; i < ARRAY_LEN(hdrs); i++)
		expect_verdict(f, token_header(hdrs[i], f->key), TOKEN_BAD_ALG);
	/* \u0000 inside alg: jansson refuses the header outright. */
	expect_verdict(f, token_header("{\"alg\":\"EdDSA\\u0000\",\"kid\":\"" KID "\"}", f->key),
	    TOKEN_MALFORMED);
	/* Escaped but equal is equal: JSON says these are the same string. */
	expect_verdict(f, token_header("{\"alg\":\"EdDS\\u0041\",\"kid\":\"" KID "\"}", f->key),
	    TOKEN_OK);
	/* Without typ is fine; typ is optional. */
	expect_verdict(f, token_header("{\"alg\":\"EdDSA\",\"kid\":\"" KID "\"}", f->key), TOKEN_OK);
}

static void
test_bad_header(void **state)
{
	struct fx *f = *state;
	static const char *const hdrs[] = {
		"{\"alg\":\"EdDSA\",\"kid\":\"" KID "\",\"crit\":[\"exp\"]}",
		"{\"alg\":\"EdDSA\",\"kid\":\"" KID "\",\"crit\":[]}",
		"{\"alg\":\"EdDSA\",\"alg\":\"EdDSA\",\"kid\":\"" KID "\"}",
		"{\"alg\":\"none\",\"alg\":\"EdDSA\",\"kid\":\"" KID "\"}",
		"{\"alg\":\"EdDSA\",\"kid\":\"" KID "\",\"kid\":\"rotated\"}",
		"{\"alg\":\"EdDSA\",\"kid\":\"" KID "\",\"typ\":\"JOSE\"}",
		"{\"alg\":\"EdDSA\",\"kid\":\"" KID "\",\"typ\":\"jwt\"}",
		"{\"alg\":\"EdDSA\",\"kid\":\"" KID "\",\"typ\":1}",
		"{\"alg\":\"EdDSA\",\"kid\":\"" KID "\",\"jwk\":{\"kty\":\"OKP\"}}",
		"{\"alg\":\"EdDSA\",\"kid\":\"" KID "\",\"jku\":\"http://x/\"}",
		"{\"alg\":\"EdDSA\",\"kid\":\"" KID "\",\"x5u\":\"http://x/\"}",
		"{\"alg\":\"EdDSA\",\"kid\":\"" KID "\",\"b64\":false}",
		"{\"alg\":\"EdDSA\",\"kid\":\"" KID "\",\"zip\":\"DEF\"}",
		"{\"alg\":\"none\",\"kid\":\"" KID "\",\"cty\":\"JWT\"}",
	};
	static const char *const malformed[] = {
		"[\"alg\",\"EdDSA\"]",
		"\"EdDSA\"",
		"{\"alg\":\"EdDSA\",\"kid\":\"" KID "\"} ",
		"{\"alg\":\"EdDSA\",\"kid\":\"" KID "\"}{}",
		"{\"alg\":\"EdDSA\",\"kid\":\"" KID "\"",
		"{\"alg\":\"Ed\xff\",\"kid\":\"" KID "\"}",
	};

	for (size_t i = 0; i < ARRAY_LEN(hdrs); i++)
		expect_verdict(f, token_header(hdrs[i], f->key), TOKEN_BAD_HEADER);
	for (size_t i = 0; i < ARRAY_LEN(malformed); i++) {
		/* Trailing whitespace is legal JSON; jansson accepts it. */
		enum jws_verdict want = i == 2 ? TOKEN_OK : TOKEN_MALFORMED;
		expect_verdict(f, token_header(malformed[i], f->key), want);
	}
}

static void
test_kid(void **state)
{
	struct fx *f = *state;
	static const char *const hdrs[] = {
		"{\"alg\":\"EdDSA\",\"kid\":\"nope\"}",
		"{\"alg\":\"EdDSA\",\"kid\":\"../../etc/passwd\"}",
		"{\"alg\":\"EdDSA\",\"kid\":\"/etc/passwd\"}",
		"{\"alg\":\"EdDSA\",\"kid\":\"" KID ".pub\"}",
		"{\"alg\":\"EdDSA\",\"kid\":\"" KID " \"}",
		"{\"alg\":\"EdDSA\",\"kid\":\"WINGMAN-TOKEN\"}",
		"{\"alg\":\"EdDSA\",\"kid\":\"\"}",
		"{\"alg\":\"EdDSA\",\"kid\":null}",
		"{\"alg\":\"EdDSA\",\"kid\":1}",
		"{\"alg\":\"EdDSA\",\"kid\":[\"" KID "\"]}",
		"{\"alg\":\"EdDSA\"}",
	};

	for (size_t i = 0; i < ARRAY_LEN(hdrs); i++)
		expect_verdict(f, token_header(hdrs[i], f->key), TOKEN_UNKNOWN_KID);
}

/* --- (c) hostile: signatures ------------------------------------------- */

static void
test_signature(void **state)
{
	struct fx *f = *state;
	json_t *c = default_claims();
	char *p = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
	unsigned char sig[65];
	char *input, *tok, *tok2;

	assert_non_null(p);
	/* Re-signed with a key outside the ring. */
	expect_verdict(f, token_claims(default_claims(), f->outsider), TOKEN_BAD_SIGNATURE);
	/* Signed with the other ring key but naming this one. */
	expect_verdict(f, token_claims(default_claims(), f->rotated), TOKEN_BAD_SIGNATURE);
	/* Signed with this key but naming the other. */
	expect_verdict(f, token_header("{\"alg\":\"EdDSA\",\"kid\":\"rotated\"}", f->key),
	    TOKEN_BAD_SIGNATURE);

	/* Truncated to 63 bytes and extended to 65. */
	input = signing_input(HDR, strlen(HDR), p, strlen(p));
	assert_int_equal(ed25519_sign(f->key, input, strlen(input), sig), 0);
	sig[64] = 0;
	tok = append_sig(input, sig, 63);
	expect_verdict(f, tok, TOKEN_BAD_SIGNATURE);
	input = signing_input(HDR, strlen(HDR), p, strlen(p));
	expect_verdict(f, append_sig(input, sig, 65), TOKEN_BAD_SIGNATURE);
	/* All zeros, 64 bytes. */
	memset(sig, 0, sizeof(sig));
	input = signing_input(HDR, strlen(HDR), p, strlen(p));
	expect_verdict(f, append_sig(input, sig, 64), TOKEN_BAD_SIGNATURE);

	/* A signature lifted from another valid token. */
	tok = token_claims(default_claims(), f->key);
	{
		json_t *c2 = default_claims();
		json_object_set_new(c2, "jti", json_string("AAAAAAAAAAAAAAAAAAAAAAAA"));
		tok2 = token_claims(c2, f->key);
	}
	assert_verdict(verify(f, tok2), TOKEN_OK);
	memcpy(strrchr(tok2, '.'), strrchr(tok, '.'), 87);
	expect_verdict(f, tok2, TOKEN_BAD_SIGNATURE);
	free(tok);
	free(p);
	json_decref(c);
}

/* Change cmd after signing, re-encode the payload, keep the signature. */
static void
test_payload_altered(void **state)
{
	struct fx *f = *state;
	static const char evil[] = "docker exec wingman-test-api rm -rf /app";
	char *tok = token_claims(default_claims(), f->key);
	char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
	unsigned char *p = NULL;
	size_t plen = 0;
	json_t *claims;
	char *text, *pb, *hb, *forged;

	assert_int_equal(b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &p, &plen), 0);
	assert_non_null(claims = json_loadb((char *)p, plen, 0, NULL));
	json_object_set_new(claims, "cmd", json_string(evil));
	assert_non_null(text = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER));
	pb = b64(text, strlen(text));
	*dot1 = '\0';
	hb = tok;
	forged = join3(hb, pb, dot2 + 1);
	assert_verdict(verify_len(f, forged, strlen(forged), evil, REQ), TOKEN_BAD_SIGNATURE);
	assert_verdict(verify(f, forged), TOKEN_BAD_SIGNATURE);
	free(forged);
	free(pb);
	free(text);
	free(p);
	json_decref(claims);
	free(tok);
}

/* --- (c) hostile: claims ----------------------------------------------- */

static void
test_claims_time(void **state)
{
	struct fx *f = *state;
	json_t *c;

	/* Expired, relative to the fixed clock NOW. */
	c = default_claims();
	json_object_set_new(c, "iat", json_integer(NOW - 600));
	json_object_set_new(c, "nbf", json_integer(NOW - 600));
	json_object_set_new(c, "exp", json_integer(NOW - JWS_LEEWAY_S - 1));
	expect_verdict(f, token_claims(c, f->key), TOKEN_EXPIRED);
	/* Not yet valid. */
	c = default_claims();
	json_object_set_new(c, "iat", json_integer(NOW + 100));
	json_object_set_new(c, "nbf", json_integer(NOW + 100));
	json_object_set_new(c, "exp", json_integer(NOW + 400));
	expect_verdict(f, token_claims(c, f->key), TOKEN_NOT_YET_VALID);
	/* Lifetime one second too long. */
	c = default_claims();
	json_object_set_new(c, "exp", json_integer(NOW + JWS_MAX_LIFETIME_S + 1));
	expect_verdict(f, token_claims(c, f->key), TOKEN_LIFETIME);
	c = default_claims();
	json_object_set_new(c, "exp", json_integer(NOW + JWS_MAX_LIFETIME_S));
	expect_verdict(f, token_claims(c, f->key), TOKEN_OK);
	/* exp <= iat. */
	c = default_claims();
	json_object_set_new(c, "iat", json_integer(NOW + 10));
	json_object_set_new(c, "nbf", json_integer(NOW + 10));
	json_object_set_new(c, "exp", json_integer(NOW + 10));
	expect_verdict(f, token_claims(c, f->key), TOKEN_LIFETIME);
	/* nbf before iat. */
	c = default_claims();
	json_object_set_new(c, "nbf", json_integer(NOW - 1));
	expect_verdict(f, token_claims(c, f->key), TOKEN_LIFETIME);
	/* Far-future exp must not overflow anything. */
	c = default_claims();
	json_object_set_new(c, "exp", json_integer(INT64_MAX));
	expect_verdict(f, token_claims(c, f->key), TOKEN_LIFETIME);
	/* An absurd lifetime is a bad token, not a clock problem. */
	c = default_claims();
	json_object_set_new(c, "nbf", json_integer(INT64_MAX));
	json_object_set_new(c, "exp", json_integer(INT64_MAX));
	expect_verdict(f, token_claims(c, f->key), TOKEN_LIFETIME);
}

static void
test_claims_identity(void **state)
{
	struct fx *f = *state;
	json_t *c;
	char *tok;

	c = default_claims();
	json_object_set_new(c, "iss", json_string("wingman-approval"));
	expect_verdict(f, token_claims(c, f->key), TOKEN_WRONG_ISSUER);
	c = default_claims();
	json_object_set_new(c, "aud", json_string("wingman-executor "));
	expect_verdict(f, token_claims(c, f->key), TOKEN_WRONG_AUDIENCE);
	c = default_claims();
	json_object_set_new(c, "aud", json_pack("[s]", JWS_AUDIENCE));
	expect_verdict(f, token_claims(c, f->key), TOKEN_BAD_CLAIMS);
	c = default_claims();
	json_object_set_new(c, "env", json_string("prd"));
	expect_verdict(f, token_claims(c, f->key), TOKEN_WRONG_ENV);
	c = default_claims();
	json_object_set_new(c, "request_id", json_string("another-request"));
	expect_verdict(f, token_claims(c, f->key), TOKEN_REQUEST_MISMATCH);

	/* The presented command, byte for byte. */
	tok = token_claims(default_claims(), f->key);
	assert_verdict(verify_len(f, tok, strlen(tok), CMD " ", REQ), TOKEN_CMD_MISMATCH);
	assert_verdict(verify_len(f, tok, strlen(tok), " " CMD, REQ), TOKEN_CMD_MISMATCH);
	assert_verdict(verify_len(f, tok, strlen(tok), "docker restart wingman-prd-api", REQ),
	    TOKEN_CMD_MISMATCH);
	assert_verdict(verify_len(f, tok, strlen(tok), "docker restart wingman-test-ap", REQ),
	    TOKEN_CMD_MISMATCH);
	assert_verdict(verify_len(f, tok, strlen(tok), "docker restart  wingman-test-api", REQ),
	    TOKEN_CMD_MISMATCH);
	assert_verdict(verify_len(f, tok, strlen(tok), "Docker restart wingman-test-api", REQ),
	    TOKEN_CMD_MISMATCH);
	assert_verdict(verify_len(f, tok, strlen(tok), "", REQ), TOKEN_CMD_MISMATCH);
	assert_verdict(verify_len(f, tok, strlen(tok), CMD, "another-request"),
	    TOKEN_REQUEST_MISMATCH);
	assert_verdict(verify_len(f, tok, strlen(tok), CMD, NULL), TOKEN_OK);
	free(tok);

	/* Token cmd with a trailing space, presented without. */
	c = default_claims();
	json_object_set_new(c, "cmd", json_string(CMD " "));
	expect_verdict(f, token_claims(c, f->key), TOKEN_CMD_MISMATCH);
	c = default_claims();
	json_object_set_new(c, "cmd", json_string(CMD "; rm -rf /"));
	expect_verdict(f, token_claims(c, f->key), TOKEN_CMD_MISMATCH);
}

static void
test_claims_missing(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = { "iss", "aud", "sub", "jti", "iat", "nbf", "exp", "env",
		"request_id", "cmd", "approved_by" };

	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		json_t *c = default_claims();
		assert_int_equal(json_object_del(c, names[i]), 0);
		expect_verdict(f, token_claims(c, f->key), TOKEN_BAD_CLAIMS);
	}
}

static void
test_claims_types(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *name;
		const char *value; /* JSON text */
	} bad[] = {
		{ "exp", "1.0e9" },
		{ "exp", "1764158700.0" },
		{ "exp", "\"1764158700\"" },
		{ "exp", "null" },
		{ "exp", "true" },
		{ "exp", "-1" },
		{ "iat", "1764158400.5" },
		{ "nbf", "\"now\"" },
		{ "iss", "1" },
		{ "aud", "null" },
		{ "sub", "{}" },
		{ "jti", "[]" },
		{ "env", "false" },
		{ "request_id", "7" },
		{ "cmd", "[\"docker\",\"restart\",\"wingman-test-api\"]" },
		{ "approved_by", "[]" },
		{ "approved_by", "\"alice\"" },
		{ "approved_by", "[\"alice\",5]" },
		{ "approved_by", "[\"\"]" },
		{ "approved_by", "[null]" },
		{ "approved_by", "{}" },
		{ "jti", "\"q3Zr8vN1xT0yW5bK7mP2s\"" }, /* 21 characters */
		{ "jti", "\"q3Zr8vN1xT0yW5bK7mP2s+A\"" }, /* not base64url */
		{ "jti", "\"q3Zr8vN1xT0yW5bK7mP2sA==\"" },
		{ "admin", "true" }, /* unknown claim */
		{ "scope", "\"*\"" },
	};

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		json_t *c = default_claims();
		json_t *v = json_loads(bad[i].value, JSON_DECODE_ANY, NULL);

		assert_non_null(v);
		json_object_set_new(c, bad[i].name, v);
		expect_verdict(f, token_claims(c, f->key), TOKEN_BAD_CLAIMS);
	}
}

/* Default claims without member `omit`, as text with the closing brace cut off. */
static void
claims_prefix(char *buf, size_t size, const char *omit)
{
	json_t *c = default_claims();
	char *s;
	size_t n;

	if (omit != NULL)
		assert_int_equal(json_object_del(c, omit), 0);
	assert_non_null(s = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER));
	assert_true(xsnprintf(buf, size, "%s", s) > 0);
	free(s);
	json_decref(c);
	n = strlen(buf);
	assert_true(n > 2 && buf[n - 1] == '}');
	buf[n - 1] = '\0';
}

/* Payloads that need raw text: duplicates, overflow, not an object. */
static void
test_claims_raw(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *omit; /* member left out of the defaults */
		const char *tail; /* appended before the closing brace */
		enum jws_verdict want;
	} cases[] = {
		{ NULL, "", TOKEN_OK },
		{ NULL, ",\"cmd\":\"docker ps\"", TOKEN_BAD_CLAIMS },
		{ NULL, ",\"exp\":1764162000", TOKEN_BAD_CLAIMS },
		{ NULL, ",\"approved_by\":[\"mallory\"]", TOKEN_BAD_CLAIMS },
		{ "exp", ",\"exp\":99999999999999999999", TOKEN_BAD_CLAIMS },
		{ "exp", ",\"exp\":1e400", TOKEN_BAD_CLAIMS },
		{ "cmd", ",\"cmd\":\"docker restart wingman-test-api\\u0000x\"", TOKEN_MALFORMED },
		{ "sub", ",\"sub\":\"agent-\xff\"", TOKEN_MALFORMED },
	};
	static const char *const not_objects[] = { "[]", "\"x\"", "1", "null", " ", "{" };
	char prefix[1024], text[1200];

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		claims_prefix(prefix, sizeof(prefix), cases[i].omit);
		assert_true(xsnprintf(text, sizeof(text), "%s%s}", prefix, cases[i].tail) > 0);
		expect_verdict(f, token_payload_text(text, f->key), cases[i].want);
	}
	/* Trailing garbage after the object. */
	claims_prefix(prefix, sizeof(prefix), NULL);
	assert_true(xsnprintf(text, sizeof(text), "%s}x", prefix) > 0);
	expect_verdict(f, token_payload_text(text, f->key), TOKEN_MALFORMED);
	for (size_t i = 0; i < ARRAY_LEN(not_objects); i++)
		expect_verdict(f, token_payload_text(not_objects[i], f->key), TOKEN_MALFORMED);
}

/* Bad claims under a bad signature: the signature is reported, claims unread. */
static void
test_order_of_checks(void **state)
{
	struct fx *f = *state;
	json_t *c;

	c = default_claims();
	json_object_set_new(c, "admin", json_true());
	expect_verdict(f, token_claims(c, f->outsider), TOKEN_BAD_SIGNATURE);
	expect_verdict(f, token_payload_text("not json", f->outsider), TOKEN_BAD_SIGNATURE);
	/* alg before kid, kid before signature. */
	expect_verdict(f, token_header("{\"alg\":\"HS256\",\"kid\":\"nope\"}", f->outsider),
	    TOKEN_BAD_ALG);
	expect_verdict(f, token_header("{\"alg\":\"EdDSA\",\"kid\":\"nope\"}", f->outsider),
	    TOKEN_UNKNOWN_KID);
	/* Unknown header member before alg. */
	expect_verdict(f, token_header("{\"alg\":\"none\",\"jwk\":{}}", f->outsider),
	    TOKEN_BAD_HEADER);
	/*
	 * Time last: a future token for another command is a mismatch, which
	 * the executor refuses, not the clock skew it reports as a failure.
	 */
	c = default_claims();
	json_object_set_new(c, "iat", json_integer(NOW + 600));
	json_object_set_new(c, "nbf", json_integer(NOW + 600));
	json_object_set_new(c, "exp", json_integer(NOW + 700));
	json_object_set_new(c, "cmd", json_string("docker stop wingman-test-api"));
	expect_verdict(f, token_claims(c, f->key), TOKEN_CMD_MISMATCH);
	c = default_claims();
	json_object_set_new(c, "iat", json_integer(NOW - 700));
	json_object_set_new(c, "nbf", json_integer(NOW - 700));
	json_object_set_new(c, "exp", json_integer(NOW - 600));
	json_object_set_new(c, "request_id", json_string("another-request"));
	expect_verdict(f, token_claims(c, f->key), TOKEN_REQUEST_MISMATCH);
}

static void
test_verdict_codes(void **state)
{
	static const char *const names[] = { "TOKEN_OK", "TOKEN_MALFORMED", "TOKEN_BAD_HEADER",
		"TOKEN_BAD_ALG", "TOKEN_UNKNOWN_KID", "TOKEN_BAD_SIGNATURE", "TOKEN_BAD_CLAIMS",
		"TOKEN_WRONG_ISSUER", "TOKEN_WRONG_AUDIENCE", "TOKEN_WRONG_ENV", "TOKEN_EXPIRED",
		"TOKEN_NOT_YET_VALID", "TOKEN_LIFETIME", "TOKEN_CMD_MISMATCH",
		"TOKEN_REQUEST_MISMATCH" };

	(void)state;
	assert_int_equal(TOKEN_REQUEST_MISMATCH + 1, ARRAY_LEN(names));
	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		assert_string_equal(jws_verdict_code((enum jws_verdict)i), names[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc8037_vectors),
		cmocka_unit_test(test_rfc8037_jws_needs_kid),
		cmocka_unit_test(test_mint_verify_round_trip),
		cmocka_unit_test(test_mint_exact_layout),
		cmocka_unit_test(test_mint_refuses),
		cmocka_unit_test(test_time_edges),
		cmocka_unit_test(test_check_time_matches_verify),
		cmocka_unit_test(test_ignore_time_only_skips_time),
		cmocka_unit_test(test_size_limits),
		cmocka_unit_test(test_segments),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_alg_hs256_public_key_as_secret),
		cmocka_unit_test(test_alg_variants),
		cmocka_unit_test(test_bad_header),
		cmocka_unit_test(test_kid),
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_payload_altered),
		cmocka_unit_test(test_claims_time),
		cmocka_unit_test(test_claims_identity),
		cmocka_unit_test(test_claims_missing),
		cmocka_unit_test(test_claims_types),
		cmocka_unit_test(test_claims_raw),
		cmocka_unit_test(test_order_of_checks),
		cmocka_unit_test(test_verdict_codes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
