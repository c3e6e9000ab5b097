/*
 * One log line per event, and peer text cannot forge key=value pairs in it:
 * a string printed between quotes has its quotes escaped (common/log.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* What one log call wrote on stderr (static buffer). */
static const char *
captured(void (*emit)(void))
{
	static char buf[4096];
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	assert_non_null(f);
	fflush(stderr);
	dup2(fileno(f), STDERR_FILENO);
	emit();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static const char *peer = "late\" approver=\"mallory\" counted=\"yes\\";

static void
emit_forgery(void)
{
	log_warnx("event=refused request_id=%s reason=\"%s\" n=%d size=%zu big=%lld", "r-1", peer,
	    7, (size_t)42, 1LL << 40);
}

static void
test_quoted_values_are_escaped(void **state)
{
	const char *line = captured(emit_forgery);

	(void)state;
	assert_non_null(
	    strstr(line, "reason=\"late\\\" approver=\\\"mallory\\\" counted=\\\"yes\\\\\" "));
	assert_null(strstr(line, " approver=\"mallory\""));
	assert_non_null(strstr(line, "request_id=r-1 "));
	assert_non_null(strstr(line, "n=7 size=42 big=1099511627776\n"));
	assert_non_null(strstr(line, "level=warn "));
	/* One line, whatever the peer sent. */
	assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
}

static void
emit_controls(void)
{
	log_info("event=x reason=\"%s\" text=%s", "a\nb\rc\x1b[31m", "d\ne");
}

static void
test_one_line(void **state)
{
	const char *line = captured(emit_controls);

	(void)state;
	assert_non_null(strstr(line, "reason=\"a?b?c?[31m\" text=d e\n"));
}

static void
emit_precision(void)
{
	log_info("event=vote reason=\"%.5s\" pct=100%% c=%c", "0123456789", 'z');
}

static void
test_precision_and_percent(void **state)
{
	const char *line = captured(emit_precision);

	(void)state;
	assert_non_null(strstr(line, "reason=\"01234\" pct=100% c=z\n"));
}

static void
emit_keeping_errno(void)
{
	errno = ENOENT;
	log_info("event=x");
	assert_int_equal(errno, ENOENT);
}

static void
test_errno_kept(void **state)
{
	(void)state;
	captured(emit_keeping_errno);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quoted_values_are_escaped),
		cmocka_unit_test(test_one_line),
		cmocka_unit_test(test_precision_and_percent),
		cmocka_unit_test(test_errno_kept),
	};

	log_init("test", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
