#include "auditor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "receipt.h"
#include "util.h"

int
auditor_checkpoint(struct auditor_ctx *ctx, struct outbox *out)
{
	PGconn *c = pg_link_conn(&ctx->db);
	json_t *made = NULL, *cp;
	char err[512];
	long long heads;
	size_t i;

	if (c == NULL)
		return -1;
	if (audit_checkpoint(c, ctx->key, AUDIT_KID, &heads, out != NULL ? &made : NULL, err,
	        sizeof(err)) != 0) {
		log_warnx("event=checkpoint_failed error=\"%s\"", err);
		return -1;
	}
	/*
	 * A second copy outside PostgreSQL: whoever can delete checkpoints
	 * there (the owner, with the trigger off) cannot delete them here.
	 * One message per chain head.
	 */
	json_array_foreach(made, i, cp)
	{
		if (outbox_add(out, TOPIC_AUDIT_CHECKPOINTS, "audit", json_incref(cp)) != 0)
			log_warnx("event=checkpoint_not_published chain=%s seq=%lld",
			    msg_str(cp, "chain"),
			    (long long)json_integer_value(json_object_get(cp, "seq")));
	}
	json_decref(made);
	log_debug("event=checkpoint heads=%lld", heads);
	/* An empty log gets no checkpoint: the age stays unset (or grows). */
	if (heads > 0)
		metric_set(M_CHECKPOINT_AGE, NULL, metrics_wall_s());
	return 0;
}

void
auditor_tick(void *ctxp, struct outbox *out)
{
	auditor_checkpoint(ctxp, out);
}

static const char *
details_str(const json_t *row, const char *name)
{
	return msg_str(json_object_get(row, "details"), name);
}

/*
 * The terminal status a row records, or NULL when it records none. Only
 * rows from their entitled writer reach here (receipt_row_trusted).
 */
static const char *
terminal_status(const json_t *row, const char **reason)
{
	const char *event = msg_str(row, "event");

	*reason = details_str(row, "reason");
	if (strcmp(event, "result") == 0)
		return details_str(row, "status");
	if (strcmp(event, "rejected") == 0 || strcmp(event, "expired") == 0 ||
	    strcmp(event, "invalid") == 0)
		return event;
	return NULL;
}

/*
 * Which service may write each event a receipt reads. Every role can append
 * rows in its own name only (the writer check), so a row of another service
 * with one of these names is a neighbour speaking out of turn -- a
 * compromised consensus writing a human vote, say -- and is left out.
 */
static const struct {
	const char *event, *service;
} receipt_writers[] = {
	{ "request_received", "wingman-consensus" },
	{ "assessed", "wingman-consensus" },
	{ "auto_approved", "wingman-approval" },
	{ "human_vote", "wingman-approval" },
	{ "approved", "wingman-approval" },
	{ "rejected", "wingman-approval" },
	{ "expired", "wingman-approval" },
	{ "invalid", "wingman-approval" },
	{ "token_minted", "wingman-token" },
	{ "execution_result", "wingman-executor" },
	{ "result", "wingman-executor" },
};

/*
 * 1 when the receipt reads the row, 0 when its event is not one it reads,
 * -1 when it is but another service wrote it.
 */
static int
receipt_row_trusted(const json_t *row)
{
	const char *event = msg_str(row, "event"), *service = msg_str(row, "service");

	for (size_t i = 0; i < sizeof(receipt_writers) / sizeof(receipt_writers[0]); i++)
		if (strcmp(event, receipt_writers[i].event) == 0)
			return strcmp(service, receipt_writers[i].service) == 0 ? 1 : -1;
	return 0;
}

/*
 * The last row of the request in each chain its rows are in (rows in seq
 * order): {chain: {seq, row_hash}}, "legacy" for rows of the legacy chain.
 * Each anchors that chain's part of the request, as the last row alone
 * anchors only its own chain.
 */
static json_t *
receipt_heads(const json_t *rows)
{
	json_t *heads = json_object(), *row;
	size_t i;

	json_array_foreach(rows, i, row)
	{
		const json_t *chain = json_object_get(row, "chain");

		json_object_set_new(heads,
		    json_is_string(chain) ? json_string_value(chain) : AUDIT_LEGACY_CHAIN,
		    json_pack("{s:O, s:O}", "seq", json_object_get(row, "seq"), "row_hash",
		        json_object_get(row, "row_hash")));
	}
	return heads;
}

json_t *
receipt_statement(const char *request_id, const json_t *rows)
{
	json_t *votes = json_array(), *dissent = json_array(), *human = json_array();
	json_t *tokens = json_array(), *commands = json_array(), *approvers = json_array();
	json_t *row, *st, *predicate;
	const char *status = NULL, *reason = "", *digest = NULL, *risk = "", *decision = "none";
	const char *worker = "", *env = "";
	char idhash[65];
	size_t i;

	json_array_foreach(rows, i, row)
	{
		const char *event = msg_str(row, "event"), *r;
		const json_t *d = json_object_get(row, "details");
		const char *s;

		switch (receipt_row_trusted(row)) {
		case 0:
			continue;
		case -1:
			log_warnx("event=receipt_row_refused request_id=%s writer=%s row_event=%s"
			          " reason=\"AUDIT_WRONG_WRITER: not this service's event\"",
			    request_id, msg_str(row, "service"), event);
			continue;
		}
		s = terminal_status(row, &r);
		if (s != NULL) {
			status = s;
			reason = r;
		}
		if (strcmp(event, "request_received") == 0) {
			digest = details_str(row, "sha256");
			worker = details_str(row, "worker_id");
			env = details_str(row, "environment");
		} else if (strcmp(event, "assessed") == 0) {
			json_array_extend(votes, json_object_get(d, "votes"));
			json_array_extend(dissent, json_object_get(d, "dissent"));
			risk = details_str(row, "risk");
		} else if (strcmp(event, "auto_approved") == 0) {
			decision = "auto_approved";
			json_array_append_new(approvers, json_string("auto"));
		} else if (strcmp(event, "human_vote") == 0) {
			json_array_append(human, (json_t *)d);
			if (json_is_true(json_object_get(d, "counted")) &&
			    strcmp(details_str(row, "decision"), "approve") == 0)
				json_array_append_new(approvers,
				    json_string(details_str(row, "approver")));
		} else if (strcmp(event, "approved") == 0 || strcmp(event, "rejected") == 0 ||
		    strcmp(event, "expired") == 0 || strcmp(event, "invalid") == 0) {
			decision = event;
		} else if (strcmp(event, "token_minted") == 0) {
			json_array_append_new(tokens,
			    json_pack("{s:s, s:s, s:s}", "jti", details_str(row, "jti"), "sha256",
			        details_str(row, "sha256"), "cmd", details_str(row, "cmd")));
		} else if (strcmp(event, "execution_result") == 0) {
			json_array_append_new(commands,
			    json_pack("{s:s, s:s, s:O, s:s}", "jti", details_str(row, "jti"),
			        "status", details_str(row, "status"), "exit_code",
			        json_object_get(d, "exit_code"), "output_sha256",
			        details_str(row, "output_sha256")));
		}
	}
	if (status == NULL) {
		json_decref(votes);
		json_decref(dissent);
		json_decref(human);
		json_decref(tokens);
		json_decref(commands);
		json_decref(approvers);
		return NULL;
	}
	/* A request that never decoded has no content hash: its id stands in. */
	if (digest == NULL || *digest == '\0') {
		sha256_hex(request_id, strlen(request_id), idhash);
		digest = idhash;
	}
	row = json_array_get(rows, json_array_size(rows) - 1);
	predicate = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:{s:s, s:o, s:o}, s:o, s:o,"
	                      " s:{s:O, s:O, s:O}}",
	    "request_id", request_id, "status", status, "reason", reason, "worker_id", worker,
	    "environment", env, "risk", risk, "votes", votes, "dissent", dissent, "decision",
	    "outcome", decision, "approvers", approvers, "human_votes", human, "tokens", tokens,
	    "commands", commands, "audit", "first_seq",
	    json_object_get(json_array_get(rows, 0), "seq"), "last_seq",
	    json_object_get(row, "seq"), "last_row_hash", json_object_get(row, "row_hash"));
	/* The last row's chain (absent for a row of the legacy chain): where to find and check it. */
	if (predicate != NULL && json_is_string(json_object_get(row, "chain")))
		json_object_set(json_object_get(predicate, "audit"), "last_chain",
		    json_object_get(row, "chain"));
	if (predicate != NULL)
		json_object_set_new(json_object_get(predicate, "audit"), "heads",
		    receipt_heads(rows));
	st = json_pack("{s:s, s:[{s:s+, s:{s:s}}], s:s, s:o}", "_type", RECEIPT_STATEMENT_TYPE,
	    "subject", "name", "wingman-request:", request_id, "digest", "sha256", digest,
	    "predicateType", RECEIPT_PREDICATE_TYPE, "predicate", predicate);
	return st;
}

/* Rows of one request in chain order, or NULL when PostgreSQL is down. */
static json_t *
load_rows(PGconn *c, const char *request_id)
{
	const char *p[] = { request_id };
	PGresult *r = pg_exec_prepared(c,
	    "SELECT content, row_hash FROM audit_log WHERE request_id = $1"
	    " ORDER BY seq",
	    1, p);
	json_t *rows;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return NULL;
	}
	rows = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *row = json_loads(PQgetvalue(r, i, 0), 0, NULL);
		if (row == NULL)
			continue;
		json_object_set_new(row, "row_hash", json_string(PQgetvalue(r, i, 1)));
		json_array_append_new(rows, row);
	}
	PQclear(r);
	return rows;
}

static enum handler_rc
on_result(struct auditor_ctx *ctx, const struct stage_input *in, char *reason, size_t reasonlen)
{
	json_t *result, *rows = NULL, *st = NULL, *env = NULL;
	char *text = NULL, hash[65];
	const char *rid;
	PGconn *c;
	PGresult *r = NULL;
	enum handler_rc rc = HANDLER_TEMPFAIL;

	/*
	 * The result is only a trigger: what the receipt says comes from the
	 * audit rows, so a forged result cannot put words in it.
	 */
	if ((result = msg_decode(in->payload, in->len, "result", reason, reasonlen)) == NULL)
		return HANDLER_PERMFAIL;
	rid = msg_str(result, "request_id");
	if ((c = pg_link_conn(&ctx->db)) == NULL || (rows = load_rows(c, rid)) == NULL) {
		snprintf(reason, reasonlen, "STORE_UNAVAILABLE: cannot read the audit log");
		goto done;
	}
	if ((st = receipt_statement(rid, rows)) == NULL) {
		log_warnx("event=no_receipt request_id=%s reason=\"no terminal audit row\"", rid);
		rc = HANDLER_OK;
		goto done;
	}
	if ((env = receipt_sign(st, ctx->key, AUDIT_KID)) == NULL ||
	    (text = json_dumps(env, JSON_COMPACT)) == NULL) {
		snprintf(reason, reasonlen, "SIGN_FAILED: cannot sign the receipt");
		goto done;
	}
	{
		const char *p[] = { rid, text };
		r = pg_exec_prepared(c,
		    "INSERT INTO receipts (request_id, envelope) VALUES ($1, $2)"
		    " ON CONFLICT (request_id) DO NOTHING",
		    2, p);
	}
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		snprintf(reason, reasonlen, "STORE_UNAVAILABLE: cannot store the receipt");
		goto done;
	}
	if (strcmp(PQcmdTuples(r), "1") == 0) {
		sha256_hex(text, strlen(text), hash);
		log_info("event=receipt request_id=%s status=%s", rid,
		    msg_str(json_object_get(st, "predicate"), "status"));
		audit_record(ctx->audit, rid, "receipt_issued", json_pack("{s:s}", "sha256", hash));
	}
	rc = HANDLER_OK;
done:
	PQclear(r);
	free(text);
	json_decref(env);
	json_decref(st);
	json_decref(rows);
	json_decref(result);
	return rc;
}

static enum handler_rc
on_dead_letter(struct auditor_ctx *ctx, const struct stage_input *in)
{
	char err[256], hash[65];
	json_t *dl = msg_decode(in->payload, in->len, "dead_letter", err, sizeof(err));

	/* Never dead-letter a dead letter: log it and go on. */
	if (dl == NULL) {
		log_warnx("event=bad_dead_letter offset=%lld reason=\"%s\"", in->offset, err);
		return HANDLER_OK;
	}
	sha256_hex(msg_str(dl, "payload"), strlen(msg_str(dl, "payload")), hash);
	if (audit_record(ctx->audit, msg_str(dl, "request_id"), "dead_letter",
	        json_pack("{s:s, s:s, s:O, s:O, s:s, s:s}", "stage", msg_str(dl, "stage"), "topic",
	            msg_str(dl, "topic"), "partition", json_object_get(dl, "partition"), "offset",
	            json_object_get(dl, "offset"), "reason", msg_str(dl, "reason"),
	            "payload_sha256", hash)) != 0) {
		json_decref(dl);
		return HANDLER_TEMPFAIL;
	}
	json_decref(dl);
	return HANDLER_OK;
}

enum handler_rc
auditor_handle(void *ctxp, const struct stage_input *in, struct outbox *out, char *reason,
    size_t reasonlen)
{
	struct auditor_ctx *ctx = ctxp;

	(void)out;
	if (strcmp(in->topic, TOPIC_DLQ) == 0)
		return on_dead_letter(ctx, in);
	return on_result(ctx, in, reason, reasonlen);
}
