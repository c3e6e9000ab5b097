/*
 * The Docker Engine API over the unix socket with libcurl. One action maps
 * to one fixed request (exec to three); the only value taken from the
 * command is the container name, which the parser already validated and
 * which is re-checked and URL-escaped here, and exec's argv, which is put
 * into a fixed JSON template as data. Every answer is read into a bounded
 * buffer under a timeout.
 */
#include "docker.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "log.h"
#include "util.h"

/* Debian's docker.io is 20.10: Engine API 1.41. */
#define DOCKER_BASE_URL "http://localhost/v1.41"
/* Largest JSON answer we parse (ps with many containers, inspect). */
#define DOCKER_JSON_MAX (1024 * 1024)
/*
 * Streams (logs, exec) beyond the output cap are read and counted up to
 * this much, so output_size is exact for anything reasonable; past it the
 * transfer is cut and output_size is a lower bound.
 */
#define DOCKER_DRAIN_MAX (16 * 1024 * 1024)
/* What docker CLI 20.10 sends when -t is not given. */
#define DOCKER_DEFAULT_STOP_S 10
/* The exec record can lag the end of the stream by a moment. */
#define EXEC_POLL_TRIES 40
#define EXEC_POLL_MS 25
#define EXEC_ID_MAX 128

struct docker {
	CURL *curl;
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	long timeout_ms;
	char curl_err[CURL_ERROR_SIZE];
};

enum body_kind {
	BODY_JSON,   /* whole answer parsed as JSON; too big is an error */
	BODY_STREAM, /* logs/exec output: demultiplexed and capped */
};

enum stream_mode {
	STREAM_UNDECIDED,
	STREAM_MUX, /* 8-byte frame headers: type, 0, 0, 0, big-endian length */
	STREAM_RAW, /* TTY containers, or anything that does not parse as frames */
};

struct sink {
	CURL *curl;
	enum body_kind kind;
	int acts;     /* the request changes something: a failure after sending is DOCKER_UNKNOWN */
	struct wbuf buf;
	size_t seen;  /* raw bytes received */
	size_t limit; /* raw bytes we accept before cutting the transfer */
	int over;
	enum stream_mode mode;
	unsigned char hdr[8];
	size_t hdr_len;
	uint32_t left; /* payload bytes left in the current frame */
};

/* Reasons are a fixed 256 bytes; cutting a long one short is fine. */
static enum docker_status __attribute__((format(printf, 3, 4)))
set_reason(struct docker_result *res, enum docker_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
	res->status = status;
	return status;
}

static void
sink_init(struct sink *s, CURL *curl, enum body_kind kind)
{
	memset(s, 0, sizeof(*s));
	s->curl = curl;
	s->kind = kind;
	if (kind == BODY_JSON) {
		wbuf_init(&s->buf, DOCKER_JSON_MAX);
		s->limit = DOCKER_JSON_MAX;
	} else {
		wbuf_init(&s->buf, DOCKER_OUTPUT_MAX);
		s->limit = DOCKER_DRAIN_MAX;
	}
}

static void
sink_free(struct sink *s)
{
	wbuf_free(&s->buf);
}

/* Output past the cap is counted in buf.total and dropped. */
static void
sink_keep(struct sink *s, const unsigned char *p, size_t n)
{
	(void)wbuf_append(&s->buf, p, n);
}

/*
 * Demultiplexes Docker's stream framing as bytes arrive. Whether the
 * answer is framed is decided on its first byte (a TTY container sends raw
 * bytes); a header that does not parse later switches to raw for the rest.
 */
static void
sink_demux(struct sink *s, const unsigned char *p, size_t n)
{
	if (s->mode == STREAM_UNDECIDED) {
		long code = 0;

		(void)curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
		/* Error answers are JSON, never framed. */
		if (code < 200 || code > 299 || p[0] > 2)
			s->mode = STREAM_RAW;
		else
			s->mode = STREAM_MUX;
	}
	while (n > 0) {
		size_t take;

		if (s->mode == STREAM_RAW) {
			sink_keep(s, p, n);
			return;
		}
		if (s->left > 0) {
			take = n < s->left ? n : s->left;
			sink_keep(s, p, take);
			s->left -= (uint32_t)take;
			p += take;
			n -= take;
			continue;
		}
		take = sizeof(s->hdr) - s->hdr_len;
		if (take > n)
			take = n;
		memcpy(s->hdr + s->hdr_len, p, take);
		s->hdr_len += take;
		p += take;
		n -= take;
		if (s->hdr_len < sizeof(s->hdr))
			continue;
		s->hdr_len = 0;
		if (s->hdr[0] > 2 || s->hdr[1] != 0 || s->hdr[2] != 0 || s->hdr[3] != 0) {
			s->mode = STREAM_RAW;
			sink_keep(s, s->hdr, sizeof(s->hdr));
			continue;
		}
		s->left = (uint32_t)s->hdr[4] << 24 | (uint32_t)s->hdr[5] << 16 |
		    (uint32_t)s->hdr[6] << 8 | (uint32_t)s->hdr[7];
	}
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
	if (s->kind == BODY_JSON)
		sink_keep(s, (const unsigned char *)ptr, n);
	else
		sink_demux(s, (const unsigned char *)ptr, n);
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
	    curl_easy_setopt(d->curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_USERAGENT, "wingman-executor") != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_ERRORBUFFER, d->curl_err) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_WRITEFUNCTION, sink_write) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_WRITEDATA, sink) != CURLE_OK)
		goto setup_failed;
	if (strcmp(method, "POST") == 0) {
		if (body != NULL) {
			if ((h = curl_slist_append(headers, "Content-Type: application/json")) == NULL)
				goto setup_failed;
			headers = h;
		}
		if ((h = curl_slist_append(headers, "Expect:")) == NULL)
			goto setup_failed;
		headers = h;
		if (curl_easy_setopt(d->curl, CURLOPT_POST, 1L) != CURLE_OK ||
		    curl_easy_setopt(d->curl, CURLOPT_POSTFIELDS, body != NULL ? body : "") != CURLE_OK ||
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
			    "DOCKER_BAD_ANSWER: %s %s: answer larger than %d bytes",
			    method, path, DOCKER_JSON_MAX);
			goto done;
		}
		ret = 0;
		goto done;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		set_reason(res, failed,
		    "DOCKER_TIMEOUT: %s %s: no complete answer within %ld ms", method, path,
		    timeout_ms);
		goto done;
	}
	if (rc != CURLE_OK) {
		set_reason(res, failed, "DOCKER_UNAVAILABLE: %s %s: %s%s%s", method,
		    path, curl_easy_strerror(rc), d->curl_err[0] ? ": " : "", d->curl_err);
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
http_error(struct docker_result *res, long code, const struct sink *s,
    const char *method, const char *path, const char *container)
{
	enum docker_status failed = s->acts ? DOCKER_UNKNOWN : DOCKER_UNAVAILABLE;
	char msg[160];

	engine_message(s, msg, sizeof(msg));
	if (code == 404 && container != NULL)
		return set_reason(res, DOCKER_CMD_ERROR,
		    "DOCKER_NO_SUCH_CONTAINER: no container named '%s' (%s)", container, msg);
	if (code >= 500)
		return set_reason(res, failed,
		    "DOCKER_UNAVAILABLE: %s %s: engine answered HTTP %ld: %s", method, path,
		    code, msg);
	if (code >= 400)
		return set_reason(res, DOCKER_CMD_ERROR,
		    "DOCKER_ENGINE_ERROR: %s %s: engine answered HTTP %ld: %s", method, path,
		    code, msg);
	return set_reason(res, failed,
	    "DOCKER_BAD_ANSWER: %s %s: unexpected HTTP %ld", method, path, code);
}

static int
utf8_seq_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	int len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if ((size_t)len > n)
		return 0;
	for (int i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * Output travels as a JSON string and is read as C string: NUL bytes and
 * invalid UTF-8 (binary output, or a character cut by the cap) become '?'.
 */
static void
sanitize_text(char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		int n = utf8_seq_len((const unsigned char *)s + i, len - i);

		if (n == 0 || s[i] == '\0') {
			s[i++] = '?';
			continue;
		}
		i += (size_t)n;
	}
}

/* Moves what b holds into res->output; output_size is what was offered. */
static void
take_output(struct docker_result *res, struct wbuf *b)
{
	free(res->output);
	res->output = b->data;
	res->output_size = b->total;
	if (res->output != NULL)
		sanitize_text(res->output, b->len);
	b->data = NULL;
	b->len = 0;
}

static int
set_output(struct docker_result *res, const char *s)
{
	struct wbuf b;

	wbuf_init(&b, DOCKER_OUTPUT_MAX);
	if (wbuf_append(&b, s, strlen(s)) != 0 && b.data == NULL)
		return -1;
	take_output(res, &b);
	return 0;
}

static json_t *
parse_json(const struct sink *s, struct docker_result *res, const char *path)
{
	json_error_t jerr;
	json_t *root;

	if (s->buf.data == NULL ||
	    (root = json_loadb(s->buf.data, s->buf.len, 0, &jerr)) == NULL) {
		set_reason(res, s->acts ? DOCKER_UNKNOWN : DOCKER_UNAVAILABLE,
		    "DOCKER_BAD_ANSWER: %s: answer is not JSON", path);
		return NULL;
	}
	return root;
}

static const char *
str_or_dash(json_t *v)
{
	const char *s = json_string_value(v);

	return s != NULL && *s != '\0' ? s : "-";
}

static enum docker_status
run_ps(struct docker *d, const struct command *cmd, struct docker_result *res)
{
	struct sink s;
	struct wbuf out;
	json_t *root = NULL, *c;
	char path[64];
	size_t i;
	long code;

	sink_init(&s, d->curl, BODY_JSON);
	wbuf_init(&out, DOCKER_OUTPUT_MAX);
	(void)xsnprintf(path, sizeof(path), "/containers/json?all=%d", cmd->all ? 1 : 0);
	if (docker_http(d, "GET", path, NULL, d->timeout_ms, &s, &code, res) != 0)
		goto fail;
	if (code != 200) {
		http_error(res, code, &s, "GET", path, NULL);
		goto fail;
	}
	if ((root = parse_json(&s, res, path)) == NULL)
		goto fail;
	if (!json_is_array(root)) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_BAD_ANSWER: %s: not a list", path);
		goto fail;
	}
	json_array_foreach(root, i, c) {
		const char *name = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
		char line[1024];
		int n;

		if (name == NULL)
			name = "-";
		else if (name[0] == '/')
			name++;
		n = snprintf(line, sizeof(line), "%s %s %s %s\n", name,
		    str_or_dash(json_object_get(c, "State")),
		    str_or_dash(json_object_get(c, "Status")),
		    str_or_dash(json_object_get(c, "Image")));
		if (n < 0)
			continue;
		/* A line longer than line[] is cut; it still ends the line. */
		if ((size_t)n >= sizeof(line)) {
			line[sizeof(line) - 2] = '\n';
			n = (int)sizeof(line) - 1;
		}
		(void)wbuf_append(&out, line, (size_t)n);
	}
	if (out.data == NULL && wbuf_append(&out, "", 0) != 0) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: out of memory");
		goto fail;
	}
	take_output(res, &out);
	res->status = DOCKER_OK;
fail:
	json_decref(root);
	wbuf_free(&out);
	sink_free(&s);
	return res->status;
}

/* Copies src[name] into dst when it is of the wanted type; 0, or -1 out of memory. */
static int
copy_member(json_t *dst, const char *as, json_t *src, const char *name, int (*is)(const json_t *))
{
	json_t *v = json_object_get(src, name);

	if (v == NULL || !is(v))
		return 0;
	return json_object_set(dst, as, v);
}

static int
is_str(const json_t *v)
{
	return json_is_string(v);
}

static int
is_int(const json_t *v)
{
	return json_is_integer(v);
}

static int
is_bool(const json_t *v)
{
	return json_is_boolean(v);
}

/*
 * What inspect shows is chosen field by field: Cmd, Entrypoint, Args, Env,
 * Labels, Mounts and HostConfig carry whatever secrets the container was
 * started with, and a field the engine adds tomorrow must not appear by
 * default. Health keeps its status, not the probe's output (Log).
 */
static json_t *
inspect_allowlist(json_t *root)
{
	static const char *const state_str[] = { "Status", "StartedAt", "FinishedAt" };
	static const char *const state_bool[] = { "Running", "Paused", "Restarting", "OOMKilled",
	    "Dead" };
	json_t *out, *st, *state, *health, *h;
	size_t i;
	int rc = 0;

	if ((out = json_object()) == NULL || (st = json_object()) == NULL) {
		json_decref(out);
		return NULL;
	}
	rc |= copy_member(out, "Id", root, "Id", is_str);
	rc |= copy_member(out, "Name", root, "Name", is_str);
	rc |= copy_member(out, "Created", root, "Created", is_str);
	rc |= copy_member(out, "Image", json_object_get(root, "Config"), "Image", is_str);
	rc |= copy_member(out, "RestartCount", root, "RestartCount", is_int);
	state = json_object_get(root, "State");
	for (i = 0; i < ARRAY_LEN(state_str); i++)
		rc |= copy_member(st, state_str[i], state, state_str[i], is_str);
	for (i = 0; i < ARRAY_LEN(state_bool); i++)
		rc |= copy_member(st, state_bool[i], state, state_bool[i], is_bool);
	rc |= copy_member(st, "ExitCode", state, "ExitCode", is_int);
	if ((health = json_object_get(state, "Health")) != NULL && json_is_object(health)) {
		if ((h = json_object()) == NULL || json_object_set_new(st, "Health", h) != 0)
			rc = -1;
		else
			rc |= copy_member(h, "Status", health, "Status", is_str) |
			    copy_member(h, "FailingStreak", health, "FailingStreak", is_int);
	}
	rc |= json_object_set_new(out, "State", st);
	if (rc != 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}

static enum docker_status
run_inspect(struct docker *d, const char *name, struct docker_result *res)
{
	struct sink s;
	struct wbuf out;
	json_t *root = NULL, *shown = NULL;
	char path[512], *text = NULL;
	long code;

	sink_init(&s, d->curl, BODY_JSON);
	wbuf_init(&out, DOCKER_OUTPUT_MAX);
	if (xsnprintf(path, sizeof(path), "/containers/%s/json", name) < 0) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: request path too long");
		goto fail;
	}
	if (docker_http(d, "GET", path, NULL, d->timeout_ms, &s, &code, res) != 0)
		goto fail;
	if (code != 200) {
		http_error(res, code, &s, "GET", path, name);
		goto fail;
	}
	if ((root = parse_json(&s, res, path)) == NULL)
		goto fail;
	if (!json_is_object(root) || !json_is_object(json_object_get(root, "State"))) {
		set_reason(res, DOCKER_UNAVAILABLE,
		    "DOCKER_BAD_ANSWER: %s: unexpected shape, not shown", path);
		goto fail;
	}
	if ((shown = inspect_allowlist(root)) == NULL ||
	    (text = json_dumps(shown, JSON_COMPACT)) == NULL) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: out of memory");
		goto fail;
	}
	if (wbuf_append(&out, text, strlen(text)) != 0 && out.data == NULL) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: out of memory");
		goto fail;
	}
	take_output(res, &out);
	res->status = DOCKER_OK;
fail:
	free(text);
	json_decref(shown);
	json_decref(root);
	wbuf_free(&out);
	sink_free(&s);
	return res->status;
}

static enum docker_status
run_logs(struct docker *d, const struct command *cmd, const char *name,
    struct docker_result *res)
{
	struct sink s;
	char path[512], tail[16], since[32] = "";
	long code;

	sink_init(&s, d->curl, BODY_STREAM);
	if (cmd->tail > 0)
		(void)xsnprintf(tail, sizeof(tail), "%d", cmd->tail);
	else
		(void)xsnprintf(tail, sizeof(tail), "all");
	if (cmd->since > 0)
		(void)xsnprintf(since, sizeof(since), "&since=%lld", cmd->since);
	if (xsnprintf(path, sizeof(path), "/containers/%s/logs?stdout=1&stderr=1&tail=%s%s",
	    name, tail, since) < 0) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: request path too long");
		goto fail;
	}
	if (docker_http(d, "GET", path, NULL, d->timeout_ms, &s, &code, res) != 0)
		goto fail;
	if (code != 200) {
		http_error(res, code, &s, "GET", path, name);
		goto fail;
	}
	if (s.buf.data == NULL && wbuf_append(&s.buf, "", 0) != 0) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: out of memory");
		goto fail;
	}
	if (s.over)
		log_warnx("docker_logs container=%s output cut after %d bytes read", name,
		    DOCKER_DRAIN_MAX);
	take_output(res, &s.buf);
	res->status = DOCKER_OK;
fail:
	sink_free(&s);
	return res->status;
}

/*
 * restart, start and stop: a POST without body. Restart and stop wait up
 * to t seconds for the container to stop, so their budget is longer.
 */
static enum docker_status
run_lifecycle(struct docker *d, const struct command *cmd, const char *name,
    const char *raw_name, struct docker_result *res)
{
	struct sink s;
	char path[512], line[COMMAND_CONTAINER_MAX + 2];
	long code, timeout_ms = d->timeout_ms;
	int t = cmd->timeout_s >= 0 ? cmd->timeout_s : DOCKER_DEFAULT_STOP_S, rc;

	sink_init(&s, d->curl, BODY_JSON);
	s.acts = 1;
	if (cmd->action == ACTION_START) {
		rc = xsnprintf(path, sizeof(path), "/containers/%s/start", name);
	} else {
		rc = xsnprintf(path, sizeof(path), "/containers/%s/%s?t=%d", name,
		    cmd->action == ACTION_RESTART ? "restart" : "stop", t);
		timeout_ms += (long)t * 1000;
	}
	if (rc < 0) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: request path too long");
		goto fail;
	}
	if (docker_http(d, "POST", path, NULL, timeout_ms, &s, &code, res) != 0)
		goto fail;
	/* 304: already started / already stopped, which is what was asked. */
	if (code != 204 && !(code == 304 && cmd->action != ACTION_RESTART)) {
		http_error(res, code, &s, "POST", path, raw_name);
		goto fail;
	}
	/* Like the docker CLI: the name, on success. */
	(void)xsnprintf(line, sizeof(line), "%s\n", raw_name);
	if (set_output(res, line) != 0) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: out of memory");
		goto fail;
	}
	res->status = DOCKER_OK;
fail:
	sink_free(&s);
	return res->status;
}

static int
valid_exec_id(const char *id)
{
	size_t n;

	if (id == NULL || (n = strlen(id)) == 0 || n > EXEC_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return 1;
}

/*
 * The exec body comes from a fixed template: only Cmd varies. Privileged,
 * User, Env and WorkingDir are never sent, so the engine's defaults (the
 * container's own) apply.
 */
static char *
exec_body(const struct command *cmd)
{
	json_t *body, *argv;
	char *text = NULL;

	body = json_pack("{s:b, s:b, s:b, s:[]}", "AttachStdout", 1, "AttachStderr", 1,
	    "Tty", 0, "Cmd");
	if (body == NULL)
		return NULL;
	argv = json_object_get(body, "Cmd");
	for (size_t i = 0; i < cmd->argc; i++)
		if (json_array_append_new(argv, json_string(cmd->argv[i])) != 0)
			goto fail;
	text = json_dumps(body, JSON_COMPACT);
fail:
	json_decref(body);
	return text;
}

/* The whole pause, signals or not: an exec is polled to its end. */
static void
pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		continue;
}

/* Reads ExitCode once the exec has finished. Returns 0, or -1 with res set. */
static int
exec_exit_code(struct docker *d, const char *id, int *exit_code, struct docker_result *res)
{
	char path[256];
	long code;

	if (xsnprintf(path, sizeof(path), "/exec/%s/json", id) < 0) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: request path too long");
		return -1;
	}
	for (int tries = 0; tries < EXEC_POLL_TRIES; tries++) {
		struct sink s;
		json_t *root, *ec;
		int running, done = 0;

		/* The command ran: not learning how it ended is an unknown outcome. */
		sink_init(&s, d->curl, BODY_JSON);
		s.acts = 1;
		if (docker_http(d, "GET", path, NULL, d->timeout_ms, &s, &code, res) != 0) {
			sink_free(&s);
			return -1;
		}
		if (code != 200) {
			http_error(res, code, &s, "GET", path, NULL);
			sink_free(&s);
			return -1;
		}
		root = parse_json(&s, res, path);
		sink_free(&s);
		if (root == NULL)
			return -1;
		running = json_is_true(json_object_get(root, "Running"));
		ec = json_object_get(root, "ExitCode");
		if (!running && json_is_integer(ec)) {
			json_int_t v = json_integer_value(ec);
			*exit_code = v >= -255 && v <= 255 ? (int)v : -1;
			done = 1;
		}
		json_decref(root);
		if (done)
			return 0;
		pause_ms(EXEC_POLL_MS);
	}
	set_reason(res, DOCKER_CMD_ERROR,
	    "DOCKER_EXEC_RUNNING: the command was still running after its output ended");
	return -1;
}

static enum docker_status
run_exec(struct docker *d, const struct command *cmd, const char *name,
    const char *raw_name, struct docker_result *res)
{
	struct sink s;
	json_t *root = NULL;
	char path[512], id[EXEC_ID_MAX + 1], *body = NULL;
	const char *idv;
	long code;
	int exit_code = -1;

	sink_init(&s, d->curl, BODY_JSON);
	if ((body = exec_body(cmd)) == NULL) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: out of memory");
		goto fail;
	}
	if (xsnprintf(path, sizeof(path), "/containers/%s/exec", name) < 0) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: request path too long");
		goto fail;
	}
	if (docker_http(d, "POST", path, body, d->timeout_ms, &s, &code, res) != 0)
		goto fail;
	if (code != 201) {
		http_error(res, code, &s, "POST", path, raw_name);
		goto fail;
	}
	if ((root = parse_json(&s, res, path)) == NULL)
		goto fail;
	idv = json_string_value(json_object_get(root, "Id"));
	if (!valid_exec_id(idv)) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_BAD_ANSWER: %s: no exec id", path);
		goto fail;
	}
	memcpy(id, idv, strlen(idv) + 1);

	/* Creating an exec runs nothing; starting it does. */
	sink_free(&s);
	sink_init(&s, d->curl, BODY_STREAM);
	s.acts = 1;
	if (xsnprintf(path, sizeof(path), "/exec/%s/start", id) < 0) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: request path too long");
		goto fail;
	}
	if (docker_http(d, "POST", path, "{\"Detach\":false,\"Tty\":false}", d->timeout_ms,
	    &s, &code, res) != 0)
		goto fail;
	if (code != 200) {
		http_error(res, code, &s, "POST", path, NULL);
		goto fail;
	}
	if (s.buf.data == NULL && wbuf_append(&s.buf, "", 0) != 0) {
		set_reason(res, DOCKER_UNKNOWN, "DOCKER_UNAVAILABLE: out of memory");
		goto fail;
	}
	take_output(res, &s.buf);
	if (s.over) {
		set_reason(res, DOCKER_CMD_ERROR,
		    "DOCKER_OUTPUT_TOO_LARGE: output cut after %d bytes", DOCKER_DRAIN_MAX);
		goto fail;
	}
	if (exec_exit_code(d, id, &exit_code, res) != 0)
		goto fail;
	res->exit_code = exit_code;
	if (exit_code != 0) {
		set_reason(res, DOCKER_CMD_ERROR,
		    "DOCKER_EXIT_CODE: the command exited with status %d", exit_code);
		goto fail;
	}
	res->status = DOCKER_OK;
fail:
	json_decref(root);
	free(body);
	sink_free(&s);
	return res->status;
}

/*
 * The parser already refused anything else; this is the executor checking
 * again right before acting.
 */
static int
command_sane(const struct command *cmd, struct docker_result *res)
{
	if ((unsigned)cmd->action > ACTION_EXEC) {
		set_reason(res, DOCKER_CMD_ERROR, "DOCKER_BAD_COMMAND: unknown action");
		return 0;
	}
	if (cmd->action != ACTION_PS && !command_valid_container(cmd->container)) {
		set_reason(res, DOCKER_CMD_ERROR, "DOCKER_BAD_COMMAND: bad container name");
		return 0;
	}
	if (cmd->action == ACTION_EXEC) {
		if (cmd->argc < 1 || cmd->argc > COMMAND_EXEC_MAX_ARGS) {
			set_reason(res, DOCKER_CMD_ERROR, "DOCKER_BAD_COMMAND: bad exec argv");
			return 0;
		}
		for (size_t i = 0; i < cmd->argc; i++) {
			if (strnlen(cmd->argv[i], COMMAND_ARG_MAX + 1) > COMMAND_ARG_MAX) {
				set_reason(res, DOCKER_CMD_ERROR, "DOCKER_BAD_COMMAND: bad exec argv");
				return 0;
			}
		}
	}
	if ((cmd->action == ACTION_RESTART || cmd->action == ACTION_STOP) &&
	    (cmd->timeout_s < -1 || cmd->timeout_s > 300)) {
		set_reason(res, DOCKER_CMD_ERROR, "DOCKER_BAD_COMMAND: bad stop timeout");
		return 0;
	}
	if (cmd->action == ACTION_LOGS &&
	    (cmd->tail < -1 || cmd->tail > 10000 || cmd->since < 0)) {
		set_reason(res, DOCKER_CMD_ERROR, "DOCKER_BAD_COMMAND: bad logs options");
		return 0;
	}
	return 1;
}

enum docker_status
docker_run(struct docker *d, const struct command *cmd, struct docker_result *res)
{
	char *name = NULL;

	memset(res, 0, sizeof(*res));
	set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: not run");
	res->exit_code = -1;
	if (d == NULL || cmd == NULL) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: no engine handle");
		goto out;
	}
	if (!command_sane(cmd, res))
		goto out;
	if (cmd->action != ACTION_PS &&
	    (name = curl_easy_escape(d->curl, cmd->container, 0)) == NULL) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: out of memory");
		goto out;
	}
	switch (cmd->action) {
	case ACTION_PS:
		run_ps(d, cmd, res);
		break;
	case ACTION_INSPECT:
		run_inspect(d, name, res);
		break;
	case ACTION_LOGS:
		run_logs(d, cmd, name, res);
		break;
	case ACTION_RESTART:
	case ACTION_START:
	case ACTION_STOP:
		run_lifecycle(d, cmd, name, cmd->container, res);
		break;
	case ACTION_EXEC:
		run_exec(d, cmd, name, cmd->container, res);
		break;
	}
	/* exit_code stays -1 on failures that have no process exit status. */
	if (res->status == DOCKER_OK) {
		res->reason[0] = '\0';
		res->exit_code = 0;
	}
out:
	curl_free(name);
	/* Callers may always print output. */
	if (res->output == NULL && (res->output = strdup("")) == NULL)
		log_warnx("docker_run: out of memory");
	return res->status;
}

void
docker_result_free(struct docker_result *res)
{
	if (res == NULL)
		return;
	free(res->output);
	res->output = NULL;
	res->output_size = 0;
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
	struct docker_result res;
	struct sink s;
	long code;
	int ret = -1;

	memset(&res, 0, sizeof(res));
	if (d == NULL) {
		(void)xsnprintf(err, errlen, "DOCKER_UNAVAILABLE: no engine handle");
		return -1;
	}
	sink_init(&s, d->curl, BODY_JSON);
	if (docker_http(d, "GET", "/_ping", NULL, d->timeout_ms, &s, &code, &res) != 0) {
		(void)xsnprintf(err, errlen, "%s", res.reason);
		goto fail;
	}
	if (code != 200 || s.buf.data == NULL || strncmp(s.buf.data, "OK", 2) != 0) {
		(void)xsnprintf(err, errlen, "DOCKER_UNAVAILABLE: /_ping answered HTTP %ld", code);
		goto fail;
	}
	ret = 0;
fail:
	sink_free(&s);
	return ret;
}
