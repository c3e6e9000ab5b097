#include "audit_verify.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "util.h"

/*
 * Appends one line to a bounded report; once full, the last line says so.
 * Every break is counted even when its line no longer fits.
 */
static void
report_add(char *report, size_t reportlen, const char *fmt, ...)
{
	static const char more[] = "...(more breaks)\n";
	size_t used = strlen(report);
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (reportlen < sizeof(more) || used > reportlen - sizeof(more))
		return;
	if (used + strlen(line) + 1 + sizeof(more) > reportlen) {
		if (strstr(report, more) == NULL)
			snprintf(report + used, reportlen - used, "%s", more);
		return;
	}
	snprintf(report + used, reportlen - used, "%s\n", line);
}

/*
 * After a break the walk goes on from the row's stored hash, so one
 * altered row is one break and every later one is still found.
 */
int
audit_verify_chain(PGconn *conn, long long *rows, char *report, size_t reportlen)
{
	PGresult *r;
	char prev[65] = AUDIT_GENESIS, hash[65];
	long long expect = 1;
	int n, breaks = 0;

	*rows = 0;
	report[0] = '\0';
	r = PQexec(conn, "SELECT seq, content, prev_hash, row_hash FROM audit_log ORDER BY seq");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(report, reportlen, "AUDIT_UNREADABLE: %s", PQerrorMessage(conn));
		PQclear(r);
		return -1;
	}
	n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		long long seq = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		const char *content = PQgetvalue(r, i, 1);
		json_t *row = json_loads(content, 0, NULL);
		const char *cprev = json_string_value(json_object_get(row, "prev_hash"));
		int broken = 1;

		audit_row_hash(prev, content, hash);
		if (seq != expect)
			report_add(report, reportlen,
			    "AUDIT_GAP: row %lld is missing (row %lld follows row %lld)", expect,
			    seq, expect - 1);
		else if (strcmp(PQgetvalue(r, i, 2), prev) != 0)
			report_add(report, reportlen,
			    "AUDIT_BROKEN_LINK: row %lld does not point at row %lld", seq, seq - 1);
		else if (row == NULL || json_integer_value(json_object_get(row, "seq")) != seq ||
		    cprev == NULL || strcmp(cprev, prev) != 0)
			report_add(report, reportlen,
			    "AUDIT_BAD_CONTENT: row %lld content does not match its place", seq);
		else if (strcmp(hash, PQgetvalue(r, i, 3)) != 0)
			report_add(report, reportlen, "AUDIT_BAD_HASH: row %lld was altered", seq);
		else
			broken = 0;
		json_decref(row);
		breaks += broken;
		snprintf(prev, sizeof(prev), "%s", PQgetvalue(r, i, 3));
		expect = seq + 1;
		(*rows)++;
	}
	PQclear(r);
	return breaks;
}

/* The signed bytes of a checkpoint: context, row, hash, time. */
static int
checkpoint_input(char *buf, size_t size, long long seq, const char *row_hash, const char *ts)
{
	return xsnprintf(buf, size, "wingman-audit-checkpoint-v1\n%lld\n%s\n%s", seq, row_hash, ts);
}

int
audit_checkpoint(PGconn *conn, EVP_PKEY *key, const char *kid, long long *seq, json_t **made,
    char *err, size_t errlen)
{
	PGresult *r;
	char input[256], ts[32], hash[65], seqbuf[32];
	unsigned char sig[64];
	char *sigtext = NULL;
	int rc = -1;

	*seq = 0;
	if (made != NULL)
		*made = NULL;
	r = PQexec(conn, "SELECT seq, row_hash FROM audit_log ORDER BY seq DESC LIMIT 1");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "AUDIT_UNREADABLE: %s", PQerrorMessage(conn));
		goto done;
	}
	if (PQntuples(r) == 0) {
		rc = 0;
		goto done;
	}
	*seq = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	snprintf(hash, sizeof(hash), "%s", PQgetvalue(r, 0, 1));
	PQclear(r);
	r = NULL;
	now_ts(ts);
	if (checkpoint_input(input, sizeof(input), *seq, hash, ts) < 0 ||
	    ed25519_sign(key, input, strlen(input), sig) != 0 ||
	    (sigtext = b64url_encode(sig, sizeof(sig))) == NULL) {
		snprintf(err, errlen, "AUDIT_SIGN: cannot sign the checkpoint");
		goto done;
	}
	snprintf(seqbuf, sizeof(seqbuf), "%lld", *seq);
	{
		const char *p[] = { seqbuf, hash, ts, kid, sigtext };
		r = PQexecParams(conn,
		    "INSERT INTO audit_checkpoints (seq, row_hash, ts, kid, signature)"
		    " VALUES ($1, $2, $3, $4, $5) RETURNING id",
		    5, NULL, p, NULL, NULL, 0);
	}
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		snprintf(err, errlen, "AUDIT_UNWRITABLE: %s", PQerrorMessage(conn));
		goto done;
	}
	if (made != NULL)
		*made = json_pack("{s:i, s:s, s:I, s:I, s:s, s:s, s:s, s:s}", "v", 1, "type",
		    "audit_checkpoint", "id", (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10),
		    "seq", (json_int_t)*seq, "row_hash", hash, "ts", ts, "kid", kid, "signature",
		    sigtext);
	rc = 0;
done:
	PQclear(r);
	free(sigtext);
	return rc;
}

/* The newest row of the log (0 when empty), or -1 with report set. */
static long long
last_seq(PGconn *conn, char *report, size_t reportlen)
{
	PGresult *r = PQexec(conn, "SELECT coalesce(max(seq), 0) FROM audit_log");
	long long seq = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		seq = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else
		snprintf(report, reportlen, "AUDIT_UNREADABLE: %s", PQerrorMessage(conn));
	PQclear(r);
	return seq;
}

/*
 * One checkpoint (what names it in a report: "checkpoint 12"), against the
 * audit key and the chain. Returns 0 good, 1 a break (reported).
 */
static int
check_checkpoint(PGconn *conn, const struct keyring *pubs, const char *what, long long seq,
    const char *hash, const char *ts, const char *sigtext, long long max_seq, char *report,
    size_t reportlen)
{
	unsigned char *sig = NULL;
	size_t siglen = 0;
	char input[256], seqbuf[32];
	const char *p[] = { seqbuf };
	PGresult *row;
	int broken = 1;

	if (checkpoint_input(input, sizeof(input), seq, hash, ts) < 0 ||
	    b64url_decode(sigtext, strlen(sigtext), &sig, &siglen) != 0 ||
	    !keyring_verify_any(pubs, input, strlen(input), sig, siglen)) {
		report_add(report, reportlen,
		    "AUDIT_CHECKPOINT_FORGED: %s is not signed by the audit key", what);
		free(sig);
		return 1;
	}
	free(sig);
	if (seq > max_seq) {
		report_add(report, reportlen,
		    "AUDIT_TRUNCATED: %s signs row %lld but the log ends at row %lld", what, seq,
		    max_seq);
		return 1;
	}
	snprintf(seqbuf, sizeof(seqbuf), "%lld", seq);
	row = PQexecParams(conn, "SELECT row_hash FROM audit_log WHERE seq = $1", 1, NULL, p, NULL,
	    NULL, 0);
	if (PQresultStatus(row) != PGRES_TUPLES_OK || PQntuples(row) != 1)
		report_add(report, reportlen, "AUDIT_TRUNCATED: row %lld signed by %s is gone", seq,
		    what);
	else if (strcmp(PQgetvalue(row, 0, 0), hash) != 0)
		report_add(report, reportlen,
		    "AUDIT_REWRITTEN: row %lld differs from what %s signed", seq, what);
	else
		broken = 0;
	PQclear(row);
	return broken;
}

int
audit_verify_published(PGconn *conn, const struct keyring *pubs, const json_t *published,
    long long *count, char *report, size_t reportlen)
{
	long long max_seq = last_seq(conn, report, reportlen);
	const json_t *cp;
	size_t i;
	int breaks = 0;

	*count = 0;
	if (max_seq < 0)
		return -1;
	json_array_foreach(published, i, cp)
	{
		const char *hash = json_string_value(json_object_get(cp, "row_hash"));
		const char *ts = json_string_value(json_object_get(cp, "ts"));
		const char *sigtext = json_string_value(json_object_get(cp, "signature"));
		long long seq = json_integer_value(json_object_get(cp, "seq"));
		char what[64], seqbuf[32];
		const char *p[] = { seqbuf, sigtext };
		PGresult *r;

		snprintf(what, sizeof(what), "published checkpoint %zu", i + 1);
		if (hash == NULL || ts == NULL || sigtext == NULL || seq <= 0) {
			report_add(report, reportlen, "AUDIT_CHECKPOINT_FORGED: %s is malformed",
			    what);
			breaks++;
			continue;
		}
		if (check_checkpoint(conn, pubs, what, seq, hash, ts, sigtext, max_seq, report,
		        reportlen) != 0) {
			breaks++;
			continue;
		}
		/* Genuine, so PostgreSQL had it: gone from there means deleted. */
		snprintf(seqbuf, sizeof(seqbuf), "%lld", seq);
		r = PQexecParams(conn,
		    "SELECT 1 FROM audit_checkpoints WHERE seq = $1 AND signature = $2", 2, NULL, p,
		    NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
			report_add(report, reportlen,
			    "AUDIT_CHECKPOINT_MISSING: %s (row %lld, %s) is gone "
			    "from audit_checkpoints",
			    what, seq, ts);
			breaks++;
		} else {
			(*count)++;
		}
		PQclear(r);
	}
	return breaks;
}

int
audit_verify_checkpoints(PGconn *conn, const struct keyring *pubs, long long *count,
    char newest_ts[32], char *report, size_t reportlen)
{
	PGresult *r;
	long long max_seq;
	int64_t newest = -1;
	int breaks = 0;

	*count = 0;
	newest_ts[0] = '\0';
	if ((max_seq = last_seq(conn, report, reportlen)) < 0)
		return -1;
	r = PQexec(conn,
	    "SELECT id, seq, row_hash, ts, signature FROM audit_checkpoints ORDER BY id");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(report, reportlen, "AUDIT_UNREADABLE: %s", PQerrorMessage(conn));
		PQclear(r);
		return -1;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		const char *hash = PQgetvalue(r, i, 2), *ts = PQgetvalue(r, i, 3);
		long long seq = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		char what[64];
		int64_t ms;
		int broken;

		snprintf(what, sizeof(what), "checkpoint %s", PQgetvalue(r, i, 0));
		broken = check_checkpoint(conn, pubs, what, seq, hash, ts, PQgetvalue(r, i, 4),
		    max_seq, report, reportlen);
		breaks += broken;
		if (broken)
			continue;
		(*count)++;
		/* Only a signed time counts towards freshness. */
		if (parse_ts_ms(ts, &ms) == 0 && ms > newest) {
			newest = ms;
			snprintf(newest_ts, 32, "%s", ts);
		}
	}
	PQclear(r);
	return breaks;
}
