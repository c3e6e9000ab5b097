/*
 * service_main: core dumps off first; --help, bad options, -n and a failed
 * setup end with the exit status and words the scripts rely on, and the
 * service's close runs on every path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "service.h"

static struct audit *fake_audit;
static int fail_setup;

static int
fake_setup(void *ctx, struct service_run *run, char *err, size_t errlen)
{
	if (fail_setup) {
		snprintf(err, errlen, "FAKE_SETUP: refused");
		return -1;
	}
	return 0;
}

static void
fake_close(void *ctx)
{
	printf("closed\n");
	fflush(stdout);
}

static const char *const fake_topics[] = { "wingman.fake", NULL };
static const struct service fake = {
	.name = "wingman-fake",
	.process = SVC_TOKEN,
	.summary = "A service for this test.",
	.keys = "none",
	.topics = fake_topics,
	.audit = &fake_audit,
	.setup = fake_setup,
	.close = fake_close,
};

/* Runs service_main(fake, args) in a child; its exit status, *out what it printed. */
static int
run_fake(char **args, char **out)
{
	char buf[8192];
	size_t len = 0;
	ssize_t n;
	int fds[2], status, argc = 0;
	pid_t pid;

	while (args[argc] != NULL)
		argc++;
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		close(fds[0]);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		optind = 1;
		_exit(service_main(&fake, argc, args));
	}
	assert_true(pid > 0);
	close(fds[1]);
	while ((n = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fds[0]);
	buf[len] = '\0';
	*out = strdup(buf);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
test_main_paths(void **state)
{
	char *help[] = { "wingman-fake", "--help", NULL };
	char *bad[] = { "wingman-fake", "-x", NULL };
	char *check[] = { "wingman-fake", "-n", NULL };
	char *out;

	(void)state;
	setenv("WINGMAN_KEYS_DIR", "/nonexistent", 1);
	assert_int_equal(run_fake(help, &out), 0);
	assert_non_null(strstr(out, "WINGMAN_KEYS_DIR"));
	assert_null(strstr(out, "WINGMAN_REDIS_URL")); /* not this process's */
	free(out);
	assert_int_equal(run_fake(bad, &out), 2);
	free(out);
	assert_int_equal(run_fake(check, &out), 0);
	assert_string_equal(out, "configuration OK\nclosed\n");
	free(out);
	fail_setup = 1;
	assert_int_equal(run_fake(check, &out), 1);
	assert_non_null(strstr(out, "closed\n"));
	assert_non_null(strstr(out, "level=fatal FAKE_SETUP: refused"));
	free(out);
	fail_setup = 0;
	/* A malformed or missing variable: exit 1 naming it, before setup. */
	unsetenv("WINGMAN_KEYS_DIR");
	assert_int_equal(run_fake(check, &out), 1);
	assert_non_null(strstr(out, "CONFIG_MISSING: WINGMAN_KEYS_DIR"));
	assert_null(strstr(out, "closed"));
	free(out);
}

static void
test_no_core_dumps(void **state)
{
	struct rlimit rl;
	char err[256];

	(void)state;
	/* A test process starts dumpable: otherwise this proves nothing. */
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
	assert_int_equal(service_no_core_dumps(err, sizeof(err)), 0);
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
	assert_int_equal(rl.rlim_cur, 0);
	/* The hard limit too, so nothing in the process can raise it again. */
	assert_int_equal(rl.rlim_max, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_main_paths),
		cmocka_unit_test(test_no_core_dumps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
