/*
 * wingman: the command line. Agents and humans use it to submit requests,
 * wait for results, approve or reject, and check messages and commands.
 * This file only dispatches; what the subcommands share is in cli_common.c.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"

int
main(int argc, char **argv)
{
	const char *sub;
	char err[512];

	log_init("wingman", 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		usage();
	sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
		usage_show(stdout);
		return 0;
	}
	if (cli_config_load(err, sizeof(err)) != 0) {
		fprintf(stderr, "wingman: %s\n", err);
		/* A hook that fails with 1 lets the tool call through: block instead. */
		return strcmp(sub, "hook") == 0 ? EXIT_USAGE : 1;
	}
	argc--;
	argv++;
	if (strcmp(sub, "keygen") == 0)
		return cmd_keygen(argc, argv);
	if (strcmp(sub, "submit") == 0)
		return cmd_submit(argc, argv);
	if (strcmp(sub, "wait") == 0)
		return cmd_wait(argc, argv);
	if (strcmp(sub, "approve") == 0)
		return cmd_decide("approve", argc, argv);
	if (strcmp(sub, "reject") == 0)
		return cmd_decide("reject", argc, argv);
	if (strcmp(sub, "pending") == 0)
		return cmd_pending(argc, argv);
	if (strcmp(sub, "command") == 0)
		return cmd_command(argc, argv);
	if (strcmp(sub, "message") == 0)
		return cmd_message(argc, argv);
	if (strcmp(sub, "audit") == 0)
		return cmd_audit(argc, argv);
	if (strcmp(sub, "receipt") == 0)
		return cmd_receipt(argc, argv);
	if (strcmp(sub, "token") == 0)
		return cmd_token(argc, argv);
	if (strcmp(sub, "freeze") == 0)
		return cmd_freeze(argc, argv);
	if (strcmp(sub, "thaw") == 0)
		return cmd_thaw(argc, argv);
	if (strcmp(sub, "revoke") == 0)
		return cmd_revoke(argc, argv);
	if (strcmp(sub, "hook") == 0)
		return cmd_hook(argc, argv);
	if (strcmp(sub, "migrate") == 0)
		return cmd_migrate(argc, argv);
	if (strcmp(sub, "keys") == 0)
		return cmd_keys(argc, argv);
	if (strcmp(sub, "dlq") == 0)
		return cmd_dlq(argc, argv);
	fprintf(stderr, "wingman: unknown command '%s'\n", sub);
	usage();
}
