/*
 * The Docker actions. One action maps to one fixed request (exec to
 * three), sent by docker_request (docker_http.c); the only value taken
 * from the command is the container name, which the parser already
 * validated and which is re-checked and URL-escaped here, and exec's argv,
 * which is put into a fixed JSON template as data.
 */
#include "docker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "docker_http.h"
#include "log.h"
#include "util.h"

/* What docker CLI 20.10 sends when -t is not given. */
#define DOCKER_DEFAULT_STOP_S 10
/* The exec record can lag the end of the stream by a moment. */
#define EXEC_POLL_TRIES 40
#define EXEC_POLL_MS 25
#define EXEC_ID_MAX 128

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

static const char *
str_or_dash(json_t *v)
{
	const char *s = json_string_value(v);

	return s != NULL && *s != '\0' ? s : "-";
}

static enum docker_status
run_ps(struct docker *d, const struct command *cmd, struct docker_result *res)
{
	static const struct docker_req list = { .method = "GET", .want = 200 };
	struct sink s;
	struct wbuf out;
	json_t *root = NULL, *c;
	size_t i;

	sink_init(&s, BODY_JSON, 0);
	wbuf_init(&out, DOCKER_OUTPUT_MAX);
	if (docker_request(d, &list, &s, res, "/containers/json?all=%d", cmd->all ? 1 : 0) != 0 ||
	    (root = parse_json(&s, res)) == NULL)
		goto fail;
	if (!json_is_array(root)) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_BAD_ANSWER: %s: not a list", s.path);
		goto fail;
	}
	json_array_foreach(root, i, c)
	{
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
	const struct docker_req rq = { .method = "GET", .want = 200, .container = name };
	struct sink s;
	struct wbuf out;
	json_t *root = NULL, *shown = NULL;
	char *text = NULL;

	sink_init(&s, BODY_JSON, 0);
	wbuf_init(&out, DOCKER_OUTPUT_MAX);
	if (docker_request(d, &rq, &s, res, "/containers/%s/json", name) != 0 ||
	    (root = parse_json(&s, res)) == NULL)
		goto fail;
	if (!json_is_object(root) || !json_is_object(json_object_get(root, "State"))) {
		set_reason(res, DOCKER_UNAVAILABLE,
		    "DOCKER_BAD_ANSWER: %s: unexpected shape, not shown", s.path);
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
run_logs(struct docker *d, const struct command *cmd, const char *name, struct docker_result *res)
{
	const struct docker_req rq = { .method = "GET", .want = 200, .container = name };
	struct sink s;
	char tail[16], since[32] = "";

	sink_init(&s, BODY_STREAM, 0);
	if (cmd->tail > 0)
		(void)xsnprintf(tail, sizeof(tail), "%d", cmd->tail);
	else
		(void)xsnprintf(tail, sizeof(tail), "all");
	if (cmd->since > 0)
		(void)xsnprintf(since, sizeof(since), "&since=%lld", cmd->since);
	if (docker_request(d, &rq, &s, res, "/containers/%s/logs?stdout=1&stderr=1&tail=%s%s", name,
	        tail, since) != 0)
		goto fail;
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
run_lifecycle(struct docker *d, const struct command *cmd, const char *name, const char *raw_name,
    struct docker_result *res)
{
	/* 304: already started / already stopped, which is what was asked. */
	struct docker_req rq = { .method = "POST",
		.timeout_ms = d->timeout_ms,
		.want = 204,
		.also = cmd->action != ACTION_RESTART ? 304 : 0,
		.container = raw_name };
	struct sink s;
	char line[COMMAND_CONTAINER_MAX + 2];
	int t = cmd->timeout_s >= 0 ? cmd->timeout_s : DOCKER_DEFAULT_STOP_S, rc;

	sink_init(&s, BODY_JSON, 1);
	if (cmd->action == ACTION_START) {
		rc = docker_request(d, &rq, &s, res, "/containers/%s/start", name);
	} else {
		rq.timeout_ms += (long)t * 1000;
		rc = docker_request(d, &rq, &s, res, "/containers/%s/%s?t=%d", name,
		    cmd->action == ACTION_RESTART ? "restart" : "stop", t);
	}
	if (rc != 0)
		goto fail;
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

	body = json_pack("{s:b, s:b, s:b, s:[]}", "AttachStdout", 1, "AttachStderr", 1, "Tty", 0,
	    "Cmd");
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

/* Reads ExitCode once the exec has finished. Returns 0, or -1 with res set. */
static int
exec_exit_code(struct docker *d, const char *id, int *exit_code, struct docker_result *res)
{
	static const struct docker_req rq = { .method = "GET", .want = 200 };

	for (int tries = 0; tries < EXEC_POLL_TRIES; tries++) {
		struct sink s;
		json_t *root = NULL, *ec;
		int running, done = 0;

		/* The command ran: not learning how it ended is an unknown outcome. */
		sink_init(&s, BODY_JSON, 1);
		if (docker_request(d, &rq, &s, res, "/exec/%s/json", id) == 0)
			root = parse_json(&s, res);
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
		/* The whole pause, signals or not: an exec is polled to its end. */
		sleep_while(NULL, EXEC_POLL_MS);
	}
	set_reason(res, DOCKER_CMD_ERROR,
	    "DOCKER_EXEC_RUNNING: the command was still running after its output ended");
	return -1;
}

static enum docker_status
run_exec(struct docker *d, const struct command *cmd, const char *name, const char *raw_name,
    struct docker_result *res)
{
	static const struct docker_req start = { .method = "POST",
		.body = "{\"Detach\":false,\"Tty\":false}",
		.want = 200 };
	struct docker_req create = { .method = "POST", .want = 201, .container = raw_name };
	struct sink s;
	json_t *root = NULL;
	char id[EXEC_ID_MAX + 1], *body = NULL;
	const char *idv;
	int exit_code = -1;

	sink_init(&s, BODY_JSON, 0);
	if ((create.body = body = exec_body(cmd)) == NULL) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE: out of memory");
		goto fail;
	}
	if (docker_request(d, &create, &s, res, "/containers/%s/exec", name) != 0 ||
	    (root = parse_json(&s, res)) == NULL)
		goto fail;
	idv = json_string_value(json_object_get(root, "Id"));
	if (!valid_exec_id(idv)) {
		set_reason(res, DOCKER_UNAVAILABLE, "DOCKER_BAD_ANSWER: %s: no exec id", s.path);
		goto fail;
	}
	memcpy(id, idv, strlen(idv) + 1);

	/* Creating an exec runs nothing; starting it does. */
	sink_free(&s);
	sink_init(&s, BODY_STREAM, 1);
	if (docker_request(d, &start, &s, res, "/exec/%s/start", id) != 0)
		goto fail;
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
				set_reason(res, DOCKER_CMD_ERROR,
				    "DOCKER_BAD_COMMAND: bad exec argv");
				return 0;
			}
		}
	}
	if ((cmd->action == ACTION_RESTART || cmd->action == ACTION_STOP) &&
	    (cmd->timeout_s < -1 || cmd->timeout_s > 300)) {
		set_reason(res, DOCKER_CMD_ERROR, "DOCKER_BAD_COMMAND: bad stop timeout");
		return 0;
	}
	if (cmd->action == ACTION_LOGS && (cmd->tail < -1 || cmd->tail > 10000 || cmd->since < 0)) {
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
