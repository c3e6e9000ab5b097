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

struct audit {
	char service[64];
	char chain[AUDIT_CHAIN_MAX]; /* service "/" lane: the chain this writer appends to */
	int use_pg;
	struct pg_link db;
	int jsonl; /* O_APPEND: one write per line, so writers never interleave; -1: off */
	/* Between audit_batch_begin and audit_batch_commit: rows not yet written. */
	int batching;
	int batch_failed; /* a flush in this batch lost rows */
	json_t *pending;
	unsigned long takes; /* times pending was taken: a mark older than that is void */
};

/* The queued rows, taken off the queue (the caller's reference), or NULL. */
static json_t *
take_pending(struct audit *a)
{
	json_t *rows = a->pending;

	a->pending = NULL;
	a->takes++;
	return rows;
}

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
	audit_set_lane(a, 0);
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

int
audit_set_lane(struct audit *a, unsigned lane)
{
	if (a == NULL)
		return -1;
	/* A pending row names its chain already: a lane is chosen before writing. */
	if (a->pending != NULL && json_array_size(a->pending) > 0)
		return -1;
	if (lane > AUDIT_LANE_MAX)
		return -1;
	return xsnprintf(a->chain, sizeof(a->chain), "%s/%u", a->service, lane) < 0 ? -1 : 0;
}

const char *
audit_chain(const struct audit *a)
{
	return a != NULL ? a->chain : "";
}

int
audit_chain_service(const char *chain, char *service, size_t len)
{
	const char *slash = chain != NULL ? strchr(chain, '/') : NULL;
	const char *lane = slash != NULL ? slash + 1 : NULL;
	size_t n;

	if (slash == NULL || slash == chain || slash - chain > 63 || *lane == '\0' ||
	    strlen(lane) > 3 || strspn(lane, "0123456789") != strlen(lane) || *chain < 'a' ||
	    *chain > 'z' ||
	    strspn(chain, "abcdefghijklmnopqrstuvwxyz0123456789-") != (size_t)(slash - chain))
		return -1;
	n = (size_t)(slash - chain);
	if (n >= len)
		return -1;
	memcpy(service, chain, n);
	service[n] = '\0';
	return 0;
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

/* Appends s as one element of a PostgreSQL array literal ("..." quoted). */
static int
array_elem(struct wbuf *b, const char *s, size_t n)
{
	const char *p = s, *end = s + n;

	if (wbuf_append(b, b->len > 1 ? ",\"" : "\"", b->len > 1 ? 2 : 1) != 0)
		return -1;
	while (p < end) {
		const char *q = p;

		while (q < end && *q != '"' && *q != '\\')
			q++;
		if (wbuf_append(b, p, (size_t)(q - p)) != 0)
			return -1;
		if (q < end && (wbuf_append(b, "\\", 1) != 0 || wbuf_append(b, q, 1) != 0))
			return -1;
		p = q < end ? q + 1 : end;
	}
	return wbuf_append(b, "\"", 1);
}

/* The last occurrence of needle in hay, or NULL. */
static const char *
last_of(const char *hay, const char *needle)
{
	const char *p = hay, *last = NULL;

	while ((p = strstr(p, needle)) != NULL)
		last = p++;
	return last;
}

#define PREV_MARK "\"prev_hash\":\""
#define SEQ_MARK "\"seq\":0"

int
audit_row_split(json_t *row, char **head, char **mid, char **tail)
{
	char *content;
	const char *p, *q;
	int rc = -1;

	*head = *mid = *tail = NULL;
	if (json_object_set_new(row, "seq", json_integer(0)) != 0 ||
	    json_object_set_new(row, "prev_hash", json_string("")) != 0 ||
	    (content = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		return -1;
	/*
	 * Keys are sorted: the row's own prev_hash and seq come after details
	 * (which may hold keys of the same names) and only strings follow
	 * them, so the last occurrence of each is the row's.
	 */
	p = last_of(content, PREV_MARK "\"");
	q = last_of(content, SEQ_MARK);
	if (p != NULL && q != NULL && p < q &&
	    (q[strlen(SEQ_MARK)] == ',' || q[strlen(SEQ_MARK)] == '}')) {
		p += strlen(PREV_MARK);
		q += strlen(SEQ_MARK) - 1;
		*head = strndup(content, (size_t)(p - content));
		*mid = strndup(p, (size_t)(q - p));
		*tail = strdup(q + 1);
		if (*head != NULL && *mid != NULL && *tail != NULL)
			rc = 0;
	}
	free(content);
	if (rc != 0) {
		free(*head);
		free(*mid);
		free(*tail);
		*head = *mid = *tail = NULL;
	}
	return rc;
}

static int
split_row(json_t *row, struct wbuf *heads, struct wbuf *mids, struct wbuf *tails)
{
	char *head, *mid, *tail;
	int rc = -1;

	if (audit_row_split(row, &head, &mid, &tail) != 0)
		return -1;
	if (array_elem(heads, head, strlen(head)) == 0 && array_elem(mids, mid, strlen(mid)) == 0 &&
	    array_elem(tails, tail, strlen(tail)) == 0)
		rc = 0;
	free(head);
	free(mid);
	free(tail);
	return rc;
}

void
audit_args_params(const struct audit_args *x, const char **params)
{
	params[0] = x->chain;
	params[1] = x->request_ids;
	params[2] = x->events;
	params[3] = x->heads;
	params[4] = x->mids;
	params[5] = x->tails;
}

static void
args_free(struct audit_args *x)
{
	free(x->request_ids);
	free(x->events);
	free(x->heads);
	free(x->mids);
	free(x->tails);
	memset(x, 0, sizeof(*x));
}

/* Builds x from rows (an array of {row, request_id, event}); rows is borrowed. */
static int
args_build(const char *chain, json_t *rows, struct audit_args *x)
{
	struct wbuf b[5];
	size_t i;
	json_t *item;
	int rc = 0;

	memset(x, 0, sizeof(*x));
	x->chain = chain;
	if (json_array_size(rows) == 0)
		return 0;
	for (i = 0; i < 5; i++) {
		wbuf_init(&b[i], (size_t)1 << 30);
		if (wbuf_append(&b[i], "{", 1) != 0)
			rc = -1;
	}
	json_array_foreach(rows, i, item)
	{
		const char *rid = json_string_value(json_object_get(item, "request_id"));
		const char *ev = json_string_value(json_object_get(item, "event"));

		if (rc != 0 || rid == NULL || ev == NULL ||
		    array_elem(&b[0], rid, strlen(rid)) != 0 ||
		    array_elem(&b[1], ev, strlen(ev)) != 0 ||
		    split_row(json_object_get(item, "row"), &b[2], &b[3], &b[4]) != 0) {
			rc = -1;
			break;
		}
	}
	for (i = 0; i < 5; i++)
		if (rc == 0 && wbuf_append(&b[i], "}", 1) != 0)
			rc = -1;
	if (rc != 0) {
		for (i = 0; i < 5; i++)
			wbuf_free(&b[i]);
		return -1;
	}
	x->request_ids = b[0].data;
	x->events = b[1].data;
	x->heads = b[2].data;
	x->mids = b[3].data;
	x->tails = b[4].data;
	x->rows = json_incref(rows);
	return 0;
}

/*
 * Puts the chain's answer into the rows, so the JSONL copy is the row as
 * stored: seq from seqs ("{s1,s2}": not contiguous, other chains take
 * numbers in between), prev_hash, row_hash from hashes ("{h1,h2}").
 * Returns 0, or -1 when the answer does not match the rows.
 */
static int
fill_rows(json_t *rows, const char *seqs, const char *prev, const char *hashes)
{
	char prevbuf[65], *end;
	const char *h = hashes, *s = seqs;
	size_t i;
	json_t *item;

	if (seqs == NULL || prev == NULL || hashes == NULL || strlen(prev) != 64 || *h++ != '{' ||
	    *s++ != '{')
		return -1;
	memcpy(prevbuf, prev, sizeof(prevbuf));
	json_array_foreach(rows, i, item)
	{
		json_t *row = json_object_get(item, "row");
		char hash[65];
		long long seq;

		if (strspn(h, "0123456789abcdef") != 64 || (h[64] != ',' && h[64] != '}'))
			return -1;
		seq = strtoll(s, &end, 10);
		if (end == s || seq < 1 || (*end != ',' && *end != '}'))
			return -1;
		s = end + 1;
		memcpy(hash, h, 64);
		hash[64] = '\0';
		h += 65;
		json_object_set_new(row, "seq", json_integer(seq));
		json_object_set_new(row, "prev_hash", json_string(prevbuf));
		json_object_set_new(row, "row_hash", json_string(hash));
		memcpy(prevbuf, hash, sizeof(prevbuf));
	}
	return h[-1] == '}' && *h == '\0' && s[-1] == '}' && *s == '\0' ? 0 : -1;
}

/*
 * Appends rows (an array of {row, request_id, event}) on c in one
 * statement: wingman_audit_append takes the chain lock (held until the
 * transaction ends: the caller's, or the statement's own), reads the head,
 * completes, hashes and inserts every row. Returns 0 or -1.
 */
static int
append_rows(PGconn *c, const char *chain, json_t *rows)
{
	struct audit_args x;
	const char *params[AUDIT_ARGS_N];
	PGresult *r;
	int rc = -1;

	if (args_build(chain, rows, &x) != 0) {
		log_warnx("event=audit_write_failed error=\"cannot encode the rows\"");
		return -1;
	}
	audit_args_params(&x, params);
	r = pg_exec_prepared(c,
	    "SELECT o_seqs, o_prev, o_hashes FROM wingman_audit_append($1, $2, $3, $4, $5, $6)",
	    AUDIT_ARGS_N, params);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
	    fill_rows(rows, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2)) == 0)
		rc = 0;
	else
		log_warnx("event=audit_write_failed error=\"%s\"",
		    PQresultStatus(r) == PGRES_TUPLES_OK ? "unexpected answer" : PQerrorMessage(c));
	PQclear(r);
	json_decref(x.rows);
	args_free(&x);
	return rc;
}

static void
count_rows(const char *sink, const json_t *rows)
{
	const char *labels[] = { sink, NULL };

	metric_add(M_AUDIT_ROWS, labels, (double)json_array_size(rows));
}

/* Appends rows in a transaction of their own (one statement) on the audit's connection. */
static int
audit_pg_append(struct audit *a, json_t *rows)
{
	PGconn *c = pg_link_conn(&a->db);

	if (c == NULL)
		return -1;
	if (PQtransactionStatus(c) != PQTRANS_IDLE)
		pg_exec_ok(c, "ROLLBACK");
	if (append_rows(c, a->chain, rows) != 0)
		return -1;
	count_rows("postgresql", rows);
	return 0;
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
	if (a->pending == NULL)
		return 0;
	rows = take_pending(a);
	/* Outside a transaction the chain lock would end with its own statement. */
	if ((a->use_pg &&
	        (c == NULL || PQtransactionStatus(c) != PQTRANS_INTRANS ||
	            append_rows(c, a->chain, rows) != 0)) ||
	    jsonl_write(a, rows) != 0) {
		a->batch_failed = a->batching;
		rc = -1;
	} else if (a->use_pg) {
		count_rows("postgresql", rows);
	}
	json_decref(rows);
	return rc;
}

int
audit_args_take(struct audit *a, struct audit_args *x)
{
	memset(x, 0, sizeof(*x));
	if (a == NULL)
		return 0;
	x->chain = a->chain;
	if (!a->use_pg || a->pending == NULL)
		return 0;
	return args_build(a->chain, a->pending, x);
}

int
audit_args_done(struct audit *a, struct audit_args *x, enum audit_args_fate fate, const char *seqs,
    const char *prev, const char *hashes)
{
	int rc = 0;

	if (x->rows == NULL) {
		args_free(x);
		return 0;
	}
	if (fate != AUDIT_ARGS_UNUSED && a->pending == x->rows)
		json_decref(take_pending(a));
	if (fate == AUDIT_ARGS_WRITTEN) {
		if (fill_rows(x->rows, seqs, prev, hashes) != 0) {
			log_warnx("event=audit_write_failed error=\"unexpected answer\"");
			rc = -1;
		} else {
			count_rows("postgresql", x->rows);
			if (jsonl_write(a, x->rows) != 0)
				rc = -1;
		}
	} else if (fate == AUDIT_ARGS_FAILED) {
		rc = -1;
	}
	if (rc != 0)
		a->batch_failed = a->batching;
	json_decref(x->rows);
	args_free(x);
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
	row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "ts", ts, "service", a->service, "chain",
	    a->chain, "request_id", request_id ? request_id : "", "event", event, "details",
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
	json_decref(take_pending(a));
	a->batching = 1;
	a->batch_failed = 0;
}

int
audit_batching(const struct audit *a)
{
	return a != NULL && a->batching;
}

void
audit_batch_fail(struct audit *a)
{
	if (a == NULL || !a->batching)
		return;
	json_decref(take_pending(a));
	a->batch_failed = 1;
}

struct audit_mark
audit_mark(const struct audit *a)
{
	struct audit_mark m = { 0, 0 };

	if (a != NULL) {
		m.takes = a->takes;
		m.rows = json_array_size(a->pending);
	}
	return m;
}

void
audit_drop_since(struct audit *a, struct audit_mark m)
{
	size_t keep;

	if (a == NULL || a->pending == NULL)
		return;
	/* Taken since the mark: every row queued now came after it. */
	keep = a->takes == m.takes ? m.rows : 0;
	while (json_array_size(a->pending) > keep)
		json_array_remove(a->pending, json_array_size(a->pending) - 1);
}

int
audit_flush(struct audit *a)
{
	json_t *rows;

	if (a == NULL)
		return -1;
	rows = take_pending(a);
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
