/*
 * The policy (common/policy.c): the one check of a command against an
 * environment (container, container-id lookalikes, denied actions, modes)
 * and the separation of duties (who may decide for which worker), on a
 * policy file written here, plus files the loader must refuse.
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

#include "command.h"
#include "policy.h"

static const char policy_json[] =
    "{\"approvers\": {\"alice\": {\"owns\": [\"agent-alice\"]}, \"bob\": {}},\n"
    " \"environments\": {\n"
    "  \"test\": {\"containers\": [\"wingman-test-*\"],\n"
    "   \"actions\": {\"ps\": \"auto\", \"inspect\": \"auto\", \"logs\": \"auto\",\n"
    "     \"restart\": \"human\", \"start\": \"human\", \"stop\": \"human\", \"exec\": \"human\"},\n"
    "   \"approvers_required\": 1, \"approval_timeout_s\": 600, \"token_ttl_s\": 120},\n"
    "  \"prd\": {\"containers\": [\"wingman-prd-*\", \"cafe\"],\n"
    "   \"actions\": {\"ps\": \"auto\", \"restart\": \"human\", \"exec\": \"deny\"},\n"
    "   \"approvers_required\": 2, \"max_relayed_approvals\": 1,\n"
    "   \"require_signed_requests\": true, \"approval_timeout_s\": 900, \"token_ttl_s\": 60}}}\n";

/* Writes text to a temporary file and loads it; returns policy_load's result. */
static int
load(const char *text, struct policy *p, char *err, size_t errlen)
{
	char path[] = "/tmp/wingman-test-policy-XXXXXX";
	int fd = mkstemp(path), rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	rc = policy_load(path, p, err, errlen);
	unlink(path);
	return rc;
}

static int
setup(void **state)
{
	struct policy *p = calloc(1, sizeof(*p));
	char err[256];

	if (p == NULL || load(policy_json, p, err, sizeof(err)) != 0) {
		fprintf(stderr, "setup: %s\n", err);
		free(p);
		return -1;
	}
	*state = p;
	return 0;
}

static int
teardown(void **state)
{
	free(*state);
	return 0;
}

static void
test_loaded(void **state)
{
	const struct policy *p = *state;
	const struct policy_env *prd = policy_env(p, "prd");

	assert_int_equal(p->n_envs, 2);
	assert_null(policy_env(p, "staging"));
	assert_non_null(prd);
	assert_int_equal(prd->approvers_required, 2);
	assert_int_equal(prd->max_relayed_approvals, 1);
	assert_int_equal(prd->require_signed_requests, 1);
	assert_int_equal(prd->token_ttl_s, 60);
	/* An action the file does not name is denied. */
	assert_int_equal(prd->modes[ACTION_LOGS], POLICY_DENY);
	assert_string_equal(policy_mode_name(prd->modes[ACTION_RESTART]), "human");
}

/* Each command checked in its environment: verdict, mode and why ("" when allowed). */
static const struct {
	const char *env, *cmd;
	enum policy_verdict verdict;
	enum policy_mode mode;
	const char *why;
} cases[] = {
	{ "test", "docker inspect wingman-test-api", POLICY_ALLOWED, POLICY_AUTO, "" },
	{ "test", "docker restart wingman-test-api", POLICY_ALLOWED, POLICY_HUMAN, "" },
	/* ps names no container: only its mode counts. */
	{ "prd", "docker ps", POLICY_ALLOWED, POLICY_AUTO, "" },
	{ "test", "docker restart wingman-prd-db", POLICY_OUTSIDE, POLICY_DENY,
	    "POLICY_CONTAINER: container 'wingman-prd-db' is outside environment test" },
	{ "prd", "docker restart wingman-test-api", POLICY_OUTSIDE, POLICY_DENY,
	    "POLICY_CONTAINER: container 'wingman-test-api' is outside environment prd" },
	/* "cafe" is in prd's list, but Docker would read it as an id prefix. */
	{ "prd", "docker restart cafe", POLICY_OUTSIDE, POLICY_DENY,
	    "POLICY_CONTAINER: 'cafe' could be read as a container id" },
	{ "prd", "docker exec wingman-prd-api ls", POLICY_FORBIDDEN, POLICY_DENY,
	    "POLICY_DENIED: exec is not allowed in prd" },
	/* Not named in prd's actions: denied. */
	{ "prd", "docker logs wingman-prd-api", POLICY_FORBIDDEN, POLICY_DENY,
	    "POLICY_DENIED: logs is not allowed in prd" },
};

static void
test_check_command(void **state)
{
	const struct policy *p = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct policy_env *e = policy_env(p, cases[i].env);
		enum policy_mode mode = POLICY_AUTO;
		struct command cmd;
		char why[256] = "";

		assert_non_null(e);
		if (command_parse(cases[i].cmd, &cmd, why, sizeof(why)) != 0)
			fail_msg("%s does not parse: %s", cases[i].cmd, why);
		why[0] = '\0';
		if (policy_check_command(e, &cmd, &mode, why, sizeof(why)) != cases[i].verdict ||
		    mode != cases[i].mode || strcmp(why, cases[i].why) != 0)
			fail_msg("%s in %s: mode %d, why \"%s\"", cases[i].cmd, cases[i].env, mode,
			    why);
	}
}

static void
test_owners(void **state)
{
	const struct policy *p = *state;

	assert_true(policy_is_approver(p, "alice"));
	assert_false(policy_is_approver(p, "mallory"));
	assert_true(policy_owns(p, "alice", "agent-alice"));
	assert_false(policy_owns(p, "bob", "agent-alice"));
	assert_false(policy_owns(p, "mallory", "agent-alice"));
	/* Separation of duties: not for one's own worker, not as the worker. */
	assert_false(policy_may_decide(p, "alice", "agent-alice"));
	assert_true(policy_may_decide(p, "bob", "agent-alice"));
	assert_true(policy_may_decide(p, "alice", "agent-7"));
	assert_false(policy_may_decide(p, "bob", "bob"));
	assert_false(policy_may_decide(p, "mallory", "agent-7"));
	/* Nobody approves what they asked for from Telegram (/exec); others may. */
	assert_true(policy_requested_by("alice", "telegram-alice"));
	assert_false(policy_requested_by("alice", "telegram-alicex"));
	assert_false(policy_requested_by("alice", "telegram-"));
	assert_false(policy_requested_by("alice", "xtelegram-alice"));
	assert_false(policy_requested_by("bob", "telegram-alice"));
	assert_false(policy_may_decide(p, "alice", "telegram-alice"));
	assert_false(policy_may_decide(p, "bob", "telegram-bob"));
	assert_true(policy_may_decide(p, "bob", "telegram-alice"));
	assert_true(policy_may_decide(p, "alice", "telegram-bob"));
	assert_true(policy_may_decide(p, "bob", "telegram-bobx"));
}

static void
test_bad_files(void **state)
{
	struct policy *p = calloc(1, sizeof(*p));
	char err[256];

	(void)state;
	assert_non_null(p);
	assert_int_equal(policy_load("/nonexistent/policy.json", p, err, sizeof(err)), -1);
	assert_true(strncmp(err, "POLICY_UNREADABLE", 17) == 0);
	assert_int_equal(load("{\"environments\": {}}", p, err, sizeof(err)), -1);
	assert_true(strncmp(err, "POLICY_INVALID", 14) == 0);
	assert_int_equal(load("{\"environments\": {\"test\": {\"containers\": [\"x-*\"],"
	                      " \"actions\": {\"ps\": \"sometimes\"}, \"approvers_required\": 1,"
	                      " \"approval_timeout_s\": 60, \"token_ttl_s\": 60}}}",
	                     p, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "must be auto, human or deny"));
	assert_int_equal(load("{\"environments\": {\"test\": {\"containers\": [\"x-*\"],"
	                      " \"actions\": {\"fly\": \"auto\"}, \"approvers_required\": 1,"
	                      " \"approval_timeout_s\": 60, \"token_ttl_s\": 60}}}",
	                     p, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "is not an action"));
	assert_int_equal(load("{\"environments\": {\"test\": {\"containers\": [\"x-*\"],"
	                      " \"actions\": {}, \"approvers_required\": 1, \"approval_timeout_s\": 60,"
	                      " \"token_ttl_s\": 60}}, \"approvers\": {\"bad name\": {}}}",
	                     p, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "is not valid"));
	assert_int_equal(load("not json", p, err, sizeof(err)), -1);
	assert_true(strncmp(err, "POLICY_INVALID", 14) == 0);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loaded),
		cmocka_unit_test(test_check_command),
		cmocka_unit_test(test_owners),
		cmocka_unit_test(test_bad_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
