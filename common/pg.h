/*
 * A PostgreSQL connection that reconnects lazily, so a database restart is
 * a retry for the caller (TEMPFAIL), never a crash.
 */
#ifndef WINGMAN_PG_H
#define WINGMAN_PG_H

#include <libpq-fe.h>

/*
 * Every connection is bounded: a database that does not answer, or a
 * statement stuck behind a lock, becomes an error the caller retries,
 * never a daemon that hangs. A conninfo that sets connect_timeout, or a
 * statement_timeout in options, keeps its own (so do PGCONNECT_TIMEOUT
 * and PGOPTIONS).
 */
#define PG_CONNECT_TIMEOUT_S "5"
#define PG_STATEMENT_TIMEOUT_MS "15000"

/* conninfo (keyword=value or URI) as keyword/value arrays, bounds added. */
struct pg_params {
	PQconninfoOption *parsed;
	const char **keys; /* NULL-terminated, borrowed from parsed or static */
	const char **vals;
	char *options; /* the merged options value */
};

/*
 * Pure: env_options and env_timeout stand for PGOPTIONS and
 * PGCONNECT_TIMEOUT (may be NULL). Returns 0, or -1 when conninfo does not
 * parse or memory runs out. Free with pg_params_free either way.
 */
int pg_params_build(struct pg_params *p, const char *conninfo, const char *env_options,
    const char *env_timeout);
void pg_params_free(struct pg_params *p);
/* 1 when one statement without parameters (BEGIN, COMMIT, ...) succeeded. */
int pg_exec_ok(PGconn *c, const char *sql);
/* PQconnectdb with the bounds above: check PQstatus; PQfinish it always. */
PGconn *pg_connect(const char *conninfo);

/*
 * PQexecParams, but the statement is prepared once per connection and then
 * run by name, so PostgreSQL parses and plans it once rather than on every
 * call (bench/pgcost: about 40 µs a statement on the test machine). The
 * statements are told apart by their text; a connection keeps at most
 * PG_PREPARED_MAX of them, others run unprepared. A statement whose plan
 * went stale (its function was made anew with other columns) fails once, as
 * it would unprepared, and is prepared again on the next call. Returns what
 * PQexecParams would: a result to check and PQclear, NULL out of memory.
 */
#define PG_PREPARED_MAX 32
PGresult *pg_exec_prepared(PGconn *c, const char *sql, int n, const char *const *params);

struct pg_link {
	char *conninfo;
	PGconn *conn;
};

/* Copies conninfo; connects on first use. Returns 0, or -1 out of memory. */
int pg_link_init(struct pg_link *l, const char *conninfo);
/* Closes the connection and frees the copy. Accepts a zeroed link. */
void pg_link_close(struct pg_link *l);
/* The connection, (re)connected if needed; NULL (logged) when unreachable. */
PGconn *pg_link_conn(struct pg_link *l);
/*
 * Runs one parameterised statement. Returns the result (PQclear it), or NULL
 * when the database is unreachable or the statement failed (logged).
 */
PGresult *pg_link_query(struct pg_link *l, const char *sql, int n, const char *const *params);
/* Runs a statement without parameters; 0 on success. */
int pg_link_exec(struct pg_link *l, const char *sql);

#endif
