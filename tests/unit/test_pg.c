/*
 * pg_params_build: every libpq connection gets connect_timeout and a
 * statement_timeout, without losing what the user's conninfo says, in
 * keyword=value or URI form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pg.h"

#define BOUND "-c statement_timeout=" PG_STATEMENT_TIMEOUT_MS

/* The value of key, or NULL; fails when key appears twice. */
static const char *
value_of(const struct pg_params *p, const char *key)
{
	const char *found = NULL;

	for (size_t i = 0; p->keys[i] != NULL; i++) {
		if (strcmp(p->keys[i], key) != 0)
			continue;
		assert_null(found);
		found = p->vals[i];
	}
	return found;
}

static void
test_keyword_value(void **state)
{
	struct pg_params p;

	(void)state;
	assert_int_equal(pg_params_build(&p,
	                     "host=/var/tmp/wingman/pg port=5433 dbname=wingman user=wingman_service",
	                     NULL, NULL),
	    0);
	assert_string_equal(value_of(&p, "host"), "/var/tmp/wingman/pg");
	assert_string_equal(value_of(&p, "port"), "5433");
	assert_string_equal(value_of(&p, "dbname"), "wingman");
	assert_string_equal(value_of(&p, "user"), "wingman_service");
	assert_string_equal(value_of(&p, "connect_timeout"), PG_CONNECT_TIMEOUT_S);
	assert_string_equal(value_of(&p, "options"), BOUND);
	assert_null(value_of(&p, "password"));
	pg_params_free(&p);
}

static void
test_uri(void **state)
{
	struct pg_params p;

	(void)state;
	assert_int_equal(pg_params_build(&p,
	                     "postgresql://wingman:s3cret@db.example:6543/wingman?sslmode=require",
	                     NULL, NULL),
	    0);
	assert_string_equal(value_of(&p, "host"), "db.example");
	assert_string_equal(value_of(&p, "port"), "6543");
	assert_string_equal(value_of(&p, "dbname"), "wingman");
	assert_string_equal(value_of(&p, "password"), "s3cret");
	assert_string_equal(value_of(&p, "sslmode"), "require");
	assert_string_equal(value_of(&p, "connect_timeout"), PG_CONNECT_TIMEOUT_S);
	assert_string_equal(value_of(&p, "options"), BOUND);
	pg_params_free(&p);
}

static void
test_user_settings_win(void **state)
{
	struct pg_params p;

	(void)state;
	/* The user's own timeouts stay; other options are kept and extended. */
	assert_int_equal(pg_params_build(&p,
	                     "dbname=w connect_timeout=2 options='-c statement_timeout=1s'", NULL,
	                     NULL),
	    0);
	assert_string_equal(value_of(&p, "connect_timeout"), "2");
	assert_string_equal(value_of(&p, "options"), "-c statement_timeout=1s");
	pg_params_free(&p);
	assert_int_equal(pg_params_build(&p, "dbname=w options='-c search_path=x'", NULL, NULL), 0);
	assert_string_equal(value_of(&p, "options"), "-c search_path=x " BOUND);
	pg_params_free(&p);
	assert_int_equal(pg_params_build(&p,
	                     "postgresql:///w?connect_timeout=3&options=-c%20work_mem%3D4MB", NULL,
	                     NULL),
	    0);
	assert_string_equal(value_of(&p, "connect_timeout"), "3");
	assert_string_equal(value_of(&p, "options"), "-c work_mem=4MB " BOUND);
	pg_params_free(&p);
	/* PGOPTIONS and PGCONNECT_TIMEOUT count as the user's, unless conninfo says. */
	assert_int_equal(pg_params_build(&p, "dbname=w", "-c lock_timeout=5s", "7"), 0);
	assert_string_equal(value_of(&p, "connect_timeout"), "7");
	assert_string_equal(value_of(&p, "options"), "-c lock_timeout=5s " BOUND);
	pg_params_free(&p);
	assert_int_equal(pg_params_build(&p, "dbname=w connect_timeout=1 options=-cfoo=1",
	                     "-c statement_timeout=0", "7"),
	    0);
	assert_string_equal(value_of(&p, "connect_timeout"), "1");
	assert_string_equal(value_of(&p, "options"), "-cfoo=1 " BOUND);
	pg_params_free(&p);
}

static void
test_empty_and_bad(void **state)
{
	struct pg_params p;

	(void)state;
	/* Empty: libpq's defaults and environment, bounds added. */
	assert_int_equal(pg_params_build(&p, "", NULL, NULL), 0);
	assert_null(value_of(&p, "dbname"));
	assert_string_equal(value_of(&p, "connect_timeout"), PG_CONNECT_TIMEOUT_S);
	pg_params_free(&p);
	assert_int_equal(pg_params_build(&p, "dbname='unterminated", NULL, NULL), -1);
	pg_params_free(&p);
	assert_int_equal(pg_params_build(&p, "nosuchkeyword=1", NULL, NULL), -1);
	pg_params_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyword_value),
		cmocka_unit_test(test_uri),
		cmocka_unit_test(test_user_settings_win),
		cmocka_unit_test(test_empty_and_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
