/*
 * Bot API client. One curl handle per client (one client per thread), every
 * transfer bounded in time and size, answers parsed strictly enough to
 * classify them: anything that is not the documented envelope is garbage
 * and is retried, never taken for success.
 */
#include "telegram.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "log.h"
#include "util.h"

#define TG_CONNECT_TIMEOUT_MS 10000L
#define TG_BACKOFF_MIN_MS 500L
#define TG_BACKOFF_MAX_MS 8000L

struct tg_client {
	CURL *curl;
	struct curl_slist *headers;
	char base[512];
	char token[TG_TOKEN_MAX + 1];
	volatile sig_atomic_t *running;
	char curl_err[CURL_ERROR_SIZE];
};

int
tg_token_valid(const char *token)
{
	size_t n = strlen(token), digits = strspn(token, "0123456789");

	if (n > TG_TOKEN_MAX || digits == 0 || digits > 20 || token[digits] != ':')
		return 0;
	token += digits + 1;
	return *token != '\0' &&
	    strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") ==
	    strlen(token);
}

void
tg_redact(const char *token, char *s)
{
	size_t n = strlen(token);
	char *p;

	if (n == 0)
		return;
	while ((p = strstr(s, token)) != NULL)
		memset(p, '*', n);
}

int
tg_not_modified(const struct tg_error *e)
{
	return e->code == 400 && strstr(e->desc, "message is not modified") != NULL;
}

struct tg_client *
tg_open(const char *base_url, const char *token, volatile sig_atomic_t *running, char *err,
    size_t errlen)
{
	struct tg_client *c = NULL;
	size_t n = strlen(base_url);

	if (strncmp(base_url, "https://", 8) != 0 && strncmp(base_url, "http://", 7) != 0) {
		snprintf(err, errlen,
		    "TELEGRAM_CONFIG: the API base URL must start with https:// or http://");
		return NULL;
	}
	if (!tg_token_valid(token)) {
		snprintf(err, errlen,
		    "TELEGRAM_CONFIG: the bot token does not look like DIGITS:SECRET");
		return NULL;
	}
	while (n > 0 && base_url[n - 1] == '/')
		n--;
	if ((c = calloc(1, sizeof(*c))) == NULL || n >= sizeof(c->base)) {
		snprintf(err, errlen, "TELEGRAM_CONFIG: %s",
		    c ? "the API base URL is too long" : "out of memory");
		goto fail;
	}
	memcpy(c->base, base_url, n);
	snprintf(c->token, sizeof(c->token), "%s", token);
	c->running = running;
	if ((c->curl = curl_easy_init()) == NULL ||
	    (c->headers = curl_slist_append(NULL, "Content-Type: application/json")) == NULL) {
		snprintf(err, errlen, "TELEGRAM_CONFIG: cannot set up libcurl");
		goto fail;
	}
	return c;
fail:
	tg_close(c);
	return NULL;
}

void
tg_close(struct tg_client *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	OPENSSL_cleanse(c->token, sizeof(c->token));
	free(c);
}

static size_t
on_body(char *p, size_t size, size_t nmemb, void *opaque)
{
	struct wbuf *b = opaque;
	size_t n = size * nmemb;

	/* Over the limit: returning less than n makes curl abort the transfer. */
	if (wbuf_append(b, p, n) != 0)
		return 0;
	return n;
}

/* Aborts a transfer (a long poll, typically) when the process is stopping. */
static int
on_progress(void *opaque, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	volatile sig_atomic_t *running = opaque;

	return running != NULL && !*running;
}

static enum tg_status __attribute__((format(printf, 4, 5)))
set_error(struct tg_client *c, struct tg_error *e, enum tg_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(e->desc, sizeof(e->desc), fmt, ap);
	va_end(ap);
	tg_redact(c->token, e->desc);
	return st;
}

/* Classifies an answer body. */
static enum tg_status
parse_answer(struct tg_client *c, const struct wbuf *body, json_t **result, struct tg_error *e)
{
	json_t *a = json_loadb(body->data ? body->data : "", body->len, JSON_REJECT_DUPLICATES,
	    NULL);
	const json_t *ok = json_object_get(a, "ok"), *params;
	enum tg_status st;

	if (!json_is_object(a) || !json_is_boolean(ok)) {
		json_decref(a);
		return set_error(c, e, TG_RETRY,
		    "TELEGRAM_GARBAGE: HTTP %ld with an answer that is not "
		    "the Bot API envelope (%zu bytes)",
		    e->http, body->len);
	}
	if (json_is_true(ok)) {
		if (json_object_get(a, "result") == NULL) {
			json_decref(a);
			return set_error(c, e, TG_RETRY, "TELEGRAM_GARBAGE: ok without a result");
		}
		*result = json_incref(json_object_get(a, "result"));
		json_decref(a);
		return TG_OK;
	}
	e->code = json_is_integer(json_object_get(a, "error_code"))
	    ? (long)json_integer_value(json_object_get(a, "error_code"))
	    : 0;
	params = json_object_get(a, "parameters");
	if (json_is_integer(json_object_get(params, "retry_after"))) {
		json_int_t ra = json_integer_value(json_object_get(params, "retry_after"));
		e->retry_after = ra < 0 ? 0 : ra > 86400 ? 86400 : (int)ra;
	}
	/* Too many requests, server trouble, or another poller (409): later. */
	st = (e->code == 429 || e->http == 429 || e->code >= 500 || e->http >= 500 || e->code == 409)
	    ? TG_RETRY
	    : TG_FAIL;
	set_error(c, e, st, "TELEGRAM_ERROR: %ld %.200s", e->code ? e->code : e->http,
	    json_is_string(json_object_get(a, "description"))
	        ? json_string_value(json_object_get(a, "description"))
	        : "(no description)");
	json_decref(a);
	return st;
}

enum tg_status
tg_call(struct tg_client *c, const char *method, const json_t *params, long timeout_ms,
    json_t **result, struct tg_error *e)
{
	char url[sizeof(c->base) + TG_TOKEN_MAX + 64];
	char *body = NULL;
	struct wbuf answer;
	CURLcode cc;
	enum tg_status st;

	*result = NULL;
	memset(e, 0, sizeof(*e));
	wbuf_init(&answer, TG_BODY_MAX);
	if (xsnprintf(url, sizeof(url), "%s/bot%s/%s", c->base, c->token, method) < 0 ||
	    (body = json_dumps(params, JSON_COMPACT)) == NULL) {
		st = set_error(c, e, TG_FAIL, "TELEGRAM_CLIENT: cannot build the %s call", method);
		goto done;
	}
	curl_easy_reset(c->curl);
	c->curl_err[0] = '\0';
	if (curl_easy_setopt(c->curl, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body)) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, TG_CONNECT_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &answer) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, c->running) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->curl_err) != CURLE_OK) {
		st = set_error(c, e, TG_FAIL, "TELEGRAM_CLIENT: cannot set up the %s call", method);
		goto done;
	}
	cc = curl_easy_perform(c->curl);
	(void)curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &e->http);
	if (cc == CURLE_WRITE_ERROR && answer.total > answer.max) {
		st = set_error(c, e, TG_RETRY, "TELEGRAM_GARBAGE: %s answer larger than %d bytes",
		    method, TG_BODY_MAX);
	} else if (cc != CURLE_OK) {
		st = set_error(c, e, TG_RETRY, "TELEGRAM_UNREACHABLE: %s: %s", method,
		    c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc));
	} else {
		st = parse_answer(c, &answer, result, e);
	}
done:
	/* The URL holds the token: wipe it. */
	OPENSSL_cleanse(url, sizeof(url));
	free(body);
	wbuf_free(&answer);
	return st;
}

enum tg_status
tg_call_retry(struct tg_client *c, const char *method, const json_t *params, long timeout_ms,
    int tries, json_t **result, struct tg_error *e)
{
	long backoff = TG_BACKOFF_MIN_MS;
	enum tg_status st = TG_RETRY;

	*result = NULL;
	memset(e, 0, sizeof(*e));
	snprintf(e->desc, sizeof(e->desc), "TELEGRAM_STOPPING: not tried, the process is stopping");
	for (int i = 0; i < tries && (c->running == NULL || *c->running); i++) {
		if ((st = tg_call(c, method, params, timeout_ms, result, e)) != TG_RETRY)
			break;
		log_warnx("event=telegram_retry method=%s try=%d reason=\"%s\"", method, i + 1,
		    e->desc);
		if (i + 1 == tries)
			break;
		if (e->retry_after > TG_RETRY_AFTER_MAX_S)
			break;
		sleep_while(c->running, e->retry_after > 0 ? e->retry_after * 1000L : backoff);
		backoff = backoff_next(backoff, TG_BACKOFF_MAX_MS);
	}
	return st;
}
