/*
 * The shared helpers (common/util.c, clock.c, files.c): backoff, sleeps,
 * timestamps, secret files (permissions, blanks, sizes, NUL bytes),
 * bounded buffers, base64url and the number and name checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

static void
test_backoff(void **state)
{
	long b = 500;

	(void)state;
	b = backoff_next(b, 30000);
	assert_int_equal(b, 1000);
	for (int i = 0; i < 10; i++)
		b = backoff_next(b, 30000);
	assert_int_equal(b, 30000);
	assert_int_equal(backoff_next(20000, 30000), 30000);
	assert_int_equal(backoff_next(15000, 30000), 30000);
	assert_int_equal(backoff_next(14999, 30000), 29998);
	/* No overflow near the top of long. */
	assert_int_equal(backoff_next(__LONG_MAX__ - 1, __LONG_MAX__), __LONG_MAX__);
}

static void
test_sleep_while(void **state)
{
	volatile sig_atomic_t running = 0;
	int64_t t0;

	(void)state;
	/*
	 * A stopped loop does not sleep at all: it comes back before the pause
	 * could have ended (a tighter bound fails on a busy machine, not on a bug).
	 */
	t0 = monotonic_ms();
	sleep_while(&running, 5000);
	assert_true(monotonic_ms() - t0 < 5000);
	/* NULL: the whole pause. */
	t0 = monotonic_ms();
	sleep_while(NULL, 120);
	assert_true(monotonic_ms() - t0 >= 120);
}

static void
test_timestamps(void **state)
{
	char ts[32];
	int64_t ms;

	(void)state;
	format_ts_ms(1764158400123LL, ts);
	assert_string_equal(ts, "2025-11-26T12:00:00.123Z");
	assert_int_equal(parse_ts_ms(ts, &ms), 0);
	assert_int_equal(ms, 1764158400123LL);
	assert_int_equal(parse_ts_ms("1970-01-01T00:00:00.000Z", &ms), 0);
	assert_int_equal(ms, 0);
	now_ts(ts);
	assert_int_equal(parse_ts_ms(ts, &ms), 0);
	assert_true(ms > 1700000000000LL);
	/* Only the one shape: UTC, milliseconds, Z. */
	assert_int_equal(parse_ts_ms("2025-11-26T12:00:00Z", &ms), -1);
	assert_int_equal(parse_ts_ms("2025-11-26T12:00:00.123+00:00", &ms), -1);
	assert_int_equal(parse_ts_ms("2025-11-26 12:00:00.123Z", &ms), -1);
	assert_int_equal(parse_ts_ms("2025-13-26T12:00:00.123Z", &ms), -1);
	assert_int_equal(parse_ts_ms("2025-11-26T24:00:00.123Z", &ms), -1);
	assert_int_equal(parse_ts_ms("2025-11-26T12:00:00.12aZ", &ms), -1);
	assert_int_equal(parse_ts_ms("", &ms), -1);
}

/* A temporary file holding len bytes of text, with mode. */
static void
make_file(char *path, const char *text, size_t len, mode_t mode)
{
	int fd;

	strcpy(path, "/tmp/wingman-test-secret-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static enum secret_rc
secret_of(const char *text, size_t len, mode_t mode, char *out, size_t outsize, int *loose)
{
	char path[64];
	enum secret_rc rc;

	make_file(path, text, len, mode);
	rc = secret_file_read(path, 64, out, outsize, loose);
	unlink(path);
	return rc;
}

static void
test_secret_file(void **state)
{
	char out[16];
	int loose = -1;

	(void)state;
	assert_int_equal(secret_of("sk-abc\n", 7, 0600, out, sizeof(out), &loose), SECRET_OK);
	assert_string_equal(out, "sk-abc");
	assert_int_equal(loose, 0);
	assert_int_equal(secret_of("sk-abc \t\r\n\n", 11, 0600, out, sizeof(out), NULL), SECRET_OK);
	assert_string_equal(out, "sk-abc");
	/* Leading blanks are part of the secret; only the end is trimmed. */
	assert_int_equal(secret_of(" sk", 3, 0600, out, sizeof(out), NULL), SECRET_OK);
	assert_string_equal(out, " sk");
}

static void
test_secret_file_loose_permissions(void **state)
{
	char out[16];
	int loose = 0;

	(void)state;
	assert_int_equal(secret_of("sk-abc", 6, 0644, out, sizeof(out), &loose), SECRET_OK);
	assert_int_equal(loose, 1);
	assert_int_equal(secret_of("sk-abc", 6, 0640, out, sizeof(out), &loose), SECRET_OK);
	assert_int_equal(loose, 1);
	assert_int_equal(secret_of("sk-abc", 6, 0400, out, sizeof(out), &loose), SECRET_OK);
	assert_int_equal(loose, 0);
}

static void
test_secret_file_refused(void **state)
{
	char out[8], path[64];

	(void)state;
	assert_int_equal(secret_of("\n\n  ", 4, 0600, out, sizeof(out), NULL), SECRET_MALFORMED);
	assert_string_equal(out, "");
	/* 8 bytes do not fit out[8] with the NUL: refused, never cut. */
	assert_int_equal(secret_of("12345678", 8, 0600, out, sizeof(out), NULL), SECRET_MALFORMED);
	assert_string_equal(out, "");
	assert_int_equal(secret_of("1234567", 7, 0600, out, sizeof(out), NULL), SECRET_OK);
	assert_int_equal(secret_of("ab\0cd", 5, 0600, out, sizeof(out), NULL), SECRET_MALFORMED);
	assert_int_equal(secret_file_read("/nonexistent/secret", 64, out, sizeof(out), NULL),
	    SECRET_UNREADABLE);
	assert_int_equal(secret_file_read("/tmp", 64, out, sizeof(out), NULL), SECRET_UNREADABLE);
	/* Larger than max (64 in secret_of) is not read at all. */
	make_file(path, "0123456789012345678901234567890123456789012345678901234567890123456789",
	    70, 0600);
	assert_int_equal(secret_file_read(path, 64, out, sizeof(out), NULL), SECRET_UNREADABLE);
	unlink(path);
}

static void
test_read_file(void **state)
{
	char path[64], *text = NULL;
	size_t len = 0;

	(void)state;
	make_file(path, "a\0b", 3, 0600);
	assert_int_equal(read_file(path, 3, &text, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(text, "a\0b", 4);
	free(text);
	assert_int_equal(read_file(path, 2, &text, &len), -1);
	assert_null(text);
	unlink(path);
}

static void
test_wbuf(void **state)
{
	struct wbuf b;

	(void)state;
	wbuf_init(&b, 5);
	assert_int_equal(wbuf_append(&b, "abc", 3), 0);
	assert_int_equal(wbuf_append(&b, "def", 3), -1);
	assert_string_equal(b.data, "abcde");
	assert_int_equal(b.len, 5);
	assert_int_equal(b.total, 6);
	wbuf_free(&b);
	assert_null(b.data);
}

static void
test_b64url(void **state)
{
	unsigned char *out = NULL;
	size_t n = 0;
	char *s = b64url_encode((const unsigned char *)"\xfb\xff", 2);

	(void)state;
	assert_string_equal(s, "-_8");
	assert_int_equal(b64url_decode(s, strlen(s), &out, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "\xfb\xff", 2);
	free(out);
	free(s);
	/* Strict: no padding, no standard alphabet, no stray trailing bits. */
	assert_int_equal(b64url_decode("-_8=", 4, &out, &n), -1);
	assert_int_equal(b64url_decode("+/8", 3, &out, &n), -1);
	assert_int_equal(b64url_decode("-_9", 3, &out, &n), -1);
	assert_int_equal(b64url_decode("A", 1, &out, &n), -1);
}

static void
test_numbers_and_names(void **state)
{
	long long v;
	char buf[4];

	(void)state;
	assert_int_equal(parse_int("42", 1, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(parse_int("101", 1, 100, &v), -1);
	assert_int_equal(parse_int("4x", 1, 100, &v), -1);
	assert_int_equal(parse_int("", 1, 100, &v), -1);
	assert_int_equal(parse_int("99999999999999999999", 1, 100, &v), -1);
	assert_int_equal(xsnprintf(buf, sizeof(buf), "%s", "abc"), 3);
	assert_int_equal(xsnprintf(buf, sizeof(buf), "%s", "abcd"), -1);
	assert_true(valid_request_id("7d0c9f5e-3b1a-4c51-9b7e-2f4a9d0c1e22"));
	assert_false(valid_request_id("../etc/passwd"));
	assert_true(valid_name("agent-7"));
	assert_false(valid_name("agent 7"));
	assert_false(valid_name(""));
	assert_true(valid_environment("prd"));
	assert_false(valid_environment("PRD!"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_sleep_while),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_secret_file),
		cmocka_unit_test(test_secret_file_loose_permissions),
		cmocka_unit_test(test_secret_file_refused),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_wbuf),
		cmocka_unit_test(test_b64url),
		cmocka_unit_test(test_numbers_and_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
