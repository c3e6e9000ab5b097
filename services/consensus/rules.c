/*
 * The built-in rules voter: deterministic, always available. Risk comes from
 * the action (reads low, lifecycle medium, exec high) and the environment
 * (prd raises it one step). It approves only what is low risk.
 */
#include <stdio.h>
#include <string.h>

#include "command.h"
#include "consensus.h"
#include "msg.h"

static const char *const risk_names[] = { "low", "medium", "high", "critical" };

static int
action_risk(const char *action)
{
	if (strcmp(action, "ps") == 0 || strcmp(action, "inspect") == 0 ||
	    strcmp(action, "logs") == 0)
		return 0;
	if (strcmp(action, "restart") == 0 || strcmp(action, "start") == 0 ||
	    strcmp(action, "stop") == 0)
		return 1;
	return 2;
}

json_t *
rules_vote(const json_t *request, const json_t *actions)
{
	json_t *reasons = json_array(), *action;
	int risk = 0;
	size_t i;

	json_array_foreach(actions, i, action) {
		const char *name = msg_str(action, "action");
		int r = action_risk(name);
		char line[128];
		snprintf(line, sizeof(line), "%s is %s risk", name, risk_names[r]);
		json_array_append_new(reasons, json_string(line));
		if (r > risk)
			risk = r;
	}
	if (strcmp(msg_str(request, "environment"), "prd") == 0 && risk < 3) {
		risk++;
		json_array_append_new(reasons, json_string("prd raises the risk one step"));
	}
	return json_pack("{s:s, s:s, s:b, s:o}", "voter", "rules", "risk", risk_names[risk],
	    "approve", risk == 0, "reasons", reasons);
}
