/*
 * The press loop: long polls getUpdates, decides on each button press
 * (press.c) and forwards the presses that count to wingman.human-decisions
 * as signed human decisions; turns each /exec that passes (exec.c) into a
 * request signed by the bot on wingman.requests.
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

/* Answers an /exec in its thread; a courtesy: failures are logged only. */
static long long
exec_reply(struct bot_ctx *ctx, const struct exec_message *m, long long message_id, const char *html)
{
	struct tg_error e;
	long long mid = 0;

	if (html == NULL ||
	    bot_reply(ctx, m->chat_id, message_id, html, ANSWER_TRIES, &mid, &e) != TG_OK) {
		log_warnx("event=exec_answer_failed chat_id=%lld reason=\"%s\"", m->chat_id,
		    html ? e.desc : "out of memory");
		return 0;
	}
	return mid;
}

/* An /exec that makes no request: logged, audited, answered with why. */
static enum press_rc
exec_refuse(struct bot_ctx *ctx, const struct exec_message *m, long long message_id,
    enum exec_verdict v, const struct exec_ask *ask, const char *why)
{
	char *answer;

	log_info("event=exec_refused from_id=%lld chat_id=%lld requester=%s verdict=%s reason=\"%s\"",
	    m->has_from ? m->from_id : 0, m->chat_id, ask->requester ? ask->requester : "-",
	    exec_code(v), why);
	audit_record(ctx->audit, "", "telegram_exec",
	    json_pack("{s:I, s:I, s:s, s:s, s:s}", "from_id",
	        (json_int_t)(m->has_from ? m->from_id : 0), "chat_id", (json_int_t)m->chat_id,
	        "requester", ask->requester ? ask->requester : "", "verdict", exec_code(v),
	        "reason", why));
	answer = exec_refusal_render(v, ctx->cfg, m, why);
	exec_reply(ctx, m, message_id, answer);
	free(answer);
	return PRESS_DONE;
}

/*
 * An /exec that passed: the signed request is recorded, then published
 * (a crash in between publishes the same request again when the update
 * comes back: one request), then acknowledged in the thread.
 */
static enum press_rc
exec_request(struct bot_ctx *ctx, const struct exec_message *m, long long message_id,
    const struct exec_ask *ask)
{
	json_t *req;
	struct tg_exec_row row;
	char err[512] = "cannot build the request";
	long long open = 0;
	const char *rid;
	char *ack;

	memset(&row, 0, sizeof(row));
	/* A bound per person (not on a message handled again: it made its request already). */
	if (tgstore_exec_open(ctx->store, m->from_id, m->chat_id, message_id, &open) != TGS_OK)
		return PRESS_RETRY;
	if (open >= EXEC_OPEN_MAX)
		return exec_refuse(ctx, m, message_id, EXEC_BUSY, ask, "");
	req = exec_request_new(ask, m);
	if (req == NULL || envelope_sign(req, "telegram", ctx->sign_key) != 0 ||
	    msg_validate(req, "request", err, sizeof(err)) != 0) {
		/* Our own bug, not the person's: say so rather than retry forever. */
		log_warnx("event=exec_not_built reason=\"%s\"", err);
		json_decref(req);
		exec_reply(ctx, m, message_id,
		    "Refused: the bot could not build this request (see its log).\nNo request "
		    "was made.");
		return PRESS_DONE;
	}
	if (tgstore_exec_record(ctx->store, req, m->chat_id, message_id, m->from_id, ask->requester,
	        &row) != TGS_OK) {
		json_decref(req);
		return PRESS_RETRY;
	}
	json_decref(req);
	rid = msg_str(row.request, "request_id");
	if (kafka_publish(ctx->producer, TOPIC_REQUESTS, rid, row.request, err, sizeof(err)) != 0) {
		log_warnx("event=exec_publish_failed request_id=%s reason=\"%s\"", rid, err);
		tg_exec_row_free(&row);
		return PRESS_RETRY;
	}
	log_info("event=exec_requested request_id=%s requester=%s worker_id=%s environment=%s "
	         "from_id=%lld",
	    rid, ask->requester, ask->worker_id, ask->environment, m->from_id);
	audit_record(ctx->audit, rid, "telegram_exec",
	    json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s}", "from_id", (json_int_t)m->from_id,
	        "chat_id", (json_int_t)m->chat_id, "requester", ask->requester, "worker_id",
	        ask->worker_id, "environment", ask->environment, "command", ask->command, "verdict",
	        exec_code(EXEC_REQUEST)));
	if (row.ack_message_id == 0) {
		long long mid;

		ack = exec_ack_render(rid, ask);
		if ((mid = exec_reply(ctx, m, message_id, ack)) > 0)
			(void)tgstore_exec_acked(ctx->store, rid, mid);
		free(ack);
	}
	tg_exec_row_free(&row);
	return PRESS_DONE;
}

/* A message: an /exec makes a request or gets told why not; anything else is ignored. */
static enum press_rc
on_message(struct bot_ctx *ctx, const json_t *msg)
{
	const json_t *text = json_object_get(msg, "text");
	struct exec_message m;
	struct exec_ask ask;
	enum exec_verdict v;
	long long message_id = 0, date = 0;
	char why[512];

	memset(&m, 0, sizeof(m));
	m.has_from = int_member(json_object_get(msg, "from"), "id", &m.from_id);
	m.has_chat = int_member(json_object_get(msg, "chat"), "id", &m.chat_id);
	if (int_member(msg, "date", &date) && date > 0 && date < 100000000000LL)
		m.date_ms = date * 1000;
	m.forwarded = json_object_get(msg, "forward_origin") != NULL ||
	    json_object_get(msg, "forward_date") != NULL;
	if (json_is_string(text)) {
		m.text = json_string_value(text);
		m.text_len = json_string_length(text);
	}
	(void)int_member(msg, "message_id", &message_id);
	v = exec_check(ctx->cfg, ctx->username, &m, now_ms(), &ask, why, sizeof(why));
	if (v == EXEC_IGNORED)
		return PRESS_DONE;
	/* Nowhere to answer: no chat, or not a real message. */
	if (!m.has_chat || message_id <= 0) {
		log_warnx("event=exec_ignored reason=\"no chat or message id\"");
		return PRESS_DONE;
	}
	if (v == EXEC_REQUEST)
		return exec_request(ctx, &m, message_id, &ask);
	return exec_refuse(ctx, &m, message_id, v, &ask, why);
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
	if (json_is_object(json_object_get(update, "message")))
		return on_message(ctx, json_object_get(update, "message"));
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

/*
 * The bot's username, from getMe: "/exec@<username>" is for this bot,
 * "/exec@<another>" is not. Tried until it answers.
 */
static void
learn_username(struct bot_ctx *ctx)
{
	long backoff = POLL_BACKOFF_MIN_MS;

	while (*ctx->running && ctx->username[0] == '\0') {
		json_t *params = json_object(), *me = NULL;
		const char *name;
		struct tg_error e;

		if (tg_call(ctx->tg, "getMe", params, ctx->cfg->timeout_ms, &me, &e) == TG_OK &&
		    (name = json_string_value(json_object_get(me, "username"))) != NULL &&
		    strlen(name) < sizeof(ctx->username) && valid_name(name)) {
			snprintf(ctx->username, sizeof(ctx->username), "%s", name);
			log_info("event=bot_identified username=%s", ctx->username);
		} else {
			log_warnx("event=get_me_failed reason=\"%s\"",
			    me ? "no valid username" : e.desc);
			sleep_while(ctx->running, backoff);
			backoff = backoff_next(backoff, POLL_BACKOFF_MAX_MS);
		}
		json_decref(me);
		json_decref(params);
	}
}

void
bot_press_run(struct bot_ctx *ctx)
{
	long long offset = -1;
	long backoff = POLL_BACKOFF_MIN_MS;

	log_info("event=press_loop_started poll_s=%d", ctx->cfg->poll_s);
	learn_username(ctx);
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
		params = json_pack("{s:I, s:i, s:i, s:[s, s]}", "offset", (json_int_t)offset,
		    "timeout", ctx->cfg->poll_s, "limit", UPDATES_LIMIT, "allowed_updates",
		    "callback_query", "message");
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
