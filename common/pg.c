#include "pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-events.h>

#include "log.h"

/* Whether an options value already sets statement_timeout. */
static int
sets_statement_timeout(const char *options)
{
	return options != NULL && strstr(options, "statement_timeout") != NULL;
}

int
pg_params_build(struct pg_params *p, const char *conninfo, const char *env_options,
    const char *env_timeout)
{
	static const char bound[] = "-c statement_timeout=" PG_STATEMENT_TIMEOUT_MS;
	const char *options = env_options, *timeout = env_timeout;
	PQconninfoOption *o;
	size_t n = 0, i = 0, len;
	char *err = NULL;

	memset(p, 0, sizeof(*p));
	if ((p->parsed = PQconninfoParse(conninfo ? conninfo : "", &err)) == NULL) {
		PQfreemem(err);
		return -1;
	}
	for (o = p->parsed; o->keyword != NULL; o++) {
		n++;
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "options") == 0)
			options = o->val;
		else if (strcmp(o->keyword, "connect_timeout") == 0)
			timeout = o->val;
	}
	/* Every parsed option, connect_timeout, options, the terminator. */
	if ((p->keys = calloc(n + 3, sizeof(*p->keys))) == NULL ||
	    (p->vals = calloc(n + 3, sizeof(*p->vals))) == NULL)
		return -1;
	for (o = p->parsed; o->keyword != NULL; o++) {
		if (o->val == NULL || strcmp(o->keyword, "options") == 0 ||
		    strcmp(o->keyword, "connect_timeout") == 0)
			continue;
		p->keys[i] = o->keyword;
		p->vals[i++] = o->val;
	}
	p->keys[i] = "connect_timeout";
	p->vals[i++] = timeout != NULL && *timeout != '\0' ? timeout : PG_CONNECT_TIMEOUT_S;
	if (sets_statement_timeout(options)) {
		p->options = strdup(options);
	} else if (options != NULL && *options != '\0') {
		len = strlen(options) + 1 + sizeof(bound);
		if ((p->options = malloc(len)) != NULL)
			snprintf(p->options, len, "%s %s", options, bound);
	} else {
		p->options = strdup(bound);
	}
	if (p->options == NULL)
		return -1;
	p->keys[i] = "options";
	p->vals[i++] = p->options;
	return 0;
}

void
pg_params_free(struct pg_params *p)
{
	if (p == NULL)
		return;
	PQconninfoFree(p->parsed);
	free(p->keys);
	free(p->vals);
	free(p->options);
	memset(p, 0, sizeof(*p));
}

PGconn *
pg_connect(const char *conninfo)
{
	struct pg_params p;
	PGconn *c;

	/* A conninfo that does not parse gets libpq's own error message. */
	if (pg_params_build(&p, conninfo, getenv("PGOPTIONS"), getenv("PGCONNECT_TIMEOUT")) != 0)
		c = p.parsed == NULL ? PQconnectdb(conninfo ? conninfo : "") : NULL;
	else
		c = PQconnectdbParams(p.keys, p.vals, 0);
	pg_params_free(&p);
	return c;
}

/* The statements prepared on one connection (its libpq instance data). */
struct pg_prepared {
	size_t n;
	unsigned long serial; /* names are never reused within a session */
	struct {
		char *sql;
		char name[32];
	} s[PG_PREPARED_MAX];
};

static void
prepared_forget(struct pg_prepared *p, size_t i)
{
	free(p->s[i].sql);
	p->s[i] = p->s[--p->n];
}

static void
prepared_clear(struct pg_prepared *p)
{
	while (p != NULL && p->n > 0)
		prepared_forget(p, p->n - 1);
}

/* libpq's events: the set lives and dies with its connection's session. */
static int
prepared_events(PGEventId id, void *info, void *pass)
{
	struct pg_prepared *p;

	(void)pass;
	switch (id) {
	case PGEVT_REGISTER:
		if ((p = calloc(1, sizeof(*p))) == NULL)
			return 0;
		return PQsetInstanceData(((PGEventRegister *)info)->conn, prepared_events, p);
	case PGEVT_CONNRESET:
		/* A new session: nothing is prepared in it. */
		prepared_clear(PQinstanceData(((PGEventConnReset *)info)->conn, prepared_events));
		return 1;
	case PGEVT_CONNDESTROY:
		p = PQinstanceData(((PGEventConnDestroy *)info)->conn, prepared_events);
		prepared_clear(p);
		free(p);
		return 1;
	default:
		return 1;
	}
}

PGresult *
pg_exec_prepared(PGconn *c, const char *sql, int n, const char *const *params)
{
	struct pg_prepared *p = PQinstanceData(c, prepared_events);
	const char *state;
	PGresult *r;
	size_t i;

	if (p == NULL && PQregisterEventProc(c, prepared_events, "wingman-prepared", NULL))
		p = PQinstanceData(c, prepared_events);
	if (p == NULL)
		return PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	for (i = 0; i < p->n && strcmp(p->s[i].sql, sql) != 0; i++)
		;
	if (i == p->n) {
		if (p->n == PG_PREPARED_MAX || (p->s[i].sql = strdup(sql)) == NULL)
			return PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
		snprintf(p->s[i].name, sizeof(p->s[i].name), "wingman_%lu", p->serial++);
		/* A failure (a dead connection, an aborted transaction) is the call's. */
		r = PQprepare(c, p->s[i].name, sql, n, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			free(p->s[i].sql);
			return r;
		}
		PQclear(r);
		p->n++;
	}
	r = PQexecPrepared(c, p->s[i].name, n, params, NULL, NULL, 0);
	/*
	 * 0A000: "cached plan must not change result type" (a function made
	 * anew); 26000: the name is gone. Prepared anew, under a new name,
	 * next time.
	 */
	state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (state != NULL && (strcmp(state, "0A000") == 0 || strcmp(state, "26000") == 0))
		prepared_forget(p, i);
	return r;
}

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
	l->conn = pg_connect(l->conninfo);
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
	/* BEGIN, COMMIT and the like cost little to parse: prepared are those with parameters. */
	r = n > 0 ? pg_exec_prepared(c, sql, n, params)
	          : PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
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

int
pg_exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	PQclear(r);
	return ok;
}
