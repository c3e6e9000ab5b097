/*
 * wingman-telegram's pure parts: callback_data (encode, strict parse,
 * verify: every forgery and alteration refused), the allowlist, the verdict
 * on a press, the rendered message (escaping, exact commands, limits), the
 * token checks, and the approval_update wingman-approval sends the bot.
 * No I/O but reading config/policy.json.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "approval.h"
#include "bot.h"
#include "msg.h"
#include "telegram.h"

#define RID64 "r123456789012345678901234567890123456789012345678901234567890123"

static struct bot_config cfg;

static int
setup(void **state)
{
	char path[1024], err[256];
	const char *src = getenv("WINGMAN_SOURCE_DIR");

	memset(&cfg, 0, sizeof(cfg));
	snprintf(path, sizeof(path), "%s/config/policy.json", src ? src : ".");
	assert_int_equal(policy_load(path, &cfg.policy, err, sizeof(err)), 0);
	assert_int_equal(allowlist_parse("1001=alice,1002=bob,1003=demo", &cfg.policy, &cfg.allow,
	                     err, sizeof(err)),
	    0);
	cfg.chat_id = -100777;
	for (size_t i = 0; i < sizeof(cfg.secret); i++)
		cfg.secret[i] = (unsigned char)(i * 7 + 3);
	return 0;
}

/* ---- callback_data ---- */

static void
test_cb_roundtrip(void **state)
{
	char data[CB_DATA_LEN + 1], handle[CB_HANDLE_LEN + 1];
	struct cb_data cb;

	assert_int_equal(strlen(RID64), 64);
	assert_int_equal(cb_encode(cfg.secret, 'a', RID64, data), 0);
	assert_int_equal(strlen(data), CB_DATA_LEN);
	assert_true(strlen(data) <= 64);
	assert_int_equal(strncmp(data, "wm1:a:", 6), 0);
	assert_int_equal(cb_parse(data, strlen(data), &cb), 0);
	assert_int_equal(cb.action, 'a');
	cb_handle(RID64, handle);
	assert_string_equal(cb.handle, handle);
	assert_int_equal(cb_verify(cfg.secret, &cb, RID64), 1);

	assert_int_equal(cb_encode(cfg.secret, 'r', "r-1", data), 0);
	assert_int_equal(cb_parse(data, strlen(data), &cb), 0);
	assert_int_equal(cb.action, 'r');
	assert_int_equal(cb_verify(cfg.secret, &cb, "r-1"), 1);
	/* Nothing but approve and reject, and only valid request ids. */
	assert_int_equal(cb_encode(cfg.secret, 'x', "r-1", data), -1);
	assert_int_equal(cb_encode(cfg.secret, 'a', "bad id", data), -1);
}

/* Every single-byte change of genuine data is refused by parse or verify. */
static void
test_cb_every_alteration_refused(void **state)
{
	static const char repl[] = "Aa0-_:rwZ\x01";
	char data[CB_DATA_LEN + 1], bad[CB_DATA_LEN + 1];
	struct cb_data cb;
	int refused = 0, tries = 0;

	assert_int_equal(cb_encode(cfg.secret, 'a', "7d0c9f5e-3b1a", data), 0);
	for (size_t i = 0; i < CB_DATA_LEN; i++) {
		for (size_t k = 0; k < sizeof(repl) - 1; k++) {
			if (data[i] == repl[k])
				continue;
			memcpy(bad, data, sizeof(bad));
			bad[i] = repl[k];
			tries++;
			if (cb_parse(bad, strlen(bad), &cb) != 0 ||
			    !cb_verify(cfg.secret, &cb, "7d0c9f5e-3b1a"))
				refused++;
			else
				fail_msg("altered byte %zu to 0x%02x was accepted", i,
				    (unsigned char)repl[k]);
		}
	}
	assert_int_equal(refused, tries);
}

static void
test_cb_forgeries_refused(void **state)
{
	unsigned char other[CB_SECRET_LEN];
	char data[CB_DATA_LEN + 1], forged[CB_DATA_LEN + 1], handle[CB_HANDLE_LEN + 1];
	struct cb_data cb;

	assert_int_equal(cb_encode(cfg.secret, 'a', "req-1", data), 0);
	/* The same data does not stand for another request. */
	assert_int_equal(cb_parse(data, strlen(data), &cb), 0);
	assert_int_equal(cb_verify(cfg.secret, &cb, "req-2"), 0);
	/* Approve turned into reject, tag kept. */
	memcpy(forged, data, sizeof(forged));
	forged[4] = 'r';
	assert_int_equal(cb_parse(forged, strlen(forged), &cb), 0);
	assert_int_equal(cb_verify(cfg.secret, &cb, "req-1"), 0);
	/* Another secret (someone else's bot, a guess). */
	memcpy(other, cfg.secret, sizeof(other));
	other[0] ^= 1;
	assert_int_equal(cb_encode(other, 'a', "req-1", forged), 0);
	assert_int_equal(cb_parse(forged, strlen(forged), &cb), 0);
	assert_int_equal(cb_verify(cfg.secret, &cb, "req-1"), 0);
	/* Genuine handle, zero tag. */
	cb_handle("req-1", handle);
	snprintf(forged, sizeof(forged), "wm1:a:%s:AAAAAAAAAAAAAAAAAAAAAA", handle);
	assert_int_equal(cb_parse(forged, strlen(forged), &cb), 0);
	assert_int_equal(cb_verify(cfg.secret, &cb, "req-1"), 0);
	/* Shapes: length, prefix, separators, padding, NUL inside, non-canonical base64url. */
	assert_int_equal(cb_parse(data, strlen(data) - 1, &cb), -1);
	assert_int_equal(cb_parse("", 0, &cb), -1);
	assert_int_equal(cb_parse("approve", 7, &cb), -1);
	memcpy(forged, data, sizeof(forged));
	forged[0] = 'W';
	assert_int_equal(cb_parse(forged, strlen(forged), &cb), -1);
	memcpy(forged, data, sizeof(forged));
	forged[22] = '.';
	assert_int_equal(cb_parse(forged, strlen(forged), &cb), -1);
	memcpy(forged, data, sizeof(forged));
	forged[30] = '\0';
	assert_int_equal(cb_parse(forged, CB_DATA_LEN, &cb), -1);
	memcpy(forged, data, sizeof(forged));
	forged[44] = '=';
	assert_int_equal(cb_parse(forged, strlen(forged), &cb), -1);
	{
		/* 22 base64url chars carry 132 bits: the last 4 must be zero. */
		char last = data[44];
		const char *alphabet =
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		int idx = (int)(strchr(alphabet, last) - alphabet);

		memcpy(forged, data, sizeof(forged));
		forged[44] = alphabet[(idx & ~0xf) | ((idx + 1) & 0xf)];
		assert_int_equal(cb_parse(forged, strlen(forged), &cb), -1);
	}
}

/* ---- allowlist ---- */

static void
test_allowlist(void **state)
{
	struct allowlist al;
	char err[256];

	assert_int_equal(allowlist_parse("123456789=alice,987654321=bob", &cfg.policy, &al, err,
	                     sizeof(err)),
	    0);
	assert_int_equal(al.n, 2);
	assert_string_equal(allowlist_name(&al, 987654321), "bob");
	assert_null(allowlist_name(&al, 1));
	assert_null(allowlist_name(&al, -123456789));

	static const char *const bad[] = {
		"",
		"alice",
		"@alice=alice",
		"alice=1001",
		"1001=",
		"=alice",
		"1001=mallory",
		"1001=alice,1001=bob",
		"1001=alice,1002=alice",
		"1001=alice,",
		",1001=alice",
		"1001=alice, 1002=bob",
		" 1001=alice",
		"-1001=alice",
		"+1001=alice",
		"1234567890123456=alice",
		"0=alice",
		"1001=al ice",
		"1001=alice=bob",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (allowlist_parse(bad[i], &cfg.policy, &al, err, sizeof(err)) == 0)
			fail_msg("allowlist '%s' was accepted", bad[i]);
		assert_int_equal(strncmp(err, "ALLOWLIST: ", 11), 0);
	}
}

/* ---- the verdict on a press ---- */

static struct press_target
target(const char *rid, const char *worker)
{
	struct press_target t;

	memset(&t, 0, sizeof(t));
	t.found = 1;
	snprintf(t.request_id, sizeof(t.request_id), "%s", rid);
	snprintf(t.worker_id, sizeof(t.worker_id), "%s", worker);
	snprintf(t.state, sizeof(t.state), "pending");
	t.expires_ms = 2000000000000LL;
	t.approvers_required = 1;
	return t;
}

static enum press_verdict
decide(long long from, long long chat, const char *data, const struct press_target *t,
    const char **approver, char *answer, size_t answerlen)
{
	struct press p = { 1, from, 1, chat, data, data ? strlen(data) : 0 };
	struct cb_data cb;
	enum press_verdict v = press_check_sender(&cfg, &p, &cb, approver);

	if (v == PRESS_FORWARD)
		v = press_check_target(&cfg, &cb, *approver, t, 1900000000000LL);
	press_answer(v, &cb, *approver, t, answer, answerlen);
	return v;
}

/*
 * Key rotation: a button tagged under an older telegram key (still in the
 * keys directory) counts; one under a secret the bot never held does not.
 */
static void
test_press_rotated_secret(void **state)
{
	char data[CB_DATA_LEN + 1], text[200];
	unsigned char old[CB_SECRET_LEN];
	struct press_target t = target("req-1", "agent-7");
	const char *who;

	(void)state;
	memset(old, 0x5a, sizeof(old));
	assert_int_equal(cb_encode(old, 'a', "req-1", data), 0);
	assert_int_equal(decide(1002, -100777, data, &t, &who, text, sizeof(text)), PRESS_FORGED);
	memcpy(cfg.old_secrets[0], old, sizeof(old));
	cfg.n_old_secrets = 1;
	assert_int_equal(decide(1002, -100777, data, &t, &who, text, sizeof(text)), PRESS_FORWARD);
	old[0] ^= 1;
	assert_int_equal(cb_encode(old, 'a', "req-1", data), 0);
	assert_int_equal(decide(1002, -100777, data, &t, &who, text, sizeof(text)), PRESS_FORGED);
	cfg.n_old_secrets = 0;
}

static void
test_press_verdicts(void **state)
{
	char approve[CB_DATA_LEN + 1], reject[CB_DATA_LEN + 1], other[CB_DATA_LEN + 1], text[200];
	struct press_target t = target("req-1", "agent-alice");
	const char *who;

	cb_encode(cfg.secret, 'a', "req-1", approve);
	cb_encode(cfg.secret, 'r', "req-1", reject);
	cb_encode(cfg.secret, 'a', "req-2", other);

	assert_int_equal(decide(1002, -100777, approve, &t, &who, text, sizeof(text)),
	    PRESS_FORWARD);
	assert_string_equal(who, "bob");
	assert_non_null(strstr(text, "approval (as bob) was sent"));
	assert_int_equal(decide(1002, -100777, reject, &t, &who, text, sizeof(text)), PRESS_FORWARD);
	assert_non_null(strstr(text, "rejection"));

	/* Who and where come first: a stranger learns nothing about the request. */
	assert_int_equal(decide(666, -100777, approve, &t, &who, text, sizeof(text)),
	    PRESS_NOT_ALLOWED);
	assert_non_null(strstr(text, "allowlist"));
	assert_int_equal(decide(1002, -100999, approve, &t, &who, text, sizeof(text)),
	    PRESS_WRONG_CHAT);
	assert_int_equal(decide(1002, 1002, approve, &t, &who, text, sizeof(text)),
	    PRESS_WRONG_CHAT);
	{
		struct press p = { 1, 1002, 0, 0, approve, strlen(approve) };
		struct cb_data cb;
		assert_int_equal(press_check_sender(&cfg, &p, &cb, &who), PRESS_WRONG_CHAT);
		p.has_chat = 1;
		p.chat_id = -100777;
		p.has_from = 0;
		assert_int_equal(press_check_sender(&cfg, &p, &cb, &who), PRESS_NOT_ALLOWED);
	}
	assert_int_equal(decide(1002, -100777, NULL, &t, &who, text, sizeof(text)), PRESS_BAD_DATA);
	assert_int_equal(decide(1002, -100777, "approve:req-1", &t, &who, text, sizeof(text)),
	    PRESS_BAD_DATA);

	/* Data of another request, or no request behind the handle. */
	assert_int_equal(decide(1002, -100777, other, &t, &who, text, sizeof(text)), PRESS_FORGED);
	assert_non_null(strstr(text, "not authentic"));
	t.found = 0;
	assert_int_equal(decide(1002, -100777, approve, &t, &who, text, sizeof(text)),
	    PRESS_UNKNOWN_REQUEST);
	t.found = 1;

	/* alice owns agent-alice; the worker itself is no approver either. */
	assert_int_equal(decide(1001, -100777, approve, &t, &who, text, sizeof(text)), PRESS_OWNER);
	assert_non_null(strstr(text, "agent-alice"));
	assert_int_equal(decide(1001, -100777, reject, &t, &who, text, sizeof(text)), PRESS_OWNER);
	/* bob asked for it with /exec (worker telegram-bob): not his to decide; alice's is. */
	{
		struct press_target mine = target("req-1", "telegram-bob");

		assert_int_equal(decide(1002, -100777, approve, &mine, &who, text, sizeof(text)),
		    PRESS_REQUESTER);
		assert_non_null(strstr(text, "you asked for this request"));
		assert_string_equal(press_code(PRESS_REQUESTER), "TG_APPROVER_IS_REQUESTER");
		assert_int_equal(decide(1002, -100777, reject, &mine, &who, text, sizeof(text)),
		    PRESS_REQUESTER);
		assert_int_equal(decide(1001, -100777, approve, &mine, &who, text, sizeof(text)),
		    PRESS_FORWARD);
	}

	t.voted = 1;
	assert_int_equal(decide(1002, -100777, approve, &t, &who, text, sizeof(text)), PRESS_VOTED);
	t.voted = 0;
	t.reject_forwarded = 1;
	assert_int_equal(decide(1003, -100777, approve, &t, &who, text, sizeof(text)),
	    PRESS_DECIDED);
	t.reject_forwarded = 0;
	t.approves_forwarded = 1;
	assert_int_equal(decide(1003, -100777, reject, &t, &who, text, sizeof(text)), PRESS_DECIDED);
	t.approvers_required = 2;
	assert_int_equal(decide(1003, -100777, approve, &t, &who, text, sizeof(text)),
	    PRESS_FORWARD);
	t.approves_forwarded = 0;

	snprintf(t.state, sizeof(t.state), "approved");
	assert_int_equal(decide(1002, -100777, approve, &t, &who, text, sizeof(text)),
	    PRESS_DECIDED);
	assert_string_equal(text, "Already decided: approved.");
	snprintf(t.state, sizeof(t.state), "pending");
	t.expires_ms = 1900000000000LL;
	assert_int_equal(decide(1002, -100777, approve, &t, &who, text, sizeof(text)),
	    PRESS_EXPIRED);
	assert_string_equal(press_code(PRESS_EXPIRED), "TG_EXPIRED");
}

/* ---- the message ---- */

static json_t *
prompt(const char *instruction, size_t n_cmds, size_t cmd_len)
{
	json_t *p =
	    json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:[], s:s, s:[{s:s, s:s, s:b, s:[s, s]},"
	              " {s:s, s:s, s:b, s:[], s:b}], s:[s], s:i, s:[], s:s}",
	        "v", 1, "type", "approval_prompt", "request_id", "req-1", "ts",
	        "2026-11-26T12:00:00.000Z", "environment", "prd", "worker_id", "agent-7",
	        "instruction", instruction, "commands", "risk", "high", "votes", "voter", "rules",
	        "risk", "medium", "approve", 0, "reasons", "restart is <medium> risk", "a & b",
	        "voter", "llm", "risk", "high", "approve", 0, "reasons", "abstain", 1, "dissent",
	        "rules", "approvers_required", 2, "approvals", "expires_at",
	        "2026-11-26T12:15:00.000Z");

	for (size_t i = 0; i < n_cmds; i++) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "docker restart wingman-prd-%0*zu",
		    (int)(cmd_len > 26 ? cmd_len - 26 : 1), i);
		json_array_append_new(json_object_get(p, "commands"), json_string(cmd));
	}
	return p;
}

/* Every '<' opens a tag the renderer uses, every '&' an entity: the HTML parses. */
static void
assert_html_clean(const char *s)
{
	static const char *const tags[] = { "<b>", "</b>", "<i>", "</i>", "<code>", "</code>",
		NULL };
	static const char *const ents[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&#39;", NULL };

	for (; *s; s++) {
		const char *const *t = NULL;
		if (*s == '<')
			t = tags;
		else if (*s == '&')
			t = ents;
		else if (*s == '>')
			fail_msg("a bare '>' in the message");
		if (t == NULL)
			continue;
		for (; *t; t++)
			if (strncmp(s, *t, strlen(*t)) == 0)
				break;
		if (*t == NULL)
			fail_msg("unexpected markup at '%.20s'", s);
		s += strlen(*t) - 1;
	}
}

static void
test_render_escapes_and_shows_everything(void **state)
{
	json_t *p = prompt("Restart <b>now</b> & \"quickly\"\nStatus: APPROVED by everyone", 2, 40);
	json_t *approvals = json_pack("[s]", "bob"), *none = json_array();
	struct bot_view v = { p, "pending", approvals, none, "" };
	char *text = NULL;
	int complete = 0;

	json_array_append_new(json_object_get(p, "commands"),
	    json_string("docker exec wingman-prd-x ls  /app<&>"));
	assert_int_equal(bot_render(&v, &text, &complete), 0);
	assert_int_equal(complete, 1);
	assert_true(strlen(text) <= TG_TEXT_MAX);
	assert_html_clean(text);
	assert_non_null(strstr(text, "Status: <b>PENDING</b>, 1 of 2 approvals"));
	assert_non_null(strstr(text, "Environment: <b>prd</b>"));
	assert_non_null(strstr(text, "Worker: <code>agent-7</code>"));
	assert_non_null(strstr(text, "Risk: <b>high</b>"));
	assert_non_null(strstr(text, "1. <code>docker restart wingman-prd-"));
	/* Commands exactly: only the HTML specials are escaped, spaces kept. */
	assert_non_null(
	    strstr(text, "3. <code>docker exec wingman-prd-x ls  /app&lt;&amp;&gt;</code>"));
	assert_non_null(strstr(text,
	    "- rules: risk medium, does not approve \xe2\x80\x94 "
	    "restart is &lt;medium&gt; risk; a &amp; b"));
	assert_non_null(strstr(text, "- llm: risk high, abstains"));
	assert_non_null(strstr(text, "Dissent: rules"));
	assert_non_null(strstr(text, "Approvals: 1 of 2 (bob)"));
	assert_non_null(strstr(text, "Expires: 2026-11-26T12:15:00.000Z"));
	/* The agent's newline cannot start a line of its own. */
	assert_non_null(strstr(text,
	    "Instruction: <i>Restart &lt;b&gt;now&lt;/b&gt; &amp; "
	    "&quot;quickly&quot; Status: APPROVED by everyone</i>"));
	free(text);

	/* Final states. */
	json_decref(none);
	none = json_pack("[s, s]", "bob", "demo");
	v.state = "approved";
	v.decided_by = none;
	assert_int_equal(bot_render(&v, &text, &complete), 0);
	assert_non_null(strstr(text, "Status: <b>APPROVED</b> by bob, demo"));
	free(text);
	json_decref(none);
	none = json_pack("[s]", "bob");
	v.state = "rejected";
	v.decided_by = none;
	v.reason = "REJECTED: by bob: <not> now";
	assert_int_equal(bot_render(&v, &text, &complete), 0);
	assert_non_null(strstr(text,
	    "Status: <b>REJECTED</b> by bob\nReason: REJECTED: by bob: &lt;not&gt; now"));
	free(text);
	v.state = "expired";
	assert_int_equal(bot_render(&v, &text, &complete), 0);
	assert_non_null(strstr(text, "Status: <b>EXPIRED</b>"));
	free(text);
	json_decref(none);
	json_decref(approvals);
	json_decref(p);
}

static void
test_render_hidden_characters(void **state)
{
	/* RLO, zero-width space, BOM, LRI, ALM, a tab and DEL. */
	json_t *p = prompt("a\xe2\x80\xae"
	                   "b\xe2\x80\x8b"
	                   "c\xef\xbb\xbf"
	                   "d\xe2\x81\xa6"
	                   "e\xd8\x9c"
	                   "f\tg\x7fh \xc3\xa9t\xc3\xa9 \xf0\x9f\x9a\x80",
	    1, 40);
	json_t *none = json_array();
	struct bot_view v = { p, "pending", none, none, "" };
	char *text = NULL;
	int complete;

	assert_int_equal(bot_render(&v, &text, &complete), 0);
	assert_non_null(strstr(text,
	    "<i>a\xef\xbf\xbd"
	    "b\xef\xbf\xbd"
	    "c\xef\xbf\xbd"
	    "d\xef\xbf\xbd"
	    "e\xef\xbf\xbd"
	    "f g h \xc3\xa9t\xc3\xa9 \xf0\x9f\x9a\x80</i>"));
	free(text);
	json_decref(none);
	json_decref(p);
}

static void
test_render_limits(void **state)
{
	char big[MSG_INSTRUCTION_MAX + 1];
	json_t *p, *none = json_array();
	struct bot_view v = { NULL, "pending", none, none, "" };
	char *text = NULL;
	int complete;

	/* A long instruction is cut (whole characters, marked); the commands stay whole. */
	memset(big, '<', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	p = prompt(big, 4, 200);
	v.prompt = p;
	assert_int_equal(bot_render(&v, &text, &complete), 0);
	assert_int_equal(complete, 1);
	assert_true(strlen(text) <= TG_TEXT_MAX);
	assert_html_clean(text);
	assert_non_null(strstr(text, "&lt;&lt; [\xe2\x80\xa6 truncated]</i>"));
	assert_non_null(strstr(text, "4. <code>docker restart wingman-prd-"));
	free(text);
	json_decref(p);

	/* Sixteen 512-byte commands cannot be shown whole: no complete message, no buttons. */
	p = prompt("", 16, 512);
	v.prompt = p;
	assert_int_equal(bot_render(&v, &text, &complete), 0);
	assert_int_equal(complete, 0);
	assert_true(strlen(text) <= TG_TEXT_MAX);
	assert_null(strstr(text, "docker restart"));
	assert_non_null(strstr(text, "too long to show here"));
	assert_non_null(strstr(text, "- rules: risk medium"));
	assert_html_clean(text);
	free(text);
	json_decref(p);
	json_decref(none);
}

static void
test_buttons(void **state)
{
	json_t *b = bot_buttons(cfg.secret, RID64);
	const json_t *row = json_array_get(json_object_get(b, "inline_keyboard"), 0);
	struct cb_data cb;
	const char *d;

	assert_int_equal(json_array_size(row), 2);
	d = json_string_value(json_object_get(json_array_get(row, 0), "callback_data"));
	assert_true(strlen(d) >= 1 && strlen(d) <= 64);
	assert_int_equal(cb_parse(d, strlen(d), &cb), 0);
	assert_int_equal(cb.action, 'a');
	assert_int_equal(cb_verify(cfg.secret, &cb, RID64), 1);
	d = json_string_value(json_object_get(json_array_get(row, 1), "callback_data"));
	assert_int_equal(cb_parse(d, strlen(d), &cb), 0);
	assert_int_equal(cb.action, 'r');
	json_decref(b);
}

/* ---- Bot API client helpers ---- */

static void
test_token(void **state)
{
	char s[] =
	    "POST https://api.telegram.org/bot123:AAsecret-_x/getUpdates failed; 123:AAsecret-_x";

	assert_true(tg_token_valid("123456789:AAtestTOKENsecret_value-xyz"));
	assert_false(tg_token_valid(""));
	assert_false(tg_token_valid("123456789"));
	assert_false(tg_token_valid(":abc"));
	assert_false(tg_token_valid("abc:def"));
	assert_false(tg_token_valid("123:abc/../x"));
	assert_false(tg_token_valid("123:abc?x=1"));
	assert_false(tg_token_valid("123:abc def"));
	tg_redact("123:AAsecret-_x", s);
	assert_null(strstr(s, "AAsecret"));
	assert_non_null(strstr(s, "/bot***************/getUpdates"));
}

/* ---- what wingman-approval tells the bot ---- */

static void
test_approval_update_message(void **state)
{
	json_t *approvals = json_pack("[s]", "bob"), *u;
	char err[256];

	u = approval_update_new("req-1", "pending", approvals, 2, NULL, "");
	json_object_set_new(u, "sig",
	    json_pack("{s:s, s:s, s:s}", "alg", "EdDSA", "kid", "approval", "value",
	        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	if (msg_validate(u, "approval_update", err, sizeof(err)) != 0)
		fail_msg("approval_update does not validate: %s", err);
	assert_int_equal(json_array_size(json_object_get(u, "decided_by")), 0);
	json_object_set_new(u, "state", json_string("decided"));
	assert_int_equal(msg_validate(u, "approval_update", err, sizeof(err)), -1);
	json_decref(u);
	u = approval_update_new("req-1", "rejected", approvals, 2, json_pack("[s]", "bob"),
	    "REJECTED: by bob: no");
	json_object_set_new(u, "sig",
	    json_pack("{s:s, s:s, s:s}", "alg", "EdDSA", "kid", "approval", "value",
	        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	assert_int_equal(msg_validate(u, "approval_update", err, sizeof(err)), 0);
	json_decref(u);
	json_decref(approvals);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cb_roundtrip),
		cmocka_unit_test(test_cb_every_alteration_refused),
		cmocka_unit_test(test_cb_forgeries_refused),
		cmocka_unit_test(test_allowlist),
		cmocka_unit_test(test_press_verdicts),
		cmocka_unit_test(test_press_rotated_secret),
		cmocka_unit_test(test_render_escapes_and_shows_everything),
		cmocka_unit_test(test_render_hidden_characters),
		cmocka_unit_test(test_render_limits),
		cmocka_unit_test(test_buttons),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_approval_update_message),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
