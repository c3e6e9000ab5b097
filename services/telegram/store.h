/*
 * The bot's state in PostgreSQL (sql/002_telegram.sql): the message of each
 * prompt, the votes it forwarded and the getUpdates offset.
 */
#ifndef WINGMAN_TG_STORE_H
#define WINGMAN_TG_STORE_H

#include <jansson.h>

#include "msg.h"
#include "press.h"

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
	json_t *prompt; /* new references */
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
enum tgstore_rc tgstore_prompt_sent(struct tgstore *s, const char *request_id, long long message_id);
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
enum tgstore_rc tgstore_press_vote(struct tgstore *s, const char *request_id, const char *approver,
    const char *decision, long long from_id);
int tgstore_commit(struct tgstore *s);
void tgstore_rollback(struct tgstore *s);
/* A request made with /exec (telegram_execs, sql/009_telegram_exec.sql). */
struct tg_exec_row {
	char request_id[65];
	long long chat_id;
	long long message_id; /* the /exec message */
	json_t *request; /* the signed request as published, new reference */
	long long ack_message_id; /* 0: not acknowledged yet */
	long long result_message_id; /* 0: no result shown yet */
};
void tg_exec_row_free(struct tg_exec_row *row);
/*
 * Records the signed request made from message (chat_id, message_id)
 * unless that message already made one; *row is the request of that
 * message either way, to publish (again).
 */
enum tgstore_rc tgstore_exec_record(struct tgstore *s, const json_t *request, long long chat_id,
    long long message_id, long long from_id, const char *requester, struct tg_exec_row *row);
/* The /exec request behind request_id: TGS_OK, TGS_NOT_FOUND (not the bot's) or TGS_DOWN. */
enum tgstore_rc tgstore_exec_get(struct tgstore *s, const char *request_id, struct tg_exec_row *row);
/*
 * How many /exec requests from_id made in the last hour still wait for a
 * result, not counting the one of message (chat_id, message_id).
 */
enum tgstore_rc tgstore_exec_open(struct tgstore *s, long long from_id, long long chat_id,
    long long message_id, long long *count);
enum tgstore_rc tgstore_exec_acked(struct tgstore *s, const char *request_id,
    long long ack_message_id);
enum tgstore_rc tgstore_exec_answered(struct tgstore *s, const char *request_id, const char *status,
    long long result_message_id);

/* The next getUpdates offset (0 when none was stored). */
enum tgstore_rc tgstore_offset_get(struct tgstore *s, const char *bot_id, long long *offset);
enum tgstore_rc tgstore_offset_set(struct tgstore *s, const char *bot_id, long long offset);

#endif
