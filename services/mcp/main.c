/*
 * wingman-mcp: a Model Context Protocol server over stdio that gives an
 * agent three tools (request_commands, request_status, allowed_commands).
 * Options, logging, configuration, open everything, loop: as the daemons.
 * The agent it speaks for is configured (WINGMAN_WORKER_ID, its key in
 * WINGMAN_WORKER_KEY_FILE), never named by the model.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "config.h"
#include "keys.h"
#include "log.h"
#include "mcp.h"
#include "tools.h"
#include "util.h"

static volatile sig_atomic_t running = 1;

static void
on_signal(int sig)
{
	(void)sig;
	running = 0;
}

/* The protocol stream: the original stdout, which nothing else may write. */
static void
send_line(void *arg, const json_t *msg)
{
	FILE *out = arg;

	if (json_dumpf(msg, out, JSON_COMPACT) != 0 || fputc('\n', out) == EOF || fflush(out) != 0)
		log_warnx("event=write_failed");
}

static void
warn_log(void *arg, const char *line)
{
	(void)arg;
	log_warnx("event=result_ignored reason=\"%s\"", line);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: wingman-mcp [-n] [-v]\n"
	    "\n"
	    "A Model Context Protocol server on standard input and output (JSON-RPC 2.0,\n"
	    "one message a line); logs go to standard error. Tools: request_commands,\n"
	    "request_status, allowed_commands. Requests are the configured agent's\n"
	    "(WINGMAN_WORKER_ID), signed with WINGMAN_WORKER_KEY_FILE when set; results\n"
	    "are believed only when signed by the stage entitled to their status\n"
	    "(executor.pub, approval.pub in WINGMAN_KEYS_DIR).\n"
	    "\n"
	    "  -n      check the configuration, print \"configuration OK\", exit\n"
	    "  -v      verbose logging\n"
	    "  --help  this text\n");
	config_usage(f, SVC_MCP);
}

int
main(int argc, char **argv)
{
	static struct tools_ctx ctx;
	static struct policy policy;
	static struct config cfg;
	static struct mcp m;
	int check = 0, verbose = 0, out_fd, rc = 1;
	const char *key_file, *policy_file;
	char err[512];
	FILE *proto = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0)
			check = 1;
		else if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	log_init("wingman-mcp", verbose);
	if (config_load(&cfg, SVC_MCP, err, sizeof(err)) != 0)
		fatalx("%s", err);
	ctx.worker_id = config_str(&cfg, CFG_WORKER_ID);
	ctx.default_env = config_str(&cfg, CFG_ENVIRONMENT);
	ctx.wait_ms = config_int(&cfg, CFG_AGENT_WAIT_S) * 1000;
	ctx.progress_every_ms = 5000;
	if (!valid_name(ctx.worker_id))
		fatalx("CONFIG_INVALID: WINGMAN_WORKER_ID is not a valid worker id");
	if (*ctx.default_env != '\0' && !valid_environment(ctx.default_env))
		fatalx("CONFIG_INVALID: WINGMAN_ENVIRONMENT is not a valid environment name");
	key_file = config_str(&cfg, CFG_WORKER_KEY_FILE);
	if (*key_file != '\0' && (ctx.key = key_load_private(key_file, err, sizeof(err))) == NULL)
		fatalx("WINGMAN_WORKER_KEY_FILE: %s", err);
	policy_file = config_str(&cfg, CFG_POLICY_FILE);
	if (*policy_file != '\0') {
		if (policy_load(policy_file, &policy, err, sizeof(err)) != 0)
			fatalx("%s", err);
		ctx.policy = &policy;
	}
	if (client_open(&ctx.client, config_str(&cfg, CFG_KAFKA_BROKERS),
	        config_str(&cfg, CFG_KEYS_DIR), err, sizeof(err)) != 0)
		fatalx("%s", err);
	if (check) {
		printf("configuration OK\n");
		rc = 0;
		goto done;
	}
	ctx.client.warn = warn_log;

	/*
	 * stdout carries protocol messages only: the protocol gets its own copy
	 * of the descriptor, and descriptor 1 becomes stderr, so a stray print
	 * from any library lands in the log instead of corrupting the stream.
	 */
	if ((out_fd = dup(STDOUT_FILENO)) < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0 ||
	    (proto = fdopen(out_fd, "w")) == NULL)
		fatal("cannot set up the protocol stream");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	mcp_init(&m, STDIN_FILENO, send_line, proto);
	m.tools = mcp_tools;
	m.n_tools = mcp_n_tools;
	m.ctx = &ctx;
	m.running = &running;
	m.instructions =
	    "Wingman runs docker commands for you only after its policy, its voters and, where "
	    "needed, humans approve them. Call allowed_commands first, then request_commands "
	    "with a clear instruction; never run docker yourself.";
	ctx.m = &m;
	log_info("event=started worker=%s signed=%s policy=%s", ctx.worker_id,
	    ctx.key != NULL ? "yes" : "no", ctx.policy != NULL ? "yes" : "no");
	while (running) {
		struct mcp_line line;
		int got = mcp_next_line(&m, 500, &line);

		if (got < 0)
			break;
		if (got == 0)
			continue;
		mcp_handle_line(&m, line.text, line.len);
		free(line.text);
	}
	log_info("event=stopping");
	rc = 0;
done:
	mcp_free(&m);
	if (proto != NULL)
		fclose(proto);
	client_close(&ctx.client);
	EVP_PKEY_free(ctx.key);
	return rc;
}
