/*
 * Micro-benchmarks of the per-message work: command parsing, strict message
 * decoding, envelope signing and checking, token minting and verification.
 * Prints operations per second; asserts nothing.
 *
 *   build/bench/bench_crypto [ITERATIONS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "command.h"
#include "envelope.h"
#include "jws.h"
#include "keygen.h"
#include "keys.h"
#include "mint.h"
#include "msg.h"
#include "util.h"

static void
report(const char *what, long n, int64_t start_ms)
{
	double secs = (double)(monotonic_ms() - start_ms) / 1000.0;

	printf("%-28s %9ld ops  %8.3f s  %10.0f ops/s  %8.2f us/op\n", what, n, secs,
	    secs > 0 ? n / secs : 0.0, secs > 0 ? secs * 1e6 / n : 0.0);
}

int
main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
	char dir[] = "/tmp/wingman-bench.XXXXXX", err[512], jti[32] = "AAAAAAAAAAAAAAAAAAAAAA";
	const char *approvers[] = { "alice" };
	const char *cmd = "docker logs --tail 100 wingman-test-api";
	const char *request = "{\"v\":1,\"type\":\"request\",\"request_id\":\"7d0c9f5e-3b1a-4c51-9b7e-2f4a9d0c1e22\","
	    "\"worker_id\":\"agent-7\",\"environment\":\"test\",\"instruction\":\"The API is stuck; restart it.\","
	    "\"commands\":[\"docker restart wingman-test-api\"],\"ts\":\"2026-11-26T12:00:00.000Z\"}";
	struct keyring ring;
	struct command c;
	EVP_PKEY *key;
	json_t *msg;
	char *token = NULL;
	int64_t t, now = now_unix();
	long i;

	if (n <= 0 || mkdtemp(dir) == NULL || key_generate(dir, "token", err, sizeof(err)) != 0 ||
	    (key = key_load_named(dir, "token", 1, err, sizeof(err))) == NULL) {
		fprintf(stderr, "setup failed: %s\n", err);
		return 1;
	}
	keyring_init(&ring);
	keyring_add(&ring, dir, "token", err, sizeof(err));
	printf("iterations: %ld\n", n);

	t = monotonic_ms();
	for (i = 0; i < n; i++)
		command_parse(cmd, &c, err, sizeof(err));
	report("command_parse", n, t);

	t = monotonic_ms();
	for (i = 0; i < n; i++)
		json_decref(msg_decode(request, strlen(request), "request", err, sizeof(err)));
	report("msg_decode(request)", n, t);

	msg = msg_decode(request, strlen(request), "request", err, sizeof(err));
	t = monotonic_ms();
	for (i = 0; i < n; i++)
		envelope_sign(msg, "token", key);
	report("envelope_sign", n, t);
	t = monotonic_ms();
	for (i = 0; i < n; i++)
		envelope_verify(msg, &ring, NULL, 0);
	report("envelope_verify", n, t);

	struct mint_claims claims = { "agent-7", "test", "r-1", cmd, approvers, 1, jti, now, now, now + 120 };
	t = monotonic_ms();
	for (i = 0; i < n; i++) {
		free(token);
		token = jws_mint(key, "token", &claims, err, sizeof(err));
	}
	report("jws_mint", n, t);
	struct jws_expect expect = { "test", cmd, "r-1", now, 0 };
	t = monotonic_ms();
	for (i = 0; i < n; i++)
		jws_verify(token, strlen(token), &ring, &expect, NULL, err, sizeof(err));
	report("jws_verify", n, t);

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
