/*
 * wingman-telegram's decisions and handlers. The pure parts (allowlist,
 * callback_data, the verdict on a press) come first; then the stage handler
 * of wingman.approval-prompts and the press loop. Each handler: decode
 * strictly, decide (pure), act (Telegram, PostgreSQL, Kafka), audit.
 */
#include "bot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include "envelope.h"
#include "log.h"
#include "trust.h"

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/* Tries of one Bot API call inside a handler before it gives up (TEMPFAIL). */
#define SEND_TRIES 4
#define ANSWER_TRIES 3
#define POLL_BACKOFF_MIN_MS 500L
#define POLL_BACKOFF_MAX_MS 30000L
#define UPDATES_LIMIT 20

/* ---- allowlist ---- */

int
allowlist_parse(const char *spec, const struct policy *policy, struct allowlist *al,
    char *err, size_t errlen)
{
	const char *p = spec;

	memset(al, 0, sizeof(*al));
	if (*p == '\0')
		FAIL("ALLOWLIST: empty: give USER_ID=NAME[,USER_ID=NAME...]");
	for (size_t entry = 1;; entry++) {
		const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p), *eq;
		char id[16], name[65];
		size_t idlen, namelen;
		long long uid;

		eq = memchr(p, '=', (size_t)(end - p));
		if (eq == NULL)
			FAIL("ALLOWLIST: entry %zu is not USER_ID=NAME", entry);
		idlen = (size_t)(eq - p);
		namelen = (size_t)(end - eq - 1);
		if (idlen == 0 || idlen >= sizeof(id) || strspn(p, "0123456789") < idlen)
			FAIL("ALLOWLIST: entry %zu: the Telegram user id must be a number "
			    "(1-15 digits), not a username", entry);
		memcpy(id, p, idlen);
		id[idlen] = '\0';
		if (parse_int(id, 1, 999999999999999LL, &uid) != 0)
			FAIL("ALLOWLIST: entry %zu: user id out of range", entry);
		if (namelen == 0 || namelen >= sizeof(name))
			FAIL("ALLOWLIST: entry %zu: the approver name is empty or too long", entry);
		memcpy(name, eq + 1, namelen);
		name[namelen] = '\0';
		if (!valid_name(name))
			FAIL("ALLOWLIST: entry %zu: '%s' is not a valid approver name", entry, name);
		if (policy != NULL && !policy_is_approver(policy, name))
			FAIL("ALLOWLIST: entry %zu: '%s' is not an approver in the policy", entry, name);
		for (size_t i = 0; i < al->n; i++) {
			if (al->e[i].user_id == uid)
				FAIL("ALLOWLIST: user id %lld is listed twice", uid);
			if (strcmp(al->e[i].name, name) == 0)
				FAIL("ALLOWLIST: approver '%s' is listed twice", name);
		}
		if (al->n == ALLOWLIST_MAX)
			FAIL("ALLOWLIST: more than %d entries", ALLOWLIST_MAX);
		al->e[al->n].user_id = uid;
		memcpy(al->e[al->n].name, name, namelen + 1);
		al->n++;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

const char *
allowlist_name(const struct allowlist *al, long long user_id)
{
	for (size_t i = 0; i < al->n; i++)
		if (al->e[i].user_id == user_id)
			return al->e[i].name;
	return NULL;
}

/* ---- callback_data ---- */

int
cb_secret_derive(EVP_PKEY *key, unsigned char secret[CB_SECRET_LEN])
{
	static const char label[] = "wingman-telegram-callback-v1";
	unsigned char raw[32], buf[sizeof(label) - 1 + 32];
	size_t len = sizeof(raw);

	if (EVP_PKEY_get_raw_private_key(key, raw, &len) != 1 || len != 32)
		return -1;
	memcpy(buf, label, sizeof(label) - 1);
	memcpy(buf + sizeof(label) - 1, raw, 32);
	sha256(buf, sizeof(buf), secret);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

void
cb_handle(const char *request_id, char out[CB_HANDLE_LEN + 1])
{
	unsigned char h[32];
	char buf[128], *enc;
	int n = snprintf(buf, sizeof(buf), "wingman-callback-handle-v1\n%s", request_id);

	sha256(buf, n > 0 && (size_t)n < sizeof(buf) ? (size_t)n : 0, h);
	enc = b64url_encode(h, 12);
	snprintf(out, CB_HANDLE_LEN + 1, "%s", enc ? enc : "");
	free(enc);
}

/* HMAC over the action and the full request id, truncated to 128 bits. */
static int
cb_tag(const unsigned char secret[CB_SECRET_LEN], char action, const char *request_id,
    unsigned char tag[CB_TAG_BYTES])
{
	unsigned char mac[32];
	unsigned int maclen = sizeof(mac);
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "wingman-callback-v1\n%c\n%s", action, request_id);

	if (n < 0 || (size_t)n >= sizeof(buf) ||
	    HMAC(EVP_sha256(), secret, CB_SECRET_LEN, (const unsigned char *)buf, (size_t)n, mac,
	    &maclen) == NULL)
		return -1;
	memcpy(tag, mac, CB_TAG_BYTES);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

int
cb_encode(const unsigned char secret[CB_SECRET_LEN], char action, const char *request_id,
    char out[CB_DATA_LEN + 1])
{
	unsigned char tag[CB_TAG_BYTES];
	char handle[CB_HANDLE_LEN + 1], *enc;
	int rc = -1;

	out[0] = '\0';
	if ((action != 'a' && action != 'r') || !valid_request_id(request_id) ||
	    cb_tag(secret, action, request_id, tag) != 0)
		return -1;
	cb_handle(request_id, handle);
	if ((enc = b64url_encode(tag, sizeof(tag))) != NULL &&
	    xsnprintf(out, CB_DATA_LEN + 1, "wm1:%c:%s:%s", action, handle, enc) == CB_DATA_LEN)
		rc = 0;
	free(enc);
	return rc;
}

int
cb_parse(const char *data, size_t len, struct cb_data *cb)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char *tag = NULL;
	size_t taglen = 0;

	memset(cb, 0, sizeof(*cb));
	if (len != CB_DATA_LEN || memcmp(data, "wm1:", 4) != 0 ||
	    (data[4] != 'a' && data[4] != 'r') || data[5] != ':' || data[22] != ':')
		return -1;
	for (size_t i = 6; i < CB_DATA_LEN; i++)
		if (i != 22 && (data[i] == '\0' || strchr(alphabet, data[i]) == NULL))
			return -1;
	if (b64url_decode(data + 23, CB_DATA_LEN - 23, &tag, &taglen) != 0 || taglen != CB_TAG_BYTES) {
		free(tag);
		return -1;
	}
	cb->action = data[4];
	memcpy(cb->handle, data + 6, CB_HANDLE_LEN);
	cb->handle[CB_HANDLE_LEN] = '\0';
	memcpy(cb->tag, tag, CB_TAG_BYTES);
	free(tag);
	return 0;
}

int
cb_verify(const unsigned char secret[CB_SECRET_LEN], const struct cb_data *cb,
    const char *request_id)
{
	unsigned char tag[CB_TAG_BYTES];
	char handle[CB_HANDLE_LEN + 1];

	if (cb_tag(secret, cb->action, request_id, tag) != 0)
		return 0;
	cb_handle(request_id, handle);
	return CRYPTO_memcmp(tag, cb->tag, CB_TAG_BYTES) == 0 && strcmp(handle, cb->handle) == 0;
}

json_t *
bot_buttons(const unsigned char secret[CB_SECRET_LEN], const char *request_id)
{
	char approve[CB_DATA_LEN + 1], reject[CB_DATA_LEN + 1];

	if (cb_encode(secret, 'a', request_id, approve) != 0 ||
	    cb_encode(secret, 'r', request_id, reject) != 0)
		return NULL;
	return json_pack("{s:[[{s:s, s:s}, {s:s, s:s}]]}", "inline_keyboard",
	    "text", "\xe2\x9c\x85 Approve", "callback_data", approve,
	    "text", "\xe2\x9d\x8c Reject", "callback_data", reject);
}

/* ---- the verdict on a press ---- */

const char *
press_code(enum press_verdict v)
{
	switch (v) {
	case PRESS_FORWARD: return "TG_FORWARDED";
	case PRESS_BAD_DATA: return "TG_BAD_DATA";
	case PRESS_WRONG_CHAT: return "TG_WRONG_CHAT";
	case PRESS_NOT_ALLOWED: return "TG_NOT_ALLOWED";
	case PRESS_UNKNOWN_REQUEST: return "TG_UNKNOWN_REQUEST";
	case PRESS_FORGED: return "TG_FORGED";
	case PRESS_DECIDED: return "TG_ALREADY_DECIDED";
	case PRESS_EXPIRED: return "TG_EXPIRED";
	case PRESS_OWNER: return "TG_APPROVER_IS_OWNER";
	case PRESS_VOTED: return "TG_ALREADY_VOTED";
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
	if (!cb_verify(cfg->secret, cb, t->request_id))
		return PRESS_FORGED;
	if (strcmp(t->state, "pending") != 0)
		return PRESS_DECIDED;
	if (now >= t->expires_ms)
		return PRESS_EXPIRED;
	/* Separation of duties, as wingman-approval applies it. */
	if (!policy_may_decide(&cfg->policy, approver, t->worker_id))
		return PRESS_OWNER;
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
		snprintf(out, outlen, "Refused: you own worker %s and cannot decide on its requests.",
		    t->worker_id);
		break;
	case PRESS_VOTED:
		snprintf(out, outlen, "You already voted on this request; each approver counts once.");
		break;
	}
}

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

/* ---- stage handler: prompts and updates ---- */

/*
 * Sends (or edits) the message of a request as the row says it stands.
 * message_id 0 sends a new message and stores its id.
 */
static enum handler_rc
show(struct bot_ctx *ctx, const char *rid, const struct tg_prompt_row *row, char *reason,
    size_t reasonlen)
{
	struct bot_view view = { row->prompt, row->state, row->approvals, row->decided_by, row->reason };
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
	if (markup == NULL || (params = json_pack("{s:I, s:s, s:s, s:b, s:O}", "chat_id",
	    (json_int_t)row->chat_id, "text", text, "parse_mode", "HTML",
	    "disable_web_page_preview", 1, "reply_markup", markup)) == NULL) {
		snprintf(reason, reasonlen, "TELEGRAM_RENDER: cannot build the %s call", method);
		goto fail;
	}
	if (row->message_id)
		json_object_set_new(params, "message_id", json_integer(row->message_id));
	st = tg_call_retry(ctx->tg, method, params, ctx->cfg->timeout_ms, SEND_TRIES, &result, &e);
	if (st == TG_FAIL && row->message_id && tg_not_modified(&e))
		st = TG_OK; /* it already shows this */
	if (st == TG_RETRY) {
		snprintf(reason, reasonlen, "TELEGRAM_UNAVAILABLE: %s", e.desc);
		goto fail;
	}
	if (st == TG_FAIL) {
		snprintf(reason, reasonlen, "TELEGRAM_REFUSED: %s: %s", method, e.desc);
		audit_record(ctx->audit, rid, "telegram_refused", json_pack("{s:s, s:s}", "method", method,
		    "reason", e.desc));
		rc = HANDLER_PERMFAIL;
		goto fail;
	}
	if (row->message_id == 0) {
		const json_t *mid = json_object_get(result, "message_id");

		if (!json_is_integer(mid) || json_integer_value(mid) <= 0) {
			snprintf(reason, reasonlen, "TELEGRAM_GARBAGE: sendMessage answered without a message_id");
			goto fail;
		}
		if (tgstore_prompt_sent(ctx->store, rid, (long long)json_integer_value(mid)) != TGS_OK) {
			/* Sent but not recorded: a retry sends a second message, which is harmless. */
			snprintf(reason, reasonlen, "STORE_UNAVAILABLE: cannot record the message of %s", rid);
			goto fail;
		}
		log_info("event=prompt_sent request_id=%s message_id=%lld buttons=%s", rid,
		    (long long)json_integer_value(mid), json_array_size(json_object_get(
		    json_object_get(params, "reply_markup"), "inline_keyboard")) ? "yes" : "no");
		audit_record(ctx->audit, rid, "telegram_prompt_sent", json_pack("{s:I, s:b}",
		    "message_id", json_integer_value(mid), "complete", complete));
	} else {
		log_info("event=message_edited request_id=%s message_id=%lld state=%s", rid,
		    row->message_id, row->state);
		audit_record(ctx->audit, rid, "telegram_message_edited", json_pack("{s:I, s:s}",
		    "message_id", (json_int_t)row->message_id, "state", row->state));
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
		snprintf(reason, reasonlen, "TELEGRAM_HANDLE_COLLISION: the button handle of %s is "
		    "another request's", rid);
		audit_record(ctx->audit, rid, "refused", json_pack("{s:s}", "reason", reason));
		return HANDLER_PERMFAIL;
	}
	if (src == TGS_OK)
		src = tgstore_prompt_get(ctx->store, rid, &row);
	if (src != TGS_OK) {
		snprintf(reason, reasonlen, "STORE_UNAVAILABLE: cannot record the prompt of %s", rid);
		tg_prompt_row_free(&row);
		return HANDLER_TEMPFAIL;
	}
	if (row.message_id != 0) {
		log_info("event=duplicate_prompt request_id=%s message_id=%lld", rid, row.message_id);
		tg_prompt_row_free(&row);
		return HANDLER_OK;
	}
	/* A prompt read late (a backlog after downtime) that nobody can decide any more. */
	if (parse_ts_ms(msg_str(prompt, "expires_at"), &expires) == 0 && now_ms() >= expires) {
		log_info("event=prompt_not_sent request_id=%s reason=\"expired before it was read\"", rid);
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
		snprintf(reason, reasonlen, "STORE_UNAVAILABLE: cannot record the update of %s", rid);
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

enum handler_rc
bot_handle(void *ctxp, const struct stage_input *in, struct outbox *out, char *reason,
    size_t reasonlen)
{
	struct bot_ctx *ctx = ctxp;
	enum handler_rc rc;
	const char *type;
	json_t *m;

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

/* ---- the press loop ---- */

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
	    "show_alert", alert), *result = NULL;
	struct tg_error e;

	/* A courtesy: the decision does not depend on it, so failures are logged only. */
	if (params == NULL || tg_call_retry(ctx->tg, "answerCallbackQuery", params,
	    ctx->cfg->timeout_ms, ANSWER_TRIES, &result, &e) != TG_OK)
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
		if (tgstore_press_vote(ctx->store, t.request_id, approver, cb.action == 'a' ?
		    "approve" : "reject", p.from_id) != TGS_OK || tgstore_commit(ctx->store) != 0) {
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
	    json_pack("{s:I, s:I, s:s, s:s, s:s, s:b}", "from_id", (json_int_t)p.from_id,
	    "chat_id", (json_int_t)p.chat_id, "approver", approver ? approver : "",
	    "action", cb.action == 'a' ? "approve" : cb.action == 'r' ? "reject" : "",
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

		if (offset < 0 && tgstore_offset_get(ctx->store, ctx->cfg->bot_id, &offset) != TGS_OK) {
			offset = -1;
			tg_sleep(ctx->running, backoff);
			backoff = backoff * 2 > POLL_BACKOFF_MAX_MS ? POLL_BACKOFF_MAX_MS : backoff * 2;
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
			log_warnx("event=poll_failed reason=\"%s\"", st != TG_OK ? e.desc :
			    "TELEGRAM_GARBAGE: getUpdates result is not an array");
			json_decref(updates);
			tg_sleep(ctx->running, e.retry_after > 0 && st != TG_OK ?
			    (e.retry_after > 300 ? 300000L : e.retry_after * 1000L) : backoff);
			backoff = backoff * 2 > POLL_BACKOFF_MAX_MS ? POLL_BACKOFF_MAX_MS : backoff * 2;
			continue;
		}
		json_array_foreach(updates, i, u) {
			long long id;

			if (!int_member(u, "update_id", &id) || id < offset) {
				log_warnx("event=update_ignored reason=\"no update_id, or one already handled\"");
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
			tg_sleep(ctx->running, backoff);
			backoff = backoff * 2 > POLL_BACKOFF_MAX_MS ? POLL_BACKOFF_MAX_MS : backoff * 2;
		} else {
			backoff = POLL_BACKOFF_MIN_MS;
		}
	}
	log_info("event=press_loop_stopped");
}
