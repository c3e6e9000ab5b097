/*
 * The stage loop's filter mode (common/stage.c, --stdin) and its outbox:
 * what the handler adds is written after it returns, PERMFAIL adds a dead
 * letter (and still publishes the outbox), TEMPFAIL is retried, topics the
 * stage does not consume pass through untouched, and bad records are
 * counted, not handled.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msg.h"
#include "stage.h"

#define IN_TOPIC "test.in"
#define OUT_TOPIC "test.out"

struct probe {
	int calls;
	int tempfails_left;
	char last_key[80];
	long long last_offset;
};

/*
 * The payload says what to do: {"do": "ok" | "perm" | "perm_with_output" |
 * "temp"}; "ok" answers {"echo": payload} on OUT_TOPIC under the same key.
 */
static enum handler_rc
probe_handle(void *ctxp, const struct stage_input *in, struct outbox *out, char *reason,
    size_t reasonlen)
{
	struct probe *p = ctxp;
	json_t *m = json_loadb(in->payload, in->len, 0, NULL);
	const char *what = json_string_value(json_object_get(m, "do"));
	enum handler_rc rc = HANDLER_OK;

	p->calls++;
	snprintf(p->last_key, sizeof(p->last_key), "%s", in->key);
	p->last_offset = in->offset;
	assert_int_equal(in->partition, -1);
	if (what == NULL) {
		snprintf(reason, reasonlen, "TEST_BAD: no \"do\"");
		rc = HANDLER_PERMFAIL;
	} else if (strcmp(what, "temp") == 0 && p->tempfails_left > 0) {
		p->tempfails_left--;
		snprintf(reason, reasonlen, "TEST_DOWN: try again");
		rc = HANDLER_TEMPFAIL;
		/* Published only if the retry succeeds: this must never be seen. */
		outbox_add(out, OUT_TOPIC, in->key, json_pack("{s:s}", "stale", "yes"));
	} else if (strcmp(what, "perm") == 0) {
		snprintf(reason, reasonlen, "TEST_REFUSED: as asked");
		rc = HANDLER_PERMFAIL;
	} else {
		if (strcmp(what, "perm_with_output") == 0) {
			snprintf(reason, reasonlen, "TEST_REFUSED: with an answer");
			rc = HANDLER_PERMFAIL;
		}
		outbox_add(out, OUT_TOPIC, in->key, json_pack("{s:O}", "echo", m));
	}
	json_decref(m);
	return rc;
}

static const char *const topics[] = { IN_TOPIC, NULL };

/* Runs the filter over input; *lines gets the records written (new array). */
static int
run(struct probe *p, const char *input, json_t **lines)
{
	static const struct stage proto = { .name = "wingman-test",
		.group = "test",
		.topics = topics,
		.handle = probe_handle };
	struct stage st = proto;
	volatile sig_atomic_t running = 1;
	char *outbuf = NULL, *line, *save = NULL;
	size_t outlen = 0;
	FILE *in = fmemopen((void *)input, strlen(input), "r");
	FILE *out = open_memstream(&outbuf, &outlen);
	int rc;

	assert_non_null(in);
	assert_non_null(out);
	st.ctx = p;
	rc = stage_run_stdin(&st, in, out, &running);
	fclose(in);
	fclose(out);
	*lines = json_array();
	for (line = strtok_r(outbuf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *rec = json_loads(line, 0, NULL);

		assert_non_null(rec);
		json_array_append_new(*lines, rec);
	}
	free(outbuf);
	return rc;
}

static const char *
rec_topic(const json_t *lines, size_t i)
{
	return json_string_value(json_object_get(json_array_get(lines, i), "topic"));
}

static void
test_ok_publishes_outbox(void **state)
{
	struct probe p = { 0 };
	json_t *lines, *v;

	(void)state;
	assert_int_equal(run(&p,
	                     "{\"topic\":\"" IN_TOPIC
	                     "\",\"key\":\"k1\",\"value\":{\"do\":\"ok\"}}\n",
	                     &lines),
	    0);
	assert_int_equal(p.calls, 1);
	assert_string_equal(p.last_key, "k1");
	assert_int_equal(p.last_offset, 1);
	assert_int_equal(json_array_size(lines), 1);
	assert_string_equal(rec_topic(lines, 0), OUT_TOPIC);
	v = json_object_get(json_array_get(lines, 0), "value");
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "echo"), "do")),
	    "ok");
	assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 0), "key")),
	    "k1");
	json_decref(lines);
}

static void
test_permfail_dead_letter(void **state)
{
	struct probe p = { 0 };
	json_t *lines, *dl;
	char err[256];

	(void)state;
	assert_int_equal(run(&p,
	                     "{\"topic\":\"" IN_TOPIC "\",\"key\":\"k2\",\"value\":"
	                     "{\"do\":\"perm\",\"request_id\":\"7d0c9f5e-3b1a-4c51-9b7e-2f4a9d0c1e22\"}}\n",
	                     &lines),
	    0);
	assert_int_equal(json_array_size(lines), 1);
	assert_string_equal(rec_topic(lines, 0), TOPIC_DLQ);
	dl = json_object_get(json_array_get(lines, 0), "value");
	/* A dead letter any consumer accepts, naming what and why. */
	assert_int_equal(msg_validate(dl, "dead_letter", err, sizeof(err)), 0);
	assert_string_equal(msg_str(dl, "stage"), "wingman-test");
	assert_string_equal(msg_str(dl, "topic"), IN_TOPIC);
	assert_string_equal(msg_str(dl, "key"), "k2");
	assert_string_equal(msg_str(dl, "reason"), "TEST_REFUSED: as asked");
	assert_string_equal(msg_str(dl, "request_id"), "7d0c9f5e-3b1a-4c51-9b7e-2f4a9d0c1e22");
	assert_non_null(strstr(msg_str(dl, "payload"), "\"do\":\"perm\""));
	assert_int_equal(json_integer_value(json_object_get(dl, "partition")), -1);
	assert_int_equal(json_integer_value(json_object_get(dl, "offset")), 1);
	json_decref(lines);
}

static void
test_permfail_keeps_outbox(void **state)
{
	struct probe p = { 0 };
	json_t *lines;

	(void)state;
	assert_int_equal(run(&p,
	                     "{\"topic\":\"" IN_TOPIC "\",\"key\":\"k\",\"value\":"
	                     "{\"do\":\"perm_with_output\"}}\n",
	                     &lines),
	    0);
	assert_int_equal(json_array_size(lines), 2);
	assert_string_equal(rec_topic(lines, 0), OUT_TOPIC);
	assert_string_equal(rec_topic(lines, 1), TOPIC_DLQ);
	json_decref(lines);
}

static void
test_tempfail_retried_without_stale_output(void **state)
{
	struct probe p = { 0 };
	json_t *lines, *v;

	(void)state;
	p.tempfails_left = 1;
	assert_int_equal(run(&p,
	                     "{\"topic\":\"" IN_TOPIC
	                     "\",\"key\":\"k\",\"value\":{\"do\":\"temp\"}}\n",
	                     &lines),
	    0);
	assert_int_equal(p.calls, 2);
	assert_int_equal(json_array_size(lines), 1);
	v = json_object_get(json_array_get(lines, 0), "value");
	assert_null(json_object_get(v, "stale"));
	assert_non_null(json_object_get(v, "echo"));
	json_decref(lines);
}

static void
test_pass_through_and_bad_records(void **state)
{
	static const char other[] =
	    "{\"topic\":\"wingman.results\",\"key\":\"x\",\"value\":{\"a\":1}}";
	struct probe p = { 0 };
	json_t *lines, *expect = json_loads(other, 0, NULL);
	char input[512];

	(void)state;
	snprintf(input, sizeof(input),
	    "%s\n\nnot json\n{\"topic\":\"" IN_TOPIC "\"}\n"
	    "{\"topic\":\"" IN_TOPIC "\",\"value\":{\"do\":\"ok\"}}\n",
	    other);
	/* Bad records make the run fail (1), but the rest is still handled. */
	assert_int_equal(run(&p, input, &lines), 1);
	assert_int_equal(p.calls, 1);
	assert_int_equal(p.last_offset, 5);
	assert_string_equal(p.last_key, "");
	assert_int_equal(json_array_size(lines), 2);
	/* The record of a topic not consumed comes out as it went in. */
	assert_true(json_equal(json_array_get(lines, 0), expect));
	assert_string_equal(rec_topic(lines, 1), OUT_TOPIC);
	json_decref(expect);
	json_decref(lines);
}

static void
test_outbox_bounds(void **state)
{
	struct outbox *out = calloc(1, sizeof(*out));

	(void)state;
	assert_non_null(out);
	assert_int_equal(outbox_add(out, OUT_TOPIC, "k", NULL), -1);
	for (int i = 0; i < OUTBOX_MAX; i++)
		assert_int_equal(outbox_add(out, OUT_TOPIC, "k", json_integer(i)), 0);
	/* Full: refused, and the value released (LeakSanitizer would say otherwise). */
	assert_int_equal(outbox_add(out, OUT_TOPIC, "k", json_integer(99)), -1);
	assert_int_equal(out->n, OUTBOX_MAX);
	outbox_clear(out);
	assert_int_equal(out->n, 0);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok_publishes_outbox),
		cmocka_unit_test(test_permfail_dead_letter),
		cmocka_unit_test(test_permfail_keeps_outbox),
		cmocka_unit_test(test_tempfail_retried_without_stale_output),
		cmocka_unit_test(test_pass_through_and_bad_records),
		cmocka_unit_test(test_outbox_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
