/*
 * wingman hook pre-tool-use: a coding agent's PreToolUse hook (Claude Code's
 * format). The agent's harness writes the tool call it is about to make as
 * JSON on standard input; a shell command that runs docker is denied, and,
 * when it is one command of Wingman's grammar, asked of Wingman instead:
 * the result is the reason the agent reads. Anything else passes untouched
 * (exit 0, no output).
 *
 * Fail closed: Claude Code lets a tool call through when its hook exits
 * with anything but 0 or 2, so every decision here is a JSON deny on
 * standard output with exit 0, and every failure of the hook itself exits
 * 2 with the reason on standard error (which also blocks).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "cli.h"
#include "client.h"
#include "command.h"
#include "hook_detect.h"
#include "keys.h"
#include "msg.h"
#include "util.h"

#define HOOK_INPUT_MAX (1024 * 1024)
#define EXIT_BLOCK 2

static const char grammar_hint[] =
    "Ask for docker commands one at a time, as the whole shell command, in Wingman's grammar: "
    "docker ps [-a] | docker inspect NAME | docker logs [--tail N] [--since UNIX_SECONDS] NAME "
    "| docker restart [-t N] NAME | docker start NAME | docker stop [-t N] NAME | docker exec "
    "NAME PROGRAM [ARG...]. Wingman runs each after its policy (and, where needed, a human) "
    "approves, and this hook shows you the result.";

/* The decision Claude Code reads: hookSpecificOutput with permissionDecision. */
static int
decide(const char *decision, const char *reason)
{
	json_t *out = json_pack("{s:{s:s, s:s, s:s}}", "hookSpecificOutput", "hookEventName",
	    "PreToolUse", "permissionDecision", decision, "permissionDecisionReason", reason);

	if (out == NULL || json_dumpf(out, stdout, JSON_COMPACT) != 0 || putchar('\n') == EOF ||
	    fflush(stdout) != 0) {
		fprintf(stderr, "wingman hook: %s\n", reason);
		json_decref(out);
		return EXIT_BLOCK;
	}
	json_decref(out);
	return 0;
}

static int __attribute__((format(printf, 1, 2))) deny(const char *fmt, ...)
{
	char reason[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return decide("deny", reason);
}

static int
block(const char *why)
{
	fprintf(stderr,
	    "wingman hook: %s; the command was blocked (docker commands go through "
	    "Wingman)\n",
	    why);
	return EXIT_BLOCK;
}

/* Reads all of standard input, at most HOOK_INPUT_MAX bytes. New string or NULL. */
static char *
read_stdin(size_t *len)
{
	struct wbuf b;
	char chunk[65536];
	size_t n;

	wbuf_init(&b, HOOK_INPUT_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		if (wbuf_append(&b, chunk, n) != 0) {
			wbuf_free(&b);
			return NULL;
		}
	if (ferror(stdin) || b.data == NULL) {
		wbuf_free(&b);
		return NULL;
	}
	*len = b.len;
	return b.data;
}

/*
 * Asks Wingman for cmd as the configured agent and waits for its result.
 * Returns the hook's exit status (a deny carrying the result, in all cases).
 */
static int
route(const char *cmd, const char *worker, const char *env, const char *why, int timeout_s)
{
	const char *key_file = config_str(cli_config(), CFG_WORKER_KEY_FILE);
	json_t *cmds = json_pack("[s]", cmd), *req = NULL, *result = NULL;
	struct client client;
	struct client_watch w = { 0 };
	EVP_PKEY *key = NULL;
	char err[512];
	char *text = NULL;
	int rc;

	memset(&client, 0, sizeof(client));
	if (*key_file != '\0' && (key = key_load_private(key_file, err, sizeof(err))) == NULL) {
		rc = deny("Wingman: '%s' must go through Wingman, but the agent's key cannot be "
		          "loaded (%s). Nothing ran.",
		    cmd, err);
		goto done;
	}
	if (client_open(&client, brokers(), config_str(cli_config(), CFG_KEYS_DIR), err,
	        sizeof(err)) != 0 ||
	    (req = client_request_new(NULL, worker, env, why, cmds, key, err, sizeof(err))) == NULL ||
	    client_submit(&client, req, &w, 0, err, sizeof(err)) != 0) {
		rc = deny("Wingman: '%s' must go through Wingman, and Wingman could not be asked "
		          "(%s). Nothing ran.",
		    cmd, err);
		goto done;
	}
	fprintf(stderr, "wingman hook: asked Wingman for '%s' as %s in %s (request %s)\n", cmd,
	    worker, env, w.request_id);
	switch (
	    client_await(&client, &w, (int64_t)timeout_s * 1000, NULL, &result, err, sizeof(err))) {
	case CLIENT_RESULT:
		text = client_result_text(result);
		rc = deny("Wingman ran this for you instead of a direct docker call (do not run "
		          "docker yourself; ask again the same way if you need to):\n%s",
		    text != NULL ? text : "(no memory for the result)");
		break;
	case CLIENT_TIMEOUT:
		rc = deny("Wingman: '%s' was submitted as request %s and has no result after %d s "
		          "(it may be waiting for a human). Run `wingman wait %s` to get its result; "
		          "do not run docker yourself.",
		    cmd, w.request_id, timeout_s, w.request_id);
		break;
	default:
		rc = deny("Wingman: lost contact while waiting for request %s (%s). Run `wingman "
		          "wait %s` later; do not run docker yourself.",
		    w.request_id, err, w.request_id);
	}
done:
	free(text);
	json_decref(result);
	json_decref(req);
	json_decref(cmds);
	client_watch_close(&w);
	client_close(&client);
	EVP_PKEY_free(key);
	return rc;
}

static int
pre_tool_use(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "env", required_argument, NULL, 'e' },
		{ "worker", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = config_str(cli_config(), CFG_ENVIRONMENT);
	const char *worker = config_str(cli_config(), CFG_WORKER_ID);
	int timeout = (int)config_int(cli_config(), CFG_AGENT_WAIT_S), ch, rc;
	json_t *in, *tool_input;
	const char *event, *tool, *line, *desc;
	char why[MSG_INSTRUCTION_MAX + 1];
	struct hook_check check;
	struct command parsed;
	char *raw, err[256];
	size_t len = 0;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'e':
			env = optarg;
			break;
		case 'w':
			worker = optarg;
			break;
		case 'T':
			timeout = parse_timeout(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if ((raw = read_stdin(&len)) == NULL)
		return block("cannot read the hook's input (more than 1 MiB, or a read error)");
	in = json_loadb(raw, len, 0, NULL);
	free(raw);
	if (!json_is_object(in)) {
		json_decref(in);
		return deny("Wingman hook: the hook input is not a JSON object, so the tool call "
		            "cannot be checked; blocked.");
	}
	event = json_string_value(json_object_get(in, "hook_event_name"));
	tool = json_string_value(json_object_get(in, "tool_name"));
	tool_input = json_object_get(in, "tool_input");
	/* Another event, or another tool: not ours to judge. */
	if ((event != NULL && strcmp(event, "PreToolUse") != 0) ||
	    (tool != NULL && strcmp(tool, "Bash") != 0)) {
		json_decref(in);
		return 0;
	}
	if (tool == NULL ||
	    (line = json_string_value(json_object_get(tool_input, "command"))) == NULL) {
		json_decref(in);
		return deny("Wingman hook: a Bash tool call without a command string; blocked.");
	}
	hook_check_shell(line, &check);
	/* What the agent said the command is for: the approvers read it. */
	desc = json_string_value(json_object_get(tool_input, "description"));
	snprintf(why, sizeof(why), "%s%s", desc != NULL && *desc != '\0' ? "coding agent: " : "",
	    desc != NULL && *desc != '\0' ? desc : "requested by a coding agent's shell tool");
	if (strlen(why) == sizeof(why) - 1) { /* cut: not inside a UTF-8 sequence */
		size_t n = sizeof(why) - 1;
		while (n > 0 && ((unsigned char)why[n - 1] & 0xC0) == 0x80)
			n--;
		if (n > 0 && ((unsigned char)why[n - 1] & 0x80))
			n--;
		why[n] = '\0';
	}
	json_decref(in); /* line and desc are not used past here */
	switch (check.verdict) {
	case HOOK_PASS:
		return 0;
	case HOOK_DENY:
		return deny("Wingman: this shell command runs docker (or might), which this agent "
		            "may not do directly. %s. %s",
		    check.why, grammar_hint);
	case HOOK_ROUTE:
		break;
	}
	if (command_parse(check.command, &parsed, err, sizeof(err)) != 0)
		return deny("Wingman: '%s' can never be allowed: it is outside Wingman's command "
		            "grammar (%s). Nothing ran. %s",
		    check.command, err, grammar_hint);
	if (*worker == '\0' || *env == '\0')
		return deny("Wingman: '%s' must go through Wingman, but this hook has no %s "
		            "configured (WINGMAN_WORKER_ID and WINGMAN_ENVIRONMENT, or --worker and "
		            "--env). Nothing ran.",
		    check.command, *worker == '\0' ? "agent id" : "environment");
	if (!valid_name(worker) || !valid_environment(env))
		return deny("Wingman: the hook's configured agent id or environment is not valid. "
		            "Nothing ran.");
	rc = route(check.command, worker, env, why, timeout);
	return rc;
}

int
cmd_hook(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "pre-tool-use") != 0)
		usage();
	return pre_tool_use(argc - 1, argv + 1);
}
