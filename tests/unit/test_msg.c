/*
 * The strict decoders (common/msg.c): every good message of the shared
 * corpus decodes as its type, every bad one is refused with a MSG_ code,
 * and the hostile cases are named here one by one: an unknown member, a
 * wrong type, a duplicate member, a message too large, the wrong type asked.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msg.h"
#include "util.h"

static const char *const types[] = { "request", "assessment", "approval_prompt", "approval_update",
	"human_decision", "decision", "order", "result", "dead_letter" };

static const char good_request[] =
    "{\"v\":1,\"type\":\"request\",\"request_id\":\"7d0c9f5e-3b1a-4c51-9b7e-2f4a9d0c1e22\","
    "\"worker_id\":\"agent-7\",\"environment\":\"test\",\"instruction\":\"restart it\","
    "\"commands\":[\"docker restart wingman-test-api\"],\"ts\":\"2026-11-26T12:00:00.000Z\"}";

/* The good request with its first occurrence of from replaced by to. */
static char *
variant(const char *from, const char *to)
{
	const char *at = strstr(good_request, from);
	size_t n = strlen(good_request) - strlen(from) + strlen(to) + 1;
	char *s = malloc(n);

	assert_non_null(at);
	assert_non_null(s);
	snprintf(s, n, "%.*s%s%s", (int)(at - good_request), good_request, to, at + strlen(from));
	return s;
}

/* Decodes text as type; returns the error code ("" when it decoded). */
static void
decode(const char *text, const char *type, char *err, size_t errlen)
{
	json_t *m;

	err[0] = '\0';
	m = msg_decode(text, strlen(text), type, err, errlen);
	if (m != NULL) {
		assert_string_equal(err, "");
		json_decref(m);
	} else {
		assert_true(strncmp(err, "MSG_", 4) == 0);
	}
}

static void
assert_refused(const char *text, const char *type, const char *code)
{
	char err[512];

	decode(text, type, err, sizeof(err));
	if (strncmp(err, code, strlen(code)) != 0)
		fail_msg("expected %s, got \"%s\" for %s", code, err, text);
}

/* Runs every file of schemas/examples/<kind>/<type>/; returns how many. */
static int
corpus(const char *kind, const char *type, int want_ok)
{
	const char *src = getenv("WINGMAN_SOURCE_DIR");
	char dir[1024], path[2048], err[512];
	struct dirent *e;
	DIR *d;
	int n = 0;

	assert_non_null(src);
	snprintf(dir, sizeof(dir), "%s/schemas/examples/%s/%s", src, kind, type);
	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char *text = NULL;
		size_t len = 0;
		json_t *m;

		if (strstr(e->d_name, ".json") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		assert_int_equal(read_file(path, 4 * MSG_MAX_BYTES, &text, &len), 0);
		err[0] = '\0';
		m = msg_decode(text, len, type, err, sizeof(err));
		if (want_ok && m == NULL)
			fail_msg("%s refused: %s", path, err);
		if (!want_ok && m != NULL)
			fail_msg("%s accepted", path);
		if (!want_ok)
			assert_true(strncmp(err, "MSG_", 4) == 0);
		json_decref(m);
		free(text);
		n++;
	}
	closedir(d);
	return n;
}

static void
test_corpus_valid_each_type(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(types); i++)
		if (corpus("valid", types[i], 1) == 0)
			fail_msg("no valid example of %s", types[i]);
}

static void
test_corpus_invalid_refused(void **state)
{
	int n = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(types); i++)
		n += corpus("invalid", types[i], 0);
	assert_true(n > 20);
}

static void
test_good_request(void **state)
{
	char err[256];
	json_t *m;

	(void)state;
	m = msg_decode(good_request, strlen(good_request), "request", err, sizeof(err));
	assert_non_null(m);
	assert_string_equal(msg_str(m, "worker_id"), "agent-7");
	assert_string_equal(msg_str(m, "absent"), "");
	json_decref(m);
	/* NULL: whatever its type says. */
	m = msg_decode(good_request, strlen(good_request), NULL, err, sizeof(err));
	assert_non_null(m);
	json_decref(m);
}

/* One member of the good request changed: refused with code. */
static const struct {
	const char *from, *to, *code;
} variants[] = {
	{ "\"v\":1,", "\"v\":1,\"admin\":true,", "MSG_UNKNOWN_MEMBER" },
	{ "\"v\":1", "\"v\":\"1\"", "MSG_WRONG_TYPE" },
	{ "[\"docker restart wingman-test-api\"]", "\"docker restart wingman-test-api\"",
	    "MSG_WRONG_TYPE" },
	{ "[\"docker restart wingman-test-api\"]", "[7]", "MSG_BAD_VALUE" },
	/* Duplicate members are refused by the parser itself. */
	{ "\"v\":1,", "\"v\":1,\"v\":1,", "MSG_UNPARSABLE" },
	{ "\"v\":1", "\"v\":2", "MSG_VERSION" },
	{ "agent-7", "agent 7", "MSG_BAD_VALUE" },
	{ "2026-11-26T12:00:00.000Z", "2026-11-26 12:00:00", "MSG_BAD_VALUE" },
	{ ",\"ts\":\"2026-11-26T12:00:00.000Z\"", "", "MSG_MISSING_MEMBER" },
	/* A NUL is refused by the parser; one in a built message by the validator. */
	{ "\"environment\":\"test\"", "\"environment\":\"test\\u0000x\"", "MSG_UNPARSABLE" },
};

static void
test_variants_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(variants); i++) {
		char *s = variant(variants[i].from, variants[i].to);

		assert_refused(s, "request", variants[i].code);
		free(s);
	}
	assert_refused("[1,2]", NULL, "MSG_INVALID");
}

static void
test_nul_in_built_message(void **state)
{
	char err[256];
	json_t *m = json_loads(good_request, 0, NULL);

	(void)state;
	assert_non_null(m);
	json_object_set_new(m, "instruction", json_stringn("re\0start", 8));
	assert_int_equal(msg_validate(m, "request", err, sizeof(err)), -1);
	assert_true(strncmp(err, "MSG_BAD_STRING", 14) == 0);
	json_decref(m);
}

static void
test_sizes(void **state)
{
	char *big, *s, *cmds;
	size_t n;

	(void)state;
	/* Over MSG_MAX_BYTES is refused before it is parsed. */
	n = MSG_MAX_BYTES + 2;
	big = malloc(n);
	assert_non_null(big);
	memset(big, ' ', n - 1);
	big[0] = '{';
	big[n - 2] = '}';
	big[n - 1] = '\0';
	assert_refused(big, "request", "MSG_TOO_LARGE");
	free(big);
	/* A member over its limit. */
	big = malloc(MSG_INSTRUCTION_MAX + 16);
	assert_non_null(big);
	memset(big, 'a', MSG_INSTRUCTION_MAX + 1);
	big[MSG_INSTRUCTION_MAX + 1] = '\0';
	s = variant("restart it", big);
	assert_refused(s, "request", "MSG_TOO_LONG");
	free(s);
	free(big);
	/* More commands than MSG_MAX_COMMANDS. */
	cmds = calloc(MSG_MAX_COMMANDS + 1, 40);
	assert_non_null(cmds);
	strcat(cmds, "[");
	for (int i = 0; i <= MSG_MAX_COMMANDS; i++)
		strcat(cmds, i ? ",\"docker ps\"" : "\"docker ps\"");
	strcat(cmds, "]");
	s = variant("[\"docker restart wingman-test-api\"]", cmds);
	assert_refused(s, "request", "MSG_TOO_MANY");
	free(s);
	free(cmds);
}

static void
test_type_asked(void **state)
{
	char *s;

	(void)state;
	assert_refused(good_request, "order", "MSG_WRONG_TYPE");
	s = variant("\"type\":\"request\"", "\"type\":\"launch\"");
	assert_refused(s, NULL, "MSG_WRONG_TYPE");
	free(s);
	assert_refused("{\"v\":1}", NULL, "MSG_MISSING_MEMBER");
	assert_refused("{\"v\":1", NULL, "MSG_UNPARSABLE");
}

static void
test_guess_request_id(void **state)
{
	char buf[80];
	char *s;

	(void)state;
	s = variant("\"v\":1,", "\"v\":1,\"admin\":true,");
	assert_string_equal(msg_guess_request_id(s, strlen(s), buf, sizeof(buf)),
	    "7d0c9f5e-3b1a-4c51-9b7e-2f4a9d0c1e22");
	free(s);
	/* Only a valid id is ever returned. */
	s = variant("7d0c9f5e-3b1a-4c51-9b7e-2f4a9d0c1e22", "../../etc");
	assert_string_equal(msg_guess_request_id(s, strlen(s), buf, sizeof(buf)), "");
	free(s);
}

static void
test_result_new_validates(void **state)
{
	json_t *r = result_new("7d0c9f5e-3b1a-4c51-9b7e-2f4a9d0c1e22", "frozen",
	    "FROZEN: maintenance", NULL);
	char err[256];

	(void)state;
	assert_non_null(r);
	assert_int_equal(msg_validate(r, "result", err, sizeof(err)), 0);
	/* A reason must start with a stable code. */
	json_object_set_new(r, "reason", json_string("frozen for maintenance"));
	assert_int_equal(msg_validate(r, "result", err, sizeof(err)), -1);
	assert_true(strncmp(err, "MSG_BAD_VALUE", 13) == 0);
	json_object_set_new(r, "reason", json_string(""));
	json_object_set_new(r, "status", json_string("done"));
	assert_int_equal(msg_validate(r, "result", err, sizeof(err)), -1);
	json_decref(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus_valid_each_type),
		cmocka_unit_test(test_corpus_invalid_refused),
		cmocka_unit_test(test_good_request),
		cmocka_unit_test(test_variants_refused),
		cmocka_unit_test(test_nul_in_built_message),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_type_asked),
		cmocka_unit_test(test_guess_request_id),
		cmocka_unit_test(test_result_new_validates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
