/*
 * Handlers of wingman.assessments and wingman.human-decisions. Each one:
 * decode strictly, check the signature of the stage before, decide (pure),
 * act on PostgreSQL in one transaction, publish, audit. The message
 * published for a request is stored with it, so a redelivered input gets
 * the very same output again.
 */
#include "approval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "envelope.h"
#include "failpoint.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "util.h"

void
approval_decide(const struct policy *policy, const json_t *assessment, struct approval_plan *plan)
{
	const json_t *request = json_object_get(assessment, "request"), *action;
	const json_t *commands = json_object_get(request, "commands");
	const struct policy_env *env;
	int all_auto = 1;
	size_t i;

	memset(plan, 0, sizeof(*plan));
	plan->approvers_required = 1;
	plan->approval_timeout_s = 1;
	plan->token_ttl_s = 1;
	if (!json_is_true(json_object_get(assessment, "valid"))) {
		plan->verdict = APPROVAL_INVALID;
		snprintf(plan->reason, sizeof(plan->reason), "%s", msg_str(assessment, "reason"));
		return;
	}
	if ((env = policy_env(policy, msg_str(request, "environment"))) == NULL) {
		plan->verdict = APPROVAL_INVALID;
		snprintf(plan->reason, sizeof(plan->reason),
		    "POLICY_UNKNOWN_ENV: environment '%s' is not in the policy",
		    msg_str(request, "environment"));
		return;
	}
	/*
	 * Tokens are minted for request.commands; the labels must describe that
	 * very list, in order, or the assessment is not about what would run.
	 */
	if (json_array_size(json_object_get(assessment, "actions")) != json_array_size(commands)) {
		plan->verdict = APPROVAL_MISLABELED;
		snprintf(plan->reason, sizeof(plan->reason),
		    "ASSESSMENT_MISLABELED: %zu actions for %zu commands",
		    json_array_size(json_object_get(assessment, "actions")),
		    json_array_size(commands));
		return;
	}
	plan->approvers_required = env->approvers_required;
	plan->approval_timeout_s = env->approval_timeout_s;
	plan->token_ttl_s = env->token_ttl_s;
	json_array_foreach(json_object_get(assessment, "actions"), i, action)
	{
		const char *cmdline = json_string_value(json_array_get(commands, i));
		struct command cmd;
		enum policy_mode mode;
		char err[256];

		/* Our own parse is what is judged; a label that disagrees is a lie. */
		if (strcmp(msg_str(action, "cmd"), cmdline) != 0 ||
		    command_parse(cmdline, &cmd, err, sizeof(err)) != 0 ||
		    strcmp(msg_str(action, "action"), command_action_name(cmd.action)) != 0 ||
		    strcmp(msg_str(action, "container"), cmd.container) != 0) {
			plan->verdict = APPROVAL_MISLABELED;
			snprintf(plan->reason, sizeof(plan->reason),
			    "ASSESSMENT_MISLABELED: action %zu "
			    "(%s on '%s') does not describe command %zu",
			    i + 1, msg_str(action, "action"), msg_str(action, "container"), i + 1);
			return;
		}
		switch (policy_check_command(env, &cmd, &mode, plan->reason, sizeof(plan->reason))) {
		case POLICY_OUTSIDE:
			plan->verdict = APPROVAL_INVALID;
			return;
		case POLICY_FORBIDDEN:
			plan->verdict = APPROVAL_REJECT;
			return;
		case POLICY_ALLOWED:
			break;
		}
		if (mode != POLICY_AUTO)
			all_auto = 0;
	}
	/* Auto-approval needs both the policy and enough approving votes. */
	if (all_auto &&
	    assessment_votes_for(assessment) >=
	        json_integer_value(json_object_get(assessment, "threshold"))) {
		plan->verdict = APPROVAL_AUTO;
		snprintf(plan->reason, sizeof(plan->reason), "auto-approved by policy and votes");
	} else {
		plan->verdict = APPROVAL_HUMAN;
		snprintf(plan->reason, sizeof(plan->reason), "%s",
		    all_auto ? "votes did not reach the threshold" : "policy requires a human");
	}
}

/*
 * The decision for wingman-token, carrying its evidence (trust rule 8): the
 * assessment and the signed human decisions, as their signers made them.
 * approved_by and human_decisions are stolen.
 */
static json_t *
decision_new(const char *request_id, const json_t *assessment, json_t *approved_by,
    json_t *human_decisions, int ttl)
{
	const json_t *request = json_object_get(assessment, "request");
	const char *worker = msg_str(request, "worker_id"), *env = msg_str(request, "environment");
	const json_t *commands = json_object_get(request, "commands");
	json_t *d = msg_new("decision", request_id);

	if (d == NULL) {
		json_decref(approved_by);
		json_decref(human_decisions);
		return NULL;
	}
	json_object_set_new(d, "worker_id", json_string(worker));
	json_object_set_new(d, "environment", json_string(env));
	json_object_set_new(d, "commands", json_deep_copy(commands));
	json_object_set_new(d, "approved_by", approved_by);
	json_object_set(d, "decided_at", json_object_get(d, "ts"));
	json_object_set_new(d, "token_ttl_s", json_integer(ttl));
	json_object_set_new(d, "evidence",
	    json_pack("{s:O, s:o}", "assessment", (json_t *)assessment, "human_decisions",
	        human_decisions));
	return d;
}

static json_t *
prompt_new(const json_t *assessment, const struct approval_plan *plan)
{
	const json_t *request = json_object_get(assessment, "request");
	json_t *p = msg_new("approval_prompt", msg_str(assessment, "request_id"));
	char expires[32];

	format_ts_ms(now_ms() + (int64_t)plan->approval_timeout_s * 1000, expires);
	json_object_set_new(p, "environment", json_string(msg_str(request, "environment")));
	json_object_set_new(p, "worker_id", json_string(msg_str(request, "worker_id")));
	json_object_set_new(p, "instruction", json_string(msg_str(request, "instruction")));
	json_object_set_new(p, "commands", json_deep_copy(json_object_get(request, "commands")));
	json_object_set_new(p, "risk", json_string(msg_str(assessment, "risk")));
	json_object_set_new(p, "votes", json_deep_copy(json_object_get(assessment, "votes")));
	json_object_set_new(p, "dissent", json_deep_copy(json_object_get(assessment, "dissent")));
	json_object_set_new(p, "approvers_required", json_integer(plan->approvers_required));
	json_object_set_new(p, "approvals", json_array());
	json_object_set_new(p, "expires_at", json_string(expires));
	return p;
}

json_t *
approval_update_new(const char *request_id, const char *state, const json_t *approvals,
    int approvers_required, json_t *decided_by, const char *reason)
{
	json_t *u = msg_new("approval_update", request_id);

	if (u == NULL) {
		json_decref(decided_by);
		return NULL;
	}
	json_object_set_new(u, "state", json_string(state));
	json_object_set_new(u, "approvals", approvals ? json_deep_copy(approvals) : json_array());
	json_object_set_new(u, "approvers_required", json_integer(approvers_required));
	json_object_set_new(u, "decided_by", decided_by ? decided_by : json_array());
	json_object_set_new(u, "reason", json_string(reason ? reason : ""));
	return u;
}

static enum handler_rc
emit_stored(struct outbox *out, const char *request_id, char *topic, char *text)
{
	json_t *msg = text ? json_loads(text, 0, NULL) : NULL;
	enum handler_rc rc = HANDLER_TEMPFAIL;

	if (msg != NULL && topic != NULL && outbox_add(out, topic, request_id, msg) == 0)
		rc = HANDLER_OK;
	free(topic);
	free(text);
	return rc;
}

static enum handler_rc
on_assessment(struct approval_ctx *ctx, const struct stage_input *in, struct outbox *out,
    char *reason, size_t reasonlen)
{
	json_t *a, *outcome = NULL, *request;
	struct approval_plan plan;
	const char *rid, *state, *topic;
	char *prev_topic = NULL, *prev_outcome = NULL;
	enum store_rc src;
	int batched;

	if ((a = msg_accept(in, "assessment", &ctx->keys.consensus, ctx->audit, reason,
	         reasonlen)) == NULL)
		return HANDLER_PERMFAIL;
	rid = msg_str(a, "request_id");
	request = json_object_get(a, "request");
	approval_decide(&ctx->policy, a, &plan);
	if (plan.verdict == APPROVAL_MISLABELED) {
		/* Consensus signed labels that are not the commands: nothing of it is used. */
		snprintf(reason, reasonlen, "%s", plan.reason);
		log_warnx("event=refused request_id=%s reason=\"%s\"", rid, reason);
		audit_record(ctx->audit, rid, "refused", json_pack("{s:s}", "reason", reason));
		json_decref(a);
		return HANDLER_PERMFAIL;
	}
	/* The agent's own signature, where it signed or the policy demands it. */
	if (plan.verdict != APPROVAL_INVALID &&
	    trust_check_request(&ctx->keys,
	        policy_env(&ctx->policy, msg_str(request, "environment")), request, plan.reason,
	        sizeof(plan.reason)) != 0)
		plan.verdict = APPROVAL_INVALID;
	switch (plan.verdict) {
	case APPROVAL_INVALID:
		state = "invalid";
		topic = TOPIC_RESULTS;
		outcome = result_new(rid, "invalid", plan.reason, NULL);
		break;
	case APPROVAL_REJECT:
		state = "rejected";
		topic = TOPIC_RESULTS;
		outcome = result_new(rid, "rejected", plan.reason, NULL);
		break;
	case APPROVAL_AUTO:
		state = "approved";
		topic = TOPIC_DECISIONS;
		outcome = decision_new(rid, a, json_pack("[s]", "auto"), json_array(),
		    plan.token_ttl_s);
		break;
	default:
		state = "pending";
		topic = TOPIC_APPROVAL_PROMPTS;
		outcome = prompt_new(a, &plan);
		break;
	}
	if (outcome == NULL || envelope_sign(outcome, "approval", ctx->sign_key) != 0) {
		snprintf(reason, reasonlen, "SIGN_FAILED: cannot sign the outcome");
		json_decref(outcome);
		json_decref(a);
		return HANDLER_TEMPFAIL;
	}
	/*
	 * In a batch the new requests share one transaction, committed with
	 * their audit rows when the lane ends (approval_lane_end), before any
	 * output is published; alone (--stdin), one transaction each.
	 */
	batched = audit_batching(ctx->audit);
	src = (batched ? store_batch_join(ctx->store) : store_begin(ctx->store)) != 0
	    ? STORE_DOWN
	    : store_insert(ctx->store, a, state, &plan, topic, outcome, &prev_topic, &prev_outcome);
	if (src == STORE_OK) {
		/* The request's state and the audit row saying so commit together. */
		audit_record(ctx->audit, rid,
		    plan.verdict == APPROVAL_AUTO ? "auto_approved" : state,
		    json_pack("{s:s, s:s, s:i}", "state", state, "reason", plan.reason,
		        "approvers_required", plan.approvers_required));
		if (!batched && store_commit_audited(ctx->store, ctx->audit) != 0)
			src = STORE_DOWN;
	}
	if (src == STORE_DOWN && batched) {
		/* The batch's transaction is lost: every request of it is stored again. */
		store_rollback(ctx->store);
		audit_batch_fail(ctx->audit);
	} else if (src != STORE_OK && !batched) {
		store_rollback(ctx->store);
	}
	if (src == STORE_DOWN) {
		snprintf(reason, reasonlen, "STORE_UNAVAILABLE: cannot record request %s", rid);
		json_decref(outcome);
		json_decref(a);
		return HANDLER_TEMPFAIL;
	}
	if (src == STORE_EXISTS) {
		enum handler_rc rc;

		/* Seen before: the first outcome stands and is sent again. */
		log_info("event=duplicate request_id=%s", rid);
		json_decref(outcome);
		rc = emit_stored(out, rid, prev_topic, prev_outcome);
		json_decref(a); /* rid points into it */
		return rc;
	}
	log_info("event=assessment_handled request_id=%s state=%s reason=\"%s\"", rid, state,
	    plan.reason);
	outbox_add(out, topic, rid, outcome);
	json_decref(a);
	return HANDLER_OK;
}

/*
 * Ends a locked request: signs the outcome and the approval_update for the
 * human channel, stores both with the state, commits, then queues them
 * (outcome first). Takes outcome and update.
 */
static enum handler_rc
finish_locked(struct approval_ctx *ctx, struct outbox *out, const char *rid, const char *state,
    const char *reason, const char *topic, json_t *outcome, json_t *update, const char *decided_msg)
{
	if (outcome == NULL || update == NULL ||
	    (!ctx->in_tick && FAILPOINT("approval.before_decision_store") != 0) ||
	    envelope_sign(outcome, "approval", ctx->sign_key) != 0 ||
	    envelope_sign(update, "approval", ctx->sign_key) != 0 ||
	    store_finish(ctx->store, rid, state, reason, topic, outcome, update, decided_msg,
	        !ctx->in_tick) != STORE_OK ||
	    audit_record(ctx->audit, rid, state, json_pack("{s:s}", "reason", reason)) != 0 ||
	    (ctx->in_tick && FAILPOINT("approval.tick_before_commit") != 0) ||
	    store_commit_audited(ctx->store, ctx->audit) != 0) {
		json_decref(outcome);
		json_decref(update);
		store_rollback(ctx->store);
		return HANDLER_TEMPFAIL;
	}
	outbox_add(out, topic, rid, outcome);
	outbox_add(out, TOPIC_APPROVAL_PROMPTS, rid, update);
	if (ctx->in_tick)
		json_array_append_new(ctx->tick_ids, json_string(rid));
	return HANDLER_OK;
}

/*
 * The approving votes that still hold when read back from PostgreSQL: each
 * the signed human_decision of its approver, approving this request and its
 * commands (trust rule 8: no stored row is trusted). A vote that fails is
 * audited and left out. *names (display) and *messages (evidence) are new.
 */
static void
verified_votes(struct approval_ctx *ctx, const char *rid, const struct pending_request *req,
    json_t **names, json_t **messages)
{
	const json_t *commands = json_object_get(json_object_get(req->assessment, "request"),
	    "commands");
	const json_t *vote;
	size_t i;

	*names = json_array();
	*messages = json_array();
	json_array_foreach(req->votes, i, vote)
	{
		const json_t *m = json_object_get(vote, "message");
		const char *approver = msg_str(vote, "approver");
		char why[MSG_REASON_MAX] =
		    "STATE_TAMPERED: the stored vote is not its signed decision";

		if (msg_validate(m, "human_decision", why, sizeof(why)) != 0 ||
		    trust_check_human_decision(&ctx->keys, m, why, sizeof(why)) != 0 ||
		    strcmp(msg_str(m, "approver"), approver) != 0 ||
		    strcmp(msg_str(m, "request_id"), rid) != 0 ||
		    strcmp(msg_str(m, "decision"), "approve") != 0 ||
		    !json_equal((json_t *)json_object_get(m, "commands"), (json_t *)commands)) {
			log_warnx("event=vote_refused request_id=%s approver=%s reason=\"%s\"", rid,
			    approver, why);
			audit_record(ctx->audit, rid, "state_tampered",
			    json_pack("{s:s, s:s}", "approver", approver, "reason", why));
			continue;
		}
		json_array_append_new(*names, json_string(approver));
		json_array_append(*messages, (json_t *)m);
	}
}

static enum handler_rc
finish_expired(struct approval_ctx *ctx, struct outbox *out, const char *rid,
    const struct pending_request *req)
{
	static const char why[] = "EXPIRED: nobody decided in time";
	json_t *names, *messages;
	enum handler_rc rc;

	verified_votes(ctx, rid, req, &names, &messages);
	rc = finish_locked(ctx, out, rid, "expired", why, TOPIC_RESULTS,
	    result_new(rid, "expired", why, NULL),
	    approval_update_new(rid, "expired", names, req->approvers_required, NULL, why), "");
	json_decref(names);
	json_decref(messages);
	return rc;
}

/* 1 when the stored vote of approver is this very message (its signature), redelivered. */
static int
vote_is_this(const json_t *votes, const char *approver, const char *sig_value)
{
	const json_t *v;
	size_t i;

	json_array_foreach(votes, i, v)
	{
		if (strcmp(msg_str(v, "approver"), approver) == 0)
			return strcmp(msg_str(json_object_get(json_object_get(v, "message"), "sig"),
			                  "value"),
			           sig_value) == 0;
	}
	return 0;
}

/* Signs and queues a copy of an approval_update for a request still pending. */
static void
emit_pending_update(struct approval_ctx *ctx, struct outbox *out, const char *rid,
    const json_t *approvals, int required)
{
	json_t *u = approval_update_new(rid, "pending", approvals, required, NULL, "");

	if (u == NULL || envelope_sign(u, "approval", ctx->sign_key) != 0) {
		log_warnx("event=update_not_signed request_id=%s", rid);
		json_decref(u);
		return;
	}
	outbox_add(out, TOPIC_APPROVAL_PROMPTS, rid, u);
}

/*
 * A decision on a request that is no longer pending. The final update is
 * sent again (the human channel may have missed it; editing a message twice
 * is harmless). When this is the very message that decided, redelivered
 * because its outputs may not have been published, the outcome goes out
 * again too: the token service gives a redelivered decision the same token.
 */
static void
emit_final_again(struct outbox *out, const char *rid, const struct pending_request *req,
    const char *sig_value)
{
	if (*req->decided_msg != '\0' && strcmp(req->decided_msg, sig_value) == 0 &&
	    req->outcome != NULL)
		outbox_add(out, req->outcome_topic, rid, json_incref(req->outcome));
	if (req->final_update != NULL)
		outbox_add(out, TOPIC_APPROVAL_PROMPTS, rid, json_incref(req->final_update));
}

/*
 * Which human decision an audit row is about: the first 22 characters of
 * its signature (132 bits). `wingman approve` waits for the row that names
 * the decision it sent: that is its acknowledgement.
 */
static json_t *
decision_ref(const json_t *d)
{
	return json_stringn(msg_str(json_object_get(d, "sig"), "value"), 22);
}

/* An audit row about human decision d: approver, channel and its ref added. */
static void
audit_decision(struct approval_ctx *ctx, const json_t *d, const char *event, json_t *details)
{
	if (details == NULL)
		details = json_object();
	json_object_set_new(details, "approver", json_string(msg_str(d, "approver")));
	json_object_set_new(details, "channel", json_string(msg_str(d, "channel")));
	json_object_set_new(details, "decision_ref", decision_ref(d));
	audit_record(ctx->audit, msg_str(d, "request_id"), event, details);
}

/* Refuses a human decision: logged, audited, dead-lettered by the stage. */
static enum handler_rc
refuse_decision(struct approval_ctx *ctx, const json_t *d, char *reason, size_t reasonlen,
    const char *why)
{
	snprintf(reason, reasonlen, "%s", why);
	log_warnx("event=refused request_id=%s approver=%s reason=\"%s\"", msg_str(d, "request_id"),
	    msg_str(d, "approver"), why);
	audit_decision(ctx, d, "refused", json_pack("{s:s}", "reason", why));
	return HANDLER_PERMFAIL;
}

/*
 * Counts one decoded human decision: its signer, the request it is for, the
 * policy, then the vote. A decision for a request not stored yet is kept
 * (early_decisions) and counted when the request arrives (approval_tick):
 * Kafka gives no order between the assessment and the human-decisions
 * topic, and a restart may read them either way round. Borrows d.
 */
static enum handler_rc
count_decision(struct approval_ctx *ctx, json_t *d, struct outbox *out, char *reason,
    size_t reasonlen)
{
	json_t *votes = NULL, *names = NULL, *messages = NULL, *evidence = NULL;
	const json_t *request, *commands;
	struct pending_request req;
	char why[MSG_REASON_MAX];
	const char *rid, *approver, *decision, *sig_value;
	enum evidence_verdict ev;
	enum store_rc src;
	enum handler_rc rc = HANDLER_OK;
	int inserted = 0;
	struct audit_mark mark = audit_mark(ctx->audit);

	memset(&req, 0, sizeof(req));
	rid = msg_str(d, "request_id");
	approver = msg_str(d, "approver");
	decision = msg_str(d, "decision");
	sig_value = msg_str(json_object_get(d, "sig"), "value");
	if (!policy_is_approver(&ctx->policy, approver)) {
		snprintf(why, sizeof(why), "APPROVER_UNKNOWN: '%s' is not an approver", approver);
		rc = refuse_decision(ctx, d, reason, reasonlen, why);
		goto done;
	}
	if (trust_check_human_decision(&ctx->keys, d, why, sizeof(why)) != 0) {
		rc = refuse_decision(ctx, d, reason, reasonlen, why);
		goto done;
	}
	src = store_lock(ctx->store, rid, &req);
	if (src == STORE_DOWN) {
		snprintf(reason, reasonlen, "STORE_UNAVAILABLE: cannot lock request %s", rid);
		rc = HANDLER_TEMPFAIL;
		goto done;
	}
	if (src == STORE_NOT_FOUND) {
		/* Not here yet: kept, and counted when its assessment arrives. */
		if (store_early_add(ctx->store, d) != STORE_OK) {
			snprintf(reason, reasonlen,
			    "STORE_UNAVAILABLE: cannot keep the early decision");
			rc = HANDLER_TEMPFAIL;
			goto done;
		}
		log_info("event=early_decision request_id=%s approver=%s", rid, approver);
		audit_decision(ctx, d, "early_decision", json_pack("{s:s}", "decision", decision));
		goto done;
	}
	/* The stored assessment is used only if its consensus signature still holds. */
	if (envelope_verify(req.assessment, &ctx->keys.consensus, NULL, 0) != SIG_OK ||
	    strcmp(msg_str(req.assessment, "request_id"), rid) != 0) {
		store_rollback(ctx->store);
		rc = refuse_decision(ctx, d, reason, reasonlen,
		    "STATE_TAMPERED: the stored assessment is not the one wingman-consensus signed");
		goto done;
	}
	request = json_object_get(req.assessment, "request");
	commands = json_object_get(request, "commands");
	if (strcmp(req.state, "pending") != 0) {
		/* The first final decision won: this one changes nothing. */
		store_rollback(ctx->store);
		log_info("event=already_decided request_id=%s approver=%s state=%s", rid, approver,
		    req.state);
		audit_decision(ctx, d, "late_decision",
		    json_pack("{s:s, s:s}", "decision", decision, "state", req.state));
		emit_final_again(out, rid, &req, sig_value);
		goto done;
	}
	/* The human decides on exactly the commands that would run (trust rule 5). */
	if (!json_equal(json_object_get(d, "commands"), (json_t *)commands)) {
		store_rollback(ctx->store);
		rc = refuse_decision(ctx, d, reason, reasonlen,
		    "DECISION_MISMATCH: the decision is about other commands than the request's");
		goto done;
	}
	if (req.expired) {
		rc = finish_expired(ctx, out, rid, &req);
		goto done;
	}
	/* Separation of duties: nobody decides a request they are responsible for. */
	if (!policy_may_decide(&ctx->policy, approver, req.worker_id)) {
		const char *refusal = policy_requested_by(approver, req.worker_id)
		    ? "APPROVER_IS_REQUESTER: nobody decides a request they asked for"
		    : "APPROVER_IS_OWNER: an approver cannot decide for their own worker";

		store_rollback(ctx->store);
		log_warnx("event=refused request_id=%s approver=%s reason=%.*s", rid, approver,
		    (int)strcspn(refusal, ":"), refusal);
		audit_decision(ctx, d, "refused", json_pack("{s:s}", "reason", refusal));
		goto done;
	}
	if (store_vote(ctx->store, rid, d, &inserted, &votes) != STORE_OK) {
		store_rollback(ctx->store);
		snprintf(reason, reasonlen, "STORE_UNAVAILABLE: cannot record the vote");
		rc = HANDLER_TEMPFAIL;
		goto done;
	}
	json_decref(req.votes);
	req.votes = votes;
	votes = NULL;
	verified_votes(ctx, rid, &req, &names, &messages);
	audit_decision(ctx, d, "human_vote",
	    json_pack("{s:s, s:b}", "decision", decision, "counted", inserted));
	if (strcmp(decision, "reject") == 0) {
		/* Any reject ends the request. */
		snprintf(why, sizeof(why), "REJECTED: by %s: %s", approver, msg_str(d, "reason"));
		rc = finish_locked(ctx, out, rid, "rejected", why, TOPIC_RESULTS,
		    result_new(rid, "rejected", why, NULL),
		    approval_update_new(rid, "rejected", names, req.approvers_required,
		        json_pack("[s]", approver), why),
		    sig_value);
		goto done;
	}
	/*
	 * Enough approvers is the executor's rule, applied here to the same
	 * evidence it will get: distinct approvers, at most so many relayed.
	 */
	evidence = json_pack("{s:O, s:O}", "assessment", req.assessment, "human_decisions",
	    messages);
	ev = evidence_check(&ctx->policy, &ctx->keys, rid, req.worker_id, req.environment, commands,
	    evidence, why, sizeof(why));
	if (ev == EVIDENCE_OK) {
		rc = finish_locked(ctx, out, rid, "approved", "approved", TOPIC_DECISIONS,
		    decision_new(rid, req.assessment, json_deep_copy(names), json_incref(messages),
		        req.token_ttl_s),
		    approval_update_new(rid, "approved", names, req.approvers_required,
		        json_deep_copy(names), ""),
		    sig_value);
		/* Stored as approved, its decision not yet published. */
		if (rc == HANDLER_OK)
			(void)FAILPOINT("approval.after_store");
	} else if (ev != EVIDENCE_NO_QUORUM) {
		/* The policy changed under a pending request: it no longer allows it. */
		rc = finish_locked(ctx, out, rid, "rejected", why, TOPIC_RESULTS,
		    result_new(rid, "rejected", why, NULL),
		    approval_update_new(rid, "rejected", names, req.approvers_required, NULL, why),
		    sig_value);
	} else if (store_commit_audited(ctx->store, ctx->audit) != 0) {
		store_rollback(ctx->store);
		rc = HANDLER_TEMPFAIL;
	} else if (inserted || vote_is_this(req.votes, approver, sig_value)) {
		/*
		 * Counted, not enough yet: the human channel shows the progress.
		 * Again for the same decision read again: the first update may
		 * have been dropped with a batch that failed after it.
		 */
		emit_pending_update(ctx, out, rid, names, req.approvers_required);
	}
done:
	if (rc == HANDLER_TEMPFAIL) {
		if (reason[0] == '\0')
			snprintf(reason, reasonlen, "STORE_UNAVAILABLE: cannot record the decision");
		/* Rolled back, to be done again: its rows (a vote not stored) come again then. */
		audit_drop_since(ctx->audit, mark);
	}
	json_decref(evidence);
	json_decref(names);
	json_decref(messages);
	json_decref(votes);
	pending_request_free(&req);
	return rc;
}

static enum handler_rc
on_human_decision(struct approval_ctx *ctx, const struct stage_input *in, struct outbox *out,
    char *reason, size_t reasonlen)
{
	enum handler_rc rc;
	json_t *d;

	if ((d = msg_decode(in->payload, in->len, "human_decision", reason, reasonlen)) == NULL)
		return HANDLER_PERMFAIL;
	rc = count_decision(ctx, d, out, reason, reasonlen);
	json_decref(d);
	return rc;
}

enum handler_rc
approval_handle(void *ctxp, const struct stage_input *in, struct outbox *out, char *reason,
    size_t reasonlen)
{
	struct approval_ctx *ctx = ctxp;

	if (strcmp(in->topic, TOPIC_HUMAN_DECISIONS) != 0)
		return on_assessment(ctx, in, out, reason, reasonlen);
	/* A decision locks and changes stored requests: what the batch stored is committed first. */
	if (approval_lane_end(ctx) != 0) {
		audit_batch_fail(ctx->audit);
		snprintf(reason, reasonlen, "STORE_UNAVAILABLE: cannot commit the batch's requests");
		return HANDLER_TEMPFAIL;
	}
	/*
	 * And the rows of the batch's other work (refusals, kept early decisions)
	 * are written: the decision's transaction takes only its own, so a
	 * COMMIT that fails loses nothing that is not done again.
	 */
	if (audit_flush(ctx->audit) != 0) {
		snprintf(reason, reasonlen,
		    "AUDIT_UNAVAILABLE: cannot write the batch's audit rows");
		return HANDLER_TEMPFAIL;
	}
	return on_human_decision(ctx, in, out, reason, reasonlen);
}

int
approval_lane_end(void *ctxp)
{
	struct approval_ctx *ctx = ctxp;

	return store_batch_end(ctx->store, ctx->audit);
}

/* A dead letter for a kept decision that will not be counted. */
static void
dead_letter_early(struct outbox *out, const json_t *d, const char *text, const char *why)
{
	json_t *dl = msg_new("dead_letter", msg_str(d, "request_id"));

	json_object_set_new(dl, "stage", json_string("wingman-approval"));
	json_object_set_new(dl, "topic", json_string(TOPIC_HUMAN_DECISIONS));
	json_object_set_new(dl, "partition", json_integer(-1));
	json_object_set_new(dl, "offset", json_integer(-1));
	json_object_set_new(dl, "key", json_string(msg_str(d, "request_id")));
	json_object_set_new(dl, "reason", json_stringn(why, strnlen(why, MSG_REASON_MAX)));
	json_object_set_new(dl, "payload", json_stringn(text, strnlen(text, 4096)));
	outbox_add(out, TOPIC_DLQ, msg_str(d, "request_id"), dl);
}

/*
 * Early decisions: those whose request has arrived are counted now, with
 * every check of a decision that came in order; those whose request did not
 * come within early_decision_ttl_s are dead-lettered and audited.
 */
static void
replay_early(struct approval_ctx *ctx, struct outbox *out)
{
	json_t *rows = store_early_due(ctx->store, ctx->early_decision_ttl_s, 32), *row;
	size_t i;

	json_array_foreach(rows, i, row)
	{
		const char *text = msg_str(row, "message");
		char reason[MSG_REASON_MAX] = "", err[MSG_REASON_MAX];
		json_t *d = msg_decode(text, strlen(text), "human_decision", err, sizeof(err));
		enum handler_rc rc = HANDLER_PERMFAIL;

		if (d == NULL) {
			/* Decoded once already: the row was changed under us. */
			log_warnx("event=early_decision_tampered request_id=%s",
			    msg_str(row, "request_id"));
		} else if (json_is_true(json_object_get(row, "arrived"))) {
			rc = count_decision(ctx, d, out, reason, sizeof(reason));
			if (rc == HANDLER_TEMPFAIL) {
				json_decref(d);
				break; /* kept: the next tick tries again */
			}
			if (rc == HANDLER_PERMFAIL)
				dead_letter_early(out, d, text, reason);
		} else {
			snprintf(reason, sizeof(reason),
			    "APPROVAL_UNKNOWN_REQUEST: request %s did not "
			    "arrive within %d s of the decision",
			    msg_str(d, "request_id"), ctx->early_decision_ttl_s);
			log_warnx("event=early_decision_expired request_id=%s approver=%s",
			    msg_str(d, "request_id"), msg_str(d, "approver"));
			audit_decision(ctx, d, "early_decision_expired",
			    json_pack("{s:s}", "reason", reason));
			dead_letter_early(out, d, text, reason);
		}
		/* Its rows are written before the delete commits: kept (and done again) if they are not. */
		if (audit_flush(ctx->audit) != 0) {
			json_decref(d);
			break;
		}
		store_early_delete(ctx->store, msg_str(row, "request_id"), msg_str(row, "approver"));
		json_decref(d);
	}
	json_decref(rows);
}

/* The gauges of requests waiting for humans, from the store; left as they were when it is down. */
static void
count_pending(struct approval_ctx *ctx)
{
	long long pending;
	double soonest;

	if (store_pending_stats(ctx->store, &pending, &soonest) != 0)
		return;
	metric_set(M_PENDING_REQUESTS, NULL, (double)pending);
	if (pending > 0)
		metric_set(M_PENDING_SOONEST_EXPIRY, NULL, soonest > 0 ? soonest : 0);
	else
		metric_clear(M_PENDING_SOONEST_EXPIRY);
}

/*
 * What an earlier tick finished and nobody marked published (it died before
 * its messages were delivered, or they were not): sent again as stored.
 */
static void
resend_unpublished(struct approval_ctx *ctx, struct outbox *out)
{
	json_t *rows = store_unpublished(ctx->store, 32), *row;
	size_t i;

	json_array_foreach(rows, i, row)
	{
		const char *rid = msg_str(row, "request_id");
		json_t *update = json_object_get(row, "update");

		log_info("event=outcome_resent request_id=%s topic=%s", rid, msg_str(row, "topic"));
		outbox_add(out, msg_str(row, "topic"), rid,
		    json_incref(json_object_get(row, "outcome")));
		if (!json_is_null(update))
			outbox_add(out, TOPIC_APPROVAL_PROMPTS, rid, json_incref(update));
		json_array_append_new(ctx->tick_ids, json_string(rid));
	}
	json_decref(rows);
}

void
approval_tick_delivered(void *ctxp)
{
	struct approval_ctx *ctx = ctxp;

	if (ctx->tick_ids != NULL && json_array_size(ctx->tick_ids) > 0 &&
	    store_mark_published(ctx->store, ctx->tick_ids) != 0)
		log_warnx("event=mark_published_failed requests=%zu",
		    json_array_size(ctx->tick_ids)); /* the next tick sends them again */
	json_decref(ctx->tick_ids);
	ctx->tick_ids = NULL;
}

void
approval_tick(void *ctxp, struct outbox *out)
{
	struct approval_ctx *ctx = ctxp;
	json_t *ids, *id;
	size_t i;

	json_decref(ctx->tick_ids);
	ctx->tick_ids = json_array();
	ctx->in_tick = 1;
	/*
	 * Queued, as in a batch: the rows of an expiry or a replayed vote commit
	 * in the transaction of its state (store_commit_audited), the others
	 * when the tick ends.
	 */
	audit_batch_begin(ctx->audit);
	resend_unpublished(ctx, out);
	replay_early(ctx, out);
	ids = store_expired(ctx->store, 32);

	json_array_foreach(ids, i, id)
	{
		const char *rid = json_string_value(id);
		struct pending_request req;

		if (store_lock(ctx->store, rid, &req) != STORE_OK)
			continue;
		if (strcmp(req.state, "pending") != 0 || !req.expired) {
			store_rollback(ctx->store);
		} else {
			struct audit_mark mark = audit_mark(ctx->audit);

			log_info("event=expired request_id=%s", rid);
			/* Expired and committed, nothing published yet. */
			if (finish_expired(ctx, out, rid, &req) == HANDLER_OK) {
				(void)FAILPOINT("approval.tick_after_commit");
			} else {
				/* Rolled back: the next tick expires it, and tells it, again. */
				log_warnx("event=expiry_failed request_id=%s", rid);
				audit_drop_since(ctx->audit, mark);
			}
		}
		pending_request_free(&req);
	}
	json_decref(ids);
	if (ctx->audit != NULL && audit_batch_commit(ctx->audit) != 0)
		log_warnx("event=audit_write_failed when=tick");
	ctx->in_tick = 0;
	count_pending(ctx);
}
