#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "audit.h"
#include "log.h"
#include "pg.h"
#include "redisurl.h"
#include "util.h"

#define REDIS_TIMEOUT_MS 2000
/* Fences sent ahead of their replies: more than this and the oldest are read first. */
#define FENCES_MAX 16
#define CLAIM_MARGIN_S 3600

/*
 * A claim's value says how far it got: "pending:<owner>" from the SET until
 * the intent row is committed, "fenced:<owner>" after. The claim script
 * takes a free key, or a pending one whose claimant never wrote its intent
 * row (the caller holds the token lock and found no row): 1 taken, 2 taken
 * over from a stale claim, 0 refused (fenced, or a value of an older build).
 */
static const char claim_script[] = "local v = redis.call('GET', KEYS[1]) "
                                   "if v and string.sub(v, 1, 8) ~= 'pending:' then return 0 end "
                                   "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) "
                                   "if v then return 2 end return 1";
/* Rewrites the claim only if it is still ours: ARGV[2] empty deletes it. */
static const char update_script[] = "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
                                    "if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end "
                                    "redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1";

static const char *const verdict_names[] = {
	[VERDICT_EXECUTED] = "executed",
	[VERDICT_REJECTED] = "rejected",
	[VERDICT_FROZEN] = "frozen",
	[VERDICT_FAILED] = "failed",
	[VERDICT_INTERRUPTED] = "interrupted",
	[VERDICT_SHADOW] = "shadow",
};

const char *
exec_verdict_name(enum exec_verdict v)
{
	return (size_t)v < sizeof(verdict_names) / sizeof(verdict_names[0]) ? verdict_names[v]
	                                                                    : "failed";
}

/*
 * The verdict column of a finished row. sql/008_verdicts.sql gives every
 * finished row one; should one still lack it, nobody can say what the
 * command did, which is what `interrupted` means.
 */
static enum exec_verdict
verdict_of(const char *name)
{
	for (size_t i = 0; i < sizeof(verdict_names) / sizeof(verdict_names[0]); i++)
		if (strcmp(name, verdict_names[i]) == 0)
			return (enum exec_verdict)i;
	log_warnx("event=ledger_bad_verdict verdict=\"%.32s\"", name);
	return VERDICT_INTERRUPTED;
}

struct ledger {
	struct redis_url url; /* holds the Redis password: wiped on close */
	char *conninfo;
	redisContext *redis;
	/*
	 * The scripts' SHA1s from SCRIPT LOAD on this connection ("" when it
	 * refused: EVAL then), so a call sends 40 bytes, not the script.
	 */
	char claim_sha[41], update_sha[41];
	/* Fences sent and not yet answered, oldest first (redis_drain). */
	struct fence {
		char key[96], from[48], to[48], jti[80];
		long long ttl;
	} fences[FENCES_MAX];
	size_t nfences;
	PGconn *pg;
};

static void redis_drain(struct ledger *l);

struct ledger *
ledger_open(const char *redis_url, const char *conninfo, char *err, size_t errlen)
{
	struct ledger *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	if (redis_url_parse(redis_url, &l->url, err, errlen) != 0 ||
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
	if (l->nfences > 0)
		redis_drain(l); /* a fence that did not take is logged */
	if (l->redis != NULL)
		redisFree(l->redis);
	if (l->pg != NULL)
		PQfinish(l->pg);
	redis_url_wipe(&l->url);
	free(l->conninfo);
	free(l);
}

/* SCRIPT LOAD: sha gets the script's SHA1, or "" when Redis refuses (EVAL is used then). */
static void
script_load(redisContext *c, const char *script, char sha[41])
{
	redisReply *r = redisCommand(c, "SCRIPT LOAD %s", script);

	sha[0] = '\0';
	if (r != NULL && r->type == REDIS_REPLY_STRING && r->len == 40)
		memcpy(sha, r->str, 41);
	freeReplyObject(r);
}

/* NOSCRIPT: Redis lost its script cache (SCRIPT FLUSH, a restart behind a proxy). */
static int
is_noscript(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

/*
 * Runs a script with one key, by SHA1 when loaded, else (or when Redis
 * answers NOSCRIPT) by its text. NULL when the connection failed.
 */
static redisReply *
run_script(redisContext *c, const char *script, char sha[41], const char *key, const char *a1,
    const char *a2, long long ttl, int three_args)
{
	redisReply *r = NULL;

	if (sha[0] != '\0') {
		r = three_args
		    ? redisCommand(c, "EVALSHA %s 1 %s %s %s %lld", sha, key, a1, a2, ttl)
		    : redisCommand(c, "EVALSHA %s 1 %s %s %lld", sha, key, a1, ttl);
		if (!is_noscript(r))
			return r;
		freeReplyObject(r);
		sha[0] = '\0';
	}
	return three_args ? redisCommand(c, "EVAL %s 1 %s %s %s %lld", script, key, a1, a2, ttl)
	                  : redisCommand(c, "EVAL %s 1 %s %s %lld", script, key, a1, ttl);
}

/*
 * Reads the replies of the fences sent ahead (fence_send). A fence that
 * did not take is logged as before (it is best effort: the intent row is
 * the fence that counts); one refused for NOSCRIPT is sent again by text.
 */
static void
redis_drain(struct ledger *l)
{
	redisContext *c = l->redis;

	for (size_t i = 0; i < l->nfences; i++) {
		struct fence *f = &l->fences[i];
		void *reply = NULL;
		redisReply *r;

		if (c == NULL || c->err != 0 || redisGetReply(c, &reply) != REDIS_OK) {
			log_warnx("event=claim_not_fenced jti=%s error=\"%s\"", f->jti,
			    c ? c->errstr : "no connection");
			continue;
		}
		r = reply;
		if (is_noscript(r)) {
			freeReplyObject(r);
			l->update_sha[0] = '\0';
			r = run_script(c, update_script, l->update_sha, f->key, f->from, f->to,
			    f->ttl, 1);
		}
		if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != 1)
			log_warnx("event=claim_not_fenced jti=%s", f->jti);
		freeReplyObject(r);
	}
	l->nfences = 0;
}

static redisContext *
redis(struct ledger *l)
{
	struct timeval tv = { REDIS_TIMEOUT_MS / 1000, (REDIS_TIMEOUT_MS % 1000) * 1000 };
	redisReply *r;

	if (l->nfences > 0)
		redis_drain(l);
	if (l->redis != NULL && l->redis->err == 0)
		return l->redis;
	l->nfences = 0;
	if (l->redis != NULL)
		redisFree(l->redis);
	l->redis = redisConnectWithTimeout(l->url.host, l->url.port, tv);
	if (l->redis == NULL || l->redis->err != 0) {
		log_warnx("event=redis_connect_failed error=\"%s\"",
		    l->redis ? l->redis->errstr : "oom");
		goto fail;
	}
	redisSetTimeout(l->redis, tv);
	/* The reply may not name the password; log only that AUTH failed. */
	if (l->url.password[0] != '\0') {
		r = l->url.user[0] != '\0'
		    ? redisCommand(l->redis, "AUTH %s %s", l->url.user, l->url.password)
		    : redisCommand(l->redis, "AUTH %s", l->url.password);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			log_warnx("event=redis_auth_failed");
			freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	}
	r = redisCommand(l->redis, "SELECT %d", l->url.db);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		freeReplyObject(r);
		goto fail;
	}
	freeReplyObject(r);
	l->nfences = 0;
	script_load(l->redis, claim_script, l->claim_sha);
	script_load(l->redis, update_script, l->update_sha);
	return l->redis;
fail:
	if (l->redis != NULL)
		redisFree(l->redis);
	l->redis = NULL;
	return NULL;
}

/* Server notices (an unlock after a reconnect, say) as one log line, not raw stderr. */
static void
pg_notice(void *arg, const char *message)
{
	(void)arg;
	log_debug("event=pg_notice message=\"%.200s\"", message);
}

static PGconn *
pg(struct ledger *l)
{
	if (l->pg != NULL && PQstatus(l->pg) == CONNECTION_OK)
		return l->pg;
	if (l->pg != NULL)
		PQfinish(l->pg);
	l->pg = pg_connect(l->conninfo);
	if (PQstatus(l->pg) != CONNECTION_OK) {
		log_warnx("event=pg_connect_failed error=\"%s\"", PQerrorMessage(l->pg));
		PQfinish(l->pg);
		l->pg = NULL;
		return NULL;
	}
	PQsetNoticeProcessor(l->pg, pg_notice, NULL);
	return l->pg;
}

/*
 * Advisory locks in the two-key space, whose first key is ours alone, so
 * they never meet the audit chain's single-key lock. A hash collision
 * between two live tokens costs a retry, nothing more.
 */
#define LOCK_CLASS "727167"

static int
token_lock(PGconn *c, const char *jti, int *got)
{
	const char *p[] = { jti };
	PGresult *r;
	int rc = -1;

	r = PQexecParams(c, "SELECT pg_try_advisory_lock(" LOCK_CLASS ", hashtext($1))", 1, NULL, p,
	    NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		*got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
		rc = 0;
	} else {
		log_warnx("event=pg_query_failed error=\"%s\"", PQerrorMessage(c));
	}
	PQclear(r);
	return rc;
}

/* Best effort: a dead connection has released the lock already. */
static void
token_unlock(PGconn *c, const char *jti)
{
	const char *p[] = { jti };

	if (c != NULL)
		PQclear(PQexecParams(c, "SELECT pg_advisory_unlock(" LOCK_CLASS ", hashtext($1))",
		    1, NULL, p, NULL, NULL, 0));
}

/*
 * 1: a row exists (*finished, *result, *verdict set), 0: none, -1:
 * PostgreSQL down. The row of a token (request_id NULL), or of a request's
 * command.
 */
static int
find_row_of(PGconn *c, const char *jti, const char *request_id, size_t index, int *finished,
    json_t **result, enum exec_verdict *verdict)
{
	char idx[16];
	const char *p[] = { request_id ? request_id : jti, idx };
	PGresult *r;
	int rc;

	snprintf(idx, sizeof(idx), "%zu", index);
	r = PQexecParams(c,
	    request_id
	        ? "SELECT state, result, verdict FROM executions WHERE request_id = $1 AND cmd_index = $2::int"
	        : "SELECT state, result, verdict FROM executions WHERE jti = $1",
	    request_id ? 2 : 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_warnx("event=pg_query_failed error=\"%s\"", PQerrorMessage(c));
		PQclear(r);
		return -1;
	}
	rc = PQntuples(r) == 1;
	if (rc) {
		*finished = strcmp(PQgetvalue(r, 0, 0), "running") != 0;
		*result = *finished && !PQgetisnull(r, 0, 1)
		    ? json_loads(PQgetvalue(r, 0, 1), 0, NULL)
		    : NULL;
		if (*finished)
			*verdict = verdict_of(PQgetvalue(r, 0, 2));
	}
	PQclear(r);
	return rc;
}

static int
find_row(PGconn *c, const char *jti, int *finished, json_t **result, enum exec_verdict *verdict)
{
	return find_row_of(c, jti, NULL, 0, finished, result, verdict);
}

int
ledger_ping_redis(struct ledger *l, char *err, size_t errlen)
{
	redisContext *c = redis(l);
	redisReply *r;
	int rc = -1;

	if (c == NULL) {
		snprintf(err, errlen, "redis: unreachable");
		return -1;
	}
	r = redisCommand(c, "PING");
	if (r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0)
		rc = 0;
	else
		snprintf(err, errlen, "redis: PING failed: %s",
		    r == NULL                          ? c->errstr
		        : r->type == REDIS_REPLY_ERROR ? "an error reply"
		                                       : "no PONG");
	freeReplyObject(r);
	return rc;
}
int
ledger_lookup(struct ledger *l, const char *jti, json_t **stored, enum exec_verdict *verdict)
{
	PGconn *c = pg(l);
	int finished = 0, found;

	*stored = NULL;
	if (c == NULL || (found = find_row(c, jti, &finished, stored, verdict)) < 0)
		return -1;
	if (found && finished && *stored != NULL)
		return 1;
	json_decref(*stored);
	*stored = NULL;
	return 0;
}

/*
 * Moves our claim to value to (or deletes it when to is ""). Best effort:
 * returns 0 when done, -1 when Redis is away or the claim is not ours.
 */
static int
update_claim(struct ledger *l, const char *key, const char *from, const char *to, long long ttl)
{
	redisContext *rc = redis(l);
	redisReply *r;
	int ok;

	if (rc == NULL)
		return -1;
	r = run_script(rc, update_script, l->update_sha, key, from, to, ttl, 1);
	ok = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
	freeReplyObject(r);
	return ok ? 0 : -1;
}

/*
 * Fences our claim (pending -> fenced) without waiting for the reply: the
 * command is written to Redis now, before anything runs, and Redis applies
 * it in order on this connection; its reply is read by the next use of the
 * connection (redis_drain), so a command costs one round trip to Redis, the
 * claim's, not two. Returns -1 when it could not be written.
 */
static int
fence_send(struct ledger *l, const char *key, const char *from, const char *to, long long ttl,
    const char *jti)
{
	redisContext *rc = redis(l);
	struct fence *f;
	int done = 0, ok;

	if (rc == NULL)
		return -1;
	if (l->update_sha[0] == '\0')
		return update_claim(l, key, from, to, ttl); /* no SHA1: by text, and wait */
	if (l->nfences == FENCES_MAX)
		redis_drain(l);
	ok = redisAppendCommand(rc, "EVALSHA %s 1 %s %s %s %lld", l->update_sha, key, from, to,
	         ttl) == REDIS_OK;
	while (ok && !done)
		ok = redisBufferWrite(rc, &done) == REDIS_OK;
	if (!ok)
		return -1;
	f = &l->fences[l->nfences++];
	snprintf(f->key, sizeof(f->key), "%s", key);
	snprintf(f->from, sizeof(f->from), "%s", from);
	snprintf(f->to, sizeof(f->to), "%s", to);
	snprintf(f->jti, sizeof(f->jti), "%s", jti);
	f->ttl = ttl;
	return 0;
}

enum killswitch {
	KILLSWITCH_CLEAR,
	KILLSWITCH_FROZEN, /* the ledger is frozen: the token is voided */
	KILLSWITCH_REVOKED, /* the request is revoked: the token is voided */
	KILLSWITCH_UNREADABLE, /* fail closed */
};

/*
 * The kill switch, read inside the intent transaction. FOR SHARE on the
 * freeze row makes `wingman freeze` and `wingman revoke` (which lock it for
 * update) wait for this transaction, and this one wait for theirs: once
 * they have committed, every later intent sees them. why gets the reason
 * of a freeze or a revocation.
 */
static enum killswitch
read_killswitch(PGconn *c, const char *request_id, char *why, size_t whylen)
{
	const char *p[] = { request_id };
	enum killswitch ks = KILLSWITCH_CLEAR;
	PGresult *r;

	why[0] = '\0';
	r = PQexec(c, "SELECT frozen, reason FROM freeze_state WHERE id FOR SHARE");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		log_warnx("event=killswitch_unreadable error=\"%s\"",
		    PQresultStatus(r) == PGRES_TUPLES_OK ? "freeze row missing" : PQerrorMessage(c));
		PQclear(r);
		return KILLSWITCH_UNREADABLE;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
		snprintf(why, whylen, "FROZEN: %s", PQgetvalue(r, 0, 1));
		ks = KILLSWITCH_FROZEN;
	}
	PQclear(r);
	if (ks != KILLSWITCH_CLEAR)
		return ks;
	r = PQexecParams(c, "SELECT reason FROM revocations WHERE request_id = $1", 1, NULL, p,
	    NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_warnx("event=killswitch_unreadable error=\"%s\"", PQerrorMessage(c));
		PQclear(r);
		return KILLSWITCH_UNREADABLE;
	}
	if (PQntuples(r) == 1) {
		snprintf(why, whylen, "TOKEN_REVOKED: request %s was revoked: %s", request_id,
		    PQgetvalue(r, 0, 0));
		ks = KILLSWITCH_REVOKED;
	}
	PQclear(r);
	return ks;
}

/* Same shape as the executor's command results, so a void row reads like one. */
static json_t *
refusal_result(const char *cmd, const char *why)
{
	return json_pack("{s:s, s:s, s:i, s:s}", "cmd", cmd, "status", "refused", "exit_code", -1,
	    "output", why);
}

enum intent_rc {
	INTENT_WRITTEN,
	INTENT_VOID,
	INTENT_TAKEN, /* this jti has a row */
	INTENT_COMMAND_TAKEN, /* another jti has this command of the request */
	INTENT_FAILED,
};

/*
 * One transaction: kill switch, then the intent row ('running' or 'void').
 * A void row's result is *voided, its verdict *verdict.
 */
static enum intent_rc
write_intent(PGconn *c, struct audit *audit, const char *jti, const char *request_id, size_t index,
    const char *cmd, json_t **voided, enum exec_verdict *verdict, char *why, size_t whylen)
{
	char idx[16], *text = NULL;
	PGresult *r = NULL;
	enum intent_rc rc = INTENT_FAILED;
	enum killswitch ks = KILLSWITCH_CLEAR;

	*voided = NULL;
	why[0] = '\0';
	snprintf(idx, sizeof(idx), "%zu", index);
	if (!pg_exec_ok(c, "BEGIN"))
		goto fail;
	if ((ks = read_killswitch(c, request_id, why, whylen)) == KILLSWITCH_UNREADABLE) {
		snprintf(why, whylen,
		    "KILLSWITCH_UNAVAILABLE: cannot read the freeze and revocation state");
		goto fail;
	}
	if (ks != KILLSWITCH_CLEAR) {
		*verdict = ks == KILLSWITCH_FROZEN ? VERDICT_FROZEN : VERDICT_REJECTED;
		if ((*voided = refusal_result(cmd, why)) == NULL ||
		    (text = json_dumps(*voided, JSON_COMPACT)) == NULL)
			goto fail;
	}
	{
		const char *p[] = { jti, request_id, idx, cmd, text ? "void" : "running", text,
			text ? exec_verdict_name(*verdict) : NULL };
		r = PQexecParams(c,
		    "INSERT INTO executions (jti, request_id, cmd_index, cmd, state, result, verdict,"
		    " finished_at)"
		    " VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $5 = 'void' THEN now() END)"
		    " ON CONFLICT DO NOTHING",
		    7, NULL, p, NULL, NULL, 0);
	}
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		goto fail;
	rc = strcmp(PQcmdTuples(r), "1") != 0 ? INTENT_TAKEN : text ? INTENT_VOID : INTENT_WRITTEN;
	PQclear(r);
	r = NULL;
	if (rc == INTENT_TAKEN) {
		/*
		 * Not ours: this jti's row (only possible without the token lock),
		 * or one command of a request run by another token
		 * (sql/007_one_run_per_command.sql).
		 */
		const char *p[] = { jti };
		r = PQexecParams(c, "SELECT 1 FROM executions WHERE jti = $1", 1, NULL, p, NULL,
		    NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			goto fail;
		if (PQntuples(r) == 0)
			rc = INTENT_COMMAND_TAKEN;
		PQclear(r);
		r = NULL;
	}
	/* The intent's audit row commits with the intent row, or neither does. */
	if ((rc == INTENT_WRITTEN || rc == INTENT_VOID) && audit != NULL &&
	    audit_flush_within(audit, c) != 0) {
		snprintf(why, whylen, "AUDIT_UNAVAILABLE: cannot record the intent");
		goto fail;
	}
	if (!pg_exec_ok(c, "COMMIT"))
		goto fail;
	free(text);
	return rc;
fail:
	PQclear(r);
	pg_exec_ok(c, "ROLLBACK");
	free(text);
	json_decref(*voided);
	*voided = NULL;
	if (ks != KILLSWITCH_UNREADABLE && strncmp(why, "AUDIT_", 6) != 0)
		snprintf(why, whylen, "LEDGER_UNAVAILABLE: cannot write the intent row");
	return INTENT_FAILED;
}

enum ledger_claim
ledger_claim(struct ledger *l, struct audit *audit, const char *jti, const char *request_id,
    size_t index, const char *cmd, int64_t exp, json_t **stored, enum exec_verdict *verdict,
    char *err, size_t errlen)
{
	char key[96], owner[37], pending[48], fenced[48];
	long long ttl = exp - now_unix() + CLAIM_MARGIN_S;
	redisContext *rc;
	redisReply *r;
	PGconn *c;
	enum ledger_claim out;
	long long claimed;
	int finished = 0, found, locked = 0;

	*stored = NULL;
	err[0] = '\0';
	if (ttl < 60)
		ttl = 60;
	if ((c = pg(l)) == NULL || token_lock(c, jti, &locked) != 0) {
		snprintf(err, errlen, "LEDGER_UNAVAILABLE: PostgreSQL is unreachable");
		return LEDGER_UNAVAILABLE;
	}
	if (!locked) {
		snprintf(err, errlen, "LEDGER_BUSY: token %s is being handled by another executor",
		    jti);
		return LEDGER_BUSY;
	}
	/* 1. The durable record first: it survives a Redis that forgot. */
	if ((found = find_row(c, jti, &finished, stored, verdict)) < 0) {
		snprintf(err, errlen, "LEDGER_UNAVAILABLE: PostgreSQL is unreachable");
		out = LEDGER_UNAVAILABLE;
		goto unlock;
	}
	if (found) {
		/* Nobody else holds the lock, so a 'running' row is a crash, not a peer. */
		out = finished && *stored != NULL ? LEDGER_DONE : LEDGER_INTERRUPTED;
		goto unlock;
	}
	/* 2. The atomic claim. */
	if (snprintf(key, sizeof(key), "wingman:jti:%s", jti) >= (int)sizeof(key) ||
	    uuid_v4(owner) != 0) {
		snprintf(err, errlen, "LEDGER_UNAVAILABLE: bad token id");
		out = LEDGER_UNAVAILABLE;
		goto unlock;
	}
	snprintf(pending, sizeof(pending), "pending:%s", owner);
	snprintf(fenced, sizeof(fenced), "fenced:%s", owner);
	if ((rc = redis(l)) == NULL) {
		snprintf(err, errlen, "LEDGER_UNAVAILABLE: Redis is unreachable");
		out = LEDGER_UNAVAILABLE;
		goto unlock;
	}
	r = run_script(rc, claim_script, l->claim_sha, key, pending, NULL, ttl, 0);
	if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
		snprintf(err, errlen, "LEDGER_UNAVAILABLE: Redis refused the claim: %s",
		    r ? (r->str ? r->str : "unexpected reply") : rc->errstr);
		freeReplyObject(r);
		out = LEDGER_UNAVAILABLE;
		goto unlock;
	}
	claimed = r->integer;
	freeReplyObject(r);
	if (claimed == 0) {
		snprintf(err, errlen, "TOKEN_REPLAYED: token %s was already used", jti);
		out = LEDGER_REPLAYED;
		goto unlock;
	}
	/*
	 * A pending claim with no row: its claimant stopped before the intent
	 * row, so nothing ran, and with the token lock ours nobody is between
	 * the two now. The row, not the key, decides whether it may run.
	 */
	if (claimed == 2)
		log_warnx("event=stale_claim_taken_over jti=%s request_id=%s", jti, request_id);
	/* 3. Kill switch and intent row, committed before the Docker call. */
	switch (write_intent(c, audit, jti, request_id, index, cmd, stored, verdict, err, errlen)) {
	case INTENT_WRITTEN:
		/*
		 * Fenced: should the row ever vanish, the key still refuses a
		 * replay. Best effort, as the row is the fence that counts.
		 */
		if (fence_send(l, key, pending, fenced, ttl, jti) != 0)
			log_warnx("event=claim_not_fenced jti=%s request_id=%s", jti, request_id);
		/* The lock stays held until ledger_finish. */
		return LEDGER_CLAIMED;
	case INTENT_VOID:
		(void)fence_send(l, key, pending, fenced, ttl, jti);
		out = LEDGER_VOID;
		break;
	case INTENT_TAKEN:
		json_decref(*stored);
		*stored = NULL;
		snprintf(err, errlen, "TOKEN_REPLAYED: token %s is being used elsewhere", jti);
		out = LEDGER_REPLAYED;
		break;
	case INTENT_COMMAND_TAKEN:
		/*
		 * A new token for a command that already had one: it never runs a
		 * second time. What the first one did answers, as for a replay, so
		 * the request keeps one outcome.
		 */
		json_decref(*stored);
		*stored = NULL;
		log_warnx("event=second_token request_id=%s index=%zu jti=%s", request_id, index,
		    jti);
		if (find_row_of(c, jti, request_id, index, &finished, stored, verdict) == 1 &&
		    finished && *stored != NULL) {
			out = LEDGER_DONE;
			break;
		}
		json_decref(*stored);
		*stored = NULL;
		snprintf(err, errlen,
		    "REQUEST_ALREADY_RUN: command %zu of request %s already had "
		    "another token",
		    index + 1, request_id);
		out = LEDGER_REPLAYED;
		break;
	case INTENT_FAILED:
	default:
		/* Nothing was written: give the claim back so a retry can take it. */
		(void)update_claim(l, key, pending, "", ttl);
		out = LEDGER_UNAVAILABLE;
		break;
	}
unlock:
	token_unlock(c, jti);
	return out;
}

int
ledger_finish(struct ledger *l, struct audit *audit, const char *jti, const json_t *result,
    enum exec_verdict verdict, char *err, size_t errlen)
{
	char *text = json_dumps(result, JSON_COMPACT);
	const char *p[] = { jti, text, exec_verdict_name(verdict) };
	PGconn *c = pg(l);
	PGresult *r = NULL;
	int rc = -1;

	if (text == NULL || c == NULL) {
		snprintf(err, errlen, "LEDGER_UNAVAILABLE: cannot store the result");
		free(text);
		return -1;
	}
	if (!pg_exec_ok(c, "BEGIN"))
		goto done;
	r = PQexecParams(c,
	    "UPDATE executions SET state = 'done', result = $2, verdict = $3,"
	    " finished_at = now() WHERE jti = $1 AND state = 'running'",
	    3, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		goto done;
	/*
	 * The audit rows go in the same transaction. Should they fail, the
	 * result is still stored (what ran must not read as interrupted): the
	 * rows are rolled back alone, and the batch fails, so they are redone.
	 */
	if (audit != NULL && pg_exec_ok(c, "SAVEPOINT audit_rows") &&
	    audit_flush_within(audit, c) != 0)
		pg_exec_ok(c, "ROLLBACK TO SAVEPOINT audit_rows");
	if (pg_exec_ok(c, "COMMIT"))
		rc = 0;
done:
	if (rc != 0) {
		snprintf(err, errlen, "LEDGER_UNAVAILABLE: %s", PQerrorMessage(c));
		pg_exec_ok(c, "ROLLBACK");
	}
	PQclear(r);
	token_unlock(c, jti);
	free(text);
	return rc;
}
