/*
 * The audit row's content cut for wingman_audit_append (common/audit.c):
 * the database splices prev_hash and seq into head, mid and tail, and the
 * result must be byte for byte the content audit_row_hash and `wingman
 * audit verify` hash, whatever the details hold (keys named like the
 * row's own, quotes, backslashes, non-ASCII text).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "audit.h"

#define HASH "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

/* Splits row, splices prev and seq back in, and compares with the direct dump. */
static void
check_splice(json_t *row, long long seq)
{
	char *head, *mid, *tail, *want, *got;
	size_t n;

	assert_int_equal(audit_row_split(row, &head, &mid, &tail), 0);
	json_object_set_new(row, "seq", json_integer(seq));
	json_object_set_new(row, "prev_hash", json_string(HASH));
	want = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(want);
	n = strlen(head) + strlen(HASH) + strlen(mid) + 32 + strlen(tail);
	got = malloc(n);
	assert_non_null(got);
	snprintf(got, n, "%s%s%s%lld%s", head, HASH, mid, seq, tail);
	assert_string_equal(got, want);
	free(got);
	free(want);
	free(head);
	free(mid);
	free(tail);
	json_decref(row);
}

static void
test_plain_row(void **state)
{
	(void)state;
	check_splice(json_pack("{s:s, s:s, s:s, s:s, s:{s:s}}", "ts", "2026-12-02T04:00:00Z",
	                 "service", "wingman-executor", "request_id", "r-1", "event",
	                 "execution_intent", "details", "jti", "j-1"),
	    1);
}

static void
test_details_that_look_like_the_row(void **state)
{
	(void)state;
	/* Keys named prev_hash and seq inside details, with the marker values. */
	check_splice(json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:i, s:{s:s, s:i}}}", "ts", "t",
	                 "service", "wingman-approval", "request_id", "r\"\\,}{2", "event",
	                 "\"prev_hash\":\"\",\"seq\":0", "details", "prev_hash", "", "seq", 0,
	                 "nested", "prev_hash", "", "seq", 0),
	    9007199254740993LL);
	/* Strings after the row's keys holding the markers. */
	check_splice(json_pack("{s:s, s:s, s:s, s:s, s:o}", "ts", "\"seq\":0,\"prev_hash\":\"\"",
	                 "service", "\"seq\":0}", "request_id", "\"prev_hash\":\"\"", "event",
	                 "caf\xc3\xa9 \xe2\x9c\x93", "details", json_object()),
	    42);
}

static void
test_refuses_a_row_that_is_not_an_object(void **state)
{
	char *head, *mid, *tail;
	json_t *row = json_array();

	(void)state;
	assert_int_equal(audit_row_split(row, &head, &mid, &tail), -1);
	assert_null(head);
	json_decref(row);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_row),
		cmocka_unit_test(test_details_that_look_like_the_row),
		cmocka_unit_test(test_refuses_a_row_that_is_not_an_object),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
