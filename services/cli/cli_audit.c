/* The audit log from the command line: verify, show, tail, receipts. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "audit.h"
#include "audit_verify.h"
#include "cli.h"
#include "keys.h"
#include "msg.h"
#include "pg.h"
#include "receipt.h"
#include "util.h"

static PGconn *
pg_open(const char *who)
{
	const char *conninfo = config_str(cli_config(), CFG_PG_CONNINFO);
	PGconn *c;

	if (*conninfo == '\0') {
		fprintf(stderr, "wingman %s: WINGMAN_PG_CONNINFO is not set\n", who);
		return NULL;
	}
	c = pg_connect(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "wingman %s: %s", who, PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* Prints each line of a report as one error line. */
static void
print_breaks(const char *report)
{
	const char *p = report, *nl;

	while (*p != '\0') {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		fprintf(stderr, "wingman audit verify: %.*s\n", (int)(nl - p), p);
		p = *nl != '\0' ? nl + 1 : nl;
	}
}

/*
 * The default --max-age: twice the auditor's checkpoint interval, read
 * from the same variable, so one missed checkpoint is not yet an alarm.
 */
static long long
default_max_age(void)
{
	return 2 * config_int(cli_config(), CFG_AUDIT_CHECKPOINT_S);
}

/*
 * The audit key set for checking checkpoints and receipts: each --pub is a
 * public key file, or a keys directory whose audit[-GEN].pub all count
 * (after a rotation, old checkpoints are signed by an older generation).
 */
static int
audit_pubs_add(struct keyring *ring, const char *pub, char *err, size_t errlen)
{
	struct stat st;
	EVP_PKEY *key;

	if (stat(pub, &st) == 0 && S_ISDIR(st.st_mode))
		return keyring_add(ring, pub, "audit", err, errlen);
	if (ring->n >= ARRAY_LEN(ring->keys)) {
		snprintf(err, errlen, "KEY_TOO_MANY: too many --pub");
		return -1;
	}
	if ((key = key_load_public(pub, err, errlen)) == NULL)
		return -1;
	snprintf(ring->keys[ring->n].name, sizeof(ring->keys[ring->n].name), "audit");
	ring->keys[ring->n].key = key;
	ring->n++;
	return 0;
}

/*
 * With --pub the checkpoints are evidence too: a log with rows but no
 * good checkpoint, or whose newest good checkpoint is older than
 * --max-age (the auditor stopped, or its rows were deleted), fails.
 * Every break is reported, not only the first.
 */
static int
audit_verify_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pub", required_argument, NULL, 'p' },
		{ "max-age", required_argument, NULL, 'a' },
		{ "kafka", no_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	static struct keyring pubs;
	int have_pub = 0;
	long long rows = 0, chains = 0, checkpoints = 0, max_age = default_max_age();
	char err[512], newest[32] = "", *report = NULL;
	const size_t reportlen = 16384;
	PGconn *c = NULL;
	int ch, breaks, more, rc = 1, kafka = 0;
	long long published = 0;
	json_t *copies = NULL;

	keyring_init(&pubs);
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'p') {
			if (audit_pubs_add(&pubs, optarg, err, sizeof(err)) != 0) {
				fprintf(stderr, "wingman audit verify: %s\n", err);
				keyring_free(&pubs);
				return 1;
			}
			have_pub = 1;
		} else if (ch == 'k')
			kafka = 1;
		else if (ch == 'a' && parse_int(optarg, 1, 100 * 86400, &max_age) == 0)
			continue;
		else
			usage();
	}
	if (optind != argc || (kafka && !have_pub))
		usage();
	if ((report = calloc(1, reportlen)) == NULL || (c = pg_open("audit verify")) == NULL)
		goto done;
	if ((breaks = audit_verify_chain(c, &rows, &chains, report, reportlen)) < 0) {
		fprintf(stderr, "wingman audit verify: %s\n", report);
		goto done;
	}
	if (breaks == 0 && !have_pub) {
		printf("audit chain OK: %lld rows in %lld chains (checkpoints not checked: no --pub)\n",
		    rows, chains);
		rc = 0;
		goto done;
	}
	if (have_pub) {
		if ((more = audit_verify_checkpoints(c, &pubs, &checkpoints, newest, report,
		         reportlen)) < 0) {
			print_breaks(report);
			goto done;
		}
		breaks += more;
		/* The second copy: a checkpoint deleted from PostgreSQL is still on Kafka. */
		if (kafka &&
		    (copies = topic_messages(TOPIC_AUDIT_CHECKPOINTS, NULL, "audit verify")) == NULL)
			goto done;
		if (kafka &&
		    (more = audit_verify_published(c, &pubs, copies, &published, report,
		         reportlen)) < 0) {
			print_breaks(report);
			goto done;
		}
		if (kafka)
			breaks += more;
		if (rows > 0 && newest[0] == '\0') {
			fprintf(stderr,
			    "wingman audit verify: AUDIT_NO_CHECKPOINT: %lld rows and no good "
			    "signed checkpoint\n",
			    rows);
			breaks++;
		} else if (newest[0] != '\0') {
			int64_t ms;
			long long age;

			if (parse_ts_ms(newest, &ms) != 0)
				ms = 0;
			age = (long long)time(NULL) - ms / 1000;
			if (age > max_age) {
				fprintf(stderr,
				    "wingman audit verify: AUDIT_CHECKPOINT_STALE: the newest "
				    "checkpoint (%s) is %lld s old, more than --max-age %lld\n",
				    newest, age, max_age);
				breaks++;
			}
		}
	}
	print_breaks(report);
	if (breaks > 0) {
		fprintf(stderr, "wingman audit verify: %d break(s) in %lld rows\n", breaks, rows);
		goto done;
	}
	printf("audit chain OK: %lld rows in %lld chains, %lld signed checkpoints, newest %s", rows,
	    chains, checkpoints, newest[0] != '\0' ? newest : "none (empty log)");
	if (kafka)
		printf("; all %lld published on %s still there", published, TOPIC_AUDIT_CHECKPOINTS);
	putchar('\n');
	rc = 0;
done:
	json_decref(copies);
	PQfinish(c);
	free(report);
	keyring_free(&pubs);
	return rc;
}

static const char *
str_or(const json_t *obj, const char *name, const char *def)
{
	const char *s = json_string_value(json_object_get(obj, name));

	return s != NULL ? s : def;
}

static void
print_row(const char *seq, const char *content)
{
	json_t *row = json_loads(content, 0, NULL);
	char *details = row
	    ? json_dumps(json_object_get(row, "details"), JSON_COMPACT | JSON_SORT_KEYS)
	    : NULL;

	printf("%6s %s %-17s %-18s %s %s\n", seq, str_or(row, "ts", "?"),
	    str_or(row, "service", "?"), str_or(row, "event", "?"), str_or(row, "request_id", ""),
	    details ? details : "");
	free(details);
	json_decref(row);
}

static int
audit_show(int argc, char **argv)
{
	PGconn *c;
	PGresult *r;
	const char *p[1];

	if (argc != 2 || !valid_request_id(argv[1]))
		usage();
	if ((c = pg_open("audit show")) == NULL)
		return 1;
	p[0] = argv[1];
	r = PQexecParams(c, "SELECT seq, content FROM audit_log WHERE request_id = $1 ORDER BY seq",
	    1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) == 0) {
		fprintf(stderr, "wingman audit show: no audit rows for %s\n", argv[1]);
		PQclear(r);
		PQfinish(c);
		return 1;
	}
	for (int i = 0; i < PQntuples(r); i++)
		print_row(PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
	PQclear(r);
	PQfinish(c);
	return 0;
}

static volatile sig_atomic_t tailing = 1;

static void
stop_tail(int sig)
{
	(void)sig;
	tailing = 0;
}

/*
 * Rows come in seq order per chain, but not across chains: a row of one
 * chain may commit after a higher seq of another, and a rolled-back
 * append leaves a gap for good. So the tail reads from low, the highest
 * seq below which everything is printed or given up, remembers the seqs
 * printed above it, and gives a gap up after TAIL_GAP_POLLS polls.
 */
#define TAIL_GAP_POLLS 20 /* 10 s at 0.5 s a poll */
#define TAIL_SEEN_MAX 4096

struct tail_seen {
	long long low;
	long long seq[TAIL_SEEN_MAX]; /* printed, above low, ascending */
	size_t n;
	int gap_polls;
};

static int
tail_was_printed(const struct tail_seen *t, long long seq)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->seq[i] == seq)
			return 1;
	return seq <= t->low;
}

static void
tail_add(struct tail_seen *t, long long seq)
{
	size_t i = t->n;

	if (t->n == TAIL_SEEN_MAX) { /* too many in flight: give the oldest gap up */
		t->low = t->seq[0];
		memmove(t->seq, t->seq + 1, (t->n - 1) * sizeof(t->seq[0]));
		t->n--;
		i = t->n;
	}
	while (i > 0 && t->seq[i - 1] > seq) {
		t->seq[i] = t->seq[i - 1];
		i--;
	}
	t->seq[i] = seq;
	t->n++;
}

/* Moves low past what is printed, and past a gap that stayed too long. */
static void
tail_advance(struct tail_seen *t)
{
	size_t k = 0;

	if (t->n > 0 && t->seq[0] != t->low + 1 && ++t->gap_polls >= TAIL_GAP_POLLS) {
		t->low = t->seq[0] - 1;
		t->gap_polls = 0;
	}
	while (k < t->n && t->seq[k] == t->low + 1) {
		t->low = t->seq[k++];
		t->gap_polls = 0;
	}
	memmove(t->seq, t->seq + k, (t->n - k) * sizeof(t->seq[0]));
	t->n -= k;
}

static int
audit_tail(int argc, char **argv)
{
	static struct tail_seen seen;
	PGconn *c;
	PGresult *r;

	if (argc != 1)
		usage();
	if ((c = pg_open("audit tail")) == NULL)
		return 1;
	/* Start with the last ten rows, then follow. */
	r = PQexec(c, "SELECT coalesce(max(seq), 0) FROM audit_log");
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		seen.low = strtoll(PQgetvalue(r, 0, 0), NULL, 10) - 10;
	PQclear(r);
	signal(SIGINT, stop_tail);
	signal(SIGTERM, stop_tail);
	while (tailing) {
		char buf[32];
		const char *p[] = { buf };
		struct timespec ts = { 0, 500 * 1000000L };

		snprintf(buf, sizeof(buf), "%lld", seen.low);
		r = PQexecParams(c,
		    "SELECT seq, content FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 5000", 1,
		    NULL, p, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			fprintf(stderr, "wingman audit tail: %s", PQerrorMessage(c));
			PQclear(r);
			PQfinish(c);
			return 1;
		}
		for (int i = 0; i < PQntuples(r); i++) {
			long long seq = strtoll(PQgetvalue(r, i, 0), NULL, 10);

			if (tail_was_printed(&seen, seq))
				continue;
			print_row(PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
			tail_add(&seen, seq);
		}
		tail_advance(&seen);
		fflush(stdout);
		PQclear(r);
		nanosleep(&ts, NULL);
	}
	PQfinish(c);
	return 0;
}

int
cmd_audit(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		return audit_verify_cmd(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "show") == 0)
		return audit_show(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "tail") == 0)
		return audit_tail(argc - 1, argv + 1);
	usage();
}

static int
receipt_verify_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pub", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *keys = config_str(cli_config(), CFG_KEYS_DIR);
	char err[512], *text = NULL;
	static struct keyring pubs;
	json_t *st = NULL;
	size_t len;
	int ch, rc = 1;

	keyring_init(&pubs);
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'p')
			usage();
		if (audit_pubs_add(&pubs, optarg, err, sizeof(err)) != 0)
			goto bad_key;
	}
	if (optind != argc - 1)
		usage();
	/* Default: every generation of the audit key in WINGMAN_KEYS_DIR. */
	if (pubs.n == 0 && *keys == '\0') {
		fprintf(stderr, "wingman receipt verify: give --pub FILE (the audit public key)\n");
		return EXIT_USAGE;
	}
	if (pubs.n == 0 && audit_pubs_add(&pubs, keys, err, sizeof(err)) != 0)
		goto bad_key;
	if (read_file(argv[optind], RECEIPT_MAX_BYTES, &text, &len) != 0) {
		fprintf(stderr, "wingman receipt verify: cannot read %s\n", argv[optind]);
		goto done;
	}
	if (receipt_verify(text, len, &pubs, &st, err, sizeof(err)) != 0) {
		fprintf(stderr, "wingman receipt verify: %s\n", err);
		goto done;
	}
	json_dumpf(st, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
	rc = 0;
done:
	json_decref(st);
	free(text);
	keyring_free(&pubs);
	return rc;
bad_key:
	fprintf(stderr, "wingman receipt verify: %s\n", err);
	keyring_free(&pubs);
	return 1;
}

int
cmd_receipt(int argc, char **argv)
{
	PGconn *c;
	PGresult *r;
	const char *p[1];

	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		return receipt_verify_cmd(argc - 1, argv + 1);
	if (argc != 2 || !valid_request_id(argv[1]))
		usage();
	if ((c = pg_open("receipt")) == NULL)
		return 1;
	p[0] = argv[1];
	r = PQexecParams(c, "SELECT envelope FROM receipts WHERE request_id = $1", 1, NULL, p, NULL,
	    NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		fprintf(stderr, "wingman receipt: no receipt for %s (yet)\n", argv[1]);
		PQclear(r);
		PQfinish(c);
		return 1;
	}
	printf("%s\n", PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return 0;
}
