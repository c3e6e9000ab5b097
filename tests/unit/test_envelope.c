/* Message signatures: only the trusted key, over exactly these bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "envelope.h"
#include "keygen.h"
#include "keys.h"

static char dir[] = "/tmp/wingman-envelope.XXXXXX";
static EVP_PKEY *approval, *evil;
static struct keyring ring;

static int
setup(void **state)
{
	char err[256];

	assert_non_null(mkdtemp(dir));
	assert_int_equal(key_generate(dir, "approval", err, sizeof(err)), 0);
	assert_int_equal(key_generate(dir, "evil", err, sizeof(err)), 0);
	approval = key_load_named(dir, "approval", 1, err, sizeof(err));
	evil = key_load_named(dir, "evil", 1, err, sizeof(err));
	assert_non_null(approval);
	keyring_init(&ring);
	assert_int_equal(keyring_add(&ring, dir, "approval", err, sizeof(err)), 0);
	return 0;
}

static int
teardown(void **state)
{
	char path[512];

	keyring_free(&ring);
	EVP_PKEY_free(approval);
	EVP_PKEY_free(evil);
	for (int i = 0; i < 4; i++) {
		static const char *const names[] = { "approval.key", "approval.pub", "evil.key",
			"evil.pub" };
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	return 0;
}

static json_t *
sample(void)
{
	return json_pack("{s:i, s:s, s:s, s:[s]}", "v", 1, "type", "decision", "request_id", "r1",
	    "commands", "docker restart wingman-test-api");
}

static void
test_sign_verify(void **state)
{
	json_t *m = sample();
	char kid[80];

	assert_int_equal(envelope_sign(m, "approval", approval), 0);
	assert_int_equal(envelope_verify(m, &ring, kid, sizeof(kid)), SIG_OK);
	assert_string_equal(kid, "approval");
	json_decref(m);
}

static void
test_missing_and_malformed(void **state)
{
	json_t *m = sample();

	assert_int_equal(envelope_verify(m, &ring, NULL, 0), SIG_MISSING);
	json_object_set_new(m, "sig", json_string("x"));
	assert_int_equal(envelope_verify(m, &ring, NULL, 0), SIG_MALFORMED);
	json_object_set_new(m, "sig",
	    json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", "approval", "value", "AAAA"));
	assert_int_equal(envelope_verify(m, &ring, NULL, 0), SIG_MALFORMED);
	json_decref(m);
}

static void
test_altered_after_signing(void **state)
{
	json_t *m = sample();

	assert_int_equal(envelope_sign(m, "approval", approval), 0);
	json_array_set_new(json_object_get(m, "commands"), 0,
	    json_string("docker restart wingman-test-db"));
	assert_int_equal(envelope_verify(m, &ring, NULL, 0), SIG_BAD);
	json_decref(m);
	m = sample();
	assert_int_equal(envelope_sign(m, "approval", approval), 0);
	json_object_set_new(m, "extra", json_true());
	assert_int_equal(envelope_verify(m, &ring, NULL, 0), SIG_BAD);
	json_decref(m);
}

static void
test_untrusted_and_resigned(void **state)
{
	json_t *m = sample();

	/* Signed by a key the ring does not hold. */
	assert_int_equal(envelope_sign(m, "evil", evil), 0);
	assert_int_equal(envelope_verify(m, &ring, NULL, 0), SIG_UNTRUSTED_KID);
	/* Re-signed with another key under the trusted name. */
	assert_int_equal(envelope_sign(m, "approval", evil), 0);
	assert_int_equal(envelope_verify(m, &ring, NULL, 0), SIG_BAD);
	json_decref(m);
}

static void
test_member_order_does_not_matter(void **state)
{
	json_t *a = sample(), *b;
	char *text;

	assert_int_equal(envelope_sign(a, "approval", approval), 0);
	/* Another writer serialising in another order still verifies. */
	text = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
	b = json_loads(text, 0, NULL);
	assert_int_equal(envelope_verify(b, &ring, NULL, 0), SIG_OK);
	free(text);
	json_decref(a);
	json_decref(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_missing_and_malformed),
		cmocka_unit_test(test_altered_after_signing),
		cmocka_unit_test(test_untrusted_and_resigned),
		cmocka_unit_test(test_member_order_does_not_matter),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
