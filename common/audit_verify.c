#include "audit_verify.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failpoint.h"
#include "keys.h"
#include "log.h"
#include "pg.h"
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

/* One chain met on the walk: its last row so far. */
struct chain_state {
	char name[AUDIT_CHAIN_MAX];
	char prev[65];
	long long last; /* its last row's seq; 0: none yet */
	int registered; /* named in audit_chains */
};

/*
 * The chains met so far, found by name through an open-addressing hash
 * table (slot: index + 1, 0 empty; at most half full), so a log of many
 * chains is still walked in one pass. Names are at most a thousand lanes a
 * service, but a log written with the trigger off could hold any number.
 */
struct chains {
	struct chain_state *v;
	size_t n, cap;
	size_t *slot;
	size_t nslots; /* a power of two */
};

static size_t
chain_name_hash(const char *name)
{
	size_t h = 14695981039346656037ULL & SIZE_MAX; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
		h = (h ^ *p) * (1099511628211ULL & SIZE_MAX);
	return h;
}

/* The slot of name: its own, or the empty one where it would go. */
static size_t *
chain_slot(const struct chains *cs, const char *name)
{
	size_t i = chain_name_hash(name) & (cs->nslots - 1);

	while (cs->slot[i] != 0 && strcmp(cs->v[cs->slot[i] - 1].name, name) != 0)
		i = (i + 1) & (cs->nslots - 1);
	return &cs->slot[i];
}

static int
chains_rehash(struct chains *cs, size_t nslots)
{
	size_t *slot = calloc(nslots, sizeof(*slot));

	if (slot == NULL)
		return -1;
	free(cs->slot);
	cs->slot = slot;
	cs->nslots = nslots;
	for (size_t i = 0; i < cs->n; i++)
		*chain_slot(cs, cs->v[i].name) = i + 1;
	return 0;
}

static void
chains_free(struct chains *cs)
{
	free(cs->v);
	free(cs->slot);
}

/* The chain named name, added (empty, linked to origin) when new; NULL out of memory. */
static struct chain_state *
chain_find(struct chains *cs, const char *name, const char *origin)
{
	struct chain_state *c;
	size_t *slot;

	if (cs->nslots == 0 && chains_rehash(cs, 64) != 0)
		return NULL;
	slot = chain_slot(cs, name);
	if (*slot != 0)
		return &cs->v[*slot - 1];
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 32;
		struct chain_state *v = realloc(cs->v, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		cs->v = v;
		cs->cap = cap;
	}
	c = &cs->v[cs->n];
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->prev, sizeof(c->prev), "%s", origin);
	c->last = 0;
	c->registered = 0;
	*slot = ++cs->n;
	if (cs->n * 2 > cs->nslots && chains_rehash(cs, cs->nslots * 2) != 0)
		return NULL;
	return &cs->v[cs->n - 1];
}

/* Where the per-writer chains begin (sql/014_chains.sql); 0 found, 1 none, -1 unreadable. */
static int
read_origin(PGconn *conn, long long *seq, char hash[65], char *report, size_t reportlen)
{
	PGresult *r = PQexec(conn, "SELECT legacy_seq, legacy_hash FROM audit_chain_origin");
	int rc = 1;

	*seq = 0;
	snprintf(hash, 65, "%s", AUDIT_GENESIS);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(report, reportlen, "AUDIT_UNREADABLE: %s", PQerrorMessage(conn));
		rc = -1;
	} else if (PQntuples(r) == 1) {
		*seq = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		snprintf(hash, 65, "%s", PQgetvalue(r, 0, 1));
		rc = 0;
	}
	PQclear(r);
	return rc;
}

/*
 * One row of the legacy chain (the rows from before sql/014_chains.sql):
 * contiguous seq from 1, each linked to the one before, and nothing
 * written to it after the per-writer chains began. Returns 1 broken.
 */
static int
check_legacy_row(long long seq, const char *stored_prev, json_t *row, const char *content,
    const char *stored_hash, struct chain_state *legacy, long long expect, int have_origin,
    long long origin_seq, char *report, size_t reportlen)
{
	const char *cprev = json_string_value(json_object_get(row, "prev_hash"));
	char hash[65];

	audit_row_hash(legacy->prev, content, hash);
	if (json_object_get(row, "chain") != NULL)
		report_add(report, reportlen,
		    "AUDIT_MOVED: row %lld is in the legacy chain but its content names chain %s",
		    seq, json_string_value(json_object_get(row, "chain")));
	else if (seq != expect)
		report_add(report, reportlen,
		    "AUDIT_GAP: row %lld is missing (row %lld follows row %lld)", expect, seq,
		    expect - 1);
	else if (have_origin && seq > origin_seq)
		report_add(report, reportlen,
		    "AUDIT_BAD_CHAIN: row %lld was added to the legacy chain after it closed at row "
		    "%lld",
		    seq, origin_seq);
	else if (strcmp(stored_prev, legacy->prev) != 0)
		report_add(report, reportlen,
		    "AUDIT_BROKEN_LINK: row %lld does not point at row %lld", seq, seq - 1);
	else if (row == NULL || json_integer_value(json_object_get(row, "seq")) != seq ||
	    cprev == NULL || strcmp(cprev, legacy->prev) != 0)
		report_add(report, reportlen,
		    "AUDIT_BAD_CONTENT: row %lld content does not match its place", seq);
	else if (strcmp(hash, stored_hash) != 0)
		report_add(report, reportlen, "AUDIT_BAD_HASH: row %lld was altered", seq);
	else
		return 0;
	return 1;
}

/*
 * One row of a per-writer chain: the chain is a writer's name, the row's
 * writer owns it, the content binds the chain, seq and the link, and the
 * row links to the chain's previous row (the first: to the legacy head
 * when the chains began). Returns 1 broken.
 */
static int
check_chained_row(long long seq, const char *chain, const char *service, const char *stored_prev,
    json_t *row, const char *content, const char *stored_hash, struct chain_state *cs,
    long long origin_seq, char *report, size_t reportlen)
{
	const char *cprev = json_string_value(json_object_get(row, "prev_hash"));
	const char *cchain = json_string_value(json_object_get(row, "chain"));
	const char *csvc = json_string_value(json_object_get(row, "service"));
	char owner[AUDIT_CHAIN_MAX], hash[65], before[64];

	audit_row_hash(cs->prev, content, hash);
	if (cs->last > 0)
		snprintf(before, sizeof(before), "row %lld", cs->last);
	else
		snprintf(before, sizeof(before), "the legacy head");
	if (audit_chain_service(chain, owner, sizeof(owner)) != 0)
		report_add(report, reportlen,
		    "AUDIT_BAD_CHAIN: row %lld: \"%.100s\" is not a chain", seq, chain);
	else if (seq <= origin_seq)
		report_add(report, reportlen,
		    "AUDIT_BAD_SEQ: row %lld of chain %s is numbered before the per-writer chains "
		    "began (after row %lld)",
		    seq, chain, origin_seq);
	else if (row == NULL)
		report_add(report, reportlen, "AUDIT_BAD_CONTENT: row %lld content is not JSON",
		    seq);
	else if (cchain == NULL || strcmp(cchain, chain) != 0)
		report_add(report, reportlen,
		    "AUDIT_MOVED: row %lld is in chain %s but its content names chain %.100s", seq,
		    chain, cchain != NULL ? cchain : "none");
	else if (strcmp(service, owner) != 0 || csvc == NULL || strcmp(csvc, owner) != 0)
		report_add(report, reportlen,
		    "AUDIT_WRONG_WRITER: row %lld of chain %s is written as %.64s", seq, chain,
		    csvc != NULL && strcmp(csvc, owner) != 0 ? csvc : service);
	else if (strcmp(stored_prev, cs->prev) != 0)
		report_add(report, reportlen,
		    "AUDIT_BROKEN_LINK: row %lld does not point at %s, the previous row of chain %s "
		    "(a row between them is missing or moved)",
		    seq, before, chain);
	else if (json_integer_value(json_object_get(row, "seq")) != seq || cprev == NULL ||
	    strcmp(cprev, cs->prev) != 0)
		report_add(report, reportlen,
		    "AUDIT_BAD_CONTENT: row %lld content does not match its place in chain %s", seq,
		    chain);
	else if (strcmp(hash, stored_hash) != 0)
		report_add(report, reportlen, "AUDIT_BAD_HASH: row %lld was altered", seq);
	else
		return 0;
	return 1;
}

/*
 * audit_chains against the chains the walk met: the auditor signs the heads
 * of registered chains only, so a chain with rows that is not registered
 * (written with the trigger off) is never checkpointed, and a registered
 * chain without rows lost them all. Returns the breaks, -1 unreadable.
 */
static int
check_registry(PGconn *conn, struct chains *cs, const struct chain_state *legacy, char *report,
    size_t reportlen)
{
	PGresult *r = PQexec(conn, "SELECT chain FROM audit_chains ORDER BY chain");
	int breaks = 0, legacy_registered = 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(report, reportlen, "AUDIT_UNREADABLE: %s", PQerrorMessage(conn));
		PQclear(r);
		return -1;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		const char *name = PQgetvalue(r, i, 0);
		size_t *slot = cs->nslots > 0 ? chain_slot(cs, name) : NULL;
		int is_legacy = strcmp(name, AUDIT_LEGACY_CHAIN) == 0;

		legacy_registered |= is_legacy;
		if (slot != NULL && *slot != 0)
			cs->v[*slot - 1].registered = 1;
		else if (!is_legacy || legacy->last == 0) {
			report_add(report, reportlen,
			    "AUDIT_TRUNCATED: chain %.100s is in audit_chains but has no rows",
			    name);
			breaks++;
		}
	}
	PQclear(r);
	if (legacy->last > 0 && !legacy_registered) {
		report_add(report, reportlen,
		    "AUDIT_UNREGISTERED: chain legacy (newest row %lld) is not in audit_chains",
		    legacy->last);
		breaks++;
	}
	for (size_t i = 0; i < cs->n; i++)
		if (!cs->v[i].registered) {
			report_add(report, reportlen,
			    "AUDIT_UNREGISTERED: chain %s (newest row %lld) is not in audit_chains, so "
			    "its head is never signed",
			    cs->v[i].name, cs->v[i].last);
			breaks++;
		}
	return breaks;
}

/*
 * After a break the walk goes on from the row's stored hash, so one
 * altered row is one break and every later one is still found.
 */
int
audit_verify_chain(PGconn *conn, long long *rows, long long *nchains, char *report, size_t reportlen)
{
	PGresult *r;
	char origin_hash[65];
	long long origin_seq, expect = 1;
	struct chains cs = { 0 };
	struct chain_state legacy;
	int n, breaks = 0, have_origin, chained = 0;

	*rows = 0;
	*nchains = 0;
	report[0] = '\0';
	if ((have_origin = read_origin(conn, &origin_seq, origin_hash, report, reportlen)) < 0)
		return -1;
	have_origin = have_origin == 0;
	r = PQexec(conn,
	    "SELECT seq, chain, service, content, prev_hash, row_hash FROM audit_log"
	    " ORDER BY seq");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(report, reportlen, "AUDIT_UNREADABLE: %s", PQerrorMessage(conn));
		PQclear(r);
		return -1;
	}
	snprintf(legacy.name, sizeof(legacy.name), "%s", AUDIT_LEGACY_CHAIN);
	snprintf(legacy.prev, sizeof(legacy.prev), "%s", AUDIT_GENESIS);
	legacy.last = 0;
	n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		long long seq = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		const char *chain = PQgetvalue(r, i, 1), *content = PQgetvalue(r, i, 3);
		json_t *row = json_loads(content, 0, NULL);
		struct chain_state *c;

		if (strcmp(chain, AUDIT_LEGACY_CHAIN) == 0) {
			breaks += check_legacy_row(seq, PQgetvalue(r, i, 4), row, content,
			    PQgetvalue(r, i, 5), &legacy, expect, have_origin, origin_seq, report,
			    reportlen);
			c = &legacy;
			expect = seq + 1;
		} else if ((c = chain_find(&cs, chain, origin_hash)) == NULL) {
			json_decref(row);
			PQclear(r);
			chains_free(&cs);
			snprintf(report, reportlen, "AUDIT_UNREADABLE: out of memory");
			return -1;
		} else {
			if (!have_origin && !chained++) {
				report_add(report, reportlen,
				    "AUDIT_NO_ORIGIN: row %lld is in chain %s, but where the "
				    "per-writer chains begin is not recorded (audit_chain_origin)",
				    seq, chain);
				breaks++;
			}
			breaks += check_chained_row(seq, chain, PQgetvalue(r, i, 2),
			    PQgetvalue(r, i, 4), row, content, PQgetvalue(r, i, 5), c, origin_seq,
			    report, reportlen);
		}
		json_decref(row);
		snprintf(c->prev, sizeof(c->prev), "%s", PQgetvalue(r, i, 5));
		c->last = seq;
		(*rows)++;
	}
	PQclear(r);
	/*
	 * The legacy chain must end where the per-writer chains say it ended:
	 * its newest rows deleted are missing here even without a checkpoint.
	 */
	if (have_origin && (legacy.last != origin_seq || strcmp(legacy.prev, origin_hash) != 0)) {
		report_add(report, reportlen,
		    "AUDIT_TRUNCATED: the legacy chain ends at row %lld, the per-writer chains "
		    "began after row %lld",
		    legacy.last, origin_seq);
		breaks++;
	}
	if ((n = check_registry(conn, &cs, &legacy, report, reportlen)) < 0) {
		chains_free(&cs);
		return -1;
	}
	breaks += n;
	*nchains = (long long)cs.n + (legacy.last > 0);
	chains_free(&cs);
	return breaks;
}

/*
 * The signed bytes of a checkpoint: context, row, hash, time; from
 * sql/014_chains.sql on, one chain's head, the chain named too. chain NULL:
 * a checkpoint made before, of the one chain then.
 */
static int
checkpoint_input(char *buf, size_t size, const char *chain, long long seq, const char *row_hash,
    const char *ts)
{
	if (chain == NULL)
		return xsnprintf(buf, size, "wingman-audit-checkpoint-v1\n%lld\n%s\n%s", seq,
		    row_hash, ts);
	return xsnprintf(buf, size, "wingman-audit-checkpoint-v2\n%s\n%lld\n%s\n%s", chain, seq,
	    row_hash, ts);
}

/* Signs one chain head: 0 with *sigtext (to free), or -1 (err says why). */
static int
checkpoint_sign(EVP_PKEY *key, const char *chain, long long seq, const char *hash, const char *ts,
    char **sigtext, char *err, size_t errlen)
{
	char input[512];
	unsigned char sig[64];

	*sigtext = NULL;
	if (FAILPOINT("audit_checkpoint_sign") != 0 ||
	    checkpoint_input(input, sizeof(input), chain, seq, hash, ts) < 0 ||
	    ed25519_sign(key, input, strlen(input), sig) != 0 ||
	    (*sigtext = b64url_encode(sig, sizeof(sig))) == NULL) {
		snprintf(err, errlen, "AUDIT_SIGN: cannot sign the head of chain %.100s", chain);
		return -1;
	}
	return 0;
}

/* Stores one signed chain head; adds the message to made when not NULL. */
static int
checkpoint_store(PGconn *conn, const char *kid, const char *chain, const char *seqbuf,
    const char *hash, const char *ts, const char *sigtext, json_t *made, char *err, size_t errlen)
{
	const char *p[] = { chain, seqbuf, hash, ts, kid, sigtext };
	PGresult *r = PQexecParams(conn,
	    "INSERT INTO audit_checkpoints (chain, seq, row_hash, ts, kid, signature)"
	    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
	    6, NULL, p, NULL, NULL, 0);
	int rc = -1;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		snprintf(err, errlen, "AUDIT_UNWRITABLE: %s", PQerrorMessage(conn));
		goto done;
	}
	if (made != NULL)
		json_array_append_new(made,
		    json_pack("{s:i, s:s, s:I, s:s, s:I, s:s, s:s, s:s, s:s}", "v", 1, "type",
		        "audit_checkpoint", "id", (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10),
		        "chain", chain, "seq", (json_int_t)strtoll(seqbuf, NULL, 10), "row_hash",
		        hash, "ts", ts, "kid", kid, "signature", sigtext));
	rc = 0;
done:
	PQclear(r);
	return rc;
}

int
audit_checkpoint(PGconn *conn, EVP_PKEY *key, const char *kid, long long *heads, json_t **made,
    char *err, size_t errlen)
{
	PGresult *r;
	char ts[32], why[256];
	json_t *list = NULL;
	long long n = 0;
	int rc = -1;

	*heads = 0;
	if (made != NULL)
		*made = NULL;
	/*
	 * Every chain's head (one index probe per chain, no scan of the log)
	 * that moved since the chain's newest checkpoint, and the newest row's
	 * chain always, so every round signs something: an idle chain's head
	 * stays covered by its last checkpoint, and a round with nothing new
	 * still says the auditor is alive (--max-age).
	 */
	r = PQexec(conn,
	    "SELECT c.chain, h.seq, h.row_hash FROM audit_chains c"
	    " CROSS JOIN LATERAL (SELECT a.seq, a.row_hash FROM audit_log a"
	    " WHERE a.chain = c.chain ORDER BY a.seq DESC LIMIT 1) h"
	    " LEFT JOIN LATERAL (SELECT k.seq, k.row_hash FROM audit_checkpoints k"
	    " WHERE k.chain = c.chain ORDER BY k.id DESC LIMIT 1) k ON true"
	    " WHERE k.seq IS DISTINCT FROM h.seq OR k.row_hash <> h.row_hash"
	    " OR h.seq = (SELECT max(seq) FROM audit_log)"
	    " ORDER BY c.chain");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "AUDIT_UNREADABLE: %s", PQerrorMessage(conn));
		goto done;
	}
	if (PQntuples(r) == 0) {
		rc = 0;
		goto done;
	}
	if (made != NULL && (list = json_array()) == NULL) {
		snprintf(err, errlen, "AUDIT_SIGN: out of memory");
		goto done;
	}
	now_ts(ts);
	/* The heads of one moment are stored together or not at all. */
	if (!pg_exec_ok(conn, "BEGIN")) {
		snprintf(err, errlen, "AUDIT_UNWRITABLE: %s", PQerrorMessage(conn));
		goto done;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		const char *chain = PQgetvalue(r, i, 0), *seqbuf = PQgetvalue(r, i, 1);
		char *sigtext;

		/* A head that cannot be signed is left for the next round; the others are signed. */
		if (checkpoint_sign(key, chain, strtoll(seqbuf, NULL, 10), PQgetvalue(r, i, 2), ts,
		        &sigtext, why, sizeof(why)) != 0) {
			log_warnx("event=checkpoint_skipped chain=%s seq=%s error=\"%s\"", chain,
			    seqbuf, why);
			snprintf(err, errlen, "%s", why);
			continue;
		}
		if (checkpoint_store(conn, kid, chain, seqbuf, PQgetvalue(r, i, 2), ts, sigtext,
		        list, err, errlen) != 0) {
			free(sigtext);
			pg_exec_ok(conn, "ROLLBACK");
			goto done;
		}
		free(sigtext);
		n++;
	}
	if (!pg_exec_ok(conn, "COMMIT")) {
		snprintf(err, errlen, "AUDIT_UNWRITABLE: %s", PQerrorMessage(conn));
		pg_exec_ok(conn, "ROLLBACK");
		goto done;
	}
	/* Nothing signed of what was due: the round failed (err: the last reason). */
	if (n == 0)
		goto done;
	*heads = n;
	if (made != NULL) {
		*made = list;
		list = NULL;
	}
	rc = 0;
done:
	json_decref(list);
	PQclear(r);
	return rc;
}

/*
 * The last row a v1 checkpoint (of the one chain, before per-writer
 * chains) may sign: the legacy head; any row when the log has no origin.
 * -1 with report set when unreadable.
 */
static long long
v1_max_seq(PGconn *conn, char *report, size_t reportlen)
{
	long long seq;
	char hash[65];
	int rc = read_origin(conn, &seq, hash, report, reportlen);

	return rc < 0 ? -1 : rc == 0 ? seq : LLONG_MAX;
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
check_checkpoint(PGconn *conn, const struct keyring *pubs, const char *what, const char *chain,
    long long seq, const char *hash, const char *ts, const char *sigtext, long long max_seq,
    long long v1_max, char *report, size_t reportlen)
{
	unsigned char *sig = NULL;
	size_t siglen = 0;
	char input[512], seqbuf[32];
	const char *p[] = { seqbuf };
	PGresult *row;
	int broken = 1;

	if (checkpoint_input(input, sizeof(input), chain, seq, hash, ts) < 0 ||
	    b64url_decode(sigtext, strlen(sigtext), &sig, &siglen) != 0 ||
	    !keyring_verify_any(pubs, input, strlen(input), sig, siglen)) {
		report_add(report, reportlen,
		    "AUDIT_CHECKPOINT_FORGED: %s is not signed by the audit key", what);
		free(sig);
		return 1;
	}
	free(sig);
	if (chain == NULL && seq > v1_max) {
		report_add(report, reportlen,
		    "AUDIT_BAD_CHAIN: %s (v1, made before per-writer chains) signs row %lld, after "
		    "the legacy chain closed at row %lld",
		    what, seq, v1_max);
		return 1;
	}
	if (seq > max_seq) {
		report_add(report, reportlen,
		    "AUDIT_TRUNCATED: %s signs row %lld but the log ends at row %lld", what, seq,
		    max_seq);
		return 1;
	}
	snprintf(seqbuf, sizeof(seqbuf), "%lld", seq);
	row = PQexecParams(conn, "SELECT row_hash, chain FROM audit_log WHERE seq = $1", 1, NULL, p,
	    NULL, NULL, 0);
	if (PQresultStatus(row) != PGRES_TUPLES_OK || PQntuples(row) != 1)
		report_add(report, reportlen, "AUDIT_TRUNCATED: row %lld signed by %s is gone", seq,
		    what);
	else if (chain != NULL && strcmp(PQgetvalue(row, 0, 1), chain) != 0)
		report_add(report, reportlen,
		    "AUDIT_MOVED: row %lld signed by %s as the head of chain %s is in chain %s",
		    seq, what, chain, PQgetvalue(row, 0, 1));
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
	long long max_seq = last_seq(conn, report, reportlen), v1_max;
	const json_t *cp;
	size_t i;
	int breaks = 0;

	*count = 0;
	if (max_seq < 0 || (v1_max = v1_max_seq(conn, report, reportlen)) < 0)
		return -1;
	json_array_foreach(published, i, cp)
	{
		const char *hash = json_string_value(json_object_get(cp, "row_hash"));
		const char *ts = json_string_value(json_object_get(cp, "ts"));
		const char *sigtext = json_string_value(json_object_get(cp, "signature"));
		const json_t *jchain = json_object_get(cp, "chain");
		const char *chain = json_string_value(jchain);
		long long seq = json_integer_value(json_object_get(cp, "seq"));
		char what[64], seqbuf[32];
		const char *p[] = { seqbuf, sigtext };
		PGresult *r;

		snprintf(what, sizeof(what), "published checkpoint %zu", i + 1);
		if (hash == NULL || ts == NULL || sigtext == NULL || seq <= 0 ||
		    (jchain != NULL && chain == NULL)) {
			report_add(report, reportlen, "AUDIT_CHECKPOINT_FORGED: %s is malformed",
			    what);
			breaks++;
			continue;
		}
		if (check_checkpoint(conn, pubs, what, chain, seq, hash, ts, sigtext, max_seq,
		        v1_max, report, reportlen) != 0) {
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
	long long max_seq, v1_max;
	int64_t newest = -1;
	int breaks = 0;

	*count = 0;
	newest_ts[0] = '\0';
	if ((max_seq = last_seq(conn, report, reportlen)) < 0 ||
	    (v1_max = v1_max_seq(conn, report, reportlen)) < 0)
		return -1;
	r = PQexec(conn,
	    "SELECT id, seq, row_hash, ts, signature, chain FROM audit_checkpoints ORDER BY id");
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
		broken = check_checkpoint(conn, pubs, what,
		    PQgetisnull(r, i, 5) ? NULL : PQgetvalue(r, i, 5), seq, hash, ts,
		    PQgetvalue(r, i, 4), max_seq, v1_max, report, reportlen);
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
