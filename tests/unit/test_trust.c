/*
 * Trust rules 8 and 9 as pure checks: the evidence a command needs
 * (common/trust.c), tried the way a compromised stage would try it. Keys
 * are generated into a temporary directory; the policy is config/policy.json.
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

#include "consensus.h"
#include "envelope.h"
#include "keygen.h"
#include "keys.h"
#include "msg.h"
#include "policy.h"
#include "trust.h"

static char dir[] = "/tmp/wingman-trust.XXXXXX";
static char evil[] = "/tmp/wingman-trust-evil.XXXXXX";
static struct policy policy;
static struct trust_keys keys;
static struct consensus_config rules_only;

static EVP_PKEY *
private_key(const char *d, const char *name)
{
	char err[256];
	EVP_PKEY *k = key_load_named(d, name, 1, err, sizeof(err));

	if (k == NULL)
		fail_msg("%s: %s", name, err);
	return k;
}

static void
sign_as(json_t *msg, const char *d, const char *kid)
{
	EVP_PKEY *k = private_key(d, kid);

	assert_int_equal(envelope_sign(msg, kid, k), 0);
	EVP_PKEY_free(k);
}

static int
setup(void **state)
{
	static const char *const names[] = { "consensus", "approver-alice", "approver-bob",
		"approver-demo", "telegram", "worker-agent-7", "worker-agent-8", "executor",
		"approval" };
	const char *src = getenv("WINGMAN_SOURCE_DIR");
	char path[1024], err[256];

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_non_null(mkdtemp(evil));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(key_generate(dir, names[i], err, sizeof(err)), 0);
		assert_int_equal(key_generate(evil, names[i], err, sizeof(err)), 0);
	}
	snprintf(path, sizeof(path), "%s/config/policy.json", src ? src : ".");
	assert_int_equal(policy_load(path, &policy, err, sizeof(err)), 0);
	assert_int_equal(trust_keys_load(&keys, dir, &policy, err, sizeof(err)), 0);
	assert_int_equal(consensus_config_default(&rules_only, 1, err, sizeof(err)), 0);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[200];

	(void)state;
	trust_keys_free(&keys);
	consensus_config_free(&rules_only);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, evil);
	return system(cmd) == 0 ? 0 : -1;
}

static json_t *
request(const char *rid, const char *worker, const char *env, const char *cmd)
{
	return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:[s], s:s}", "v", 1, "type", "request",
	    "request_id", rid, "worker_id", worker, "environment", env, "instruction", "",
	    "commands", cmd, "ts", "2026-11-26T12:00:00.000Z");
}

/* What wingman-consensus (or whoever holds its key, from d) signs. */
static json_t *
assessment(json_t *req, const char *d)
{
	json_t *a = consensus_assess(req, &rules_only);

	json_decref(req);
	sign_as(a, d, "consensus");
	return a;
}

static json_t *
human(const char *rid, const char *approver, const char *channel, const char *decision,
    const char *cmd, const char *d, const char *kid)
{
	json_t *h = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s]}", "v", 1, "type",
	    "human_decision", "request_id", rid, "ts", "2026-11-26T12:01:00.000Z", "approver",
	    approver, "decision", decision, "reason", "", "channel", channel, "commands", cmd);

	sign_as(h, d, kid);
	return h;
}

/* evidence_check of one command; takes a and the decisions (NULL-terminated). */
static enum evidence_verdict
check(const char *rid, const char *worker, const char *env, const char *cmd, json_t *a, ...)
{
	json_t *ev = json_pack("{s:o, s:[]}", "assessment", a, "human_decisions"), *h;
	json_t *cmds = json_pack("[s]", cmd);
	enum evidence_verdict v;
	char why[1024];
	va_list ap;

	va_start(ap, a);
	while ((h = va_arg(ap, json_t *)) != NULL)
		json_array_append_new(json_object_get(ev, "human_decisions"), h);
	va_end(ap);
	v = evidence_check(&policy, &keys, rid, worker, env, cmds, ev, why, sizeof(why));
	if (v != EVIDENCE_OK)
		assert_true(strncmp(why, "EVIDENCE_", 9) == 0 || strncmp(why, "POLICY_", 7) == 0 ||
		    strncmp(why, "REQUEST_", 8) == 0 || strncmp(why, "CMD_", 4) == 0);
	json_decref(ev);
	json_decref(cmds);
	return v;
}

#define INSPECT "docker inspect wingman-test-api"
#define RESTART "docker restart wingman-test-api"
#define STOP "docker stop wingman-test-demo"

static void
test_auto_needs_consensus_signature(void **state)
{
	(void)state;
	assert_int_equal(check("r1", "agent-7", "test", INSPECT,
	                     assessment(request("r1", "agent-7", "test", INSPECT), dir), NULL),
	    EVIDENCE_OK);
	/* Another key named consensus. */
	assert_int_equal(check("r1", "agent-7", "test", INSPECT,
	                     assessment(request("r1", "agent-7", "test", INSPECT), evil), NULL),
	    EVIDENCE_UNSIGNED);
}

static void
test_evidence_of_something_else(void **state)
{
	(void)state;
	/* A genuine assessment of an inspect, borrowed for a restart, another id, worker, env. */
	assert_int_equal(check("r1", "agent-7", "test", RESTART,
	                     assessment(request("r1", "agent-7", "test", INSPECT), dir), NULL),
	    EVIDENCE_MISMATCH);
	assert_int_equal(check("r2", "agent-7", "test", INSPECT,
	                     assessment(request("r1", "agent-7", "test", INSPECT), dir), NULL),
	    EVIDENCE_MISMATCH);
	assert_int_equal(check("r1", "agent-8", "test", INSPECT,
	                     assessment(request("r1", "agent-7", "test", INSPECT), dir), NULL),
	    EVIDENCE_MISMATCH);
	assert_int_equal(check("r1", "agent-7", "prd", INSPECT,
	                     assessment(request("r1", "agent-7", "test", INSPECT), dir), NULL),
	    EVIDENCE_MISMATCH);
}

/* Issue 9's first attack: consensus labels a stop "ps" and approves it. */
static void
test_mislabeled_human_action_needs_humans(void **state)
{
	json_t *req = request("r1", "agent-7", "test", STOP);
	json_t *a = consensus_assess(req, &rules_only);
	json_t *action = json_array_get(json_object_get(a, "actions"), 0);

	(void)state;
	json_decref(req);
	json_object_set_new(action, "action", json_string("ps"));
	json_object_set_new(action, "container", json_string(""));
	json_object_set_new(a, "votes",
	    json_pack("[{s:s, s:s, s:b, s:[s]}]", "voter", "rules", "risk", "low", "approve", 1,
	        "reasons", "looks harmless"));
	json_object_set_new(a, "approving_votes", json_integer(1));
	sign_as(a, dir, "consensus");
	assert_int_equal(check("r1", "agent-7", "test", STOP, a, NULL), EVIDENCE_NO_QUORUM);
}

static void
test_human_decisions(void **state)
{
	(void)state;
	assert_int_equal(check("r1", "agent-7", "test", RESTART,
	                     assessment(request("r1", "agent-7", "test", RESTART), dir), NULL),
	    EVIDENCE_NO_QUORUM);
	assert_int_equal(check("r1", "agent-7", "test", RESTART,
	                     assessment(request("r1", "agent-7", "test", RESTART), dir),
	                     human("r1", "bob", "cli", "approve", RESTART, dir, "approver-bob"),
	                     NULL),
	    EVIDENCE_OK);
	/* bob's approval of other commands, of another request, a reject. */
	assert_int_equal(check("r1", "agent-7", "test", RESTART,
	                     assessment(request("r1", "agent-7", "test", RESTART), dir),
	                     human("r1", "bob", "cli", "approve", INSPECT, dir, "approver-bob"),
	                     NULL),
	    EVIDENCE_BAD_DECISION);
	assert_int_equal(check("r1", "agent-7", "test", RESTART,
	                     assessment(request("r1", "agent-7", "test", RESTART), dir),
	                     human("r2", "bob", "cli", "approve", RESTART, dir, "approver-bob"),
	                     NULL),
	    EVIDENCE_BAD_DECISION);
	assert_int_equal(check("r1", "agent-7", "test", RESTART,
	                     assessment(request("r1", "agent-7", "test", RESTART), dir),
	                     human("r1", "bob", "cli", "reject", RESTART, dir, "approver-bob"),
	                     NULL),
	    EVIDENCE_BAD_DECISION);
	/* bob's name with alice's key; bob's name with a key of the same name elsewhere. */
	assert_int_equal(check("r1", "agent-7", "test", RESTART,
	                     assessment(request("r1", "agent-7", "test", RESTART), dir),
	                     human("r1", "bob", "cli", "approve", RESTART, dir, "approver-alice"),
	                     NULL),
	    EVIDENCE_BAD_DECISION);
	assert_int_equal(check("r1", "agent-7", "test", RESTART,
	                     assessment(request("r1", "agent-7", "test", RESTART), dir),
	                     human("r1", "bob", "cli", "approve", RESTART, evil, "approver-bob"),
	                     NULL),
	    EVIDENCE_BAD_DECISION);
	/* alice owns agent-alice: her approval never counts for it. */
	assert_int_equal(check("r1", "agent-alice", "test", RESTART,
	                     assessment(request("r1", "agent-alice", "test", RESTART), dir),
	                     human("r1", "alice", "cli", "approve", RESTART, dir, "approver-alice"),
	                     NULL),
	    EVIDENCE_BAD_DECISION);
}

#define PRD_RESTART "docker restart wingman-prd-api"

static json_t *
signed_request(const char *rid, const char *worker, const char *env, const char *cmd, const char *d)
{
	json_t *r = request(rid, worker, env, cmd);
	char kid[80];

	snprintf(kid, sizeof(kid), "worker-%s", worker);
	sign_as(r, d, kid);
	return r;
}

static void
test_two_person_rule(void **state)
{
	(void)state;
	/* Two approvers, both relayed by the bot: the bot alone is not two people. */
	assert_int_equal(check("p1", "agent-7", "prd", PRD_RESTART,
	                     assessment(signed_request("p1", "agent-7", "prd", PRD_RESTART, dir),
	                         dir),
	                     human("p1", "bob", "telegram", "approve", PRD_RESTART, dir, "telegram"),
	                     human("p1", "demo", "telegram", "approve", PRD_RESTART, dir, "telegram"),
	                     NULL),
	    EVIDENCE_NO_QUORUM);
	/* The same approver twice counts once. */
	assert_int_equal(check("p1", "agent-7", "prd", PRD_RESTART,
	                     assessment(signed_request("p1", "agent-7", "prd", PRD_RESTART, dir),
	                         dir),
	                     human("p1", "bob", "cli", "approve", PRD_RESTART, dir, "approver-bob"),
	                     human("p1", "bob", "telegram", "approve", PRD_RESTART, dir, "telegram"),
	                     NULL),
	    EVIDENCE_NO_QUORUM);
	assert_int_equal(check("p1", "agent-7", "prd", PRD_RESTART,
	                     assessment(signed_request("p1", "agent-7", "prd", PRD_RESTART, dir),
	                         dir),
	                     human("p1", "bob", "telegram", "approve", PRD_RESTART, dir, "telegram"),
	                     human("p1", "demo", "cli", "approve", PRD_RESTART, dir, "approver-demo"),
	                     NULL),
	    EVIDENCE_OK);
}

static void
test_signed_requests(void **state)
{
	(void)state;
	/* prd takes only requests signed by their worker. */
	assert_int_equal(check("p1", "agent-7", "prd", "docker inspect wingman-prd-api",
	                     assessment(request("p1", "agent-7", "prd",
	                                    "docker inspect wingman-prd-api"),
	                         dir),
	                     NULL),
	    EVIDENCE_REQUEST);
	/* (The rules voter finds an inspect in prd medium risk: humans decide.) */
	assert_int_equal(check("p1", "agent-7", "prd", "docker inspect wingman-prd-api",
	                     assessment(signed_request("p1", "agent-7", "prd",
	                                    "docker inspect wingman-prd-api", dir),
	                         dir),
	                     human("p1", "bob", "cli", "approve", "docker inspect wingman-prd-api",
	                         dir, "approver-bob"),
	                     human("p1", "demo", "cli", "approve", "docker inspect wingman-prd-api",
	                         dir, "approver-demo"),
	                     NULL),
	    EVIDENCE_OK);
	/* agent-8's key cannot speak for agent-7; nor can a key from elsewhere. */
	{
		json_t *r = request("p1", "agent-7", "prd", "docker inspect wingman-prd-api");
		sign_as(r, dir, "worker-agent-8");
		assert_int_equal(check("p1", "agent-7", "prd", "docker inspect wingman-prd-api",
		                     assessment(r, dir), NULL),
		    EVIDENCE_REQUEST);
	}
	assert_int_equal(check("t1", "agent-7", "test", INSPECT,
	                     assessment(signed_request("t1", "agent-7", "test", INSPECT, evil), dir),
	                     NULL),
	    EVIDENCE_REQUEST);
	/* Where not required, an unsigned request is fine. */
	assert_int_equal(check("t1", "agent-7", "test", INSPECT,
	                     assessment(request("t1", "agent-7", "test", INSPECT), dir), NULL),
	    EVIDENCE_OK);
}

/*
 * A person's /exec from Telegram: worker telegram-<name>, signed by the
 * bot's key. The bot's key signs for no agent, no other key for the bot,
 * and the person who asked cannot approve it.
 */
static void
test_telegram_requests(void **state)
{
	json_t *r;
	char why[512];

	(void)state;
	r = request("g1", "telegram-bob", "test", RESTART);
	sign_as(r, dir, "telegram");
	assert_int_equal(trust_check_request(&keys, policy_env(&policy, "test"), r, why,
	                     sizeof(why)),
	    0);
	assert_int_equal(check("g1", "telegram-bob", "test", RESTART, assessment(r, dir),
	                     human("g1", "alice", "telegram", "approve", RESTART, dir, "telegram"),
	                     NULL),
	    EVIDENCE_OK);
	/* bob asked: his approval never counts for it, through any channel. */
	r = request("g1", "telegram-bob", "test", RESTART);
	sign_as(r, dir, "telegram");
	assert_int_equal(check("g1", "telegram-bob", "test", RESTART, assessment(r, dir),
	                     human("g1", "bob", "telegram", "approve", RESTART, dir, "telegram"),
	                     NULL),
	    EVIDENCE_BAD_DECISION);
	r = request("g1", "telegram-bob", "test", RESTART);
	sign_as(r, dir, "telegram");
	assert_int_equal(check("g1", "telegram-bob", "test", RESTART, assessment(r, dir),
	                     human("g1", "bob", "cli", "approve", RESTART, dir, "approver-bob"),
	                     NULL),
	    EVIDENCE_BAD_DECISION);
	/* The bot's key does not speak for an agent. */
	r = request("g2", "agent-7", "test", INSPECT);
	sign_as(r, dir, "telegram");
	assert_int_equal(trust_check_request(&keys, policy_env(&policy, "test"), r, why,
	                     sizeof(why)),
	    -1);
	assert_string_equal(why,
	    "REQUEST_BAD_SIGNATURE: SIG_UNTRUSTED_KID: the request is not signed by "
	    "worker-agent-7");
	assert_int_equal(check("g2", "agent-7", "test", INSPECT, assessment(r, dir), NULL),
	    EVIDENCE_REQUEST);
	/* Unsigned, or signed by anyone but the bot: refused even where signing is optional. */
	r = request("g3", "telegram-bob", "test", INSPECT);
	assert_int_equal(trust_check_request(&keys, policy_env(&policy, "test"), r, why,
	                     sizeof(why)),
	    -1);
	assert_true(strncmp(why, "REQUEST_UNSIGNED: ", 18) == 0);
	assert_int_equal(trust_check_request(&keys, NULL, r, why, sizeof(why)), -1);
	assert_int_equal(check("g3", "telegram-bob", "test", INSPECT, assessment(r, dir), NULL),
	    EVIDENCE_REQUEST);
	r = request("g3", "telegram-bob", "test", INSPECT);
	sign_as(r, evil, "telegram");
	assert_int_equal(check("g3", "telegram-bob", "test", INSPECT, assessment(r, dir), NULL),
	    EVIDENCE_REQUEST);
	r = request("g3", "telegram-bob", "test", INSPECT);
	sign_as(r, dir, "worker-agent-7");
	assert_int_equal(trust_check_request(&keys, NULL, r, why, sizeof(why)), -1);
	assert_string_equal(why,
	    "REQUEST_BAD_SIGNATURE: SIG_UNTRUSTED_KID: the request is not signed by telegram");
	json_decref(r);
	/* An environment that has not opted in to /exec refuses the bot's requests. */
	{
		struct policy_env *test_env = (struct policy_env *)policy_env(&policy, "test");

		r = request("g5", "telegram-bob", "test", INSPECT);
		sign_as(r, dir, "telegram");
		test_env->telegram_exec = 0;
		assert_int_equal(trust_check_request(&keys, test_env, r, why, sizeof(why)), -1);
		assert_true(strncmp(why, "REQUEST_TELEGRAM_EXEC_OFF: ", 27) == 0);
		assert_int_equal(check("g5", "telegram-bob", "test", INSPECT, assessment(r, dir),
		                     NULL),
		    EVIDENCE_REQUEST);
		test_env->telegram_exec = 1;
		r = request("g5", "telegram-bob", "test", INSPECT);
		sign_as(r, dir, "telegram");
		assert_int_equal(check("g5", "telegram-bob", "test", INSPECT, assessment(r, dir),
		                     NULL),
		    EVIDENCE_OK);
	}
	/* prd: the bot's signature is the signature prd demands; two people still decide. */
	r = request("g4", "telegram-bob", "prd", PRD_RESTART);
	sign_as(r, dir, "telegram");
	assert_int_equal(check("g4", "telegram-bob", "prd", PRD_RESTART, assessment(r, dir),
	                     human("g4", "alice", "telegram", "approve", PRD_RESTART, dir,
	                         "telegram"),
	                     human("g4", "demo", "cli", "approve", PRD_RESTART, dir, "approver-demo"),
	                     NULL),
	    EVIDENCE_OK);
}

static void
test_policy_still_decides(void **state)
{
	(void)state;
	/* Denied and outside the environment, whatever the humans say. */
	assert_int_equal(check("p1", "agent-7", "prd", "docker exec wingman-prd-api id",
	                     assessment(signed_request("p1", "agent-7", "prd",
	                                    "docker exec wingman-prd-api id", dir),
	                         dir),
	                     human("p1", "bob", "cli", "approve", "docker exec wingman-prd-api id",
	                         dir, "approver-bob"),
	                     human("p1", "demo", "cli", "approve", "docker exec wingman-prd-api id",
	                         dir, "approver-demo"),
	                     NULL),
	    EVIDENCE_DENIED);
	assert_int_equal(check("t1", "agent-7", "test", "docker inspect wingman-prd-api",
	                     assessment(request("t1", "agent-7", "test",
	                                    "docker inspect wingman-prd-api"),
	                         dir),
	                     NULL),
	    EVIDENCE_INVALID);
	assert_int_equal(check("t1", "agent-7", "test", "docker inspect deadbeef",
	                     assessment(request("t1", "agent-7", "test", "docker inspect deadbeef"),
	                         dir),
	                     NULL),
	    EVIDENCE_INVALID);
}

static void
test_result_signers(void **state)
{
	(void)state;
	assert_true(trust_result_signer_ok("executed", "executor"));
	assert_true(trust_result_signer_ok("rejected", "approval"));
	assert_true(trust_result_signer_ok("expired", "approval"));
	assert_false(trust_result_signer_ok("executed", "approval"));
	assert_false(trust_result_signer_ok("invalid", "consensus"));
	assert_false(trust_result_signer_ok("executed", "token"));
	assert_false(trust_result_signer_ok("expired", "executor"));
	/* Only the executor knows nothing ran in a shadow environment. */
	assert_true(trust_result_signer_ok("shadow", "executor"));
	assert_false(trust_result_signer_ok("shadow", "approval"));
}

/* The whole rule 9 check, as the CLI, MCP and the bot run it. */
static void
test_result_verify(void **state)
{
	struct keyring stages;
	char err[256], kid[80], why[256];
	json_t *r;

	(void)state;
	keyring_init(&stages);
	assert_int_equal(keyring_add(&stages, dir, "executor", err, sizeof(err)), 0);
	assert_int_equal(keyring_add(&stages, dir, "approval", err, sizeof(err)), 0);
#define RESULT(st) \
	json_pack("{s:i, s:s, s:s, s:s, s:s, s:[]}", "v", 1, "type", "result", "request_id", "r9", \
	    "ts", "2026-11-26T12:02:00.000Z", "status", st, "results")

	r = RESULT("executed");
	sign_as(r, dir, "executor");
	assert_true(trust_result_verify(r, &stages, kid, sizeof(kid), why, sizeof(why)));
	assert_string_equal(kid, "executor");
	/* Re-labelled after signing: the signature no longer holds. */
	json_object_set_new(r, "status", json_string("rejected"));
	assert_false(trust_result_verify(r, &stages, kid, sizeof(kid), why, sizeof(why)));
	assert_non_null(strstr(why, "SIG_BAD"));
	json_decref(r);

	/* Genuine signature, wrong stage for the status (a taken-over approval). */
	r = RESULT("executed");
	sign_as(r, dir, "approval");
	assert_false(trust_result_verify(r, &stages, kid, sizeof(kid), why, sizeof(why)));
	assert_int_equal(strncmp(why, "RESULT_SIGNER_NOT_ENTITLED:", 27), 0);
	json_decref(r);

	/* Unsigned, and signed by a key the reader does not hold. */
	r = RESULT("rejected");
	assert_false(trust_result_verify(r, &stages, kid, sizeof(kid), why, sizeof(why)));
	assert_non_null(strstr(why, "SIG_MISSING"));
	sign_as(r, evil, "executor");
	assert_false(trust_result_verify(r, &stages, kid, sizeof(kid), why, sizeof(why)));
	json_decref(r);
#undef RESULT
	keyring_free(&stages);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auto_needs_consensus_signature),
		cmocka_unit_test(test_evidence_of_something_else),
		cmocka_unit_test(test_mislabeled_human_action_needs_humans),
		cmocka_unit_test(test_human_decisions),
		cmocka_unit_test(test_two_person_rule),
		cmocka_unit_test(test_signed_requests),
		cmocka_unit_test(test_telegram_requests),
		cmocka_unit_test(test_policy_still_decides),
		cmocka_unit_test(test_result_signers),
		cmocka_unit_test(test_result_verify),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
