/* service_no_core_dumps: what every daemon does first in service_init. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "service.h"

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
		cmocka_unit_test(test_no_core_dumps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
