#include "mcp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/*
 * Newest first. A client asking for one of these gets it; any other gets
 * the newest, and may disconnect if it cannot speak it (the lifecycle rule
 * of every revision since 2024-11-05).
 */
const char *const mcp_protocol_versions[] = { "2025-11-25", "2025-06-18", "2025-03-26", NULL };

void
mcp_init(struct mcp *m, int in_fd, mcp_send_fn send, void *send_arg)
{
	memset(m, 0, sizeof(*m));
	m->in_fd = in_fd;
	m->send = send;
	m->send_arg = send_arg;
	m->name = "wingman-mcp";
	m->version = "1.0.0";
}

void
mcp_free(struct mcp *m)
{
	while (m->q_len > 0) {
		free(m->queue[m->q_head].text);
		m->q_head = (m->q_head + 1) % MCP_QUEUE_MAX;
		m->q_len--;
	}
	free(m->buf);
	m->buf = NULL;
	json_decref(m->current_id);
	m->current_id = NULL;
}

static void
send_msg(struct mcp *m, json_t *msg)
{
	m->send(m->send_arg, msg);
	json_decref(msg);
}

/* id: borrowed, NULL for null. data may be NULL. */
static void
send_error(struct mcp *m, const json_t *id, int code, const char *message)
{
	json_t *msg = json_pack("{s:s, s:O?, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id, "error",
	    "code", code, "message", message);

	if (id == NULL)
		json_object_set_new(msg, "id", json_null());
	send_msg(m, msg);
}

static void
send_result(struct mcp *m, const json_t *id, json_t *result)
{
	send_msg(m, json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result));
}

json_t *
mcp_tool_text(int is_error, const char *text)
{
	return json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", text,
	    "isError", is_error);
}

int
mcp_has_structured(const struct mcp *m)
{
	return strcmp(m->protocol, "2025-03-26") != 0;
}

void
mcp_progress(struct mcp_call *call, double progress, const char *message)
{
	json_t *params;

	if (call->progress_token == NULL)
		return;
	/* The spec wants progress to grow with every notification. */
	if (progress <= call->last_progress)
		progress = call->last_progress + 0.001;
	call->last_progress = progress;
	params = json_pack("{s:O, s:f}", "progressToken", call->progress_token, "progress",
	    progress);
	if (message != NULL)
		json_object_set_new(params, "message", json_string(message));
	send_msg(call->m,
	    json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", "notifications/progress",
	        "params", params));
}

/* MCP ids are strings or integers; JSON-RPC's null is not allowed for requests. */
static int
valid_id(const json_t *id)
{
	return json_is_string(id) || json_is_integer(id);
}

static void
do_initialize(struct mcp *m, const json_t *id, const json_t *params)
{
	const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
	const char *chosen = mcp_protocol_versions[0];
	json_t *result;

	if (m->initialized) {
		send_error(m, id, RPC_INVALID_REQUEST, "Invalid Request: already initialized");
		return;
	}
	if (asked == NULL || !json_is_object(json_object_get(params, "capabilities")) ||
	    !json_is_object(json_object_get(params, "clientInfo"))) {
		send_error(m, id, RPC_INVALID_PARAMS,
		    "Invalid params: initialize needs protocolVersion (string), capabilities and "
		    "clientInfo (objects)");
		return;
	}
	for (size_t i = 0; mcp_protocol_versions[i] != NULL; i++)
		if (strcmp(asked, mcp_protocol_versions[i]) == 0)
			chosen = mcp_protocol_versions[i];
	snprintf(m->protocol, sizeof(m->protocol), "%s", chosen);
	m->initialized = 1;
	result = json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s}}", "protocolVersion", chosen,
	    "capabilities", "tools", "listChanged", 0, "serverInfo", "name", m->name, "version",
	    m->version);
	if (m->instructions != NULL)
		json_object_set_new(result, "instructions", json_string(m->instructions));
	log_info("event=initialized protocol=%s asked=\"%.32s\"", chosen, asked);
	send_result(m, id, result);
}

static void
do_tools_list(struct mcp *m, const json_t *id)
{
	json_t *tools = json_array();

	for (size_t i = 0; i < m->n_tools; i++) {
		const struct mcp_tool *t = &m->tools[i];

		/* Hints for the host (untrusted by the spec's own words): what may change things. */
		json_array_append_new(tools,
		    json_pack("{s:s, s:s, s:s, s:o, s:{s:b, s:b, s:b}}", "name", t->name, "title",
		        t->title, "description", t->description, "inputSchema", t->input_schema(),
		        "annotations", "readOnlyHint", t->read_only, "destructiveHint",
		        !t->read_only, "openWorldHint", 0));
	}
	send_result(m, id, json_pack("{s:o}", "tools", tools));
}

static void
do_tools_call(struct mcp *m, const json_t *id, const json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	json_t *args = json_object_get(params, "arguments"), *meta, *token, *result;
	const struct mcp_tool *tool = NULL;
	struct mcp_call call = { .m = m };
	char msg[256];

	if (name == NULL) {
		send_error(m, id, RPC_INVALID_PARAMS, "Invalid params: tools/call needs a name");
		return;
	}
	for (size_t i = 0; i < m->n_tools; i++)
		if (strcmp(m->tools[i].name, name) == 0)
			tool = &m->tools[i];
	if (tool == NULL) {
		snprintf(msg, sizeof(msg), "Invalid params: unknown tool '%.64s'", name);
		send_error(m, id, RPC_INVALID_PARAMS, msg);
		return;
	}
	if (args != NULL && !json_is_object(args)) {
		send_error(m, id, RPC_INVALID_PARAMS, "Invalid params: arguments must be an object");
		return;
	}
	meta = json_object_get(params, "_meta");
	token = json_object_get(meta, "progressToken");
	if (token != NULL && (json_is_string(token) || json_is_integer(token)))
		call.progress_token = token;
	args = args != NULL ? json_incref(args) : json_object();
	m->current_id = json_deep_copy(id);
	m->cancelled = 0;
	log_info("event=tool_call tool=%s", name);
	result = tool->call(m->ctx, &call, args);
	json_decref(args);
	if (result == NULL)
		result = mcp_tool_text(1, "internal error: the tool gave no result");
	/* A cancelled request gets no answer (the spec's cancellation rule). */
	if (m->cancelled) {
		log_info("event=tool_cancelled tool=%s", name);
		json_decref(result);
	} else
		send_result(m, id, result);
	json_decref(m->current_id);
	m->current_id = NULL;
}

/* A notification: never answered, whatever it says. */
static void
do_notification(struct mcp *m, const char *method, const json_t *params)
{
	if (strcmp(method, "notifications/cancelled") == 0) {
		json_t *rid = json_object_get(params, "requestId");
		if (m->current_id != NULL && rid != NULL && json_equal(rid, m->current_id))
			m->cancelled = 1;
	}
	/* notifications/initialized and any other: nothing to do. */
}

void
mcp_handle_line(struct mcp *m, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *msg, *id, *params;
	const char *method, *version;
	size_t i;

	for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'); i++)
		;
	if (i == len)
		return;
	if ((msg = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr)) == NULL) {
		log_warnx("event=parse_error error=\"%s\"", jerr.text);
		send_error(m, NULL, RPC_PARSE_ERROR, "Parse error: not a JSON text");
		return;
	}
	if (!json_is_object(msg)) {
		send_error(m, NULL, RPC_INVALID_REQUEST,
		    json_is_array(msg) ? "Invalid Request: batches are not supported"
		                       : "Invalid Request: not an object");
		goto done;
	}
	id = json_object_get(msg, "id");
	if (id != NULL && !valid_id(id))
		id = NULL;
	version = json_string_value(json_object_get(msg, "jsonrpc"));
	method = json_string_value(json_object_get(msg, "method"));
	params = json_object_get(msg, "params");
	if (version == NULL || strcmp(version, "2.0") != 0) {
		send_error(m, id, RPC_INVALID_REQUEST, "Invalid Request: jsonrpc must be \"2.0\"");
		goto done;
	}
	if (method == NULL) {
		/* A response to us: we send no requests, so there is nothing to match. */
		if (json_object_get(msg, "method") == NULL && id != NULL &&
		    (json_object_get(msg, "result") != NULL ||
		        json_object_get(msg, "error") != NULL))
			goto done;
		send_error(m, id, RPC_INVALID_REQUEST, "Invalid Request: no method");
		goto done;
	}
	if (json_object_get(msg, "id") == NULL) {
		if (params == NULL || json_is_object(params))
			do_notification(m, method, params);
		goto done;
	}
	if (id == NULL) {
		send_error(m, NULL, RPC_INVALID_REQUEST,
		    "Invalid Request: id must be a string or an integer");
		goto done;
	}
	if (params != NULL && !json_is_object(params)) {
		send_error(m, id, RPC_INVALID_PARAMS, "Invalid params: params must be an object");
		goto done;
	}
	if (strcmp(method, "initialize") == 0)
		do_initialize(m, id, params);
	else if (strcmp(method, "ping") == 0)
		send_result(m, id, json_object());
	else if (strcmp(method, "tools/list") != 0 && strcmp(method, "tools/call") != 0)
		send_error(m, id, RPC_METHOD_NOT_FOUND, "Method not found");
	else if (!m->initialized)
		send_error(m, id, RPC_INVALID_REQUEST,
		    "Invalid Request: not initialized (send initialize first)");
	else if (strcmp(method, "tools/list") == 0)
		do_tools_list(m, id);
	else
		do_tools_call(m, id, params);
done:
	json_decref(msg);
}

/* ---- input ---- */

/*
 * Reads once from the input, waiting up to wait_ms. Returns 1 when bytes
 * came, 0 when none, -1 at end of input (or a read error).
 */
static int
read_some(struct mcp *m, int wait_ms)
{
	struct pollfd p = { .fd = m->in_fd, .events = POLLIN };
	char chunk[65536];
	ssize_t n;
	char *nb;

	if (m->eof)
		return -1;
	if (poll(&p, 1, wait_ms) <= 0)
		return 0;
	n = read(m->in_fd, chunk, sizeof(chunk));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		m->eof = 1;
		return -1;
	}
	if ((nb = realloc(m->buf, m->buf_len + (size_t)n + 1)) == NULL) {
		log_warnx("event=out_of_memory");
		return 0;
	}
	m->buf = nb;
	memcpy(m->buf + m->buf_len, chunk, (size_t)n);
	m->buf_len += (size_t)n;
	return 1;
}

/*
 * Takes one whole line out of the buffer (or the last bytes at end of
 * input). A line longer than MCP_LINE_MAX is answered with one parse error
 * and dropped. Returns 1 with *line, else 0.
 */
static int
take_line(struct mcp *m, struct mcp_line *line)
{
	for (;;) {
		char *nl = m->buf != NULL ? memchr(m->buf, '\n', m->buf_len) : NULL;
		size_t len = nl != NULL ? (size_t)(nl - m->buf) : m->buf_len;
		size_t used = nl != NULL ? len + 1 : len;

		if (nl == NULL && !(m->eof && m->buf_len > 0)) {
			if (m->buf_len > MCP_LINE_MAX) {
				if (!m->discarding)
					send_error(m, NULL, RPC_PARSE_ERROR,
					    "Parse error: message longer than 1 MiB");
				m->discarding = 1;
				m->buf_len = 0;
			}
			return 0;
		}
		if (m->discarding || len > MCP_LINE_MAX) {
			if (!m->discarding)
				send_error(m, NULL, RPC_PARSE_ERROR,
				    "Parse error: message longer than 1 MiB");
			m->discarding = 0;
			memmove(m->buf, m->buf + used, m->buf_len - used);
			m->buf_len -= used;
			continue;
		}
		if ((line->text = malloc(len + 1)) == NULL)
			return 0;
		memcpy(line->text, m->buf, len);
		line->text[len] = '\0';
		line->len = len;
		memmove(m->buf, m->buf + used, m->buf_len - used);
		m->buf_len -= used;
		return 1;
	}
}

int
mcp_next_line(struct mcp *m, int wait_ms, struct mcp_line *line)
{
	if (m->q_len > 0) {
		*line = m->queue[m->q_head];
		m->q_head = (m->q_head + 1) % MCP_QUEUE_MAX;
		m->q_len--;
		return 1;
	}
	if (take_line(m, line))
		return 1;
	if (read_some(m, wait_ms) < 0 && !take_line(m, line))
		return -1;
	return take_line(m, line);
}

/* Handled at once while a tool waits: ping and cancellation. */
static int
urgent(const struct mcp_line *line)
{
	json_t *msg = json_loadb(line->text, line->len, 0, NULL);
	const char *method = json_string_value(json_object_get(msg, "method"));
	int yes = method != NULL &&
	    (strcmp(method, "ping") == 0 || strcmp(method, "notifications/cancelled") == 0);

	json_decref(msg);
	return yes;
}

int
mcp_pump(struct mcp *m)
{
	struct mcp_line line;

	while (read_some(m, 0) > 0)
		;
	while (m->q_len < MCP_QUEUE_MAX && take_line(m, &line)) {
		if (urgent(&line)) {
			mcp_handle_line(m, line.text, line.len);
			free(line.text);
			continue;
		}
		m->queue[(m->q_head + m->q_len) % MCP_QUEUE_MAX] = line;
		m->q_len++;
	}
	return m->cancelled || m->eof || (m->running != NULL && !*m->running);
}
