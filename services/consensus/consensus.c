/*
 * Handler of wingman.requests: decode strictly, parse every command (no
 * vote for what is outside the grammar), ask the voters, publish one signed
 * assessment. An undecodable request that still names a request id gets an
 * `invalid` result at once, so its agent is not left waiting.
 */
#include "consensus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "envelope.h"
#include "log.h"
#include "msg.h"
#include "util.h"

#define CONSENSUS_FILE_MAX (64 * 1024)

int
consensus_load_config(const char *path, int *threshold, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len;
	json_t *root, *voters, *voter;
	json_error_t jerr;
	size_t i, n_rules = 0;
	int rc = -1;

	if (read_file(path, CONSENSUS_FILE_MAX, &text, &len) != 0) {
		snprintf(err, errlen, "CONSENSUS_UNREADABLE: cannot read %s", path);
		return -1;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (root == NULL) {
		snprintf(err, errlen, "CONSENSUS_INVALID: %s: %s (line %d)", path, jerr.text, jerr.line);
		return -1;
	}
	voters = json_object_get(root, "voters");
	if (!json_is_integer(json_object_get(root, "threshold")) || !json_is_array(voters) ||
	    json_array_size(voters) == 0 || json_array_size(voters) > 16) {
		snprintf(err, errlen, "CONSENSUS_INVALID: need an integer threshold and 1 to 16 voters");
		goto fail;
	}
	json_array_foreach(voters, i, voter) {
		const char *kind = json_string_value(json_object_get(voter, "kind"));
		const char *name = json_string_value(json_object_get(voter, "name"));
		if (kind == NULL || name == NULL || !valid_name(name)) {
			snprintf(err, errlen, "CONSENSUS_INVALID: voters[%zu] needs a name and a kind", i);
			goto fail;
		}
		/* Only the built-in voter exists so far; refuse rather than ignore. */
		if (strcmp(kind, "rules") != 0) {
			snprintf(err, errlen, "CONSENSUS_UNSUPPORTED: voter kind '%.32s' is not available", kind);
			goto fail;
		}
		n_rules++;
	}
	*threshold = (int)json_integer_value(json_object_get(root, "threshold"));
	if (*threshold < 1 || (size_t)*threshold > json_array_size(voters)) {
		snprintf(err, errlen, "CONSENSUS_INVALID: threshold must be between 1 and the number of voters");
		goto fail;
	}
	rc = 0;
fail:
	json_decref(root);
	return rc;
}

static json_t *
invalid_assessment(const json_t *request, const char *reason, int threshold)
{
	json_t *a = msg_new("assessment", msg_str(request, "request_id"));

	json_object_set_new(a, "request", json_deep_copy(request));
	json_object_set_new(a, "valid", json_false());
	json_object_set_new(a, "reason", json_string(reason));
	json_object_set_new(a, "actions", json_array());
	json_object_set_new(a, "risk", json_string("critical"));
	json_object_set_new(a, "threshold", json_integer(threshold));
	json_object_set_new(a, "approving_votes", json_integer(0));
	json_object_set_new(a, "votes", json_array());
	json_object_set_new(a, "dissent", json_array());
	return a;
}

static int
risk_rank(const char *risk)
{
	static const char *const order[] = { "low", "medium", "high", "critical" };

	for (int i = 0; i < 4; i++)
		if (strcmp(risk, order[i]) == 0)
			return i;
	return 3;
}

json_t *
consensus_assess(const json_t *request, int threshold)
{
	json_t *actions = json_array(), *votes = json_array(), *dissent = json_array();
	json_t *cmds = json_object_get(request, "commands"), *item, *vote, *a;
	const char *risk = "low";
	int approving = 0, outcome;
	size_t i;

	json_array_foreach(cmds, i, item) {
		struct command cmd;
		char err[256];
		if (command_parse(json_string_value(item), &cmd, err, sizeof(err)) != 0) {
			char reason[400];
			snprintf(reason, sizeof(reason), "%s (command %zu)", err, i + 1);
			json_decref(actions);
			json_decref(votes);
			json_decref(dissent);
			return invalid_assessment(request, reason, threshold);
		}
		json_array_append_new(actions, json_pack("{s:O, s:s, s:s}", "cmd", item, "action",
		    command_action_name(cmd.action), "container", cmd.container));
	}
	json_array_append_new(votes, rules_vote(request, actions));
	json_array_foreach(votes, i, vote) {
		if (json_is_true(json_object_get(vote, "approve")))
			approving++;
		if (risk_rank(msg_str(vote, "risk")) > risk_rank(risk))
			risk = msg_str(vote, "risk");
	}
	/* Dissent: every vote that disagrees with the outcome, by name. */
	outcome = approving >= threshold;
	json_array_foreach(votes, i, vote)
		if (json_is_true(json_object_get(vote, "approve")) != outcome)
			json_array_append_new(dissent, json_string(msg_str(vote, "voter")));
	a = msg_new("assessment", msg_str(request, "request_id"));
	json_object_set_new(a, "request", json_deep_copy(request));
	json_object_set_new(a, "valid", json_true());
	json_object_set_new(a, "reason", json_string(""));
	json_object_set_new(a, "actions", actions);
	json_object_set_new(a, "risk", json_string(risk));
	json_object_set_new(a, "threshold", json_integer(threshold));
	json_object_set_new(a, "approving_votes", json_integer(approving));
	json_object_set_new(a, "votes", votes);
	json_object_set_new(a, "dissent", dissent);
	return a;
}

enum handler_rc
consensus_handle(void *ctxp, const struct stage_input *in, struct outbox *out, char *reason,
    size_t reasonlen)
{
	struct consensus_ctx *ctx = ctxp;
	json_t *request, *assessment;
	char hash[65], rid[80];

	request = msg_decode(in->payload, in->len, "request", reason, reasonlen);
	if (request == NULL) {
		msg_guess_request_id(in->payload, in->len, rid, sizeof(rid));
		if (*rid != '\0') {
			char why[MSG_REASON_MAX];
			snprintf(why, sizeof(why), "REQUEST_INVALID: %s", reason);
			outbox_add(out, TOPIC_RESULTS, rid, result_new(rid, "invalid", why, NULL));
		}
		audit_record(ctx->audit, rid, "request_rejected", json_pack("{s:s}", "reason", reason));
		return HANDLER_PERMFAIL;
	}
	sha256_hex(in->payload, in->len, hash);
	if (audit_record(ctx->audit, msg_str(request, "request_id"), "request_received",
	    json_pack("{s:s, s:s, s:s}", "sha256", hash, "worker_id", msg_str(request, "worker_id"),
	    "environment", msg_str(request, "environment"))) != 0) {
		json_decref(request);
		snprintf(reason, reasonlen, "AUDIT_UNAVAILABLE: cannot record the request");
		return HANDLER_TEMPFAIL;
	}
	assessment = consensus_assess(request, ctx->threshold);
	if (assessment == NULL || envelope_sign(assessment, "consensus", ctx->sign_key) != 0) {
		json_decref(assessment);
		json_decref(request);
		snprintf(reason, reasonlen, "SIGN_FAILED: cannot sign the assessment");
		return HANDLER_TEMPFAIL;
	}
	log_info("event=assessed request_id=%s valid=%s risk=%s approving_votes=%lld",
	    msg_str(request, "request_id"), json_is_true(json_object_get(assessment, "valid")) ? "yes" : "no",
	    msg_str(assessment, "risk"), json_integer_value(json_object_get(assessment, "approving_votes")));
	audit_record(ctx->audit, msg_str(request, "request_id"), "assessed",
	    json_pack("{s:O, s:O, s:O, s:O, s:O}", "valid", json_object_get(assessment, "valid"),
	    "reason", json_object_get(assessment, "reason"), "risk", json_object_get(assessment, "risk"),
	    "votes", json_object_get(assessment, "votes"), "dissent", json_object_get(assessment, "dissent")));
	outbox_add(out, TOPIC_ASSESSMENTS, msg_str(request, "request_id"), assessment);
	json_decref(request);
	return HANDLER_OK;
}
