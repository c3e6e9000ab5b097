#include "pg.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

int
pg_link_init(struct pg_link *l, const char *conninfo)
{
	l->conn = NULL;
	l->conninfo = strdup(conninfo ? conninfo : "");
	return l->conninfo != NULL ? 0 : -1;
}

void
pg_link_close(struct pg_link *l)
{
	if (l == NULL)
		return;
	if (l->conn != NULL)
		PQfinish(l->conn);
	l->conn = NULL;
	free(l->conninfo);
	l->conninfo = NULL;
}

PGconn *
pg_link_conn(struct pg_link *l)
{
	if (l->conn != NULL && PQstatus(l->conn) == CONNECTION_OK)
		return l->conn;
	if (l->conn != NULL)
		PQfinish(l->conn);
	l->conn = PQconnectdb(l->conninfo);
	if (PQstatus(l->conn) != CONNECTION_OK) {
		log_warnx("event=pg_connect_failed error=\"%s\"", PQerrorMessage(l->conn));
		PQfinish(l->conn);
		l->conn = NULL;
	}
	return l->conn;
}

PGresult *
pg_link_query(struct pg_link *l, const char *sql, int n, const char *const *params)
{
	PGconn *c = pg_link_conn(l);
	PGresult *r;

	if (c == NULL)
		return NULL;
	r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_warnx("event=pg_query_failed error=\"%s\"", PQerrorMessage(c));
		PQclear(r);
		return NULL;
	}
	return r;
}

int
pg_link_exec(struct pg_link *l, const char *sql)
{
	PGresult *r = pg_link_query(l, sql, 0, NULL);

	PQclear(r);
	return r != NULL ? 0 : -1;
}
