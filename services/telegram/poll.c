/*
 * The press loop: long polls getUpdates, decides on each button press
 * (press.c) and forwards the presses that count to wingman.human-decisions
 * as signed human decisions.
 */
#include "bot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "log.h"

/* Tries of answerCallbackQuery before the courtesy is given up. */
#define ANSWER_TRIES 3
#define POLL_BACKOFF_MIN_MS 500L
#define POLL_BACKOFF_MAX_MS 30000L
#define UPDATES_LIMIT 20

json_t *
bot_decision_new(const char *request_id, const char *approver, char action, long long from_id,
    const json_t *commands, EVP_PKEY *key)
{
	json_t *d = msg_new("human_decision", request_id);
	char reason[96], err[256];

	if (d == NULL)
		return NULL;
	snprintf(reason, sizeof(reason), "%s in Telegram by user %lld",
	    action == 'a' ? "approved" : "rejected", from_id);
	json_object_set_new(d, "approver", json_string(approver));
	json_object_set_new(d, "decision", json_string(action == 'a' ? "approve" : "reject"));
	json_object_set_new(d, "reason", json_string(reason));
	json_object_set_new(d, "channel", json_string("telegram"));
	/* The decision names the commands the person was shown (trust rule 5). */
	json_object_set_new(d, "commands", json_deep_copy(commands));
	if (envelope_sign(d, "telegram", key) != 0 ||
	    msg_validate(d, "human_decision", err, sizeof(err)) != 0) {
		log_warnx("event=decision_not_built request_id=%s reason=\"%s\"", request_id, err);
		json_decref(d);
		return NULL;
	}
	return d;
}

static int
int_member(const json_t *obj, const char *name, long long *out)
{
	const json_t *v = json_object_get(obj, name);

	if (!json_is_integer(v))
		return 0;
	*out = (long long)json_integer_value(v);
	return 1;
}

static void
answer(struct bot_ctx *ctx, const char *query_id, const char *text, int alert)
{
	json_t *params = json_pack("{s:s, s:s, s:b}", "callback_query_id", query_id, "text", text,
	           "show_alert", alert),
	       *result = NULL;
	struct tg_error e;

	/* A courtesy: the decision does not depend on it, so failures are logged only. */
	if (params == NULL ||
	    tg_call_retry(ctx->tg, "answerCallbackQuery", params, ctx->cfg->timeout_ms,
	        ANSWER_TRIES, &result, &e) != TG_OK)
		log_warnx("event=answer_failed reason=\"%s\"", params ? e.desc : "out of memory");
	json_decref(result);
	json_decref(params);
}

enum press_rc
bot_handle_update(struct bot_ctx *ctx, const json_t *update)
{
	const json_t *cq = json_object_get(update, "callback_query"), *data;
	const char *query_id = json_string_value(json_object_get(cq, "id")), *approver = NULL;
	struct press p;
	struct press_target t;
	struct cb_data cb;
	enum press_verdict v;
	char text[200];
	json_t *decision = NULL;
	int locked = 0;

	memset(&p, 0, sizeof(p));
	memset(&t, 0, sizeof(t));
	if (!json_is_object(cq) || query_id == NULL || strlen(query_id) > 128) {
		log_debug("event=update_ignored reason=\"not a callback query\"");
		return PRESS_DONE;
	}
	p.has_from = int_member(json_object_get(cq, "from"), "id", &p.from_id);
	p.has_chat = int_member(json_object_get(json_object_get(cq, "message"), "chat"), "id",
	    &p.chat_id);
	data = json_object_get(cq, "data");
	if (json_is_string(data)) {
		p.data = json_string_value(data);
		p.data_len = json_string_length(data);
	}
	v = press_check_sender(ctx->cfg, &p, &cb, &approver);
	if (v == PRESS_FORWARD) {
		if (tgstore_press_lock(ctx->store, cb.handle, approver, &t) != TGS_OK)
			return PRESS_RETRY;
		locked = 1;
		v = press_check_target(ctx->cfg, &cb, approver, &t, now_ms());
	}
	if (v == PRESS_FORWARD) {
		struct tg_prompt_row row;
		char err[512] = "cannot sign";

		/*
		 * Published before the vote is recorded: a crash in between
		 * forwards it again, and wingman-approval counts it once. The
		 * commands are those of the prompt this person was shown.
		 */
		memset(&row, 0, sizeof(row));
		if (tgstore_prompt_get(ctx->store, t.request_id, &row) == TGS_OK)
			decision = bot_decision_new(t.request_id, approver, cb.action, p.from_id,
			    json_object_get(row.prompt, "commands"), ctx->sign_key);
		tg_prompt_row_free(&row);
		if (decision == NULL ||
		    kafka_publish(ctx->producer, TOPIC_HUMAN_DECISIONS, t.request_id, decision, err,
		        sizeof(err)) != 0) {
			log_warnx("event=forward_failed request_id=%s approver=%s reason=\"%s\"",
			    t.request_id, approver, err);
			tgstore_rollback(ctx->store);
			json_decref(decision);
			return PRESS_RETRY;
		}
		json_decref(decision);
		if (tgstore_press_vote(ctx->store, t.request_id, approver,
		        cb.action == 'a' ? "approve" : "reject", p.from_id) != TGS_OK ||
		    tgstore_commit(ctx->store) != 0) {
			tgstore_rollback(ctx->store);
			return PRESS_RETRY;
		}
	} else if (locked) {
		tgstore_rollback(ctx->store);
	}
	log_info("event=press request_id=%s from_id=%lld chat_id=%lld approver=%s action=%c verdict=%s",
	    t.found ? t.request_id : "-", p.has_from ? p.from_id : 0, p.has_chat ? p.chat_id : 0,
	    approver ? approver : "-", cb.action ? cb.action : '-', press_code(v));
	audit_record(ctx->audit, t.found ? t.request_id : "", "telegram_press",
	    json_pack("{s:I, s:I, s:s, s:s, s:s, s:b}", "from_id", (json_int_t)p.from_id, "chat_id",
	        (json_int_t)p.chat_id, "approver", approver ? approver : "", "action",
	        cb.action == 'a'       ? "approve"
	            : cb.action == 'r' ? "reject"
	                               : "",
	        "verdict", press_code(v), "forwarded", v == PRESS_FORWARD));
	press_answer(v, &cb, approver, &t, text, sizeof(text));
	answer(ctx, query_id, text, v != PRESS_FORWARD);
	return PRESS_DONE;
}

void
bot_press_run(struct bot_ctx *ctx)
{
	long long offset = -1;
	long backoff = POLL_BACKOFF_MIN_MS;

	log_info("event=press_loop_started poll_s=%d", ctx->cfg->poll_s);
	while (*ctx->running) {
		json_t *params, *updates = NULL, *u;
		struct tg_error e;
		enum tg_status st;
		int retry = 0, handled = 0;
		size_t i;

		if (offset < 0 &&
		    tgstore_offset_get(ctx->store, ctx->cfg->bot_id, &offset) != TGS_OK) {
			offset = -1;
			sleep_while(ctx->running, backoff);
			backoff = backoff_next(backoff, POLL_BACKOFF_MAX_MS);
			continue;
		}
		params = json_pack("{s:I, s:i, s:i, s:[s]}", "offset", (json_int_t)offset, "timeout",
		    ctx->cfg->poll_s, "limit", UPDATES_LIMIT, "allowed_updates", "callback_query");
		st = tg_call(ctx->tg, "getUpdates", params, ctx->cfg->poll_s * 1000L + 10000L,
		    &updates, &e);
		json_decref(params);
		if (!*ctx->running) {
			json_decref(updates);
			break;
		}
		if (st != TG_OK || !json_is_array(updates)) {
			log_warnx("event=poll_failed reason=\"%s\"",
			    st != TG_OK ? e.desc
			                : "TELEGRAM_GARBAGE: getUpdates result is not an array");
			json_decref(updates);
			sleep_while(ctx->running,
			    e.retry_after > 0 && st != TG_OK
			        ? (e.retry_after > 300 ? 300000L : e.retry_after * 1000L)
			        : backoff);
			backoff = backoff_next(backoff, POLL_BACKOFF_MAX_MS);
			continue;
		}
		json_array_foreach(updates, i, u)
		{
			long long id;

			if (!int_member(u, "update_id", &id) || id < offset) {
				log_warnx(
				    "event=update_ignored reason=\"no update_id, or one already handled\"");
				continue;
			}
			if (bot_handle_update(ctx, u) == PRESS_RETRY) {
				retry = 1;
				break;
			}
			handled++;
			offset = id + 1;
			if (tgstore_offset_set(ctx->store, ctx->cfg->bot_id, offset) != TGS_OK)
				log_warnx("event=offset_not_stored offset=%lld", offset);
		}
		json_decref(updates);
		if (retry || (handled == 0 && i > 0)) {
			sleep_while(ctx->running, backoff);
			backoff = backoff_next(backoff, POLL_BACKOFF_MAX_MS);
		} else {
			backoff = POLL_BACKOFF_MIN_MS;
		}
	}
	log_info("event=press_loop_stopped");
}
