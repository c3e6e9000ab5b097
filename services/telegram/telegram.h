/*
 * The Telegram Bot API over libcurl: one JSON POST per method to
 * <base>/bot<token>/<method>, answers {"ok": true, "result": ...} or
 * {"ok": false, "error_code": N, "description": "...", "parameters": {...}}.
 * The token is part of every URL: it is never logged, and every error text
 * that leaves this file has it redacted.
 */
#ifndef WINGMAN_TELEGRAM_H
#define WINGMAN_TELEGRAM_H

#include <signal.h>
#include <stddef.h>

#include <jansson.h>

#define TG_TOKEN_MAX 128
#define TG_BODY_MAX (4 * 1024 * 1024)
/* A retry_after longer than this is not waited for inside one call. */
#define TG_RETRY_AFTER_MAX_S 30

enum tg_status {
	TG_OK,
	TG_RETRY, /* worth trying again: transport error, timeout, 429, 5xx, 409, garbage */
	TG_FAIL, /* the API refused the call (4xx): trying again will not help */
};

struct tg_error {
	long http; /* HTTP status, 0 when no answer */
	long code; /* error_code of the answer, 0 when none */
	int retry_after; /* seconds, from parameters.retry_after, 0 when none */
	char desc[256]; /* what went wrong, token redacted */
};

struct tg_client;

/*
 * base_url: "https://api.telegram.org" or a local fake. token: checked with
 * tg_token_valid. running: a stop flag that aborts a transfer in progress
 * (long polling) and the waits between retries. NULL on error, with err.
 */
struct tg_client *tg_open(const char *base_url, const char *token, volatile sig_atomic_t *running,
    char *err, size_t errlen);
void tg_close(struct tg_client *c);

/*
 * One call, no retry. params is borrowed. On TG_OK *result is the "result"
 * member (new reference). timeout_ms bounds the whole transfer.
 */
enum tg_status tg_call(struct tg_client *c, const char *method, const json_t *params,
    long timeout_ms, json_t **result, struct tg_error *e);

/*
 * tg_call, retried while it says TG_RETRY, at most tries times, waiting
 * retry_after (when the API gives one, up to TG_RETRY_AFTER_MAX_S) or an
 * exponential backoff between tries. Never retries TG_FAIL.
 */
enum tg_status tg_call_retry(struct tg_client *c, const char *method, const json_t *params,
    long timeout_ms, int tries, json_t **result, struct tg_error *e);

/* 1 when token looks like a bot token: digits ':' [A-Za-z0-9_-]+, at most TG_TOKEN_MAX. */
int tg_token_valid(const char *token);
/* Replaces every occurrence of token in s (NUL-terminated, in place) by "<token>". */
void tg_redact(const char *token, char *s);
/* 1 for "Bad Request: message is not modified" (an edit that changes nothing). */
int tg_not_modified(const struct tg_error *e);

#endif
