/*
 * pg_connect against the stack's PostgreSQL: the session really runs with
 * the statement_timeout and connect_timeout that pg.h promises, for the
 * conninfo the services are given, and the link every service uses gets
 * them too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "pg.h"

static const char *
conninfo(void)
{
	const char *c = getenv("WINGMAN_PG_CONNINFO");

	if (c == NULL || *c == '\0')
		fail_msg("WINGMAN_PG_CONNINFO is not set: run through scripts/test");
	return c;
}

static void
expect_bounded(PGconn *c)
{
	PQconninfoOption *opts, *o;
	PGresult *r;
	const char *timeout = NULL;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c,
	    "SELECT current_setting('statement_timeout')::interval = "
	    "interval '" PG_STATEMENT_TIMEOUT_MS " milliseconds'");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	assert_non_null(opts = PQconninfo(c));
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "connect_timeout") == 0)
			timeout = o->val;
	assert_non_null(timeout);
	assert_string_equal(timeout, PG_CONNECT_TIMEOUT_S);
	PQconninfoFree(opts);
}

static void
test_pg_connect(void **state)
{
	PGconn *c;

	(void)state;
	c = pg_connect(conninfo());
	expect_bounded(c);
	PQfinish(c);
}

static void
test_pg_link(void **state)
{
	struct pg_link l;

	(void)state;
	assert_int_equal(pg_link_init(&l, conninfo()), 0);
	expect_bounded(pg_link_conn(&l));
	pg_link_close(&l);
}

static void
test_bad_conninfo_says_why(void **state)
{
	PGconn *c;

	(void)state;
	c = pg_connect("dbname='unterminated");
	assert_int_not_equal(PQstatus(c), CONNECTION_OK);
	assert_non_null(strstr(PQerrorMessage(c), "unterminated"));
	PQfinish(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pg_connect),
		cmocka_unit_test(test_pg_link),
		cmocka_unit_test(test_bad_conninfo_says_why),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
