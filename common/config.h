/*
 * Configuration: one table of every environment variable any Wingman
 * process reads (name, type, default, bounds, who reads it, who needs it),
 * checked once at start before any connection is opened. Code looks values
 * up by enum, so a misspelt name does not compile, and asking for a row the
 * process did not load is a bug caught at startup (CONFIG_UNKNOWN).
 */
#ifndef WINGMAN_CONFIG_H
#define WINGMAN_CONFIG_H

#include <stddef.h>
#include <stdio.h>

/* The processes, one bit each: who reads a variable, who cannot start without it. */
enum cfg_process {
	SVC_CONSENSUS = 1 << 0,
	SVC_APPROVAL = 1 << 1,
	SVC_TOKEN = 1 << 2,
	SVC_EXECUTOR = 1 << 3,
	SVC_TELEGRAM = 1 << 4,
	SVC_AUDITOR = 1 << 5,
	SVC_CLI = 1 << 6,
	SVC_MCP = 1 << 7, /* wingman-mcp */
	SVC_DAEMONS = SVC_CONSENSUS | SVC_APPROVAL | SVC_TOKEN | SVC_EXECUTOR | SVC_TELEGRAM |
	    SVC_AUDITOR,
};

enum cfg_id {
	CFG_KAFKA_BROKERS,
	CFG_KAFKA_CONFIG,
	CFG_KEYS_DIR,
	CFG_POLICY_FILE,
	CFG_CONSENSUS_FILE,
	CFG_PG_CONNINFO,
	CFG_AUDIT_JSONL,
	CFG_HTTP_ADDR,
	CFG_AUDIT_CHECKPOINT_S,
	CFG_EARLY_DECISION_TTL_S,
	CFG_REDIS_URL,
	CFG_DOCKER_SOCKET,
	CFG_DOCKER_TIMEOUT_MS,
	CFG_EXECUTOR_LANES,
	CFG_TELEGRAM_API,
	CFG_TELEGRAM_TOKEN_FILE,
	CFG_TELEGRAM_CHAT_ID,
	CFG_TELEGRAM_APPROVERS,
	CFG_TELEGRAM_POLL_S,
	CFG_TELEGRAM_TIMEOUT_MS,
	CFG_WORKER_ID,
	CFG_WORKER_KEY_FILE,
	CFG_ENVIRONMENT,
	CFG_AGENT_WAIT_S,
	CFG_COUNT
};

enum cfg_type {
	CFG_STRING,
	CFG_INT, /* decimal, min..max */
	CFG_PATH, /* shorter than PATH_MAX */
	CFG_SECRET, /* may hold a password: printed as set or unset, never its value */
};

struct cfg_def {
	const char *name; /* WINGMAN_... */
	enum cfg_type type;
	const char *def; /* NULL: no default */
	long long min, max; /* CFG_INT only */
	unsigned used_by; /* SVC_* bits */
	unsigned required_by; /* SVC_* bits: unset or empty is an error there */
	const char *help; /* one line */
};

extern const struct cfg_def config_table[CFG_COUNT];

/* The loaded configuration of one process. */
struct config {
	unsigned process; /* one SVC_* bit */
	const char *value[CFG_COUNT]; /* borrowed from environ or the table; NULL: not loaded */
	long long num[CFG_COUNT]; /* CFG_INT values */
	int from_env[CFG_COUNT]; /* set in the environment, not defaulted */
};

/*
 * Loads the rows process uses from the environment. Unset or empty takes the
 * default; with no default it is "" (off), or an error where required.
 * Returns 0, or -1 with err naming the variable (CONFIG_MISSING, or
 * CONFIG_INVALID with its bounds). Then warns about WINGMAN_* names in the
 * environment that look like misspellings of a table name.
 */
int config_load(struct config *cfg, unsigned process, char *err, size_t errlen);
/* The value ("" when off). A row this process did not load exits (CONFIG_UNKNOWN). */
const char *config_str(const struct config *cfg, enum cfg_id id);
/* The value of a CFG_INT row, already within its bounds. */
long long config_int(const struct config *cfg, enum cfg_id id);
/* The built-in default ("" when none), for tools outside the table's processes. */
const char *config_default(enum cfg_id id);

/*
 * The table name that an unknown WINGMAN_* name is most likely a misspelling
 * of (edit distance 1 or 2, or its start: WINGMAN_DOCKER_TIMEOUT), or NULL: a table name itself, or a name far from
 * all of them (the scripts' own WINGMAN_STATE_DIR, WINGMAN_PG_CONNINFO_<SERVICE>).
 */
const char *config_misspelling_of(const char *name);
/* Logs one warning per such name in env (NAME=VALUE strings). Returns how many. */
int config_warn_unknown(char *const *env);

/* For --help: the rows process uses, with defaults, bounds and what is required. */
void config_usage(FILE *out, unsigned process);
/* For -n -v: each loaded value, secrets as <set> or <unset>. */
void config_print(FILE *out, const struct config *cfg);
/* The table as the Markdown table of docs/configuration.md. */
void config_markdown(FILE *out);

#endif
