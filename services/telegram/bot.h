/*
 * wingman-telegram: shows each approval prompt in one Telegram chat with
 * Approve / Reject buttons, forwards allowed presses as signed human
 * decisions and edits the message when the request moves on.
 *
 * Two loops share nothing but PostgreSQL and read-only configuration:
 * the stage loop (main thread) consumes wingman.approval-prompts and sends
 * or edits messages; the press loop (its own thread) long-polls getUpdates,
 * decides on each button press and publishes to wingman.human-decisions.
 *
 * bot.c is the stage loop's handler, poll.c the press loop; the pure parts
 * are apart: allowlist.c, button.c (callback_data), press.c (the verdict on
 * a press), render.c (the message). store.c keeps the state in PostgreSQL,
 * telegram.c talks to the Bot API.
 */
#ifndef WINGMAN_BOT_H
#define WINGMAN_BOT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <openssl/evp.h>

#include "allowlist.h"
#include "audit.h"
#include "bot_config.h"
#include "button.h"
#include "exec.h"
#include "keys.h"
#include "msg.h"
#include "policy.h"
#include "press.h"
#include "render.h"
#include "stage.h"
#include "store.h"
#include "telegram.h"
#include "util.h"

/* Per loop: each loop has its own connections. */
struct bot_ctx {
	const struct bot_config *cfg;
	struct keyring approval_key; /* approval.pub: prompts and updates */
	struct keyring result_keys; /* executor.pub, approval.pub: results of /exec requests */
	EVP_PKEY *sign_key; /* telegram.key: human decisions (press loop) */
	struct tg_client *tg;
	struct tgstore *store;
	struct audit *audit;
	rd_kafka_t *producer; /* press loop */
	volatile sig_atomic_t *running;
	char username[65]; /* the bot's, from getMe (press loop): "/exec@<username>" */
};

/*
 * Stage handler of wingman.approval-prompts (approval_prompt and
 * approval_update) and of wingman.results (the results of /exec requests).
 */
enum handler_rc bot_handle(void *ctx, const struct stage_input *in, struct outbox *out,
    char *reason, size_t reasonlen);

enum press_rc { PRESS_DONE, PRESS_RETRY };
/*
 * Sends html (parse mode HTML) to chat_id as a reply to message reply_to
 * (0: none; a reply to a deleted message is sent anyway), tried at most
 * tries times. *message_id (may be NULL) gets the new message's id.
 */
enum tg_status bot_reply(struct bot_ctx *ctx, long long chat_id, long long reply_to,
    const char *html, int tries, long long *message_id, struct tg_error *e);

/*
 * Handles one update from getUpdates (a button press, or a message that
 * may be an /exec): PRESS_DONE when it is dealt with
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
