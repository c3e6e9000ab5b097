/*
 * Stage handler of wingman.approval-prompts: each prompt becomes a message
 * with Approve / Reject buttons, each update edits it. Decode strictly,
 * decide, act (Telegram, PostgreSQL), audit.
 */
#include "bot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "log.h"
#include "trust.h"

/* Tries of one Bot API call inside a handler before it gives up (TEMPFAIL). */
#define SEND_TRIES 4

enum tg_status
bot_reply(struct bot_ctx *ctx, long long chat_id, long long reply_to, const char *html, int tries,
    long long *message_id, struct tg_error *e)
{
	json_t *params, *result = NULL;
	enum tg_status st;

	memset(e, 0, sizeof(*e));
	params = json_pack("{s:I, s:s, s:s, s:b}", "chat_id", (json_int_t)chat_id, "text", html,
	    "parse_mode", "HTML", "disable_web_page_preview", 1);
	if (params == NULL) {
		snprintf(e->desc, sizeof(e->desc), "out of memory");
		return TG_FAIL;
	}
	if (reply_to > 0) {
		json_object_set_new(params, "reply_to_message_id", json_integer(reply_to));
		json_object_set_new(params, "allow_sending_without_reply", json_true());
	}
	st = tg_call_retry(ctx->tg, "sendMessage", params, ctx->cfg->timeout_ms, tries, &result, e);
	if (st == TG_OK && message_id != NULL) {
		const json_t *mid = json_object_get(result, "message_id");

		*message_id = json_is_integer(mid) ? (long long)json_integer_value(mid) : 0;
		if (*message_id <= 0) {
			snprintf(e->desc, sizeof(e->desc),
			    "TELEGRAM_GARBAGE: sendMessage answered without a message_id");
			st = TG_RETRY;
		}
	}
	json_decref(result);
	json_decref(params);
	return st;
}

/*
 * Sends (or edits) the message of a request as the row says it stands.
 * message_id 0 sends a new message and stores its id.
 */
static enum handler_rc
show(struct bot_ctx *ctx, const char *rid, const struct tg_prompt_row *row, char *reason,
    size_t reasonlen)
{
	struct bot_view view = { row->prompt, row->state, row->approvals, row->decided_by,
		row->reason };
	json_t *params = NULL, *markup = NULL, *result = NULL;
	const char *method = row->message_id ? "editMessageText" : "sendMessage";
	enum handler_rc rc = HANDLER_TEMPFAIL;
	struct tg_error e;
	enum tg_status st;
	char *text = NULL;
	int complete = 0;

	if (bot_render(&view, &text, &complete) != 0) {
		snprintf(reason, reasonlen, "TELEGRAM_RENDER: out of memory");
		goto fail;
	}
	if (strcmp(row->state, "pending") == 0 && complete)
		markup = bot_buttons(ctx->cfg->secret, rid);
	else
		markup = json_pack("{s:[]}", "inline_keyboard"); /* no buttons */
	if (markup == NULL ||
	    (params = json_pack("{s:I, s:s, s:s, s:b, s:O}", "chat_id", (json_int_t)row->chat_id,
	         "text", text, "parse_mode", "HTML", "disable_web_page_preview", 1, "reply_markup",
	         markup)) == NULL) {
		snprintf(reason, reasonlen, "TELEGRAM_RENDER: cannot build the %s call", method);
		goto fail;
	}
	if (row->message_id) {
		json_object_set_new(params, "message_id", json_integer(row->message_id));
	} else {
		struct tg_exec_row ex;

		/* The prompt of an /exec answers the message that asked for it. */
		if (tgstore_exec_get(ctx->store, rid, &ex) == TGS_OK && ex.chat_id == row->chat_id) {
			json_object_set_new(params, "reply_to_message_id",
			    json_integer(ex.message_id));
			json_object_set_new(params, "allow_sending_without_reply", json_true());
		}
		tg_exec_row_free(&ex);
	}
	st = tg_call_retry(ctx->tg, method, params, ctx->cfg->timeout_ms, SEND_TRIES, &result, &e);
	if (st == TG_FAIL && row->message_id && tg_not_modified(&e))
		st = TG_OK; /* it already shows this */
	if (st == TG_RETRY) {
		snprintf(reason, reasonlen, "TELEGRAM_UNAVAILABLE: %s", e.desc);
		goto fail;
	}
	if (st == TG_FAIL) {
		snprintf(reason, reasonlen, "TELEGRAM_REFUSED: %s: %s", method, e.desc);
		audit_record(ctx->audit, rid, "telegram_refused",
		    json_pack("{s:s, s:s}", "method", method, "reason", e.desc));
		rc = HANDLER_PERMFAIL;
		goto fail;
	}
	if (row->message_id == 0) {
		const json_t *mid = json_object_get(result, "message_id");

		if (!json_is_integer(mid) || json_integer_value(mid) <= 0) {
			snprintf(reason, reasonlen,
			    "TELEGRAM_GARBAGE: sendMessage answered without a message_id");
			goto fail;
		}
		if (tgstore_prompt_sent(ctx->store, rid, (long long)json_integer_value(mid)) !=
		    TGS_OK) {
			/* Sent but not recorded: a retry sends a second message, which is harmless. */
			snprintf(reason, reasonlen,
			    "STORE_UNAVAILABLE: cannot record the message of %s", rid);
			goto fail;
		}
		log_info("event=prompt_sent request_id=%s message_id=%lld buttons=%s", rid,
		    (long long)json_integer_value(mid),
		    json_array_size(
		        json_object_get(json_object_get(params, "reply_markup"), "inline_keyboard"))
		        ? "yes"
		        : "no");
		audit_record(ctx->audit, rid, "telegram_prompt_sent",
		    json_pack("{s:I, s:b}", "message_id", json_integer_value(mid), "complete",
		        complete));
	} else {
		log_info("event=message_edited request_id=%s message_id=%lld state=%s", rid,
		    row->message_id, row->state);
		audit_record(ctx->audit, rid, "telegram_message_edited",
		    json_pack("{s:I, s:s}", "message_id", (json_int_t)row->message_id, "state",
		        row->state));
	}
	rc = HANDLER_OK;
fail:
	json_decref(result);
	json_decref(params);
	json_decref(markup);
	free(text);
	return rc;
}

static enum handler_rc
on_prompt(struct bot_ctx *ctx, const json_t *prompt, char *reason, size_t reasonlen)
{
	const char *rid = msg_str(prompt, "request_id");
	struct tg_prompt_row row;
	enum tgstore_rc src;
	enum handler_rc rc;
	int64_t expires;

	memset(&row, 0, sizeof(row));
	src = tgstore_prompt_insert(ctx->store, prompt, ctx->cfg->chat_id);
	if (src == TGS_COLLISION) {
		snprintf(reason, reasonlen,
		    "TELEGRAM_HANDLE_COLLISION: the button handle of %s is "
		    "another request's",
		    rid);
		audit_record(ctx->audit, rid, "refused", json_pack("{s:s}", "reason", reason));
		return HANDLER_PERMFAIL;
	}
	if (src == TGS_OK)
		src = tgstore_prompt_get(ctx->store, rid, &row);
	if (src != TGS_OK) {
		snprintf(reason, reasonlen, "STORE_UNAVAILABLE: cannot record the prompt of %s",
		    rid);
		tg_prompt_row_free(&row);
		return HANDLER_TEMPFAIL;
	}
	if (row.message_id != 0) {
		log_info("event=duplicate_prompt request_id=%s message_id=%lld", rid,
		    row.message_id);
		tg_prompt_row_free(&row);
		return HANDLER_OK;
	}
	/* A prompt read late (a backlog after downtime) that nobody can decide any more. */
	if (parse_ts_ms(msg_str(prompt, "expires_at"), &expires) == 0 && now_ms() >= expires) {
		log_info("event=prompt_not_sent request_id=%s reason=\"expired before it was read\"",
		    rid);
		tg_prompt_row_free(&row);
		return HANDLER_OK;
	}
	rc = show(ctx, rid, &row, reason, reasonlen);
	tg_prompt_row_free(&row);
	return rc;
}

static enum handler_rc
on_update(struct bot_ctx *ctx, const json_t *update, char *reason, size_t reasonlen)
{
	const char *rid = msg_str(update, "request_id");
	struct tg_prompt_row row;
	enum tgstore_rc src;
	enum handler_rc rc;

	memset(&row, 0, sizeof(row));
	src = tgstore_prompt_update(ctx->store, update, &row);
	if (src == TGS_DOWN) {
		snprintf(reason, reasonlen, "STORE_UNAVAILABLE: cannot record the update of %s",
		    rid);
		return HANDLER_TEMPFAIL;
	}
	if (src == TGS_NOT_FOUND || row.message_id == 0) {
		/* No message to edit: the prompt never reached this bot. */
		log_info("event=update_without_message request_id=%s state=%s", rid,
		    msg_str(update, "state"));
		tg_prompt_row_free(&row);
		return HANDLER_OK;
	}
	rc = show(ctx, rid, &row, reason, reasonlen);
	tg_prompt_row_free(&row);
	return rc;
}

/*
 * A result on wingman.results: shown as a reply to the /exec message when
 * the bot made the request, ignored otherwise. Anyone may write the topic,
 * so only a result signed by a stage entitled to its status is shown
 * (trust rule 9); one that is not, about a request of ours, is refused and
 * dead-lettered. What does not decode is left to the auditor, which
 * dead-letters it: it is nobody's result.
 */
static enum handler_rc
on_result(struct bot_ctx *ctx, const struct stage_input *in, char *reason, size_t reasonlen)
{
	json_t *result;
	struct tg_exec_row ex;
	enum handler_rc rc = HANDLER_OK;
	enum tgstore_rc src;
	struct tg_error e;
	enum tg_status st;
	long long mid = 0;
	char err[256], kid[80], why[256];
	const char *rid, *status;
	char *text = NULL;

	memset(&ex, 0, sizeof(ex));
	if ((result = msg_decode(in->payload, in->len, "result", err, sizeof(err))) == NULL) {
		log_debug("event=result_skipped reason=\"%s\"", err);
		return HANDLER_OK;
	}
	rid = msg_str(result, "request_id");
	status = msg_str(result, "status");
	if ((src = tgstore_exec_get(ctx->store, rid, &ex)) == TGS_NOT_FOUND ||
	    (src == TGS_OK && ex.result_message_id != 0))
		goto done; /* not an /exec request, or its result is shown already */
	if (src != TGS_OK) {
		snprintf(reason, reasonlen, "STORE_UNAVAILABLE: cannot read the /exec of %s", rid);
		rc = HANDLER_TEMPFAIL;
		goto done;
	}
	if (!trust_result_verify(result, &ctx->result_keys, kid, sizeof(kid), why, sizeof(why))) {
		snprintf(reason, reasonlen, "%s (request %s)", why, rid);
		log_warnx("event=result_refused request_id=%s reason=\"%s\"", rid, reason);
		audit_record(ctx->audit, rid, "telegram_result_refused",
		    json_pack("{s:s, s:s}", "status", status, "reason", reason));
		rc = HANDLER_PERMFAIL;
		goto done;
	}
	if ((text = exec_result_render(result)) == NULL) {
		snprintf(reason, reasonlen, "TELEGRAM_RENDER: out of memory");
		rc = HANDLER_TEMPFAIL;
		goto done;
	}
	st = bot_reply(ctx, ex.chat_id, ex.message_id, text, SEND_TRIES, &mid, &e);
	if (st == TG_RETRY) {
		snprintf(reason, reasonlen, "TELEGRAM_UNAVAILABLE: %s", e.desc);
		rc = HANDLER_TEMPFAIL;
		goto done;
	}
	if (st == TG_FAIL) {
		snprintf(reason, reasonlen, "TELEGRAM_REFUSED: sendMessage: %s", e.desc);
		audit_record(ctx->audit, rid, "telegram_refused",
		    json_pack("{s:s, s:s}", "method", "sendMessage", "reason", e.desc));
		rc = HANDLER_PERMFAIL;
		goto done;
	}
	if (tgstore_exec_answered(ctx->store, rid, status, mid) != TGS_OK) {
		/* Shown but not recorded: a retry shows it twice, which is harmless. */
		snprintf(reason, reasonlen,
		    "STORE_UNAVAILABLE: cannot record the result reply of %s", rid);
		rc = HANDLER_TEMPFAIL;
		goto done;
	}
	log_info("event=exec_result_sent request_id=%s status=%s message_id=%lld", rid, status, mid);
	audit_record(ctx->audit, rid, "telegram_exec_result",
	    json_pack("{s:s, s:s, s:I}", "status", status, "signer", kid, "message_id",
	        (json_int_t)mid));
done:
	free(text);
	tg_exec_row_free(&ex);
	json_decref(result);
	return rc;
}

enum handler_rc
bot_handle(void *ctxp, const struct stage_input *in, struct outbox *out, char *reason,
    size_t reasonlen)
{
	struct bot_ctx *ctx = ctxp;
	enum handler_rc rc;
	const char *type;
	json_t *m;

	if (in->topic != NULL && strcmp(in->topic, TOPIC_RESULTS) == 0)
		return on_result(ctx, in, reason, reasonlen);
	/* Trust rule 2: only wingman-approval decides what is shown. */
	if ((m = msg_accept(in, NULL, &ctx->approval_key, ctx->audit, reason, reasonlen)) == NULL)
		return HANDLER_PERMFAIL;
	type = msg_str(m, "type");
	if (strcmp(type, "approval_prompt") != 0 && strcmp(type, "approval_update") != 0) {
		snprintf(reason, reasonlen, "MSG_WRONG_TYPE: %s on wingman.approval-prompts", type);
		json_decref(m);
		return HANDLER_PERMFAIL;
	}
	if (strcmp(type, "approval_prompt") == 0)
		rc = on_prompt(ctx, m, reason, reasonlen);
	else
		rc = on_update(ctx, m, reason, reasonlen);
	json_decref(m);
	return rc;
}
