/*
 * The message a human reads before pressing a button (trust rule 5): the
 * exact commands, environment, worker, risk, every vote and dissent, the
 * approvals so far and needed, the expiry and the instruction. Telegram's
 * HTML parse mode: every value is escaped, control characters become
 * spaces and characters that reorder or hide text become U+FFFD, so an
 * agent's text cannot pass for a line of the message. When the commands
 * cannot all be shown, the message carries no buttons.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "render.h"

#include "msg.h"

#define RENDER_BUF_MAX (2 * MSG_MAX_BYTES)
#define VOTE_REASONS_MAX 200 /* bytes of a vote's reasons shown */
#define TRUNCATED " [\xe2\x80\xa6 truncated]"
#define REPLACEMENT "\xef\xbf\xbd"

static void
put(struct wbuf *b, const char *s)
{
	(void)wbuf_append(b, s, strlen(s));
}

/* Length of the UTF-8 sequence at s (1 for a stray byte). */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 1;

	return len <= n ? len : 1;
}

/* Bidi controls, zero-width characters, BOM: they disguise what is shown. */
static int
hidden(const unsigned char *s, size_t len)
{
	if (len == 2)
		return s[0] == 0xd8 && s[1] == 0x9c; /* U+061C */
	if (len != 3)
		return 0;
	if (s[0] == 0xe2 && s[1] == 0x80)
		return (s[2] >= 0x8b && s[2] <= 0x8f) || (s[2] >= 0xaa && s[2] <= 0xae);
	if (s[0] == 0xe2 && s[1] == 0x81)
		return (s[2] >= 0xa0 && s[2] <= 0xa4) || (s[2] >= 0xa6 && s[2] <= 0xa9);
	return s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf;
}

/*
 * Escapes whole characters of s while the output stays within budget
 * bytes. Returns the bytes of s consumed.
 */
static size_t
escape_bounded(struct wbuf *b, const char *s, size_t n, size_t budget)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, used = 0;

	while (i < n) {
		const char *rep = NULL;
		size_t len = 1, replen;

		switch (u[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			if (u[i] < 0x20 || u[i] == 0x7f) {
				rep = " ";
			} else if (u[i] >= 0x80) {
				len = utf8_len(u + i, n - i);
				if (len == 1 || hidden(u + i, len))
					rep = REPLACEMENT;
			}
		}
		replen = rep ? strlen(rep) : len;
		if (used + replen > budget)
			break;
		(void)wbuf_append(b, rep ? rep : s + i, replen);
		used += replen;
		i += len;
	}
	return i;
}

void
html_escape(struct wbuf *b, const char *s, size_t n)
{
	(void)escape_bounded(b, s, n, SIZE_MAX);
}

static void
put_esc(struct wbuf *b, const char *s)
{
	html_escape(b, s, strlen(s));
}

/* "a, b, c" of an array of names, escaped; none when empty. */
static void
put_names(struct wbuf *b, const json_t *names, const char *none)
{
	const json_t *name;
	size_t i;

	if (json_array_size(names) == 0) {
		put(b, none);
		return;
	}
	json_array_foreach(names, i, name)
	{
		if (i > 0)
			put(b, ", ");
		put_esc(b, json_is_string(name) ? json_string_value(name) : "?");
	}
}

static void
render_head(struct wbuf *b, const struct bot_view *v)
{
	const json_t *p = v->prompt;

	put(b, "<b>Wingman: approval request</b>\n");
	if (strcmp(v->state, "pending") == 0) {
		wbuf_appendf(b, "Status: <b>PENDING</b>, %zu of %lld approvals\n",
		    json_array_size(v->approvals),
		    (long long)json_integer_value(json_object_get(p, "approvers_required")));
	} else if (strcmp(v->state, "approved") == 0) {
		put(b, "Status: <b>APPROVED</b> by ");
		put_names(b, v->decided_by, "(unknown)");
		put(b, "\n");
	} else if (strcmp(v->state, "rejected") == 0) {
		put(b, "Status: <b>REJECTED</b> by ");
		put_names(b, v->decided_by, "(unknown)");
		put(b, "\nReason: ");
		put_esc(b, v->reason ? v->reason : "");
		put(b, "\n");
	} else if (strcmp(v->state, "expired") == 0) {
		put(b, "Status: <b>EXPIRED</b>: nobody decided in time\n");
	} else {
		put(b, "Status: <b>");
		put_esc(b, v->state);
		put(b, "</b>\n");
	}
	put(b, "Request: <code>");
	put_esc(b, msg_str(p, "request_id"));
	put(b, "</code>\nEnvironment: <b>");
	put_esc(b, msg_str(p, "environment"));
	put(b, "</b>\nWorker: <code>");
	put_esc(b, msg_str(p, "worker_id"));
	put(b, "</code>\nRisk: <b>");
	put_esc(b, msg_str(p, "risk"));
	put(b, "</b>\n");
}

static void
render_commands(struct wbuf *b, const json_t *prompt)
{
	const json_t *cmd;
	size_t i;

	put(b, "Commands (exactly what will run):\n");
	json_array_foreach(json_object_get(prompt, "commands"), i, cmd)
	{
		wbuf_appendf(b, "%zu. <code>", i + 1);
		put_esc(b, json_string_value(cmd) ? json_string_value(cmd) : "");
		put(b, "</code>\n");
	}
}

static void
render_votes(struct wbuf *b, const json_t *prompt, int with_reasons)
{
	const json_t *vote, *r;
	size_t i, j;

	put(b, "Votes:\n");
	if (json_array_size(json_object_get(prompt, "votes")) == 0)
		put(b, "- none\n");
	json_array_foreach(json_object_get(prompt, "votes"), i, vote)
	{
		struct wbuf reasons;

		put(b, "- ");
		put_esc(b, msg_str(vote, "voter"));
		put(b, ": risk ");
		put_esc(b, msg_str(vote, "risk"));
		put(b,
		    json_is_true(json_object_get(vote, "abstain"))       ? ", abstains"
		        : json_is_true(json_object_get(vote, "approve")) ? ", approves"
		                                                         : ", does not approve");
		if (with_reasons && json_array_size(json_object_get(vote, "reasons")) > 0) {
			wbuf_init(&reasons, RENDER_BUF_MAX);
			json_array_foreach(json_object_get(vote, "reasons"), j, r)
			{
				if (j > 0)
					put(&reasons, "; ");
				put(&reasons, json_string_value(r) ? json_string_value(r) : "");
			}
			put(b, " \xe2\x80\x94 ");
			if (escape_bounded(b, reasons.data ? reasons.data : "", reasons.len,
			        VOTE_REASONS_MAX) < reasons.len)
				put(b, TRUNCATED);
			wbuf_free(&reasons);
		}
		put(b, "\n");
	}
}

static void
render_tail(struct wbuf *b, const struct bot_view *v)
{
	const json_t *p = v->prompt;

	put(b, "Dissent: ");
	put_names(b, json_object_get(p, "dissent"), "none");
	wbuf_appendf(b, "\nApprovals: %zu of %lld", json_array_size(v->approvals),
	    (long long)json_integer_value(json_object_get(p, "approvers_required")));
	if (json_array_size(v->approvals) > 0) {
		put(b, " (");
		put_names(b, v->approvals, "");
		put(b, ")");
	}
	put(b, "\nExpires: ");
	put_esc(b, msg_str(p, "expires_at"));
	put(b, "\n");
}

int
bot_render(const struct bot_view *v, char **text, int *complete)
{
	static const char notice[] =
	    "Commands: <b>too long to show here</b>. No buttons: "
	    "read them with <code>wingman pending</code> and decide with <code>wingman "
	    "approve|reject</code>.\n";
	static const char instr_open[] = "Instruction: <i>", instr_close[] = "</i>";
	const char *instruction = msg_str(v->prompt, "instruction");
	struct wbuf head, cmds, votes, tail, out, instr;
	size_t fixed, budget, n = strlen(instruction);
	int rc = -1;

	*text = NULL;
	*complete = 1;
	wbuf_init(&head, RENDER_BUF_MAX);
	wbuf_init(&cmds, RENDER_BUF_MAX);
	wbuf_init(&votes, RENDER_BUF_MAX);
	wbuf_init(&tail, RENDER_BUF_MAX);
	wbuf_init(&instr, TG_TEXT_MAX);
	wbuf_init(&out, TG_TEXT_MAX);
	render_head(&head, v);
	render_commands(&cmds, v->prompt);
	render_tail(&tail, v);
	render_votes(&votes, v->prompt, 1);
	fixed = sizeof(instr_open) + sizeof(instr_close) + sizeof(TRUNCATED);
	/* What must be shown first: the commands, then every vote, then reasons. */
	if (head.len + cmds.len + votes.len + tail.len + fixed > TG_TEXT_MAX) {
		wbuf_free(&votes);
		wbuf_init(&votes, RENDER_BUF_MAX);
		render_votes(&votes, v->prompt, 0);
	}
	if (head.len + cmds.len + votes.len + tail.len + fixed > TG_TEXT_MAX) {
		*complete = 0;
		wbuf_free(&cmds);
		wbuf_init(&cmds, RENDER_BUF_MAX);
		put(&cmds, notice);
	}
	if (head.len + cmds.len + votes.len + tail.len + fixed > TG_TEXT_MAX)
		goto fail;
	budget = TG_TEXT_MAX - (head.len + cmds.len + votes.len + tail.len + fixed);
	if (n == 0) {
		put(&instr, "(none)");
	} else if (escape_bounded(&instr, instruction, n, budget) < n) {
		put(&instr, TRUNCATED); /* fixed kept room for it */
	}
	put(&out, head.data);
	put(&out, cmds.data);
	put(&out, votes.data);
	put(&out, tail.data);
	put(&out, instr_open);
	put(&out, instr.data ? instr.data : "");
	put(&out, instr_close);
	if (out.data == NULL || out.total > TG_TEXT_MAX)
		goto fail;
	*text = out.data;
	out.data = NULL;
	rc = 0;
fail:
	wbuf_free(&head);
	wbuf_free(&cmds);
	wbuf_free(&votes);
	wbuf_free(&tail);
	wbuf_free(&instr);
	wbuf_free(&out);
	return rc;
}
