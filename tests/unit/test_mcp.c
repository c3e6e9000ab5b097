/*
 * wingman-mcp's protocol half without a broker: JSON-RPC framing, the
 * lifecycle, tool dispatch with progress and cancellation, and the texts an
 * agent reads. tests/integration/test_mcp.sh drives the real server with
 * the official Python SDK.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "command.h"
#include "mcp.h"
#include "tools.h"

/* Every message the server sent, in order. */
static json_t *sent;

static void
capture(void *arg, const json_t *msg)
{
	(void)arg;
	json_array_append_new(sent, json_deep_copy(msg));
}

static void
feed(struct mcp *m, const char *line)
{
	mcp_handle_line(m, line, strlen(line));
}

static json_t *
last(void)
{
	return json_array_get(sent, json_array_size(sent) - 1);
}

static int
last_error_code(void)
{
	return (int)json_integer_value(json_object_get(json_object_get(last(), "error"), "code"));
}

/* A fake tool: reports progress, and optionally is cancelled while it runs. */
static int cancel_inside;

static json_t *
fake_schema(void)
{
	return json_pack("{s:s, s:{}}", "type", "object", "properties");
}

static json_t *
fake_call(void *ctx, struct mcp_call *call, const json_t *args)
{
	(void)ctx;
	(void)args;
	mcp_progress(call, 1, "halfway");
	mcp_progress(call, 1, "again");
	if (cancel_inside)
		feed(call->m,
		    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
		    "\"params\":{\"requestId\":\"c1\"}}");
	return mcp_tool_text(0, "done");
}

static const struct mcp_tool fake_tools[] = {
	{ "fake", "Fake", "a tool for the test", 1, fake_schema, fake_call },
};

static int
setup(void **state)
{
	static struct mcp m;

	sent = json_array();
	mcp_init(&m, -1, capture, NULL);
	m.tools = fake_tools;
	m.n_tools = 1;
	cancel_inside = 0;
	*state = &m;
	return 0;
}

static int
teardown(void **state)
{
	mcp_free(*state);
	json_decref(sent);
	return 0;
}

static void
initialize(struct mcp *m, const char *version)
{
	char line[512];

	snprintf(line, sizeof(line),
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
	    "\"protocolVersion\":\"%s\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\","
	    "\"version\":\"1\"}}}",
	    version);
	feed(m, line);
}

static void
test_refuses_before_initialize(void **state)
{
	struct mcp *m = *state;

	feed(m, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
	assert_int_equal(last_error_code(), RPC_INVALID_REQUEST);
	feed(m,
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"fake\"}}");
	assert_int_equal(last_error_code(), RPC_INVALID_REQUEST);
	assert_int_equal(json_integer_value(json_object_get(last(), "id")), 2);
	/* The unknown method is unknown whatever the state; ping always works. */
	feed(m, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"server/discover\"}");
	assert_int_equal(last_error_code(), RPC_METHOD_NOT_FOUND);
	feed(m, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}");
	assert_non_null(json_object_get(last(), "result"));
}

static void
test_framing_errors(void **state)
{
	struct mcp *m = *state;

	feed(m, "{");
	assert_int_equal(last_error_code(), RPC_PARSE_ERROR);
	assert_true(json_is_null(json_object_get(last(), "id")));
	feed(m, "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\"}");
	assert_int_equal(last_error_code(), RPC_PARSE_ERROR);
	feed(m, "[]");
	assert_int_equal(last_error_code(), RPC_INVALID_REQUEST);
	feed(m, "17");
	assert_int_equal(last_error_code(), RPC_INVALID_REQUEST);
	feed(m, "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}");
	assert_int_equal(last_error_code(), RPC_INVALID_REQUEST);
	feed(m, "{\"jsonrpc\":2,\"id\":5,\"method\":\"ping\"}");
	assert_int_equal(last_error_code(), RPC_INVALID_REQUEST);
	assert_int_equal(json_integer_value(json_object_get(last(), "id")), 5);
}

static void
test_notifications_get_no_reply(void **state)
{
	struct mcp *m = *state;

	feed(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
	feed(m, "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"name\":\"fake\"}}");
	feed(m, "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"params\":[1]}");
	feed(m, "   ");
	feed(m, "{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{}}");
	assert_int_equal(json_array_size(sent), 0);
}

static void
test_version_negotiation(void **state)
{
	struct mcp *m = *state;
	json_t *r;

	initialize(m, "2025-06-18");
	r = json_object_get(last(), "result");
	assert_string_equal(json_string_value(json_object_get(r, "protocolVersion")), "2025-06-18");
	assert_non_null(json_object_get(json_object_get(r, "capabilities"), "tools"));
	assert_true(mcp_has_structured(m));
	initialize(m, "2025-06-18");
	assert_int_equal(last_error_code(), RPC_INVALID_REQUEST);

	m->initialized = 0;
	initialize(m, "1999-01-01");
	r = json_object_get(last(), "result");
	assert_string_equal(json_string_value(json_object_get(r, "protocolVersion")),
	    mcp_protocol_versions[0]);
	m->initialized = 0;
	initialize(m, "2025-03-26");
	assert_false(mcp_has_structured(m));
}

static void
test_tools_list_and_call(void **state)
{
	struct mcp *m = *state;
	json_t *tools, *progress, *result;

	initialize(m, "2025-11-25");
	feed(m, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
	tools = json_object_get(json_object_get(last(), "result"), "tools");
	assert_int_equal(json_array_size(tools), 1);
	assert_true(json_is_object(json_object_get(json_array_get(tools, 0), "inputSchema")));

	json_array_clear(sent);
	feed(m,
	    "{\"jsonrpc\":\"2.0\",\"id\":\"c0\",\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"fake\",\"arguments\":{},\"_meta\":{\"progressToken\":\"tok\"}}}");
	assert_int_equal(json_array_size(sent), 3);
	progress = json_array_get(sent, 0);
	assert_string_equal(json_string_value(json_object_get(progress, "method")),
	    "notifications/progress");
	assert_string_equal(json_string_value(json_object_get(json_object_get(progress, "params"),
	                        "progressToken")),
	    "tok");
	/* Progress grows with every notification, even if the tool repeats itself. */
	assert_true(
	    json_real_value(
	        json_object_get(json_object_get(json_array_get(sent, 1), "params"), "progress")) >
	    json_real_value(json_object_get(json_object_get(progress, "params"), "progress")));
	result = json_object_get(json_array_get(sent, 2), "result");
	assert_false(json_is_true(json_object_get(result, "isError")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(sent, 2), "id")), "c0");

	/* Without a progressToken: the result alone. */
	json_array_clear(sent);
	feed(m,
	    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"fake\"}}");
	assert_int_equal(json_array_size(sent), 1);

	feed(m,
	    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"other\"}}");
	assert_int_equal(last_error_code(), RPC_INVALID_PARAMS);
	feed(m,
	    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"fake\",\"arguments\":\"x\"}}");
	assert_int_equal(last_error_code(), RPC_INVALID_PARAMS);
}

static void
test_cancelled_call_gets_no_answer(void **state)
{
	struct mcp *m = *state;

	initialize(m, "2025-11-25");
	json_array_clear(sent);
	cancel_inside = 1;
	feed(m,
	    "{\"jsonrpc\":\"2.0\",\"id\":\"c1\",\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"fake\"}}");
	assert_int_equal(json_array_size(sent), 0);
}

static json_t *
result_of(const char *status, const char *reason)
{
	return json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:i, s:s}]}", "request_id",
	    "7d0c9f5e-2f1a-4c55-9a57-0d6b2c1e4a10", "status", status, "reason", reason, "commands",
	    "cmd", "docker restart wingman-test-api", "status", "ok", "exit_code", 0, "output",
	    "wingman-test-api\n");
}

static void
test_result_texts(void **state)
{
	static const char *const refused[] = { "rejected", "expired", "invalid", "failed",
		"interrupted", "frozen", "bogus" };
	json_t *r = result_of("executed", "");
	char *text = client_result_text(r);

	(void)state;
	assert_false(client_result_is_error(r));
	assert_non_null(strstr(text, "EXECUTED"));
	assert_non_null(strstr(text,
	    "$ docker restart wingman-test-api\n[ok, exit code 0]\n"
	    "wingman-test-api\n"));
	free(text);
	json_decref(r);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		r = result_of(refused[i], "REJECTED: by bob: not now");
		text = client_result_text(r);
		assert_true(client_result_is_error(r));
		assert_non_null(strstr(text, "Reason: REJECTED: by bob: not now"));
		free(text);
		json_decref(r);
	}
	r = result_of("shadow", "");
	text = client_result_text(r);
	assert_false(client_result_is_error(r));
	assert_non_null(strstr(text, "NOTHING RAN"));
	free(text);
	json_decref(r);
}

/* What allowed_commands says must be what common/command.c accepts. */
static void
test_grammar_examples_parse(void **state)
{
	json_t *g = tools_grammar(), *c;
	struct command cmd;
	char err[256];
	size_t i;

	(void)state;
	assert_int_equal(json_array_size(json_object_get(g, "commands")), POLICY_ACTIONS);
	json_array_foreach(json_object_get(g, "commands"), i, c)
	{
		const char *ex = json_string_value(json_object_get(c, "example"));

		assert_int_equal(command_parse(ex, &cmd, err, sizeof(err)), 0);
		assert_string_equal(command_action_name(cmd.action),
		    json_string_value(json_object_get(c, "action")));
	}
	json_decref(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refuses_before_initialize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_framing_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notifications_get_no_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_negotiation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tools_list_and_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancelled_call_gets_no_answer, setup, teardown),
		cmocka_unit_test(test_result_texts),
		cmocka_unit_test(test_grammar_examples_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
