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
	unsigned pg_gen; /* counts connections: a lock lives only as long as its own */
	/*
	 * The token whose lock ledger_lookup took and left held for
	 * ledger_claim, on connection held_gen; held_row: it found the token's
	 * row (unfinished: a crash mid-run).
	 */
	char held[128];
	unsigned held_gen;
	int held_row;
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
	l->pg_gen++;
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

/*
 * The token's lock and its row, in one statement (wingman_ledger_lock,
 * sql/010_round_trips.sql). 0 with *got and *found (*finished; *result and
 * *verdict when finished), the row read whether or not the lock is ours;
 * -1 when PostgreSQL is unreachable.
 */
static int
token_lock(PGconn *c, const char *jti, int *got, int *found, int *finished, json_t **result,
    enum exec_verdict *verdict)
{
	const char *p[] = { jti };
	PGresult *r;
	int rc = -1;

	*found = 0;
	*result = NULL;
	r = pg_exec_prepared(c,
	    "SELECT o_locked, o_state, o_result, o_verdict FROM wingman_ledger_lock($1)", 1, p);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		*got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
		if (!PQgetisnull(r, 0, 1)) {
			*found = 1;
			*finished = strcmp(PQgetvalue(r, 0, 1), "running") != 0;
			*result = *finished && !PQgetisnull(r, 0, 2)
			    ? json_loads(PQgetvalue(r, 0, 2), 0, NULL)
			    : NULL;
			if (*finished)
				*verdict = verdict_of(PQgetvalue(r, 0, 3));
		}
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
		PQclear(pg_exec_prepared(c,
		    "SELECT pg_advisory_unlock(" LOCK_CLASS ", hashtext($1))", 1, p));
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
	r = pg_exec_prepared(c,
	    request_id
	        ? "SELECT state, result, verdict FROM executions WHERE request_id = $1 AND cmd_index = $2::int"
	        : "SELECT state, result, verdict FROM executions WHERE jti = $1",
	    request_id ? 2 : 1, p);
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
/* The lock ledger_lookup left held, if it is jti's and still on this connection. */
static int
holds(struct ledger *l, const char *jti)
{
	return l->held[0] != '\0' && strcmp(l->held, jti) == 0 && l->held_gen == l->pg_gen &&
	    l->pg != NULL && PQstatus(l->pg) == CONNECTION_OK;
}

void
ledger_release(struct ledger *l, const char *jti)
{
	if (l->held[0] == '\0' || strcmp(l->held, jti) != 0)
		return;
	if (l->held_gen == l->pg_gen && l->pg != NULL && PQstatus(l->pg) == CONNECTION_OK)
		token_unlock(l->pg, jti);
	l->held[0] = '\0';
}

int
ledger_lookup(struct ledger *l, const char *jti, json_t **stored, enum exec_verdict *verdict)
{
	PGconn *c;
	int finished = 0, found = 0, locked = 0;

	*stored = NULL;
	if (l->held[0] != '\0')
		ledger_release(l, l->held);
	if ((c = pg(l)) == NULL ||
	    token_lock(c, jti, &locked, &found, &finished, stored, verdict) != 0)
		return -1;
	if (found && finished && *stored != NULL) {
		/* Final whoever holds the lock: answer from it. */
		if (locked)
			token_unlock(c, jti);
		return 1;
	}
	json_decref(*stored);
	*stored = NULL;
	if (!locked)
		return 2;
	if (snprintf(l->held, sizeof(l->held), "%s", jti) >= (int)sizeof(l->held)) {
		/* Not kept: ledger_claim takes the lock itself. */
		l->held[0] = '\0';
		token_unlock(c, jti);
		return 0;
	}
	l->held_gen = l->pg_gen;
	l->held_row = found;
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

enum intent_rc {
	INTENT_WRITTEN,
	INTENT_VOID,
	INTENT_TAKEN, /* this jti has a row */
	INTENT_COMMAND_TAKEN, /* another jti has this command of the request */
	INTENT_FAILED,
};

/*
 * One transaction, one function (wingman_ledger_intent): the kill switch,
 * then the intent row ('running', or 'void' holding the refusal of a
 * freeze or a revocation), with the audit rows queued on audit when the
 * row is ours: neither commits without the other. FOR SHARE on the freeze
 * row makes `wingman freeze` and `wingman revoke` (which lock it for
 * update) wait for this transaction, and this one wait for theirs: once
 * they have committed, every later intent sees them. A void row's result
 * is *voided, its verdict *verdict, the refusal's words why.
 */
static enum intent_rc
write_intent(PGconn *c, struct audit *audit, const char *jti, const char *request_id, size_t index,
    const char *cmd, json_t **voided, enum exec_verdict *verdict, char *why, size_t whylen)
{
	char idx[16];
	const char *p[4 + AUDIT_ARGS_N] = { jti, request_id, idx, cmd };
	struct audit_args args;
	enum audit_args_fate fate = AUDIT_ARGS_UNUSED;
	PGresult *r = NULL;
	enum intent_rc rc = INTENT_FAILED;
	const char *outcome;

	*voided = NULL;
	why[0] = '\0';
	snprintf(idx, sizeof(idx), "%zu", index);
	if (audit_args_take(audit, &args) != 0) {
		snprintf(why, whylen, "AUDIT_UNAVAILABLE: cannot record the intent");
		return INTENT_FAILED;
	}
	audit_args_params(&args, p + 4);
	if (!pg_exec_ok(c, "BEGIN"))
		goto fail;
	r = pg_exec_prepared(c,
	    "SELECT o_outcome, o_why, o_result, o_verdict, o_seqs, o_prev, o_hashes"
	    " FROM wingman_ledger_intent($1, $2, $3::int, $4, $5, $6, $7, $8, $9, $10)",
	    4 + AUDIT_ARGS_N, p);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

		log_warnx("event=pg_query_failed error=\"%s\"", PQerrorMessage(c));
		/* The audit rows' own refusal (the writer check) fails them, as a flush would. */
		if (msg != NULL && strncmp(msg, "AUDIT_", 6) == 0) {
			fate = AUDIT_ARGS_FAILED;
			snprintf(why, whylen, "AUDIT_UNAVAILABLE: cannot record the intent");
		}
		goto fail;
	}
	outcome = PQgetvalue(r, 0, 0);
	if (strcmp(outcome, "unreadable") == 0) {
		log_warnx("event=killswitch_unreadable error=\"%s\"", PQgetvalue(r, 0, 1));
		snprintf(why, whylen,
		    "KILLSWITCH_UNAVAILABLE: cannot read the freeze and revocation state");
		goto fail;
	}
	if (strcmp(outcome, "taken") == 0 || strcmp(outcome, "command_taken") == 0) {
		/*
		 * Not ours: this jti's row (only possible without the token lock),
		 * or one command of a request run by another token
		 * (sql/007_one_run_per_command.sql). The audit rows stay queued.
		 */
		rc = outcome[0] == 't' ? INTENT_TAKEN : INTENT_COMMAND_TAKEN;
	} else if (strcmp(outcome, "void") == 0) {
		snprintf(why, whylen, "%s", PQgetvalue(r, 0, 1));
		*verdict = verdict_of(PQgetvalue(r, 0, 3));
		if ((*voided = json_loads(PQgetvalue(r, 0, 2), 0, NULL)) == NULL)
			goto fail;
		rc = INTENT_VOID;
	} else if (strcmp(outcome, "written") == 0) {
		rc = INTENT_WRITTEN;
	} else {
		goto fail;
	}
	if (rc == INTENT_WRITTEN || rc == INTENT_VOID) {
		/* The JSONL copy is written before the commit: a failed copy rolls the intent back. */
		if (audit_args_done(audit, &args, AUDIT_ARGS_WRITTEN, PQgetvalue(r, 0, 4),
		        PQgetvalue(r, 0, 5), PQgetvalue(r, 0, 6)) != 0) {
			snprintf(why, whylen, "AUDIT_UNAVAILABLE: cannot record the intent");
			goto fail;
		}
	}
	PQclear(r);
	r = NULL;
	if (!pg_exec_ok(c, "COMMIT")) {
		rc = INTENT_FAILED;
		goto fail;
	}
	audit_args_done(audit, &args, AUDIT_ARGS_UNUSED, NULL, NULL, NULL);
	return rc;
fail:
	PQclear(r);
	pg_exec_ok(c, "ROLLBACK");
	audit_args_done(audit, &args, fate, NULL, NULL, NULL);
	json_decref(*voided);
	*voided = NULL;
	if (strncmp(why, "KILLSWITCH_", 11) != 0 && strncmp(why, "AUDIT_", 6) != 0)
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
	int finished = 0, found = 0, locked = 0;

	*stored = NULL;
	err[0] = '\0';
	if (ttl < 60)
		ttl = 60;
	/* 1. The lock, then the durable record: it survives a Redis that forgot. */
	if ((c = pg(l)) != NULL && holds(l, jti)) {
		/* ledger_lookup took both a moment ago, and nothing finished since. */
		locked = 1;
		found = l->held_row;
		l->held[0] = '\0';
	} else if (l->held[0] != '\0' && strcmp(l->held, jti) == 0) {
		l->held[0] = '\0'; /* its connection is gone, and the lock with it */
	}
	if (c == NULL ||
	    (!locked && token_lock(c, jti, &locked, &found, &finished, stored, verdict) != 0)) {
		snprintf(err, errlen, "LEDGER_UNAVAILABLE: PostgreSQL is unreachable");
		return LEDGER_UNAVAILABLE;
	}
	if (!locked) {
		json_decref(*stored);
		*stored = NULL;
		snprintf(err, errlen, "LEDGER_BUSY: token %s is being handled by another executor",
		    jti);
		return LEDGER_BUSY;
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

/*
 * The result on its intent row and the queued audit rows, one transaction,
 * one function (wingman_ledger_finish). Should the rows fail, the result is
 * still stored (what ran must not read as interrupted): the function rolls
 * them back alone, and the batch fails, so they are redone. A JSONL copy
 * that fails does the same: the transaction is redone without the rows.
 * Returns 0, or -1 when the result is not stored.
 */
static int
finish_once(PGconn *c, struct audit *audit, const char *p[3], int with_audit)
{
	const char *q[3 + AUDIT_ARGS_N] = { p[0], p[1], p[2] };
	struct audit_args args = { 0 };
	enum audit_args_fate fate = AUDIT_ARGS_UNUSED;
	PGresult *r = NULL;
	int rc = -1, copied = 1;

	if (with_audit && audit_args_take(audit, &args) != 0)
		with_audit = 0; /* out of memory: the rows stay queued for the batch's flush */
	audit_args_params(&args, q + 3);
	if (!pg_exec_ok(c, "BEGIN"))
		goto done;
	r = pg_exec_prepared(c,
	    "SELECT o_audit_error, o_seqs, o_prev, o_hashes"
	    " FROM wingman_ledger_finish($1, $2, $3, $4, $5, $6, $7, $8, $9)",
	    3 + AUDIT_ARGS_N, q);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		goto done;
	if (!PQgetisnull(r, 0, 0)) {
		log_warnx("event=audit_write_failed error=\"%s\"", PQgetvalue(r, 0, 0));
		fate = AUDIT_ARGS_FAILED;
	} else if (args.rows != NULL) {
		copied = audit_args_done(audit, &args, AUDIT_ARGS_WRITTEN, PQgetvalue(r, 0, 1),
		             PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3)) == 0;
	}
	if (copied && pg_exec_ok(c, "COMMIT"))
		rc = 0;
	else if (!copied)
		rc = 1; /* redo without the rows */
done:
	if (rc < 0 && PQresultStatus(r) != PGRES_TUPLES_OK)
		log_warnx("event=pg_query_failed error=\"%s\"", PQerrorMessage(c));
	if (rc != 0)
		pg_exec_ok(c, "ROLLBACK");
	PQclear(r);
	audit_args_done(audit, &args, fate, NULL, NULL, NULL);
	return rc;
}

int
ledger_finish(struct ledger *l, struct audit *audit, const char *jti, const json_t *result,
    enum exec_verdict verdict, char *err, size_t errlen)
{
	char *text = json_dumps(result, JSON_COMPACT);
	const char *p[] = { jti, text, exec_verdict_name(verdict) };
	PGconn *c = pg(l);
	int rc = -1;

	if (text == NULL || c == NULL) {
		snprintf(err, errlen, "LEDGER_UNAVAILABLE: cannot store the result");
		free(text);
		return -1;
	}
	rc = finish_once(c, audit, p, 1);
	if (rc > 0)
		rc = finish_once(c, audit, p, 0);
	if (rc != 0)
		snprintf(err, errlen, "LEDGER_UNAVAILABLE: %s", PQerrorMessage(c));
	token_unlock(c, jti);
	free(text);
	return rc;
}
