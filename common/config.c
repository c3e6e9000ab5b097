#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/*
 * Every variable any process reads. The default broker address is written
 * here and nowhere else. docs/configuration.md holds this table as Markdown;
 * tests/unit/test_config.c fails when the two drift.
 */
const struct cfg_def config_table[CFG_COUNT] = {
	[CFG_KAFKA_BROKERS] = { "WINGMAN_KAFKA_BROKERS", CFG_STRING, "127.0.0.1:19092", 0, 0,
	    SVC_DAEMONS | SVC_CLI | SVC_MCP, 0,
	    "Kafka bootstrap servers, HOST:PORT[,HOST:PORT...]" },
	[CFG_KAFKA_CONFIG] = { "WINGMAN_KAFKA_CONFIG", CFG_PATH, NULL, 0, 0,
	    SVC_DAEMONS | SVC_CLI | SVC_MCP, 0,
	    "librdkafka properties file (KEY=VALUE lines: SASL, TLS) applied to every Kafka "
	    "client of the process" },
	[CFG_KEYS_DIR] = { "WINGMAN_KEYS_DIR", CFG_PATH, NULL, 0, 0, SVC_DAEMONS | SVC_CLI | SVC_MCP,
	    SVC_DAEMONS | SVC_MCP, "key directory; each process loads only its own files from it" },
	[CFG_POLICY_FILE] = { "WINGMAN_POLICY_FILE", CFG_PATH, NULL, 0, 0,
	    SVC_APPROVAL | SVC_EXECUTOR | SVC_TELEGRAM | SVC_MCP,
	    SVC_APPROVAL | SVC_EXECUTOR | SVC_TELEGRAM, "the policy (JSON)" },
	[CFG_CONSENSUS_FILE] = { "WINGMAN_CONSENSUS_FILE", CFG_PATH, NULL, 0, 0, SVC_CONSENSUS,
	    SVC_CONSENSUS,
	    "threshold, voters and the rules table (JSON); API keys in the files it "
	    "names" },
	[CFG_PG_CONNINFO] = { "WINGMAN_PG_CONNINFO", CFG_SECRET, NULL, 0, 0, SVC_DAEMONS | SVC_CLI,
	    SVC_APPROVAL | SVC_EXECUTOR | SVC_TELEGRAM | SVC_AUDITOR,
	    "PostgreSQL (key=value or URI), the process's own role; empty where optional: no "
	    "audit rows in PostgreSQL" },
	[CFG_AUDIT_JSONL] = { "WINGMAN_AUDIT_JSONL", CFG_PATH, "", 0, 0, SVC_DAEMONS | SVC_CLI, 0,
	    "JSONL copy of the audit log (empty: off)" },
	[CFG_HTTP_ADDR] = { "WINGMAN_HTTP_ADDR", CFG_STRING, NULL, 0, 0, SVC_DAEMONS, 0,
	    "HOST:PORT serving GET /healthz and GET /metrics (Prometheus); empty: off" },
	[CFG_AUDIT_CHECKPOINT_S] = { "WINGMAN_AUDIT_CHECKPOINT_S", CFG_INT, "60", 1, 86400,
	    SVC_AUDITOR | SVC_CLI, 0,
	    "seconds between signed audit checkpoints (wingman audit "
	    "verify allows twice that by default)" },
	[CFG_EARLY_DECISION_TTL_S] = { "WINGMAN_EARLY_DECISION_TTL_S", CFG_INT, "600", 10, 86400,
	    SVC_APPROVAL, 0, "how long a human decision read before its request waits for it" },
	[CFG_REDIS_URL] = { "WINGMAN_REDIS_URL", CFG_SECRET, "redis://127.0.0.1:6379/0", 0, 0,
	    SVC_EXECUTOR, 0, "the single-use token ledger, redis://[[USER]:PASSWORD@]HOST:PORT/DB" },
	[CFG_DOCKER_SOCKET] = { "WINGMAN_DOCKER_SOCKET", CFG_PATH, "/var/run/docker.sock", 0, 0,
	    SVC_EXECUTOR, 0, "Docker Engine API unix socket" },
	[CFG_DOCKER_TIMEOUT_MS] = { "WINGMAN_DOCKER_TIMEOUT_MS", CFG_INT, "30000", 100, 600000,
	    SVC_EXECUTOR, 0, "timeout of one Docker API call" },
	[CFG_EXECUTOR_LANES] = { "WINGMAN_EXECUTOR_LANES", CFG_INT, "8", 1, 64, SVC_EXECUTOR, 0,
	    "orders handled at once, each lane with its own PostgreSQL, Redis and Docker "
	    "connections" },
	[CFG_TELEGRAM_API] = { "WINGMAN_TELEGRAM_API", CFG_STRING, "https://api.telegram.org", 0, 0,
	    SVC_TELEGRAM, 0, "Bot API base URL" },
	[CFG_TELEGRAM_TOKEN_FILE] = { "WINGMAN_TELEGRAM_TOKEN_FILE", CFG_PATH, NULL, 0, 0,
	    SVC_TELEGRAM, SVC_TELEGRAM, "file holding the bot token (0600)" },
	[CFG_TELEGRAM_CHAT_ID] = { "WINGMAN_TELEGRAM_CHAT_ID", CFG_INT, NULL, -999999999999999LL,
	    999999999999999LL, SVC_TELEGRAM, SVC_TELEGRAM,
	    "numeric id of the approvers' chat, not 0 (groups are negative)" },
	[CFG_TELEGRAM_APPROVERS] = { "WINGMAN_TELEGRAM_APPROVERS", CFG_STRING, NULL, 0, 0,
	    SVC_TELEGRAM, SVC_TELEGRAM,
	    "allowlist USER_ID=NAME[,USER_ID=NAME...]: numeric "
	    "Telegram user ids to policy approvers" },
	[CFG_TELEGRAM_POLL_S] = { "WINGMAN_TELEGRAM_POLL_S", CFG_INT, "25", 1, 50, SVC_TELEGRAM, 0,
	    "getUpdates long-polling timeout" },
	[CFG_TELEGRAM_TIMEOUT_MS] = { "WINGMAN_TELEGRAM_TIMEOUT_MS", CFG_INT, "15000", 1000, 60000,
	    SVC_TELEGRAM, 0, "timeout of any other Bot API call" },
	/* The agent's side (wingman-mcp, wingman hook): who it is, never the model's say. */
	[CFG_WORKER_ID] = { "WINGMAN_WORKER_ID", CFG_STRING, NULL, 0, 0, SVC_CLI | SVC_MCP, SVC_MCP,
	    "the agent's worker id: requests of wingman-mcp and wingman hook are its" },
	[CFG_WORKER_KEY_FILE] = { "WINGMAN_WORKER_KEY_FILE", CFG_PATH, "", 0, 0, SVC_CLI | SVC_MCP,
	    0, "the agent's private key (worker-ID.key); when set, its requests are signed" },
	[CFG_ENVIRONMENT] = { "WINGMAN_ENVIRONMENT", CFG_STRING, "", 0, 0, SVC_CLI | SVC_MCP, 0,
	    "environment of wingman hook's requests, and wingman-mcp's when the tool call names none" },
	[CFG_AGENT_WAIT_S] = { "WINGMAN_AGENT_WAIT_S", CFG_INT, "600", 1, 86400, SVC_CLI | SVC_MCP,
	    0, "how long wingman-mcp and wingman hook wait for a request's result" },
};

static const struct {
	unsigned bit;
	const char *name;
} process_names[] = {
	{ SVC_CONSENSUS, "consensus" },
	{ SVC_APPROVAL, "approval" },
	{ SVC_TOKEN, "token" },
	{ SVC_EXECUTOR, "executor" },
	{ SVC_TELEGRAM, "telegram" },
	{ SVC_AUDITOR, "auditor" },
	{ SVC_CLI, "CLI" },
	{ SVC_MCP, "mcp" },
};

/* Checks one value against its row. Returns 0, or -1 with err. */
static int
check_value(const struct cfg_def *d, const char *v, long long *num, char *err, size_t errlen)
{
	switch (d->type) {
	case CFG_INT:
		if (parse_int(v, d->min, d->max, num) != 0) {
			snprintf(err, errlen,
			    "CONFIG_INVALID: %s must be an integer in %lld..%lld "
			    "(got \"%.40s\")",
			    d->name, d->min, d->max, v);
			return -1;
		}
		break;
	case CFG_PATH:
		if (strlen(v) >= PATH_MAX) {
			snprintf(err, errlen, "CONFIG_INVALID: %s is longer than %d bytes", d->name,
			    PATH_MAX - 1);
			return -1;
		}
		break;
	case CFG_STRING:
	case CFG_SECRET:
		break;
	}
	return 0;
}

int
config_load(struct config *cfg, unsigned process, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->process = process;
	for (int i = 0; i < CFG_COUNT; i++) {
		const struct cfg_def *d = &config_table[i];
		const char *v;

		if ((d->used_by & process) == 0)
			continue;
		v = getenv(d->name);
		cfg->from_env[i] = v != NULL && *v != '\0';
		if (!cfg->from_env[i])
			v = d->def;
		if (v == NULL && (d->required_by & process) != 0) {
			snprintf(err, errlen, "CONFIG_MISSING: %s is not set (%s)", d->name,
			    d->help);
			return -1;
		}
		/* Optional and unset: "" means off (an int row needs a default). */
		if (v == NULL)
			v = "";
		if (check_value(d, v, &cfg->num[i], err, errlen) != 0)
			return -1;
		cfg->value[i] = v;
	}
	config_warn_unknown(environ);
	return 0;
}

static const struct cfg_def *
loaded(const struct config *cfg, enum cfg_id id)
{
	/*
	 * A row this process does not load is a bug in the code, not a setting
	 * left empty: "" would quietly mean "off" to its user (the audit sink).
	 */
	if ((unsigned)id >= CFG_COUNT || cfg->value[id] == NULL)
		fatalx("CONFIG_UNKNOWN: %s is not in this process's configuration",
		    (unsigned)id < CFG_COUNT ? config_table[id].name : "(out of range)");
	return &config_table[id];
}

const char *
config_str(const struct config *cfg, enum cfg_id id)
{
	loaded(cfg, id);
	return cfg->value[id];
}

long long
config_int(const struct config *cfg, enum cfg_id id)
{
	if (loaded(cfg, id)->type != CFG_INT)
		fatalx("CONFIG_UNKNOWN: %s is not an integer", config_table[id].name);
	return cfg->num[id];
}

const char *
config_default(enum cfg_id id)
{
	return config_table[id].def != NULL ? config_table[id].def : "";
}

/* Levenshtein distance, or 3 when it is more than 2: all the caller needs. */
static int
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int row[128], prev;

	if (lb >= sizeof(row) / sizeof(row[0]) || (la > lb ? la - lb : lb - la) > 2)
		return 3;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int cur = row[j], best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb] > 2 ? 3 : row[lb];
}

const char *
config_misspelling_of(const char *name)
{
	const char *best = NULL;
	int best_d = 3;

	for (int i = 0; i < CFG_COUNT; i++) {
		const char *t = config_table[i].name;
		int d = distance(name, t);

		if (d == 0)
			return NULL;
		/* The unit or the _FILE left off: WINGMAN_DOCKER_TIMEOUT. */
		if (d > 2 && strlen(name) > 8 && strncmp(t, name, strlen(name)) == 0)
			d = 2;
		if (d < best_d) {
			best_d = d;
			best = config_table[i].name;
		}
	}
	return best;
}

int
config_warn_unknown(char *const *env)
{
	int n = 0;

	for (; env != NULL && *env != NULL; env++) {
		char name[128];
		const char *eq = strchr(*env, '='), *near;
		size_t len = eq != NULL ? (size_t)(eq - *env) : strlen(*env);

		if (strncmp(*env, "WINGMAN_", 8) != 0 || len >= sizeof(name))
			continue;
		memcpy(name, *env, len);
		name[len] = '\0';
		if ((near = config_misspelling_of(name)) != NULL) {
			log_warnx("event=config_unknown name=%s reason=\"not a Wingman setting: did you "
			          "mean %s?\"",
			    name, near);
			n++;
		}
	}
	return n;
}

/* "(required)", "(default: X)", "(1..50, default: 25)": what --help says of a row. */
static void
row_terms(const struct cfg_def *d, unsigned process, char *out, size_t len)
{
	char bounds[64] = "";

	if (d->type == CFG_INT)
		snprintf(bounds, sizeof(bounds), "%lld..%lld%s", d->min, d->max,
		    d->def != NULL || (d->required_by & process) ? ", " : "");
	if (d->required_by & process)
		snprintf(out, len, "(%srequired)", bounds);
	else if (d->def != NULL && *d->def != '\0')
		snprintf(out, len, "(%sdefault: %s)", bounds, d->def);
	else
		snprintf(out, len, "(%soptional)", bounds);
}

void
config_usage(FILE *out, unsigned process)
{
	char terms[128];

	fprintf(out, "\nEnvironment:\n");
	for (int i = 0; i < CFG_COUNT; i++) {
		const struct cfg_def *d = &config_table[i];

		if ((d->used_by & process) == 0)
			continue;
		row_terms(d, process, terms, sizeof(terms));
		fprintf(out, "  %-28s %s %s\n", d->name, d->help, terms);
	}
}

void
config_print(FILE *out, const struct config *cfg)
{
	for (int i = 0; i < CFG_COUNT; i++) {
		const char *v = cfg->value[i];

		if (v == NULL)
			continue;
		if (config_table[i].type == CFG_SECRET)
			v = *v != '\0' ? "<set>" : "<unset>";
		fprintf(out, "%s=%s%s\n", config_table[i].name, v,
		    cfg->from_env[i] ? "" : " # default");
	}
}

/* "approval, executor" from a set of SVC_* bits; "all daemons" for all six. */
static void
process_list(unsigned bits, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	if ((bits & SVC_DAEMONS) == SVC_DAEMONS) {
		used = (size_t)snprintf(out, len, "all daemons");
		bits &= ~(unsigned)SVC_DAEMONS;
	}
	for (size_t i = 0; i < sizeof(process_names) / sizeof(process_names[0]); i++)
		if ((bits & process_names[i].bit) && used < len)
			used += (size_t)snprintf(out + used, len - used, "%s%s", used ? ", " : "",
			    process_names[i].name);
}

void
config_markdown(FILE *out)
{
	static const char *const types[] = { "string", "integer", "path", "secret" };
	char users[160], required[160];

	fprintf(out, "| variable | type | default | used by | required by | meaning |\n");
	fprintf(out, "|---|---|---|---|---|---|\n");
	for (int i = 0; i < CFG_COUNT; i++) {
		const struct cfg_def *d = &config_table[i];

		process_list(d->used_by, users, sizeof(users));
		process_list(d->required_by, required, sizeof(required));
		fprintf(out, "| `%s` | %s", d->name, types[d->type]);
		if (d->type == CFG_INT)
			fprintf(out, " %lld..%lld", d->min, d->max);
		fprintf(out, " | %s%s%s | %s | %s | %s |\n", d->def && *d->def ? "`" : "",
		    d->def && *d->def ? d->def : "", d->def && *d->def ? "`" : "", users, required,
		    d->help);
	}
}
