/* The message a human reads in Telegram: HTML, every shown value escaped. */
#ifndef WINGMAN_TG_RENDER_H
#define WINGMAN_TG_RENDER_H

#include <stddef.h>

#include <jansson.h>

#include "util.h"

#define TG_TEXT_MAX 4096

struct bot_view {
	const json_t *prompt; /* the approval_prompt */
	const char *state; /* pending, approved, rejected, expired */
	const json_t *approvals; /* names */
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

#endif
