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

/* Parses cmdline and checks it in env; returns the verdict, why in why. */
static enum policy_verdict
check(const struct policy *p, const char *env, const char *cmdline, enum policy_mode *mode,
    char *why, size_t whylen)
{
	struct command cmd;
	char err[256];
	const struct policy_env *e = policy_env(p, env);

	assert_non_null(e);
	if (command_parse(cmdline, &cmd, err, sizeof(err)) != 0)
		fail_msg("%s does not parse: %s", cmdline, err);
	why[0] = '\0';
	return policy_check_command(e, &cmd, mode, why, whylen);
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

static void
test_allowed_with_mode(void **state)
{
	const struct policy *p = *state;
	enum policy_mode mode;
	char why[256];

	assert_int_equal(check(p, "test", "docker inspect wingman-test-api", &mode, why, sizeof(why)),
	    POLICY_ALLOWED);
	assert_int_equal(mode, POLICY_AUTO);
	assert_int_equal(check(p, "test", "docker restart wingman-test-api", &mode, why, sizeof(why)),
	    POLICY_ALLOWED);
	assert_int_equal(mode, POLICY_HUMAN);
	/* ps names no container: only its mode counts. */
	assert_int_equal(check(p, "prd", "docker ps", &mode, why, sizeof(why)), POLICY_ALLOWED);
	assert_int_equal(mode, POLICY_AUTO);
}

static void
test_outside(void **state)
{
	const struct policy *p = *state;
	enum policy_mode mode;
	char why[256];

	assert_int_equal(check(p, "test", "docker restart wingman-prd-db", &mode, why, sizeof(why)),
	    POLICY_OUTSIDE);
	assert_int_equal(mode, POLICY_DENY);
	assert_string_equal(why, "POLICY_CONTAINER: container 'wingman-prd-db' is outside "
	    "environment test");
	assert_int_equal(check(p, "prd", "docker restart wingman-test-api", &mode, why, sizeof(why)),
	    POLICY_OUTSIDE);
}

static void
test_hex_name_refused_even_when_listed(void **state)
{
	const struct policy *p = *state;
	enum policy_mode mode;
	char why[256];

	/* "cafe" is in prd's list, but Docker would read it as an id prefix. */
	assert_int_equal(check(p, "prd", "docker restart cafe", &mode, why, sizeof(why)),
	    POLICY_OUTSIDE);
	assert_string_equal(why, "POLICY_CONTAINER: 'cafe' could be read as a container id");
}

static void
test_denied(void **state)
{
	const struct policy *p = *state;
	enum policy_mode mode;
	char why[256];

	assert_int_equal(check(p, "prd", "docker exec wingman-prd-api ls", &mode, why, sizeof(why)),
	    POLICY_FORBIDDEN);
	assert_int_equal(mode, POLICY_DENY);
	assert_string_equal(why, "POLICY_DENIED: exec is not allowed in prd");
	assert_int_equal(check(p, "prd", "docker logs wingman-prd-api", &mode, why, sizeof(why)),
	    POLICY_FORBIDDEN);
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
	    " \"approval_timeout_s\": 60, \"token_ttl_s\": 60}}}", p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "must be auto, human or deny"));
	assert_int_equal(load("{\"environments\": {\"test\": {\"containers\": [\"x-*\"],"
	    " \"actions\": {\"fly\": \"auto\"}, \"approvers_required\": 1,"
	    " \"approval_timeout_s\": 60, \"token_ttl_s\": 60}}}", p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not an action"));
	assert_int_equal(load("{\"environments\": {\"test\": {\"containers\": [\"x-*\"],"
	    " \"actions\": {}, \"approvers_required\": 1, \"approval_timeout_s\": 60,"
	    " \"token_ttl_s\": 60}}, \"approvers\": {\"bad name\": {}}}", p, err, sizeof(err)), -1);
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
		cmocka_unit_test(test_allowed_with_mode),
		cmocka_unit_test(test_outside),
		cmocka_unit_test(test_hex_name_refused_even_when_listed),
		cmocka_unit_test(test_denied),
		cmocka_unit_test(test_owners),
		cmocka_unit_test(test_bad_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
