#include "exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msg.h"
#include "render.h"
#include "util.h"

#define EXEC_WORD "/exec"
#define EXEC_REPLY_MAX 4000 /* bytes of HTML; Telegram takes 4096 characters */
#define OUTPUT_LINES_MAX 15
#define OUTPUT_BYTES_MAX 1500
#define USAGE_TEXT "/exec ENVIRONMENT COMMAND, e.g. /exec test docker restart wingman-test-api"

const char *
exec_code(enum exec_verdict v)
{
	switch (v) {
	case EXEC_REQUEST:
		return "TG_EXEC_REQUESTED";
	case EXEC_IGNORED:
		return "TG_EXEC_IGNORED";
	case EXEC_WRONG_CHAT:
		return "TG_WRONG_CHAT";
	case EXEC_NOT_ALLOWED:
		return "TG_NOT_ALLOWED";
	case EXEC_STALE:
		return "TG_EXEC_STALE";
	case EXEC_USAGE:
		return "TG_EXEC_USAGE";
	case EXEC_UNKNOWN_ENV:
		return "TG_EXEC_UNKNOWN_ENV";
	case EXEC_BAD_COMMAND:
		return "TG_EXEC_BAD_COMMAND";
	case EXEC_POLICY:
		return "TG_EXEC_POLICY";
	case EXEC_NAME_TOO_LONG:
		return "TG_EXEC_NAME_TOO_LONG";
	case EXEC_BUSY:
		return "TG_EXEC_BUSY";
	}
	return "TG_UNKNOWN";
}

static int
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int
exec_is_command(const char *text, size_t len, const char *bot_username)
{
	size_t n = strlen(EXEC_WORD), at;

	if (text == NULL || len < n || memcmp(text, EXEC_WORD, n) != 0)
		return 0;
	if (len == n || blank(text[n]))
		return 1;
	if (text[n] != '@' || bot_username == NULL || *bot_username == '\0')
		return 0;
	at = n + 1;
	n = strlen(bot_username);
	return len - at >= n && strncasecmp(text + at, bot_username, n) == 0 &&
	    (len - at == n || blank(text[at + n]));
}

/* The next run of non-blanks at or after *pos: its start and length; *pos moves past it. */
static size_t
next_word(const char *s, size_t len, size_t *pos, const char **word)
{
	size_t i = *pos, start;

	while (i < len && blank(s[i]))
		i++;
	start = i;
	while (i < len && !blank(s[i]))
		i++;
	*word = s + start;
	*pos = i;
	return i - start;
}

enum exec_verdict
exec_check(const struct bot_config *cfg, const char *bot_username, const struct exec_message *m,
    int64_t now, struct exec_ask *ask, char *why, size_t whylen)
{
	const struct policy_env *env;
	const char *word;
	struct command cmd;
	size_t pos = 0, n, end;

	memset(ask, 0, sizeof(*ask));
	*why = '\0';
	/* A forwarded message is someone else's words, not a command. */
	if (m->forwarded || !exec_is_command(m->text, m->text_len, bot_username))
		return EXEC_IGNORED;
	/* Where and who before what: a stranger learns nothing about the policy. */
	if (!m->has_chat || m->chat_id != cfg->chat_id)
		return EXEC_WRONG_CHAT;
	if (!m->has_from || (ask->requester = allowlist_name(&cfg->allow, m->from_id)) == NULL)
		return EXEC_NOT_ALLOWED;
	if (m->date_ms <= 0 || now - m->date_ms > (int64_t)EXEC_MAX_AGE_S * 1000)
		return EXEC_STALE;
	(void)next_word(m->text, m->text_len, &pos, &word); /* /exec[@bot] */
	if ((n = next_word(m->text, m->text_len, &pos, &word)) == 0)
		return EXEC_USAGE;
	if (n >= sizeof(ask->environment) || memchr(word, '\0', n) != NULL) {
		snprintf(why, whylen, "the environment name is too long");
		return EXEC_UNKNOWN_ENV;
	}
	memcpy(ask->environment, word, n);
	ask->environment[n] = '\0';
	if ((env = policy_env(&cfg->policy, ask->environment)) == NULL)
		return EXEC_UNKNOWN_ENV;
	/* Approval and the executor refuse it too (trust_check_request). */
	if (!env->telegram_exec) {
		snprintf(why, whylen,
		    "POLICY_TELEGRAM_EXEC_OFF: environment %s takes no /exec requests", env->name);
		return EXEC_POLICY;
	}
	/* The command is the rest, as typed but for the blanks around it. */
	while (pos < m->text_len && blank(m->text[pos]))
		pos++;
	end = m->text_len;
	while (end > pos && blank(m->text[end - 1]))
		end--;
	if (end == pos)
		return EXEC_USAGE;
	if (end - pos >= sizeof(ask->command)) {
		snprintf(why, whylen, "CMD_TOO_LONG: the command is longer than %d bytes",
		    COMMAND_MAX_LEN);
		return EXEC_BAD_COMMAND;
	}
	memcpy(ask->command, m->text + pos, end - pos);
	ask->command[end - pos] = '\0';
	if (strlen(ask->command) != end - pos) {
		snprintf(why, whylen, "CMD_BAD_CHAR: the command contains a NUL byte");
		return EXEC_BAD_COMMAND;
	}
	if (command_parse(ask->command, &cmd, why, whylen) != 0)
		return EXEC_BAD_COMMAND;
	if (policy_check_command(env, &cmd, &ask->mode, why, whylen) != POLICY_ALLOWED)
		return EXEC_POLICY;
	if (xsnprintf(ask->worker_id, sizeof(ask->worker_id), "%s%s", POLICY_TELEGRAM_WORKER_PREFIX,
	        ask->requester) < 0 ||
	    !valid_name(ask->worker_id)) {
		snprintf(why, whylen, "worker %s%s would be longer than 64 bytes",
		    POLICY_TELEGRAM_WORKER_PREFIX, ask->requester);
		return EXEC_NAME_TOO_LONG;
	}
	return EXEC_REQUEST;
}

static void
put(struct wbuf *b, const char *s)
{
	(void)wbuf_append(b, s, strlen(s));
}

static void
put_esc(struct wbuf *b, const char *s)
{
	html_escape(b, s, strlen(s));
}

/* The buffer's string (the caller frees it), or NULL when it is empty (out of memory). */
static char *
take(struct wbuf *b)
{
	char *s = b->data;

	if (s == NULL || b->len == 0) {
		wbuf_free(b);
		return NULL;
	}
	b->data = NULL;
	return s;
}

char *
exec_refusal_render(enum exec_verdict v, const struct bot_config *cfg, const struct exec_message *m,
    const char *why)
{
	struct wbuf b;

	wbuf_init(&b, EXEC_REPLY_MAX);
	switch (v) {
	case EXEC_REQUEST:
	case EXEC_IGNORED:
		wbuf_free(&b);
		return NULL;
	case EXEC_WRONG_CHAT:
		put(&b, "Refused: /exec is taken only in the approvers' chat.");
		break;
	case EXEC_NOT_ALLOWED:
		wbuf_appendf(&b, "Refused: you (user %lld) are not on the approvers' allowlist.",
		    m->has_from ? m->from_id : 0);
		break;
	case EXEC_STALE:
		put(&b,
		    "Refused: this /exec is more than 10 minutes old (sent while the bot was "
		    "away). Send it again if it is still needed.");
		break;
	case EXEC_USAGE:
		put(&b, "Usage: ");
		put_esc(&b, USAGE_TEXT);
		put(&b, ". One command per /exec.");
		break;
	case EXEC_UNKNOWN_ENV:
		put(&b, "Refused: unknown environment. Known: ");
		for (size_t i = 0; i < cfg->policy.n_envs; i++) {
			if (i > 0)
				put(&b, ", ");
			put(&b, "<code>");
			put_esc(&b, cfg->policy.envs[i].name);
			put(&b, "</code>");
		}
		put(&b, ".");
		break;
	case EXEC_BUSY:
		wbuf_appendf(&b,
		    "Refused: %d of your requests still wait for a result. Wait for them (or "
		    "have them decided) before asking for more.",
		    EXEC_OPEN_MAX);
		break;
	case EXEC_BAD_COMMAND:
	case EXEC_POLICY:
	case EXEC_NAME_TOO_LONG:
		put(&b, "Refused: ");
		put_esc(&b, why);
		if (v == EXEC_BAD_COMMAND) {
			put(&b, "\nUsage: ");
			put_esc(&b, USAGE_TEXT);
		}
		break;
	}
	put(&b, "\nNo request was made.");
	return take(&b);
}

char *
exec_ack_render(const char *request_id, const struct exec_ask *ask)
{
	struct wbuf b;

	wbuf_init(&b, EXEC_REPLY_MAX);
	put(&b, "Request <code>");
	put_esc(&b, request_id);
	put(&b, "</code> sent as worker <code>");
	put_esc(&b, ask->worker_id);
	put(&b, "</code>:\n<code>");
	put_esc(&b, ask->command);
	put(&b, "</code> in <b>");
	put_esc(&b, ask->environment);
	put(&b, "</b>\n");
	if (ask->mode == POLICY_AUTO)
		put(&b, "The policy lets consensus approve it. ");
	else
		put(&b, "It needs another approver: you cannot approve your own request. ");
	put(&b, "The result will be a reply to your message.");
	return take(&b);
}

/* At most OUTPUT_LINES_MAX lines and OUTPUT_BYTES_MAX bytes of s, escaped, newlines kept. */
static void
put_excerpt(struct wbuf *b, const char *s)
{
	size_t len = strlen(s), shown = 0, lines = 0;

	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	while (shown < len && lines < OUTPUT_LINES_MAX && shown < OUTPUT_BYTES_MAX) {
		const char *nl = memchr(s + shown, '\n', len - shown);
		size_t n = nl ? (size_t)(nl - (s + shown)) : len - shown;

		if (n > OUTPUT_BYTES_MAX - shown)
			n = OUTPUT_BYTES_MAX - shown;
		if (lines > 0)
			put(b, "\n");
		html_escape(b, s + shown, n);
		shown += n;
		if (shown < len && s[shown] == '\n')
			shown++;
		lines++;
	}
	if (shown < len)
		wbuf_appendf(b, "\n[\xe2\x80\xa6 %zu more bytes]", len - shown);
}

char *
exec_result_render(const json_t *result)
{
	const json_t *c;
	const char *status = msg_str(result, "status"), *reason = msg_str(result, "reason");
	char upper[17];
	size_t i;
	struct wbuf b;

	for (i = 0; status[i] != '\0' && i + 1 < sizeof(upper); i++)
		upper[i] = (char)(status[i] >= 'a' && status[i] <= 'z' ? status[i] - 32 : status[i]);
	upper[i] = '\0';
	wbuf_init(&b, EXEC_REPLY_MAX);
	put(&b, "Result of <code>");
	put_esc(&b, msg_str(result, "request_id"));
	put(&b, "</code>: <b>");
	put_esc(&b, upper);
	put(&b, "</b>\n");
	if (*reason != '\0') {
		put(&b, "Reason: ");
		put_esc(&b, reason);
		put(&b, "\n");
	}
	json_array_foreach(json_object_get(result, "commands"), i, c)
	{
		put(&b, "<code>");
		put_esc(&b, msg_str(c, "cmd"));
		put(&b, "</code>: ");
		put_esc(&b, msg_str(c, "status"));
		wbuf_appendf(&b, ", exit code %lld\n",
		    (long long)json_integer_value(json_object_get(c, "exit_code")));
		if (*msg_str(c, "output") != '\0') {
			put(&b, "<pre>");
			put_excerpt(&b, msg_str(c, "output"));
			put(&b, "</pre>\n");
		}
	}
	/* Cut where the buffer was full: a tag left open would make Telegram refuse it all. */
	if (b.total > b.len) {
		wbuf_free(&b);
		wbuf_init(&b, EXEC_REPLY_MAX);
		put(&b, "Result of <code>");
		put_esc(&b, msg_str(result, "request_id"));
		put(&b, "</code>: <b>");
		put_esc(&b, upper);
		put(&b, "</b>\n(too long to show here: see <code>wingman wait ");
		put_esc(&b, msg_str(result, "request_id"));
		put(&b, "</code>)");
	}
	return take(&b);
}

json_t *
exec_request_new(const struct exec_ask *ask, const struct exec_message *m)
{
	char rid[37], head[160];
	struct wbuf text;
	json_t *req;

	if (uuid_v4(rid) != 0 || (req = msg_new("request", rid)) == NULL)
		return NULL;
	/* What the person typed, and who: shown to the approvers as the instruction. */
	snprintf(head, sizeof(head), "Telegram /exec by %s (user %lld): ", ask->requester,
	    m->from_id);
	wbuf_init(&text, MSG_INSTRUCTION_MAX);
	put(&text, head);
	(void)wbuf_append(&text, m->text, m->text_len);
	json_object_set_new(req, "worker_id", json_string(ask->worker_id));
	json_object_set_new(req, "environment", json_string(ask->environment));
	json_object_set_new(req, "instruction",
	    json_stringn(text.data ? text.data : head, text.data ? text.len : strlen(head)));
	json_object_set_new(req, "commands", json_pack("[s]", ask->command));
	wbuf_free(&text);
	return req;
}
