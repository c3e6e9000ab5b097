/*
 * The pure decisions: the rules voter and consensus, the policy, and what
 * approval does with an assessment. No I/O but reading config/policy.json.
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

#include "approval.h"
#include "consensus.h"
#include "msg.h"
#include "policy.h"

static struct policy policy;
/* The built-in rules voter alone, with threshold 1 and 2. */
static struct consensus_config one_of_one, two_of_one;

static int
setup(void **state)
{
	char path[1024], err[256];
	const char *src = getenv("WINGMAN_SOURCE_DIR");

	snprintf(path, sizeof(path), "%s/config/policy.json", src ? src : ".");
	assert_int_equal(policy_load(path, &policy, err, sizeof(err)), 0);
	assert_int_equal(consensus_config_default(&one_of_one, 1, err, sizeof(err)), 0);
	assert_int_equal(consensus_config_default(&two_of_one, 2, err, sizeof(err)), 0);
	return 0;
}

static int
teardown(void **state)
{
	consensus_config_free(&one_of_one);
	consensus_config_free(&two_of_one);
	return 0;
}

static json_t *
request(const char *env, const char *cmd1, const char *cmd2)
{
	json_t *r = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:[s], s:s}", "v", 1, "type",
	    "request", "request_id", "r-1", "worker_id", "agent-7", "environment", env,
	    "instruction", "", "commands", cmd1, "ts", "2026-11-26T12:00:00.000Z");
	if (cmd2)
		json_array_append_new(json_object_get(r, "commands"), json_string(cmd2));
	return r;
}

static json_t *
assess(const char *env, const char *cmd1, const char *cmd2)
{
	json_t *req = request(env, cmd1, cmd2), *a = consensus_assess(req, &one_of_one);
	char err[256];

	json_decref(req);
	/* Whatever consensus builds must pass its own decoder (minus the signature). */
	json_object_set_new(a, "sig",
	    json_pack("{s:s, s:s, s:s}", "alg", "EdDSA", "kid", "consensus", "value",
	        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	if (msg_validate(a, "assessment", err, sizeof(err)) != 0)
		fail_msg("assessment does not validate: %s", err);
	return a;
}

static void
test_rules_risk(void **state)
{
	json_t *a = assess("test", "docker inspect wingman-test-api", NULL);

	assert_string_equal(msg_str(a, "risk"), "low");
	assert_int_equal(json_integer_value(json_object_get(a, "approving_votes")), 1);
	assert_int_equal(json_array_size(json_object_get(a, "dissent")), 0);
	json_decref(a);

	/* The riskiest command decides; prd raises it a step. */
	a = assess("test", "docker logs wingman-test-api", "docker restart wingman-test-api");
	assert_string_equal(msg_str(a, "risk"), "medium");
	assert_int_equal(json_integer_value(json_object_get(a, "approving_votes")), 0);
	json_decref(a);
	a = assess("prd", "docker inspect wingman-prd-api", NULL);
	assert_string_equal(msg_str(a, "risk"), "medium");
	json_decref(a);
	a = assess("prd", "docker exec wingman-prd-api ls", NULL);
	assert_string_equal(msg_str(a, "risk"), "critical");
	json_decref(a);
}

static void
test_invalid_command_never_votes(void **state)
{
	json_t *a = assess("test", "docker inspect wingman-test-api", "docker restart x && reboot");

	assert_true(json_is_false(json_object_get(a, "valid")));
	assert_int_equal(json_array_size(json_object_get(a, "votes")), 0);
	assert_string_equal(msg_str(a, "risk"), "critical");
	assert_non_null(strstr(msg_str(a, "reason"), "CMD_BAD_CHAR"));
	assert_non_null(strstr(msg_str(a, "reason"), "command 2"));
	json_decref(a);
}

static void
plan_of(const char *env, const char *cmd, struct approval_plan *plan)
{
	json_t *a = assess(env, cmd, NULL);

	approval_decide(&policy, a, plan);
	json_decref(a);
}

static void
test_approval_plan(void **state)
{
	struct approval_plan p;

	plan_of("test", "docker inspect wingman-test-api", &p);
	assert_int_equal(p.verdict, APPROVAL_AUTO);
	assert_int_equal(p.token_ttl_s, 120);

	plan_of("test", "docker restart wingman-test-api", &p);
	assert_int_equal(p.verdict, APPROVAL_HUMAN);
	assert_int_equal(p.approvers_required, 1);

	plan_of("prd", "docker restart wingman-prd-api", &p);
	assert_int_equal(p.verdict, APPROVAL_HUMAN);
	assert_int_equal(p.approvers_required, 2);

	/* Outside the environment's containers: invalid, whatever the action. */
	plan_of("test", "docker inspect wingman-prd-api", &p);
	assert_int_equal(p.verdict, APPROVAL_INVALID);
	assert_non_null(strstr(p.reason, "POLICY_CONTAINER"));
	plan_of("test", "docker inspect wingman-test", &p);
	assert_int_equal(p.verdict, APPROVAL_INVALID);

	plan_of("prd", "docker exec wingman-prd-api ls", &p);
	assert_int_equal(p.verdict, APPROVAL_REJECT);
	assert_non_null(strstr(p.reason, "POLICY_DENIED"));

	plan_of("staging", "docker ps", &p);
	assert_int_equal(p.verdict, APPROVAL_INVALID);
	assert_non_null(strstr(p.reason, "POLICY_UNKNOWN_ENV"));

	plan_of("test", "docker restart a;b", &p);
	assert_int_equal(p.verdict, APPROVAL_INVALID);
	assert_non_null(strstr(p.reason, "CMD_"));
}

/* The policy judges actions, tokens are minted for commands: they must agree. */
static void
test_actions_must_match_commands(void **state)
{
	json_t *a = assess("test", "docker inspect wingman-test-api", NULL);
	struct approval_plan p;

	json_array_set_new(json_object_get(json_object_get(a, "request"), "commands"), 0,
	    json_string("docker restart wingman-test-api"));
	approval_decide(&policy, a, &p);
	assert_int_equal(p.verdict, APPROVAL_MISLABELED);
	assert_non_null(strstr(p.reason, "ASSESSMENT_MISLABELED"));
	json_decref(a);
}

/*
 * Approval parses the commands itself (trust rule 8): a stop labelled
 * "ps" by a compromised consensus, with an approving vote, is refused,
 * never auto-approved.
 */
static void
test_mislabeled_actions_are_refused(void **state)
{
	static const char *const lies[][3] = {
		{ "docker stop wingman-test-demo", "ps", "" },
		{ "docker restart wingman-test-demo", "inspect", "wingman-test-demo" },
		{ "docker exec wingman-test-demo id", "logs", "wingman-test-demo" },
		{ "docker inspect wingman-test-api", "inspect", "wingman-test-demo" },
	};
	struct approval_plan p;

	for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
		json_t *a = assess("test", lies[i][0], NULL);
		json_t *action = json_array_get(json_object_get(a, "actions"), 0);

		json_object_set_new(action, "action", json_string(lies[i][1]));
		json_object_set_new(action, "container", json_string(lies[i][2]));
		json_object_set_new(a, "approving_votes", json_integer(1));
		approval_decide(&policy, a, &p);
		if (p.verdict != APPROVAL_MISLABELED)
			fail_msg("lie %zu: verdict %d (%s)", i, p.verdict, p.reason);
		assert_non_null(strstr(p.reason, "ASSESSMENT_MISLABELED"));
		json_decref(a);
	}
}

static void
test_votes_below_threshold_need_a_human(void **state)
{
	json_t *req = request("test", "docker inspect wingman-test-api", NULL);
	json_t *a = consensus_assess(req, &two_of_one);
	struct approval_plan p;

	/* One approving vote of two needed: policy "auto" is not enough. */
	approval_decide(&policy, a, &p);
	assert_int_equal(p.verdict, APPROVAL_HUMAN);
	assert_int_equal(json_array_size(json_object_get(a, "dissent")), 1);
	json_decref(a);
	json_decref(req);
}

static void
test_policy_owners(void **state)
{
	assert_true(policy_is_approver(&policy, "alice"));
	assert_false(policy_is_approver(&policy, "mallory"));
	assert_true(policy_owns(&policy, "alice", "agent-alice"));
	assert_false(policy_owns(&policy, "bob", "agent-alice"));
}

static void
test_policy_rejects_bad_files(void **state)
{
	static const char *const bad[] = {
		"{}",
		"{\"environments\": {\"test\": {\"containers\": [], \"actions\": {}, \"approvers_required\": 1,"
		" \"approval_timeout_s\": 1, \"token_ttl_s\": 1}}}",
		"{\"environments\": {\"test\": {\"containers\": [\"x\"], \"actions\": {\"rm\": \"auto\"},"
		" \"approvers_required\": 1, \"approval_timeout_s\": 1, \"token_ttl_s\": 1}}}",
		"{\"environments\": {\"test\": {\"containers\": [\"x\"], \"actions\": {\"ps\": \"yes\"},"
		" \"approvers_required\": 1, \"approval_timeout_s\": 1, \"token_ttl_s\": 1}}}",
		"{\"environments\": {\"test\": {\"containers\": [\"x\"], \"actions\": {},"
		" \"approvers_required\": 0, \"approval_timeout_s\": 1, \"token_ttl_s\": 1}}}",
		"{\"environments\": {\"test\": {\"containers\": [\"x\"], \"actions\": {},"
		" \"approvers_required\": 1, \"approval_timeout_s\": 1, \"token_ttl_s\": 99999}}}",
		"{\"environments\": {\"Test\": {\"containers\": [\"x\"], \"actions\": {},"
		" \"approvers_required\": 1, \"approval_timeout_s\": 1, \"token_ttl_s\": 1}}}",
		"{\"environments\": {}, \"environments\": {}}",
		"{\"environments\": {\"test\": {\"containers\": [\"x\"], \"actions\": {},"
		" \"approvers_required\": 1, \"approval_timeout_s\": 1, \"token_ttl_s\": 1,"
		" \"execute\": \"no\"}}}",
	};
	char path[] = "/tmp/wingman-policy.XXXXXX", err[256];
	struct policy p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = mkstemp(path);
		FILE *f = fdopen(fd, "w");
		fputs(bad[i], f);
		fclose(f);
		if (policy_load(path, &p, err, sizeof(err)) == 0)
			fail_msg("policy %zu was accepted", i);
		assert_non_null(strstr(err, "POLICY_"));
		unlink(path);
		snprintf(path, sizeof(path), "%s", "/tmp/wingman-policy.XXXXXX");
	}
}

/* execute defaults to true; false is shadow mode (no Docker call). */
static void
test_policy_execute(void **state)
{
	char path[] = "/tmp/wingman-policy.XXXXXX", err[256];
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct policy p;

	fputs("{\"environments\": {\"shadow\": {\"containers\": [\"x\"], \"actions\": {},"
	      " \"approvers_required\": 1, \"approval_timeout_s\": 1, \"token_ttl_s\": 1,"
	      " \"execute\": false}}}",
	    f);
	fclose(f);
	assert_int_equal(policy_load(path, &p, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(policy_env(&p, "shadow")->execute, 0);
	assert_int_equal(policy_env(&policy, "test")->execute, 1);
	assert_int_equal(policy_env(&policy, "prd")->execute, 1);
}

static void
test_result_output_limit(void **state)
{
	char *big = malloc(65538), err[256];
	json_t *r;

	memset(big, 'a', 65537);
	big[65537] = '\0';
	r = result_new("r-1", "executed", "",
	    json_pack("[{s:s, s:s, s:i, s:s}]", "cmd", "docker ps", "status", "ok", "exit_code", 0,
	        "output", big));
	assert_int_equal(msg_validate(r, "result", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "MSG_TOO_LONG"));
	big[65536] = '\0';
	json_object_set_new(json_array_get(json_object_get(r, "commands"), 0), "output",
	    json_string(big));
	assert_int_equal(msg_validate(r, "result", err, sizeof(err)), 0);
	json_decref(r);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules_risk),
		cmocka_unit_test(test_invalid_command_never_votes),
		cmocka_unit_test(test_approval_plan),
		cmocka_unit_test(test_votes_below_threshold_need_a_human),
		cmocka_unit_test(test_actions_must_match_commands),
		cmocka_unit_test(test_mislabeled_actions_are_refused),
		cmocka_unit_test(test_policy_owners),
		cmocka_unit_test(test_policy_rejects_bad_files),
		cmocka_unit_test(test_policy_execute),
		cmocka_unit_test(test_result_output_limit),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
