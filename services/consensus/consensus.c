/*
 * Handler of wingman.requests: decode strictly, parse every command (no
 * vote for what is outside the grammar), ask the voters, publish one signed
 * assessment. An undecodable request that still names a request id gets an
 * `invalid` result at once, so its agent is not left waiting.
 */
#include "consensus.h"

#include <stdio.h>
#include <string.h>

#include "envelope.h"
#include "log.h"
#include "msg.h"
#include "util.h"

json_t *
consensus_assess(const json_t *request, const struct consensus_config *cfg)
{
	json_t *slots[CONSENSUS_MAX_VOTERS] = { 0 }, *actions, *votes;
	struct rules_verdict rv;
	char reason[400];
	int models = 0;
	size_t i;

	if ((actions = consensus_actions(request, reason, sizeof(reason))) == NULL)
		return consensus_invalid(request, reason, cfg->threshold);
	/* Run even without a rules voter: its findings can void model approvals. */
	rules_evaluate(&cfg->rules, request, actions, &rv);
	for (i = 0; i < cfg->n_voters; i++)
		if (cfg->voters[i].kind != VOTER_RULES)
			models++;
	if (models > 0)
		llm_ask(cfg, request, actions, slots);
	votes = json_array();
	for (i = 0; i < cfg->n_voters; i++) {
		const struct voter *v = &cfg->voters[i];
		json_t *vote = slots[i];

		if (v->kind == VOTER_RULES)
			vote = vote_new(v->name, rv.risk, rv.approve, json_deep_copy(rv.reasons),
			    -1);
		else if (vote == NULL)
			vote = vote_abstain(v->name, "ABSTAIN_ERROR: no answer was collected", -1);
		json_array_append_new(votes, vote);
	}
	consensus_distrust(cfg, votes, &rv);
	json_decref(rv.reasons);
	return consensus_tally(request, actions, votes, cfg->threshold);
}

enum handler_rc
consensus_handle(void *ctxp, const struct stage_input *in, struct outbox *out, char *reason,
    size_t reasonlen)
{
	struct consensus_ctx *ctx = ctxp;
	json_t *request, *assessment, *vote;
	char hash[65], rid[80], why[MSG_REASON_MAX];
	size_t i;

	request = msg_decode(in->payload, in->len, "request", reason, reasonlen);
	if (request == NULL) {
		/*
		 * Trust rule 9: what does not decode is nobody's request, whatever
		 * id it contains. No signed result in that id's name: the dead
		 * letter (and this audit row, under the guessed id) is all.
		 */
		msg_guess_request_id(in->payload, in->len, rid, sizeof(rid));
		audit_record(ctx->audit, "", "request_rejected",
		    json_pack("{s:s, s:s}", "reason", reason, "claimed_request_id", rid));
		return HANDLER_PERMFAIL;
	}
	sha256_hex(in->payload, in->len, hash);
	if (audit_record(ctx->audit, msg_str(request, "request_id"), "request_received",
	        json_pack("{s:s, s:s, s:s}", "sha256", hash, "worker_id",
	            msg_str(request, "worker_id"), "environment",
	            msg_str(request, "environment"))) != 0) {
		json_decref(request);
		snprintf(reason, reasonlen, "AUDIT_UNAVAILABLE: cannot record the request");
		return HANDLER_TEMPFAIL;
	}
	/* A request the agent signed must carry its worker's valid signature. */
	if (trust_check_request(&ctx->workers, NULL, request, why, sizeof(why)) != 0)
		assessment = consensus_invalid(request, why, ctx->cfg.threshold);
	else
		assessment = consensus_assess(request, &ctx->cfg);
	if (assessment == NULL || envelope_sign(assessment, "consensus", ctx->sign_key) != 0) {
		json_decref(assessment);
		json_decref(request);
		snprintf(reason, reasonlen, "SIGN_FAILED: cannot sign the assessment");
		return HANDLER_TEMPFAIL;
	}
	json_array_foreach(json_object_get(assessment, "votes"), i, vote)
	    log_info("event=vote request_id=%s voter=%s risk=%s approve=%s abstain=%s latency_ms=%lld "
	             "reason=\"%.200s\"",
	        msg_str(request, "request_id"), msg_str(vote, "voter"), msg_str(vote, "risk"),
	        json_is_true(json_object_get(vote, "approve")) ? "yes" : "no",
	        vote_is_abstention(vote) ? "yes" : "no",
	        json_integer_value(json_object_get(vote, "latency_ms")),
	        json_string_value(json_array_get(json_object_get(vote, "reasons"), 0))
	            ? json_string_value(json_array_get(json_object_get(vote, "reasons"), 0))
	            : "");
	log_info("event=assessed request_id=%s valid=%s risk=%s approving_votes=%lld threshold=%lld",
	    msg_str(request, "request_id"),
	    json_is_true(json_object_get(assessment, "valid")) ? "yes" : "no",
	    msg_str(assessment, "risk"),
	    json_integer_value(json_object_get(assessment, "approving_votes")),
	    json_integer_value(json_object_get(assessment, "threshold")));
	audit_record(ctx->audit, msg_str(request, "request_id"), "assessed",
	    json_pack("{s:O, s:O, s:O, s:O, s:O}", "valid", json_object_get(assessment, "valid"),
	        "reason", json_object_get(assessment, "reason"), "risk",
	        json_object_get(assessment, "risk"), "votes", json_object_get(assessment, "votes"),
	        "dissent", json_object_get(assessment, "dissent")));
	outbox_add(out, TOPIC_ASSESSMENTS, msg_str(request, "request_id"), assessment);
	json_decref(request);
	return HANDLER_OK;
}
