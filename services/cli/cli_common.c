/* What every subcommand shares: the usage text, the broker address, --timeout. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "config.h"
#include "util.h"

static const char usage_text[] =
    "usage: wingman COMMAND [OPTIONS]\n"
    "\n"
    "Agents:\n"
    "  submit --env ENV --worker ID --text TEXT --cmd CMD [--cmd CMD ...]\n"
    "         [--request-id ID] [--key FILE] [--wait [--timeout S]]\n"
    "      Publish a request, signed with the private key FILE (kid worker-ID)\n"
    "      when --key is given. Without --wait, print its request id. With --wait,\n"
    "      print the terminal result; exit 0 only when it is \"executed\".\n"
    "  wait ID [--timeout S]\n"
    "      Print the terminal result of request ID (exit 0 executed, 1 other\n"
    "      status, 3 timeout; default timeout 60 s). Only results signed by a\n"
    "      stage entitled to their status count (executor.pub and approval.pub\n"
    "      in WINGMAN_KEYS_DIR); others are ignored with a warning.\n"
    "  hook pre-tool-use [--env ENV] [--worker ID] [--timeout S]\n"
    "      A coding agent's PreToolUse hook (Claude Code's JSON on stdin). A Bash\n"
    "      command that runs docker is denied; one command of Wingman's grammar\n"
    "      is asked of Wingman as WINGMAN_WORKER_ID in WINGMAN_ENVIRONMENT (or\n"
    "      --worker, --env; signed with WINGMAN_WORKER_KEY_FILE) and its result\n"
    "      is the reason the agent reads. Anything else passes (exit 0, no\n"
    "      output). The hook fails closed: its own failures exit 2.\n"
    "\n"
    "Approvers:\n"
    "  pending [--env ENV] [--json]\n"
    "      What waits for a decision: id, environment, worker, commands, risk,\n"
    "      votes, approvals so far and needed, expiry (from WINGMAN_PG_CONNINFO).\n"
    "  approve ID --as NAME [--reason TEXT] [--cmd CMD ...] [--timeout S | --no-wait]\n"
    "  reject ID --as NAME --reason TEXT [--cmd CMD ...] [--timeout S | --no-wait]\n"
    "      Publish a decision signed with $WINGMAN_KEYS_DIR/approver-NAME.key on\n"
    "      the exact commands of request ID as wingman-consensus signed them (or\n"
    "      those given with --cmd); they are printed on standard error. Then wait\n"
    "      (default 30 s) until wingman-approval counts it: exit 0 counted, 1 not\n"
    "      counted (refused, already decided, voted before), 3 no answer in time.\n"
    "      --no-wait sends it unconfirmed.\n"
    "\n"
    "Operators (kill switch, in PostgreSQL; audited):\n"
    "  freeze [--reason TEXT]         stop all execution now: orders end \"frozen\"\n"
    "  thaw [--reason TEXT]           resume execution\n"
    "  revoke ID [--reason TEXT]      void the unused tokens of request ID\n"
    "  dlq [--key ID] [--last N] [--json]  the dead letters on wingman.dlq, one a line\n"
    "                                 (time, stage, topic[partition@offset], key, reason)\n"
    "\n"
    "Schema and keys:\n"
    "  migrate [--dir DIR] [--to N] [--status] [--conninfo CONNINFO]\n"
    "      Apply the pending DIR/NNN_*.sql in order, each in its own transaction\n"
    "      with its row in schema_migrations (default DIR: the build's sql/;\n"
    "      CONNINFO: the schema owner's, default WINGMAN_PG_CONNINFO). Refuses when\n"
    "      an applied file changed. --to N stops after version N; --status lists.\n"
    "  keys list [ROLE]               the key generations in WINGMAN_KEYS_DIR\n"
    "  keys rotate ROLE [--activate]  a new pair ROLE-YYYY-MM[-N]: the public key\n"
    "                                 at once, the private key ROLE-GEN.key.next\n"
    "                                 until --activate (or keys activate ROLE)\n"
    "  keys activate ROLE             make the staged private key the signing one\n"
    "  keys retire ROLE GEN [--public] remove an old private key (and its .pub)\n"
    "\n"
    "Tools:\n"
    "  keygen --out DIR --name NAME   write DIR/NAME.key (0600) and DIR/NAME.pub\n"
    "                                 (agents: --name worker-ID)\n"
    "  command parse STRING           the structured action as JSON, or exit 1\n"
    "  message check FILE|-           validate a message against its type\n"
    "  token mint --key FILE --kid KID --sub W --env E --request-id R --cmd C\n"
    "             --ttl S [--approved-by NAME ...]   print a capability token\n"
    "  token verify --pub FILE --kid KID --env E --cmd C [--request-id R] TOKEN|-\n"
    "                                 the claims as JSON, or exit 1 with the reason\n"
    "  audit verify [--pub FILE [--kafka]] [--max-age S]\n"
    "                                 walk the audit hash chain and report every break;\n"
    "                                 with the audit public key also its signed\n"
    "                                 checkpoints: none, or the newest older than S\n"
    "                                 (default 2 x WINGMAN_AUDIT_CHECKPOINT_S) fails;\n"
    "                                 --kafka: every checkpoint published on\n"
    "                                 wingman.audit-checkpoints must still be there\n"
    "  audit show ID                  the story of one request, in order\n"
    "  audit tail                     follow new audit rows\n"
    "  receipt ID                     the signed receipt of a finished request\n"
    "  receipt verify FILE [--pub FILE]  check a receipt offline\n";

/* The environment the CLI reads, checked once before any subcommand runs. */
static struct config cli_cfg;

void
usage_show(FILE *f)
{
	fputs(usage_text, f);
	config_usage(f, SVC_CLI);
	fputs("\nExit status: 0 success, 1 failure or refusal, 2 usage error, 3 timeout.\n", f);
}

void
usage(void)
{
	usage_show(stderr);
	exit(EXIT_USAGE);
}

int
cli_config_load(char *err, size_t errlen)
{
	return config_load(&cli_cfg, SVC_CLI, err, errlen);
}

const struct config *
cli_config(void)
{
	return &cli_cfg;
}

const char *
brokers(void)
{
	return config_str(&cli_cfg, CFG_KAFKA_BROKERS);
}

int
parse_timeout(const char *s)
{
	long long v;

	if (parse_int(s, 1, 86400, &v) != 0) {
		fprintf(stderr, "wingman: --timeout must be 1..86400 seconds\n");
		exit(EXIT_USAGE);
	}
	return (int)v;
}
