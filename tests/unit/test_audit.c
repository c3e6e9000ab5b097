/*
 * The audit row's content cut for wingman_audit_append (common/audit.c):
 * the database splices prev_hash and seq into head, mid and tail, and the
 * result must be byte for byte the content audit_row_hash and `wingman
 * audit verify` hash, whatever the details hold (keys named like the
 * row's own, quotes, backslashes, non-ASCII text). And the chain a row
 * binds (sql/014_chains.sql): its name, the service it belongs to, and
 * that every row a writer makes (the JSONL copy too) names it.
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

static void
test_row_binds_its_chain(void **state)
{
	json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s}}", "ts", "t", "service",
	    "wingman-executor", "chain", "wingman-executor/3", "request_id", "r-1", "event",
	    "execution_intent", "details", "chain", "wingman-consensus/0");
	char *head, *mid, *tail;

	(void)state;
	/* The row's chain is in the hashed content, before the spliced values. */
	assert_int_equal(audit_row_split(row, &head, &mid, &tail), 0);
	assert_non_null(strstr(head, "\"chain\":\"wingman-executor/3\""));
	assert_null(strstr(mid, "\"chain\""));
	assert_null(strstr(tail, "\"chain\""));
	free(head);
	free(mid);
	free(tail);
	check_splice(row, 77);
}

static void
test_chain_service(void **state)
{
	char svc[64];
	static const char *const bad[] = {
		"legacy",
		"/3",
		"wingman-executor/",
		"Wingman/0",
		"wingman-executor/3/4",
		"wingman executor/3",
		"wingman-executor/abcdefghijabcdefghijabcdefghijabc",
		"",
		"wingman-executor/3\n",
		/* Lanes are numbers of 1 to 3 digits, as the database says. */
		"wingman-executor/abc",
		"wingman-executor/1000",
		"wingman-executor/3a",
		"wingman-executor/-1",
		"wingman-executor/a.b",
		"wingman-executor/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		/* A service of 64 characters is longer than any writer's. */
		"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd/0",
	};

	(void)state;
	assert_int_equal(audit_chain_service("wingman-executor/3", svc, sizeof(svc)), 0);
	assert_string_equal(svc, "wingman-executor");
	assert_int_equal(audit_chain_service("wingman/0", svc, sizeof(svc)), 0);
	assert_string_equal(svc, "wingman");
	assert_int_equal(audit_chain_service("wingman-executor/999", svc, sizeof(svc)), 0);
	assert_string_equal(svc, "wingman-executor");
	assert_int_equal(audit_chain_service("abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc/0",
	                     svc, sizeof(svc)),
	    0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(audit_chain_service(bad[i], svc, sizeof(svc)), -1);
	assert_int_equal(audit_chain_service(NULL, svc, sizeof(svc)), -1);
	/* Too small a buffer is a refusal, not a cut name. */
	assert_int_equal(audit_chain_service("wingman-executor/3", svc, 8), -1);
}

/* Every row a writer makes names its lane's chain, the JSONL copy too. */
static void
test_writer_rows_name_the_lane_chain(void **state)
{
	char path[] = "/tmp/test_audit_XXXXXX", err[256], line[1024], svc[64];
	int fd = mkstemp(path);
	struct audit *a;
	FILE *f;
	json_t *row;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	a = audit_open("wingman-executor", "", path, err, sizeof(err));
	assert_non_null(a);
	assert_string_equal(audit_chain(a), "wingman-executor/0");
	assert_int_equal(audit_set_lane(a, AUDIT_LANE_MAX + 1), -1);
	assert_int_equal(audit_set_lane(a, 5), 0);
	assert_string_equal(audit_chain(a), "wingman-executor/5");
	assert_int_equal(audit_chain_service(audit_chain(a), svc, sizeof(svc)), 0);
	assert_string_equal(svc, "wingman-executor");
	assert_int_equal(audit_record(a, "r-1", "execution_intent", NULL), 0);
	/* A lane is chosen before rows are queued. */
	audit_batch_begin(a);
	assert_int_equal(audit_record(a, "r-2", "execution_result", NULL), 0);
	assert_int_equal(audit_set_lane(a, 6), -1);
	assert_int_equal(audit_batch_commit(a), 0);
	audit_close(a);
	f = fopen(path, "r");
	assert_non_null(f);
	for (int i = 0; i < 2; i++) {
		assert_non_null(fgets(line, sizeof(line), f));
		row = json_loads(line, 0, NULL);
		assert_non_null(row);
		assert_string_equal(json_string_value(json_object_get(row, "chain")),
		    "wingman-executor/5");
		assert_string_equal(json_string_value(json_object_get(row, "service")),
		    "wingman-executor");
		json_decref(row);
	}
	fclose(f);
	unlink(path);
}

/* The events of the JSONL file at path, one per line, joined by spaces. */
static void
jsonl_events(const char *path, char *out, size_t outlen)
{
	char line[1024];
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL) {
		json_t *row = json_loads(line, 0, NULL);

		assert_non_null(row);
		if (out[0] != '\0')
			strncat(out, " ", outlen - strlen(out) - 1);
		strncat(out, json_string_value(json_object_get(row, "event")),
		    outlen - strlen(out) - 1);
		json_decref(row);
	}
	fclose(f);
}

/*
 * Rows queued since a mark are dropped (a handler that rolled back); rows
 * before it stay; a flush in between leaves only later rows to drop.
 */
static void
test_drop_since_a_mark(void **state)
{
	char path[] = "/tmp/test_audit_XXXXXX", err[256], events[256];
	int fd = mkstemp(path);
	struct audit *a;
	struct audit_mark m;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	a = audit_open("wingman-approval", "", path, err, sizeof(err));
	assert_non_null(a);
	audit_batch_begin(a);
	assert_int_equal(audit_record(a, "r-1", "kept", NULL), 0);
	m = audit_mark(a);
	assert_int_equal(audit_record(a, "r-2", "undone", NULL), 0);
	assert_int_equal(audit_record(a, "r-2", "undone_too", NULL), 0);
	audit_drop_since(a, m);
	assert_int_equal(audit_record(a, "r-3", "after", NULL), 0);
	/* Written since the mark: what is queued now all came after it. */
	m = audit_mark(a);
	assert_int_equal(audit_flush(a), 0);
	assert_int_equal(audit_record(a, "r-4", "undone_after_flush", NULL), 0);
	audit_drop_since(a, m);
	assert_int_equal(audit_record(a, "r-5", "last", NULL), 0);
	assert_int_equal(audit_batch_commit(a), 0);
	audit_close(a);
	jsonl_events(path, events, sizeof(events));
	assert_string_equal(events, "kept after last");
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_row),
		cmocka_unit_test(test_details_that_look_like_the_row),
		cmocka_unit_test(test_refuses_a_row_that_is_not_an_object),
		cmocka_unit_test(test_row_binds_its_chain),
		cmocka_unit_test(test_chain_service),
		cmocka_unit_test(test_writer_rows_name_the_lane_chain),
		cmocka_unit_test(test_drop_since_a_mark),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
