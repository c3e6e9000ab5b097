/*
 * libFuzzer target for wingman-mcp's protocol half (services/mcp/mcp.c):
 * the bytes an MCP client writes, split into lines as the stdio transport
 * does. Never a crash, and everything sent back is a JSON-RPC 2.0 message:
 * a response with an id (or null) and exactly one of result and error, or
 * a notification.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mcp.h"

static void
check_sent(void *arg, const json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	int has_result = json_object_get(msg, "result") != NULL;
	int has_error = json_object_get(msg, "error") != NULL;

	(void)arg;
	if (s == NULL || strchr(s, '\n') != NULL)
		abort();
	free(s);
	if (strcmp(json_string_value(json_object_get(msg, "jsonrpc")), "2.0") != 0)
		abort();
	if (json_object_get(msg, "method") != NULL) {
		if (json_object_get(msg, "id") != NULL || has_result || has_error)
			abort();
	} else if (json_object_get(msg, "id") == NULL || has_result == has_error)
		abort();
}

static json_t *
schema(void)
{
	return json_pack("{s:s}", "type", "object");
}

static json_t *
echo_call(void *ctx, struct mcp_call *call, const json_t *args)
{
	(void)ctx;
	mcp_progress(call, 1, "working");
	return mcp_tool_text(json_object_size(args) > 2, "done");
}

static const struct mcp_tool tools[] = {
	{ "echo", "Echo", "a tool for the fuzzer", 0, schema, echo_call },
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	struct mcp m;
	size_t start = 0;

	if (!quiet) {
		/* The server's logs would drown the fuzzer's own output. */
		if (freopen("/dev/null", "w", stderr) == NULL)
			abort();
		quiet = 1;
	}
	mcp_init(&m, -1, check_sent, NULL);
	m.tools = tools;
	m.n_tools = 1;
	for (size_t i = 0; i <= size; i++)
		if (i == size || data[i] == '\n') {
			mcp_handle_line(&m, (const char *)data + start, i - start);
			start = i + 1;
		}
	mcp_free(&m);
	return 0;
}
