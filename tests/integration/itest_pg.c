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

/* How many statements this session has prepared (the server's own view). */
static long
prepared_count(PGconn *c)
{
	PGresult *r = PQexec(c, "SELECT count(*) FROM pg_prepared_statements");
	long n;

	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return n;
}

static void
expect_row(PGresult *r, const char *want)
{
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), want);
	PQclear(r);
}

/*
 * pg_exec_prepared: a statement is prepared once per session and run by
 * name after; another text is another statement; a function made anew
 * with other columns fails the call once, as it would unprepared, and works
 * on the next; an aborted transaction leaves nothing half prepared; a reset
 * connection prepares again.
 */
static void
test_prepared(void **state)
{
	const char *one[] = { "7" }, *two[] = { "7", "8" };
	const char *call = "SELECT * FROM pg_temp.itest_prepared($1::int)";
	PGconn *c;
	PGresult *r;

	(void)state;
	c = pg_connect(conninfo());
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	expect_row(pg_exec_prepared(c, "SELECT $1::int + 1", 1, one), "8");
	expect_row(pg_exec_prepared(c, "SELECT $1::int + 1", 1, one), "8");
	assert_int_equal(prepared_count(c), 1);
	expect_row(pg_exec_prepared(c, "SELECT $1::int * $2::int", 2, two), "56");
	assert_int_equal(prepared_count(c), 2);

	/* A function made anew with another result type. */
	assert_true(pg_exec_ok(c,
	    "CREATE FUNCTION pg_temp.itest_prepared(x int, OUT a int)"
	    " LANGUAGE sql AS 'SELECT x'"));
	expect_row(pg_exec_prepared(c, call, 1, one), "7");
	assert_true(pg_exec_ok(c, "DROP FUNCTION pg_temp.itest_prepared(int)"));
	assert_true(pg_exec_ok(c,
	    "CREATE FUNCTION pg_temp.itest_prepared(x int, OUT a text,"
	    " OUT b int) LANGUAGE sql AS 'SELECT ''t'' || x, x'"));
	r = pg_exec_prepared(c, call, 1, one);
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "0A000");
	PQclear(r);
	expect_row(pg_exec_prepared(c, call, 1, one), "t7");

	/* In an aborted transaction: an error, and nothing cached for it. */
	assert_true(pg_exec_ok(c, "BEGIN"));
	assert_false(pg_exec_ok(c, "SELECT 1/0"));
	r = pg_exec_prepared(c, "SELECT $1::int - 1", 1, one);
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	PQclear(r);
	assert_true(pg_exec_ok(c, "ROLLBACK"));
	expect_row(pg_exec_prepared(c, "SELECT $1::int - 1", 1, one), "6");

	/* A new session (PQreset) has nothing prepared: prepared again. */
	PQreset(c);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	assert_int_equal(prepared_count(c), 0);
	expect_row(pg_exec_prepared(c, "SELECT $1::int + 1", 1, one), "8");
	assert_int_equal(prepared_count(c), 1);
	PQfinish(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pg_connect),
		cmocka_unit_test(test_pg_link),
		cmocka_unit_test(test_bad_conninfo_says_why),
		cmocka_unit_test(test_prepared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
