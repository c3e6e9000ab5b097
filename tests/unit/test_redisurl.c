/* WINGMAN_REDIS_URL: with and without a password; bad ones never echo it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "redisurl.h"

static void
test_plain(void **state)
{
	struct redis_url u;
	char err[256];

	(void)state;
	assert_int_equal(redis_url_parse("redis://127.0.0.1:16380/3", &u, err, sizeof(err)), 0);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 16380);
	assert_int_equal(u.db, 3);
	assert_string_equal(u.password, "");
	assert_string_equal(u.user, "");
	assert_int_equal(redis_url_parse("redis://redis", &u, err, sizeof(err)), 0);
	assert_string_equal(u.host, "redis");
	assert_int_equal(u.port, 6379);
	assert_int_equal(u.db, 0);
}

static void
test_password(void **state)
{
	struct redis_url u;
	char err[256];

	(void)state;
	assert_int_equal(redis_url_parse("redis://:s3cr:et@redis:6379/0", &u, err, sizeof(err)), 0);
	assert_string_equal(u.user, "");
	assert_string_equal(u.password, "s3cr:et");
	assert_string_equal(u.host, "redis");
	assert_int_equal(u.port, 6379);
	assert_int_equal(redis_url_parse("redis://executor:pw@h/1", &u, err, sizeof(err)), 0);
	assert_string_equal(u.user, "executor");
	assert_string_equal(u.password, "pw");
	assert_string_equal(u.host, "h");
	assert_int_equal(u.db, 1);
	/* The last '@' splits: a password may contain '@'. */
	assert_int_equal(redis_url_parse("redis://:a@b@h:1/0", &u, err, sizeof(err)), 0);
	assert_string_equal(u.password, "a@b");
	assert_string_equal(u.host, "h");
	redis_url_wipe(&u);
	assert_string_equal(u.password, "");
}

static void
test_bad(void **state)
{
	static const char *const bad[] = {
		"http://h:1/0",
		"redis://",
		"redis://:1/0",
		"redis://h:0/0",
		"redis://h:99999/0",
		"redis://h:1/16",
		"redis://h:x/0",
		"redis://hunter2@h:1/0",
		"redis://:@h:1/0",
		"redis://:hunter2@:1/0",
		"redis://:hunter2@h:1/x",
	};
	struct redis_url u;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(redis_url_parse(bad[i], &u, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "CONFIG_INVALID"));
		assert_null(strstr(err, "hunter2"));
		assert_string_equal(u.password, "");
	}
	assert_int_equal(redis_url_parse(NULL, &u, err, sizeof(err)), -1);
}

/*
 * rediss:// asks for TLS, which the linked hiredis cannot do: refused,
 * saying why, never parsed as a plaintext URL; the password is not echoed.
 */
static void
test_tls_refused(void **state)
{
	static const char *const tls[] = {
		"rediss://:hunter2@redis:6380/0",
		"rediss://redis",
		"REDISS://:hunter2@redis:6380/0",
	};
	struct redis_url u;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(tls) / sizeof(tls[0]); i++) {
		err[0] = '\0';
		memset(&u, 'x', sizeof(u));
		assert_int_equal(redis_url_parse(tls[i], &u, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "CONFIG_INVALID"));
		assert_non_null(strstr(err, "rediss:// (TLS) is not supported"));
		assert_null(strstr(err, "hunter2"));
		assert_string_equal(u.host, "");
		assert_string_equal(u.password, "");
		assert_int_equal(u.port, 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_tls_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
