#include "press.h"

#include <stdio.h>
#include <string.h>

const char *
press_code(enum press_verdict v)
{
	switch (v) {
	case PRESS_FORWARD:
		return "TG_FORWARDED";
	case PRESS_BAD_DATA:
		return "TG_BAD_DATA";
	case PRESS_WRONG_CHAT:
		return "TG_WRONG_CHAT";
	case PRESS_NOT_ALLOWED:
		return "TG_NOT_ALLOWED";
	case PRESS_UNKNOWN_REQUEST:
		return "TG_UNKNOWN_REQUEST";
	case PRESS_FORGED:
		return "TG_FORGED";
	case PRESS_DECIDED:
		return "TG_ALREADY_DECIDED";
	case PRESS_EXPIRED:
		return "TG_EXPIRED";
	case PRESS_OWNER:
		return "TG_APPROVER_IS_OWNER";
	case PRESS_REQUESTER:
		return "TG_APPROVER_IS_REQUESTER";
	case PRESS_VOTED:
		return "TG_ALREADY_VOTED";
	}
	return "TG_UNKNOWN";
}

/*
 * Where and who before what: a stranger or another chat learns nothing
 * about requests, whatever data they send.
 */
enum press_verdict
press_check_sender(const struct bot_config *cfg, const struct press *p, struct cb_data *cb,
    const char **approver)
{
	*approver = NULL;
	memset(cb, 0, sizeof(*cb));
	if (!p->has_chat || p->chat_id != cfg->chat_id)
		return PRESS_WRONG_CHAT;
	if (!p->has_from || (*approver = allowlist_name(&cfg->allow, p->from_id)) == NULL)
		return PRESS_NOT_ALLOWED;
	if (p->data == NULL || cb_parse(p->data, p->data_len, cb) != 0)
		return PRESS_BAD_DATA;
	return PRESS_FORWARD;
}

enum press_verdict
press_check_target(const struct bot_config *cfg, const struct cb_data *cb, const char *approver,
    const struct press_target *t, int64_t now)
{
	if (!t->found)
		return PRESS_UNKNOWN_REQUEST;
	if (!cb_verify(cfg->secret, cb, t->request_id)) {
		int i;

		for (i = 0; i < cfg->n_old_secrets; i++)
			if (cb_verify(cfg->old_secrets[i], cb, t->request_id))
				break;
		if (i == cfg->n_old_secrets)
			return PRESS_FORGED;
	}
	if (strcmp(t->state, "pending") != 0)
		return PRESS_DECIDED;
	if (now >= t->expires_ms)
		return PRESS_EXPIRED;
	/* Separation of duties, as wingman-approval applies it. */
	if (!policy_may_decide(&cfg->policy, approver, t->worker_id))
		return policy_requested_by(approver, t->worker_id) ? PRESS_REQUESTER : PRESS_OWNER;
	if (t->voted)
		return PRESS_VOTED;
	/* A vote that ends the request is already on its way. */
	if (t->reject_forwarded || t->approves_forwarded >= t->approvers_required)
		return PRESS_DECIDED;
	return PRESS_FORWARD;
}

void
press_answer(enum press_verdict v, const struct cb_data *cb, const char *approver,
    const struct press_target *t, char *out, size_t outlen)
{
	switch (v) {
	case PRESS_FORWARD:
		snprintf(out, outlen, "Your %s (as %s) was sent to Wingman.",
		    cb->action == 'a' ? "approval" : "rejection", approver);
		break;
	case PRESS_BAD_DATA:
		snprintf(out, outlen, "Refused: this button's data is malformed.");
		break;
	case PRESS_WRONG_CHAT:
		snprintf(out, outlen, "Refused: decisions are taken only in the approvers' chat.");
		break;
	case PRESS_NOT_ALLOWED:
		snprintf(out, outlen, "Refused: you are not on the approvers' allowlist.");
		break;
	case PRESS_UNKNOWN_REQUEST:
	case PRESS_FORGED:
		snprintf(out, outlen, "Refused: this button is not authentic.");
		break;
	case PRESS_DECIDED:
		if (strcmp(t->state, "pending") != 0)
			snprintf(out, outlen, "Already decided: %s.", t->state);
		else
			snprintf(out, outlen, "Already decided: the deciding vote is on its way.");
		break;
	case PRESS_EXPIRED:
		snprintf(out, outlen, "Too late: the request expired.");
		break;
	case PRESS_OWNER:
		snprintf(out, outlen,
		    "Refused: you own worker %s and cannot decide on its requests.", t->worker_id);
		break;
	case PRESS_REQUESTER:
		snprintf(out, outlen,
		    "Refused: you asked for this request; another approver must decide it.");
		break;
	case PRESS_VOTED:
		snprintf(out, outlen,
		    "You already voted on this request; each approver counts once.");
		break;
	}
}
