#include "tools.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "command.h"
#include "log.h"
#include "msg.h"
#include "util.h"

void
tools_prompt_text(const json_t *prompt, char *out, size_t outlen)
{
	const char *type = msg_str(prompt, "type"), *state = msg_str(prompt, "state");
	size_t got = json_array_size(json_object_get(prompt, "approvals"));
	json_int_t need = json_integer_value(json_object_get(prompt, "approvers_required"));

	if (strcmp(type, "approval_prompt") == 0)
		snprintf(out, outlen,
		    "waiting for human approval: %zu of %lld so far (risk %s), expires at %s", got,
		    (long long)need, msg_str(prompt, "risk"), msg_str(prompt, "expires_at"));
	else if (strcmp(state, "pending") == 0)
		snprintf(out, outlen, "waiting for human approval: %zu of %lld so far", got,
		    (long long)need);
	else if (strcmp(state, "approved") == 0)
		snprintf(out, outlen, "approved by humans; waiting for the executor");
	else
		snprintf(out, outlen, "decided by humans: %s; the result follows", state);
}

json_t *
tools_grammar(void)
{
	return json_pack("{s:[{s:s,s:s,s:s}, {s:s,s:s,s:s}, {s:s,s:s,s:s}, {s:s,s:s,s:s},"
	                 " {s:s,s:s,s:s}, {s:s,s:s,s:s}, {s:s,s:s,s:s}], s:[s,s,s,s,s,s,s]}",
	    "commands", "action", "ps", "syntax", "docker ps [-a|--all]", "example", "docker ps -a",
	    "action", "inspect", "syntax", "docker inspect NAME", "example",
	    "docker inspect wingman-test-api", "action", "logs", "syntax",
	    "docker logs [--tail N|all] [--since UNIX_SECONDS] NAME", "example",
	    "docker logs --tail 100 wingman-test-api", "action", "restart", "syntax",
	    "docker restart [-t|--time SECONDS] NAME", "example", "docker restart wingman-test-api",
	    "action", "start", "syntax", "docker start NAME", "example",
	    "docker start wingman-test-api", "action", "stop", "syntax",
	    "docker stop [-t|--time SECONDS] NAME", "example", "docker stop -t 10 wingman-test-api",
	    "action", "exec", "syntax", "docker exec NAME PROGRAM [ARG...]", "example",
	    "docker exec wingman-test-api ls /", "rules",
	    "One docker command per string, at most 512 bytes, at most 16 strings per request.",
	    "No shell: the string is split on blanks; nothing is quoted, expanded or globbed.",
	    "Refused anywhere in a command: ; & | $ < > ` ( ) { } [ ] * ? ! ~ # % ^ ' \" \\, "
	    "control characters and non-ASCII bytes.",
	    "No global docker options (-H, --context, ...) and no exec options (-u, -e, "
	    "--privileged, ...).",
	    "NAME matches [A-Za-z0-9][A-Za-z0-9_.-]* (at most 128 bytes) and one of the "
	    "environment's container patterns.",
	    "--tail takes 1..10000 or all; -t/--time takes 0..300 seconds; exec takes at most 16 "
	    "arguments of at most 256 bytes each.",
	    "Each action is allowed per environment as auto (runs after the automatic vote), "
	    "human (waits for human approval) or deny (never).");
}

/* ---- argument checks: a bad argument is a tool error the model can read ---- */

static json_t *tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_t *
tool_error(const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return mcp_tool_text(1, text);
}

/* NULL when every member of args is one of allowed; else the first other. */
static const char *
unknown_argument(const json_t *args, const char *const *allowed)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)args, k, v)
	{
		size_t i;

		(void)v;
		for (i = 0; allowed[i] != NULL && strcmp(allowed[i], k) != 0; i++)
			;
		if (allowed[i] == NULL)
			return k;
	}
	return NULL;
}

static json_t *
refuse_unknown(const char *arg)
{
	if (strcmp(arg, "worker_id") == 0 || strcmp(arg, "worker") == 0 || strcmp(arg, "key") == 0)
		return tool_error("'%s' is not an argument: who the request is from comes from "
		                  "wingman-mcp's configuration, never from a tool call",
		    arg);
	return tool_error("unknown argument '%.64s'", arg);
}

/* A result (verified) as a CallToolResult. */
static json_t *
result_reply(struct tools_ctx *ctx, const json_t *result)
{
	char *text = client_result_text(result);
	json_t *reply = mcp_tool_text(client_result_is_error(result), text);

	free(text);
	if (mcp_has_structured(ctx->m))
		json_object_set_new(reply, "structuredContent", json_deep_copy(result));
	return reply;
}

static json_t *
pending_reply(struct tools_ctx *ctx, const char *request_id, const char *status, const char *text)
{
	json_t *reply = mcp_tool_text(0, text);

	if (mcp_has_structured(ctx->m))
		json_object_set_new(reply, "structuredContent",
		    json_pack("{s:s, s:s, s:s}", "request_id", request_id, "status", status,
		        "message", text));
	return reply;
}

/* ---- request_commands ---- */

struct waiting {
	struct tools_ctx *ctx;
	struct mcp_call *call;
	int64_t next_progress;
	char state[256];
};

static int
on_tick(void *arg, int64_t waited_ms)
{
	struct waiting *w = arg;
	char msg[320];

	if (mcp_pump(w->ctx->m))
		return 1;
	if (waited_ms >= w->next_progress) {
		w->next_progress = waited_ms + w->ctx->progress_every_ms;
		snprintf(msg, sizeof(msg), "%s (%lld s)", w->state, (long long)(waited_ms / 1000));
		mcp_progress(w->call, (double)waited_ms / 1000.0, msg);
	}
	return 0;
}

static void
on_prompt(void *arg, const json_t *prompt)
{
	struct waiting *w = arg;

	tools_prompt_text(prompt, w->state, sizeof(w->state));
	log_info("event=waiting request_id=%s state=\"%s\"", msg_str(prompt, "request_id"),
	    w->state);
	mcp_progress(w->call, w->call->last_progress + 0.001, w->state);
}

static json_t *
schema_request_commands(void)
{
	return json_pack("{s:s, s:{s:{s:s, s:s}, s:{s:s, s:i, s:i, s:{s:s, s:i, s:i}, s:s},"
	                 " s:{s:s, s:i, s:s}}, s:[s,s], s:b}",
	    "type", "object", "properties", "environment", "type", "string", "description",
	    "the environment of the policy, e.g. test or prd (default: the server's "
	    "configured one)",
	    "commands", "type", "array", "minItems", 1, "maxItems", MSG_MAX_COMMANDS, "items",
	    "type", "string", "minLength", 1, "maxLength", COMMAND_MAX_LEN, "description",
	    "docker commands in Wingman's grammar, e.g. \"docker restart wingman-test-api\" (see "
	    "allowed_commands)",
	    "instruction", "type", "string", "maxLength", MSG_INSTRUCTION_MAX, "description",
	    "why: shown to the voters and to the humans who approve", "required", "commands",
	    "instruction", "additionalProperties", 0);
}

static json_t *
call_request_commands(void *arg, struct mcp_call *call, const json_t *args)
{
	static const char *const allowed[] = { "environment", "commands", "instruction", NULL };
	struct tools_ctx *ctx = arg;
	json_t *env_j = json_object_get(args, "environment"),
	       *cmds = json_object_get(args, "commands");
	const char *env, *instr = json_string_value(json_object_get(args, "instruction")), *bad;
	json_t *req = NULL, *result = NULL, *reply = NULL, *c;
	struct client_watch w = { 0 };
	struct waiting wt = { .ctx = ctx, .call = call };
	struct client_events ev = { .tick = on_tick, .prompt = on_prompt, .arg = &wt };
	char err[512], text[640];
	size_t i;

	if ((bad = unknown_argument(args, allowed)) != NULL)
		return refuse_unknown(bad);
	if (env_j != NULL && !json_is_string(env_j))
		return tool_error("environment must be a string");
	env = env_j != NULL ? json_string_value(env_j) : ctx->default_env;
	if (*env == '\0')
		return tool_error(
		    "environment is required (this server has no default environment)");
	if (instr == NULL)
		return tool_error(
		    "instruction is required: a sentence saying why, for the approvers");
	if (!json_is_array(cmds) || json_array_size(cmds) == 0 ||
	    json_array_size(cmds) > MSG_MAX_COMMANDS)
		return tool_error("commands must be an array of 1 to %d strings", MSG_MAX_COMMANDS);
	json_array_foreach(cmds, i,
	    c) if (!json_is_string(c)) return tool_error("commands[%zu] is not a string", i);

	if ((req = client_request_new(NULL, ctx->worker_id, env, instr, cmds, ctx->key, err,
	         sizeof(err))) == NULL)
		return tool_error("refused before sending (nothing was submitted): %s", err);
	if (client_submit(&ctx->client, req, &w, 1, err, sizeof(err)) != 0) {
		reply = tool_error("cannot reach Wingman (nothing was submitted): %s", err);
		goto done;
	}
	log_info("event=submitted request_id=%s worker=%s env=%s", w.request_id, ctx->worker_id,
	    env);
	snprintf(wt.state, sizeof(wt.state), "submitted %s; waiting for the pipeline", w.request_id);
	wt.next_progress = ctx->progress_every_ms;
	mcp_progress(call, 0, wt.state);
	switch (client_await(&ctx->client, &w, ctx->wait_ms, &ev, &result, err, sizeof(err))) {
	case CLIENT_RESULT:
		log_info("event=result request_id=%s status=%s", w.request_id,
		    msg_str(result, "status"));
		reply = result_reply(ctx, result);
		break;
	case CLIENT_TIMEOUT:
		snprintf(text, sizeof(text),
		    "Request %s: PENDING: no result within %lld s (%s). It may still run once "
		    "approved: ask request_status with this request_id later.",
		    w.request_id, (long long)(ctx->wait_ms / 1000), wt.state);
		reply = pending_reply(ctx, w.request_id, "pending", text);
		break;
	case CLIENT_STOPPED:
		snprintf(text, sizeof(text),
		    "Request %s: stopped waiting (cancelled); the request itself was submitted and "
		    "may still run: ask request_status later.",
		    w.request_id);
		reply = pending_reply(ctx, w.request_id, "pending", text);
		break;
	default:
		reply = tool_error("Request %s: lost contact with Wingman while waiting: %s",
		    w.request_id, err);
	}
done:
	client_watch_close(&w);
	json_decref(result);
	json_decref(req);
	return reply;
}

/* ---- request_status ---- */

static json_t *
schema_request_status(void)
{
	return json_pack("{s:s, s:{s:{s:s, s:s}}, s:[s], s:b}", "type", "object", "properties",
	    "request_id", "type", "string", "description",
	    "the request_id request_commands returned", "required", "request_id",
	    "additionalProperties", 0);
}

static json_t *
call_request_status(void *arg, struct mcp_call *call, const json_t *args)
{
	static const char *const allowed[] = { "request_id", NULL };
	struct tools_ctx *ctx = arg;
	const char *rid = json_string_value(json_object_get(args, "request_id")), *bad;
	json_t *result = NULL, *prompt = NULL, *reply;
	char err[512], text[640], state[256];

	(void)call;
	if ((bad = unknown_argument(args, allowed)) != NULL)
		return refuse_unknown(bad);
	if (rid == NULL || !valid_request_id(rid))
		return tool_error("request_id must be a request id such as "
		                  "7d0c9f5e-2f1a-4c55-9a57-0d6b2c1e4a10");
	switch (client_lookup(&ctx->client, rid, &result, &prompt, err, sizeof(err))) {
	case CLIENT_RESULT:
		reply = result_reply(ctx, result);
		break;
	case CLIENT_NONE:
		if (prompt != NULL) {
			tools_prompt_text(prompt, state, sizeof(state));
			snprintf(text, sizeof(text), "Request %s: PENDING: %s.", rid, state);
		} else
			snprintf(text, sizeof(text),
			    "Request %s: PENDING OR UNKNOWN: no result yet. It is still being "
			    "assessed or executed, or no request with this id was submitted.",
			    rid);
		reply = pending_reply(ctx, rid, prompt != NULL ? "pending" : "unknown", text);
		break;
	default:
		reply = tool_error("cannot read the results from Wingman: %s", err);
	}
	json_decref(result);
	json_decref(prompt);
	return reply;
}

/* ---- allowed_commands ---- */

static json_t *
schema_allowed_commands(void)
{
	return json_pack("{s:s, s:{s:{s:s, s:s}}, s:b}", "type", "object", "properties",
	    "environment", "type", "string", "description",
	    "one environment (default: every environment of the policy)", "additionalProperties", 0);
}

static json_t *
env_json(const struct policy_env *e)
{
	json_t *containers = json_array(), *actions = json_object();

	for (size_t i = 0; i < e->n_patterns; i++)
		json_array_append_new(containers, json_string(e->patterns[i]));
	for (int a = 0; a < POLICY_ACTIONS; a++)
		json_object_set_new(actions, command_action_name((enum command_action)a),
		    json_string(policy_mode_name(e->modes[a])));
	return json_pack("{s:s, s:o, s:o, s:i, s:i, s:b}", "name", e->name, "containers",
	    containers, "actions", actions, "approvers_required", e->approvers_required,
	    "approval_timeout_s", e->approval_timeout_s, "execute", e->execute);
}

static json_t *
call_allowed_commands(void *arg, struct mcp_call *call, const json_t *args)
{
	static const char *const allowed[] = { "environment", NULL };
	struct tools_ctx *ctx = arg;
	json_t *env_j = json_object_get(args, "environment"), *out, *envs = json_array(), *reply;
	const char *bad, *only = NULL;
	char *text;

	(void)call;
	if ((bad = unknown_argument(args, allowed)) != NULL) {
		json_decref(envs);
		return refuse_unknown(bad);
	}
	if (env_j != NULL && (only = json_string_value(env_j)) == NULL) {
		json_decref(envs);
		return tool_error("environment must be a string");
	}
	if (ctx->policy == NULL && only != NULL) {
		json_decref(envs);
		return tool_error(
		    "this server has no policy file (WINGMAN_POLICY_FILE): it knows the "
		    "grammar, not the environments");
	}
	if (only != NULL && policy_env(ctx->policy, only) == NULL) {
		json_decref(envs);
		return tool_error("unknown environment '%.64s'", only);
	}
	for (size_t i = 0; ctx->policy != NULL && i < ctx->policy->n_envs; i++)
		if (only == NULL || strcmp(only, ctx->policy->envs[i].name) == 0)
			json_array_append_new(envs, env_json(&ctx->policy->envs[i]));
	out = tools_grammar();
	json_object_set_new(out, "environments", envs);
	if (ctx->policy == NULL)
		json_object_set_new(out, "note",
		    json_string("no policy file configured: environments unknown here"));
	text = json_dumps(out, JSON_INDENT(1) | JSON_SORT_KEYS);
	reply = mcp_tool_text(0, text != NULL ? text : "{}");
	free(text);
	if (mcp_has_structured(ctx->m))
		json_object_set_new(reply, "structuredContent", out);
	else
		json_decref(out);
	return reply;
}

const struct mcp_tool mcp_tools[] = {
	{ "request_commands", "Ask Wingman to run docker commands",
	    "Submit docker commands to Wingman, which checks them against its policy, has them "
	    "voted on and, where the policy says so, approved by humans, then runs them and "
	    "returns the signed result. Waits for the terminal result (sends progress while "
	    "humans decide). A result of rejected, expired or invalid means nothing ran.",
	    0, schema_request_commands, call_request_commands },
	{ "request_status", "Result of an earlier request",
	    "The terminal result of a request submitted earlier, by its request_id, or whether it "
	    "is still pending (waiting for humans) or unknown.",
	    1, schema_request_status, call_request_status },
	{ "allowed_commands", "What may be asked",
	    "The command grammar Wingman accepts, and per environment the containers and the "
	    "mode of each action (auto, human, deny). Call it before request_commands.",
	    1, schema_allowed_commands, call_allowed_commands },
};

const size_t mcp_n_tools = ARRAY_LEN(mcp_tools);
