#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "log.h"
#include "util.h"

#define REDIS_TIMEOUT_MS 2000
#define CLAIM_MARGIN_S 3600

/* Deletes the claim only if it is still ours (a failed intent write). */
static const char release_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

struct ledger {
	char host[256];
	int port;
	int db;
	char *conninfo;
	redisContext *redis;
	PGconn *pg;
};

static int
parse_redis_url(const char *url, struct ledger *l, char *err, size_t errlen)
{
	const char *p = url, *colon, *slash;
	long long port = 6379, db = 0;
	char num[16];

	if (strncmp(p, "redis://", 8) != 0)
		goto bad;
	p += 8;
	colon = strchr(p, ':');
	slash = strchr(p, '/');
	if (slash == NULL)
		slash = p + strlen(p);
	if (colon != NULL && colon < slash) {
		if ((size_t)(slash - colon - 1) >= sizeof(num))
			goto bad;
		memcpy(num, colon + 1, (size_t)(slash - colon - 1));
		num[slash - colon - 1] = '\0';
		if (parse_int(num, 1, 65535, &port) != 0)
			goto bad;
	} else {
		colon = slash;
	}
	if ((size_t)(colon - p) == 0 || (size_t)(colon - p) >= sizeof(l->host))
		goto bad;
	memcpy(l->host, p, (size_t)(colon - p));
	l->host[colon - p] = '\0';
	if (*slash == '/' && slash[1] != '\0' && parse_int(slash + 1, 0, 15, &db) != 0)
		goto bad;
	l->port = (int)port;
	l->db = (int)db;
	return 0;
bad:
	snprintf(err, errlen, "CONFIG_INVALID: WINGMAN_REDIS_URL must look like redis://HOST:PORT/DB");
	return -1;
}

struct ledger *
ledger_open(const char *redis_url, const char *conninfo, char *err, size_t errlen)
{
	struct ledger *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	if (parse_redis_url(redis_url, l, err, errlen) != 0 ||
	    (l->conninfo = strdup(conninfo)) == NULL) {
		ledger_close(l);
		return NULL;
	}
	return l;
}

void
ledger_close(struct ledger *l)
{
	if (l == NULL)
		return;
	if (l->redis != NULL)
		redisFree(l->redis);
	if (l->pg != NULL)
		PQfinish(l->pg);
	free(l->conninfo);
	free(l);
}

static redisContext *
redis(struct ledger *l)
{
	struct timeval tv = { REDIS_TIMEOUT_MS / 1000, (REDIS_TIMEOUT_MS % 1000) * 1000 };
	redisReply *r;

	if (l->redis != NULL && l->redis->err == 0)
		return l->redis;
	if (l->redis != NULL)
		redisFree(l->redis);
	l->redis = redisConnectWithTimeout(l->host, l->port, tv);
	if (l->redis == NULL || l->redis->err != 0) {
		log_warnx("event=redis_connect_failed error=\"%s\"", l->redis ? l->redis->errstr : "oom");
		goto fail;
	}
	redisSetTimeout(l->redis, tv);
	r = redisCommand(l->redis, "SELECT %d", l->db);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		freeReplyObject(r);
		goto fail;
	}
	freeReplyObject(r);
	return l->redis;
fail:
	if (l->redis != NULL)
		redisFree(l->redis);
	l->redis = NULL;
	return NULL;
}

static PGconn *
pg(struct ledger *l)
{
	if (l->pg != NULL && PQstatus(l->pg) == CONNECTION_OK)
		return l->pg;
	if (l->pg != NULL)
		PQfinish(l->pg);
	l->pg = PQconnectdb(l->conninfo);
	if (PQstatus(l->pg) != CONNECTION_OK) {
		log_warnx("event=pg_connect_failed error=\"%s\"", PQerrorMessage(l->pg));
		PQfinish(l->pg);
		l->pg = NULL;
	}
	return l->pg;
}

/* 1: a row exists (*state, *result set), 0: none, -1: PostgreSQL down. */
static int
find_row(struct ledger *l, const char *jti, int *done, json_t **result)
{
	const char *p[] = { jti };
	PGconn *c = pg(l);
	PGresult *r;
	int rc;

	if (c == NULL)
		return -1;
	r = PQexecParams(c, "SELECT state, result FROM executions WHERE jti = $1", 1, NULL, p,
	    NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_warnx("event=pg_query_failed error=\"%s\"", PQerrorMessage(c));
		PQclear(r);
		return -1;
	}
	rc = PQntuples(r) == 1;
	if (rc) {
		*done = strcmp(PQgetvalue(r, 0, 0), "done") == 0;
		*result = *done ? json_loads(PQgetvalue(r, 0, 1), 0, NULL) : NULL;
	}
	PQclear(r);
	return rc;
}

static void
release_claim(struct ledger *l, const char *key, const char *owner)
{
	redisContext *rc = redis(l);
	redisReply *r;

	if (rc == NULL)
		return;
	r = redisCommand(rc, "EVAL %s 1 %s %s", release_script, key, owner);
	freeReplyObject(r);
}

enum ledger_claim
ledger_claim(struct ledger *l, const char *jti, const char *request_id, size_t index,
    const char *cmd, int64_t exp, json_t **stored, char *err, size_t errlen)
{
	char key[96], owner[37], idx[16];
	long long ttl = exp - now_unix() + CLAIM_MARGIN_S;
	redisContext *rc;
	redisReply *r;
	PGresult *res;
	int done = 0, found, claimed;

	*stored = NULL;
	/* 1. The durable record first: it survives a Redis that forgot. */
	if ((found = find_row(l, jti, &done, stored)) < 0) {
		snprintf(err, errlen, "LEDGER_UNAVAILABLE: PostgreSQL is unreachable");
		return LEDGER_UNAVAILABLE;
	}
	if (found)
		return done && *stored != NULL ? LEDGER_DONE : LEDGER_INTERRUPTED;
	/* 2. The atomic claim. */
	if (snprintf(key, sizeof(key), "wingman:jti:%s", jti) >= (int)sizeof(key) ||
	    uuid_v4(owner) != 0) {
		snprintf(err, errlen, "LEDGER_UNAVAILABLE: bad token id");
		return LEDGER_UNAVAILABLE;
	}
	if ((rc = redis(l)) == NULL) {
		snprintf(err, errlen, "LEDGER_UNAVAILABLE: Redis is unreachable");
		return LEDGER_UNAVAILABLE;
	}
	r = redisCommand(rc, "SET %s %s NX EX %lld", key, owner, ttl > 60 ? ttl : 60);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "LEDGER_UNAVAILABLE: Redis refused the claim: %s",
		    r ? r->str : rc->errstr);
		freeReplyObject(r);
		return LEDGER_UNAVAILABLE;
	}
	claimed = r->type == REDIS_REPLY_STATUS;
	freeReplyObject(r);
	if (!claimed) {
		snprintf(err, errlen, "TOKEN_REPLAYED: token %s was already used", jti);
		return LEDGER_REPLAYED;
	}
	/* 3. The intent row, committed before the Docker call. */
	snprintf(idx, sizeof(idx), "%zu", index);
	{
		const char *p[] = { jti, request_id, idx, cmd };
		PGconn *c = pg(l);
		res = c ? PQexecParams(c,
		    "INSERT INTO executions (jti, request_id, cmd_index, cmd, state)"
		    " VALUES ($1, $2, $3, $4, 'running') ON CONFLICT (jti) DO NOTHING",
		    4, NULL, p, NULL, NULL, 0) : NULL;
	}
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
		PQclear(res);
		release_claim(l, key, owner);
		snprintf(err, errlen, "LEDGER_UNAVAILABLE: cannot write the intent row");
		return LEDGER_UNAVAILABLE;
	}
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		/* Another executor wrote it between our look and our claim. */
		PQclear(res);
		snprintf(err, errlen, "TOKEN_REPLAYED: token %s is being used elsewhere", jti);
		return LEDGER_REPLAYED;
	}
	PQclear(res);
	return LEDGER_CLAIMED;
}

int
ledger_finish(struct ledger *l, const char *jti, const json_t *result, char *err, size_t errlen)
{
	char *text = json_dumps(result, JSON_COMPACT);
	const char *p[] = { jti, text };
	PGconn *c = pg(l);
	PGresult *r;
	int rc = -1;

	if (text == NULL || c == NULL) {
		snprintf(err, errlen, "LEDGER_UNAVAILABLE: cannot store the result");
		free(text);
		return -1;
	}
	r = PQexecParams(c, "UPDATE executions SET state = 'done', result = $2, finished_at = now()"
	    " WHERE jti = $1", 2, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_COMMAND_OK)
		rc = 0;
	else
		snprintf(err, errlen, "LEDGER_UNAVAILABLE: %s", PQerrorMessage(c));
	PQclear(r);
	free(text);
	return rc;
}
