/*
 * A PostgreSQL connection that reconnects lazily, so a database restart is
 * a retry for the caller (TEMPFAIL), never a crash.
 */
#ifndef WINGMAN_PG_H
#define WINGMAN_PG_H

#include <libpq-fe.h>

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
