/*
 * Failpoint arming: which hit of which point fires, and that an unarmed or
 * misspelt point never does. (crash and hang end the process: the
 * integration test test_faults.sh is where they are seen.) The failpoints
 * are compiled in here whatever the build says.
 */
#ifndef WINGMAN_FAILPOINTS
#define WINGMAN_FAILPOINTS 1
#endif
#include "../../common/failpoint.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static void
test_nth_hit_fires_once(void **state)
{
	(void)state;
	setenv("WINGMAN_FAILPOINTS", "other=error,x.second=error@2,x.always=error%100", 1);
	assert_int_equal(failpoint_hit("x.second"), 0);
	assert_int_equal(failpoint_hit("x.second"), -1);
	assert_int_equal(failpoint_hit("x.second"), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(failpoint_hit("x.always"), -1);
}

static void
test_default_is_the_first_hit(void **state)
{
	(void)state;
	setenv("WINGMAN_FAILPOINTS", "y.first=error", 1);
	assert_int_equal(failpoint_hit("y.first"), -1);
	assert_int_equal(failpoint_hit("y.first"), 0);
}

static void
test_unarmed_never_fires(void **state)
{
	(void)state;
	setenv("WINGMAN_FAILPOINTS", "z.never=error%0,z.armed=error,z.bad=explode", 1);
	for (int i = 0; i < 20; i++)
		assert_int_equal(failpoint_hit("z.never"), 0);
	/* A prefix of an armed name is another point; an unknown action arms nothing. */
	assert_int_equal(failpoint_hit("z.arm"), 0);
	assert_int_equal(failpoint_hit("z.bad"), 0);
	unsetenv("WINGMAN_FAILPOINTS");
	assert_int_equal(failpoint_hit("z.armed"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nth_hit_fires_once),
		cmocka_unit_test(test_default_is_the_first_hit),
		cmocka_unit_test(test_unarmed_never_fires),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
