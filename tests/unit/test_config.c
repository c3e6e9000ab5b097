/*
 * A misspelt configuration name in the code fails at startup instead of
 * quietly meaning "off", and the audit sink is off only when told so.
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

static struct config_var vars[] = {
	{ "WINGMAN_PG_CONNINFO", "", "PostgreSQL", NULL },
	{ "WINGMAN_AUDIT_JSONL", "", "JSONL copy", NULL },
};

static void
test_known_names(void **state)
{
	char err[256];

	(void)state;
	unsetenv("WINGMAN_PG_CONNINFO");
	unsetenv("WINGMAN_AUDIT_JSONL");
	assert_int_equal(config_load(vars, 2, err, sizeof(err)), 0);
	assert_string_equal(config_get(vars, 2, "WINGMAN_PG_CONNINFO"), "");
}

static void
test_typo_exits(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	fflush(NULL);
	if ((pid = fork()) == 0) {
		/* Silence the fatal line: the exit status is what is checked. */
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(9);
		(void)config_get(vars, 2, "WINGMAN_PG_CONINFO");
		_exit(0); /* not reached when the typo is caught */
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
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
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_names),
		cmocka_unit_test(test_typo_exits),
		cmocka_unit_test(test_audit_off_only_when_said),
	};

	log_init("test", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
