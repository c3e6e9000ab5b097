#include "vote.h"

#include <string.h>

static const char *const risk_names[] = { "low", "medium", "high", "critical" };

const char *
risk_name(int risk)
{
	if (risk < RISK_LOW || risk > RISK_CRITICAL)
		return "critical";
	return risk_names[risk];
}

int
risk_from_name(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < 4; i++)
		if (strcmp(name, risk_names[i]) == 0)
			return i;
	return -1;
}

json_t *
vote_new(const char *voter, int risk, int approve, json_t *reasons, int64_t latency_ms)
{
	json_t *v;

	if (reasons == NULL)
		reasons = json_array();
	v = json_pack("{s:s, s:s, s:b, s:o}", "voter", voter, "risk", risk_name(risk), "approve",
	    approve != 0, "reasons", reasons);
	if (v != NULL && latency_ms >= 0)
		json_object_set_new(v, "latency_ms", json_integer(latency_ms));
	return v;
}

json_t *
vote_abstain(const char *voter, const char *cause, int64_t latency_ms)
{
	json_t *v = vote_new(voter, RISK_CRITICAL, 0, json_pack("[s]", cause), latency_ms);

	if (v != NULL)
		json_object_set_new(v, "abstain", json_true());
	return v;
}

int
vote_is_abstention(const json_t *vote)
{
	return json_is_true(json_object_get(vote, "abstain"));
}
