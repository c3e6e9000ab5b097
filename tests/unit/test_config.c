/*
 * The configuration table: defaults, bounds, required rows, secrets never
 * printed, misspelt names caught (in the code: CONFIG_UNKNOWN; in the
 * environment: a warning), and docs/configuration.md kept in step.
 *
 * Run with --markdown to print the table for docs/configuration.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit.h"
#include "config.h"
#include "log.h"
#include "util.h"

/* Every table variable unset, then the ones the executor cannot start without. */
static void
executor_env(void)
{
	for (int i = 0; i < CFG_COUNT; i++)
		unsetenv(config_table[i].name);
	setenv("WINGMAN_KEYS_DIR", "/etc/wingman/keys", 1);
	setenv("WINGMAN_POLICY_FILE", "/etc/wingman/policy.json", 1);
	setenv("WINGMAN_PG_CONNINFO", "dbname=wingman", 1);
}

/* What config_print (cfg not NULL) and then config_usage (process not 0) write. */
static char *
printed(const struct config *cfg, unsigned process)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	if (cfg != NULL)
		config_print(f, cfg);
	if (process != 0)
		config_usage(f, process);
	fclose(f);
	return text;
}

static void
test_defaults(void **state)
{
	struct config cfg;
	char err[256];

	(void)state;
	executor_env();
	setenv("WINGMAN_DOCKER_SOCKET", "", 1); /* empty is unset: the default */
	assert_int_equal(config_load(&cfg, SVC_EXECUTOR, err, sizeof(err)), 0);
	assert_int_equal(config_int(&cfg, CFG_DOCKER_TIMEOUT_MS), 30000);
	assert_string_equal(config_str(&cfg, CFG_DOCKER_SOCKET), "/var/run/docker.sock");
	assert_string_equal(config_str(&cfg, CFG_KAFKA_BROKERS), config_default(CFG_KAFKA_BROKERS));
	assert_string_equal(config_str(&cfg, CFG_AUDIT_JSONL), "");
	assert_string_equal(config_str(&cfg, CFG_KEYS_DIR), "/etc/wingman/keys");
	setenv("WINGMAN_DOCKER_TIMEOUT_MS", "1234", 1);
	assert_int_equal(config_load(&cfg, SVC_EXECUTOR, err, sizeof(err)), 0);
	assert_int_equal(config_int(&cfg, CFG_DOCKER_TIMEOUT_MS), 1234);
}

static void
expect_invalid(unsigned process, const char *name, const char *value, const char *bounds)
{
	struct config cfg;
	char err[256] = "";

	setenv(name, value, 1);
	assert_int_equal(config_load(&cfg, process, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CONFIG_INVALID"));
	assert_non_null(strstr(err, name));
	assert_non_null(strstr(err, bounds));
	unsetenv(name);
}

/* Each value refused for WINGMAN_DOCKER_TIMEOUT_MS (100..600000), with its bounds named. */
static void
expect_timeouts_invalid(const char *const *values, size_t n)
{
	for (size_t i = 0; i < n; i++)
		expect_invalid(SVC_EXECUTOR, "WINGMAN_DOCKER_TIMEOUT_MS", values[i], "100..600000");
}

static void
test_malformed_int(void **state)
{
	static const char *const bad[] = { "abc", "3000ms", "0x100", "1e4", "30000 x",
		"99999999999999999999" };

	(void)state;
	executor_env();
	expect_timeouts_invalid(bad, sizeof(bad) / sizeof(bad[0]));
}

static void
test_out_of_bounds(void **state)
{
	static const char *const out[] = { "99", "600001", "-1", "0" };
	struct config cfg;
	char err[256];

	(void)state;
	executor_env();
	expect_timeouts_invalid(out, sizeof(out) / sizeof(out[0]));
	/* The bounds themselves are in. */
	setenv("WINGMAN_DOCKER_TIMEOUT_MS", "100", 1);
	assert_int_equal(config_load(&cfg, SVC_EXECUTOR, err, sizeof(err)), 0);
	setenv("WINGMAN_DOCKER_TIMEOUT_MS", "600000", 1);
	assert_int_equal(config_load(&cfg, SVC_EXECUTOR, err, sizeof(err)), 0);
	unsetenv("WINGMAN_DOCKER_TIMEOUT_MS");
	/* A row this process does not read is not checked. */
	setenv("WINGMAN_TELEGRAM_POLL_S", "99", 1);
	assert_int_equal(config_load(&cfg, SVC_EXECUTOR, err, sizeof(err)), 0);
	setenv("WINGMAN_TELEGRAM_TOKEN_FILE", "/etc/wingman/bot.token", 1);
	setenv("WINGMAN_TELEGRAM_CHAT_ID", "-100", 1);
	setenv("WINGMAN_TELEGRAM_APPROVERS", "1=alice", 1);
	expect_invalid(SVC_TELEGRAM, "WINGMAN_TELEGRAM_POLL_S", "99", "1..50");
	expect_invalid(SVC_TELEGRAM, "WINGMAN_TELEGRAM_CHAT_ID", "-1000000000000000",
	    "-999999999999999..999999999999999");
}

static void
test_required(void **state)
{
	struct config cfg;
	char err[256] = "";

	(void)state;
	executor_env();
	unsetenv("WINGMAN_PG_CONNINFO");
	assert_int_equal(config_load(&cfg, SVC_EXECUTOR, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CONFIG_MISSING: WINGMAN_PG_CONNINFO"));
	/* Optional in wingman-token: "" (its audit rows go to the JSONL copy only). */
	assert_int_equal(config_load(&cfg, SVC_TOKEN, err, sizeof(err)), 0);
	assert_string_equal(config_str(&cfg, CFG_PG_CONNINFO), "");
	/* Set empty is unset. */
	setenv("WINGMAN_PG_CONNINFO", "", 1);
	assert_int_equal(config_load(&cfg, SVC_EXECUTOR, err, sizeof(err)), -1);
}

/* The value is a password: -n -v, --help and errors never show it. */
static void
test_secrets_never_printed(void **state)
{
	struct config cfg;
	char err[256], *text;

	(void)state;
	executor_env();
	setenv("WINGMAN_PG_CONNINFO", "dbname=wingman password=hunter2", 1);
	setenv("WINGMAN_REDIS_URL", "redis://:hunter2@127.0.0.1:6379/0", 1);
	assert_int_equal(config_load(&cfg, SVC_EXECUTOR, err, sizeof(err)), 0);
	text = printed(&cfg, SVC_EXECUTOR);
	assert_null(strstr(text, "hunter2"));
	assert_non_null(strstr(text, "WINGMAN_PG_CONNINFO=<set>\n"));
	assert_non_null(strstr(text, "WINGMAN_REDIS_URL=<set>\n"));
	/* Not secret: shown, and marked when it is the default. */
	assert_non_null(strstr(text, "WINGMAN_KEYS_DIR=/etc/wingman/keys\n"));
	assert_non_null(strstr(text, "WINGMAN_DOCKER_TIMEOUT_MS=30000 # default\n"));
	free(text);
	/* Unset secrets say so. */
	unsetenv("WINGMAN_PG_CONNINFO");
	assert_int_equal(config_load(&cfg, SVC_TOKEN, err, sizeof(err)), 0);
	text = printed(&cfg, 0);
	assert_non_null(strstr(text, "WINGMAN_PG_CONNINFO=<unset>"));
	assert_null(strstr(text, "WINGMAN_REDIS_URL")); /* not the token's */
	free(text);
}

/* --help lists the rows of that process only, with what each needs. */
static void
test_usage(void **state)
{
	char *text = printed(NULL, SVC_APPROVAL);

	(void)state;
	assert_non_null(strstr(text, "WINGMAN_EARLY_DECISION_TTL_S"));
	assert_non_null(strstr(text, "(10..86400, default: 600)"));
	assert_non_null(strstr(text, "WINGMAN_POLICY_FILE"));
	assert_null(strstr(text, "WINGMAN_REDIS_URL"));
	assert_null(strstr(text, "WINGMAN_TELEGRAM"));
	free(text);
}

/* The exit status of a child that looks up id as an int (as_int) or a string. */
static int
lookup_status(const struct config *cfg, enum cfg_id id, int as_int)
{
	int status;
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) == 0) {
		/* Silence the fatal line: the exit status is what is checked. */
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(9);
		if (as_int)
			(void)config_int(cfg, id);
		else
			(void)config_str(cfg, id);
		_exit(0); /* not reached when the mistake is caught */
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Asking for a row the process did not load is a bug: exit at startup, not "". */
static void
test_row_not_loaded_exits(void **state)
{
	struct config cfg;
	char err[256];

	(void)state;
	executor_env();
	assert_int_equal(config_load(&cfg, SVC_TOKEN, err, sizeof(err)), 0);
	assert_int_equal(lookup_status(&cfg, CFG_KEYS_DIR, 0), 0);
	assert_int_equal(lookup_status(&cfg, CFG_REDIS_URL, 0), 1);
	/* An int lookup of a string row too. */
	assert_int_equal(lookup_status(&cfg, CFG_KEYS_DIR, 1), 1);
}

/*
 * An unknown WINGMAN_* name close to a table name warns (a typo would
 * otherwise leave the default in force silently); the scripts' own
 * variables, which share the environment, do not.
 */
static void
test_unknown_in_environment(void **state)
{
	static const char *const scripts[] = {
		"WINGMAN_STATE_DIR",
		"WINGMAN_SOURCE_DIR",
		"WINGMAN_BUILD_DIR",
		"WINGMAN_CACHE_DIR",
		"WINGMAN_KAFKA_PORT",
		"WINGMAN_KAFKA_CONTROLLER_PORT",
		"WINGMAN_REDIS_PORT",
		"WINGMAN_PG_PORT",
		"WINGMAN_PG_OWNER_CONNINFO",
		"WINGMAN_PG_ADMIN_CONNINFO",
		"WINGMAN_PG_CONNINFO_CONSENSUS",
		"WINGMAN_PG_CONNINFO_APPROVAL",
		"WINGMAN_PG_CONNINFO_TOKEN",
		"WINGMAN_PG_CONNINFO_EXECUTOR",
		"WINGMAN_PG_CONNINFO_TELEGRAM",
		"WINGMAN_PG_CONNINFO_AUDITOR",
		"WINGMAN_PG_CONNINFO_ADMIN",
		"WINGMAN_SANITIZE",
		"WINGMAN_KEEP_STACK",
		"WINGMAN_PACKAGES",
		"WINGMAN_PYTHON",
		"WINGMAN_FUZZ_SECONDS",
	};
	char *env[] = { "WINGMAN_PG_CONINFO=dbname=x", "WINGMAN_STATE_DIR=/var/tmp/w",
		"WINGMAN_KEYS_DIR=/k", "PATH=/bin", "WINGMAN_DOCKER_TIMEOUT=5", NULL };

	(void)state;
	assert_string_equal(config_misspelling_of("WINGMAN_PG_CONINFO"), "WINGMAN_PG_CONNINFO");
	assert_string_equal(config_misspelling_of("WINGMAN_KAFKA_BROKER"), "WINGMAN_KAFKA_BROKERS");
	assert_string_equal(config_misspelling_of("WINGMAN_KEY_DIR"), "WINGMAN_KEYS_DIR");
	assert_string_equal(config_misspelling_of("WINGMAN_DOCKER_TIMEOUT"),
	    "WINGMAN_DOCKER_TIMEOUT_MS");
	assert_string_equal(config_misspelling_of("WINGMAN_TELEGRAM_TOKEN"),
	    "WINGMAN_TELEGRAM_TOKEN_FILE");
	assert_null(config_misspelling_of("WINGMAN_SOMETHING_ELSE"));
	for (int i = 0; i < CFG_COUNT; i++)
		assert_null(config_misspelling_of(config_table[i].name));
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		if (config_misspelling_of(scripts[i]) != NULL)
			fail_msg("%s would warn in every test run", scripts[i]);
	}
	assert_int_equal(config_warn_unknown(env), 2);
}

/* Two rows of one name, or a default outside its own bounds, is a table bug. */
static void
test_table_consistent(void **state)
{
	(void)state;
	for (int i = 0; i < CFG_COUNT; i++) {
		const struct cfg_def *d = &config_table[i];
		long long v;

		assert_non_null(d->name);
		assert_int_equal(strncmp(d->name, "WINGMAN_", 8), 0);
		assert_true(d->used_by != 0);
		assert_int_equal(d->required_by & ~d->used_by, 0);
		if (d->type == CFG_INT && d->def != NULL)
			assert_int_equal(parse_int(d->def, d->min, d->max, &v), 0);
		/* An optional int needs a default: "" is not a number. */
		if (d->type == CFG_INT)
			assert_true(d->def != NULL || d->required_by == d->used_by);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(config_table[j].name, d->name);
	}
}

/* docs/configuration.md holds the table exactly as config_markdown prints it. */
static void
test_docs_match_table(void **state)
{
	const char *src = getenv("WINGMAN_SOURCE_DIR");
	char path[4096], *doc = NULL, *table = NULL;
	size_t doclen = 0, len = 0;
	FILE *f;

	(void)state;
	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/docs/configuration.md", src);
	assert_int_equal(read_file(path, 1 << 20, &doc, &doclen), 0);
	assert_non_null(f = open_memstream(&table, &len));
	config_markdown(f);
	fclose(f);
	if (strstr(doc, table) == NULL)
		fail_msg("docs/configuration.md does not hold the configuration table; replace it "
		         "with the output of test_config --markdown:\n%s",
		    table);
	free(table);
	free(doc);
}

static void
test_audit_off_only_when_said(void **state)
{
	struct audit *a;
	char err[256] = "";

	(void)state;
	assert_null(audit_open("wingman-test", NULL, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "AUDIT_OPEN"));
	a = audit_open("wingman-test", "", NULL, err, sizeof(err));
	assert_non_null(a);
	audit_close(a);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_malformed_int),
		cmocka_unit_test(test_out_of_bounds),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_secrets_never_printed),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_row_not_loaded_exits),
		cmocka_unit_test(test_unknown_in_environment),
		cmocka_unit_test(test_table_consistent),
		cmocka_unit_test(test_docs_match_table),
		cmocka_unit_test(test_audit_off_only_when_said),
	};

	if (argc == 2 && strcmp(argv[1], "--markdown") == 0) {
		config_markdown(stdout);
		return 0;
	}
	log_init("test", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
