#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "pg.h"
#include "util.h"

/* One lock id for all writers: the chain is a single sequence. */
#define AUDIT_LOCK_ID "727166"

struct audit {
	char service[64];
	int use_pg;
	struct pg_link db;
	int jsonl; /* O_APPEND: one write per line, so writers never interleave; -1: off */
	/* Between audit_batch_begin and audit_batch_commit: rows not yet written. */
	int batching;
	int batch_failed; /* a flush in this batch lost rows */
	json_t *pending;
};

struct audit *
audit_open(const char *service, const char *conninfo, const char *jsonl_path, char *err,
    size_t errlen)
{
	struct audit *a = calloc(1, sizeof(*a));

	if (a == NULL) {
		snprintf(err, errlen, "AUDIT_OPEN: out of memory");
		return NULL;
	}
	a->jsonl = -1;
	snprintf(a->service, sizeof(a->service), "%s", service);
	/* Off is said with "", never by a missing value (a lookup that failed). */
	if (conninfo == NULL) {
		snprintf(err, errlen,
		    "AUDIT_OPEN: no PostgreSQL conninfo given (\"\" turns that sink off)");
		goto fail;
	}
	a->use_pg = *conninfo != '\0';
	if (a->use_pg && pg_link_init(&a->db, conninfo) != 0)
		goto fail;
	if (jsonl_path != NULL && *jsonl_path != '\0' &&
	    (a->jsonl = open(jsonl_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) < 0) {
		snprintf(err, errlen, "AUDIT_OPEN: %s: %s", jsonl_path, strerror(errno));
		goto fail;
	}
	return a;
fail:
	audit_close(a);
	return NULL;
}

void
audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	pg_link_close(&a->db);
	json_decref(a->pending);
	if (a->jsonl >= 0)
		close(a->jsonl);
	free(a);
}

void
audit_row_hash(const char *prev_hash, const char *content, char out[65])
{
	size_t plen = strlen(prev_hash), clen = strlen(content);
	char *buf = malloc(plen + 1 + clen);

	if (buf == NULL) {
		out[0] = '\0';
		return;
	}
	memcpy(buf, prev_hash, plen);
	buf[plen] = '\n';
	memcpy(buf + plen + 1, content, clen);
	sha256_hex(buf, plen + 1 + clen, out);
	free(buf);
}

/*
 * Appends rows (an array of {row, request_id, event}) on c, inside the
 * transaction open there, holding the chain lock until that transaction
 * ends: however many rows, one lock, one head lookup. Returns 0 or -1.
 */
static int
append_rows(PGconn *c, const char *service, json_t *rows)
{
	PGresult *r = NULL;
	char prev[65] = AUDIT_GENESIS, hash[65], seqbuf[32];
	long long seq = 1;
	size_t i;
	json_t *item;
	int rc = -1;

	if (!pg_exec_ok(c, "SELECT pg_advisory_xact_lock(" AUDIT_LOCK_ID ")"))
		return -1;
	r = PQexec(c, "SELECT seq, row_hash FROM audit_log ORDER BY seq DESC LIMIT 1");
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		goto fail;
	if (PQntuples(r) == 1) {
		seq = strtoll(PQgetvalue(r, 0, 0), NULL, 10) + 1;
		snprintf(prev, sizeof(prev), "%s", PQgetvalue(r, 0, 1));
	}
	PQclear(r);
	r = NULL;
	json_array_foreach(rows, i, item)
	{
		json_t *row = json_object_get(item, "row");
		char *content;

		json_object_set_new(row, "seq", json_integer(seq));
		json_object_set_new(row, "prev_hash", json_string(prev));
		if ((content = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
			goto fail;
		audit_row_hash(prev, content, hash);
		json_object_set_new(row, "row_hash", json_string(hash));
		snprintf(seqbuf, sizeof(seqbuf), "%lld", seq);
		{
			const char *params[] = { seqbuf, service,
				json_string_value(json_object_get(item, "request_id")),
				json_string_value(json_object_get(item, "event")), content, prev,
				hash };
			r = PQexecParams(c,
			    "INSERT INTO audit_log (seq, service, request_id, event, content, prev_hash, row_hash)"
			    " VALUES ($1, $2, $3, $4, $5, $6, $7)",
			    7, NULL, params, NULL, NULL, 0);
		}
		free(content);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			goto fail;
		PQclear(r);
		r = NULL;
		memcpy(prev, hash, sizeof(prev));
		seq++;
	}
	rc = 0;
fail:
	if (rc != 0)
		log_warnx("event=audit_write_failed error=\"%s\"", PQerrorMessage(c));
	PQclear(r);
	return rc;
}

static void
count_rows(const char *sink, const json_t *rows)
{
	const char *labels[] = { sink, NULL };

	metric_add(M_AUDIT_ROWS, labels, (double)json_array_size(rows));
}

/* Appends rows in a transaction of their own on the audit's connection. */
static int
audit_pg_append(struct audit *a, json_t *rows)
{
	PGconn *c = pg_link_conn(&a->db);

	if (c == NULL)
		return -1;
	if (pg_exec_ok(c, "BEGIN") && append_rows(c, a->service, rows) == 0 &&
	    pg_exec_ok(c, "COMMIT")) {
		count_rows("postgresql", rows);
		return 0;
	}
	pg_exec_ok(c, "ROLLBACK");
	return -1;
}

/* Copies rows to the JSONL file, one write(2) each. Returns 0 or -1. */
static int
jsonl_write(struct audit *a, json_t *rows)
{
	size_t i;
	json_t *item;
	int rc = 0;

	if (a->jsonl < 0)
		return 0;
	json_array_foreach(rows, i, item)
	{
		char *line = json_dumps(json_object_get(item, "row"), JSON_COMPACT | JSON_SORT_KEYS);
		size_t len = line ? strlen(line) : 0;
		/* The terminating NUL becomes the newline: the line goes in one write. */
		if (line != NULL)
			line[len] = '\n';
		if (line == NULL || write(a->jsonl, line, len + 1) != (ssize_t)(len + 1))
			rc = -1;
		free(line);
	}
	if (rc == 0)
		count_rows("jsonl", rows);
	return rc;
}

int
audit_flush_within(struct audit *a, PGconn *c)
{
	json_t *rows;
	int rc = 0;

	if (a == NULL)
		return -1;
	if ((rows = a->pending) == NULL)
		return 0;
	a->pending = NULL;
	/* Outside a transaction the chain lock would end with its own statement. */
	if ((a->use_pg &&
	        (c == NULL || PQtransactionStatus(c) != PQTRANS_INTRANS ||
	            append_rows(c, a->service, rows) != 0)) ||
	    jsonl_write(a, rows) != 0) {
		a->batch_failed = a->batching;
		rc = -1;
	} else if (a->use_pg) {
		count_rows("postgresql", rows);
	}
	json_decref(rows);
	return rc;
}

/* Writes rows to every configured sink; rows is consumed. */
static int
audit_write(struct audit *a, json_t *rows)
{
	int rc = 0;

	if (json_array_size(rows) == 0) {
		json_decref(rows);
		return 0;
	}
	if (a->use_pg && audit_pg_append(a, rows) != 0)
		rc = -1;
	if (jsonl_write(a, rows) != 0)
		rc = -1;
	json_decref(rows);
	return rc;
}

int
audit_record(struct audit *a, const char *request_id, const char *event, json_t *details)
{
	json_t *row, *item;
	char ts[32];

	if (a == NULL) {
		json_decref(details);
		return -1;
	}
	now_ts(ts);
	row = json_pack("{s:s, s:s, s:s, s:s, s:o}", "ts", ts, "service", a->service, "request_id",
	    request_id ? request_id : "", "event", event, "details",
	    details ? details : json_object());
	if (row == NULL)
		return -1;
	item = json_pack("{s:o, s:s, s:s}", "row", row, "request_id", request_id ? request_id : "",
	    "event", event);
	if (item == NULL)
		return -1;
	if (a->batching) {
		if (a->pending == NULL && (a->pending = json_array()) == NULL) {
			json_decref(item);
			return -1;
		}
		return json_array_append_new(a->pending, item);
	}
	return audit_write(a, json_pack("[o]", item));
}

void
audit_batch_begin(struct audit *a)
{
	if (a == NULL)
		return;
	json_decref(a->pending);
	a->pending = NULL;
	a->batching = 1;
	a->batch_failed = 0;
}

int
audit_flush(struct audit *a)
{
	json_t *rows;

	if (a == NULL)
		return -1;
	rows = a->pending;
	a->pending = NULL;
	if (rows != NULL && audit_write(a, rows) != 0) {
		a->batch_failed = a->batching;
		return -1;
	}
	return 0;
}

int
audit_batch_commit(struct audit *a)
{
	int rc = audit_flush(a);

	if (a == NULL)
		return -1;
	if (a->batch_failed)
		rc = -1;
	a->batching = 0;
	a->batch_failed = 0;
	return rc;
}
