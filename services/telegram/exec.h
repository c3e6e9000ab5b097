/*
 * /exec in the approvers' chat: an allowlisted person asks for one command,
 * "/exec ENVIRONMENT docker ...". The bot makes it a request of worker
 * telegram-<name>, signed with its own key, which then goes through
 * consensus and approval like any agent's (and that person cannot approve
 * it: policy_requested_by). Pure: the verdict on a message and the texts
 * the bot answers with, tested alone; poll.c acts on them.
 */
#ifndef WINGMAN_TG_EXEC_H
#define WINGMAN_TG_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bot_config.h"
#include "command.h"
#include "policy.h"

/* An /exec older than this (a backlog read after downtime) makes no request. */
#define EXEC_MAX_AGE_S 600
/* At most this many /exec requests per person wait for a result (made in the last hour). */
#define EXEC_OPEN_MAX 5

enum exec_verdict {
	EXEC_REQUEST, /* a request is made */
	EXEC_IGNORED, /* not an /exec for this bot (another command, another bot, forwarded) */
	EXEC_WRONG_CHAT, /* not the approvers' chat */
	EXEC_NOT_ALLOWED, /* from.id not allowlisted */
	EXEC_STALE, /* older than EXEC_MAX_AGE_S, or undated */
	EXEC_USAGE, /* environment or command missing */
	EXEC_UNKNOWN_ENV, /* no such environment in the policy */
	EXEC_BAD_COMMAND, /* outside the grammar (CMD_...: shell characters, verbs, ...) */
	EXEC_POLICY, /* the environment refuses it (POLICY_OUTSIDE, POLICY_DENIED) */
	EXEC_NAME_TOO_LONG, /* telegram-<name> would not be a worker id */
	EXEC_BUSY, /* EXEC_OPEN_MAX requests of this person still wait for a result */
};

/* Stable code for logs and audit rows: TG_EXEC_REQUESTED, TG_EXEC_USAGE, ... */
const char *exec_code(enum exec_verdict v);

/* The facts of one Telegram message, as poll.c read them. */
struct exec_message {
	int has_chat;
	long long chat_id;
	int has_from;
	long long from_id;
	int64_t date_ms; /* 0 when absent */
	int forwarded;
	const char *text; /* NULL when the message has none */
	size_t text_len;
};

/* What a message that passes asks for. */
struct exec_ask {
	const char *requester; /* the approver name, borrowed from the allowlist */
	char worker_id[65]; /* telegram-<requester> */
	char environment[33];
	char command[COMMAND_MAX_LEN + 1];
	enum policy_mode mode; /* auto or human, per the policy */
};

/*
 * 1 when text starts with the /exec command meant for this bot: "/exec"
 * or "/exec@<bot_username>" (case-insensitive), then the end or a blank.
 * "/exec@OtherBot" is another bot's. A NULL bot_username matches no "@".
 */
int exec_is_command(const char *text, size_t len, const char *bot_username);

/*
 * The verdict on a message, checked in this order: an /exec for this bot at
 * all (else EXEC_IGNORED: no answer), the chat, the allowlist, its age, the
 * grammar, the environment, the command (command_parse), the policy. Fills
 * *ask for EXEC_REQUEST; why gets the code and words of a command or policy
 * refusal. No I/O.
 */
enum exec_verdict exec_check(const struct bot_config *cfg, const char *bot_username,
    const struct exec_message *m, int64_t now_ms, struct exec_ask *ask, char *why, size_t whylen);

/*
 * The answer to a refused /exec (HTML, escaped): why, and that no request
 * was made. New string, NULL when out of memory.
 */
char *exec_refusal_render(enum exec_verdict v, const struct bot_config *cfg,
    const struct exec_message *m, const char *why);
/* The acknowledgement of a request made (HTML). New string or NULL. */
char *exec_ack_render(const char *request_id, const struct exec_ask *ask);
/*
 * The reply with a request's terminal result (HTML): status, reason, and
 * per command its status, exit code and an excerpt of its output. New
 * string or NULL.
 */
char *exec_result_render(const json_t *result);

/*
 * The request for ask (unsigned): a new request id, the message text as
 * the instruction, with who sent it. New reference or NULL.
 */
json_t *exec_request_new(const struct exec_ask *ask, const struct exec_message *m);

#endif
