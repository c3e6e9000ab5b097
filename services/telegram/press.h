/*
 * The verdict on a button press: who, where, what. Pure: no I/O, tested
 * alone; the press loop (poll.c) gathers the facts and acts on the verdict.
 */
#ifndef WINGMAN_TG_PRESS_H
#define WINGMAN_TG_PRESS_H

#include <stddef.h>
#include <stdint.h>

#include "bot_config.h"
#include "button.h"

enum press_verdict {
	PRESS_FORWARD, /* counts: forwarded as a signed human decision */
	PRESS_BAD_DATA, /* callback_data missing or malformed */
	PRESS_WRONG_CHAT, /* not the configured chat */
	PRESS_NOT_ALLOWED, /* from.id not allowlisted */
	PRESS_UNKNOWN_REQUEST, /* no request behind the handle */
	PRESS_FORGED, /* tag does not verify for that request */
	PRESS_DECIDED, /* the request is no longer pending */
	PRESS_EXPIRED, /* past expires_at */
	PRESS_OWNER, /* the approver owns the requesting worker */
	PRESS_REQUESTER, /* the approver asked for it (/exec): worker telegram-<approver> */
	PRESS_VOTED, /* this approver already voted */
};

/* Stable code for logs and audit rows: TG_FORWARDED, TG_FORGED, ... */
const char *press_code(enum press_verdict v);

struct press {
	int has_from;
	long long from_id;
	int has_chat;
	long long chat_id;
	const char *data; /* NULL when absent */
	size_t data_len;
};

/* What PostgreSQL knows of the request behind a handle, for one approver. */
struct press_target {
	int found;
	char request_id[65];
	char worker_id[65];
	char state[16];
	int64_t expires_ms;
	int approvers_required;
	int approves_forwarded; /* approvals the bot forwarded so far */
	int reject_forwarded; /* the bot forwarded a reject */
	int voted; /* this approver already has a forwarded vote */
};

/* First half, no I/O: data shape, chat, allowlist. *approver borrowed from cfg. */
enum press_verdict press_check_sender(const struct bot_config *cfg, const struct press *p,
    struct cb_data *cb, const char **approver);
/* Second half, no I/O: the request behind the handle. */
enum press_verdict press_check_target(const struct bot_config *cfg, const struct cb_data *cb,
    const char *approver, const struct press_target *t, int64_t now_ms);
/* What answerCallbackQuery tells the person who pressed. */
void press_answer(enum press_verdict v, const struct cb_data *cb, const char *approver,
    const struct press_target *t, char *out, size_t outlen);

#endif
