/*
 * Approval state in PostgreSQL: every transition is one transaction, but
 * the new requests a batch of assessments stores, which share one
 * (store_batch_join, store_batch_end).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approval.h"
#include "failpoint.h"
#include "log.h"
#include "msg.h"
#include "pg.h"

struct store {
	struct pg_link db;
	/*
	 * The connection an open transaction began on, NULL outside one. A
	 * statement is never sent on another: a reconnect in the middle of a
	 * transaction would commit its statements one by one.
	 */
	PGconn *tx;
	int batch; /* the open transaction is a batch's (store_batch_join) */
};

struct store *
store_open(const char *conninfo, char *err, size_t errlen)
{
	struct store *s = calloc(1, sizeof(*s));

	if (s == NULL || pg_link_init(&s->db, conninfo) != 0) {
		free(s);
		snprintf(err, errlen, "STORE_OPEN: out of memory");
		return NULL;
	}
	return s;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	pg_link_close(&s->db);
	free(s);
}

static PGresult *
query(struct store *s, const char *sql, int n, const char *const *params)
{
	if (s->tx != NULL && (s->db.conn != s->tx || PQstatus(s->tx) != CONNECTION_OK)) {
		log_warnx("event=pg_query_failed error=\"the transaction's connection is gone\"");
		return NULL;
	}
	return pg_link_query(&s->db, sql, n, params);
}

/*
 * BEGIN, COMMIT: the transaction's connection is remembered, then
 * forgotten. A COMMIT counts only as "COMMIT" on that connection: one that
 * ends a failed transaction answers "ROLLBACK", one on a new connection
 * commits nothing.
 */
static int
exec_simple(struct store *s, const char *sql)
{
	int begin = strcmp(sql, "BEGIN") == 0, commit = strcmp(sql, "COMMIT") == 0, rc = -1;
	PGresult *r;

	if (begin && s->tx != NULL)
		return -1; /* one at a time: a BEGIN inside would be ignored */
	if ((r = query(s, sql, 0, NULL)) != NULL)
		rc = commit && strcmp(PQcmdStatus(r), "COMMIT") != 0 ? -1 : 0;
	PQclear(r);
	if (begin && rc == 0)
		s->tx = s->db.conn;
	else if (commit)
		s->tx = NULL;
	return rc;
}

enum store_rc
store_insert(struct store *s, const json_t *assessment, const char *state,
    const struct approval_plan *plan, const char *topic, const json_t *outcome, char **prev_topic,
    char **prev_outcome)
{
	const json_t *request = json_object_get(assessment, "request");
	char *assessment_text = json_dumps(assessment, JSON_COMPACT);
	char *outcome_text = json_dumps(outcome, JSON_COMPACT);
	char required[16], ttl[16], timeout[16];
	PGresult *r = NULL;
	enum store_rc rc = STORE_DOWN;

	*prev_topic = *prev_outcome = NULL;
	if (assessment_text == NULL || outcome_text == NULL)
		goto done;
	snprintf(required, sizeof(required), "%d", plan->approvers_required);
	snprintf(ttl, sizeof(ttl), "%d", plan->token_ttl_s);
	snprintf(timeout, sizeof(timeout), "%d", plan->approval_timeout_s);
	{
		const char *p[] = { msg_str(assessment, "request_id"),
			msg_str(request, "environment"), msg_str(request, "worker_id"), state,
			assessment_text, required, ttl, timeout, plan->reason, topic, outcome_text };
		r = query(s,
		    "INSERT INTO approval_requests (request_id, environment, worker_id, state,"
		    " assessment, approvers_required, token_ttl_s, expires_at, reason, outcome_topic,"
		    " outcome, decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7,"
		    " now() + make_interval(secs => $8::int), $9, $10, $11,"
		    " CASE WHEN $4 = 'pending' THEN NULL ELSE now() END)"
		    " ON CONFLICT (request_id) DO NOTHING",
		    11, p);
	}
	if (r == NULL)
		goto done;
	if (strcmp(PQcmdTuples(r), "1") == 0) {
		rc = STORE_OK;
		goto done;
	}
	PQclear(r);
	{
		const char *p[] = { msg_str(assessment, "request_id") };
		r = query(s,
		    "SELECT outcome_topic, outcome FROM approval_requests WHERE request_id = $1", 1,
		    p);
	}
	if (r == NULL || PQntuples(r) != 1)
		goto done;
	*prev_topic = strdup(PQgetvalue(r, 0, 0));
	*prev_outcome = strdup(PQgetvalue(r, 0, 1));
	rc = STORE_EXISTS;
done:
	PQclear(r);
	free(assessment_text);
	free(outcome_text);
	return rc;
}

void
pending_request_free(struct pending_request *req)
{
	json_decref(req->assessment);
	json_decref(req->votes);
	json_decref(req->outcome);
	json_decref(req->final_update);
	req->assessment = req->votes = req->outcome = req->final_update = NULL;
}

/* The approving votes so far, oldest first (new array), or NULL. */
static json_t *
approvals_of(struct store *s, const char *request_id)
{
	const char *p[] = { request_id };
	PGresult *r;
	json_t *a;

	r = query(s,
	    "SELECT approver, message FROM approval_votes WHERE request_id = $1 AND"
	    " decision = 'approve' ORDER BY ts, approver",
	    1, p);
	if (r == NULL)
		return NULL;
	a = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *msg = json_loads(PQgetvalue(r, i, 1), JSON_REJECT_DUPLICATES, NULL);

		json_array_append_new(a,
		    json_pack("{s:s, s:o}", "approver", PQgetvalue(r, i, 0), "message",
		        msg ? msg : json_null()));
	}
	PQclear(r);
	return a;
}

enum store_rc
store_lock(struct store *s, const char *request_id, struct pending_request *req)
{
	const char *p[] = { request_id };
	PGresult *r;

	memset(req, 0, sizeof(*req));
	if (exec_simple(s, "BEGIN") != 0)
		return STORE_DOWN;
	r = query(s,
	    "SELECT state, environment, worker_id, approvers_required, token_ttl_s,"
	    " expires_at < now(), assessment, outcome_topic, outcome, final_update,"
	    " coalesce(decided_msg, '') FROM approval_requests WHERE request_id = $1"
	    " FOR UPDATE",
	    1, p);
	if (r == NULL) {
		store_rollback(s);
		return STORE_DOWN;
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		store_rollback(s);
		return STORE_NOT_FOUND;
	}
	snprintf(req->state, sizeof(req->state), "%s", PQgetvalue(r, 0, 0));
	snprintf(req->environment, sizeof(req->environment), "%s", PQgetvalue(r, 0, 1));
	snprintf(req->worker_id, sizeof(req->worker_id), "%s", PQgetvalue(r, 0, 2));
	req->approvers_required = (int)strtol(PQgetvalue(r, 0, 3), NULL, 10);
	req->token_ttl_s = (int)strtol(PQgetvalue(r, 0, 4), NULL, 10);
	req->expired = strcmp(PQgetvalue(r, 0, 5), "t") == 0;
	req->assessment = json_loads(PQgetvalue(r, 0, 6), 0, NULL);
	snprintf(req->outcome_topic, sizeof(req->outcome_topic), "%s", PQgetvalue(r, 0, 7));
	if (strcmp(req->state, "pending") != 0) {
		req->outcome = json_loads(PQgetvalue(r, 0, 8), 0, NULL);
		if (!PQgetisnull(r, 0, 9))
			req->final_update = json_loads(PQgetvalue(r, 0, 9), 0, NULL);
	}
	snprintf(req->decided_msg, sizeof(req->decided_msg), "%s", PQgetvalue(r, 0, 10));
	PQclear(r);
	if ((req->votes = approvals_of(s, request_id)) == NULL) {
		pending_request_free(req);
		store_rollback(s);
		return STORE_DOWN;
	}
	return STORE_OK;
}

enum store_rc
store_vote(struct store *s, const char *request_id, const json_t *decision, int *inserted,
    json_t **votes)
{
	char *text = json_dumps(decision, JSON_COMPACT);
	const char *p[] = { request_id, msg_str(decision, "approver"),
		msg_str(decision, "decision"), msg_str(decision, "channel"), text };
	PGresult *r;

	*votes = NULL;
	if (text == NULL)
		return STORE_DOWN;
	r = query(s,
	    "INSERT INTO approval_votes (request_id, approver, decision, channel, message)"
	    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id, approver) DO NOTHING",
	    5, p);
	free(text);
	if (r == NULL)
		return STORE_DOWN;
	*inserted = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	*votes = approvals_of(s, request_id);
	return *votes != NULL ? STORE_OK : STORE_DOWN;
}

enum store_rc
store_finish(struct store *s, const char *request_id, const char *state, const char *reason,
    const char *topic, const json_t *outcome, const json_t *update, const char *decided_msg,
    int published)
{
	char *text = json_dumps(outcome, JSON_COMPACT);
	char *update_text = update != NULL ? json_dumps(update, JSON_COMPACT) : NULL;
	const char *p[] = { request_id, state, reason, topic, text, update_text, decided_msg,
		published ? "true" : "false" };
	PGresult *r;

	if (text == NULL || (update != NULL && update_text == NULL)) {
		free(text);
		free(update_text);
		return STORE_DOWN;
	}
	r = query(s,
	    "UPDATE approval_requests SET state = $2, reason = $3, outcome_topic = $4,"
	    " outcome = $5, final_update = $6, decided_msg = NULLIF($7, ''), decided_at = now(),"
	    " outcome_published = $8::boolean"
	    " WHERE request_id = $1 AND state = 'pending'",
	    8, p);
	free(text);
	free(update_text);
	if (r == NULL)
		return STORE_DOWN;
	PQclear(r);
	return STORE_OK;
}

int
store_begin(struct store *s)
{
	return exec_simple(s, "BEGIN");
}

int
store_commit(struct store *s)
{
	return exec_simple(s, "COMMIT");
}

int
store_commit_audited(struct store *s, struct audit *audit)
{
	if (audit_flush_within(audit, s->db.conn) != 0)
		return -1;
	return store_commit(s);
}

void
store_rollback(struct store *s)
{
	if (s->db.conn != NULL)
		PQclear(PQexec(s->db.conn, "ROLLBACK"));
	s->tx = NULL;
	s->batch = 0;
}

/* The open transaction can still commit: its connection, no failed statement in it. */
static int
tx_usable(const struct store *s)
{
	return s->tx != NULL && s->db.conn == s->tx && PQstatus(s->tx) == CONNECTION_OK &&
	    PQtransactionStatus(s->tx) == PQTRANS_INTRANS;
}

int
store_batch_join(struct store *s)
{
	if (s->batch)
		return tx_usable(s) ? 0 : -1;
	if (exec_simple(s, "BEGIN") != 0)
		return -1;
	s->batch = 1;
	return 0;
}

int
store_batch_end(struct store *s, struct audit *audit)
{
	if (!s->batch)
		return 0;
	if (FAILPOINT("approval.before_batch_commit") != 0 || !tx_usable(s) ||
	    store_commit_audited(s, audit) != 0) {
		store_rollback(s);
		return -1;
	}
	s->batch = 0;
	return 0;
}

json_t *
store_expired(struct store *s, int max)
{
	char limit[16];
	const char *p[] = { limit };
	PGresult *r;
	json_t *ids;

	snprintf(limit, sizeof(limit), "%d", max);
	r = query(s,
	    "SELECT request_id FROM approval_requests WHERE state = 'pending'"
	    " AND expires_at < now() ORDER BY expires_at LIMIT $1",
	    1, p);
	if (r == NULL)
		return NULL;
	ids = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(ids, json_string(PQgetvalue(r, i, 0)));
	PQclear(r);
	return ids;
}

json_t *
store_unpublished(struct store *s, int max)
{
	char limit[16];
	const char *p[] = { limit };
	PGresult *r;
	json_t *rows;

	snprintf(limit, sizeof(limit), "%d", max);
	r = query(s,
	    "SELECT request_id, outcome_topic, outcome, final_update FROM approval_requests"
	    " WHERE NOT outcome_published AND state <> 'pending' AND outcome IS NOT NULL"
	    " ORDER BY decided_at LIMIT $1",
	    1, p);
	if (r == NULL)
		return NULL;
	rows = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *outcome = json_loads(PQgetvalue(r, i, 2), 0, NULL);
		json_t *update = PQgetisnull(r, i, 3) ? json_null()
		                                      : json_loads(PQgetvalue(r, i, 3), 0, NULL);

		if (outcome == NULL || update == NULL) {
			log_warnx("event=unpublished_unreadable request_id=%s", PQgetvalue(r, i, 0));
			json_decref(outcome);
			json_decref(update);
			continue;
		}
		json_array_append_new(rows,
		    json_pack("{s:s, s:s, s:o, s:o}", "request_id", PQgetvalue(r, i, 0), "topic",
		        PQgetvalue(r, i, 1), "outcome", outcome, "update", update));
	}
	PQclear(r);
	return rows;
}

int
store_mark_published(struct store *s, const json_t *ids)
{
	char *text = json_dumps(ids, JSON_COMPACT);
	const char *p[] = { text };
	PGresult *r;

	if (text == NULL)
		return -1;
	r = query(s,
	    "UPDATE approval_requests SET outcome_published = true"
	    " WHERE NOT outcome_published"
	    " AND request_id IN (SELECT json_array_elements_text($1::json))",
	    1, p);
	free(text);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int
store_pending_stats(struct store *s, long long *pending, double *soonest_s)
{
	PGresult *r = query(s,
	    "SELECT count(*), coalesce(extract(epoch FROM min(expires_at) - now()), -1)"
	    " FROM approval_requests WHERE state = 'pending'",
	    0, NULL);

	if (r == NULL)
		return -1;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return -1;
	}
	*pending = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	*soonest_s = *pending > 0 ? strtod(PQgetvalue(r, 0, 1), NULL) : -1;
	PQclear(r);
	return 0;
}

enum store_rc
store_early_add(struct store *s, const json_t *decision)
{
	char *text = json_dumps(decision, JSON_COMPACT);
	const char *p[] = { msg_str(decision, "request_id"), msg_str(decision, "approver"), text };
	PGresult *r;

	if (text == NULL)
		return STORE_DOWN;
	r = query(s,
	    "INSERT INTO early_decisions (request_id, approver, message) VALUES ($1, $2, $3)"
	    " ON CONFLICT (request_id, approver) DO NOTHING",
	    3, p);
	free(text);
	if (r == NULL)
		return STORE_DOWN;
	PQclear(r);
	return STORE_OK;
}

json_t *
store_early_due(struct store *s, int ttl_s, int max)
{
	char ttl[16], limit[16];
	const char *p[] = { ttl, limit };
	PGresult *r;
	json_t *rows;

	snprintf(ttl, sizeof(ttl), "%d", ttl_s);
	snprintf(limit, sizeof(limit), "%d", max);
	r = query(s,
	    "SELECT e.request_id, e.approver, e.message, r.request_id IS NOT NULL"
	    " FROM early_decisions e LEFT JOIN approval_requests r USING (request_id)"
	    " WHERE r.request_id IS NOT NULL OR e.received_at < now() - make_interval(secs => $1::int)"
	    " ORDER BY e.received_at LIMIT $2",
	    2, p);
	if (r == NULL)
		return NULL;
	rows = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(rows,
		    json_pack("{s:s, s:s, s:s, s:b}", "request_id", PQgetvalue(r, i, 0), "approver",
		        PQgetvalue(r, i, 1), "message", PQgetvalue(r, i, 2), "arrived",
		        strcmp(PQgetvalue(r, i, 3), "t") == 0));
	PQclear(r);
	return rows;
}

void
store_early_delete(struct store *s, const char *request_id, const char *approver)
{
	const char *p[] = { request_id, approver };

	PQclear(
	    query(s, "DELETE FROM early_decisions WHERE request_id = $1 AND approver = $2", 2, p));
}
