#include "audit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "pg.h"
#include "util.h"

/* One lock id for all writers: the chain is a single sequence. */
#define AUDIT_LOCK_ID "727166"

struct audit {
	char service[64];
	int use_pg;
	struct pg_link db;
	FILE *jsonl;
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
	snprintf(a->service, sizeof(a->service), "%s", service);
	/* Off is said with "", never by a missing value (a lookup that failed). */
	if (conninfo == NULL) {
		snprintf(err, errlen, "AUDIT_OPEN: no PostgreSQL conninfo given (\"\" turns that sink off)");
		goto fail;
	}
	a->use_pg = *conninfo != '\0';
	if (a->use_pg && pg_link_init(&a->db, conninfo) != 0)
		goto fail;
	if (jsonl_path != NULL && *jsonl_path != '\0' &&
	    (a->jsonl = fopen(jsonl_path, "a")) == NULL) {
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
	if (a->jsonl != NULL)
		fclose(a->jsonl);
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

/* Appends the row inside one transaction holding the chain lock. */
static int
audit_pg_append(struct audit *a, json_t *row, const char *request_id, const char *event)
{
	PGconn *c = pg_link_conn(&a->db);
	PGresult *r = NULL;
	char prev[65] = AUDIT_GENESIS, hash[65], seqbuf[32];
	long long seq = 1;
	char *content = NULL;
	int rc = -1;

	if (c == NULL)
		return -1;
	if (!pg_exec_ok(c, "BEGIN") ||
	    !pg_exec_ok(c, "SELECT pg_advisory_xact_lock(" AUDIT_LOCK_ID ")"))
		goto fail;
	r = PQexec(c, "SELECT seq, row_hash FROM audit_log ORDER BY seq DESC LIMIT 1");
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		goto fail;
	if (PQntuples(r) == 1) {
		seq = strtoll(PQgetvalue(r, 0, 0), NULL, 10) + 1;
		snprintf(prev, sizeof(prev), "%s", PQgetvalue(r, 0, 1));
	}
	PQclear(r);
	r = NULL;
	json_object_set_new(row, "seq", json_integer(seq));
	json_object_set_new(row, "prev_hash", json_string(prev));
	if ((content = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		goto fail;
	audit_row_hash(prev, content, hash);
	json_object_set_new(row, "row_hash", json_string(hash));
	snprintf(seqbuf, sizeof(seqbuf), "%lld", seq);
	{
		const char *params[] = { seqbuf, a->service, request_id, event, content, prev, hash };
		r = PQexecParams(c,
		    "INSERT INTO audit_log (seq, service, request_id, event, content, prev_hash, row_hash)"
		    " VALUES ($1, $2, $3, $4, $5, $6, $7)", 7, NULL, params, NULL, NULL, 0);
	}
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		goto fail;
	if (!pg_exec_ok(c, "COMMIT"))
		goto fail;
	rc = 0;
fail:
	if (rc != 0 && c != NULL) {
		log_warnx("event=audit_write_failed error=\"%s\"", PQerrorMessage(c));
		pg_exec_ok(c, "ROLLBACK");
	}
	PQclear(r);
	free(content);
	return rc;
}

int
audit_record(struct audit *a, const char *request_id, const char *event, json_t *details)
{
	json_t *row;
	char ts[32];
	int rc = 0;

	if (a == NULL) {
		json_decref(details);
		return -1;
	}
	now_ts(ts);
	row = json_pack("{s:s, s:s, s:s, s:s, s:o}", "ts", ts, "service", a->service,
	    "request_id", request_id ? request_id : "", "event", event,
	    "details", details ? details : json_object());
	if (row == NULL)
		return -1;
	if (a->use_pg && audit_pg_append(a, row, request_id ? request_id : "", event) != 0)
		rc = -1;
	if (a->jsonl != NULL) {
		char *line = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS);
		if (line == NULL || fprintf(a->jsonl, "%s\n", line) < 0 || fflush(a->jsonl) != 0)
			rc = -1;
		free(line);
	}
	json_decref(row);
	return rc;
}
