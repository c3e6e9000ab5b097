/*
 * The tally is the point of the service and is pure: N approving votes
 * (threshold) auto-approve, abstentions never count as approval, the risk is
 * the highest risk cast, every cast vote that disagrees with the outcome is
 * dissent. Nobody voting means risk critical and a human decides.
 */
#include "tally.h"

#include <stdio.h>
#include <string.h>

#include "command.h"
#include "msg.h"

json_t *
consensus_invalid(const json_t *request, const char *reason, int threshold)
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

json_t *
consensus_actions(const json_t *request, char *reason, size_t reasonlen)
{
	json_t *actions = json_array(), *item;
	size_t i;

	json_array_foreach(json_object_get(request, "commands"), i, item)
	{
		struct command cmd;
		char err[256];
		if (command_parse(json_string_value(item), &cmd, err, sizeof(err)) != 0) {
			snprintf(reason, reasonlen, "%s (command %zu)", err, i + 1);
			json_decref(actions);
			return NULL;
		}
		json_array_append_new(actions,
		    json_pack("{s:O, s:s, s:s}", "cmd", item, "action",
		        command_action_name(cmd.action), "container", cmd.container));
	}
	return actions;
}

void
consensus_distrust(const struct consensus_config *cfg, json_t *votes, const struct rules_verdict *rv)
{
	json_t *vote, *reasons, *r, *abstain, *latency;
	char cause[VOTE_REASON_MAX + 1];
	size_t i, j;

	if (!rv->distrust)
		return;
	json_array_foreach(votes, i, vote)
	{
		if (i >= cfg->n_voters || cfg->voters[i].kind == VOTER_RULES ||
		    vote_is_abstention(vote) || !json_is_true(json_object_get(vote, "approve")))
			continue;
		snprintf(cause, sizeof(cause),
		    "ABSTAIN_DISTRUSTED: approval not counted: %s; the model "
		    "read that text and answered risk %s, approve",
		    rv->distrust_why, msg_str(vote, "risk"));
		reasons = json_pack("[s]", cause);
		json_array_foreach(json_object_get(vote, "reasons"), j,
		    r) if (json_array_size(reasons) < VOTE_MAX_REASONS)
		    json_array_append(reasons, r);
		abstain = json_pack("{s:s, s:s, s:b, s:o, s:b}", "voter", msg_str(vote, "voter"),
		    "risk", "critical", "approve", 0, "reasons", reasons, "abstain", 1);
		if (abstain != NULL && (latency = json_object_get(vote, "latency_ms")) != NULL)
			json_object_set(abstain, "latency_ms", latency);
		/* Releases vote. */
		json_array_set_new(votes, i, abstain);
	}
}

json_t *
consensus_tally(const json_t *request, json_t *actions, json_t *votes, int threshold)
{
	json_t *dissent = json_array(), *vote, *a;
	int risk = RISK_LOW, approving = 0, cast = 0, outcome;
	char reason[128] = "";
	size_t i;

	json_array_foreach(votes, i, vote)
	{
		int r;
		if (vote_is_abstention(vote))
			continue;
		cast++;
		if (json_is_true(json_object_get(vote, "approve")))
			approving++;
		if ((r = risk_from_name(msg_str(vote, "risk"))) < 0)
			r = RISK_CRITICAL;
		if (r > risk)
			risk = r;
	}
	if (cast == 0) {
		/* Fail closed: no opinion is not a low risk. */
		risk = RISK_CRITICAL;
		snprintf(reason, sizeof(reason),
		    "CONSENSUS_NO_VOTES: all %zu voters abstained; a human "
		    "decides",
		    json_array_size(votes));
	}
	/* Dissent: every cast vote that disagrees with the outcome, by name. */
	outcome = approving >= threshold;
	json_array_foreach(votes, i, vote) if (!vote_is_abstention(vote) &&
	    json_is_true(json_object_get(vote, "approve")) != outcome)
	    json_array_append_new(dissent, json_string(msg_str(vote, "voter")));
	a = msg_new("assessment", msg_str(request, "request_id"));
	json_object_set_new(a, "request", json_deep_copy(request));
	json_object_set_new(a, "valid", json_true());
	json_object_set_new(a, "reason", json_string(reason));
	json_object_set_new(a, "actions", actions);
	json_object_set_new(a, "risk", json_string(risk_name(risk)));
	json_object_set_new(a, "threshold", json_integer(threshold));
	json_object_set_new(a, "approving_votes", json_integer(approving));
	json_object_set_new(a, "votes", votes);
	json_object_set_new(a, "dissent", dissent);
	return a;
}
