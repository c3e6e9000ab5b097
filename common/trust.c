#include "trust.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "command.h"
#include "envelope.h"
#include "msg.h"
#include "util.h"

int
trust_keys_init(struct trust_keys *keys, const char *dir)
{
	keyring_init(&keys->consensus);
	keyring_init(&keys->deciders);
	return xsnprintf(keys->keys_dir, sizeof(keys->keys_dir), "%s", dir) < 0 ? -1 : 0;
}

int
trust_keys_load(struct trust_keys *keys, const char *dir, const struct policy *policy, char *err,
    size_t errlen)
{
	char path[1100];

	if (trust_keys_init(keys, dir) != 0) {
		snprintf(err, errlen, "KEY_DIR: the keys directory path is too long");
		return -1;
	}
	if (keyring_add(&keys->consensus, dir, "consensus", err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < policy->n_approvers; i++) {
		char kid[80];

		snprintf(kid, sizeof(kid), "approver-%s", policy->approvers[i].name);
		if (keyring_add(&keys->deciders, dir, kid, err, errlen) != 0)
			return -1;
	}
	/* The Telegram bot is optional: trusted only when its public key is there. */
	if (xsnprintf(path, sizeof(path), "%s/telegram.pub", dir) >= 0 && access(path, R_OK) == 0 &&
	    keyring_add(&keys->deciders, dir, "telegram", err, errlen) != 0)
		return -1;
	return 0;
}

void
trust_keys_free(struct trust_keys *keys)
{
	keyring_free(&keys->consensus);
	keyring_free(&keys->deciders);
}

int
trust_check_request(const struct trust_keys *keys, const struct policy_env *env,
    const json_t *request, char *why, size_t whylen)
{
	const char *worker = msg_str(request, "worker_id");
	int from_bot = strncmp(worker, POLICY_TELEGRAM_WORKER_PREFIX,
	                   strlen(POLICY_TELEGRAM_WORKER_PREFIX)) == 0;
	struct keyring ring;
	enum envelope_verdict v;
	char kid[80], err[256];

	/* The environment must have opted in to requests from the chat. */
	if (from_bot && env != NULL && !env->telegram_exec) {
		snprintf(why, whylen,
		    "REQUEST_TELEGRAM_EXEC_OFF: environment %s takes no /exec requests "
		    "(worker %s); set telegram_exec in its policy",
		    env->name, worker);
		return -1;
	}
	if (json_object_get(request, "sig") == NULL) {
		/* Nobody else may speak as a person in the approvers' chat. */
		if (from_bot) {
			snprintf(why, whylen,
			    "REQUEST_UNSIGNED: worker %s asks through the Telegram bot: its "
			    "requests must be signed by telegram",
			    worker);
			return -1;
		}
		if (env != NULL && env->require_signed_requests) {
			snprintf(why, whylen,
			    "REQUEST_UNSIGNED: environment %s takes only requests signed "
			    "by their worker",
			    env->name);
			return -1;
		}
		return 0;
	}
	/*
	 * The worker's own key, named after the worker_id it claims. A
	 * telegram-<name> worker is a person's /exec: the bot's key signs
	 * those, and no other worker's.
	 */
	if (from_bot)
		snprintf(kid, sizeof(kid), "telegram");
	else
		snprintf(kid, sizeof(kid), "worker-%s", worker);
	keyring_init(&ring);
	if (keyring_add(&ring, keys->keys_dir, kid, err, sizeof(err)) != 0) {
		snprintf(why, whylen, "REQUEST_BAD_SIGNATURE: no public key %s.pub for worker '%s'",
		    kid, worker);
		return -1;
	}
	v = envelope_verify(request, &ring, NULL, 0);
	keyring_free(&ring);
	if (v != SIG_OK) {
		snprintf(why, whylen, "REQUEST_BAD_SIGNATURE: %s: the request is not signed by %s",
		    envelope_verdict_code(v), kid);
		return -1;
	}
	return 0;
}

int
trust_check_human_decision(const struct trust_keys *keys, const json_t *decision, char *why,
    size_t whylen)
{
	const char *approver = msg_str(decision, "approver");
	char kid[80], expected[80];
	enum envelope_verdict v;

	if (strcmp(msg_str(decision, "channel"), "cli") == 0)
		snprintf(expected, sizeof(expected), "approver-%s", approver);
	else
		snprintf(expected, sizeof(expected), "telegram");
	v = envelope_verify(decision, &keys->deciders, kid, sizeof(kid));
	/* Each approver's key signs only in their own name. */
	if (v == SIG_OK && strcmp(kid, expected) != 0)
		v = SIG_UNTRUSTED_KID;
	if (v != SIG_OK) {
		snprintf(why, whylen, "%s: decision by '%s' is not signed by %s",
		    envelope_verdict_code(v), approver, expected);
		return -1;
	}
	return 0;
}

const char *
trust_signer_of(const char *type)
{
	static const struct {
		const char *type, *signer;
	} table[] = {
		{ "assessment", "consensus" },
		{ "approval_prompt", "approval" },
		{ "approval_update", "approval" },
		{ "decision", "approval" },
		{ "order", "token" },
	};

	for (size_t i = 0; type != NULL && i < ARRAY_LEN(table); i++)
		if (strcmp(table[i].type, type) == 0)
			return table[i].signer;
	return NULL;
}

json_t *
msg_accept(const struct stage_input *in, const char *type, const struct keyring *trusted,
    struct audit *audit, char *reason, size_t reasonlen)
{
	const char *signer;
	char kid[KEY_NAME_MAX + 1];
	enum envelope_verdict v;
	json_t *m;

	if ((m = msg_decode(in->payload, in->len, type, reason, reasonlen)) == NULL)
		return NULL;
	if ((signer = trust_signer_of(msg_str(m, "type"))) == NULL) {
		snprintf(reason, reasonlen, "MSG_WRONG_TYPE: %s is not accepted here",
		    msg_str(m, "type"));
		json_decref(m);
		return NULL;
	}
	v = envelope_verify(m, trusted, kid, sizeof(kid));
	/* A ring may hold other keys: only the table's signer counts. */
	if (v == SIG_OK && strcmp(kid, signer) != 0)
		v = SIG_UNTRUSTED_KID;
	if (v != SIG_OK) {
		snprintf(reason, reasonlen, "%s: %s is not signed by wingman-%s",
		    envelope_verdict_code(v), msg_str(m, "type"), signer);
		audit_record(audit, msg_str(m, "request_id"), "refused",
		    json_pack("{s:s}", "reason", reason));
		json_decref(m);
		return NULL;
	}
	return m;
}

int
trust_result_signer_ok(const char *status, const char *kid)
{
	static const struct {
		const char *kid;
		const char *statuses[7];
	} entitled[] = {
		{ "executor",
		    { "executed", "shadow", "failed", "interrupted", "frozen", "rejected", NULL } },
		{ "approval", { "rejected", "expired", "invalid", NULL } },
	};

	for (size_t i = 0; i < ARRAY_LEN(entitled); i++) {
		if (strcmp(entitled[i].kid, kid) != 0)
			continue;
		for (const char *const *st = entitled[i].statuses; *st != NULL; st++)
			if (strcmp(*st, status) == 0)
				return 1;
	}
	return 0;
}

int
trust_result_verify(const json_t *result, const struct keyring *keys, char *kid, size_t kidlen,
    char *why, size_t whylen)
{
	enum envelope_verdict v;
	const char *status = msg_str(result, "status");

	if ((v = envelope_verify(result, keys, kid, kidlen)) != SIG_OK) {
		snprintf(why, whylen, "%s: a '%s' result with no valid signature of a stage",
		    envelope_verdict_code(v), status);
		return 0;
	}
	if (!trust_result_signer_ok(status, kid)) {
		snprintf(why, whylen,
		    "RESULT_SIGNER_NOT_ENTITLED: wingman-%s may not end a request as '%s'", kid,
		    status);
		return 0;
	}
	return 1;
}

const char *
evidence_verdict_code(enum evidence_verdict v)
{
	switch (v) {
	case EVIDENCE_OK:
		return "EVIDENCE_OK";
	case EVIDENCE_UNSIGNED:
		return "EVIDENCE_UNSIGNED";
	case EVIDENCE_MISMATCH:
		return "EVIDENCE_MISMATCH";
	case EVIDENCE_REQUEST:
		return "EVIDENCE_REQUEST";
	case EVIDENCE_INVALID:
		return "EVIDENCE_INVALID";
	case EVIDENCE_DENIED:
		return "EVIDENCE_DENIED";
	case EVIDENCE_BAD_DECISION:
		return "EVIDENCE_BAD_DECISION";
	case EVIDENCE_NO_QUORUM:
		return "EVIDENCE_NO_QUORUM";
	}
	return "EVIDENCE_UNKNOWN";
}

json_int_t
assessment_votes_for(const json_t *assessment)
{
	const json_t *vote;
	json_int_t n = 0;
	size_t i;

	json_array_foreach(json_object_get(assessment, "votes"), i,
	    vote) if (json_is_true(json_object_get(vote, "approve")) &&
	    !json_is_true(json_object_get(vote, "abstain"))) n++;
	return n;
}

/*
 * The human decisions that count: each signed by its approver's own key (or
 * relayed by the bot), an approval of this request and these commands, by a
 * policy approver who may decide for this worker; each approver once.
 * Anything else in the evidence is a forgery or a mix-up: refuse it all.
 */
static enum evidence_verdict
count_humans(const struct policy *policy, const struct trust_keys *keys, const char *request_id,
    const char *worker_id, const json_t *commands, const json_t *decisions, int *direct,
    int *relayed, char *why, size_t whylen)
{
	const char *seen[16];
	const json_t *d;
	size_t i, n_seen = 0;

	*direct = *relayed = 0;
	json_array_foreach(decisions, i, d)
	{
		const char *approver = msg_str(d, "approver");
		char err[MSG_REASON_MAX];
		size_t j;

		if (msg_validate(d, "human_decision", err, sizeof(err)) != 0) {
			snprintf(why, whylen, "EVIDENCE_BAD_DECISION: decision %zu: %s", i + 1, err);
			return EVIDENCE_BAD_DECISION;
		}
		if (trust_check_human_decision(keys, d, err, sizeof(err)) != 0) {
			snprintf(why, whylen, "EVIDENCE_BAD_DECISION: %s", err);
			return EVIDENCE_BAD_DECISION;
		}
		if (strcmp(msg_str(d, "request_id"), request_id) != 0 ||
		    strcmp(msg_str(d, "decision"), "approve") != 0 ||
		    !json_equal((json_t *)json_object_get(d, "commands"), (json_t *)commands)) {
			snprintf(why, whylen,
			    "EVIDENCE_BAD_DECISION: %s's decision is not an approval of "
			    "request %s and these commands",
			    approver, request_id);
			return EVIDENCE_BAD_DECISION;
		}
		if (!policy_may_decide(policy, approver, worker_id)) {
			snprintf(why, whylen,
			    "EVIDENCE_BAD_DECISION: '%s' may not decide for worker '%s'", approver,
			    worker_id);
			return EVIDENCE_BAD_DECISION;
		}
		for (j = 0; j < n_seen; j++)
			if (strcmp(seen[j], approver) == 0)
				break;
		if (j < n_seen || n_seen == ARRAY_LEN(seen))
			continue;
		seen[n_seen++] = approver;
		if (strcmp(msg_str(d, "channel"), "telegram") == 0)
			(*relayed)++;
		else
			(*direct)++;
	}
	return EVIDENCE_OK;
}

enum evidence_verdict
evidence_check(const struct policy *policy, const struct trust_keys *keys, const char *request_id,
    const char *worker_id, const char *environment, const json_t *commands, const json_t *evidence,
    char *why, size_t whylen)
{
	const json_t *assessment = json_object_get(evidence, "assessment");
	const json_t *request = json_object_get(assessment, "request"), *cmd;
	const struct policy_env *env;
	enum evidence_verdict v;
	enum envelope_verdict sv;
	char err[MSG_REASON_MAX];
	int need_human = 0, direct, relayed, counted;
	size_t i;

	if (msg_validate(assessment, "assessment", err, sizeof(err)) != 0) {
		snprintf(why, whylen, "EVIDENCE_UNSIGNED: no valid assessment: %s", err);
		return EVIDENCE_UNSIGNED;
	}
	if ((sv = envelope_verify(assessment, &keys->consensus, NULL, 0)) != SIG_OK) {
		snprintf(why, whylen,
		    "EVIDENCE_UNSIGNED: %s: the assessment is not signed by "
		    "wingman-consensus",
		    envelope_verdict_code(sv));
		return EVIDENCE_UNSIGNED;
	}
	if (strcmp(msg_str(assessment, "request_id"), request_id) != 0 ||
	    strcmp(msg_str(request, "worker_id"), worker_id) != 0 ||
	    strcmp(msg_str(request, "environment"), environment) != 0 ||
	    !json_equal((json_t *)json_object_get(request, "commands"), (json_t *)commands)) {
		snprintf(why, whylen,
		    "EVIDENCE_MISMATCH: the assessment is not of request %s by %s in %s "
		    "with exactly these commands",
		    request_id, worker_id, environment);
		return EVIDENCE_MISMATCH;
	}
	if (!json_is_true(json_object_get(assessment, "valid"))) {
		snprintf(why, whylen, "EVIDENCE_INVALID: the assessment found the request invalid");
		return EVIDENCE_INVALID;
	}
	if ((env = policy_env(policy, environment)) == NULL) {
		snprintf(why, whylen, "POLICY_UNKNOWN_ENV: environment '%s' is not in the policy",
		    environment);
		return EVIDENCE_INVALID;
	}
	if (trust_check_request(keys, env, request, why, whylen) != 0)
		return EVIDENCE_REQUEST;
	/* Our own parse of each command decides its action, never a label. */
	json_array_foreach(commands, i, cmd)
	{
		struct command parsed;
		enum policy_mode mode;

		if (command_parse(json_string_value(cmd), &parsed, err, sizeof(err)) != 0) {
			snprintf(why, whylen, "%s", err);
			return EVIDENCE_INVALID;
		}
		switch (policy_check_command(env, &parsed, &mode, why, whylen)) {
		case POLICY_OUTSIDE:
			return EVIDENCE_INVALID;
		case POLICY_FORBIDDEN:
			return EVIDENCE_DENIED;
		case POLICY_ALLOWED:
			break;
		}
		if (mode != POLICY_AUTO)
			need_human = 1;
	}
	if (!need_human &&
	    assessment_votes_for(assessment) >=
	        json_integer_value(json_object_get(assessment, "threshold")))
		return EVIDENCE_OK;
	v = count_humans(policy, keys, request_id, worker_id, commands,
	    json_object_get(evidence, "human_decisions"), &direct, &relayed, why, whylen);
	if (v != EVIDENCE_OK)
		return v;
	counted = direct +
	    (relayed < env->max_relayed_approvals ? relayed : env->max_relayed_approvals);
	if (counted < env->approvers_required) {
		snprintf(why, whylen,
		    "EVIDENCE_NO_QUORUM: %d approvers needed (at most %d through "
		    "Telegram), the evidence has %d direct and %d relayed",
		    env->approvers_required, env->max_relayed_approvals, direct, relayed);
		return EVIDENCE_NO_QUORUM;
	}
	return EVIDENCE_OK;
}
