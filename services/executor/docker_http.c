/*
 * The one Docker request path: every action's request goes through
 * docker_request, and every answer is read into a bounded buffer under a
 * timeout. Also the handle's life: open, ping, close.
 */
#include "docker_http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Debian's docker.io is 20.10: Engine API 1.41. */
#define DOCKER_BASE_URL "http://localhost/v1.41"

enum docker_status
set_reason(struct docker_result *res, enum docker_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
	res->status = status;
	return status;
}

void
sink_init(struct sink *s, enum body_kind kind, int acts)
{
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->acts = acts;
	if (kind == BODY_JSON) {
		wbuf_init(&s->buf, DOCKER_JSON_MAX);
		s->limit = DOCKER_JSON_MAX;
	} else {
		wbuf_init(&s->buf, DOCKER_OUTPUT_MAX);
		s->limit = DOCKER_DRAIN_MAX;
	}
}

void
sink_free(struct sink *s)
{
	wbuf_free(&s->buf);
}

static size_t
sink_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;

	if (n == 0)
		return 0;
	if (n > s->limit - s->seen) {
		/* A short return makes curl stop with CURLE_WRITE_ERROR. */
		s->over = 1;
		return 0;
	}
	s->seen += n;
	if (s->kind == BODY_JSON) {
		/* Past the cap, counted in buf.total and dropped. */
		(void)wbuf_append(&s->buf, ptr, n);
	} else {
		long code = 0;

		/* Only the first bytes decide whether the answer is framed. */
		if (s->demux.mode == STREAM_UNDECIDED)
			(void)curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
		demux_feed(&s->demux, code >= 200 && code <= 299, (const unsigned char *)ptr, n,
		    &s->buf);
	}
	return n;
}

/*
 * One HTTP exchange. Returns 0 when an answer arrived (any HTTP status;
 * a stream cut at DOCKER_DRAIN_MAX counts as arrived, with sink->over set),
 * or -1 with res set to DOCKER_UNAVAILABLE, or DOCKER_UNKNOWN when the
 * sink acts and the request was sent.
 */
static int
docker_http(struct docker *d, const char *method, const char *path, const char *body,
    long timeout_ms, struct sink *sink, long *code, struct docker_result *res)
{
	struct curl_slist *headers = NULL, *h;
	enum docker_status failed = DOCKER_UNAVAILABLE;
	char url[1024];
	CURLcode rc;
	long sent = 0;
	int ret = -1;

	*code = 0;
	if (xsnprintf(url, sizeof(url), "%s%s", DOCKER_BASE_URL, path) < 0) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: request path too long");
		return -1;
	}
	curl_easy_reset(d->curl);
	d->curl_err[0] = '\0';
	if (curl_easy_setopt(d->curl, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_UNIX_SOCKET_PATH, d->socket_path) != CURLE_OK ||
#if LIBCURL_VERSION_NUM >= 0x075500
	    curl_easy_setopt(d->curl, CURLOPT_PROTOCOLS_STR, "http") != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_REDIR_PROTOCOLS_STR, "http") != CURLE_OK ||
#else
	    curl_easy_setopt(d->curl, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTP) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_REDIR_PROTOCOLS, (long)CURLPROTO_HTTP) != CURLE_OK ||
#endif
	    curl_easy_setopt(d->curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    /* An http_proxy in the environment must not see Docker traffic. */
	    curl_easy_setopt(d->curl, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_NOPROXY, "*") != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_CONNECTTIMEOUT_MS, d->timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) !=
	        CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_USERAGENT, "wingman-executor") != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_ERRORBUFFER, d->curl_err) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_WRITEFUNCTION, sink_write) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_WRITEDATA, sink) != CURLE_OK ||
	    /*
	     * A request that acts goes on a new connection: on a reused one
	     * that closes before any answer, libcurl sends the request again
	     * on a fresh one, and the engine may have acted on the first (a
	     * dockerd killed mid-restart and back, a proxy): a second restart.
	     * On a new connection it is sent once, and a cut is unknown.
	     */
	    curl_easy_setopt(d->curl, CURLOPT_FRESH_CONNECT, sink->acts ? 1L : 0L) != CURLE_OK)
		goto setup_failed;
	if (strcmp(method, "POST") == 0) {
		if (body != NULL) {
			if ((h = curl_slist_append(headers, "Content-Type: application/json")) ==
			    NULL)
				goto setup_failed;
			headers = h;
		}
		if ((h = curl_slist_append(headers, "Expect:")) == NULL)
			goto setup_failed;
		headers = h;
		if (curl_easy_setopt(d->curl, CURLOPT_POST, 1L) != CURLE_OK ||
		    curl_easy_setopt(d->curl, CURLOPT_POSTFIELDS, body != NULL ? body : "") !=
		        CURLE_OK ||
		    curl_easy_setopt(d->curl, CURLOPT_POSTFIELDSIZE_LARGE,
		        (curl_off_t)(body != NULL ? strlen(body) : 0)) != CURLE_OK ||
		    curl_easy_setopt(d->curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK)
			goto setup_failed;
	} else if (curl_easy_setopt(d->curl, CURLOPT_HTTPGET, 1L) != CURLE_OK) {
		goto setup_failed;
	}

	rc = curl_easy_perform(d->curl);
	(void)curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, code);
	/*
	 * Request bytes went out: an engine that got them may have acted
	 * although no answer came back. None went out: nothing was done.
	 */
	if (rc != CURLE_OK && sink->acts &&
	    curl_easy_getinfo(d->curl, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK && sent > 0)
		failed = DOCKER_UNKNOWN;
	if (rc == CURLE_WRITE_ERROR && sink->over) {
		if (sink->kind == BODY_JSON) {
			set_reason(res, failed,
			    "DOCKER_BAD_ANSWER: %s %s: answer larger than %d bytes", method, path,
			    DOCKER_JSON_MAX);
			goto done;
		}
		ret = 0;
		goto done;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		set_reason(res, failed, "DOCKER_TIMEOUT: %s %s: no complete answer within %ld ms",
		    method, path, timeout_ms);
		goto done;
	}
	if (rc != CURLE_OK) {
		set_reason(res, failed, "DOCKER_UNAVAILABLE: %s %s: %s%s%s", method, path,
		    curl_easy_strerror(rc), d->curl_err[0] ? ": " : "", d->curl_err);
		goto done;
	}
	ret = 0;
	goto done;
setup_failed:
	set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: cannot set up the request");
done:
	/* The handle must not keep pointers to what is freed here. */
	(void)curl_easy_setopt(d->curl, CURLOPT_HTTPHEADER, NULL);
	(void)curl_easy_setopt(d->curl, CURLOPT_WRITEDATA, NULL);
	curl_slist_free_all(headers);
	return ret;
}

/* The engine's {"message": ...}, reduced to printable ASCII. */
static void
engine_message(const struct sink *s, char *out, size_t outlen)
{
	json_t *root;
	const char *msg = NULL;
	size_t o = 0;

	out[0] = '\0';
	if (s->buf.data == NULL || outlen == 0)
		return;
	root = json_loadb(s->buf.data, s->buf.len, 0, NULL);
	if (root != NULL)
		msg = json_string_value(json_object_get(root, "message"));
	if (msg == NULL)
		msg = "no message";
	for (; *msg != '\0' && o + 1 < outlen; msg++)
		out[o++] = (*msg >= 0x20 && *msg < 0x7f) ? *msg : '?';
	out[o] = '\0';
	json_decref(root);
}

/*
 * Maps an unwanted HTTP status to a result. A 5xx or an odd status to a
 * request that acts may come after the engine did part of it (restart's
 * stop, say): unknown, not unavailable.
 */
static enum docker_status
http_error(struct docker_result *res, long code, const struct sink *s, const char *method,
    const char *path, const char *container)
{
	enum docker_status failed = s->acts ? DOCKER_UNKNOWN : DOCKER_UNAVAILABLE;
	char msg[160];

	engine_message(s, msg, sizeof(msg));
	if (code == 404 && container != NULL)
		return set_reason(res, DOCKER_CMD_ERROR,
		    "DOCKER_NO_SUCH_CONTAINER: no container named '%s' (%s)", container, msg);
	if (code >= 500)
		return set_reason(res, failed,
		    "DOCKER_UNAVAILABLE: %s %s: engine answered HTTP %ld: %s", method, path, code,
		    msg);
	if (code >= 400)
		return set_reason(res, DOCKER_CMD_ERROR,
		    "DOCKER_ENGINE_ERROR: %s %s: engine answered HTTP %ld: %s", method, path, code,
		    msg);
	return set_reason(res, failed, "DOCKER_BAD_ANSWER: %s %s: unexpected HTTP %ld", method,
	    path, code);
}

int
docker_request(struct docker *d, const struct docker_req *rq, struct sink *s,
    struct docker_result *res, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(s->path, sizeof(s->path), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(s->path)) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: request path too long");
		return -1;
	}
	s->curl = d->curl;
	if (docker_http(d, rq->method, s->path, rq->body,
	        rq->timeout_ms > 0 ? rq->timeout_ms : d->timeout_ms, s, &s->code, res) != 0)
		return -1;
	if (rq->want != 0 && s->code != rq->want && !(rq->also != 0 && s->code == rq->also)) {
		http_error(res, s->code, s, rq->method, s->path, rq->container);
		return -1;
	}
	return 0;
}

json_t *
parse_json(const struct sink *s, struct docker_result *res)
{
	json_error_t jerr;
	json_t *root;

	if (s->buf.data == NULL || (root = json_loadb(s->buf.data, s->buf.len, 0, &jerr)) == NULL) {
		set_reason(res, s->acts ? DOCKER_UNKNOWN : DOCKER_UNAVAILABLE,
		    "DOCKER_BAD_ANSWER: %s: answer is not JSON", s->path);
		return NULL;
	}
	return root;
}

struct docker *
docker_open(const char *socket_path, long timeout_ms, char *err, size_t errlen)
{
	struct docker *d = NULL;
	size_t n;

	if (socket_path == NULL || (n = strlen(socket_path)) == 0) {
		(void)xsnprintf(err, errlen, "DOCKER_CONFIG: empty socket path");
		return NULL;
	}
	if (n >= sizeof(d->socket_path)) {
		(void)xsnprintf(err, errlen, "DOCKER_CONFIG: socket path longer than %zu bytes",
		    sizeof(d->socket_path) - 1);
		return NULL;
	}
	if (timeout_ms <= 0) {
		(void)xsnprintf(err, errlen, "DOCKER_CONFIG: timeout must be positive");
		return NULL;
	}
	/* Reference-counted and thread-safe in the libcurl versions we build with. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		(void)xsnprintf(err, errlen, "DOCKER_CONFIG: curl_global_init failed");
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		(void)xsnprintf(err, errlen, "DOCKER_CONFIG: out of memory");
		goto fail;
	}
	memcpy(d->socket_path, socket_path, n + 1);
	d->timeout_ms = timeout_ms;
	if ((d->curl = curl_easy_init()) == NULL) {
		(void)xsnprintf(err, errlen, "DOCKER_CONFIG: curl_easy_init failed");
		goto fail;
	}
	return d;
fail:
	free(d);
	curl_global_cleanup();
	return NULL;
}

void
docker_close(struct docker *d)
{
	if (d == NULL)
		return;
	curl_easy_cleanup(d->curl);
	free(d);
	curl_global_cleanup();
}

int
docker_ping(struct docker *d, char *err, size_t errlen)
{
	static const struct docker_req ping = { .method = "GET" };
	struct docker_result res;
	struct sink s;
	int ret = -1;

	memset(&res, 0, sizeof(res));
	if (d == NULL) {
		(void)xsnprintf(err, errlen, "DOCKER_UNAVAILABLE: no engine handle");
		return -1;
	}
	sink_init(&s, BODY_JSON, 0);
	if (docker_request(d, &ping, &s, &res, "/_ping") != 0) {
		(void)xsnprintf(err, errlen, "%s", res.reason);
		goto fail;
	}
	if (s.code != 200 || s.buf.data == NULL || strncmp(s.buf.data, "OK", 2) != 0) {
		(void)xsnprintf(err, errlen, "DOCKER_UNAVAILABLE: /_ping answered HTTP %ld", s.code);
		goto fail;
	}
	ret = 0;
fail:
	sink_free(&s);
	return ret;
}
