/*
 * Micro-benchmarks of the per-message work: command parsing, strict message
 * decoding, envelope signing and checking, token minting and verification.
 * Prints operations per second; asserts nothing. Times are this thread's
 * CPU time, not wall time: on a shared machine other processes then only
 * blur the figures instead of adding to them.
 *
 *   build-bench/bench/bench_crypto [ITERATIONS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "command.h"
#include "envelope.h"
#include "jws.h"
#include "keygen.h"
#include "keys.h"
#include "mint.h"
#include "msg.h"
#include "util.h"

static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Prints one line; returns microseconds per operation. */
static double
report(const char *what, long n, double start)
{
	double secs = cpu_s() - start;

	printf("%-28s %9ld ops  %8.3f s  %10.0f ops/s  %8.2f us/op\n", what, n, secs,
	    secs > 0 ? n / secs : 0.0, secs > 0 ? secs * 1e6 / n : 0.0);
	return secs * 1e6 / n;
}

/* Base64url-decoded signature of a compact JWS, for the bare verify. */
static int
jws_signature(const char *token, unsigned char sig[64], size_t *input_len)
{
	const char *dot = strrchr(token, '.');
	unsigned char *raw = NULL;
	size_t len = 0;

	if (dot == NULL || b64url_decode(dot + 1, strlen(dot + 1), &raw, &len) != 0 || len != 64) {
		free(raw);
		return -1;
	}
	memcpy(sig, raw, 64);
	free(raw);
	*input_len = (size_t)(dot - token);
	return 0;
}

int
main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
	char dir[] = "/tmp/wingman-bench.XXXXXX", err[512], jti[32] = "AAAAAAAAAAAAAAAAAAAAAA";
	const char *approvers[] = { "alice" };
	const char *cmd = "docker logs --tail 100 wingman-test-api";
	const char *request =
	    "{\"v\":1,\"type\":\"request\",\"request_id\":\"7d0c9f5e-3b1a-4c51-9b7e-2f4a9d0c1e22\","
	    "\"worker_id\":\"agent-7\",\"environment\":\"test\",\"instruction\":\"The API is stuck; restart it.\","
	    "\"commands\":[\"docker restart wingman-test-api\"],\"ts\":\"2026-11-26T12:00:00.000Z\"}";
	struct keyring ring;
	struct command c;
	EVP_PKEY *key;
	json_t *msg;
	char *token = NULL;
	int64_t now = now_unix();
	double t, bare, wrapped, verify;
	unsigned char sig[64];
	size_t input_len;
	EVP_MD_CTX *vctx;
	long i;

	if (n <= 0 || mkdtemp(dir) == NULL || key_generate(dir, "token", err, sizeof(err)) != 0 ||
	    (key = key_load_named(dir, "token", 1, err, sizeof(err))) == NULL) {
		fprintf(stderr, "setup failed: %s\n", err);
		return 1;
	}
	keyring_init(&ring);
	keyring_add(&ring, dir, "token", err, sizeof(err));
	printf("iterations: %ld\n", n);

	t = cpu_s();
	for (i = 0; i < n; i++)
		command_parse(cmd, &c, err, sizeof(err));
	report("command_parse", n, t);

	t = cpu_s();
	for (i = 0; i < n; i++)
		json_decref(msg_decode(request, strlen(request), "request", err, sizeof(err)));
	report("msg_decode(request)", n, t);

	msg = msg_decode(request, strlen(request), "request", err, sizeof(err));
	t = cpu_s();
	for (i = 0; i < n; i++)
		envelope_sign(msg, "token", key);
	report("envelope_sign", n, t);
	t = cpu_s();
	for (i = 0; i < n; i++)
		envelope_verify(msg, &ring, NULL, 0);
	report("envelope_verify", n, t);

	struct mint_claims claims = { "agent-7", "test", "r-1", cmd, approvers, 1, jti, now, now,
		now + 120 };
	t = cpu_s();
	for (i = 0; i < n; i++) {
		free(token);
		token = jws_mint(key, "token", &claims, err, sizeof(err));
	}
	report("jws_mint", n, t);
	/*
	 * The floor: OpenSSL's Ed25519 verify of the same signing input, one
	 * context set up once (as `openssl speed ed25519` does), nothing else.
	 */
	if (token == NULL || jws_signature(token, sig, &input_len) != 0 ||
	    (vctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(vctx, NULL, NULL, NULL, keyring_find(&ring, "token")) != 1) {
		fprintf(stderr, "setup of the bare verify failed\n");
		return 1;
	}
	t = cpu_s();
	for (i = 0; i < n; i++)
		if (EVP_DigestVerify(vctx, sig, 64, (const unsigned char *)token, input_len) != 1)
			fprintf(stderr, "bare verify failed\n");
	bare = report("ed25519 bare verify", n, t);
	EVP_MD_CTX_free(vctx);
	t = cpu_s();
	for (i = 0; i < n; i++)
		if (ed25519_verify(keyring_find(&ring, "token"), token, input_len, sig, 64) != 1)
			fprintf(stderr, "ed25519_verify failed\n");
	wrapped = report("ed25519_verify", n, t);
	struct jws_expect expect = { "test", cmd, "r-1", now, 0 };
	t = cpu_s();
	for (i = 0; i < n; i++)
		if (jws_verify(token, strlen(token), &ring, &expect, NULL, err, sizeof(err)) !=
		    TOKEN_OK)
			fprintf(stderr, "jws_verify failed: %s\n", err);
	verify = report("jws_verify", n, t);
	printf("ed25519_verify / bare       %8.2fx\n", wrapped / bare);
	printf("jws_verify / bare           %8.2fx  (the executor verifies each token once)\n",
	    verify / bare);

	free(token);
	json_decref(msg);
	keyring_free(&ring);
	EVP_PKEY_free(key);
	snprintf(err, sizeof(err), "%s/token.key", dir);
	unlink(err);
	snprintf(err, sizeof(err), "%s/token.pub", dir);
	unlink(err);
	rmdir(dir);
	return 0;
}
