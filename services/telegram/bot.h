/*
 * wingman-telegram: shows each approval prompt in one Telegram chat with
 * Approve / Reject buttons, forwards allowed presses as signed human
 * decisions and edits the message when the request moves on.
 *
 * Two loops share nothing but PostgreSQL and read-only configuration:
 * the stage loop (main thread) consumes wingman.approval-prompts and sends
 * or edits messages; the press loop (its own thread) long-polls getUpdates,
 * decides on each button press and publishes to wingman.human-decisions.
 */
#ifndef WINGMAN_BOT_H
#define WINGMAN_BOT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <openssl/evp.h>

#include "audit.h"
#include "keys.h"
#include "msg.h"
#include "policy.h"
#include "stage.h"
#include "telegram.h"
#include "util.h"

/* ---- allowlist: Telegram user id -> approver name ---- */

#define ALLOWLIST_MAX 32

struct allowlist {
	size_t n;
	struct {
		long long user_id;
		char name[65];
	} e[ALLOWLIST_MAX];
};

/*
 * Parses "USER_ID=NAME,USER_ID=NAME": numeric user ids (positive, at most
 * 15 digits), each name an approver of policy (when policy is not NULL), no
 * id or name twice. Returns 0, or -1 with err.
 */
int allowlist_parse(const char *spec, const struct policy *policy, struct allowlist *al,
    char *err, size_t errlen);
/* Borrowed approver name, or NULL when user_id is not allowlisted. */
const char *allowlist_name(const struct allowlist *al, long long user_id);

/* ---- callback_data: "wm1:<a|r>:<handle>:<tag>", 45 bytes ---- */

#define CB_SECRET_LEN 32
#define CB_HANDLE_LEN 16 /* base64url of 12 bytes of SHA-256 of the request id */
#define CB_TAG_BYTES 16  /* HMAC-SHA256 truncated to 128 bits */
#define CB_DATA_LEN 45   /* Telegram allows 64 */

struct cb_data {
	char action; /* 'a' approve, 'r' reject */
	char handle[CB_HANDLE_LEN + 1];
	unsigned char tag[CB_TAG_BYTES];
};

/* The secret that keys the tags, derived from telegram.key. */
int cb_secret_derive(EVP_PKEY *key, unsigned char secret[CB_SECRET_LEN]);
/* The short, public reference of a request carried in callback_data. */
void cb_handle(const char *request_id, char out[CB_HANDLE_LEN + 1]);
/* Writes the callback_data of a button. Returns 0, -1 on a bad action. */
int cb_encode(const unsigned char secret[CB_SECRET_LEN], char action, const char *request_id,
    char out[CB_DATA_LEN + 1]);
/* Strict parse of what a client sent (len bytes, not NUL-terminated). 0 or -1. */
int cb_parse(const char *data, size_t len, struct cb_data *cb);
/* 1 when the tag is that of (action, request_id) under secret; constant time. */
int cb_verify(const unsigned char secret[CB_SECRET_LEN], const struct cb_data *cb,
    const char *request_id);

/* ---- the message: HTML, every shown value escaped ---- */

#define TG_TEXT_MAX 4096

struct bot_view {
	const json_t *prompt;     /* the approval_prompt */
	const char *state;        /* pending, approved, rejected, expired */
	const json_t *approvals;  /* names */
	const json_t *decided_by; /* names */
	const char *reason;
};

/* Escapes s (n bytes of UTF-8) for Telegram's HTML parse mode. */
void html_escape(struct wbuf *b, const char *s, size_t n);
/*
 * Renders the message (at most TG_TEXT_MAX bytes) into *text (new string).
 * *complete is 1 when every command is shown exactly: only then may the
 * message carry buttons. Returns 0, -1 when out of memory.
 */
int bot_render(const struct bot_view *v, char **text, int *complete);
/* {"inline_keyboard": [[Approve, Reject]]} for request_id (new reference). */
json_t *bot_buttons(const unsigned char secret[CB_SECRET_LEN], const char *request_id);

/* ---- a button press: who, where, what ---- */

enum press_verdict {
	PRESS_FORWARD,         /* counts: forwarded as a signed human decision */
	PRESS_BAD_DATA,        /* callback_data missing or malformed */
	PRESS_WRONG_CHAT,      /* not the configured chat */
	PRESS_NOT_ALLOWED,     /* from.id not allowlisted */
	PRESS_UNKNOWN_REQUEST, /* no request behind the handle */
	PRESS_FORGED,          /* tag does not verify for that request */
	PRESS_DECIDED,         /* the request is no longer pending */
	PRESS_EXPIRED,         /* past expires_at */
	PRESS_OWNER,           /* the approver owns the requesting worker */
	PRESS_VOTED,           /* this approver already voted */
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
	int reject_forwarded;   /* the bot forwarded a reject */
	int voted;              /* this approver already has a forwarded vote */
};

struct bot_config {
	long long chat_id;
	struct allowlist allow;
	struct policy policy;
	unsigned char secret[CB_SECRET_LEN];
	char bot_id[24];
	int poll_s;
	long timeout_ms;
	const char *brokers;
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

/* ---- store.c: the bot's state in PostgreSQL ---- */

enum tgstore_rc {
	TGS_OK,
	TGS_NOT_FOUND,
	TGS_DOWN,
	TGS_COLLISION, /* another request already has this callback handle */
};

struct tgstore;

struct tg_prompt_row {
	char state[16];
	long long chat_id;
	long long message_id; /* 0: not sent yet */
	json_t *prompt;       /* new references */
	json_t *approvals;
	json_t *decided_by;
	char reason[MSG_REASON_MAX];
};

struct tgstore *tgstore_open(const char *conninfo);
void tgstore_close(struct tgstore *s);
void tg_prompt_row_free(struct tg_prompt_row *row);

enum tgstore_rc tgstore_prompt_get(struct tgstore *s, const char *request_id,
    struct tg_prompt_row *row);
/* Records a prompt (idempotent: a known request is left as it is). */
/*
 * Records a prompt (a second copy changes nothing). TGS_COLLISION when its
 * 96-bit callback handle is already another request's: the buttons could
 * not tell the two apart, so the prompt is refused, never shown.
 */
enum tgstore_rc tgstore_prompt_insert(struct tgstore *s, const json_t *prompt, long long chat_id);
enum tgstore_rc tgstore_prompt_sent(struct tgstore *s, const char *request_id,
    long long message_id);
/*
 * Applies an approval_update: a final state is never left, approvals never
 * shrink. *row receives the row as it is afterwards.
 */
enum tgstore_rc tgstore_prompt_update(struct tgstore *s, const json_t *update,
    struct tg_prompt_row *row);
/*
 * Starts a transaction and locks the request behind handle; fills *t for
 * approver. TGS_OK (t->found tells whether there is one) or TGS_DOWN. End
 * with tgstore_commit or tgstore_rollback.
 */
enum tgstore_rc tgstore_press_lock(struct tgstore *s, const char *handle, const char *approver,
    struct press_target *t);
enum tgstore_rc tgstore_press_vote(struct tgstore *s, const char *request_id,
    const char *approver, const char *decision, long long from_id);
int tgstore_commit(struct tgstore *s);
void tgstore_rollback(struct tgstore *s);
/* The next getUpdates offset (0 when none was stored). */
enum tgstore_rc tgstore_offset_get(struct tgstore *s, const char *bot_id, long long *offset);
enum tgstore_rc tgstore_offset_set(struct tgstore *s, const char *bot_id, long long offset);

/* ---- handlers ---- */

/* Per loop: each loop has its own connections. */
struct bot_ctx {
	const struct bot_config *cfg;
	struct keyring approval_key; /* approval.pub: prompts and updates */
	EVP_PKEY *sign_key;          /* telegram.key: human decisions (press loop) */
	struct tg_client *tg;
	struct tgstore *store;
	struct audit *audit;
	rd_kafka_t *producer;        /* press loop */
	volatile sig_atomic_t *running;
};

/* Stage handler of wingman.approval-prompts: approval_prompt and approval_update. */
enum handler_rc bot_handle(void *ctx, const struct stage_input *in, struct outbox *out,
    char *reason, size_t reasonlen);

enum press_rc { PRESS_DONE, PRESS_RETRY };
/*
 * Handles one update from getUpdates: PRESS_DONE when it is dealt with
 * (the offset may move past it), PRESS_RETRY when a dependency is down and
 * the same update must be handled again.
 */
enum press_rc bot_handle_update(struct bot_ctx *ctx, const json_t *update);
/* The press loop: getUpdates long polling until *ctx->running is 0. */
void bot_press_run(struct bot_ctx *ctx);

/*
 * The signed human decision for a press that counts, naming the commands of
 * the prompt that was shown (borrowed). New reference or NULL.
 */
json_t *bot_decision_new(const char *request_id, const char *approver, char action,
    long long from_id, const json_t *commands, EVP_PKEY *key);

#endif
